//! End-to-end protocol tests with a scripted companion: pairing, login, messaging both ways
//! (text and image), offline queueing, unlink, kick, faults and malformed input.

mod common;

use common::{Companion, Link};
use prost::Message as _;
use wa_emulator::{Emulator, EmulatorConfig};
use wa_proto::binary::{Jid, Node};
use wa_proto::proto;

const A: &str = "15550001111";
const B: &str = "15550002222";

async fn setup() -> Emulator {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(A, "Ana").await.unwrap();
    emu.create_account(B, "Bo").await.unwrap();
    emu
}

/// Pairs a new companion to account A and logs it in (prekeys uploaded, active).
async fn paired_companion(emu: &Emulator) -> (Companion, Link) {
    paired_companion_with(emu, 20).await
}

async fn paired_companion_with(emu: &Emulator, prekeys: u32) -> (Companion, Link) {
    pair(emu, A, prekeys, false).await
}

/// Pairs a new companion to `phone` (through the library, or the HTTP control API) and logs
/// it in with `prekeys` one-time prekeys, active.
async fn pair(emu: &Emulator, phone: &str, prekeys: u32, via_http: bool) -> (Companion, Link) {
    let mut c = Companion::new(&emu.ws_url(), emu.root_public_key());
    let (mut reg, qr, nrefs) = c.start_registration().await;
    assert_eq!(nrefs, 6);
    let scan = if via_http {
        let url = format!("{}/control/accounts/{phone}/scan", emu.control_url());
        tokio::spawn(async move {
            let resp = http_client()
                .post(url)
                .json(&serde_json::json!({ "qr": qr }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            let v: serde_json::Value = resp.json().await.unwrap();
            Ok(v["device_jid"].as_str().unwrap().to_owned())
        })
    } else {
        let p = emu.phone(phone);
        tokio::spawn(async move { p.scan(&qr).await })
    };
    let jid = c.complete_pairing(&mut reg).await;
    let device_jid: Result<String, wa_emulator::EmulatorError> = scan.await.unwrap();
    assert_eq!(
        device_jid.expect("scan succeeds"),
        format!("{phone}:{}@s.whatsapp.net", jid.device)
    );
    assert_eq!(jid.user, phone);
    let mut link = c.login().await.expect("login succeeds");
    let active = c.upload_prekeys_and_activate(&mut link, prekeys).await;
    assert_eq!(active.attr_str("type"), Some("result"));
    (c, link)
}

fn text(m: &proto::Message) -> Option<&str> {
    m.conversation
        .as_deref()
        .or_else(|| m.extended_text_message.as_ref()?.text.as_deref())
}

#[tokio::test]
async fn pairing_login_and_first_login_pushes() {
    let emu = setup().await;
    let (mut c, mut link) = paired_companion(&emu).await;

    // After the first login the phone shares an app-state key and a history-sync notification,
    // both Signal-encrypted (pkmsg from device 0), as peer messages.
    let mut got_key_share = false;
    let mut got_history = false;
    let mut got_offline_ib = false;
    while !(got_key_share && got_history && got_offline_ib) {
        let n = link.recv().await.expect("stanza");
        if n.tag == "ib" && n.get_child("offline").is_some() {
            got_offline_ib = true;
        }
        if n.tag == "message" {
            assert_eq!(n.attr_str("category"), Some("peer"));
            let from = n.attr_jid("from").unwrap();
            assert_eq!(from, Jid::pn(A));
            let m = c.decrypt(&format!("{A}:0"), n.get_child("enc").unwrap());
            let pm = m.protocol_message.expect("protocol message");
            if pm.app_state_sync_key_share.is_some() {
                got_key_share = true;
            }
            if let Some(h) = pm.history_sync_notification {
                // The blob is on the media host and decrypts with the History keys.
                assert!(h.direct_path.is_some());
                got_history = true;
            }
            link.send(
                &Node::new("receipt")
                    .attr("id", n.attr_str("id").unwrap().to_owned())
                    .attr("to", from)
                    .attr("type", "peer_msg"),
            )
            .await;
        }
    }

    // The account shows the companion as connected; pings and other iqs are answered.
    let st = emu.account(A).await.unwrap();
    assert_eq!(st.devices.len(), 2);
    assert!(st.devices[1].connected);
    assert_eq!(st.devices[1].platform, "scripted");
    let pong = link
        .iq(Node::new("iq").attr("xmlns", "w:p").attr("type", "get"))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
    assert!(pong.attr_u64("t").is_some());
    let count = link
        .iq(Node::new("iq")
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .child(Node::new("count")))
        .await;
    assert_eq!(
        count.get_child("count").unwrap().attr_str("value"),
        Some("20")
    );
    let digest = link
        .iq(Node::new("iq")
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .child(Node::new("digest")))
        .await;
    assert_eq!(
        digest
            .get_child_by_path(&["digest", "hash"])
            .and_then(Node::bytes_content)
            .map(<[u8]>::len),
        Some(20)
    );
    let sync = link
        .iq(Node::new("iq")
            .attr("xmlns", "w:sync:app:state")
            .attr("type", "set")
            .child(
                Node::new("sync").child(
                    Node::new("collection")
                        .attr("name", "regular")
                        .attr("version", "0"),
                ),
            ))
        .await;
    assert_eq!(
        sync.get_child_by_path(&["sync", "collection"])
            .and_then(|c| c.attr_str("name")),
        Some("regular")
    );
    let mc = link
        .iq(Node::new("iq")
            .attr("xmlns", "w:m")
            .attr("type", "set")
            .child(Node::new("media_conn")))
        .await;
    let mc = mc.get_child("media_conn").unwrap();
    assert_eq!(mc.attr_str("auth"), Some(emu.media_auth_token().as_str()));
    assert!(mc.get_child("host").unwrap().attr_str("hostname").is_some());

    // A second login of the same device replaces the first connection.
    let mut second = c.login().await.expect("second login");
    let err = link
        .recv_until("replaced", |n| n.tag == "stream:error")
        .await;
    assert_eq!(
        err.get_child("conflict").and_then(|c| c.attr_str("type")),
        Some("replaced")
    );
    let pong = second
        .iq(Node::new("iq").attr("xmlns", "w:p").attr("type", "get"))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
    drop(c.sessions.drain());
}

#[tokio::test]
async fn unknown_device_gets_failure_401() {
    let emu = setup().await;
    let mut c = Companion::new(&emu.ws_url(), emu.root_public_key());
    c.phone = Some(A.to_owned());
    c.device = 5;
    let failure = c.login().await.err().expect("refused");
    assert_eq!(failure.tag, "failure");
    assert_eq!(failure.attr_str("reason"), Some("401"));
}

#[tokio::test]
async fn bad_qr_is_rejected() {
    let emu = setup().await;
    let c = Companion::new(&emu.ws_url(), emu.root_public_key());
    let (_reg, qr, _) = c.start_registration().await;
    // Same ref, other keys: refused.
    let other = Companion::new(&emu.ws_url(), emu.root_public_key());
    let forged = qr.replace(
        &base64_std(c.noise.public.as_djb()),
        &base64_std(other.noise.public.as_djb()),
    );
    let err = emu.phone(A).scan(&forged).await.unwrap_err();
    assert_eq!(err.code(), "bad_qr");
    let err = emu.phone(A).scan("not,a,qr").await.unwrap_err();
    assert_eq!(err.code(), "bad_qr");
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn messages_both_ways_with_image_and_receipts() {
    let emu = setup().await;
    // Paired through the HTTP control API (the acceptance scenario).
    let (mut c, mut link) = pair(&emu, A, 20, true).await;

    // Phone B -> account A: the companion gets one <enc> for its device.
    let id = emu.phone(B).send_text(A, "hello from Bo").await.unwrap();
    let msg = link
        .recv_until("B's message", |n| {
            n.tag == "message" && n.attr_str("id") == Some(id.as_str())
        })
        .await;
    let from = msg.attr_jid("from").unwrap();
    assert_eq!(from, Jid::pn(B));
    assert_eq!(msg.attr_str("notify"), Some("Bo"));
    let m = c.decrypt(&format!("{B}:0"), msg.get_child("enc").unwrap());
    assert_eq!(text(&m), Some("hello from Bo"));
    link.send(&Node::new("receipt").attr("id", id.clone()).attr("to", from))
        .await;
    // Phone A also got it (device 0 of A is a recipient).
    let inbox_a = emu.phone(A).inbox().await;
    assert!(
        inbox_a
            .iter()
            .any(|m| m.id == id && m.text.as_deref() == Some("hello from Bo"))
    );

    // Companion of A -> B (text). The server acks with a timestamp; B's phone decrypts it.
    let ack = c
        .send_message(
            &mut link,
            B,
            &proto::Message {
                conversation: Some("hi Bo, from my laptop".into()),
                ..Default::default()
            },
            "3EB0AAAA0001",
        )
        .await;
    assert_eq!(ack.attr_str("class"), Some("message"));
    assert!(ack.attr_u64("t").is_some());
    assert!(ack.attr_str("error").is_none(), "{ack:?}");
    let inbox_b = emu.phone(B).inbox().await;
    let got = inbox_b
        .iter()
        .find(|m| m.id == "3EB0AAAA0001")
        .expect("B received");
    assert_eq!(got.from, format!("{A}@s.whatsapp.net"));
    assert_eq!(got.kind, "text");
    assert_eq!(got.text.as_deref(), Some("hi Bo, from my laptop"));
    // The DeviceSentMessage copy went to A's phone, which keeps it out of its inbox.
    assert!(
        !emu.phone(A)
            .inbox()
            .await
            .iter()
            .any(|m| m.id == "3EB0AAAA0001")
    );
    // B's phone sends a delivery receipt back to the companion.
    let r = link
        .recv_until("receipt", |n| {
            n.tag == "receipt" && n.attr_str("id") == Some("3EB0AAAA0001")
        })
        .await;
    assert_eq!(r.attr_jid("from"), Some(Jid::pn(B)));

    // An image: encrypt, upload over HTTPS with media_conn's auth, send; B verifies it.
    let plain: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let key = wa_proto::media::MediaKey::generate(&mut rand::rngs::OsRng);
    let enc = wa_proto::media::encrypt(&key, wa_proto::media::MediaType::Image, &plain);
    let mc = link
        .iq(Node::new("iq")
            .attr("xmlns", "w:m")
            .attr("type", "set")
            .child(Node::new("media_conn")))
        .await;
    let mc = mc.get_child("media_conn").unwrap();
    let host = mc
        .get_child("host")
        .unwrap()
        .attr_str("hostname")
        .unwrap()
        .to_owned();
    let auth = mc.attr_str("auth").unwrap().to_owned();
    let token = enc.info.upload_token();
    let tls = https_client(&emu.tls_cert_pem());
    let up: serde_json::Value = tls
        .post(format!(
            "https://{host}/mms/image/{token}?auth={auth}&token={token}"
        ))
        .body(enc.enc_file.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image = proto::Message {
        image_message: Some(Box::new(proto::ImageMessage {
            url: up["url"].as_str().map(str::to_owned),
            direct_path: up["direct_path"].as_str().map(str::to_owned),
            mimetype: Some("image/jpeg".into()),
            caption: Some("a picture".into()),
            media_key: Some(key.0.to_vec()),
            file_sha256: Some(enc.info.file_sha256.to_vec()),
            file_enc_sha256: Some(enc.info.file_enc_sha256.to_vec()),
            file_length: Some(plain.len() as u64),
            ..Default::default()
        })),
        ..Default::default()
    };
    let ack = c.send_message(&mut link, B, &image, "3EB0AAAA0002").await;
    assert!(ack.attr_str("error").is_none());
    let inbox_b = emu.phone(B).inbox().await;
    let got = inbox_b
        .iter()
        .find(|m| m.id == "3EB0AAAA0002")
        .expect("image received");
    assert_eq!(got.kind, "image");
    assert_eq!(got.caption.as_deref(), Some("a picture"));
    assert_eq!(got.mimetype.as_deref(), Some("image/jpeg"));
    assert_eq!(got.size, Some(plain.len() as u64));
    use sha2::Digest as _;
    assert_eq!(
        got.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&plain)).as_str())
    );

    // Over HTTP the inbox has the same JSON shape.
    let v: serde_json::Value = http_client()
        .get(format!("{}/control/accounts/{B}/inbox", emu.control_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let img = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "3EB0AAAA0002")
        .unwrap();
    assert_eq!(img["type"], "image");
    assert_eq!(img["from"], format!("{A}@s.whatsapp.net"));
}

#[tokio::test]
async fn offline_queue_is_delivered_on_reconnect() {
    let emu = setup().await;
    let (mut c, link) = paired_companion(&emu).await;
    drop(link);
    // Wait until the server saw the disconnect.
    for _ in 0..100 {
        if !emu.account(A).await.unwrap().devices[1].connected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let id = emu
        .phone(B)
        .send_text(A, "while you were away")
        .await
        .unwrap();
    assert!(emu.account(A).await.unwrap().devices[1].queued >= 1);

    let mut link = c.login().await.expect("relogin");
    link.send(
        &Node::new("iq")
            .attr("xmlns", "passive")
            .attr("type", "set")
            .attr("id", "act1")
            .attr("to", Jid::server())
            .child(Node::new("active")),
    )
    .await;
    let mut got = None;
    let mut offline_count = None;
    while offline_count.is_none() {
        let n = link.recv().await.expect("stanza");
        if n.tag == "message" && n.attr_str("id") == Some(id.as_str()) {
            assert!(n.has_attr("offline"));
            got = Some(n);
        } else if n.tag == "ib" {
            offline_count = n.get_child("offline").and_then(|o| o.attr_u64("count"));
        }
    }
    let msg = got.expect("queued message delivered before <ib><offline>");
    assert!(offline_count.unwrap() >= 1);
    let m = c.decrypt(&format!("{B}:0"), msg.get_child("enc").unwrap());
    assert_eq!(text(&m), Some("while you were away"));
    // Acknowledged by the delivery receipt: the queue empties.
    link.send(&Node::new("receipt").attr("id", id).attr("to", Jid::pn(B)))
        .await;
    link.recv_until("receipt ack", |n| n.tag == "ack").await;
    // Other stanzas (first-login pushes) may still be queued until acked; ours is gone.
    let st = emu.account(A).await.unwrap();
    assert!(st.devices[1].queued < 3);
}

#[tokio::test]
async fn unlink_kick_and_drop() {
    let emu = setup().await;
    let (c, mut link) = paired_companion(&emu).await;

    // Kick with 503: a stream error with that code, then the socket closes.
    emu.phone(A).kick(c.device, 503).await.unwrap();
    let e = link
        .recv_until("stream:error", |n| n.tag == "stream:error")
        .await;
    assert_eq!(e.attr_str("code"), Some("503"));
    assert!(link.closed().await);

    // Fault injection: every connection dropped.
    let mut link = c.login().await.expect("login after kick");
    assert!(emu.drop_connections().await >= 1);
    assert!(link.closed().await);

    // Unlink: the logged-out stream error, and later logins fail with 401.
    let mut link = c.login().await.expect("login after drop");
    emu.phone(A).unlink(c.device).await.unwrap();
    let e = link
        .recv_until("stream:error", |n| n.tag == "stream:error")
        .await;
    assert_eq!(e.attr_str("code"), Some("401"));
    assert_eq!(
        e.get_child("conflict").and_then(|c| c.attr_str("type")),
        Some("device_removed")
    );
    let failure = c.login().await.err().expect("refused after unlink");
    assert_eq!(failure.attr_str("reason"), Some("401"));
    assert_eq!(emu.account(A).await.unwrap().devices.len(), 1);
}

#[tokio::test]
async fn device_list_notification_on_link() {
    let emu = setup().await;
    let (_c1, mut link1) = paired_companion(&emu).await;
    let (_c2, _link2) = paired_companion(&emu).await;
    let n = link1
        .recv_until("devices notification", |n| {
            n.tag == "notification" && n.attr_str("type") == Some("devices")
        })
        .await;
    let dev = n.get_child_by_path(&["add", "device"]).expect("add/device");
    assert_eq!(dev.attr_jid("jid").map(|j| j.device), Some(2));
    // usync now lists both companions with key indexes, plus the key-index list.
    let resp = link1
        .iq(Node::new("iq")
            .attr("xmlns", "usync")
            .attr("type", "get")
            .child(
                Node::new("usync")
                    .attr("sid", "x")
                    .attr("mode", "query")
                    .attr("context", "message")
                    .children([
                        Node::new("query").children([
                            Node::new("devices").attr("version", "2"),
                            Node::new("lid"),
                        ]),
                        Node::new("list").child(Node::new("user").attr("jid", Jid::pn(A))),
                    ]),
            ))
        .await;
    let user = resp.get_child_by_path(&["usync", "list", "user"]).unwrap();
    let ids: Vec<String> = user
        .get_child_by_path(&["devices", "device-list"])
        .unwrap()
        .children_by_tag("device")
        .map(|d| d.attr_str("id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["0", "1", "2"]);
    let kil = user
        .get_child_by_path(&["devices", "key-index-list"])
        .and_then(Node::bytes_content)
        .unwrap();
    let signed = proto::AdvSignedKeyIndexList::decode(kil).unwrap();
    let details = proto::AdvKeyIndexList::decode(signed.details.as_deref().unwrap()).unwrap();
    assert_eq!(details.valid_indexes.len(), 2);
    let lid = user
        .get_child("lid")
        .and_then(|l| l.attr_jid("val"))
        .unwrap();
    assert_eq!(format!("{lid}"), emu.account(A).await.unwrap().lid);
}

#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    let emu = setup().await;
    let (_c, mut good) = paired_companion(&emu).await;

    // Garbage instead of a handshake.
    let (mut ws, _) = tokio_tungstenite::connect_async(emu.ws_url())
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        b"GET / HTTP/1.1 garbage garbage".to_vec().into(),
    ))
    .await
    .unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => break f,
                None | Some(Err(_)) => break None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("garbage connection is closed");
    // Closed with "protocol error" and a reason.
    let frame = closed.expect("close frame");
    assert_eq!(u16::from(frame.code), 1002);
    assert!(!frame.reason.is_empty());

    // A logged-in companion that sends a frame that does not decrypt, and one that decrypts
    // to a malformed node: each is closed.
    let (c2, _) = (Companion::new(&emu.ws_url(), emu.root_public_key()), ());
    let (mut reg, _qr, _) = c2.start_registration().await;
    reg.send_raw_frame(b"\x00\x01\x02 not encrypted").await;
    assert!(reg.closed().await);
    let (mut reg2, _qr, _) = c2.start_registration().await;
    reg2.send_encrypted_raw(&[0x00, 0xf8, 0x05, 0xff]).await;
    assert!(reg2.closed().await);

    // The good connection is undisturbed.
    let pong = good
        .iq(Node::new("iq").attr("xmlns", "w:p").attr("type", "get"))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
}

#[allow(deprecated)]
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[allow(deprecated)]
fn https_client(pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .build()
        .unwrap()
}

#[tokio::test]
async fn retry_receipt_makes_the_phone_resend_and_low_prekeys_are_announced() {
    let emu = setup().await;
    let (mut c, mut link) = paired_companion_with(&emu, 5).await;
    let id = emu.phone(B).send_text(A, "first try").await.unwrap();
    let msg = link
        .recv_until("message", |n| {
            n.tag == "message" && n.attr_str("id") == Some(id.as_str())
        })
        .await;
    assert_eq!(
        msg.get_child("enc").unwrap().attr_str("type"),
        Some("pkmsg")
    );
    // One of the 5 prekeys was handed out: the server asks for more.
    let low = link
        .recv_until("encrypt notification", |n| {
            n.tag == "notification" && n.attr_str("type") == Some("encrypt")
        })
        .await;
    assert_eq!(
        low.get_child("count").and_then(|c| c.attr_str("value")),
        Some("4")
    );
    assert_eq!(low.attr_jid("from"), Some(Jid::server()));

    // Pretend decryption failed: a retry receipt makes the phone start over and resend.
    link.send(
        &Node::new("receipt")
            .attr("id", id.clone())
            .attr("to", Jid::pn(B))
            .attr("type", "retry")
            .child(
                Node::new("retry")
                    .attr("count", "1")
                    .attr("id", id.clone())
                    .attr("v", "1"),
            ),
    )
    .await;
    let again = link
        .recv_until("resent message", |n| {
            n.tag == "message" && n.attr_str("id") == Some(id.as_str())
        })
        .await;
    let enc = again.get_child("enc").unwrap();
    assert_eq!(enc.attr_str("count"), Some("1"));
    assert_eq!(enc.attr_str("type"), Some("pkmsg"));
    c.sessions.remove(&format!("{B}:0"));
    let m = c.decrypt(&format!("{B}:0"), enc);
    assert_eq!(text(&m), Some("first try"));
}

#[tokio::test]
async fn restarted_emulator_keeps_accounts_devices_and_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig::default().with_state_dir(dir.path());
    let emu = Emulator::start(config.clone()).await.unwrap();
    emu.create_account(A, "Ana").await.unwrap();
    emu.create_account(B, "Bo").await.unwrap();
    let (mut c, link) = paired_companion(&emu).await;
    let root = emu.root_public_key();
    drop(link);
    emu.shutdown().await;

    let emu = Emulator::start(config).await.unwrap();
    assert_eq!(emu.root_public_key(), root);
    assert_eq!(emu.account(A).await.unwrap().devices.len(), 2);
    c.ws_url = emu.ws_url();
    let mut link = c.login().await.expect("login after restart");
    // The phone's Signal state survived too: its next message decrypts on the companion.
    let id = emu.phone(B).send_text(A, "after restart").await.unwrap();
    let msg = link
        .recv_until("message", |n| {
            n.tag == "message" && n.attr_str("id") == Some(id.as_str())
        })
        .await;
    let m = c.decrypt(&format!("{B}:0"), msg.get_child("enc").unwrap());
    assert_eq!(text(&m), Some("after restart"));
}

#[tokio::test]
async fn usync_contact_query_answers_in_and_out() {
    let emu = setup().await;
    let (_c, mut link) = paired_companion(&emu).await;
    let resp = link
        .iq(Node::new("iq")
            .attr("xmlns", "usync")
            .attr("type", "get")
            .child(
                Node::new("usync")
                    .attr("sid", "c")
                    .attr("mode", "query")
                    .attr("context", "interactive")
                    .children([
                        Node::new("query").child(Node::new("contact")),
                        Node::new("list").children([
                            Node::new("user").child(Node::new("contact").text(format!("+{B}"))),
                            Node::new("user").child(Node::new("contact").text("+19990001234")),
                        ]),
                    ]),
            ))
        .await;
    let users: Vec<&Node> = resp
        .get_child_by_path(&["usync", "list"])
        .unwrap()
        .children_by_tag("user")
        .collect();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].attr_jid("jid"), Some(Jid::pn(B)));
    let c0 = users[0].get_child("contact").unwrap();
    assert_eq!(c0.attr_str("type"), Some("in"));
    assert_eq!(c0.bytes_content(), Some(format!("+{B}").as_bytes()));
    assert_eq!(
        users[1].get_child("contact").unwrap().attr_str("type"),
        Some("out")
    );
}

