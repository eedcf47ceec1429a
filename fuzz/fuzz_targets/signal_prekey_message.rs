#![no_main]
//! PreKeySignalMessage parser and responder-side decryption: must never
//! panic; a failure must leave the record unchanged and consume no prekey.

mod signal_common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signal_common::Xs;
use wa_signal::{
    IdentityKeyPair, PreKeyRecord, PreKeySignalMessage, SessionRecord, SignedPreKeyRecord,
    decrypt_prekey_message, generate_pre_keys, generate_signed_pre_key,
};

struct Bob {
    identity: IdentityKeyPair,
    spk: SignedPreKeyRecord,
    opk: PreKeyRecord,
}

fn bob() -> &'static Bob {
    static B: OnceLock<Bob> = OnceLock::new();
    B.get_or_init(|| {
        let mut rng = Xs(0x2545_F491_4F6C_DD1D);
        let identity = IdentityKeyPair::generate(&mut rng);
        let spk = generate_signed_pre_key(&identity, 1, 0, &mut rng);
        let opk = generate_pre_keys(1, 1, &mut rng).remove(0);
        Bob { identity, spk, opk }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = PreKeySignalMessage::deserialize(data) else {
        return;
    };
    assert_eq!(msg.serialized(), data);
    let b = bob();
    let mut record = SessionRecord::new();
    let mut rng = Xs(7);
    match decrypt_prekey_message(
        &mut record,
        &b.identity,
        2,
        &msg,
        Some(&b.spk),
        Some(&b.opk),
        &mut rng,
    ) {
        Ok(res) => {
            assert!(record.has_current_session() && res.consumed_pre_key_id == msg.pre_key_id())
        }
        Err(_) => assert!(!record.has_current_session()),
    }
});
