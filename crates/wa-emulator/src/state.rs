//! The account model: accounts, their devices and keys, offline queues, live connections.
//!
//! Everything lives in one [`State`] behind one mutex in [`Shared`]; no lock is held across an
//! `.await`. The persistent part is written as one JSON snapshot (atomically: temp file + rename)
//! when a `--state-dir` is configured.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::error::EmulatorError;

/// Name of the snapshot file inside the state directory.
const SNAPSHOT_FILE: &str = "emulator-state.json";
/// Version of the snapshot layout.
const SNAPSHOT_VERSION: u32 = 1;

/// A signed prekey as uploaded by a device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SignedPreKeyRecord {
    pub(crate) id: u32,
    pub(crate) public: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// The server's view of one device: its keys and how it authenticates.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    pub(crate) id: u32,
    /// The device's Noise static public key (checked on login).
    pub(crate) noise_pub: Vec<u8>,
    /// Signal identity public key (32 bytes, no prefix).
    pub(crate) identity: Vec<u8>,
    pub(crate) registration_id: u32,
    pub(crate) signed_prekey: Option<SignedPreKeyRecord>,
    /// One-time prekeys: id -> 32-byte public key. Consumed on fetch.
    pub(crate) prekeys: BTreeMap<u32, Vec<u8>>,
    pub(crate) key_index: u32,
    /// Serialized `ADVSignedDeviceIdentity` (with account signature key and device signature).
    pub(crate) device_identity: Vec<u8>,
    pub(crate) platform: String,
    pub(crate) linked_at: u64,
    /// True once the device has logged in at least once (drives the first-login pushes).
    #[serde(default)]
    pub(crate) logged_in_once: bool,
}

/// A stanza waiting for a device that is offline (encoded binary node, no flags byte).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct QueuedStanza {
    pub(crate) id: String,
    pub(crate) tag: String,
    pub(crate) node: Vec<u8>,
    /// The connection it was last sent on (not persisted: after a restart everything is resent).
    #[serde(skip)]
    pub(crate) sent_on: Option<u64>,
}

/// One WhatsApp account: its phone (device 0, simulated) and its linked companions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Account {
    pub(crate) phone: String,
    pub(crate) push_name: String,
    /// User part of the account's LID.
    pub(crate) lid: String,
    pub(crate) created: u64,
    pub(crate) next_device: u32,
    pub(crate) next_key_index: u32,
    /// Linked companions (device id >= 1).
    pub(crate) devices: BTreeMap<u32, DeviceRecord>,
    /// Device 0's keys and Signal state (the simulated phone).
    pub(crate) phone_state: crate::phone::PhoneState,
    /// Undelivered stanzas per device id (companions only; the phone is always reachable).
    #[serde(default)]
    pub(crate) offline: BTreeMap<u32, Vec<QueuedStanza>>,
}

impl Account {
    pub(crate) fn jid(&self) -> String {
        format!("{}@s.whatsapp.net", self.phone)
    }
    pub(crate) fn lid_jid(&self) -> String {
        format!("{}@lid", self.lid)
    }
    /// The account's ADV raw id (stable, derived from the LID).
    pub(crate) fn raw_id(&self) -> u32 {
        let n: u64 = self.lid.parse().unwrap_or(0);
        (n % 0x7fff_ffff) as u32
    }
    /// Ids of every device: 0 (the phone) and the companions.
    pub(crate) fn device_ids(&self) -> Vec<u32> {
        std::iter::once(0)
            .chain(self.devices.keys().copied())
            .collect()
    }
}

/// What a connection task can be told to do from outside.
#[derive(Debug)]
pub(crate) enum ConnCommand {
    /// Send this node.
    Send(wa_proto::binary::Node),
    /// Send `<stream:error code=..>` (with an optional `<conflict type=..>`) and close.
    StreamError {
        code: u16,
        conflict: Option<&'static str>,
    },
    /// Close the socket without a goodbye.
    Drop,
    /// The phone scanned this connection's QR: send pair-success and report the outcome.
    Pair(Box<PairRequest>),
    /// The phone entered this connection's link code.
    LinkCode(Box<LinkCodeRequest>),
}

/// A scan request handed to the connection that shows the QR.
#[derive(Debug)]
pub(crate) struct PairRequest {
    pub(crate) phone: String,
    pub(crate) adv_secret: [u8; 32],
    pub(crate) done: oneshot::Sender<Result<String, EmulatorError>>,
}

