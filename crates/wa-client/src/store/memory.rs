//! In-memory backend.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{Area, Batch, Entries, Op, Store, StoreError};

/// A [`Store`] in memory: ordered maps behind one mutex, so every batch is
/// trivially atomic. Nothing survives the process.
///
/// Keys and values are boxed slices (16 bytes per map slot instead of a `Vec`'s 24), and
/// one-time prekeys (4-byte id, 32-byte private key: most of a paired session's entries, 812
/// after the first upload) live inline in a map of their own, without any allocation per key:
/// thousands of sessions may share a process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    maps: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    /// Every entry except the prekeys below, keyed by area tag + key.
    general: BTreeMap<Box<[u8]>, Box<[u8]>>,
    /// `Area::PreKeys` entries whose key is 4 bytes and whose value is 32 bytes.
    prekeys: BTreeMap<[u8; 4], [u8; 32]>,
}

fn full_key(area: Area, key: &[u8]) -> Box<[u8]> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(area.tag());
    k.extend_from_slice(key);
    k.into_boxed_slice()
}

/// The inline prekey map's key, when `area`/`key` belong there.
fn prekey_slot(area: Area, key: &[u8]) -> Option<[u8; 4]> {
    match area {
        Area::PreKeys => key.try_into().ok(),
        _ => None,
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // Every mutation below completes without panicking, so a poisoned
        // lock still guards consistent maps.
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn get_raw(&self, area: Area, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let maps = self.lock();
        if let Some(v) = prekey_slot(area, key).and_then(|k| maps.prekeys.get(&k)) {
            return Ok(Some(v.to_vec()));
        }
        Ok(maps.general.get(&full_key(area, key)).map(|v| v.to_vec()))
    }

    fn scan_raw(&self, area: Area, prefix: &[u8]) -> Result<Entries, StoreError> {
        let maps = self.lock();
        let start = full_key(area, prefix);
        let mut out: Entries = maps
            .general
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(k, v)| (k[1..].to_vec(), v.to_vec()))
            .collect();
        if matches!(area, Area::PreKeys) {
            out.extend(
                maps.prekeys
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.to_vec(), v.to_vec())),
            );
            // Keys are unique across the two maps (a put removes the other one's entry).
            out.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(out)
    }

    fn count_raw(&self, area: Area) -> Result<usize, StoreError> {
        let maps = self.lock();
        let tag = [area.tag()];
        let general = maps
            .general
            .range(Box::<[u8]>::from(&tag[..])..)
            .take_while(|(k, _)| k.first() == Some(&tag[0]))
            .count();
        let inline = match area {
            Area::PreKeys => maps.prekeys.len(),
            _ => 0,
        };
        Ok(general + inline)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut maps = self.lock();
        for op in batch.into_ops() {
            match op {
                Op::Put { area, key, value } => {
                    let inline =
                        prekey_slot(area, &key).zip(<[u8; 32]>::try_from(value.as_slice()).ok());
                    if let Some((k, v)) = inline {
                        maps.general.remove(&full_key(area, &key));
                        maps.prekeys.insert(k, v);
                    } else {
                        if let Some(k) = prekey_slot(area, &key) {
                            maps.prekeys.remove(&k);
                        }
                        maps.general
                            .insert(full_key(area, &key), value.into_boxed_slice());
                    }
                }
                Op::Delete { area, key } => {
                    if let Some(k) = prekey_slot(area, &key) {
                        maps.prekeys.remove(&k);
                    }
                    maps.general.remove(&full_key(area, &key));
                }
            }
        }
        Ok(())
    }

    fn wipe(&self) -> Result<(), StoreError> {
        let mut maps = self.lock();
        maps.general.clear();
        maps.prekeys.clear();
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prekey_area_mixes_inline_and_general_entries_in_key_order() {
        let s = MemoryStore::new();
        let mut b = Batch::new();
        b.put_raw(Area::PreKeys, &[0, 0, 0, 2], &[2u8; 32])
            .put_raw(Area::PreKeys, &[0, 0, 0, 1], &[1u8; 5])
            .put_raw(Area::PreKeys, &[0, 0, 0, 3, 9], &[3u8; 32])
            .put_raw(Area::Meta, &[0, 0, 0, 1], &[7u8; 32]);
        s.apply(b).unwrap();
        let keys: Vec<Vec<u8>> = s
            .scan_raw(Area::PreKeys, &[0, 0, 0])
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            vec![vec![0, 0, 0, 1], vec![0, 0, 0, 2], vec![0, 0, 0, 3, 9]]
        );
        assert_eq!(s.count_raw(Area::PreKeys).unwrap(), 3);
        assert_eq!(s.count_raw(Area::Meta).unwrap(), 1);
        // A value of another size moves the entry out of the inline map, and back.
        let mut b = Batch::new();
        b.put_raw(Area::PreKeys, &[0, 0, 0, 2], &[9u8; 3]);
        s.apply(b).unwrap();
        assert_eq!(
            s.get_raw(Area::PreKeys, &[0, 0, 0, 2]).unwrap(),
            Some(vec![9u8; 3])
        );
        assert_eq!(s.count_raw(Area::PreKeys).unwrap(), 3);
        let mut b = Batch::new();
        b.put_raw(Area::PreKeys, &[0, 0, 0, 1], &[4u8; 32]);
        s.apply(b).unwrap();
        assert_eq!(
            s.get_raw(Area::PreKeys, &[0, 0, 0, 1]).unwrap(),
            Some(vec![4u8; 32])
        );
        assert_eq!(s.count_raw(Area::PreKeys).unwrap(), 3);
        let mut b = Batch::new();
        b.delete_raw(Area::PreKeys, &[0, 0, 0, 1])
            .delete_raw(Area::PreKeys, &[0, 0, 0, 2]);
        s.apply(b).unwrap();
        assert_eq!(s.count_raw(Area::PreKeys).unwrap(), 1);
        assert_eq!(s.get_raw(Area::PreKeys, &[0, 0, 0, 1]).unwrap(), None);
        s.wipe().unwrap();
        assert_eq!(s.count_raw(Area::PreKeys).unwrap(), 0);
        assert_eq!(s.count_raw(Area::Meta).unwrap(), 0);
    }
}
