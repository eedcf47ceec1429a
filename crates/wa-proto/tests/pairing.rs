//! Pairing crypto: public vectors (Baileys 7 / libsignal-node, cross-checked with whatsapp-rust),
//! phone -> companion -> phone round trips, and robustness against malformed input.

use std::sync::OnceLock;

use proptest::prelude::*;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::Value;
use wa_proto::pairing::{
    self, CompanionClientType, DeviceIdentityDetails, PairError, QrCode, QrError,
    build_pair_success, build_pair_success_deterministic, verify_pair_success,
};
use wa_proto::proto::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};
use wa_signal::{KeyPair, PrivateKey, PublicKey};

const VECTORS: &str = include_str!("data/pairing/pairing.json");

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("missing {key}")))
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn arr32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("32 bytes")
}

fn key_pair(v: &Value) -> KeyPair {
    let private = PrivateKey::from_bytes(arr32(&hex_field(v, "private")));
    let kp = KeyPair::from_private(private);
    assert_eq!(
        kp.public.as_djb(),
        &arr32(&hex_field(v, "public")),
        "vector key pair is consistent"
    );
    kp
}

fn cases() -> Vec<Value> {
    let doc: Value = serde_json::from_str(VECTORS).expect("vector json");
    assert_eq!(doc["format"], "wa-pairing-vectors/1");
    doc["cases"].as_array().expect("cases").clone()
}

/// The `<device-identity>` bytes inside the recorded `<pair-success>` node.
fn node_device_identity(case: &Value) -> Vec<u8> {
    let pair_success = &case["pair_success_node"]["content"][0];
    assert_eq!(pair_success["tag"], "pair-success");
    let children = pair_success["content"].as_array().expect("children");
    let di = children
        .iter()
        .find(|c| c["tag"] == "device-identity")
        .expect("device-identity child");
    hex::decode(di["content"]["hex"].as_str().expect("hex")).expect("hex")
}

