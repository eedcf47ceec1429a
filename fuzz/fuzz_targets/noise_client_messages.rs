//! Fuzz the responder (what the emulator runs on untrusted client bytes):
//! the input is split into a client hello and a client finish. Nothing may
//! panic; a finish not made with the handshake keys must be rejected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::noise::ServerHandshake;
use wa_signal::{KeyPair, PrivateKey};

fn kp(b: u8) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_bytes([b; 32]))
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(data.len());
    let (hello, finish) = data.split_at(cut);
    let server = ServerHandshake::new(kp(4), vec![1, 2, 3]);
    if let Ok(s) = server.read_client_hello_with_ephemeral(hello, kp(5)) {
        assert!(s.read_client_finish(finish).is_err());
    }
});
