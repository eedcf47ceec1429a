//! Persistent state of a session: device keys, prekeys, Signal sessions,
//! identities, sender keys and a small key/value area for the client.
//!
//! [`Store`] is synchronous and object safe (`Arc<dyn Store>`). Two
//! backends implement it:
//!
//! - [`MemoryStore`]: a map behind a lock, for tests and throwaway sessions.
//! - [`SledStore`]: one namespace of a process-wide [`SledDatabase`]. A
//!   process opens ONE database and asks it for one store per session
//!   ([`SledDatabase::session_store`]); namespaces share a single sled tree
//!   under a short key prefix, so thousands of sessions cost no more than
//!   their data.
//!
//! Writes that belong together go through [`Store::apply`] with a [`Batch`]
//! and are atomic: either all of them are visible (and, for sled, on disk
//! after the call when `flush_on_write` is set) or none.
//!
//! ```
//! use wa_client::store::{Batch, MemoryStore, Store};
//! let store = MemoryStore::new();
//! store.store_prekeys(&[(1, [7; 32]), (2, [8; 32])], 3).unwrap();
//! // A ratchet step and the removal of the prekey it consumed, in one write:
//! let mut batch = Batch::new();
//! batch.put_session("5511999999999.0", b"session bytes").remove_prekey(1);
//! store.apply(batch).unwrap();
//! assert_eq!(store.prekey_count().unwrap(), 1);
//! assert_eq!(store.next_prekey_id().unwrap(), 3);
//! ```

mod device;
mod error;
mod memory;
mod sled_store;

pub use device::{DeviceRecord, KeyPairBytes, SignedPreKeyBytes};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use sled_store::{SCHEMA_VERSION, SledDatabase, SledOptions, SledStore};

/// Raw entries of an area, `(key within the area, value)`, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The areas a store is divided into. Keys are only unique within an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Area {
    /// Store bookkeeping (next prekey id).
    Meta,
    /// The device record (one key).
    Device,
    /// One-time prekeys: u32 big-endian id -> 32-byte private key.
    PreKeys,
    /// Signal sessions: address string -> opaque record.
    Sessions,
    /// Remote identity keys: address string -> 32- or 33-byte key.
    Identities,
    /// Sender keys: encoded (group, sender) -> opaque record.
    SenderKeys,
    /// Client key/value area: string key -> bytes.
    Kv,
}

impl Area {
    /// Every area.
    pub const ALL: [Area; 7] = [
        Area::Meta,
        Area::Device,
        Area::PreKeys,
        Area::Sessions,
        Area::Identities,
        Area::SenderKeys,
        Area::Kv,
    ];

    /// The byte that tags this area in backend keys.
    pub const fn tag(self) -> u8 {
        match self {
            Area::Meta => 0,
            Area::Device => 1,
            Area::PreKeys => 2,
            Area::Sessions => 3,
            Area::Identities => 4,
            Area::SenderKeys => 5,
            Area::Kv => 6,
        }
    }
}

const DEVICE_KEY: &[u8] = b"device";
const NEXT_PREKEY_KEY: &[u8] = b"next_prekey_id";

fn prekey_key(id: u32) -> [u8; 4] {
    id.to_be_bytes()
}

/// (group, sender) -> `len(group) as u16 BE ‖ group ‖ sender`.
fn sender_key_key(group: &str, sender: &str) -> Result<Vec<u8>, StoreError> {
    let len = u16::try_from(group.len())
        .map_err(|_| StoreError::invalid("group id", "longer than 65535 bytes"))?;
    let mut k = Vec::with_capacity(2 + group.len() + sender.len());
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(group.as_bytes());
    k.extend_from_slice(sender.as_bytes());
    Ok(k)
}

fn key32(what: &'static str, v: &[u8]) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::corrupt(what, format!("{} bytes, expected 32", v.len())))
}

fn key_string(what: &'static str, k: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(k).map_err(|_| StoreError::corrupt(what, "key is not UTF-8"))
}

/// One write operation of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Insert or replace `key` in `area`.
    Put {
        /// Area.
        area: Area,
        /// Key within the area.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` from `area` (no error if absent).
    Delete {
        /// Area.
        area: Area,
        /// Key within the area.
        key: Vec<u8>,
    },
}

