//! The public media vectors (tests/data/media, from Baileys 7 and cross-checked with OpenSSL
//! and whatsapp-rust) through the client's media path: a received message's fields become a
//! `MediaRef`, whose `decrypt` must return the plaintext; tampered blobs must be rejected. The
//! encryption the client uses for uploads must reproduce each blob and upload token.

use wa_client::{MediaKind, MediaRef};
use wa_proto::media::{MediaKey, MediaType};
use wa_proto::proto;

fn load(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/media/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_field(c: &serde_json::Value, k: &str) -> Vec<u8> {
    hex::decode(c[k].as_str().unwrap_or_else(|| panic!("field {k}"))).unwrap()
}

/// The message a sender would put these media fields in.
fn message(kind: &str, key: Vec<u8>, sha: Vec<u8>, enc_sha: Vec<u8>, len: u64) -> proto::Message {
    let mut m = proto::Message::default();
    let (k, s, e, l) = (Some(key), Some(sha), Some(enc_sha), Some(len));
    let dp = Some("/v/t62.7118-24/x.enc".to_owned());
    match kind {
        "image" => {
            m.image_message = Some(Box::new(proto::ImageMessage {
                media_key: k,
                file_sha256: s,
                file_enc_sha256: e,
                file_length: l,
                direct_path: dp,
                ..Default::default()
            }))
        }
        "video" => {
            m.video_message = Some(Box::new(proto::VideoMessage {
                media_key: k,
                file_sha256: s,
                file_enc_sha256: e,
                file_length: l,
                direct_path: dp,
                ..Default::default()
            }))
        }
        "audio" => {
            m.audio_message = Some(Box::new(proto::AudioMessage {
                media_key: k,
                file_sha256: s,
                file_enc_sha256: e,
                file_length: l,
                direct_path: dp,
                ..Default::default()
            }))
        }
        "document" => {
            m.document_message = Some(Box::new(proto::DocumentMessage {
                media_key: k,
                file_sha256: s,
                file_enc_sha256: e,
                file_length: l,
                direct_path: dp,
                ..Default::default()
            }))
        }
        "sticker" => {
            m.sticker_message = Some(Box::new(proto::StickerMessage {
                media_key: k,
                file_sha256: s,
                file_enc_sha256: e,
                file_length: l,
                direct_path: dp,
                ..Default::default()
            }))
        }
        other => panic!("unknown media type {other}"),
    }
    m
}

fn kind_of(name: &str) -> MediaKind {
    match name {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        "document" => MediaKind::Document,
        "sticker" => MediaKind::Sticker,
        other => panic!("unknown media type {other}"),
    }
}

#[test]
fn every_public_case_decrypts_and_encrypts_through_the_client_path() {
    let v = load("media.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for c in cases {
        let id = c["id"].as_str().unwrap();
        let kind = c["media_type"].as_str().unwrap();
        let plaintext = hex_field(c, "plaintext");
        let enc_file = hex_field(c, "enc_file");
        let key = hex_field(c, "media_key");
        let m = message(
            kind,
            key.clone(),
            hex_field(c, "file_sha256"),
            hex_field(c, "file_enc_sha256"),
            c["file_length"].as_u64().unwrap(),
        );
        let media = MediaRef::from_message(&m).expect(id);
        assert_eq!(media.kind, kind_of(kind), "{id}");
        assert_eq!(
            media.kind.media_type().hkdf_info(),
            c["hkdf_info"].as_str().unwrap()
        );
        assert_eq!(media.decrypt(&enc_file).expect(id), plaintext, "{id}");

        // Upload side: the same key gives the same blob and token.
        let key: [u8; 32] = key.try_into().unwrap();
        let enc = wa_proto::media::encrypt(&MediaKey(key), media.kind.media_type(), &plaintext);
        assert_eq!(enc.enc_file, enc_file, "{id}");
        assert_eq!(
            enc.info.upload_token(),
            c["file_enc_sha256_b64url"].as_str().unwrap(),
            "{id}"
        );

        // A wrong expected hash or a flipped byte is refused.
        let mut bad = media.clone();
        bad.file_sha256 = Some([0; 32]);
        assert!(
            bad.decrypt(&enc_file).is_err(),
            "{id}: plaintext hash checked"
        );
        let mut flipped = enc_file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x80;
        assert!(media.decrypt(&flipped).is_err(), "{id}: MAC checked");
    }
}

#[test]
fn every_tampered_case_is_rejected() {
    let v = load("tampered.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let kind = c["media_type"].as_str().unwrap();
        // No hashes: only the MAC stands between the tampered blob and the plaintext.
        let mut m = message(kind, hex_field(c, "media_key"), vec![], vec![], 0);
        if let Some(i) = m.image_message.as_mut() {
            i.file_sha256 = None;
            i.file_enc_sha256 = None;
            i.file_length = None;
        }
        if let Some(i) = m.video_message.as_mut() {
            i.file_sha256 = None;
            i.file_enc_sha256 = None;
            i.file_length = None;
        }
        if let Some(i) = m.audio_message.as_mut() {
            i.file_sha256 = None;
            i.file_enc_sha256 = None;
            i.file_length = None;
        }
        if let Some(i) = m.document_message.as_mut() {
            i.file_sha256 = None;
            i.file_enc_sha256 = None;
            i.file_length = None;
        }
        if let Some(i) = m.sticker_message.as_mut() {
            i.file_sha256 = None;
            i.file_enc_sha256 = None;
            i.file_length = None;
        }
        let media = MediaRef::from_message(&m).unwrap();
        assert_eq!(Some(media.kind.media_type()), MediaType::from_name(kind));
        assert!(
            media.decrypt(&hex_field(c, "enc_file")).is_err(),
            "{}: {}",
            c["source_case"],
            c["tampering"]
        );
    }
}