#[test]
fn vectors_accepted_and_rejected() {
    let cases = cases();
    let mut accepted = 0;
    let mut rejected = 0;
    for case in &cases {
        let id = case["id"].as_str().expect("id");
        let adv_secret = arr32(&hex_field(case, "adv_secret"));
        let companion = key_pair(&case["companion_identity"]);
        let device_identity = hex_field(case, "adv_signed_device_identity_hmac");
        assert_eq!(
            node_device_identity(case),
            device_identity,
            "{id}: node bytes"
        );

        let result = verify_pair_success(&device_identity, &adv_secret, &companion.public);
        match case["expected"].as_str() {
            Some("accept") => {
                accepted += 1;
                let verified = result.unwrap_or_else(|e| panic!("{id}: rejected: {e}"));
                let decoded = &case["adv_device_identity_decoded"];
                assert_eq!(
                    verified.details_bytes,
                    hex_field(case, "adv_device_identity")
                );
                assert_eq!(
                    u64::from(verified.details.raw_id),
                    decoded["rawId"].as_u64().unwrap()
                );
                assert_eq!(
                    verified.details.timestamp,
                    decoded["timestamp"].as_u64().unwrap()
                );
                assert_eq!(
                    u64::from(verified.details.key_index),
                    decoded["keyIndex"].as_u64().unwrap()
                );
                let account = key_pair(&case["account_signature_key"]);
                assert_eq!(verified.account_signature_key, account.public);
                assert_eq!(
                    pairing::account_signature_message(
                        &verified.details_bytes,
                        companion.public.as_djb(),
                        verified.details.hosted
                    ),
                    hex_field(case, "account_signature_message")
                );
                assert_eq!(
                    pairing::device_signature_message(
                        pairing::ADV_DEVICE_SIGNATURE_PREFIX,
                        &verified.details_bytes,
                        companion.public.as_djb(),
                        account.public.as_djb()
                    ),
                    hex_field(case, "device_signature_message")
                );

                // Byte-exact reply with the libsignal-node nonce.
                let reply = verified
                    .sign_deterministic(&companion.private)
                    .expect("sign");
                assert_eq!(
                    reply.device_signature.to_vec(),
                    hex_field(case, "device_signature")
                );
                assert_eq!(
                    reply.device_identity,
                    hex_field(case, "reply_adv_signed_device_identity"),
                    "{id}: reply bytes"
                );
                let key_attr =
                    &case["reply_node"]["content"][0]["content"][0]["attrs"]["key-index"];
                assert_eq!(reply.key_index.to_string(), key_attr.as_str().unwrap());
                // The stored account keeps the account key (whatsmeow Store.Account).
                assert_eq!(
                    reply.account.account_signature_key.as_deref(),
                    Some(account.public.as_djb().as_slice())
                );

                // A random-nonce reply differs but verifies.
                let mut rng = StdRng::seed_from_u64(7);
                let random_reply = verified.sign(&companion.private, &mut rng).expect("sign");
                assert_ne!(random_reply.device_signature, reply.device_signature);

                // Phone side: the deterministic builder reproduces the payload byte for byte.
                let details = DeviceIdentityDetails::decode(&verified.details_bytes).unwrap();
                let payload = build_pair_success_deterministic(
                    &details,
                    &account,
                    &companion.public,
                    &adv_secret,
                );
                assert_eq!(
                    payload.details_bytes,
                    hex_field(case, "adv_device_identity")
                );
                assert_eq!(
                    payload.account_signature.to_vec(),
                    hex_field(case, "account_signature")
                );
                assert_eq!(
                    payload.signed_device_identity,
                    hex_field(case, "adv_signed_device_identity")
                );
                assert_eq!(
                    payload.device_identity, device_identity,
                    "{id}: pair-success bytes"
                );
                let container =
                    AdvSignedDeviceIdentityHmac::decode(&*payload.device_identity).unwrap();
                assert_eq!(container.hmac.unwrap(), hex_field(case, "hmac"));

                // ... and accepts both the recorded Baileys reply and our random one.
                let stored = payload
                    .verify_reply(&hex_field(case, "reply_adv_signed_device_identity"))
                    .unwrap_or_else(|e| panic!("{id}: phone rejects Baileys' reply: {e}"));
                assert_eq!(stored, reply.account);
                payload
                    .verify_reply(&random_reply.device_identity)
                    .expect("random reply");
            }
            Some("reject") => {
                rejected += 1;
                let err = result.expect_err(id);
                let reason = case["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if reason.contains("hmac") && !reason.contains("recomputed") {
                    assert_eq!(err, PairError::HmacMismatch, "{id}: {reason}");
                } else if reason.contains("signature") {
                    assert_eq!(err, PairError::AccountSignatureMismatch, "{id}: {reason}");
                }
                assert_eq!(err.iq_error().0, 401, "{id}");
            }
            other => panic!("{id}: unknown expectation {other:?}"),
        }
    }
    assert!(
        accepted >= 1 && rejected >= 1,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn vector_qr_text_layout() {
    for case in cases() {
        let adv_secret = arr32(&hex_field(&case, "adv_secret"));
        let identity = arr32(&hex_field(&case["companion_identity"], "public"));
        let noise = [0x42u8; 32];
        let text = pairing::qr_text("2@abc==", &noise, &identity, &adv_secret);
        let fields: Vec<&str> = text.split(',').collect();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], "2@abc==");
        assert_eq!(fields[3], case["adv_secret_b64"].as_str().unwrap());
        let parsed = QrCode::parse(&text).unwrap();
        assert_eq!(parsed.adv_secret, adv_secret);
        assert_eq!(parsed.identity_public, identity);
        assert_eq!(parsed.noise_public, noise);
        assert_eq!(parsed.client_type, None);
    }
}

#[test]
fn qr_forms() {
    let qr = QrCode {
        reference: "2@Xy+/z=,with,commas".to_owned(),
        noise_public: [1; 32],
        identity_public: [2; 32],
        adv_secret: [3; 32],
        client_type: Some(CompanionClientType::Chrome),
    };
    let text = qr.to_text();
    assert!(text.ends_with(",1"));
    let link = qr.to_deep_link();
    assert!(link.starts_with(pairing::QR_DEEP_LINK_PREFIX));
    assert_eq!(QrCode::parse(&text).unwrap(), qr);
    assert_eq!(QrCode::parse(&link).unwrap(), qr);
    assert_eq!(QrCode::parse(&format!("  {link}\n")).unwrap(), qr);
    {
        use base64::Engine as _;
        let secret_b64 = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
        assert!(
            !format!("{qr:?}").contains(&secret_b64),
            "Debug redacts the ADV secret"
        );
    }

    let bare = pairing::qr_text("ref", &[1; 32], &[2; 32], &[3; 32]);
    assert_eq!(QrCode::parse(&bare).unwrap().client_type, None);
    assert_eq!(QrCode::parse("a,b,c"), Err(QrError::TooFewFields));
    assert_eq!(
        QrCode::parse(&format!("{bare},z")),
        Err(QrError::UnknownClientType("z".into()))
    );
    let empty_ref = pairing::qr_text("", &[1; 32], &[2; 32], &[3; 32]);
    assert_eq!(QrCode::parse(&empty_ref), Err(QrError::EmptyReference));
    let (head, _) = bare.rsplit_once(',').unwrap();
    assert_eq!(
        QrCode::parse(&format!("{head},!!!!")),
        Err(QrError::BadBase64 {
            field: "adv_secret"
        })
    );
    assert_eq!(
        QrCode::parse(&format!("{head},AAAA")),
        Err(QrError::BadKeyLength {
            field: "adv_secret",
            len: 3
        })
    );
    assert_eq!(
        QrCode::parse("r,AAAA,AAAA,AAAA"),
        Err(QrError::BadKeyLength {
            field: "noise_public",
            len: 3
        })
    );
}

