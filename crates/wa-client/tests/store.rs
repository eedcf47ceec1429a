//! Store conformance suite (run against both backends), sled persistence,
//! namespaces and schema, and the device record encoding.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use proptest::prelude::*;
use wa_client::store::{
    Area, Batch, DeviceRecord, KeyPairBytes, MemoryStore, SCHEMA_VERSION, SignedPreKeyBytes,
    SledDatabase, SledOptions, SledStore, Store, StoreError,
};

fn device(seed: u8) -> DeviceRecord {
    DeviceRecord {
        noise_key: KeyPairBytes {
            private: [seed; 32],
            public: [seed.wrapping_add(1); 32],
        },
        identity_key: KeyPairBytes {
            private: [seed.wrapping_add(2); 32],
            public: [seed.wrapping_add(3); 32],
        },
        registration_id: 0x1234_5678 ^ u32::from(seed),
        signed_prekey: SignedPreKeyBytes {
            id: 1,
            key_pair: KeyPairBytes {
                private: [seed.wrapping_add(4); 32],
                public: [seed.wrapping_add(5); 32],
            },
            signature: [seed.wrapping_add(6); 64],
            timestamp_ms: 1_700_000_000_000,
        },
        adv_secret_key: [seed.wrapping_add(7); 32],
        jid: Some("5511999999999:3@s.whatsapp.net".into()),
        lid: Some("123456789:3@lid".into()),
        adv_signed_identity: Some(vec![seed; 150]),
        push_name: "Bot ✓".into(),
        platform: "CHROME".into(),
    }
}

/// The generic suite: every function takes any backend.
mod suite {
    use super::*;

    pub fn empty(s: &dyn Store) {
        assert_eq!(s.load_device().unwrap(), None);
        assert_eq!(s.prekey_count().unwrap(), 0);
        assert_eq!(s.prekey_ids().unwrap(), Vec::<u32>::new());
        assert_eq!(s.next_prekey_id().unwrap(), 1);
        assert_eq!(s.load_prekey(1).unwrap(), None);
        assert_eq!(s.load_session("1.0").unwrap(), None);
        assert_eq!(s.session_addresses("").unwrap(), Vec::<String>::new());
        assert_eq!(s.load_identity("1.0").unwrap(), None);
        assert_eq!(s.load_sender_key("g@g.us", "1.0").unwrap(), None);
        assert_eq!(s.get("k").unwrap(), None);
        assert_eq!(s.scan_prefix("").unwrap(), vec![]);
        for a in Area::ALL {
            assert_eq!(s.count_raw(a).unwrap(), 0, "{a:?}");
        }
    }

    pub fn device_round_trip(s: &dyn Store) {
        let d = device(1);
        s.save_device(&d).unwrap();
        assert_eq!(s.load_device().unwrap(), Some(d));
        let mut d2 = device(2);
        d2.jid = None;
        d2.adv_signed_identity = None;
        s.save_device(&d2).unwrap();
        assert_eq!(s.load_device().unwrap(), Some(d2));
    }

    pub fn corrupt_device_is_typed_error(s: &dyn Store) {
        let mut b = Batch::new();
        b.put_raw(Area::Device, b"device", b"garbage");
        s.apply(b).unwrap();
        assert!(matches!(s.load_device(), Err(StoreError::Corrupt { .. })));
        let mut b = Batch::new();
        b.put_raw(Area::PreKeys, &5u32.to_be_bytes(), &[1; 31]);
        s.apply(b).unwrap();
        assert!(matches!(s.load_prekey(5), Err(StoreError::Corrupt { .. })));
    }

