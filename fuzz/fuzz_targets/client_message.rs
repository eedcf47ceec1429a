//! Fuzz the client's messaging parsers: an arbitrary inbound stanza (binary node) through the
//! prekey-bundle, usync, media_conn and receipt code, and arbitrary decrypted payloads through
//! unpadding, `waE2E.Message` decoding and media extraction. Nothing may panic; padding must
//! round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_client::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = wa_proto::binary::decode_node(data) {
        fuzzing::inbound_stanza(&node);
    }
    fuzzing::decrypted_payload(data);
    let seed = data.first().copied().unwrap_or(0);
    assert!(fuzzing::pad_round_trip(data, u32::from(seed)));
});
