//! Replays every transcript of `tests/data/noise/handshake.json` byte for
//! byte, once as the client and once as the server, with the keys the
//! vectors fix.

use serde_json::Value;
use wa_proto::cert::{CertChainBuilder, CertDetails, CertRole, TrustedRoot, verify_cert_chain};
use wa_proto::frame::{FrameDecoder, FrameEncoder};
use wa_proto::noise::{ClientHandshake, NOISE_XX_PROTOCOL_NAME, ServerHandshake, TransportCipher};
use wa_signal::{KeyPair, PrivateKey};

/// A time inside the vectors' validity window (1_700_000_000 ..= 2_000_000_000).
const NOW: u64 = 1_800_000_000;

fn transcripts() -> Vec<Value> {
    let text = include_str!("data/noise/handshake.json");
    let v: Value = serde_json::from_str(text).expect("vector file parses");
    assert_eq!(v["format"], "wa-noise-vectors/1");
    let t = v["transcripts"].as_array().expect("transcripts").clone();
    assert_eq!(t.len(), 2, "both public transcripts present");
    t
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn key32(v: &Value) -> [u8; 32] {
    hexv(v).try_into().expect("32 bytes")
}

fn keypair(t: &Value, name: &str) -> KeyPair {
    let kp = KeyPair::from_private(PrivateKey::from_bytes(key32(&t["keys"][name]["private"])));
    assert_eq!(
        kp.public.as_djb(),
        &key32(&t["keys"][name]["public"]),
        "{name}: public key derives from the private key"
    );
    kp
}

fn client_encoder(t: &Value) -> FrameEncoder {
    match &t["routing_info"] {
        Value::Null => FrameEncoder::new(),
        r => FrameEncoder::with_routing_info(hexv(r)).unwrap(),
    }
}

#[test]
fn protocol_name_and_prologue() {
    for t in transcripts() {
        assert_eq!(hexv(&t["protocol_name_hex"]), NOISE_XX_PROTOCOL_NAME);
        assert_eq!(hexv(&t["prologue"]), wa_proto::frame::INTRO_HEADER);
    }
}

#[test]
fn replay_as_client() {
    for t in transcripts() {
        let id = t["id"].as_str().unwrap();
        let hs = &t["handshake"];
        let trust = TrustedRoot::new(key32(&t["keys"]["cert_root"]["public"]));
        let client = ClientHandshake::with_ephemeral(
            keypair(&t, "client_static"),
            keypair(&t, "client_ephemeral"),
            trust,
        );
        let mut out = client_encoder(&t);
        let hello = client.client_hello();
        assert_eq!(
            hello,
            hexv(&hs["client_hello"]["handshake_message"]),
            "{id}"
        );
        assert_eq!(
            out.encode(&hello).unwrap(),
            hexv(&hs["client_hello"]["wire"]),
            "{id}"
        );

        let mut inp = FrameDecoder::new();
        inp.push(&hexv(&hs["server_hello"]["wire"]));
        let server_hello = inp.next_frame().unwrap().unwrap();
        assert_eq!(
            server_hello,
            hexv(&hs["server_hello"]["handshake_message"]),
            "{id}"
        );
        let client = client.read_server_hello(&server_hello, NOW).unwrap();
        assert_eq!(
            client.server_static().as_djb(),
            &key32(&t["keys"]["server_static"]["public"]),
            "{id}"
        );
        assert_eq!(
            client.cert_chain_bytes(),
            hexv(&t["certificate"]["cert_chain"]),
            "{id}"
        );
        let decoded = &t["certificate"]["intermediate_details_decoded"];
        let serial = u32::try_from(decoded["serial"].as_u64().unwrap()).unwrap();
        assert_eq!(client.certificate().intermediate.serial, serial, "{id}");
        assert_eq!(client.certificate().leaf.issuer_serial, serial, "{id}");

        let done = client.finish(&hexv(&hs["client_payload"])).unwrap();
        assert_eq!(
            done.message,
            hexv(&hs["client_finish"]["handshake_message"]),
            "{id}"
        );
        assert_eq!(
            out.encode(&done.message).unwrap(),
            hexv(&hs["client_finish"]["wire"]),
            "{id}"
        );
        assert_eq!(
            done.handshake_hash.to_vec(),
            hexv(&hs["handshake_hash"]),
            "{id}"
        );

        // The split keys, checked through ciphers built from the vector keys.
        let mut reference = TransportCipher::new(key32(&hs["client_to_server_key"]));
        let mut transport = done.transport;
        let probe = transport.clone().encrypt(b"probe").unwrap();
        assert_eq!(reference.encrypt(b"probe").unwrap(), probe, "{id}");

        let mut frames_seen = 0;
        for f in t["transport"].as_array().unwrap() {
            let plaintext = hexv(&f["plaintext"]);
            let wire = hexv(&f["wire"]);
            match f["direction"].as_str().unwrap() {
                "client->server" => {
                    assert_eq!(transport.sender().counter(), f["counter"].as_u64().unwrap());
                    let ct = transport.encrypt(&plaintext).unwrap();
                    assert_eq!(out.encode(&ct).unwrap(), wire, "{id} frame {}", f["n"]);
                }
                "server->client" => {
                    assert_eq!(
                        transport.receiver().counter(),
                        f["counter"].as_u64().unwrap()
                    );
                    inp.push(&wire);
                    let ct = inp.next_frame().unwrap().unwrap();
                    assert_eq!(
                        transport.decrypt(&ct).unwrap(),
                        plaintext,
                        "{id} frame {}",
                        f["n"]
                    );
                }
                d => panic!("unknown direction {d}"),
            }
            frames_seen += 1;
        }
        assert_eq!(frames_seen, 6, "{id}");
    }
}

#[test]
fn replay_as_server() {
    for t in transcripts() {
        let id = t["id"].as_str().unwrap();
        let hs = &t["handshake"];
        let server = ServerHandshake::new(
            keypair(&t, "server_static"),
            hexv(&t["certificate"]["cert_chain"]),
        );
        let mut inp = FrameDecoder::server();
        // Feed the client's bytes in awkward pieces.
        let wire = hexv(&hs["client_hello"]["wire"]);
        for chunk in wire.chunks(5) {
            inp.push(chunk);
        }
        let hello = inp.next_frame().unwrap().unwrap();
        let intro = inp.intro().unwrap();
        assert_eq!(intro.dict_version, 3);
        assert_eq!(intro.routing_info.is_some(), !t["routing_info"].is_null());

        let server = server
            .read_client_hello_with_ephemeral(&hello, keypair(&t, "server_ephemeral"))
            .unwrap();
        assert_eq!(
            server.client_ephemeral().as_djb(),
            &key32(&t["keys"]["client_ephemeral"]["public"])
        );
        assert_eq!(
            server.server_hello(),
            hexv(&hs["server_hello"]["handshake_message"]),
            "{id}"
        );
        let mut out = FrameEncoder::server();
        assert_eq!(
            out.encode(server.server_hello()).unwrap(),
            hexv(&hs["server_hello"]["wire"]),
            "{id}"
        );

        inp.push(&hexv(&hs["client_finish"]["wire"]));
        let finish = inp.next_frame().unwrap().unwrap();
        let done = server.read_client_finish(&finish).unwrap();
        assert_eq!(
            done.client_static.as_djb(),
            &key32(&t["keys"]["client_static"]["public"]),
            "{id}"
        );
        assert_eq!(done.client_payload, hexv(&hs["client_payload"]), "{id}");
        assert_eq!(
            done.handshake_hash.to_vec(),
            hexv(&hs["handshake_hash"]),
            "{id}"
        );

        let mut transport = done.transport;
        let mut reference = TransportCipher::new(key32(&hs["server_to_client_key"]));
        let probe = transport.clone().encrypt(b"probe").unwrap();
        assert_eq!(reference.encrypt(b"probe").unwrap(), probe, "{id}");

        // All client frames arrive packed into a single message.
        let mut client_bytes = Vec::new();
        for f in t["transport"].as_array().unwrap() {
            if f["direction"] == "client->server" {
                client_bytes.extend_from_slice(&hexv(&f["wire"]));
            }
        }
        inp.push(&client_bytes);
        for f in t["transport"].as_array().unwrap() {
            let plaintext = hexv(&f["plaintext"]);
            match f["direction"].as_str().unwrap() {
                "server->client" => {
                    let ct = transport.encrypt(&plaintext).unwrap();
                    assert_eq!(
                        out.encode(&ct).unwrap(),
                        hexv(&f["wire"]),
                        "{id} frame {}",
                        f["n"]
                    );
                }
                _ => {
                    let ct = inp.next_frame().unwrap().unwrap();
                    assert_eq!(
                        transport.decrypt(&ct).unwrap(),
                        plaintext,
                        "{id} frame {}",
                        f["n"]
                    );
                }
            }
        }
        assert_eq!(inp.next_frame().unwrap(), None);
    }
}

#[test]
fn certificate_chain_matches_vectors() {
    for t in transcripts() {
        let id = t["id"].as_str().unwrap();
        let c = &t["certificate"];
        let root = keypair(&t, "cert_root");
        let intermediate = keypair(&t, "cert_intermediate");
        let server_static = keypair(&t, "server_static");

        let inter =
            CertDetails::decode(&hexv(&c["intermediate_details"]), CertRole::Intermediate).unwrap();
        let leaf = CertDetails::decode(&hexv(&c["leaf_details"]), CertRole::Leaf).unwrap();
        let d = &c["intermediate_details_decoded"];
        assert_eq!(u64::from(inter.serial), d["serial"].as_u64().unwrap());
        assert_eq!(
            u64::from(inter.issuer_serial),
            d["issuerSerial"].as_u64().unwrap()
        );
        assert_eq!(inter.not_before, d["notBefore"].as_u64().unwrap());
        assert_eq!(inter.not_after, d["notAfter"].as_u64().unwrap());
        assert_eq!(leaf.key, *server_static.public.as_djb());

        let builder = CertChainBuilder {
            root_serial: inter.issuer_serial,
            intermediate_serial: inter.serial,
            leaf_serial: leaf.serial,
            not_before: inter.not_before,
            not_after: inter.not_after,
        };
        assert_eq!(builder.intermediate_details(&intermediate.public), inter);
        assert_eq!(builder.leaf_details(&server_static.public), leaf);
        assert_eq!(
            builder.intermediate_details(&intermediate.public).encode(),
            hexv(&c["intermediate_details"]),
            "{id}"
        );
        assert_eq!(
            builder.leaf_details(&server_static.public).encode(),
            hexv(&c["leaf_details"]),
            "{id}"
        );
        // The signatures are libsignal-node's deterministic XEdDSA: the
        // deterministic minting reproduces the whole chain byte for byte.
        let minted =
            builder.mint_deterministic(&root.private, &intermediate, &server_static.public);
        assert_eq!(minted, hexv(&c["cert_chain"]), "{id}");

        let trust = TrustedRoot::new(*root.public.as_djb());
        let verified = verify_cert_chain(
            &hexv(&c["cert_chain"]),
            &trust,
            server_static.public.as_djb(),
            NOW,
        )
        .unwrap();
        assert_eq!(verified.intermediate, inter);
        assert_eq!(verified.leaf, leaf);
        // WhatsApp's real root does not trust the test root's chain.
        assert!(
            verify_cert_chain(
                &hexv(&c["cert_chain"]),
                &TrustedRoot::WHATSAPP,
                server_static.public.as_djb(),
                NOW
            )
            .is_err()
        );
    }
}
