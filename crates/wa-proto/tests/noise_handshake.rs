//! In-memory handshakes between `ClientHandshake` and `ServerHandshake`:
//! the happy path, tampering, and every way a certificate chain can be
//! untrusted.

use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_proto::cert::{CertChainBuilder, CertDetails, CertError, CertRole, TrustedRoot};
use wa_proto::noise::{
    ClientAwaitingFinish, ClientHandshake, NoiseError, ServerAwaitingFinish, ServerHandshake,
};
use wa_proto::proto::CertChain;
use wa_proto::proto::HandshakeMessage;
use wa_proto::proto::cert_chain::NoiseCertificate;
use wa_proto::proto::handshake_message::ClientHello;
use wa_signal::KeyPair;

const NOW: u64 = 1_800_000_000;

struct Setup {
    rng: StdRng,
    root: KeyPair,
    intermediate: KeyPair,
    server_static: KeyPair,
    client_static: KeyPair,
}

fn setup(seed: u64) -> Setup {
    let mut rng = StdRng::seed_from_u64(seed);
    Setup {
        root: KeyPair::generate(&mut rng),
        intermediate: KeyPair::generate(&mut rng),
        server_static: KeyPair::generate(&mut rng),
        client_static: KeyPair::generate(&mut rng),
        rng,
    }
}

impl Setup {
    fn trust(&self) -> TrustedRoot {
        TrustedRoot::new(*self.root.public.as_djb())
    }

    fn chain(&mut self, builder: &CertChainBuilder) -> Vec<u8> {
        builder.mint(
            &self.root.private,
            &self.intermediate,
            &self.server_static.public,
            &mut self.rng,
        )
    }

    /// Runs the handshake up to the server hello with the given chain.
    fn run_to_server_hello(&mut self, chain: Vec<u8>) -> (ClientHandshake, ServerAwaitingFinish) {
        let client = ClientHandshake::new(self.client_static.clone(), self.trust(), &mut self.rng);
        let server = ServerHandshake::new(self.server_static.clone(), chain)
            .read_client_hello(&client.client_hello(), &mut self.rng)
            .unwrap();
        (client, server)
    }

    fn client_result(&mut self, chain: Vec<u8>) -> Result<ClientAwaitingFinish, NoiseError> {
        let (client, server) = self.run_to_server_hello(chain);
        client.read_server_hello(server.server_hello(), NOW)
    }
}

fn good_builder() -> CertChainBuilder {
    CertChainBuilder::new(NOW - 1000, NOW + 1000)
}

fn cert_err(r: Result<ClientAwaitingFinish, NoiseError>) -> CertError {
    match r {
        Err(NoiseError::UntrustedCertificate(e)) => e,
        other => panic!("expected an untrusted certificate, got {other:?}"),
    }
}

#[test]
fn full_handshake_and_transport() {
    let mut s = setup(1);
    let chain = s.chain(&good_builder());
    let (client, server) = s.run_to_server_hello(chain);
    let client = client
        .read_server_hello(server.server_hello(), NOW)
        .unwrap();
    assert_eq!(client.server_static(), &s.server_static.public);
    assert_eq!(
        client.certificate().leaf.key,
        *s.server_static.public.as_djb()
    );
    let payload = b"client payload bytes".to_vec();
    let c = client.finish(&payload).unwrap();
    let srv = server.read_client_finish(&c.message).unwrap();
    assert_eq!(srv.client_static, s.client_static.public);
    assert_eq!(srv.client_payload, payload);
    assert_eq!(srv.handshake_hash, c.handshake_hash);

    let (mut ct, mut st) = (c.transport, srv.transport);
    for i in 0..50usize {
        let msg = vec![i as u8; i * 37];
        let wire = ct.encrypt(&msg).unwrap();
        assert_eq!(st.decrypt(&wire).unwrap(), msg);
        let wire = st.encrypt(&msg).unwrap();
        assert_eq!(ct.decrypt(&wire).unwrap(), msg);
    }
    // Directions use different keys: a frame cannot be reflected back.
    let wire = ct.encrypt(b"to server").unwrap();
    assert_eq!(ct.decrypt(&wire), Err(NoiseError::Decrypt));
}

