//! Fuzzes the pairing decoders with untrusted bytes: the `<pair-success>` device identity a
//! companion verifies, the `<pair-device-sign>` reply a primary verifies, and QR text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::pairing::{self, DeviceIdentityDetails, QrCode};
use wa_signal::{KeyPair, PrivateKey, PublicKey};

fuzz_target!(|data: &[u8]| {
    let companion = PublicKey::from_djb([9; 32]);
    let adv_secret = [7u8; 32];

    // Companion side: anything may come in; it must be refused without panicking.
    if let Ok(verified) = pairing::verify_pair_success(data, &adv_secret, &companion) {
        // Only reachable with a valid HMAC and account signature; signing must then work
        // or report the key mismatch.
        let _ = verified.sign_deterministic(&PrivateKey::from_bytes([1; 32]));
    }

    // Primary side: verify an arbitrary reply against a fixed issued identity.
    let account = KeyPair::from_private(PrivateKey::from_bytes([3; 32]));
    let payload = pairing::build_pair_success_deterministic(
        &DeviceIdentityDetails {
            raw_id: 1,
            timestamp: 2,
            key_index: 3,
            hosted: data.first() == Some(&1),
        },
        &account,
        &companion,
        &adv_secret,
    );
    let _ = payload.verify_reply(data);

    // A stored / relayed signed identity.
    let (head, tail) = data.split_at(data.len() / 2);
    let signed = wa_proto::proto::AdvSignedDeviceIdentity {
        details: Some(head.to_vec()),
        account_signature_key: (tail.len() % 3 == 0)
            .then(|| tail.iter().take(32).copied().collect()),
        account_signature: Some(tail.iter().take(64).copied().collect()),
        device_signature: Some(tail.iter().rev().take(64).copied().collect()),
    };
    let _ = pairing::verify_device_identity(&signed, &companion, None);
    let _ = pairing::verify_device_identity(&signed, &companion, Some(&account.public));

    // QR text.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(qr) = QrCode::parse(text) {
            assert_eq!(QrCode::parse(&qr.to_deep_link()).as_ref(), Ok(&qr));
        }
    }
});