/// Writes applied atomically by [`Store::apply`], in order (a later write to
/// the same key wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Consumes the batch, returning its operations.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Raw put (any area).
    pub fn put_raw(&mut self, area: Area, key: &[u8], value: &[u8]) -> &mut Batch {
        self.ops.push(Op::Put {
            area,
            key: key.to_vec(),
            value: value.to_vec(),
        });
        self
    }

    /// Raw delete (any area).
    pub fn delete_raw(&mut self, area: Area, key: &[u8]) -> &mut Batch {
        self.ops.push(Op::Delete {
            area,
            key: key.to_vec(),
        });
        self
    }

    /// Saves the device record.
    pub fn put_device(&mut self, device: &DeviceRecord) -> &mut Batch {
        self.put_raw(Area::Device, DEVICE_KEY, &device.to_bytes())
    }

    /// Stores a one-time prekey's private key.
    pub fn put_prekey(&mut self, id: u32, private_key: &[u8; 32]) -> &mut Batch {
        self.put_raw(Area::PreKeys, &prekey_key(id), private_key)
    }

    /// Removes a one-time prekey.
    pub fn remove_prekey(&mut self, id: u32) -> &mut Batch {
        self.delete_raw(Area::PreKeys, &prekey_key(id))
    }

    /// Sets the id the next generated prekey will get.
    pub fn set_next_prekey_id(&mut self, id: u32) -> &mut Batch {
        self.put_raw(Area::Meta, NEXT_PREKEY_KEY, &id.to_be_bytes())
    }

    /// Saves a Signal session record for `address`.
    pub fn put_session(&mut self, address: &str, record: &[u8]) -> &mut Batch {
        self.put_raw(Area::Sessions, address.as_bytes(), record)
    }

    /// Deletes the session of `address`.
    pub fn delete_session(&mut self, address: &str) -> &mut Batch {
        self.delete_raw(Area::Sessions, address.as_bytes())
    }

    /// Saves the identity key of `address` (32 bytes raw, or 33 with the 0x05 prefix).
    pub fn put_identity(&mut self, address: &str, key: &[u8]) -> Result<&mut Batch, StoreError> {
        if key.len() != 32 && key.len() != 33 {
            return Err(StoreError::invalid(
                "identity key",
                format!("{} bytes, expected 32 or 33", key.len()),
            ));
        }
        Ok(self.put_raw(Area::Identities, address.as_bytes(), key))
    }

    /// Deletes the identity key of `address`.
    pub fn delete_identity(&mut self, address: &str) -> &mut Batch {
        self.delete_raw(Area::Identities, address.as_bytes())
    }

    /// Saves the sender key record of `sender` in `group`.
    pub fn put_sender_key(
        &mut self,
        group: &str,
        sender: &str,
        record: &[u8],
    ) -> Result<&mut Batch, StoreError> {
        let k = sender_key_key(group, sender)?;
        Ok(self.put_raw(Area::SenderKeys, &k, record))
    }

    /// Deletes the sender key record of `sender` in `group`.
    pub fn delete_sender_key(
        &mut self,
        group: &str,
        sender: &str,
    ) -> Result<&mut Batch, StoreError> {
        let k = sender_key_key(group, sender)?;
        Ok(self.delete_raw(Area::SenderKeys, &k))
    }

    /// Puts a client key/value pair.
    pub fn put(&mut self, key: &str, value: &[u8]) -> &mut Batch {
        self.put_raw(Area::Kv, key.as_bytes(), value)
    }

    /// Deletes a client key.
    pub fn delete(&mut self, key: &str) -> &mut Batch {
        self.delete_raw(Area::Kv, key.as_bytes())
    }
}

