//! Deterministic 1:1 session vectors from libsignal-node (see
//! tests/data/signal/README.md): every ciphertext is reproduced byte for
//! byte from the recorded key draws, and every delivery decrypts.

mod common;

use common::{ReplayRng, h, h32};
use serde_json::Value;
use wa_signal::{
    IdentityKeyPair, KeyPair, MessageType, PreKeyBundle, PreKeyRecord, PreKeySignalMessage,
    PrivateKey, PublicKey, SessionRecord, SignalError, SignalMessage, SignedPreKeyRecord,
    decrypt_message, decrypt_prekey_message, encrypt, process_bundle,
};

fn key_pair(v: &Value) -> KeyPair {
    let kp = KeyPair::from_private(PrivateKey::from_bytes(h32(&v["private"])));
    assert_eq!(kp.public.serialize().to_vec(), h(&v["public"]));
    kp
}

fn pk(v: &Value) -> PublicKey {
    PublicKey::deserialize(&h(v)).unwrap()
}

struct Party {
    identity: IdentityKeyPair,
    registration_id: u32,
    record: SessionRecord,
    rng: ReplayRng,
}

fn check_parsed(bytes: &[u8], parsed: &Value, kind: &str) {
    let inner = if kind == "pkmsg" {
        let m = PreKeySignalMessage::deserialize(bytes).unwrap();
        assert_eq!(
            m.registration_id() as u64,
            parsed["registration_id"].as_u64().unwrap()
        );
        let pre = parsed["pre_key_id"].as_u64().unwrap();
        assert_eq!(m.pre_key_id().map(u64::from).unwrap_or(0), pre);
        assert_eq!(
            m.signed_pre_key_id() as u64,
            parsed["signed_pre_key_id"].as_u64().unwrap()
        );
        assert_eq!(*m.base_key(), pk(&parsed["base_key"]));
        assert_eq!(*m.identity_key(), pk(&parsed["identity_key"]));
        m.message().clone()
    } else {
        SignalMessage::deserialize(bytes).unwrap()
    };
    let p = if kind == "pkmsg" {
        &parsed["inner_message"]
    } else {
        parsed
    };
    assert_eq!(*inner.ratchet_key(), pk(&p["ratchet_key"]));
    assert_eq!(inner.counter() as u64, p["counter"].as_u64().unwrap());
    assert_eq!(
        inner.previous_counter() as u64,
        p["previous_counter"].as_u64().unwrap()
    );
    assert_eq!(inner.body(), h(&p["ciphertext"]).as_slice());
    assert_eq!(inner.mac(), h(&p["mac"]).as_slice());
}

