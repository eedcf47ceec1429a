//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The sled backend failed (IO error, corruption detected by sled, ...).
    #[error("storage backend: {0}")]
    Backend(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("corrupt {what} in store: {detail}")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A value given to the store is not acceptable (wrong length, empty name, ...).
    #[error("invalid {what}: {detail}")]
    InvalidValue {
        /// Which kind of value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The database was written by a newer (or unknown) schema version.
    #[error("unsupported store schema version {found} (this build supports up to {supported})")]
    UnsupportedSchema {
        /// Version found in the database.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::InvalidValue {
            what,
            detail: detail.into(),
        }
    }
}
