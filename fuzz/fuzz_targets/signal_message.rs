#![no_main]
//! SignalMessage parser and decryption against an established session:
//! must never panic, and a failed decryption must leave the record unchanged.

mod signal_common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signal_common::Xs;
use wa_signal::{
    IdentityKeyPair, PreKeyBundle, PreKeySignalMessage, SessionRecord, SignalMessage,
    decrypt_message, decrypt_prekey_message, encrypt, generate_pre_keys, generate_signed_pre_key,
    process_bundle,
};

/// Bob's record after receiving one message from Alice.
fn bob_record() -> &'static SessionRecord {
    static R: OnceLock<SessionRecord> = OnceLock::new();
    R.get_or_init(|| {
        let mut rng = Xs(0x9E37_79B9_7F4A_7C15);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let spk = generate_signed_pre_key(&bob, 1, 0, &mut rng);
        let opk = generate_pre_keys(1, 1, &mut rng);
        let bundle = PreKeyBundle::new(2, bob.public_key(), &spk, opk.first());
        let mut a = SessionRecord::new();
        process_bundle(&mut a, &alice, 1, &bundle, &mut rng).unwrap();
        let ct = encrypt(&mut a, b"hello").unwrap();
        let pk = PreKeySignalMessage::deserialize(&ct.bytes).unwrap();
        let mut b = SessionRecord::new();
        decrypt_prekey_message(&mut b, &bob, 2, &pk, Some(&spk), opk.first(), &mut rng).unwrap();
        b
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SignalMessage::deserialize(data) {
        assert_eq!(m.serialized(), data);
    }
    let mut record = bob_record().clone();
    let before = record.to_bytes();
    let mut rng = Xs(1);
    if decrypt_message(&mut record, data, &mut rng).is_err() {
        assert_eq!(record.to_bytes(), before);
    }
});