fn run_session(s: &Value) -> (usize, usize) {
    let draws = |party: &str| -> Vec<[u8; 32]> {
        s["key_draws"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["party"] == party)
            .map(|d| {
                let kp = key_pair(d);
                kp.private.to_bytes()
            })
            .collect()
    };
    let mk = |name: &str| Party {
        identity: IdentityKeyPair(key_pair(&s[name]["identity_key"])),
        registration_id: s[name]["registration_id"].as_u64().unwrap() as u32,
        record: SessionRecord::new(),
        rng: ReplayRng::new(draws(name)),
    };
    let mut alice = mk("alice");
    let mut bob = mk("bob");

    // Bob's prekeys.
    let spk_v = &s["bob"]["signed_pre_key"];
    let spk = SignedPreKeyRecord {
        id: spk_v["id"].as_u64().unwrap() as u32,
        key_pair: key_pair(spk_v),
        signature: h(&spk_v["signature"]).try_into().unwrap(),
        timestamp: 0,
    };
    assert!(
        bob.identity
            .public_key()
            .verify_signature(&spk.key_pair.public.serialize(), &spk.signature)
    );
    let mut opk = s["bob"]["one_time_pre_key"]
        .as_object()
        .map(|_| PreKeyRecord {
            id: s["bob"]["one_time_pre_key"]["id"].as_u64().unwrap() as u32,
            key_pair: key_pair(&s["bob"]["one_time_pre_key"]),
        });

    // The bundle Alice starts from: check it is what we would build.
    let b = &s["bundle_for_alice"];
    let bundle = PreKeyBundle {
        registration_id: b["registration_id"].as_u64().unwrap() as u32,
        identity_key: pk(&b["identity_key"]),
        signed_pre_key_id: b["signed_pre_key_id"].as_u64().unwrap() as u32,
        signed_pre_key: pk(&b["signed_pre_key_public"]),
        signed_pre_key_signature: h(&b["signed_pre_key_signature"]).try_into().unwrap(),
        pre_key: b["pre_key_id"]
            .as_u64()
            .map(|id| (id as u32, pk(&b["pre_key_public"]))),
    };
    assert_eq!(
        bundle,
        PreKeyBundle::new(
            bob.registration_id,
            bob.identity.public_key(),
            &spk,
            opk.as_ref()
        )
    );
    process_bundle(
        &mut alice.record,
        &alice.identity,
        alice.registration_id,
        &bundle,
        &mut alice.rng,
    )
    .unwrap();

    let msgs = s["messages"].as_array().unwrap();
    let (mut encrypted, mut decrypted) = (0, 0);
    for ev in s["events"].as_array().unwrap() {
        let n = ev["message"].as_u64().unwrap() as usize;
        let m = &msgs[n - 1];
        let party = if ev["by"] == "alice" {
            &mut alice
        } else {
            &mut bob
        };
        let kind = m["type"].as_str().unwrap();
        let vector_ct = h(&m["ciphertext"]);
        if ev["event"] == "encrypt" {
            assert_eq!(ev["by"], m["from"]);
            let out = encrypt(&mut party.record, &h(&m["plaintext"])).unwrap();
            assert_eq!(out.kind.as_str(), kind, "message {n}");
            assert_eq!(
                hex::encode(&out.bytes),
                hex::encode(&vector_ct),
                "message {n} bytes"
            );
            check_parsed(&out.bytes, &m["parsed"], kind);
            encrypted += 1;
        } else {
            assert_eq!(ev["by"], m["to"]);
            let pt = if kind == "pkmsg" {
                let msg = PreKeySignalMessage::deserialize(&vector_ct).unwrap();
                let res = decrypt_prekey_message(
                    &mut party.record,
                    &party.identity,
                    party.registration_id,
                    &msg,
                    Some(&spk),
                    opk.as_ref(),
                    &mut party.rng,
                )
                .unwrap();
                assert_eq!(res.remote_identity, *alice.identity.public_key());
                assert_eq!(res.remote_registration_id, alice.registration_id);
                if let Some(id) = res.consumed_pre_key_id {
                    assert_eq!(Some(id), opk.as_ref().map(|p| p.id));
                    opk = None; // the caller deletes it
                }
                res.plaintext
            } else {
                decrypt_message(&mut party.record, &vector_ct, &mut party.rng).unwrap()
            };
            assert_eq!(pt, h(&m["plaintext"]), "message {n}");
            decrypted += 1;
        }
    }
    assert!(opk.is_none() || s["bob"]["one_time_pre_key"].is_null());
    assert!(alice.rng.draws.is_empty(), "alice left key draws unused");
    assert!(bob.rng.draws.is_empty(), "bob left key draws unused");

    // Replay of a delivered message is rejected, and leaves the record unchanged.
    let dup = s["duplicate_check"]["message"].as_u64().unwrap() as usize;
    let m = &msgs[dup - 1];
    let party = if m["to"] == "alice" {
        &mut alice
    } else {
        &mut bob
    };
    assert_eq!(m["type"], "msg");
    let before = party.record.to_bytes();
    let err = decrypt_message(&mut party.record, &h(&m["ciphertext"]), &mut party.rng).unwrap_err();
    assert!(
        matches!(err, SignalError::DuplicateMessage { .. }),
        "{err:?}"
    );
    assert_eq!(party.record.to_bytes(), before);

    // Records survive a serialization round trip and keep working.
    let mut a2 = SessionRecord::from_bytes(&alice.record.to_bytes()).unwrap();
    assert_eq!(a2.to_bytes(), alice.record.to_bytes());
    let mut b2 = SessionRecord::from_bytes(&bob.record.to_bytes()).unwrap();
    let ct = encrypt(&mut a2, b"after reload").unwrap();
    assert_eq!(ct.kind, MessageType::Whisper);
    let mut rng = rand::thread_rng();
    assert_eq!(
        decrypt_message(&mut b2, &ct.bytes, &mut rng).unwrap(),
        b"after reload"
    );
    (encrypted, decrypted)
}

#[test]
fn session_vectors_reproduce_byte_for_byte() {
    let d: Value = serde_json::from_str(include_str!("data/signal/sessions.json")).unwrap();
    let sessions = d["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let s1 = run_session(&sessions[0]);
    assert_eq!(s1, (12, 11));
    let s2 = run_session(&sessions[1]);
    assert_eq!(s2, (4, 4));
}