    pub fn prekeys(s: &dyn Store) {
        let keys: Vec<(u32, [u8; 32])> = (10..15).map(|i| (i, [i as u8; 32])).collect();
        s.store_prekeys(&keys, 15).unwrap();
        assert_eq!(s.prekey_count().unwrap(), 5);
        assert_eq!(s.prekey_ids().unwrap(), vec![10, 11, 12, 13, 14]);
        assert_eq!(s.next_prekey_id().unwrap(), 15);
        for (id, k) in &keys {
            assert_eq!(s.load_prekey(*id).unwrap(), Some(*k));
        }
        s.remove_prekey(12).unwrap();
        s.remove_prekey(12).unwrap(); // absent: no error
        s.remove_prekey(999).unwrap();
        assert_eq!(s.load_prekey(12).unwrap(), None);
        assert_eq!(s.prekey_count().unwrap(), 4);
        assert_eq!(s.prekey_ids().unwrap(), vec![10, 11, 13, 14]);
        // Ids sort numerically (big-endian keys), not lexically.
        s.store_prekeys(&[(256, [1; 32]), (2, [2; 32])], 257)
            .unwrap();
        assert_eq!(s.prekey_ids().unwrap(), vec![2, 10, 11, 13, 14, 256]);
        assert_eq!(s.next_prekey_id().unwrap(), 257);
        // Wrap-around is the caller's choice.
        s.store_prekeys(&[], 1).unwrap();
        assert_eq!(s.next_prekey_id().unwrap(), 1);
    }

    pub fn sessions(s: &dyn Store) {
        s.save_session("5511999999999.0", b"a").unwrap();
        s.save_session("5511999999999.3", b"b").unwrap();
        s.save_session("5511999999990.0", b"c").unwrap();
        s.save_session("123456789:2@lid", b"d").unwrap();
        assert_eq!(
            s.load_session("5511999999999.0").unwrap().as_deref(),
            Some(&b"a"[..])
        );
        s.save_session("5511999999999.0", b"a2").unwrap();
        assert_eq!(
            s.load_session("5511999999999.0").unwrap().as_deref(),
            Some(&b"a2"[..])
        );
        assert_eq!(
            s.session_addresses("5511999999999.").unwrap(),
            vec!["5511999999999.0".to_owned(), "5511999999999.3".to_owned()]
        );
        assert_eq!(s.session_addresses("").unwrap().len(), 4);
        s.delete_session("5511999999999.3").unwrap();
        s.delete_session("nope").unwrap();
        assert_eq!(s.load_session("5511999999999.3").unwrap(), None);
        assert_eq!(s.count_raw(Area::Sessions).unwrap(), 3);
        // Empty records are values like any other.
        s.save_session("empty.0", b"").unwrap();
        assert_eq!(s.load_session("empty.0").unwrap(), Some(vec![]));
    }

    pub fn identities(s: &dyn Store) {
        let k33 = [5u8; 33];
        s.save_identity("1.0", &k33).unwrap();
        s.save_identity("2.0", &[6u8; 32]).unwrap();
        assert_eq!(s.load_identity("1.0").unwrap(), Some(k33.to_vec()));
        assert_eq!(s.load_identity("2.0").unwrap(), Some(vec![6; 32]));
        for bad in [0usize, 31, 34, 64] {
            let e = s.save_identity("3.0", &vec![1; bad]).unwrap_err();
            assert!(matches!(e, StoreError::InvalidValue { .. }), "{bad}: {e}");
        }
        assert_eq!(s.load_identity("3.0").unwrap(), None);
        s.delete_identity("1.0").unwrap();
        assert_eq!(s.load_identity("1.0").unwrap(), None);
    }

    pub fn sender_keys(s: &dyn Store) {
        s.save_sender_key("ab", "c", b"1").unwrap();
        s.save_sender_key("a", "bc", b"2").unwrap();
        s.save_sender_key("120363@g.us", "5511999999999:1@s.whatsapp.net", b"3")
            .unwrap();
        assert_eq!(s.load_sender_key("ab", "c").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.load_sender_key("a", "bc").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            s.load_sender_key("120363@g.us", "5511999999999:1@s.whatsapp.net")
                .unwrap(),
            Some(b"3".to_vec())
        );
        s.delete_sender_key("ab", "c").unwrap();
        assert_eq!(s.load_sender_key("ab", "c").unwrap(), None);
        assert_eq!(s.load_sender_key("a", "bc").unwrap(), Some(b"2".to_vec()));
        let long = "g".repeat(70_000);
        assert!(matches!(
            s.save_sender_key(&long, "x", b""),
            Err(StoreError::InvalidValue { .. })
        ));
    }

