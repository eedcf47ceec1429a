//! XEdDSA vectors from libsignal-node (see tests/data/signal/README.md).

use rand::SeedableRng;
use serde_json::Value;
use wa_signal::{KeyPair, PrivateKey, PublicKey};

fn load() -> Value {
    serde_json::from_str(include_str!("data/signal/xeddsa.json")).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn sign_vectors() {
    let d = load();
    let cases = d["sign"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut with_sign_bit = 0;
    for c in cases {
        let private = PrivateKey::from_bytes(h(&c["private"]).try_into().unwrap());
        let public = PublicKey::deserialize(&h(&c["public"])).unwrap();
        assert_eq!(private.public_key(), public, "{}", c["id"]);
        assert_eq!(private.to_bytes().to_vec(), h(&c["private"]));
        let msg = h(&c["message"]);
        let sig = h(&c["signature"]);
        assert_eq!(sig[63] & 0x80 != 0, c["sign_bit_set"].as_bool().unwrap());
        if sig[63] & 0x80 != 0 {
            with_sign_bit += 1;
        }
        assert!(public.verify_signature(&msg, &sig), "{}", c["id"]);
        // Byte-exact with the deterministic libsignal-node nonce.
        assert_eq!(
            private.calculate_signature_deterministic(&msg).to_vec(),
            sig,
            "{}",
            c["id"]
        );
        // Randomised signatures differ but verify.
        let rsig = private.calculate_signature(&msg, &mut rng);
        assert_ne!(rsig.to_vec(), sig);
        assert!(public.verify_signature(&msg, &rsig));
        let mut bad = msg.clone();
        bad.push(0);
        assert!(!public.verify_signature(&bad, &rsig));
    }
    assert!(with_sign_bit > 0);
}

#[test]
fn verify_fail_vectors() {
    let d = load();
    let cases = d["verify_fail"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let public = PublicKey::deserialize(&h(&c["public"])).unwrap();
        assert!(
            !public.verify_signature(&h(&c["message"]), &h(&c["signature"])),
            "{} ({})",
            c["id"],
            c["mutation"]
        );
    }
}

#[test]
fn random_keys_sign_and_verify() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for i in 0..64u8 {
        let kp = KeyPair::generate(&mut rng);
        let msg = vec![i; i as usize];
        let sig = kp.private.calculate_signature(&msg, &mut rng);
        assert!(kp.public.verify_signature(&msg, &sig));
        let mut flipped = sig;
        flipped[63] ^= 0x80;
        assert!(!kp.public.verify_signature(&msg, &flipped));
        assert!(!kp.public.verify_signature(&msg, &sig[..63]));
        let other = KeyPair::generate(&mut rng);
        assert!(!other.public.verify_signature(&msg, &sig));
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    use rand::RngCore;
    for len in 0..130 {
        let mut sig = vec![0u8; len];
        rng.fill_bytes(&mut sig);
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        assert!(!PublicKey::from_djb(k).verify_signature(b"m", &sig));
    }
    assert!(!PublicKey::from_djb([0xFF; 32]).verify_signature(b"m", &[0xFF; 64]));
}
