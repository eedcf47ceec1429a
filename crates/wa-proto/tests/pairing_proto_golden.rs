//! Golden checks of the generated protobuf types (`wa_proto::proto`) against bytes produced by
//! third-party implementations: Baileys' ClientPayload / DeviceProps (noise transcripts),
//! `waE2E.Message` plaintexts and the Signal wire messages (libsignal-node sessions and
//! sender keys). Decoding must find the documented values, and re-encoding must give the
//! original bytes (so no field we rely on is lost or renumbered).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message as _;
use serde_json::Value;
use wa_proto::proto::{
    self, ClientPayload, DeviceProps, Message, PreKeySignalMessage, SenderKeyDistributionMessage,
    SenderKeyMessage, SignalMessage, client_payload,
};

const HANDSHAKE: &str = include_str!("data/pairing/proto-golden/handshake.json");
const SESSIONS: &str = include_str!("data/pairing/proto-golden/sessions.json");
const SENDER_KEYS: &str = include_str!("data/pairing/proto-golden/senderkeys.json");

fn hex_str(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn b64(v: &Value) -> Vec<u8> {
    BASE64
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

fn assert_reencodes<M: prost::Message + Default>(bytes: &[u8], what: &str) -> M {
    let m = M::decode(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        hex::encode(m.encode_to_vec()),
        hex::encode(bytes),
        "{what} re-encodes"
    );
    m
}

#[test]
fn client_payloads_from_baileys() {
    let doc: Value = serde_json::from_str(HANDSHAKE).unwrap();
    let transcripts = doc["transcripts"].as_array().unwrap();
    let mut seen_registration = false;
    let mut seen_login = false;
    for t in transcripts {
        let hs = &t["handshake"];
        let bytes = hex_str(&hs["client_payload"]);
        let want = &hs["client_payload_decoded"];
        let p: ClientPayload = assert_reencodes(&bytes, "ClientPayload");

        let ua = p.user_agent.as_ref().expect("userAgent");
        assert_eq!(
            ua.platform(),
            client_payload::user_agent::Platform::from_str_name(
                want["userAgent"]["platform"].as_str().unwrap()
            )
            .unwrap()
        );
        let av = ua.app_version.as_ref().unwrap();
        let wav = &want["userAgent"]["appVersion"];
        assert_eq!(u64::from(av.primary()), wav["primary"].as_u64().unwrap());
        assert_eq!(
            u64::from(av.secondary()),
            wav["secondary"].as_u64().unwrap()
        );
        assert_eq!(u64::from(av.tertiary()), wav["tertiary"].as_u64().unwrap());
        assert_eq!(ua.mcc(), want["userAgent"]["mcc"].as_str().unwrap());
        assert_eq!(ua.device(), want["userAgent"]["device"].as_str().unwrap());
        assert_eq!(
            ua.os_version(),
            want["userAgent"]["osVersion"].as_str().unwrap()
        );
        assert_eq!(
            ua.locale_country_iso31661_alpha2(),
            want["userAgent"]["localeCountryIso31661Alpha2"]
                .as_str()
                .unwrap()
        );
        assert_eq!(
            ua.release_channel().as_str_name(),
            want["userAgent"]["releaseChannel"].as_str().unwrap()
        );
        assert_eq!(
            p.web_info
                .as_ref()
                .unwrap()
                .web_sub_platform()
                .as_str_name(),
            want["webInfo"]["webSubPlatform"].as_str().unwrap()
        );
        assert_eq!(
            p.connect_type().as_str_name(),
            want["connectType"].as_str().unwrap()
        );
        assert_eq!(
            p.connect_reason().as_str_name(),
            want["connectReason"].as_str().unwrap()
        );
        assert_eq!(p.passive(), want["passive"].as_bool().unwrap());
        assert_eq!(p.pull(), want["pull"].as_bool().unwrap());

        if let Some(dp) = want.get("devicePairingData") {
            seen_registration = true;
            assert!(p.username.is_none() && p.device.is_none());
            let got = p.device_pairing_data.as_ref().expect("devicePairingData");
            assert_eq!(got.e_regid(), b64(&dp["eRegid"]).as_slice());
            assert_eq!(got.e_keytype(), [5]);
            assert_eq!(got.e_ident(), b64(&dp["eIdent"]).as_slice());
            assert_eq!(got.e_skey_id(), b64(&dp["eSkeyId"]).as_slice());
            assert_eq!(got.e_skey_val(), b64(&dp["eSkeyVal"]).as_slice());
            assert_eq!(got.e_skey_sig().len(), 64);
            assert_eq!(got.e_skey_sig(), b64(&dp["eSkeySig"]).as_slice());
            assert_eq!(got.build_hash(), b64(&dp["buildHash"]).as_slice());
            let props_bytes = b64(&dp["deviceProps"]);
            assert_eq!(got.device_props(), props_bytes.as_slice());
            let props: DeviceProps = assert_reencodes(&props_bytes, "DeviceProps");
            assert!(!props.os().is_empty());
            let hs_cfg = props.history_sync_config.expect("historySyncConfig");
            assert_eq!(hs_cfg.storage_quota_mb(), 10240);
            assert!(hs_cfg.inline_initial_payload_in_e2ee_msg());
        } else {
            seen_login = true;
            assert_eq!(p.username().to_string(), want["username"].as_str().unwrap());
            assert_eq!(u64::from(p.device()), want["device"].as_u64().unwrap());
            assert_eq!(
                p.lid_db_migrated(),
                want["lidDbMigrated"].as_bool().unwrap()
            );
            assert!(p.device_pairing_data.is_none());
        }
    }
    assert!(seen_registration && seen_login);
}

fn check_plaintext(m: &Value) {
    let plaintext = hex_str(&m["plaintext"]);
    let pad = usize::try_from(
        m["padding_len"]
            .as_u64()
            .unwrap_or_else(|| u64::from(*plaintext.last().expect("padded plaintext"))),
    )
    .unwrap();
    let body = &plaintext[..plaintext.len() - pad];
    let msg: Message = assert_reencodes(body, "waE2E.Message");
    let want = &m["plaintext_message"];
    if let Some(text) = want.get("conversation") {
        assert_eq!(msg.conversation(), text.as_str().unwrap());
    } else {
        let ext = msg
            .extended_text_message
            .as_ref()
            .expect("extendedTextMessage");
        let w = &want["extendedTextMessage"];
        assert_eq!(ext.text(), w["text"].as_str().unwrap());
        if let Some(ctx) = w.get("contextInfo") {
            let got = ext.context_info.as_ref().expect("contextInfo");
            assert_eq!(got.stanza_id(), ctx["stanzaId"].as_str().unwrap());
        }
    }
}

#[test]
fn e2e_messages_and_signal_wire_messages() {
    let doc: Value = serde_json::from_str(SESSIONS).unwrap();
    let mut pk = 0;
    let mut plain = 0;
    for session in doc["sessions"].as_array().unwrap() {
        for m in session["messages"].as_array().unwrap() {
            check_plaintext(m);
            let ct = hex_str(&m["ciphertext"]);
            let parsed = &m["parsed"];
            assert_eq!(ct[0], 0x33);
            let inner_wire;
            let inner_parsed;
            if m["type"] == "pkmsg" {
                pk += 1;
                let p: PreKeySignalMessage = PreKeySignalMessage::decode(&ct[1..]).unwrap();
                assert_eq!(
                    u64::from(p.registration_id()),
                    parsed["registration_id"].as_u64().unwrap()
                );
                match parsed["pre_key_id"].as_u64() {
                    Some(id) => assert_eq!(u64::from(p.pre_key_id()), id),
                    None => assert!(p.pre_key_id.is_none()),
                }
                assert_eq!(
                    u64::from(p.signed_pre_key_id()),
                    parsed["signed_pre_key_id"].as_u64().unwrap()
                );
                assert_eq!(p.base_key(), hex_str(&parsed["base_key"]).as_slice());
                assert_eq!(
                    p.identity_key(),
                    hex_str(&parsed["identity_key"]).as_slice()
                );
                inner_wire = p.message().to_vec();
                inner_parsed = &parsed["inner_message"];
            } else {
                plain += 1;
                inner_wire = ct.clone();
                inner_parsed = parsed;
            }
            assert_eq!(inner_wire[0], 0x33);
            let body = &inner_wire[1..inner_wire.len() - 8];
            assert_eq!(
                hex::encode(&inner_wire[inner_wire.len() - 8..]),
                inner_parsed["mac"].as_str().unwrap()
            );
            let s: SignalMessage = assert_reencodes(body, "SignalMessage");
            assert_eq!(
                s.ratchet_key(),
                hex_str(&inner_parsed["ratchet_key"]).as_slice()
            );
            assert_eq!(
                u64::from(s.counter()),
                inner_parsed["counter"].as_u64().unwrap()
            );
            assert_eq!(
                u64::from(s.previous_counter()),
                inner_parsed["previous_counter"].as_u64().unwrap()
            );
            assert_eq!(
                s.ciphertext(),
                hex_str(&inner_parsed["ciphertext"]).as_slice()
            );
        }
    }
    assert!(pk > 0 && plain > 0);
}

#[test]
fn sender_key_messages() {
    let doc: Value = serde_json::from_str(SENDER_KEYS).unwrap();
    for group in doc["groups"].as_array().unwrap() {
        let skdm = hex_str(&group["skdm"]);
        let want = &group["skdm_parsed"];
        assert_eq!(skdm[0], 0x33);
        let d: SenderKeyDistributionMessage = assert_reencodes(&skdm[1..], "SKDM");
        assert_eq!(u64::from(d.id()), want["id"].as_u64().unwrap());
        assert_eq!(
            u64::from(d.iteration()),
            want["iteration"].as_u64().unwrap()
        );
        assert_eq!(d.chain_key(), hex_str(&want["chain_key"]).as_slice());
        assert_eq!(d.signing_key(), hex_str(&want["signing_key"]).as_slice());

        // The WhatsApp-level wrapper carries the Signal SKDM as opaque bytes.
        let wrapper = Message {
            sender_key_distribution_message: Some(proto::message::SenderKeyDistributionMessage {
                group_id: Some(group["group_id"].as_str().unwrap_or("g").to_owned()),
                axolotl_sender_key_distribution_message: Some(skdm.clone()),
            }),
            ..Default::default()
        };
        let back = Message::decode(&*wrapper.encode_to_vec()).unwrap();
        assert_eq!(
            back.sender_key_distribution_message
                .unwrap()
                .axolotl_sender_key_distribution_message(),
            skdm.as_slice()
        );

        for m in group["messages"].as_array().unwrap() {
            check_plaintext(m);
            let ct = hex_str(&m["ciphertext"]);
            let parsed = &m["parsed"];
            let body = &ct[1..ct.len() - 64];
            let s: SenderKeyMessage = assert_reencodes(body, "SenderKeyMessage");
            assert_eq!(u64::from(s.id()), parsed["key_id"].as_u64().unwrap());
            assert_eq!(
                u64::from(s.iteration()),
                parsed["iteration"].as_u64().unwrap()
            );
            assert_eq!(s.ciphertext(), hex_str(&parsed["ciphertext"]).as_slice());
        }
    }
}

#[test]
fn message_field_numbers() {
    // Hand-assembled wire bytes for the fields the client writes, numbers from
    // WAWebProtobufsE2E.proto: imageMessage = 3 {url 1, mimetype 2, caption 3, fileSha256 4,
    // fileLength 5, height 6, width 7, mediaKey 8, fileEncSha256 9, directPath 11,
    // mediaKeyTimestamp 12, jpegThumbnail 16}; messageContextInfo = 35 {messageSecret 3};
    // deviceSentMessage = 31 {destinationJid 1, message 2}.
    let image = proto::ImageMessage {
        url: Some("u".into()),
        mimetype: Some("m".into()),
        caption: Some("c".into()),
        file_sha256: Some(vec![4]),
        file_length: Some(5),
        height: Some(6),
        width: Some(7),
        media_key: Some(vec![8]),
        file_enc_sha256: Some(vec![9]),
        direct_path: Some("d".into()),
        media_key_timestamp: Some(12),
        jpeg_thumbnail: Some(vec![16]),
        ..Default::default()
    };
    let inner = Message {
        image_message: Some(Box::new(image)),
        ..Default::default()
    };
    let outer = Message {
        device_sent_message: Some(Box::new(proto::DeviceSentMessage {
            destination_jid: Some("j".into()),
            message: Some(Box::new(inner)),
            phash: None,
        })),
        message_context_info: Some(proto::MessageContextInfo {
            message_secret: Some(vec![0xaa]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let image_bytes = "0a017512016d1a0163220104280530063807420108".to_owned()
        + "4a0109"
        + "5a0164"
        + "600c"
        + "82010110";
    let image_len = image_bytes.len() / 2;
    let inner_bytes = format!("1a{image_len:02x}{image_bytes}");
    let dsm = format!("0a016a12{:02x}{inner_bytes}", inner_bytes.len() / 2);
    let want = format!("fa01{:02x}{dsm}9a0203{}", dsm.len() / 2, "1a01aa");
    assert_eq!(hex::encode(outer.encode_to_vec()), want);
}