    pub fn kv(s: &dyn Store) {
        s.put("app-state/key/1", b"one").unwrap();
        s.put_many(&[
            ("app-state/key/2".into(), b"two".to_vec()),
            ("server_has_prekeys".into(), vec![1]),
            ("devices/5511999999999".into(), b"[0,3]".to_vec()),
        ])
        .unwrap();
        assert_eq!(s.get("server_has_prekeys").unwrap(), Some(vec![1]));
        assert_eq!(
            s.scan_prefix("app-state/").unwrap(),
            vec![
                ("app-state/key/1".to_owned(), b"one".to_vec()),
                ("app-state/key/2".to_owned(), b"two".to_vec())
            ]
        );
        s.delete("app-state/key/1").unwrap();
        assert_eq!(s.get("app-state/key/1").unwrap(), None);
        assert_eq!(s.scan_prefix("").unwrap().len(), 3);
    }

    pub fn areas_are_separate(s: &dyn Store) {
        s.save_session("x", b"session").unwrap();
        s.save_identity("x", &[1; 32]).unwrap();
        s.put("x", b"kv").unwrap();
        assert_eq!(s.load_session("x").unwrap(), Some(b"session".to_vec()));
        assert_eq!(s.load_identity("x").unwrap(), Some(vec![1; 32]));
        assert_eq!(s.get("x").unwrap(), Some(b"kv".to_vec()));
        s.delete("x").unwrap();
        assert_eq!(s.load_session("x").unwrap(), Some(b"session".to_vec()));
        assert_eq!(s.count_raw(Area::Kv).unwrap(), 0);
        assert_eq!(s.count_raw(Area::Sessions).unwrap(), 1);
    }

    pub fn batch_applies_everything_in_order(s: &dyn Store) {
        s.store_prekeys(&[(7, [7; 32]), (8, [8; 32])], 9).unwrap();
        let mut b = Batch::new();
        b.put_session("1.0", b"ratchet").remove_prekey(7);
        b.put_identity("1.0", &[9; 33]).unwrap();
        b.put_device(&device(3))
            .put("server_has_prekeys", &[1])
            .put("tmp", b"x")
            .delete("tmp")
            .put_session("2.0", b"old")
            .put_session("2.0", b"new");
        b.put_sender_key("g", "1.0", b"sk").unwrap();
        assert_eq!(b.len(), 10);
        s.apply(b).unwrap();
        assert_eq!(s.load_session("1.0").unwrap(), Some(b"ratchet".to_vec()));
        assert_eq!(s.load_prekey(7).unwrap(), None);
        assert_eq!(s.load_prekey(8).unwrap(), Some([8; 32]));
        assert_eq!(s.load_identity("1.0").unwrap(), Some(vec![9; 33]));
        assert_eq!(s.load_device().unwrap(), Some(device(3)));
        assert_eq!(s.get("tmp").unwrap(), None);
        assert_eq!(s.load_session("2.0").unwrap(), Some(b"new".to_vec()));
        assert_eq!(s.load_sender_key("g", "1.0").unwrap(), Some(b"sk".to_vec()));
        s.apply(Batch::new()).unwrap();
        // A batch that fails to build never reaches the store.
        let mut b = Batch::new();
        b.put_session("3.0", b"x");
        assert!(b.put_identity("3.0", &[0; 3]).is_err());
        assert_eq!(b.len(), 1);
    }

    pub fn wipe_removes_everything(s: &dyn Store) {
        s.save_device(&device(4)).unwrap();
        s.store_prekeys(&[(1, [1; 32])], 2).unwrap();
        s.save_session("1.0", b"s").unwrap();
        s.save_identity("1.0", &[1; 32]).unwrap();
        s.save_sender_key("g", "1.0", b"k").unwrap();
        s.put("k", b"v").unwrap();
        s.wipe().unwrap();
        empty(s);
        // Still usable.
        s.put("k", b"v2").unwrap();
        assert_eq!(s.get("k").unwrap(), Some(b"v2".to_vec()));
        s.flush().unwrap();
    }

