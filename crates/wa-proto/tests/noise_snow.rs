//! Independent check against the `snow` crate (a spec-conformant Noise
//! implementation): same protocol name, prologue and injected keys.
//!
//! - The transport keys agree: snow's transport and ours produce and accept
//!   the same frames.
//! - The handshake ciphertexts differ, and the cause is exactly one step:
//!   standard Noise performs `MixHash("")` for the empty payload of message 1,
//!   WhatsApp does not. Every later AEAD associated data (and so every GCM
//!   tag) differs, while the key stream (which depends only on `k` and the
//!   nonce) is the same.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wa_proto::cert::{CertChainBuilder, TrustedRoot};
use wa_proto::noise::{ClientHandshake, NoiseError, NoiseTransport, ServerHandshake};
use wa_proto::proto::HandshakeMessage;
use wa_proto::proto::handshake_message::ServerHello;
use wa_signal::{KeyPair, PrivateKey};

const NOW: u64 = 1_800_000_000;
const PROLOGUE: &[u8] = b"WA\x06\x03";
const SNOW_NAME: &str = "Noise_XX_25519_AESGCM_SHA256";

struct Keys {
    client_static: KeyPair,
    client_ephemeral: KeyPair,
    server_static: KeyPair,
    server_ephemeral: KeyPair,
    root: [u8; 32],
    chain: Vec<u8>,
    client_payload: Vec<u8>,
}

fn kp(b: [u8; 32]) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_bytes(b))
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key32(v: &Value) -> [u8; 32] {
    hexv(v).try_into().unwrap()
}

fn vectors() -> Vec<Value> {
    let v: Value = serde_json::from_str(include_str!("data/noise/handshake.json")).unwrap();
    v["transcripts"].as_array().unwrap().clone()
}

fn vector_keys(t: &Value) -> Keys {
    let k = |n: &str| kp(key32(&t["keys"][n]["private"]));
    Keys {
        client_static: k("client_static"),
        client_ephemeral: k("client_ephemeral"),
        server_static: k("server_static"),
        server_ephemeral: k("server_ephemeral"),
        root: key32(&t["keys"]["cert_root"]["public"]),
        chain: hexv(&t["certificate"]["cert_chain"]),
        client_payload: hexv(&t["handshake"]["client_payload"]),
    }
}

fn random_keys(seed: u64) -> Keys {
    let mut rng = StdRng::seed_from_u64(seed);
    let root = KeyPair::generate(&mut rng);
    let intermediate = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let chain = CertChainBuilder::new(NOW - 10, NOW + 10).mint(
        &root.private,
        &intermediate,
        &server_static.public,
        &mut rng,
    );
    Keys {
        client_static: KeyPair::generate(&mut rng),
        client_ephemeral: KeyPair::generate(&mut rng),
        server_static,
        server_ephemeral: KeyPair::generate(&mut rng),
        root: *root.public.as_djb(),
        chain,
        client_payload: (0..=seed as u8).collect(),
    }
}

/// Snow's three handshake messages and both transports.
struct SnowRun {
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    msg3: Vec<u8>,
    handshake_hash: Vec<u8>,
    initiator: snow::TransportState,
    responder: snow::TransportState,
}

fn snow_initiator(k: &Keys) -> snow::HandshakeState {
    let c_priv = k.client_static.private.to_bytes();
    let c_eph = k.client_ephemeral.private.to_bytes();
    snow::Builder::new(SNOW_NAME.parse().unwrap())
        .local_private_key(&c_priv)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&c_eph)
        .prologue(PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap()
}

fn run_snow(k: &Keys) -> SnowRun {
    let s_priv = k.server_static.private.to_bytes();
    let s_eph = k.server_ephemeral.private.to_bytes();
    let mut ini = snow_initiator(k);
    let mut res = snow::Builder::new(SNOW_NAME.parse().unwrap())
        .local_private_key(&s_priv)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&s_eph)
        .prologue(PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let mut scratch = vec![0u8; 65535];

    let n = ini.write_message(&[], &mut buf).unwrap();
    let msg1 = buf[..n].to_vec();
    let got = res.read_message(&msg1, &mut scratch).unwrap();
    assert_eq!(got, 0);

    let n = res.write_message(&k.chain, &mut buf).unwrap();
    let msg2 = buf[..n].to_vec();
    let got = ini.read_message(&msg2, &mut scratch).unwrap();
    assert_eq!(&scratch[..got], &k.chain[..]);

    let n = ini.write_message(&k.client_payload, &mut buf).unwrap();
    let msg3 = buf[..n].to_vec();
    let got = res.read_message(&msg3, &mut scratch).unwrap();
    assert_eq!(&scratch[..got], &k.client_payload[..]);

    let handshake_hash = ini.get_handshake_hash().to_vec();
    assert_eq!(handshake_hash, res.get_handshake_hash());
    SnowRun {
        msg1,
        msg2,
        msg3,
        handshake_hash,
        initiator: ini.into_transport_mode().unwrap(),
        responder: res.into_transport_mode().unwrap(),
    }
}