#[test]
fn empty_client_payload_and_in_place_transport() {
    let mut s = setup(2);
    let chain = s.chain(&good_builder());
    let (client, server) = s.run_to_server_hello(chain);
    let c = client
        .read_server_hello(server.server_hello(), NOW)
        .unwrap()
        .finish(&[])
        .unwrap();
    let srv = server.read_client_finish(&c.message).unwrap();
    assert!(srv.client_payload.is_empty());
    let (mut a, _) = c.transport.split();
    let (_, mut b) = srv.transport.split();
    let mut buf = b"in place".to_vec();
    a.encrypt_in_place(&mut buf).unwrap();
    b.decrypt_in_place(&mut buf).unwrap();
    assert_eq!(buf, b"in place");
}

#[test]
fn every_tampered_server_hello_byte_fails_cleanly() {
    let mut s = setup(4);
    let chain = s.chain(&good_builder());
    let eph = KeyPair::generate(&mut s.rng);
    let client =
        || ClientHandshake::with_ephemeral(s.client_static.clone(), eph.clone(), s.trust());
    let server = ServerHandshake::new(s.server_static.clone(), chain)
        .read_client_hello(&client().client_hello(), &mut StdRng::seed_from_u64(9))
        .unwrap();
    let hello = server.server_hello().to_vec();
    assert!(client().read_server_hello(&hello, NOW).is_ok());
    let mut decrypt_failures = 0;
    for i in 0..hello.len() {
        let mut bad = hello.clone();
        bad[i] ^= 0x20;
        match client().read_server_hello(&bad, NOW) {
            Err(NoiseError::Decrypt) => decrypt_failures += 1,
            Err(_) => {}
            Ok(_) => panic!("flip of byte {i} accepted"),
        }
    }
    // Flips inside the ephemeral and both ciphertexts are caught by AES-GCM.
    assert!(decrypt_failures >= 32 + 48 + 16);
    for n in 0..hello.len() {
        assert!(client().read_server_hello(&hello[..n], NOW).is_err());
    }
}

#[test]
fn every_tampered_client_finish_byte_fails_cleanly() {
    let mut s = setup(5);
    let chain = s.chain(&good_builder());
    let eph = KeyPair::generate(&mut s.rng);
    let server_eph = KeyPair::generate(&mut s.rng);
    let client = ClientHandshake::with_ephemeral(s.client_static.clone(), eph, s.trust());
    let hello = client.client_hello();
    let server = || {
        ServerHandshake::new(s.server_static.clone(), chain.clone())
            .read_client_hello_with_ephemeral(&hello, server_eph.clone())
            .unwrap()
    };
    let finished = client
        .read_server_hello(server().server_hello(), NOW)
        .unwrap()
        .finish(b"payload")
        .unwrap();
    let msg = finished.message;
    assert!(server().read_client_finish(&msg).is_ok());
    for i in 0..msg.len() {
        let mut bad = msg.clone();
        bad[i] ^= 0x04;
        assert!(
            server().read_client_finish(&bad).is_err(),
            "flip of byte {i} accepted"
        );
    }
    for n in 0..msg.len() {
        assert!(server().read_client_finish(&msg[..n]).is_err());
    }
}