    /// Readers never see half of a batch.
    pub fn batches_are_atomic_under_concurrency(s: Arc<dyn Store>) {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let s = s.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for i in 0u32..400 {
                    let v = i.to_be_bytes();
                    let mut b = Batch::new();
                    b.put("a", &v)
                        .put_session("b", &v)
                        .put_prekey(1, &[i as u8; 32]);
                    s.apply(b).unwrap();
                }
                stop.store(true, Ordering::SeqCst);
            })
        };
        let mut checks = 0;
        while !stop.load(Ordering::SeqCst) || checks == 0 {
            // A snapshot read of two keys is not itself atomic, so read the
            // pair twice around a re-read of `a` and only compare stable views.
            let a1 = s.get("a").unwrap();
            let b = s.load_session("b").unwrap();
            let a2 = s.get("a").unwrap();
            if a1 == a2 {
                assert_eq!(a1, b, "torn batch");
            }
            checks += 1;
        }
        writer.join().unwrap();
        assert_eq!(s.get("a").unwrap(), Some(399u32.to_be_bytes().to_vec()));
    }

    pub fn shared_across_threads(s: Arc<dyn Store>) {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        s.save_session(&format!("{t}.{i}"), &[t as u8, i as u8])
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.session_addresses("").unwrap().len(), 200);
        assert_eq!(s.load_session("3.49").unwrap(), Some(vec![3, 49]));
    }
}

macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            fn make() -> Arc<dyn Store> {
                $make
            }

            #[test]
            fn empty() {
                suite::empty(&*make());
            }
            #[test]
            fn device_round_trip() {
                suite::device_round_trip(&*make());
            }
            #[test]
            fn corrupt_device_is_typed_error() {
                suite::corrupt_device_is_typed_error(&*make());
            }
            #[test]
            fn prekeys() {
                suite::prekeys(&*make());
            }
            #[test]
            fn sessions() {
                suite::sessions(&*make());
            }
            #[test]
            fn identities() {
                suite::identities(&*make());
            }
            #[test]
            fn sender_keys() {
                suite::sender_keys(&*make());
            }
            #[test]
            fn kv() {
                suite::kv(&*make());
            }
            #[test]
            fn areas_are_separate() {
                suite::areas_are_separate(&*make());
            }
            #[test]
            fn batch_applies_everything_in_order() {
                suite::batch_applies_everything_in_order(&*make());
            }
            #[test]
            fn wipe_removes_everything() {
                suite::wipe_removes_everything(&*make());
            }
            #[test]
            fn batches_are_atomic_under_concurrency() {
                suite::batches_are_atomic_under_concurrency(make());
            }
            #[test]
            fn shared_across_threads() {
                suite::shared_across_threads(make());
            }
        }
    };
}

conformance!(memory, Arc::new(MemoryStore::new()));
conformance!(
    sled_backend,
    Arc::new(
        SledDatabase::open_temporary()
            .and_then(|db| db.session_store("conformance"))
            .expect("temporary sled store")
    )
);

// ----- sled specifics -----

fn sled_at(dir: &tempfile::TempDir) -> SledDatabase {
    SledDatabase::open(dir.path().join("db")).expect("open sled")
}

fn fill(s: &SledStore, seed: u8) {
    s.save_device(&device(seed)).unwrap();
    s.store_prekeys(&[(1, [seed; 32]), (2, [seed; 32])], 3)
        .unwrap();
    s.save_session("1.0", &[seed]).unwrap();
    s.save_identity("1.0", &[seed; 33]).unwrap();
    s.save_sender_key("g@g.us", "1.0", &[seed, seed]).unwrap();
    s.put("server_has_prekeys", &[seed]).unwrap();
}

