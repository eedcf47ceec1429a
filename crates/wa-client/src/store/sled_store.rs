//! The sled backend: one database per process, one namespace per session.
//!
//! Layout of the database:
//! - default tree, key `wa-store/schema_version`: u32 big-endian [`SCHEMA_VERSION`];
//! - tree `wa-store/namespaces`: namespace name -> u64 big-endian namespace id;
//! - tree `wa-store/data`: `id (8 bytes BE) ‖ area tag (1 byte) ‖ key` -> value.
//!
//! All sessions share the data tree, so a namespace costs only its keys, and
//! a [`Batch`] is one atomic sled batch on that tree.

use std::path::Path;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Transactional, Tree};

use super::{Area, Batch, Entries, Op, Store, StoreError};

/// Schema version written by this build.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"wa-store/schema_version";
const NAMESPACES_TREE: &[u8] = b"wa-store/namespaces";
const DATA_TREE: &[u8] = b"wa-store/data";
const MAX_NAMESPACE_LEN: usize = 256;
/// How long [`SledDatabase::open`] waits for a lock that this process's own dropped handle still holds.
const LOCK_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(3);

/// A migration from one schema version to the next.
type Migration = fn(&sled::Db) -> Result<(), StoreError>;

/// Registered migrations: `(from_version, step)`; each step upgrades the
/// database by exactly one version. Version 1 is the first schema, so the
/// table is empty; a future layout change adds `(1, migrate_1_to_2)` here.
const MIGRATIONS: &[(u32, Migration)] = &[];

/// Tuning of a [`SledDatabase`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SledOptions {
    /// Flush to disk at the end of every write ([`Store::apply`], `wipe`),
    /// so a write that returned survives a crash. Default `true`.
    pub flush_on_write: bool,
    /// sled page cache size in bytes. Default 64 MiB.
    pub cache_capacity: u64,
    /// Background flush interval in milliseconds (`None`: never). Default 500.
    pub flush_every_ms: Option<u64>,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            flush_on_write: true,
            cache_capacity: 64 * 1024 * 1024,
            flush_every_ms: Some(500),
        }
    }
}

/// The process-wide sled database. Cheap to clone (shared handle).
#[derive(Debug, Clone)]
pub struct SledDatabase {
    db: sled::Db,
    namespaces: Tree,
    data: Tree,
    flush_on_write: bool,
}

/// One session's namespace of a [`SledDatabase`].
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    data: Tree,
    prefix: [u8; 8],
    namespace: Arc<str>,
    flush_on_write: bool,
}

fn abort_map(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Backend(e),
    }
}

fn read_version(v: &[u8]) -> Result<u32, StoreError> {
    <[u8; 4]>::try_from(v)
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::corrupt("schema version", "not 4 bytes"))
}

/// Upgrades `db` from version `from` to [`SCHEMA_VERSION`] using `table`.
pub(crate) fn run_migrations(
    db: &sled::Db,
    mut from: u32,
    table: &[(u32, Migration)],
    target: u32,
) -> Result<(), StoreError> {
    while from < target {
        let Some((_, step)) = table.iter().find(|(v, _)| *v == from) else {
            return Err(StoreError::UnsupportedSchema {
                found: from,
                supported: target,
            });
        };
        step(db)?;
        from += 1;
        db.insert(SCHEMA_KEY, &from.to_be_bytes())?;
    }
    db.flush()?;
    Ok(())
}