#[test]
fn malformed_messages_have_typed_errors() {
    let mut s = setup(6);
    let chain = s.chain(&good_builder());
    let server = || ServerHandshake::new(s.server_static.clone(), chain.clone());
    let mut rng = StdRng::seed_from_u64(1);
    assert!(matches!(
        server().read_client_hello(&[0xff, 0xff], &mut rng),
        Err(NoiseError::BadClientHello(_))
    ));
    assert!(matches!(
        server().read_client_hello(&[], &mut rng),
        Err(NoiseError::BadClientHello(_))
    ));
    let short = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![1; 31]),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        server().read_client_hello(&short.encode_to_vec(), &mut rng),
        Err(NoiseError::BadClientHello(_))
    ));
    // A payload without a static key is neither XX nor IK: refused.
    let odd = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![9; 32]),
            payload: Some(vec![2; 20]),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        server().read_client_hello(&odd.encode_to_vec(), &mut rng),
        Err(NoiseError::BadClientHello(_))
    ));
    // A Noise IK attempt (static in the client hello) goes to XXfallback.
    let ik = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![9; 32]),
            r#static: Some(vec![1; 48]),
            payload: Some(vec![2; 20]),
        }),
        ..Default::default()
    };
    assert!(
        server()
            .read_client_hello(&ik.encode_to_vec(), &mut rng)
            .unwrap()
            .is_fallback()
    );
    // A low-order ephemeral gives an all-zero DH: refused.
    let zero = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![0; 32]),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        server().read_client_hello(&zero.encode_to_vec(), &mut rng),
        Err(NoiseError::WeakKey)
    ));

    let client = || {
        ClientHandshake::new(
            s.client_static.clone(),
            s.trust(),
            &mut StdRng::seed_from_u64(2),
        )
    };
    // A client hello where a server hello is expected.
    assert!(matches!(
        client().read_server_hello(&client().client_hello(), NOW),
        Err(NoiseError::BadServerHello(_))
    ));
    let server = server()
        .read_client_hello(&client().client_hello(), &mut rng)
        .unwrap();
    // A server hello where a client finish is expected.
    let hello = server.server_hello().to_vec();
    assert!(matches!(
        server.read_client_finish(&hello),
        Err(NoiseError::BadClientFinish(_))
    ));
}

#[test]
fn untrusted_root_rejected() {
    let mut s = setup(7);
    let chain = s.chain(&good_builder());
    let (client, server) = {
        let client =
            ClientHandshake::new(s.client_static.clone(), TrustedRoot::WHATSAPP, &mut s.rng);
        let server = ServerHandshake::new(s.server_static.clone(), chain)
            .read_client_hello(&client.client_hello(), &mut s.rng)
            .unwrap();
        (client, server)
    };
    let e = cert_err(client.read_server_hello(server.server_hello(), NOW));
    assert_eq!(
        e,
        CertError::BadSignature {
            role: CertRole::Intermediate
        }
    );
    assert!(e.to_string().contains("intermediate"));
}

#[test]
fn validity_windows_enforced() {
    let mut s = setup(8);
    let chain = s.chain(&CertChainBuilder::new(NOW + 10, NOW + 1000));
    assert!(matches!(
        cert_err(s.client_result(chain)),
        CertError::NotYetValid {
            role: CertRole::Intermediate,
            ..
        }
    ));
    let chain = s.chain(&CertChainBuilder::new(NOW - 1000, NOW - 1));
    assert_eq!(
        cert_err(s.client_result(chain)),
        CertError::Expired {
            role: CertRole::Intermediate,
            not_after: NOW - 1,
            now: NOW
        }
    );
    // Boundaries are inclusive.
    let chain = s.chain(&CertChainBuilder::new(NOW, NOW));
    assert!(s.client_result(chain).is_ok());

    // An expired leaf under a valid intermediate.
    let b = good_builder();
    let inter = b.intermediate_details(&s.intermediate.public).encode();
    let mut leaf = b.leaf_details(&s.server_static.public);
    leaf.not_after = NOW - 5;
    let chain = sign_chain(&s, &inter, &leaf.encode(), &s.intermediate.clone());
    assert!(matches!(
        cert_err(s.client_result(chain)),
        CertError::Expired {
            role: CertRole::Leaf,
            ..
        }
    ));
}

fn sign_chain(s: &Setup, inter: &[u8], leaf: &[u8], leaf_signer: &KeyPair) -> Vec<u8> {
    CertChain {
        intermediate: Some(NoiseCertificate {
            details: Some(inter.to_vec()),
            signature: Some(
                s.root
                    .private
                    .calculate_signature_deterministic(inter)
                    .to_vec(),
            ),
        }),
        leaf: Some(NoiseCertificate {
            details: Some(leaf.to_vec()),
            signature: Some(
                leaf_signer
                    .private
                    .calculate_signature_deterministic(leaf)
                    .to_vec(),
            ),
        }),
    }
    .encode_to_vec()
}