#[tokio::test]
async fn pairing_with_a_phone_number_link_code() {
    let emu = setup().await;
    let mut c = Companion::new(&emu.ws_url(), emu.root_public_key());
    let phone = emu.phone(A);
    let (jid, entered) = c
        .pair_with_code(A, "ABCD2345", move || async move {
            phone.enter_link_code("abcd-2345").await
        })
        .await;
    assert_eq!(
        entered.expect("code accepted"),
        format!("{A}:{}@s.whatsapp.net", jid.device)
    );
    let link = c.login().await.expect("login after link-code pairing");
    drop(link);
    // No companion waiting: entering a code fails cleanly.
    let err = emu.phone(A).enter_link_code("ABCD2345").await.unwrap_err();
    assert_eq!(err.code(), "bad_qr");
    let err = emu.phone(A).enter_link_code("short").await.unwrap_err();
    assert_eq!(err.code(), "invalid_request");
}

#[tokio::test]
async fn noise_ik_resume_gets_xx_fallback_and_logs_in() {
    let emu = setup().await;
    let (c, link) = paired_companion(&emu).await;
    let server_static = link.server_static;
    drop(link);
    let mut link = Link::connect_ik(
        &emu.ws_url(),
        emu.root_public_key(),
        &c.noise,
        server_static,
        &c.login_payload(),
    )
    .await;
    let first = link.recv().await.expect("success");
    assert_eq!(first.tag, "success", "{first:?}");
    let pong = link
        .iq(Node::new("iq").attr("xmlns", "w:p").attr("type", "get"))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
}