impl SledDatabase {
    /// Opens (or creates) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SledDatabase, StoreError> {
        SledDatabase::open_with(path, &SledOptions::default())
    }

    /// Opens (or creates) the database at `path`.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: &SledOptions,
    ) -> Result<SledDatabase, StoreError> {
        let config = sled::Config::new()
            .path(path.as_ref())
            .cache_capacity(options.cache_capacity)
            .flush_every_ms(options.flush_every_ms);
        // sled releases its file lock from its flusher thread shortly after the last handle of
        // a database drops, so reopening in the same process (a gateway restarting a session
        // store, a test simulating a restart) can briefly find the lock still held. Retry for
        // a bounded time; a lock held by another process still fails after that.
        let deadline = std::time::Instant::now() + LOCK_RETRY_FOR;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        };
        SledDatabase::init(db, options)
    }

    /// A database in a temporary directory, removed when the last handle drops (tests).
    pub fn open_temporary() -> Result<SledDatabase, StoreError> {
        let options = SledOptions {
            flush_on_write: false,
            ..SledOptions::default()
        };
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(options.cache_capacity)
            .open()?;
        SledDatabase::init(db, &options)
    }

    fn init(db: sled::Db, options: &SledOptions) -> Result<SledDatabase, StoreError> {
        let namespaces = db.open_tree(NAMESPACES_TREE)?;
        let data = db.open_tree(DATA_TREE)?;
        match db.get(SCHEMA_KEY)? {
            Some(v) => {
                let found = read_version(&v)?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::UnsupportedSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                run_migrations(&db, found, MIGRATIONS, SCHEMA_VERSION)?;
            }
            None if namespaces.is_empty() && data.is_empty() => {
                db.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            // Data without a version key was not written by this store.
            None => run_migrations(&db, 0, MIGRATIONS, SCHEMA_VERSION)?,
        }
        Ok(SledDatabase {
            db,
            namespaces,
            data,
            flush_on_write: options.flush_on_write,
        })
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        match self.db.get(SCHEMA_KEY)? {
            Some(v) => read_version(&v),
            None => Err(StoreError::corrupt("schema version", "missing")),
        }
    }

    fn check_namespace(namespace: &str) -> Result<(), StoreError> {
        if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_LEN {
            return Err(StoreError::invalid(
                "namespace",
                format!("length {} not in 1..={MAX_NAMESPACE_LEN}", namespace.len()),
            ));
        }
        Ok(())
    }

    fn namespace_id(&self, namespace: &str) -> Result<Option<[u8; 8]>, StoreError> {
        match self.namespaces.get(namespace.as_bytes())? {
            None => Ok(None),
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(Some)
                .map_err(|_| StoreError::corrupt("namespace id", "not 8 bytes")),
        }
    }

    /// The store of session `namespace`, created on first use.
    pub fn session_store(&self, namespace: &str) -> Result<SledStore, StoreError> {
        SledDatabase::check_namespace(namespace)?;
        let prefix = match self.namespace_id(namespace)? {
            Some(id) => id,
            None => {
                let fresh = self.db.generate_id()?.to_be_bytes();
                match self.namespaces.compare_and_swap(
                    namespace.as_bytes(),
                    None::<&[u8]>,
                    Some(&fresh[..]),
                )? {
                    Ok(()) => {
                        if self.flush_on_write {
                            self.namespaces.flush()?;
                        }
                        fresh
                    }
                    // Another thread registered it first: use theirs.
                    Err(_) => self.namespace_id(namespace)?.ok_or_else(|| {
                        StoreError::corrupt("namespace", "vanished during registration")
                    })?,
                }
            }
        };
        Ok(SledStore {
            db: self.db.clone(),
            data: self.data.clone(),
            prefix,
            namespace: Arc::from(namespace),
            flush_on_write: self.flush_on_write,
        })
    }

    /// Names of all registered namespaces, sorted.
    pub fn list_namespaces(&self) -> Result<Vec<String>, StoreError> {
        self.namespaces
            .iter()
            .keys()
            .map(|k| {
                let k = k?;
                String::from_utf8(k.to_vec())
                    .map_err(|_| StoreError::corrupt("namespace", "name is not UTF-8"))
            })
            .collect()
    }

    /// Deletes namespace `namespace` and all its data (no error if absent).
    /// Handles to it must not be used afterwards: their writes would go to
    /// an unregistered id that a new `session_store` call does not reuse.
    pub fn drop_namespace(&self, namespace: &str) -> Result<(), StoreError> {
        let Some(id) = self.namespace_id(namespace)? else {
            return Ok(());
        };
        let keys = self
            .data
            .scan_prefix(id)
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        (&self.namespaces, &self.data)
            .transaction(|(ns, data)| {
                ns.remove(namespace.as_bytes())?;
                for k in &keys {
                    data.remove(k)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(abort_map)?;
        if self.flush_on_write {
            self.db.flush()?;
        }
        Ok(())
    }

    /// Flushes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

impl SledStore {
    /// The namespace this store writes to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn key(&self, area: Area, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(9 + key.len());
        k.extend_from_slice(&self.prefix);
        k.push(area.tag());
        k.extend_from_slice(key);
        k
    }

    fn after_write(&self) -> Result<(), StoreError> {
        if self.flush_on_write {
            self.data.flush()?;
        }
        Ok(())
    }
}

impl Store for SledStore {
    fn get_raw(&self, area: Area, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.get(self.key(area, key))?.map(|v| v.to_vec()))
    }

    fn scan_raw(&self, area: Area, prefix: &[u8]) -> Result<Entries, StoreError> {
        let start = self.key(area, prefix);
        self.data
            .scan_prefix(&start)
            .map(|r| {
                let (k, v) = r?;
                Ok((k[9..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn count_raw(&self, area: Area) -> Result<usize, StoreError> {
        let mut n = 0;
        for k in self.data.scan_prefix(self.key(area, &[])).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for op in batch.into_ops() {
            match op {
                Op::Put { area, key, value } => b.insert(self.key(area, &key), value),
                Op::Delete { area, key } => b.remove(self.key(area, &key)),
            }
        }
        self.data.apply_batch(b)?;
        self.after_write()
    }

    fn wipe(&self) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for k in self.data.scan_prefix(self.prefix).keys() {
            b.remove(k?);
        }
        self.data.apply_batch(b)?;
        self.after_write()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> sled::Db {
        sled::Config::new()
            .temporary(true)
            .open()
            .unwrap_or_else(|e| panic!("temporary sled: {e}"))
    }

    fn bump_marker(db: &sled::Db) -> Result<(), StoreError> {
        let n = db.get(b"marker")?.map(|v| v.len()).unwrap_or(0);
        db.insert(b"marker", vec![0u8; n + 1])?;
        Ok(())
    }

    #[test]
    fn migrations_run_in_order_and_record_version() {
        let db = temp_db();
        let table: &[(u32, Migration)] = &[(1, bump_marker), (2, bump_marker)];
        run_migrations(&db, 1, table, 3).expect("migrate");
        assert_eq!(
            db.get(SCHEMA_KEY).expect("get").map(|v| v.to_vec()),
            Some(3u32.to_be_bytes().to_vec())
        );
        assert_eq!(db.get(b"marker").expect("get").map(|v| v.len()), Some(2));
        // Already current: nothing runs.
        run_migrations(&db, 3, table, 3).expect("noop");
        assert_eq!(db.get(b"marker").expect("get").map(|v| v.len()), Some(2));
    }

    #[test]
    fn missing_migration_is_unsupported() {
        let db = temp_db();
        let table: &[(u32, Migration)] = &[(2, bump_marker)];
        let e = run_migrations(&db, 1, table, 3).expect_err("no step from 1");
        assert!(matches!(
            e,
            StoreError::UnsupportedSchema {
                found: 1,
                supported: 3
            }
        ));
    }
}
