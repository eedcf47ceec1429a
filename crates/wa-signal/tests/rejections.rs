//! Tampered messages, wrong identities, missing prekeys and replays are
//! rejected with typed errors, and a failed decryption changes nothing.

mod common;

use common::Device;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use wa_signal::{
    IdentityKeyPair, MessageType, PreKeySignalMessage, SessionRecord, SignalError, SignalMessage,
    decrypt_message, decrypt_prekey_message, encrypt, process_bundle,
};

fn pair(seed: u64) -> (StdRng, Device, Device) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut alice = Device::new(&mut rng);
    let bob = Device::new(&mut rng);
    let bundle = bob.bundle(true);
    let id = alice.identity.clone();
    process_bundle(
        &mut alice.record,
        &id,
        alice.registration_id,
        &bundle,
        &mut rng,
    )
    .unwrap();
    (rng, alice, bob)
}

/// Alice and Bob with an acknowledged session (Bob has answered).
fn established(seed: u64) -> (StdRng, Device, Device) {
    let (mut rng, mut alice, mut bob) = pair(seed);
    let m = encrypt(&mut alice.record, b"hello").unwrap();
    assert_eq!(bob.decrypt(&m, &mut rng).unwrap(), b"hello");
    let r = encrypt(&mut bob.record, b"hi").unwrap();
    assert_eq!(r.kind, MessageType::Whisper);
    assert_eq!(alice.decrypt(&r, &mut rng).unwrap(), b"hi");
    (rng, alice, bob)
}

#[test]
fn bundle_with_bad_signature_is_rejected() {
    let mut rng = StdRng::seed_from_u64(1);
    let alice = Device::new(&mut rng);
    let bob = Device::new(&mut rng);
    let mut bundle = bob.bundle(true);
    bundle.signed_pre_key_signature[5] ^= 1;
    let mut record = SessionRecord::new();
    let err = process_bundle(&mut record, &alice.identity, 1, &bundle, &mut rng).unwrap_err();
    assert_eq!(err, SignalError::InvalidSignature);
    assert!(!record.has_current_session());
    // A signature by another identity key is rejected too.
    let mut bundle = bob.bundle(false);
    bundle.identity_key = *alice.identity.public_key();
    let err = process_bundle(&mut record, &alice.identity, 1, &bundle, &mut rng).unwrap_err();
    assert_eq!(err, SignalError::InvalidSignature);
}

#[test]
fn every_single_bit_flip_of_a_msg_is_rejected_without_state_change() {
    let (mut rng, mut alice, mut bob) = established(2);
    let m = encrypt(&mut alice.record, b"a message worth protecting").unwrap();
    let before = bob.record.to_bytes();
    for byte in 0..m.bytes.len() {
        for bit in 0..8 {
            let mut t = m.bytes.clone();
            t[byte] ^= 1 << bit;
            let err = decrypt_message(&mut bob.record, &t, &mut rng).unwrap_err();
            // Flips in the ratchet key or counter may make it look like
            // another chain or position; all must fail before any change.
            assert!(
                matches!(
                    err,
                    SignalError::InvalidMac
                        | SignalError::InvalidMessage(_)
                        | SignalError::Key(_)
                        | SignalError::UnsupportedVersion(_)
                        | SignalError::TooFarInFuture { .. }
                        | SignalError::DuplicateMessage { .. }
                        | SignalError::InvalidCiphertext
                ),
                "byte {byte} bit {bit}: {err:?}"
            );
            assert_eq!(bob.record.to_bytes(), before, "byte {byte} bit {bit}");
        }
    }
    assert_eq!(
        decrypt_message(&mut bob.record, &m.bytes, &mut rng).unwrap(),
        b"a message worth protecting"
    );
}

