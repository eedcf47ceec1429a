//! The persisted part of every session: its config, webhooks, whether it should run, its last
//! error and a bounded history of status changes. Kept in one tree of the process-wide sled
//! database, one JSON record per session name.

use crate::status::SessionStatus;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use wa_client::store::{Store, StoreError};

/// Current schema version of the records.
const SCHEMA_VERSION: u32 = 1;
/// How many status changes a record keeps.
pub(crate) const HISTORY_LEN: usize = 50;

/// A webhook target of a session: every event is POSTed there as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL receiving the POSTs.
    pub url: String,
    /// Event names to deliver (`status`, `qr`, `message`, `receipt`, ...); empty or `["*"]` means all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Shared secret: when set, each POST carries
    /// `X-Wa-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookConfig {
    /// Whether this webhook wants events of this name.
    pub(crate) fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// The last error a session hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    /// When (RFC 3339).
    pub at: String,
    /// What happened.
    pub message: String,
}

/// One entry of a session's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    /// The new status.
    pub status: SessionStatus,
    /// When (RFC 3339).
    pub at: String,
    /// Why, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What is stored per session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) name: String,
    pub(crate) created_at: String,
    #[serde(default)]
    pub(crate) webhooks: Vec<WebhookConfig>,
    /// The session should be running (restored on the next start of the gateway).
    #[serde(default)]
    pub(crate) running: bool,
    #[serde(default)]
    pub(crate) last_error: Option<LastError>,
    #[serde(default)]
    pub(crate) history: Vec<StatusChange>,
}

impl SessionRecord {
    pub(crate) fn push_history(&mut self, change: StatusChange) {
        self.history.push(change);
        if self.history.len() > HISTORY_LEN {
            let extra = self.history.len() - HISTORY_LEN;
            self.history.drain(..extra);
        }
    }
}

/// Whether a session name is acceptable: `^[A-Za-z0-9_-]{1,64}$`.
pub fn valid_session_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The store failed.
    #[error("storage error: {0}")]
    Storage(#[from] StoreError),
    /// A stored record could not be decoded.
    #[error("corrupt session record {name:?}: {source}")]
    Corrupt {
        /// The record's key.
        name: String,
        /// Why it did not decode.
        source: serde_json::Error,
    },
    /// The stored schema is newer than this binary understands.
    #[error("data written by a newer wa-http (schema {0}, this binary knows {SCHEMA_VERSION})")]
    NewerSchema(u32),
}

/// The session records, in the gateway's own namespace of the process-wide store
/// (`wa-http/registry`: the `/` keeps it apart from every valid session name).
#[derive(Clone)]
pub(crate) struct Registry {
    store: Arc<dyn Store>,
}

/// Namespace of the registry in the process-wide sled database.
pub const REGISTRY_NAMESPACE: &str = "wa-http/registry";

const SCHEMA_KEY: &str = "wa-http/schema_version";
const RECORD_PREFIX: &str = "wa-http/session/";

impl Registry {
    /// Opens the registry in `store`, migrating old schemas.
    pub(crate) fn open(store: Arc<dyn Store>) -> Result<Self, RegistryError> {
        let version = match store.get(SCHEMA_KEY)? {
            Some(v) if v.len() == 4 => u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
            _ => 0,
        };
        if version > SCHEMA_VERSION {
            return Err(RegistryError::NewerSchema(version));
        }
        // Version 0 -> 1: nothing was stored before version 1; later migrations go here.
        if version < SCHEMA_VERSION {
            store.put(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        }
        Ok(Registry { store })
    }

    /// Every stored record, by name.
    pub(crate) fn list(&self) -> Result<Vec<SessionRecord>, RegistryError> {
        let mut out = Vec::new();
        for (k, v) in self.store.scan_prefix(RECORD_PREFIX)? {
            let rec: SessionRecord = serde_json::from_slice(&v)
                .map_err(|source| RegistryError::Corrupt { name: k, source })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Stores (replaces) a record durably.
    pub(crate) fn put(&self, rec: &SessionRecord) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec(rec).map_err(|source| RegistryError::Corrupt {
            name: rec.name.clone(),
            source,
        })?;
        self.store
            .put(&format!("{RECORD_PREFIX}{}", rec.name), &bytes)?;
        self.store.flush()?;
        Ok(())
    }

    /// Removes a record.
    pub(crate) fn remove(&self, name: &str) -> Result<(), RegistryError> {
        self.store.delete(&format!("{RECORD_PREFIX}{name}"))?;
        self.store.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_client::store::SledDatabase;

    #[test]
    fn names() {
        assert!(valid_session_name("sales"));
        assert!(valid_session_name("A-b_9"));
        assert!(valid_session_name(&"x".repeat(64)));
        assert!(!valid_session_name(&"x".repeat(65)));
        assert!(!valid_session_name(""));
        assert!(!valid_session_name("../etc"));
        assert!(!valid_session_name("a b"));
        assert!(!valid_session_name("a.b"));
        assert!(!valid_session_name("ñ"));
    }

    #[test]
    fn records_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = SessionRecord {
            name: "s1".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            webhooks: vec![WebhookConfig {
                url: "http://127.0.0.1:1/h".into(),
                events: vec![],
                secret: Some("k".into()),
            }],
            running: true,
            last_error: None,
            history: vec![],
        };
        for i in 0..(HISTORY_LEN + 10) {
            rec.push_history(StatusChange {
                status: SessionStatus::Starting,
                at: format!("{i}"),
                reason: None,
            });
        }
        assert_eq!(rec.history.len(), HISTORY_LEN);
        assert_eq!(rec.history[0].at, "10");
        {
            let db = SledDatabase::open(dir.path()).unwrap();
            let reg =
                Registry::open(Arc::new(db.session_store(REGISTRY_NAMESPACE).unwrap())).unwrap();
            reg.put(&rec).unwrap();
        }
        let db = SledDatabase::open(dir.path()).unwrap();
        let reg = Registry::open(Arc::new(db.session_store(REGISTRY_NAMESPACE).unwrap())).unwrap();
        assert_eq!(reg.list().unwrap(), vec![rec]);
        reg.remove("s1").unwrap();
        assert!(reg.list().unwrap().is_empty());
    }
}