/// Storage for one session. Synchronous, object safe, shareable across
/// threads. Backends implement the six primitives; everything else is
/// provided on top of them, so every backend behaves the same.
pub trait Store: Send + Sync + 'static {
    /// Reads one value.
    fn get_raw(&self, area: Area, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// All entries of `area` whose key starts with `prefix`, in key order.
    fn scan_raw(&self, area: Area, prefix: &[u8]) -> Result<Entries, StoreError>;

    /// Number of entries in `area`.
    fn count_raw(&self, area: Area) -> Result<usize, StoreError>;

    /// Applies every operation of `batch` atomically, in order.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;

    /// Deletes everything of this session (logout). The store stays usable
    /// and is then empty.
    fn wipe(&self) -> Result<(), StoreError>;

    /// Makes all previous writes durable (no-op in memory).
    fn flush(&self) -> Result<(), StoreError>;

    // ----- device -----

    /// The device record, if one was saved.
    fn load_device(&self) -> Result<Option<DeviceRecord>, StoreError> {
        self.get_raw(Area::Device, DEVICE_KEY)?
            .map(|b| DeviceRecord::from_bytes(&b))
            .transpose()
    }

    /// Saves the device record.
    fn save_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.put_device(device);
        self.apply(b)
    }

    // ----- one-time prekeys -----

    /// Stores prekeys and sets the next prekey id, in one write.
    fn store_prekeys(&self, prekeys: &[(u32, [u8; 32])], next_id: u32) -> Result<(), StoreError> {
        let mut b = Batch::new();
        for (id, k) in prekeys {
            b.put_prekey(*id, k);
        }
        b.set_next_prekey_id(next_id);
        self.apply(b)
    }

    /// The private key of prekey `id`.
    fn load_prekey(&self, id: u32) -> Result<Option<[u8; 32]>, StoreError> {
        self.get_raw(Area::PreKeys, &prekey_key(id))?
            .map(|v| key32("prekey", &v))
            .transpose()
    }

    /// Removes prekey `id` (no error if absent).
    fn remove_prekey(&self, id: u32) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.remove_prekey(id);
        self.apply(b)
    }

    /// Number of stored prekeys.
    fn prekey_count(&self) -> Result<usize, StoreError> {
        self.count_raw(Area::PreKeys)
    }

    /// Ids of all stored prekeys, ascending.
    fn prekey_ids(&self) -> Result<Vec<u32>, StoreError> {
        self.scan_raw(Area::PreKeys, &[])?
            .into_iter()
            .map(|(k, _)| {
                <[u8; 4]>::try_from(k.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::corrupt("prekey id", "not 4 bytes"))
            })
            .collect()
    }

    /// The id the next generated prekey gets (1 if never set).
    fn next_prekey_id(&self) -> Result<u32, StoreError> {
        match self.get_raw(Area::Meta, NEXT_PREKEY_KEY)? {
            None => Ok(1),
            Some(v) => <[u8; 4]>::try_from(v.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::corrupt("next prekey id", "not 4 bytes")),
        }
    }

    // ----- Signal sessions -----

    /// The session record of `address` (e.g. `5511999999999.0` or a full JID).
    fn load_session(&self, address: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Area::Sessions, address.as_bytes())
    }

    /// Saves the session record of `address`.
    fn save_session(&self, address: &str, record: &[u8]) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.put_session(address, record);
        self.apply(b)
    }

    /// Deletes the session of `address`.
    fn delete_session(&self, address: &str) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.delete_session(address);
        self.apply(b)
    }

    /// Addresses with a session that start with `prefix` (all with `""`).
    fn session_addresses(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.scan_raw(Area::Sessions, prefix.as_bytes())?
            .into_iter()
            .map(|(k, _)| key_string("session address", k))
            .collect()
    }

    // ----- identities -----

    /// The stored identity key of `address`.
    fn load_identity(&self, address: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Area::Identities, address.as_bytes())
    }

    /// Saves the identity key of `address` (32 or 33 bytes).
    fn save_identity(&self, address: &str, key: &[u8]) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.put_identity(address, key)?;
        self.apply(b)
    }

    /// Deletes the identity key of `address`.
    fn delete_identity(&self, address: &str) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.delete_identity(address);
        self.apply(b)
    }

    // ----- sender keys -----

    /// The sender key record of `sender` in `group`.
    fn load_sender_key(&self, group: &str, sender: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Area::SenderKeys, &sender_key_key(group, sender)?)
    }

    /// Saves the sender key record of `sender` in `group`.
    fn save_sender_key(&self, group: &str, sender: &str, record: &[u8]) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.put_sender_key(group, sender, record)?;
        self.apply(b)
    }

    /// Deletes the sender key record of `sender` in `group`.
    fn delete_sender_key(&self, group: &str, sender: &str) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.delete_sender_key(group, sender)?;
        self.apply(b)
    }

    // ----- client key/value area -----

    /// Reads a client key.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Area::Kv, key.as_bytes())
    }

    /// Writes a client key.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.put(key, value);
        self.apply(b)
    }

    /// Writes several client keys atomically.
    fn put_many(&self, items: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut b = Batch::new();
        for (k, v) in items {
            b.put(k, v);
        }
        self.apply(b)
    }

    /// Deletes a client key.
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut b = Batch::new();
        b.delete(key);
        self.apply(b)
    }

    /// Client entries whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.scan_raw(Area::Kv, prefix.as_bytes())?
            .into_iter()
            .map(|(k, v)| Ok((key_string("client key", k)?, v)))
            .collect()
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn get_raw(&self, area: Area, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get_raw(area, key)
    }
    fn scan_raw(&self, area: Area, prefix: &[u8]) -> Result<Entries, StoreError> {
        (**self).scan_raw(area, prefix)
    }
    fn count_raw(&self, area: Area) -> Result<usize, StoreError> {
        (**self).count_raw(area)
    }
    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).apply(batch)
    }
    fn wipe(&self) -> Result<(), StoreError> {
        (**self).wipe()
    }
    fn flush(&self) -> Result<(), StoreError> {
        (**self).flush()
    }
}