#[test]
fn tampered_pkmsg_and_wrong_identity_are_rejected() {
    let (mut rng, mut alice, mut bob) = pair(3);
    let m = encrypt(&mut alice.record, b"first").unwrap();
    assert_eq!(m.kind, MessageType::PreKey);
    let parsed = PreKeySignalMessage::deserialize(&m.bytes).unwrap();

    // Bob with the wrong identity key: the MAC (over both identities) fails.
    let wrong = IdentityKeyPair::generate(&mut rng);
    let mut rec = SessionRecord::new();
    let err = decrypt_prekey_message(
        &mut rec,
        &wrong,
        bob.registration_id,
        &parsed,
        Some(&bob.signed_pre_key),
        bob.pre_keys.first(),
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, SignalError::InvalidMac);
    assert!(!rec.has_current_session());

    // A pkmsg claiming another sender identity: the MAC fails.
    let mallory = IdentityKeyPair::generate(&mut rng);
    let needle = alice.identity.public_key().serialize();
    let pos = m.bytes.windows(33).position(|w| w == needle).unwrap();
    let mut forged = m.bytes.clone();
    forged[pos..pos + 33].copy_from_slice(&mallory.public_key().serialize());
    let fp = PreKeySignalMessage::deserialize(&forged).unwrap();
    let err = decrypt_prekey_message(
        &mut bob.record,
        &bob.identity,
        bob.registration_id,
        &fp,
        Some(&bob.signed_pre_key),
        bob.pre_keys.first(),
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, SignalError::InvalidMac);
    assert!(!bob.record.has_current_session());

    // Missing prekeys are reported by id.
    let err = decrypt_prekey_message(
        &mut bob.record,
        &bob.identity,
        bob.registration_id,
        &parsed,
        Some(&bob.signed_pre_key),
        None,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        SignalError::MissingPreKey(parsed.pre_key_id().unwrap())
    );
    let err = decrypt_prekey_message(
        &mut bob.record,
        &bob.identity,
        bob.registration_id,
        &parsed,
        None,
        bob.pre_keys.first(),
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        SignalError::MissingSignedPreKey(parsed.signed_pre_key_id())
    );

    // The genuine message works and reports the consumed one-time prekey.
    let res = decrypt_prekey_message(
        &mut bob.record,
        &bob.identity,
        bob.registration_id,
        &parsed,
        Some(&bob.signed_pre_key),
        bob.pre_keys.first(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(res.plaintext, b"first");
    assert_eq!(res.consumed_pre_key_id, Some(bob.pre_keys[0].id));
    assert_eq!(res.remote_identity, *alice.identity.public_key());

    // Replaying the pkmsg: the session exists, the key is used: duplicate.
    let before = bob.record.to_bytes();
    let err = decrypt_prekey_message(
        &mut bob.record,
        &bob.identity,
        bob.registration_id,
        &parsed,
        Some(&bob.signed_pre_key),
        None,
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        SignalError::DuplicateMessage { counter: 0, .. }
    ));
    assert_eq!(bob.record.to_bytes(), before);

    // Same base key, different claimed identity: typed identity mismatch.
    let err = decrypt_prekey_message(
        &mut bob.record,
        &bob.identity,
        bob.registration_id,
        &fp,
        Some(&bob.signed_pre_key),
        None,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, SignalError::IdentityMismatch);
}

#[test]
fn msg_from_a_stranger_and_without_session() {
    let (mut rng, mut alice, _bob) = established(4);
    let (_, _, mut carol) = established(5);
    let m = encrypt(&mut alice.record, b"for bob").unwrap();
    let before = carol.record.to_bytes();
    let err = decrypt_message(&mut carol.record, &m.bytes, &mut rng).unwrap_err();
    assert_eq!(err, SignalError::InvalidMac);
    assert_eq!(carol.record.to_bytes(), before);
    let err = decrypt_message(&mut SessionRecord::new(), &m.bytes, &mut rng).unwrap_err();
    assert_eq!(err, SignalError::NoSession);
    let err = encrypt(&mut SessionRecord::new(), b"x").unwrap_err();
    assert_eq!(err, SignalError::NoSession);
}

#[test]
fn future_jump_limit() {
    let (mut rng, mut alice, mut bob) = established(6);
    let mut last = None;
    for _ in 0..2002 {
        last = Some(encrypt(&mut alice.record, b"x").unwrap());
    }
    // counter 2001 is 2001 ahead of index 0: over the 2000 limit.
    let err = bob.decrypt(last.as_ref().unwrap(), &mut rng).unwrap_err();
    assert!(matches!(
        err,
        SignalError::TooFarInFuture {
            counter: 2001,
            chain_index: 0
        }
    ));
    let m = encrypt(&mut alice.record, b"y").unwrap();
    assert!(bob.decrypt(&m, &mut rng).is_err());

    // Exactly 2000 ahead is accepted.
    let (mut rng, mut alice, mut bob) = established(7);
    for _ in 0..2000 {
        encrypt(&mut alice.record, b"x").unwrap();
    }
    let m = encrypt(&mut alice.record, b"z").unwrap();
    assert_eq!(bob.decrypt(&m, &mut rng).unwrap(), b"z");
}

#[test]
fn archived_session_still_decrypts_late_messages() {
    let (mut rng, mut alice, mut bob) = established(8);
    let late = encrypt(&mut alice.record, b"late").unwrap();
    // Alice starts a fresh session (e.g. after a retry receipt).
    let bundle = bob.bundle(false);
    let id = alice.identity.clone();
    process_bundle(
        &mut alice.record,
        &id,
        alice.registration_id,
        &bundle,
        &mut rng,
    )
    .unwrap();
    assert_eq!(alice.record.previous().count(), 1);
    let fresh = encrypt(&mut alice.record, b"fresh").unwrap();
    assert_eq!(fresh.kind, MessageType::PreKey);
    assert_eq!(bob.decrypt(&fresh, &mut rng).unwrap(), b"fresh");
    assert_eq!(bob.record.previous().count(), 1);
    // The message of the old session decrypts with the archived state, which becomes current.
    assert_eq!(bob.decrypt(&late, &mut rng).unwrap(), b"late");
    let old_base = *bob.record.current().unwrap().base_key();
    assert_ne!(
        old_base,
        *PreKeySignalMessage::deserialize(&fresh.bytes)
            .unwrap()
            .base_key()
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(9);
    let (mut srng, mut alice, mut bob) = established(10);
    let valid = encrypt(&mut alice.record, b"seed material").unwrap().bytes;
    for i in 0..3000 {
        let buf: Vec<u8> = if i % 2 == 0 {
            let len = rng.gen_range(0..300);
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            if len > 0 && rng.gen_bool(0.5) {
                b[0] = 0x33;
            }
            b
        } else {
            let mut b = valid.clone();
            for _ in 0..rng.gen_range(1..6) {
                let p = rng.gen_range(0..b.len());
                b[p] = rng.r#gen();
            }
            b.truncate(rng.gen_range(0..=b.len()));
            b
        };
        let _ = SignalMessage::deserialize(&buf);
        let _ = PreKeySignalMessage::deserialize(&buf);
        let _ = wa_signal::SenderKeyMessage::deserialize(&buf);
        let _ = wa_signal::SenderKeyDistributionMessage::deserialize(&buf);
        let _ = SessionRecord::from_bytes(&buf);
        let _ = wa_signal::SenderKeyRecord::from_bytes(&buf);
        let _ = wa_signal::PreKeyRecord::from_bytes(&buf);
        let _ = wa_signal::SignedPreKeyRecord::from_bytes(&buf);
        let _ = IdentityKeyPair::from_bytes(&buf);
        if buf != valid {
            assert!(decrypt_message(&mut bob.record, &buf, &mut srng).is_err());
        }
    }
}

#[test]
fn simultaneous_initiation_converges() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut alice = Device::new(&mut rng);
    let mut bob = Device::new(&mut rng);
    let (ab, bb) = (alice.bundle(true), bob.bundle(true));
    let (aid, bid) = (alice.identity.clone(), bob.identity.clone());
    process_bundle(
        &mut alice.record,
        &aid,
        alice.registration_id,
        &bb,
        &mut rng,
    )
    .unwrap();
    process_bundle(&mut bob.record, &bid, bob.registration_id, &ab, &mut rng).unwrap();
    let from_a = encrypt(&mut alice.record, b"a1").unwrap();
    let from_b = encrypt(&mut bob.record, b"b1").unwrap();
    assert_eq!(bob.decrypt(&from_a, &mut rng).unwrap(), b"a1");
    assert_eq!(alice.decrypt(&from_b, &mut rng).unwrap(), b"b1");
    // Both now hold two states; messages in either direction find the right one.
    for i in 0..6u8 {
        let m = encrypt(&mut alice.record, &[b'a', i]).unwrap();
        assert_eq!(bob.decrypt(&m, &mut rng).unwrap(), [b'a', i]);
        let m = encrypt(&mut bob.record, &[b'b', i]).unwrap();
        assert_eq!(alice.decrypt(&m, &mut rng).unwrap(), [b'b', i]);
    }
}

#[test]
fn archived_states_are_capped() {
    let mut rng = StdRng::seed_from_u64(12);
    let alice = Device::new(&mut rng);
    let bob = Device::new(&mut rng);
    let mut record = SessionRecord::new();
    for _ in 0..45 {
        process_bundle(
            &mut record,
            &alice.identity,
            1,
            &bob.bundle(false),
            &mut rng,
        )
        .unwrap();
    }
    assert_eq!(
        record.previous().count(),
        wa_signal::session::ARCHIVED_STATES_MAX
    );
    let restored = SessionRecord::from_bytes(&record.to_bytes()).unwrap();
    assert_eq!(restored.previous().count(), 40);
    record.archive_current_state();
    assert!(!record.has_current_session());
    assert_eq!(
        encrypt(&mut record, b"x").unwrap_err(),
        SignalError::NoSession
    );
}
