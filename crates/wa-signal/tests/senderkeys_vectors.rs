//! Group sender-key vectors from Baileys 7 (see tests/data/signal/README.md).

mod common;

use common::{h, h32};
use serde_json::Value;
use wa_signal::protocol::SenderKeyMessage;
use wa_signal::{KeyPair, PrivateKey, SenderKeyDistributionMessage, SenderKeyRecord, SignalError};

fn group() -> Value {
    let d: Value = serde_json::from_str(include_str!("data/signal/senderkeys.json")).unwrap();
    assert_eq!(d["groups"].as_array().unwrap().len(), 1);
    d["groups"][0].clone()
}

fn receiver_with(skdm_hex: &Value) -> SenderKeyRecord {
    let skdm = SenderKeyDistributionMessage::deserialize(&h(skdm_hex)).unwrap();
    let mut r = SenderKeyRecord::new();
    r.process_distribution_message(&skdm);
    r
}

#[test]
fn sender_reproduces_skdm_and_messages() {
    let g = group();
    let st = &g["initial_state"];
    let signing = KeyPair::from_private(PrivateKey::from_bytes(h32(&st["signing_key"]["private"])));
    assert_eq!(
        signing.public.serialize().to_vec(),
        h(&st["signing_key"]["public"])
    );
    let key_id = st["key_id"].as_u64().unwrap() as u32;
    let mut own = SenderKeyRecord::from_own_key(key_id, 0, h32(&st["chain_key"]), signing);
    let skdm = own.distribution_message().unwrap();
    assert_eq!(hex::encode(skdm.serialized()), g["skdm"].as_str().unwrap());
    let p = &g["skdm_parsed"];
    let parsed = SenderKeyDistributionMessage::deserialize(&h(&g["skdm"])).unwrap();
    assert_eq!(parsed.key_id() as u64, p["id"].as_u64().unwrap());
    assert_eq!(parsed.iteration() as u64, p["iteration"].as_u64().unwrap());
    assert_eq!(parsed.chain_key().to_vec(), h(&p["chain_key"]));
    assert_eq!(
        parsed.signing_key().serialize().to_vec(),
        h(&p["signing_key"])
    );

    // Baileys uses iterations 0, 2, 4, …: burn one chain step between
    // messages so that ours land on the same iterations.
    let mut next_iteration = 0u64;
    for m in g["messages"].as_array().unwrap() {
        let target = m["parsed"]["iteration"].as_u64().unwrap();
        while next_iteration < target {
            own.encrypt(b"burn").unwrap();
            next_iteration += 1;
        }
        let ct = own.encrypt(&h(&m["plaintext"])).unwrap();
        next_iteration += 1;
        assert_eq!(
            hex::encode(&ct),
            m["ciphertext"].as_str().unwrap(),
            "message {}",
            m["n"]
        );
        let parsed = SenderKeyMessage::deserialize(&ct).unwrap();
        assert_eq!(parsed.key_id(), key_id);
        assert_eq!(parsed.iteration() as u64, target);
        assert_eq!(parsed.body(), h(&m["parsed"]["ciphertext"]).as_slice());
        assert_eq!(
            &ct[ct.len() - 64..],
            h(&m["parsed"]["signature"]).as_slice()
        );
    }
}