#[tokio::test]
async fn device_changes_are_announced_to_contacts_and_pairing_works_over_http() {
    let emu = setup().await;
    let (_ca, _link_a) = pair(&emu, A, 10, true).await;
    let (_cb, mut link_b) = pair(&emu, B, 10, true).await;
    // A and B become contacts.
    emu.phone(A).send_text(B, "hi B").await.unwrap();
    // A links another companion: B's companion hears about it.
    let (_ca2, _link_a2) = pair(&emu, A, 10, true).await;
    let n = link_b
        .recv_until("A's device notification", |n| {
            n.tag == "notification"
                && n.attr_str("type") == Some("devices")
                && n.attr_jid("from") == Some(Jid::pn(A))
        })
        .await;
    assert_eq!(
        n.get_child_by_path(&["add", "device"])
            .and_then(|d| d.attr_jid("jid"))
            .map(|j| j.device),
        Some(2)
    );
}

#[tokio::test]
async fn random_input_smoke_test() {
    use futures_util::SinkExt;
    use rand::{Rng, RngCore};
    let emu = setup().await;
    let (_c, mut good) = paired_companion(&emu).await;
    let mut rng = rand::rngs::OsRng;
    // Random bytes as the very first message (intro/handshake), many connections.
    for _ in 0..40 {
        let (mut ws, _) = tokio_tungstenite::connect_async(emu.ws_url())
            .await
            .unwrap();
        let mut junk = vec![0u8; rng.gen_range(0..300)];
        rng.fill_bytes(&mut junk);
        if rng.gen_bool(0.5) && junk.len() > 4 {
            junk[..4].copy_from_slice(&[b'W', b'A', 6, 3]); // valid intro, random frame
        }
        let _ = ws
            .send(tokio_tungstenite::tungstenite::Message::Binary(junk.into()))
            .await;
    }
    // Random well-encrypted node bytes after a real handshake.
    let c2 = Companion::new(&emu.ws_url(), emu.root_public_key());
    for _ in 0..20 {
        let (mut reg, _qr, _) = c2.start_registration().await;
        let mut junk = vec![0u8; rng.gen_range(1..200)];
        rng.fill_bytes(&mut junk);
        junk[0] &= 0x02; // flags byte: plain or "compressed"
        reg.send_encrypted_raw(&junk).await;
    }
    // The paired companion is undisturbed.
    let pong = good
        .iq(Node::new("iq").attr("xmlns", "w:p").attr("type", "get"))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
    assert!(emu.account(A).await.unwrap().devices[1].connected);
}

