//! Fuzz the client's processing of a server hello with fixed client keys.
//! Mode 0: the input is the raw `HandshakeMessage` from the network.
//! Mode 1: the input is the certificate chain plaintext, which a real
//! responder encrypts properly, so the certificate verifier is reached
//! through the authenticated path. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::cert::TrustedRoot;
use wa_proto::noise::{ClientHandshake, ServerHandshake};
use wa_signal::{KeyPair, PrivateKey};

fn kp(b: u8) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_bytes([b; 32]))
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    let root = kp(1);
    let client =
        ClientHandshake::with_ephemeral(kp(2), kp(3), TrustedRoot::new(*root.public.as_djb()));
    let now = 1_800_000_000;
    if mode & 1 == 0 {
        let _ = client.read_server_hello(data, now);
    } else {
        let server = ServerHandshake::new(kp(4), data.to_vec())
            .read_client_hello_with_ephemeral(&client.client_hello(), kp(5))
            .expect("a valid client hello is accepted");
        // A random chain must not be trusted (forging XEdDSA is out of reach).
        assert!(
            client
                .read_server_hello(server.server_hello(), now)
                .is_err()
        );
    }
});