fn assert_filled(s: &SledStore, seed: u8) {
    assert_eq!(s.load_device().unwrap(), Some(device(seed)));
    assert_eq!(s.prekey_ids().unwrap(), vec![1, 2]);
    assert_eq!(s.load_prekey(2).unwrap(), Some([seed; 32]));
    assert_eq!(s.next_prekey_id().unwrap(), 3);
    assert_eq!(s.load_session("1.0").unwrap(), Some(vec![seed]));
    assert_eq!(s.load_identity("1.0").unwrap(), Some(vec![seed; 33]));
    assert_eq!(
        s.load_sender_key("g@g.us", "1.0").unwrap(),
        Some(vec![seed, seed])
    );
    assert_eq!(s.get("server_has_prekeys").unwrap(), Some(vec![seed]));
}

#[test]
fn sled_reopen_returns_same_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled_at(&dir);
        assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
        fill(&db.session_store("alice").unwrap(), 1);
        fill(&db.session_store("bob").unwrap(), 2);
    }
    let db = sled_at(&dir);
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        db.list_namespaces().unwrap(),
        vec!["alice".to_owned(), "bob".to_owned()]
    );
    assert_filled(&db.session_store("alice").unwrap(), 1);
    assert_filled(&db.session_store("bob").unwrap(), 2);
}

#[test]
fn sled_namespaces_are_isolated() {
    let db = SledDatabase::open_temporary().unwrap();
    let a = db.session_store("a").unwrap();
    let b = db.session_store("b").unwrap();
    // Prefix-similar names do not overlap either.
    let ab = db.session_store("a/b").unwrap();
    fill(&a, 1);
    fill(&b, 2);
    fill(&ab, 3);
    assert_filled(&a, 1);
    assert_filled(&b, 2);
    assert_eq!(a.namespace(), "a");
    a.wipe().unwrap();
    suite::empty(&a);
    assert_filled(&b, 2);
    assert_filled(&ab, 3);
    // A second handle to the same namespace sees the same data.
    assert_filled(&db.session_store("b").unwrap(), 2);
    db.drop_namespace("b").unwrap();
    db.drop_namespace("never-existed").unwrap();
    assert_eq!(
        db.list_namespaces().unwrap(),
        vec!["a".to_owned(), "a/b".to_owned()]
    );
    suite::empty(&db.session_store("b").unwrap());
    assert_filled(&ab, 3);
}