/// A link code entered on a phone, handed to the connection that asked for it.
#[derive(Debug)]
pub(crate) struct LinkCodeRequest {
    pub(crate) phone: String,
    /// The 8 characters, normalised.
    pub(crate) code: String,
    pub(crate) done: oneshot::Sender<Result<String, EmulatorError>>,
}

/// A live connection registered in the state.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    pub(crate) conn_id: u64,
    pub(crate) tx: ConnSender,
}

/// Most commands waiting for one connection task. A peer that stops reading its socket blocks
/// its task; without a bound, stanzas routed to it would pile up in memory.
pub(crate) const CONN_CHANNEL_CAPACITY: usize = 1024;

/// The sending side of a connection's command channel (bounded, never blocks).
#[derive(Clone, Debug)]
pub(crate) struct ConnSender(mpsc::Sender<ConnCommand>);

impl ConnSender {
    /// Queues `cmd`; gives it back if the connection is gone or its channel is full (a routed
    /// stanza then stays in the device's offline queue and is delivered on the next login).
    pub(crate) fn send(&self, cmd: ConnCommand) -> Result<(), ConnCommand> {
        self.0.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
        })
    }
}

/// A bounded command channel for one connection.
pub(crate) fn conn_channel() -> (ConnSender, mpsc::Receiver<ConnCommand>) {
    let (tx, rx) = mpsc::channel(CONN_CHANNEL_CAPACITY);
    (ConnSender(tx), rx)
}

/// A companion that is connected in registration mode and shows a QR.
#[derive(Clone, Debug)]
pub(crate) struct PendingRegistration {
    pub(crate) conn: ConnHandle,
    pub(crate) noise_pub: [u8; 32],
    pub(crate) identity: [u8; 32],
}

/// A media blob stored by the media host.
#[derive(Clone, Debug)]
pub(crate) struct MediaBlob {
    pub(crate) bytes: bytes::Bytes,
}

/// The whole mutable state of an emulator.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) accounts: BTreeMap<String, Account>,
    /// LID user -> phone number.
    pub(crate) lid_index: HashMap<String, String>,
    /// Logged-in connections by (phone, device).
    pub(crate) conns: HashMap<(String, u32), ConnHandle>,
    /// Registration connections by QR ref.
    pub(crate) pending: HashMap<String, PendingRegistration>,
    /// Registration connections that asked for a link code: ref -> (phone, connection).
    pub(crate) pending_link: HashMap<String, (String, ConnHandle)>,
    /// Media blobs by path (without query string).
    pub(crate) media: HashMap<String, MediaBlob>,
    /// Every connection, for fault injection.
    pub(crate) all_conns: HashMap<u64, ConnHandle>,
    /// Accounts that exchanged messages (phone -> peers).
    pub(crate) contacts: HashMap<String, std::collections::BTreeSet<String>>,
    /// Which device sent a message id (for routing receipts back).
    pub(crate) message_origin: HashMap<String, (String, u32)>,
    /// Fault injection: devices `(phone, device)` whose next routed `<enc>` gets one byte of
    /// its ciphertext flipped.
    pub(crate) corrupt_next: std::collections::HashSet<(String, u32)>,
}

impl State {
    pub(crate) fn account(&self, phone: &str) -> Result<&Account, EmulatorError> {
        self.accounts
            .get(phone)
            .ok_or_else(|| EmulatorError::AccountNotFound(phone.to_owned()))
    }
    pub(crate) fn account_mut(&mut self, phone: &str) -> Result<&mut Account, EmulatorError> {
        self.accounts
            .get_mut(phone)
            .ok_or_else(|| EmulatorError::AccountNotFound(phone.to_owned()))
    }
    /// Resolves a user part on `s.whatsapp.net` or `lid` to the account's phone number.
    pub(crate) fn resolve_user(&self, user: &str, server: &str) -> Option<String> {
        match server {
            "lid" => self.lid_index.get(user).cloned(),
            "s.whatsapp.net" | "c.us" => self.accounts.contains_key(user).then(|| user.to_owned()),
            _ => None,
        }
    }
}

/// The snapshot written to the state directory.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    accounts: Vec<Account>,
}