/// Our handshake, both sides, with the same keys. Returns the three
/// messages (protobufs), the final hash and both transports.
struct WaRun {
    server_hello: ServerHello,
    finish_static: Vec<u8>,
    finish_payload: Vec<u8>,
    client_hello_ephemeral: Vec<u8>,
    handshake_hash: [u8; 32],
    client: NoiseTransport,
    server: NoiseTransport,
}

fn run_wa(k: &Keys) -> WaRun {
    let client = ClientHandshake::with_ephemeral(
        k.client_static.clone(),
        k.client_ephemeral.clone(),
        TrustedRoot::new(k.root),
    );
    let hello = client.client_hello();
    let server = ServerHandshake::new(k.server_static.clone(), k.chain.clone())
        .read_client_hello_with_ephemeral(&hello, k.server_ephemeral.clone())
        .unwrap();
    let c = client
        .read_server_hello(server.server_hello(), NOW)
        .unwrap()
        .finish(&k.client_payload)
        .unwrap();
    let server_hello = HandshakeMessage::decode(server.server_hello())
        .unwrap()
        .server_hello
        .unwrap();
    let s = server.read_client_finish(&c.message).unwrap();
    assert_eq!(s.client_payload, k.client_payload);
    let finish = HandshakeMessage::decode(&c.message[..])
        .unwrap()
        .client_finish
        .unwrap();
    WaRun {
        server_hello,
        finish_static: finish.r#static.unwrap(),
        finish_payload: finish.payload.unwrap(),
        client_hello_ephemeral: HandshakeMessage::decode(&hello[..])
            .unwrap()
            .client_hello
            .unwrap()
            .ephemeral
            .unwrap(),
        handshake_hash: c.handshake_hash,
        client: c.transport,
        server: s.transport,
    }
}

fn snow_encrypt(t: &mut snow::TransportState, pt: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; pt.len() + 16];
    let n = t.write_message(pt, &mut out).unwrap();
    out.truncate(n);
    out
}

fn snow_decrypt(t: &mut snow::TransportState, ct: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; ct.len()];
    let n = t.read_message(ct, &mut out).unwrap();
    out.truncate(n);
    out
}

/// The transport keys agree: both directions, several frames, either side
/// encrypting and the other decrypting.
fn assert_transports_agree(wa: &mut WaRun, sn: &mut SnowRun) {
    for i in 0..4u8 {
        let pt: Vec<u8> = (0..(i as usize * 50)).map(|j| j as u8 ^ i).collect();
        // client -> server: identical ciphertexts.
        let ours = wa.client.encrypt(&pt).unwrap();
        assert_eq!(snow_encrypt(&mut sn.initiator, &pt), ours, "c->s frame {i}");
        assert_eq!(snow_decrypt(&mut sn.responder, &ours), pt);
        assert_eq!(wa.server.decrypt(&ours).unwrap(), pt);
        // server -> client.
        let ours = wa.server.encrypt(&pt).unwrap();
        assert_eq!(snow_encrypt(&mut sn.responder, &pt), ours, "s->c frame {i}");
        assert_eq!(snow_decrypt(&mut sn.initiator, &ours), pt);
        assert_eq!(wa.client.decrypt(&ours).unwrap(), pt);
    }
}

/// The handshake ciphertexts: same length and same key stream (the first
/// `len - 16` bytes), different GCM tags (different associated data).
fn assert_same_stream_different_tag(ours: &[u8], snow: &[u8], what: &str) {
    assert_eq!(ours.len(), snow.len(), "{what}: length");
    let body = ours.len() - 16;
    assert_eq!(ours[..body], snow[..body], "{what}: same key and nonce");
    assert_ne!(
        ours[body..],
        snow[body..],
        "{what}: tag must differ (AAD differs)"
    );
}

fn compare(k: &Keys) {
    let mut wa = run_wa(k);
    let mut sn = run_snow(k);

    // Message 1 is the raw ephemeral in both.
    assert_eq!(sn.msg1, wa.client_hello_ephemeral);
    // Message 2: e || ENC(s) || ENC(cert chain).
    let sh = &wa.server_hello;
    let static_ct = sh.r#static.as_ref().unwrap();
    let payload_ct = sh.payload.as_ref().unwrap();
    assert_eq!(&sn.msg2[..32], &sh.ephemeral.as_ref().unwrap()[..]);
    assert_eq!(sn.msg2.len(), 32 + static_ct.len() + payload_ct.len());
    assert_same_stream_different_tag(static_ct, &sn.msg2[32..80], "server static");
    assert_same_stream_different_tag(payload_ct, &sn.msg2[80..], "server payload");
    // Message 3: ENC(s) || ENC(ClientPayload).
    assert_same_stream_different_tag(&wa.finish_static, &sn.msg3[..48], "client static");
    assert_same_stream_different_tag(&wa.finish_payload, &sn.msg3[48..], "client payload");
    assert_ne!(sn.handshake_hash, wa.handshake_hash);

    assert_transports_agree(&mut wa, &mut sn);
}