#[test]
fn sled_concurrent_registration_yields_one_namespace() {
    let db = SledDatabase::open_temporary().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db = db.clone();
            std::thread::spawn(move || {
                let s = db.session_store("shared").unwrap();
                s.put(&format!("k{i}"), &[i]).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(db.list_namespaces().unwrap(), vec!["shared".to_owned()]);
    assert_eq!(
        db.session_store("shared")
            .unwrap()
            .scan_prefix("k")
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn sled_rejects_bad_namespace_names() {
    let db = SledDatabase::open_temporary().unwrap();
    assert!(matches!(
        db.session_store(""),
        Err(StoreError::InvalidValue { .. })
    ));
    assert!(matches!(
        db.session_store(&"n".repeat(257)),
        Err(StoreError::InvalidValue { .. })
    ));
    assert!(db.session_store(&"n".repeat(256)).is_ok());
}

#[test]
fn sled_refuses_newer_schema_and_foreign_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(sled_at(&dir));
    {
        let raw = sled::open(&path).unwrap();
        raw.insert(b"wa-store/schema_version", &99u32.to_be_bytes())
            .unwrap();
        raw.flush().unwrap();
    }
    match SledDatabase::open(&path) {
        Err(StoreError::UnsupportedSchema {
            found: 99,
            supported,
        }) => {
            assert_eq!(supported, SCHEMA_VERSION)
        }
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
    // A sled database with data but no version key was not written by us.
    let other = dir.path().join("foreign");
    {
        let raw = sled::open(&other).unwrap();
        raw.open_tree(b"wa-store/data")
            .unwrap()
            .insert(b"x", b"y")
            .unwrap();
        raw.flush().unwrap();
    }
    assert!(matches!(
        SledDatabase::open(&other),
        Err(StoreError::UnsupportedSchema { found: 0, .. })
    ));
}

#[test]
fn sled_without_flush_on_write_still_persists_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let opts = SledOptions {
        flush_on_write: false,
        flush_every_ms: None,
        ..SledOptions::default()
    };
    {
        let db = SledDatabase::open_with(&path, &opts).unwrap();
        let s = db.session_store("x").unwrap();
        s.save_session("1.0", b"r").unwrap();
        s.flush().unwrap();
    }
    let db = SledDatabase::open_with(&path, &opts).unwrap();
    assert_eq!(
        db.session_store("x").unwrap().load_session("1.0").unwrap(),
        Some(b"r".to_vec())
    );
}

// ----- device record encoding -----

#[test]
fn device_record_rejects_every_truncation_and_trailing_bytes() {
    let bytes = device(9).to_bytes();
    assert_eq!(DeviceRecord::from_bytes(&bytes).unwrap(), device(9));
    for n in 0..bytes.len() {
        assert!(
            matches!(
                DeviceRecord::from_bytes(&bytes[..n]),
                Err(StoreError::Corrupt { .. })
            ),
            "prefix of {n} bytes accepted"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(DeviceRecord::from_bytes(&extra).is_err());
    let mut v2 = bytes.clone();
    v2[4] = 2;
    assert!(DeviceRecord::from_bytes(&v2).is_err());
}

#[test]
fn device_record_debug_hides_private_keys() {
    let d = device(0xAB);
    let dbg = format!("{d:?}");
    assert!(!dbg.contains(&hex::encode([0xABu8; 32])), "{dbg}");
}

#[test]
fn device_record_random_bytes_never_panic() {
    use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(11);
    let valid = device(1).to_bytes();
    for _ in 0..5000 {
        let mut b = if rng.gen_bool(0.5) {
            valid.clone()
        } else {
            let mut b = vec![0u8; rng.gen_range(0..600)];
            rng.fill_bytes(&mut b);
            b
        };
        if !b.is_empty() {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.r#gen();
            }
        }
        let _ = DeviceRecord::from_bytes(&b);
    }
}

fn arb_pair() -> impl Strategy<Value = KeyPairBytes> {
    (any::<[u8; 32]>(), any::<[u8; 32]>())
        .prop_map(|(private, public)| KeyPairBytes { private, public })
}

prop_compose! {
    fn arb_device()(
        noise_key in arb_pair(),
        identity_key in arb_pair(),
        registration_id in any::<u32>(),
        spk_id in any::<u32>(),
        spk_pair in arb_pair(),
        sig_a in any::<[u8; 32]>(),
        sig_b in any::<[u8; 32]>(),
        timestamp_ms in any::<u64>(),
        adv_secret_key in any::<[u8; 32]>(),
        jid in proptest::option::of(".{0,40}"),
        lid in proptest::option::of(".{0,40}"),
        adv_signed_identity in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        push_name in ".{0,30}",
        platform in "[A-Z_]{0,12}",
    ) -> DeviceRecord {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&sig_a);
        signature[32..].copy_from_slice(&sig_b);
        DeviceRecord {
            noise_key,
            identity_key,
            registration_id,
            signed_prekey: SignedPreKeyBytes { id: spk_id, key_pair: spk_pair, signature, timestamp_ms },
            adv_secret_key,
            jid,
            lid,
            adv_signed_identity,
            push_name,
            platform,
        }
    }
}

proptest! {
    #[test]
    fn device_record_round_trips(d in arb_device()) {
        prop_assert_eq!(DeviceRecord::from_bytes(&d.to_bytes()).unwrap(), d);
    }

    #[test]
    fn device_record_decode_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(d) = DeviceRecord::from_bytes(&bytes) {
            prop_assert_eq!(d.to_bytes(), bytes);
        }
    }
}