#[test]
fn leaf_key_must_be_the_server_static() {
    let mut s = setup(9);
    let other = KeyPair::generate(&mut s.rng);
    let chain = good_builder().mint(&s.root.private, &s.intermediate, &other.public, &mut s.rng);
    assert_eq!(cert_err(s.client_result(chain)), CertError::LeafKeyMismatch);
}

#[test]
fn leaf_must_be_signed_by_the_intermediate() {
    let mut s = setup(10);
    let b = good_builder();
    let inter = b.intermediate_details(&s.intermediate.public).encode();
    let leaf = b.leaf_details(&s.server_static.public).encode();
    let impostor = KeyPair::generate(&mut s.rng);
    let chain = sign_chain(&s, &inter, &leaf, &impostor);
    assert_eq!(
        cert_err(s.client_result(chain)),
        CertError::BadSignature {
            role: CertRole::Leaf
        }
    );
}

#[test]
fn issuer_serials_enforced() {
    let mut s = setup(11);
    let mut b = good_builder();
    b.root_serial = 5;
    let chain = s.chain(&b);
    assert_eq!(
        cert_err(s.client_result(chain)),
        CertError::IssuerSerial {
            role: CertRole::Intermediate,
            expected: 0,
            found: 5
        }
    );
    // The same chain is fine for a root that really has serial 5.
    let chain = s.chain(&b);
    let trust = TrustedRoot {
        serial: 5,
        ..s.trust()
    };
    assert!(
        wa_proto::cert::verify_cert_chain(&chain, &trust, s.server_static.public.as_djb(), NOW)
            .is_ok()
    );

    let b = good_builder();
    let inter = b.intermediate_details(&s.intermediate.public).encode();
    let leaf = CertDetails {
        issuer_serial: 77,
        ..b.leaf_details(&s.server_static.public)
    };
    let chain = sign_chain(&s, &inter, &leaf.encode(), &s.intermediate.clone());
    assert_eq!(
        cert_err(s.client_result(chain)),
        CertError::IssuerSerial {
            role: CertRole::Leaf,
            expected: 1,
            found: 77
        }
    );
}

#[test]
fn signature_and_structure_checks() {
    let mut s = setup(12);
    let good = s.chain(&good_builder());
    let decoded = CertChain::decode(&good[..]).unwrap();

    let mut short_sig = decoded.clone();
    short_sig
        .leaf
        .as_mut()
        .unwrap()
        .signature
        .as_mut()
        .unwrap()
        .pop();
    assert_eq!(
        cert_err(s.client_result(short_sig.encode_to_vec())),
        CertError::SignatureLength {
            role: CertRole::Leaf,
            len: 63
        }
    );
    let mut no_inter = decoded.clone();
    no_inter.intermediate = None;
    assert!(matches!(
        cert_err(s.client_result(no_inter.encode_to_vec())),
        CertError::Malformed(_)
    ));
    assert!(matches!(
        cert_err(s.client_result(vec![0xff; 10])),
        CertError::Malformed(_)
    ));
    // An intermediate whose key is not 32 bytes (validly signed).
    let inter = wa_proto::proto::cert_chain::noise_certificate::Details {
        serial: Some(1),
        issuer_serial: Some(0),
        key: Some(vec![1; 31]),
        not_before: Some(0),
        not_after: Some(u64::MAX),
    }
    .encode_to_vec();
    let leaf = good_builder()
        .leaf_details(&s.server_static.public)
        .encode();
    let chain = sign_chain(&s, &inter, &leaf, &s.intermediate.clone());
    assert_eq!(
        cert_err(s.client_result(chain)),
        CertError::KeyLength {
            role: CertRole::Intermediate,
            len: 31
        }
    );
}

#[test]
fn transport_state_is_small() {
    // Per-connection memory matters (design target: < 100 KB per idle
    // session, 10,000 sessions per process): both directions together stay
    // within a few KiB.
    let size = size_of::<wa_proto::noise::NoiseTransport>();
    println!("size_of::<NoiseTransport>() = {size}");
    assert!(size <= 4096, "NoiseTransport is {size} bytes");
}