struct Setup {
    account: KeyPair,
    companion: KeyPair,
    adv_secret: [u8; 32],
    details: DeviceIdentityDetails,
}

fn setup(rng: &mut StdRng, hosted: bool) -> Setup {
    let mut adv_secret = [0u8; 32];
    rng.fill_bytes(&mut adv_secret);
    Setup {
        account: KeyPair::generate(rng),
        companion: KeyPair::generate(rng),
        adv_secret,
        details: DeviceIdentityDetails {
            raw_id: rng.r#gen(),
            timestamp: rng.r#gen(),
            key_index: rng.gen_range(0..100),
            hosted,
        },
    }
}

#[test]
fn round_trip_phone_companion_phone() {
    let mut rng = StdRng::seed_from_u64(1);
    for hosted in [false, true] {
        for _ in 0..8 {
            let s = setup(&mut rng, hosted);
            let payload = build_pair_success(
                &s.details,
                &s.account,
                &s.companion.public,
                &s.adv_secret,
                &mut rng,
            );
            let (verified, reply) = pairing::handle_pair_success(
                &payload.device_identity,
                &s.adv_secret,
                &s.companion,
                &mut rng,
            )
            .expect("companion accepts");
            assert_eq!(verified.details, s.details);
            assert_eq!(verified.container_hosted, hosted);
            assert_eq!(verified.account_signature_key, s.account.public);
            assert_eq!(reply.key_index, s.details.key_index);
            let stripped = AdvSignedDeviceIdentity::decode(&*reply.device_identity).unwrap();
            assert_eq!(stripped.account_signature_key, None, "account key stripped");
            let stored = payload
                .verify_reply(&reply.device_identity)
                .expect("phone accepts");
            assert_eq!(stored, reply.account);

            // whatsapp-rust keeps the account key in the reply: still accepted.
            payload
                .verify_reply(&reply.account.encode_to_vec())
                .expect("reply with account key");
        }
    }
}

#[test]
fn stored_identity_reverifies() {
    let mut rng = StdRng::seed_from_u64(6);
    for hosted in [false, true] {
        let s = setup(&mut rng, hosted);
        let payload = build_pair_success(
            &s.details,
            &s.account,
            &s.companion.public,
            &s.adv_secret,
            &mut rng,
        );
        let (_, reply) = pairing::handle_pair_success(
            &payload.device_identity,
            &s.adv_secret,
            &s.companion,
            &mut rng,
        )
        .unwrap();
        let stored = payload.verify_reply(&reply.device_identity).unwrap();
        assert_eq!(
            pairing::verify_device_identity(&stored, &s.companion.public, None),
            Ok(s.details)
        );
        assert_eq!(
            pairing::verify_device_identity(&stored, &s.companion.public, Some(&s.account.public)),
            Ok(s.details)
        );
        // The stripped reply needs the account key from elsewhere.
        let stripped = AdvSignedDeviceIdentity::decode(&*reply.device_identity).unwrap();
        assert!(matches!(
            pairing::verify_device_identity(&stripped, &s.companion.public, None),
            Err(PairError::MissingField(_))
        ));
        assert_eq!(
            pairing::verify_device_identity(
                &stripped,
                &s.companion.public,
                Some(&s.account.public)
            ),
            Ok(s.details)
        );
        let stranger = KeyPair::generate(&mut rng);
        assert_eq!(
            pairing::verify_device_identity(&stripped, &stranger.public, Some(&s.account.public)),
            Err(PairError::AccountSignatureMismatch)
        );
        assert_eq!(
            pairing::verify_device_identity(&stored, &s.companion.public, Some(&stranger.public)),
            Err(PairError::ReplyMismatch("accountSignatureKey"))
        );
        let mut bad_device = stored.clone();
        let mut sig = bad_device.device_signature.take().unwrap();
        sig[5] ^= 0x10;
        bad_device.device_signature = Some(sig);
        assert_eq!(
            pairing::verify_device_identity(&bad_device, &s.companion.public, None),
            Err(PairError::DeviceSignatureMismatch)
        );
    }
}