/// Persist, then acknowledge: once the server acks a message, the receiving phone's advanced
/// ratchet and its inbox entry are on disk (a crash right after the ack loses nothing).
#[tokio::test]
async fn message_to_a_phone_is_on_disk_before_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig::default().with_state_dir(dir.path());
    let emu = Emulator::start(config).await.unwrap();
    emu.create_account(A, "Ana").await.unwrap();
    emu.create_account(B, "Bo").await.unwrap();
    let (mut c, mut link) = paired_companion(&emu).await;
    for i in 0..3 {
        let id = format!("3EB0D15C0000{i}");
        let ack = c
            .send_message(
                &mut link,
                B,
                &proto::Message {
                    conversation: Some(format!("durable {i}")),
                    ..Default::default()
                },
                &id,
            )
            .await;
        assert!(ack.attr_str("error").is_none(), "{ack:?}");
        // Read the snapshot right after the ack, before any periodic flush.
        let snap = std::fs::read_to_string(dir.path().join("emulator-state.json")).unwrap();
        assert!(
            snap.contains(&id),
            "message {id} was acked but is not in the snapshot"
        );
    }
}

/// A device cannot grow its stored one-time prekeys without bound (ids are peer-chosen u32s):
/// uploads beyond the cap keep only the newest keys.
#[tokio::test]
async fn prekey_uploads_are_capped_per_device() {
    let emu = setup().await;
    let (_c, mut link) = paired_companion(&emu).await;
    for chunk in 0..3u32 {
        let list: Vec<Node> = (0..2_000u32)
            .map(|i| {
                let id = 1_000 + chunk * 2_000 + i;
                Node::new("key").children([
                    Node::new("id").bytes(id.to_be_bytes()[1..].to_vec()),
                    Node::new("value").bytes(vec![7u8; 32]),
                ])
            })
            .collect();
        let up = link
            .iq(Node::new("iq")
                .attr("xmlns", "encrypt")
                .attr("type", "set")
                .child(Node::new("list").children(list)))
            .await;
        assert_eq!(up.attr_str("type"), Some("result"), "{up:?}");
    }
    let count = link
        .iq(Node::new("iq")
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .child(Node::new("count")))
        .await;
    let n: usize = count
        .get_child("count")
        .and_then(|c| c.attr_str("value"))
        .and_then(|v| v.parse().ok())
        .expect("count value");
    assert!(n <= 5_000, "{n} prekeys stored for one device");
    assert!(n >= 4_000, "the newest uploads are kept ({n})");
}