#[test]
fn receiver_decrypts_in_delivery_order() {
    let g = group();
    let msgs = g["messages"].as_array().unwrap();
    let mut r = receiver_with(&g["skdm"]);
    let order = g["delivery_order"].as_array().unwrap();
    assert_eq!(order.len(), 6);
    for n in order {
        let m = &msgs[n.as_u64().unwrap() as usize - 1];
        let pt = r.decrypt(&h(&m["ciphertext"])).unwrap();
        assert_eq!(pt, h(&m["plaintext"]), "message {n}");
    }
    // Survives a record round trip; replays are rejected without changes.
    let mut r = SenderKeyRecord::from_bytes(&r.to_bytes()).unwrap();
    let before = r.to_bytes();
    for n in order {
        let m = &msgs[n.as_u64().unwrap() as usize - 1];
        let err = r.decrypt(&h(&m["ciphertext"])).unwrap_err();
        assert!(
            matches!(err, SignalError::DuplicateMessage { .. }),
            "{err:?}"
        );
    }
    assert_eq!(r.to_bytes(), before);
    // Undelivered messages 5 and 7 still decrypt late (their keys were skipped).
    for n in [5usize, 7] {
        let m = &msgs[n - 1];
        assert_eq!(r.decrypt(&h(&m["ciphertext"])).unwrap(), h(&m["plaintext"]));
    }
}

#[test]
fn late_joiner_and_tampered() {
    let g = group();
    let msgs = g["messages"].as_array().unwrap();
    let lj = &g["late_joiner"];
    let mut r = receiver_with(&lj["skdm"]);
    for n in lj["decrypts_messages"].as_array().unwrap() {
        let m = &msgs[n.as_u64().unwrap() as usize - 1];
        assert_eq!(r.decrypt(&h(&m["ciphertext"])).unwrap(), h(&m["plaintext"]));
    }
    let err = r.decrypt(&h(&msgs[0]["ciphertext"])).unwrap_err();
    assert!(
        matches!(err, SignalError::DuplicateMessage { counter: 0, .. }),
        "{err:?}"
    );

    let mut r = receiver_with(&g["skdm"]);
    let before = r.to_bytes();
    let err = r.decrypt(&h(&g["tampered"]["ciphertext"])).unwrap_err();
    assert_eq!(err, SignalError::InvalidSignature);
    assert_eq!(r.to_bytes(), before);
    // The untampered original still decrypts afterwards.
    let src = g["tampered"]["source_message"].as_u64().unwrap() as usize;
    assert_eq!(
        r.decrypt(&h(&msgs[src - 1]["ciphertext"])).unwrap(),
        h(&msgs[src - 1]["plaintext"])
    );
}

#[test]
fn unknown_key_id_and_receiver_cannot_encrypt() {
    let g = group();
    let mut r = SenderKeyRecord::new();
    let err = r.decrypt(&h(&g["messages"][0]["ciphertext"])).unwrap_err();
    assert!(matches!(err, SignalError::NoSenderKeyState(_)));
    let mut r = receiver_with(&g["skdm"]);
    assert_eq!(r.encrypt(b"x").unwrap_err(), SignalError::NotOwnSenderKey);
}

#[test]
fn group_forward_jump_limit_and_duplicate_skdm() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let signing = KeyPair::generate(&mut rng);
    let ck = [9u8; 32];
    // The receiver knows the chain at iteration 0; the sender is at 2001.
    let at_zero = SenderKeyRecord::from_own_key(77, 0, ck, signing.clone());
    let mut ahead = SenderKeyRecord::from_own_key(77, 2001, ck, signing);
    let mut r = SenderKeyRecord::new();
    r.process_distribution_message(&at_zero.distribution_message().unwrap());
    let before = r.to_bytes();
    let err = r.decrypt(&ahead.encrypt(b"x").unwrap()).unwrap_err();
    assert_eq!(
        err,
        SignalError::TooFarInFuture {
            counter: 2001,
            chain_index: 0
        }
    );
    assert_eq!(r.to_bytes(), before);
    // A re-sent SKDM with the same key id and signing key does not rewind the chain.
    let mut own = at_zero.clone();
    let m0 = own.encrypt(b"m0").unwrap();
    assert_eq!(r.decrypt(&m0).unwrap(), b"m0");
    r.process_distribution_message(&at_zero.distribution_message().unwrap());
    assert!(matches!(
        r.decrypt(&m0),
        Err(SignalError::DuplicateMessage { counter: 0, .. })
    ));
}