#[test]
fn hosted_device_signature_prefix_accepted_only_when_hosted() {
    let mut rng = StdRng::seed_from_u64(2);
    for hosted in [false, true] {
        let s = setup(&mut rng, hosted);
        let payload = build_pair_success(
            &s.details,
            &s.account,
            &s.companion.public,
            &s.adv_secret,
            &mut rng,
        );
        let msg = pairing::device_signature_message(
            pairing::ADV_HOSTED_DEVICE_SIGNATURE_PREFIX,
            &payload.details_bytes,
            s.companion.public.as_djb(),
            s.account.public.as_djb(),
        );
        let sig = s.companion.private.calculate_signature(&msg, &mut rng);
        let reply = AdvSignedDeviceIdentity {
            details: Some(payload.details_bytes.clone()),
            account_signature_key: None,
            account_signature: Some(payload.account_signature.to_vec()),
            device_signature: Some(sig.to_vec()),
        }
        .encode_to_vec();
        let result = payload.verify_reply(&reply);
        if hosted {
            result.expect("06 06 accepted for hosted");
        } else {
            assert_eq!(result, Err(PairError::DeviceSignatureMismatch));
        }
    }
}

#[test]
fn wrong_keys_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let s = setup(&mut rng, false);
    let payload = build_pair_success(
        &s.details,
        &s.account,
        &s.companion.public,
        &s.adv_secret,
        &mut rng,
    );

    let mut other_secret = s.adv_secret;
    other_secret[0] ^= 1;
    assert_eq!(
        verify_pair_success(&payload.device_identity, &other_secret, &s.companion.public),
        Err(PairError::HmacMismatch)
    );

    let stranger = KeyPair::generate(&mut rng);
    assert_eq!(
        verify_pair_success(&payload.device_identity, &s.adv_secret, &stranger.public),
        Err(PairError::AccountSignatureMismatch)
    );

    let verified =
        verify_pair_success(&payload.device_identity, &s.adv_secret, &s.companion.public).unwrap();
    assert_eq!(
        verified.sign(&stranger.private, &mut rng),
        Err(PairError::IdentityMismatch)
    );

    // A reply signed by another key, or for other details, is refused by the phone.
    let forged = verified.sign(&s.companion.private, &mut rng).unwrap();
    let mut bad = forged.account.clone();
    let msg = pairing::device_signature_message(
        pairing::ADV_DEVICE_SIGNATURE_PREFIX,
        &payload.details_bytes,
        s.companion.public.as_djb(),
        s.account.public.as_djb(),
    );
    bad.device_signature = Some(
        stranger
            .private
            .calculate_signature(&msg, &mut rng)
            .to_vec(),
    );
    assert_eq!(
        payload.verify_reply(&bad.encode_to_vec()),
        Err(PairError::DeviceSignatureMismatch)
    );
    let mut other_details = forged.account.clone();
    other_details.details = Some(
        DeviceIdentityDetails {
            key_index: 99,
            ..s.details
        }
        .encode(),
    );
    assert_eq!(
        payload.verify_reply(&other_details.encode_to_vec()),
        Err(PairError::ReplyMismatch("details"))
    );
    let mut other_account = forged.account.clone();
    other_account.account_signature_key = Some(stranger.public.as_djb().to_vec());
    assert_eq!(
        payload.verify_reply(&other_account.encode_to_vec()),
        Err(PairError::ReplyMismatch("accountSignatureKey"))
    );
    let mut no_sig = forged.account;
    no_sig.device_signature = None;
    assert!(matches!(
        payload.verify_reply(&no_sig.encode_to_vec()),
        Err(PairError::MissingField(_))
    ));
}