/// An offline device's queue is bounded in bytes, not only in stanzas: large messages sent
/// to a device that never comes back cannot exhaust the server's memory.
#[tokio::test]
async fn offline_queue_is_bounded_in_bytes() {
    let emu = setup().await;
    let (_c, link) = paired_companion(&emu).await;
    drop(link);
    // Wait until the server saw the companion go away.
    for _ in 0..100 {
        if !emu.account(A).await.unwrap().devices[1].connected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let big = "x".repeat(1024 * 1024);
    for _ in 0..20 {
        emu.phone(B).send_text(A, &big).await.unwrap();
    }
    let queued = emu.account(A).await.unwrap().devices[1].queued;
    assert!(queued > 0);
    assert!(
        queued < 20,
        "{queued} one-MiB stanzas kept for an offline device"
    );
}

/// A phone's inbox is bounded in bytes, not only in messages.
#[tokio::test]
async fn phone_inbox_is_bounded_in_bytes() {
    let emu = setup().await;
    let big = "y".repeat(1024 * 1024);
    for _ in 0..20 {
        emu.phone(B).send_text(A, &big).await.unwrap();
    }
    let inbox = emu.phone(A).inbox().await;
    assert!(!inbox.is_empty());
    assert!(
        inbox.len() < 20,
        "{} one-MiB texts kept in one inbox",
        inbox.len()
    );
    // The newest message is always kept.
    emu.phone(B).send_text(A, "small").await.unwrap();
    let inbox = emu.phone(A).inbox().await;
    assert_eq!(inbox.last().unwrap().text.as_deref(), Some("small"));
}

/// Message ids are remembered (to route receipts back), so an overlong one is refused with an
/// error ack instead of being stored.
#[tokio::test]
async fn overlong_message_id_is_refused() {
    let emu = setup().await;
    let (mut c, mut link) = paired_companion(&emu).await;
    let id = "3EB0".repeat(100_000);
    let ack = c
        .send_message(
            &mut link,
            B,
            &proto::Message {
                conversation: Some("long id".into()),
                ..Default::default()
            },
            &id,
        )
        .await;
    assert_eq!(ack.attr_str("error"), Some("400"));
    assert!(emu.phone(B).inbox().await.is_empty());
    // The connection still works.
    let pong = link
        .iq(Node::new("iq").attr("xmlns", "w:p").attr("type", "get"))
        .await;
    assert_eq!(pong.attr_str("type"), Some("result"));
}
