#![no_main]
//! SenderKeyMessage and SenderKeyDistributionMessage parsers and group
//! decryption: must never panic; a failure must leave the record unchanged.

mod signal_common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signal_common::Xs;
use wa_signal::{SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord};

fn receiver() -> &'static SenderKeyRecord {
    static R: OnceLock<SenderKeyRecord> = OnceLock::new();
    R.get_or_init(|| {
        let mut rng = Xs(0xDEAD_BEEF_CAFE_F00D);
        let own = SenderKeyRecord::generate_own(&mut rng);
        let mut r = SenderKeyRecord::new();
        r.process_distribution_message(&own.distribution_message().unwrap());
        r
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(skdm) = SenderKeyDistributionMessage::deserialize(data) {
        assert_eq!(skdm.serialized(), data);
        let mut r = SenderKeyRecord::new();
        r.process_distribution_message(&skdm);
        let _ = SenderKeyRecord::from_bytes(&r.to_bytes()).unwrap();
    }
    if let Ok(m) = SenderKeyMessage::deserialize(data) {
        assert_eq!(m.serialized(), data);
    }
    let mut r = receiver().clone();
    let before = r.to_bytes();
    if r.decrypt(data).is_err() {
        assert_eq!(r.to_bytes(), before);
    }
});