#[test]
fn transport_keys_agree_with_snow_on_vector_keys() {
    for t in vectors() {
        let k = vector_keys(&t);
        compare(&k);
        // snow reproduces the vectors' `standard_noise_reference` exactly.
        let sn = run_snow(&k);
        let r = &t["standard_noise_reference"];
        assert_eq!(sn.msg2[32..80], hexv(&r["server_hello_static_ciphertext"]));
        assert_eq!(sn.msg2[80..], hexv(&r["server_hello_payload_ciphertext"]));
        assert_eq!(sn.msg3[..48], hexv(&r["client_finish_static_ciphertext"]));
        assert_eq!(sn.msg3[48..], hexv(&r["client_finish_payload_ciphertext"]));
        assert_eq!(sn.handshake_hash, hexv(&r["handshake_hash"]));
        assert_ne!(sn.handshake_hash, hexv(&t["handshake"]["handshake_hash"]));
    }
}

#[test]
fn transport_keys_agree_with_snow_on_random_keys() {
    for seed in 0..8 {
        compare(&random_keys(seed));
    }
}

#[test]
fn snow_and_whatsapp_cannot_read_each_others_message_2() {
    for t in vectors() {
        let k = vector_keys(&t);
        let hs = &t["handshake"]["server_hello"];

        // A stock Noise initiator cannot read WhatsApp's server hello.
        let mut ini = snow_initiator(&k);
        let mut buf = vec![0u8; 1024];
        ini.write_message(&[], &mut buf).unwrap();
        let mut wa_msg2 = hexv(&hs["ephemeral"]);
        wa_msg2.extend(hexv(&hs["static_ciphertext"]));
        wa_msg2.extend(hexv(&hs["payload_ciphertext"]));
        let mut out = vec![0u8; 2048];
        assert!(ini.read_message(&wa_msg2, &mut out).is_err());

        // Our client cannot read snow's message 2 either (wrapped in the protobuf).
        let sn = run_snow(&k);
        let msg = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(sn.msg2[..32].to_vec()),
                r#static: Some(sn.msg2[32..80].to_vec()),
                payload: Some(sn.msg2[80..].to_vec()),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let client = ClientHandshake::with_ephemeral(
            k.client_static.clone(),
            k.client_ephemeral.clone(),
            TrustedRoot::new(k.root),
        );
        assert_eq!(
            client.read_server_hello(&msg, NOW).unwrap_err(),
            NoiseError::Decrypt
        );
    }
}

/// The whole difference is one `MixHash("")` after message 1: the GCM tag of
/// snow's encrypted server static verifies with `h' = SHA256(SHA256(h_e) || e_s)`
/// and WhatsApp's with `h = SHA256(h_e || e_s)`, where `h_e` is the hash after
/// the client ephemeral, and both use the same key `k` from MixKey(ee).
#[test]
fn the_difference_is_exactly_the_skipped_mixhash_of_message_1() {
    for t in vectors() {
        let trace = t["handshake"]["state_trace"].as_array().unwrap();
        let step = |prefix: &str| {
            trace
                .iter()
                .find(|s| s["step"].as_str().unwrap().starts_with(prefix))
                .unwrap_or_else(|| panic!("trace step {prefix}"))
        };
        let h_e = hexv(&step("MixHash(client ephemeral)")["h"]);
        let h_wa = hexv(&step("MixHash(server ephemeral)")["h"]);
        let k_ee = key32(&step("MixKey(DH(e_s, e_c)")["k"]);
        let e_s = hexv(&t["keys"]["server_ephemeral"]["public"]);

        let sha = |parts: &[&[u8]]| -> Vec<u8> {
            let mut d = Sha256::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        };
        // WhatsApp: h = SHA256(h_e || e_s) (matches the trace).
        assert_eq!(sha(&[&h_e, &e_s]), h_wa);
        // Standard Noise: MixHash("") first.
        let h_std = sha(&[&sha(&[&h_e, b""]), &e_s]);

        let gcm = Aes256Gcm::new(&k_ee.into());
        let nonce = [0u8; 12];
        let open = |ct: &[u8], aad: &[u8]| {
            gcm.decrypt(Nonce::from_slice(&nonce), Payload { msg: ct, aad })
        };
        let wa_ct = hexv(&t["handshake"]["server_hello"]["static_ciphertext"]);
        let std_ct = hexv(&t["standard_noise_reference"]["server_hello_static_ciphertext"]);
        let server_static = hexv(&t["keys"]["server_static"]["public"]);

        assert_eq!(open(&wa_ct, &h_wa).unwrap(), server_static);
        assert!(open(&wa_ct, &h_std).is_err());
        assert_eq!(open(&std_ct, &h_std).unwrap(), server_static);
        assert!(open(&std_ct, &h_wa).is_err());
    }
}
