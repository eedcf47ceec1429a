//! Property tests: parsers never panic on arbitrary input, and messages and
//! records survive serialization round trips.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_signal::{
    IdentityKeyPair, KeyPair, PreKeyBundle, PreKeyRecord, PreKeySignalMessage,
    SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalMessage,
    SignedPreKeyRecord, decrypt_message, decrypt_prekey_message, encrypt, generate_pre_keys,
    generate_signed_pre_key, process_bundle,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), v33 in any::<bool>()) {
        let mut bytes = bytes;
        if v33 && !bytes.is_empty() {
            bytes[0] = 0x33;
        }
        let _ = SignalMessage::deserialize(&bytes);
        let _ = PreKeySignalMessage::deserialize(&bytes);
        let _ = SenderKeyMessage::deserialize(&bytes);
        let _ = SenderKeyDistributionMessage::deserialize(&bytes);
        let _ = SessionRecord::from_bytes(&bytes);
        let _ = SenderKeyRecord::from_bytes(&bytes);
    }

}

// Public-key operations are slow in debug builds: fewer cases.
proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn session_messages_and_records_round_trip(
        seed in any::<u64>(),
        plaintexts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..8),
        one_time in any::<bool>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let spk = generate_signed_pre_key(&bob, 7, 1_700_000_000_000, &mut rng);
        let opks = generate_pre_keys(100, 1, &mut rng);
        let bundle = PreKeyBundle::new(42, bob.public_key(), &spk, if one_time { opks.first() } else { None });
        prop_assert!(bundle.verify());
        let mut a = SessionRecord::new();
        process_bundle(&mut a, &alice, 41, &bundle, &mut rng).unwrap();
        let mut b = SessionRecord::new();
        for (i, pt) in plaintexts.iter().enumerate() {
            let ct = encrypt(&mut a, pt).unwrap();
            let pk = PreKeySignalMessage::deserialize(&ct.bytes).unwrap();
            prop_assert_eq!(pk.serialized(), &ct.bytes[..]);
            prop_assert_eq!(pk.pre_key_id(), if one_time { Some(100) } else { None });
            prop_assert_eq!(pk.registration_id(), 41);
            prop_assert_eq!(pk.message().counter() as usize, i);
            let res = decrypt_prekey_message(&mut b, &bob, 42, &pk, Some(&spk), opks.first(), &mut rng).unwrap();
            prop_assert_eq!(&res.plaintext, pt);
            // Records round-trip exactly, between every step.
            a = SessionRecord::from_bytes(&a.to_bytes()).unwrap();
            b = SessionRecord::from_bytes(&b.to_bytes()).unwrap();
            prop_assert_eq!(SessionRecord::from_bytes(&b.to_bytes()).unwrap().to_bytes(), b.to_bytes());
        }
        let reply = encrypt(&mut b, b"reply").unwrap();
        let sm = SignalMessage::deserialize(&reply.bytes).unwrap();
        prop_assert_eq!(sm.serialized(), &reply.bytes[..]);
        prop_assert_eq!(decrypt_message(&mut a, &reply.bytes, &mut rng).unwrap(), b"reply".to_vec());
    }

    #[test]
    fn sender_keys_round_trip(seed in any::<u64>(), n in 1usize..20) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut own = SenderKeyRecord::generate_own(&mut rng);
        let skdm = own.distribution_message().unwrap();
        let parsed = SenderKeyDistributionMessage::deserialize(skdm.serialized()).unwrap();
        prop_assert_eq!(&parsed, &skdm);
        let mut recv = SenderKeyRecord::new();
        recv.process_distribution_message(&parsed);
        let mut cts = Vec::new();
        for i in 0..n {
            cts.push((i, own.encrypt(&i.to_be_bytes()).unwrap()));
            own = SenderKeyRecord::from_bytes(&own.to_bytes()).unwrap();
        }
        // Deliver in reverse order: all skipped keys are used.
        for (i, ct) in cts.iter().rev() {
            let m = SenderKeyMessage::deserialize(ct).unwrap();
            prop_assert_eq!(m.iteration() as usize, *i);
            prop_assert_eq!(recv.decrypt(ct).unwrap(), i.to_be_bytes().to_vec());
            recv = SenderKeyRecord::from_bytes(&recv.to_bytes()).unwrap();
        }
    }

    #[test]
    fn key_records_round_trip(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let id = IdentityKeyPair::generate(&mut rng);
        prop_assert_eq!(IdentityKeyPair::from_bytes(&id.to_bytes()).unwrap(), id.clone());
        let spk = generate_signed_pre_key(&id, 0xFF_FFFF, seed, &mut rng);
        prop_assert_eq!(SignedPreKeyRecord::from_bytes(&spk.to_bytes()).unwrap(), spk);
        let pk = PreKeyRecord { id: 5, key_pair: KeyPair::generate(&mut rng) };
        prop_assert_eq!(PreKeyRecord::from_bytes(&pk.to_bytes()).unwrap(), pk);
    }
}

#[test]
fn pre_key_ids_wrap_within_24_bits() {
    let mut rng = StdRng::seed_from_u64(1);
    let keys = generate_pre_keys(0xFF_FFFE, 4, &mut rng);
    let ids: Vec<u32> = keys.iter().map(|k| k.id).collect();
    assert_eq!(ids, vec![0xFF_FFFE, 0xFF_FFFF, 1, 2]);
    let r = wa_signal::generate_registration_id(&mut rng);
    assert!((1..=16380).contains(&r));
}

#[test]
fn records_reject_unknown_versions() {
    let mut rng = StdRng::seed_from_u64(2);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut bytes = id.to_bytes();
    bytes[0] = 9;
    assert!(IdentityKeyPair::from_bytes(&bytes).is_err());
    assert!(SessionRecord::from_bytes(&[]).is_err());
    assert_eq!(SessionRecord::from_bytes(&[1]).unwrap().to_bytes(), vec![1]);
}