/// The state plus where it persists.
pub(crate) struct Store {
    pub(crate) state: Mutex<State>,
    dir: Option<PathBuf>,
    /// Serialises snapshot writers so that an older snapshot never overwrites a newer one.
    write_lock: Mutex<()>,
    /// Set when something changed that is not yet on disk (message traffic is written lazily).
    dirty: std::sync::atomic::AtomicBool,
    /// Counts [`Store::persist`] requests (group commit: see there).
    requested: std::sync::atomic::AtomicU64,
    /// The request count that the last snapshot on disk covers.
    written: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Loads the snapshot from `dir` (if any) or starts empty.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Store, EmulatorError> {
        let mut state = State::default();
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| EmulatorError::Persistence(format!("{}: {e}", dir.display())))?;
            let path = dir.join(SNAPSHOT_FILE);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                        EmulatorError::Persistence(format!("{}: {e}", path.display()))
                    })?;
                    if snap.version != SNAPSHOT_VERSION {
                        return Err(EmulatorError::Persistence(format!(
                            "{}: unsupported snapshot version {}",
                            path.display(),
                            snap.version
                        )));
                    }
                    for acc in snap.accounts {
                        state.lid_index.insert(acc.lid.clone(), acc.phone.clone());
                        state.accounts.insert(acc.phone.clone(), acc);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(EmulatorError::Persistence(format!(
                        "{}: {e}",
                        path.display()
                    )));
                }
            }
        }
        Ok(Store {
            state: Mutex::new(state),
            dir: dir.map(Path::to_path_buf),
            write_lock: Mutex::new(()),
            dirty: std::sync::atomic::AtomicBool::new(false),
            requested: std::sync::atomic::AtomicU64::new(0),
            written: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Locks the state. A poisoned lock is recovered: the state is plain data.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a state directory is configured.
    pub(crate) fn is_persistent(&self) -> bool {
        self.dir.is_some()
    }

    /// Notes a change that the periodic flush will write (message traffic, sessions).
    pub(crate) fn mark_dirty(&self) {
        if self.dir.is_some() {
            self.dirty.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// Writes the snapshot if anything changed since the last write.
    pub(crate) fn flush_if_dirty(&self) {
        if self.dirty.swap(false, std::sync::atomic::Ordering::AcqRel) {
            self.persist();
        }
    }

    /// Writes the snapshot now if persistence is on. Errors are logged, not fatal.
    ///
    /// Group commit: a caller's changes are made before it calls this, so they are ordered
    /// before its request number. A snapshot taken after reading the request counter holds every
    /// change of the requests counted so far, so callers that were waiting for the write lock
    /// while such a snapshot was written return at once instead of writing it again.
    pub(crate) fn persist(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let Some(dir) = &self.dir else { return };
        let mine = self.requested.fetch_add(1, SeqCst) + 1;
        let _w = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.written.load(SeqCst) >= mine {
            return;
        }
        self.dirty
            .store(false, std::sync::atomic::Ordering::Release);
        let covers = self.requested.load(SeqCst);
        let snap = {
            let st = self.lock();
            Snapshot {
                version: SNAPSHOT_VERSION,
                accounts: st.accounts.values().cloned().collect(),
            }
        };
        match write_atomically(dir, &snap) {
            Ok(()) => self.written.store(covers, SeqCst),
            Err(e) => tracing::error!(error = %e, "could not write the state snapshot"),
        }
    }
}

fn write_atomically(dir: &Path, snap: &Snapshot) -> std::io::Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec(snap).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))
}

/// Validates a phone number: 5..=20 ASCII digits, optionally with a leading '+'.
pub(crate) fn normalize_phone(phone: &str) -> Result<String, EmulatorError> {
    let p = phone.strip_prefix('+').unwrap_or(phone);
    if (5..=20).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0') {
        Ok(p.to_owned())
    } else {
        Err(EmulatorError::InvalidPhone(phone.to_owned()))
    }
}

/// Current unix time in seconds.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_channel_is_bounded_and_never_blocks() {
        let (tx, mut rx) = conn_channel();
        let accepted = (0..CONN_CHANNEL_CAPACITY + 100)
            .filter(|_| tx.send(ConnCommand::Drop).is_ok())
            .count();
        assert_eq!(accepted, CONN_CHANNEL_CAPACITY);
        assert!(rx.try_recv().is_ok());
        assert!(tx.send(ConnCommand::Drop).is_ok());
        drop(rx);
        assert!(tx.send(ConnCommand::Drop).is_err());
    }
}