#[test]
fn malformed_containers_have_typed_errors() {
    let companion = PublicKey::from_djb([9; 32]);
    let secret = [1u8; 32];
    assert!(matches!(
        verify_pair_success(&[0xff], &secret, &companion),
        Err(PairError::Decode { .. })
    ));
    assert!(matches!(
        verify_pair_success(&[], &secret, &companion),
        Err(PairError::MissingField(_))
    ));
    // Valid HMAC over garbage details: a decode error after the HMAC check.
    let garbage = vec![0x0a, 0x05, 1, 2];
    let container = AdvSignedDeviceIdentityHmac {
        details: Some(garbage.clone()),
        hmac: Some(pairing::adv_hmac(&secret, &garbage, false).to_vec()),
        account_type: None,
    };
    assert!(matches!(
        verify_pair_success(&container.encode_to_vec(), &secret, &companion),
        Err(PairError::Decode {
            what: "ADVSignedDeviceIdentity",
            ..
        })
    ));
    // Short account key.
    let signed = AdvSignedDeviceIdentity {
        details: Some(
            DeviceIdentityDetails {
                raw_id: 1,
                timestamp: 2,
                key_index: 3,
                hosted: false,
            }
            .encode(),
        ),
        account_signature_key: Some(vec![5; 31]),
        account_signature: Some(vec![0; 64]),
        device_signature: None,
    }
    .encode_to_vec();
    let container = AdvSignedDeviceIdentityHmac {
        details: Some(signed.clone()),
        hmac: Some(pairing::adv_hmac(&secret, &signed, false).to_vec()),
        account_type: None,
    };
    let err = verify_pair_success(&container.encode_to_vec(), &secret, &companion).unwrap_err();
    assert!(matches!(
        err,
        PairError::BadLength {
            expected: 32,
            actual: 31,
            ..
        }
    ));
    assert_eq!(err.iq_error(), (401, "signature-mismatch"));
}

/// Plain random-input smoke test (no proptest machinery): nothing panics.
#[test]
fn random_input_smoke() {
    let mut rng = StdRng::seed_from_u64(4);
    let s = setup(&mut rng, false);
    let payload = build_pair_success(
        &s.details,
        &s.account,
        &s.companion.public,
        &s.adv_secret,
        &mut rng,
    );
    for _ in 0..3000 {
        let len = rng.gen_range(0..300);
        let mut buf = vec![0u8; len];
        rng.fill_bytes(&mut buf);
        assert!(verify_pair_success(&buf, &s.adv_secret, &s.companion.public).is_err());
        assert!(payload.verify_reply(&buf).is_err());
        if let Ok(qr) = QrCode::parse(&String::from_utf8_lossy(&buf)) {
            assert_eq!(QrCode::parse(&qr.to_deep_link()), Ok(qr));
        }
    }
}

fn fixed_payload() -> &'static (Setup, pairing::PairSuccessPayload, Vec<u8>) {
    static FIXED: OnceLock<(Setup, pairing::PairSuccessPayload, Vec<u8>)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(5);
        let s = setup(&mut rng, false);
        let payload = build_pair_success(
            &s.details,
            &s.account,
            &s.companion.public,
            &s.adv_secret,
            &mut rng,
        );
        let verified =
            verify_pair_success(&payload.device_identity, &s.adv_secret, &s.companion.public)
                .unwrap();
        let reply = verified
            .sign(&s.companion.private, &mut rng)
            .unwrap()
            .device_identity;
        (s, payload, reply)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let companion = PublicKey::from_djb([7; 32]);
        prop_assert!(verify_pair_success(&bytes, &[0; 32], &companion).is_err());
    }

    #[test]
    fn single_byte_changes_are_refused(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (s, payload, reply) = fixed_payload();
        let mut bad = payload.device_identity.clone();
        let i = pos.index(bad.len());
        bad[i] ^= xor;
        prop_assert!(verify_pair_success(&bad, &s.adv_secret, &s.companion.public).is_err());
        let mut bad_reply = reply.clone();
        let j = pos.index(bad_reply.len());
        bad_reply[j] ^= xor;
        prop_assert!(payload.verify_reply(&bad_reply).is_err());
    }

    #[test]
    fn truncations_are_refused(cut in any::<prop::sample::Index>()) {
        let (s, payload, reply) = fixed_payload();
        let n = cut.index(payload.device_identity.len());
        prop_assert!(verify_pair_success(&payload.device_identity[..n], &s.adv_secret, &s.companion.public).is_err());
        let m = cut.index(reply.len());
        prop_assert!(payload.verify_reply(&reply[..m]).is_err());
    }

    #[test]
    fn qr_round_trip(
        reference in "[!-~]{1,40}",
        noise in any::<[u8; 32]>(),
        identity in any::<[u8; 32]>(),
        adv in any::<[u8; 32]>(),
        ty in proptest::option::of(0usize..14),
        link in any::<bool>(),
    ) {
        const TYPES: [char; 14] = ['0','1','2','3','4','5','6','7','8','9','c','d','e','f'];
        let qr = QrCode {
            reference,
            noise_public: noise,
            identity_public: identity,
            adv_secret: adv,
            client_type: ty.map(|i| CompanionClientType::from_char(TYPES[i]).unwrap()),
        };
        let text = if link { qr.to_deep_link() } else { qr.to_text() };
        prop_assert_eq!(QrCode::parse(&text).unwrap(), qr);
    }

    #[test]
    fn qr_parse_any_string(s in "\\PC{0,200}") {
        let _ = QrCode::parse(&s);
    }
}
