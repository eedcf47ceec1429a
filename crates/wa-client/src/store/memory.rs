//! In-memory backend.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{Area, Batch, Entries, Op, Store, StoreError};

/// A [`Store`] in memory: one ordered map behind a mutex, so every batch is
/// trivially atomic. Nothing survives the process.
///
/// Keys and values are boxed slices (16 bytes per map slot instead of a `Vec`'s 24): a paired
/// session holds about a thousand small entries (mostly one-time prekeys), and thousands of
/// sessions may share a process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<Map>,
}

type Map = BTreeMap<Box<[u8]>, Box<[u8]>>;

fn full_key(area: Area, key: &[u8]) -> Box<[u8]> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(area.tag());
    k.extend_from_slice(key);
    k.into_boxed_slice()
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Map> {
        // Every mutation below completes without panicking, so a poisoned
        // lock still guards a consistent map.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn get_raw(&self, area: Area, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(&full_key(area, key)).map(|v| v.to_vec()))
    }

    fn scan_raw(&self, area: Area, prefix: &[u8]) -> Result<Entries, StoreError> {
        let start = full_key(area, prefix);
        Ok(self
            .lock()
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(k, v)| (k[1..].to_vec(), v.to_vec()))
            .collect())
    }

    fn count_raw(&self, area: Area) -> Result<usize, StoreError> {
        let tag = [area.tag()];
        Ok(self
            .lock()
            .range(Box::<[u8]>::from(&tag[..])..)
            .take_while(|(k, _)| k.first() == Some(&tag[0]))
            .count())
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut map = self.lock();
        for op in batch.into_ops() {
            match op {
                Op::Put { area, key, value } => {
                    map.insert(full_key(area, &key), value.into_boxed_slice());
                }
                Op::Delete { area, key } => {
                    map.remove(&full_key(area, &key));
                }
            }
        }
        Ok(())
    }

    fn wipe(&self) -> Result<(), StoreError> {
        self.lock().clear();
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
