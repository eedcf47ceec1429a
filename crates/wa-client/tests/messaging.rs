//! Messaging end to end against wa-emulator (real WebSocket + Noise + binary protocol + Signal):
//! text both ways with a simulated phone and between two of our clients, DeviceSentMessage to
//! our second companion, images verified by the phone, offline delivery, and session repair
//! through retry receipts.

use std::sync::Arc;
use std::time::Duration;

use sha2::Digest;
use wa_client::store::{MemoryStore, Store};
use wa_client::{
    Client, ClientConfig, Event, Events, ImageInput, MediaInput, MediaKind, MessageEvent, Timeouts,
};
use wa_emulator::{Emulator, EmulatorConfig, InboxMessage};

const T: Duration = Duration::from_secs(20);
const ANA: &str = "15550001111";
const BEN: &str = "15550002222";

fn config(emu: &Emulator) -> ClientConfig {
    ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_public_key())
        .media_ca_pem(emu.tls_cert_pem())
        .device_name("wa-rs messaging test")
        .timeouts(Timeouts {
            reconnect_initial: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(300),
            ..Timeouts::default()
        })
        .build()
        .unwrap()
}

async fn wait_for(events: &mut Events, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} in time"))
            .expect("events closed");
        if pred(&e) {
            return e;
        }
    }
}

/// A client paired to `phone`'s account and connected.
async fn paired(emu: &Emulator, phone: &str) -> (Client, Events, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let (client, mut events) = Client::new(config(emu), store.clone());
    client.connect().await.expect("connect");
    let Event::Qr { code, .. } =
        wait_for(&mut events, "qr", |e| matches!(e, Event::Qr { .. })).await
    else {
        unreachable!()
    };
    emu.phone(phone).scan(&code).await.expect("scan");
    wait_for(&mut events, "connected", |e| matches!(e, Event::Connected)).await;
    (client, events, store)
}

async fn next_message(events: &mut Events, pred: impl Fn(&MessageEvent) -> bool) -> MessageEvent {
    let Event::Message(m) = wait_for(events, "message", |e| match e {
        Event::Message(m) => pred(m),
        _ => false,
    })
    .await
    else {
        unreachable!()
    };
    *m
}

async fn inbox_until(
    emu: &Emulator,
    phone: &str,
    pred: impl Fn(&InboxMessage) -> bool,
) -> InboxMessage {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if let Some(m) = emu.phone(phone).inbox().await.into_iter().find(&pred) {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "inbox never matched"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

async fn emulator() -> Emulator {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(ANA, "Ana").await.unwrap();
    emu.create_account(BEN, "Ben").await.unwrap();
    emu
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_image_with_a_phone() {
    let emu = emulator().await;
    let (client, mut events, _store) = paired(&emu, ANA).await;

    // Our client -> Ben's phone, addressed the way people type numbers.
    let sent = client
        .send_text("+1 555 000-2222", "hello ben")
        .await
        .unwrap();
    assert!(sent.id.starts_with("3EB0") && sent.id.len() == 22);
    assert_eq!(sent.to.to_string(), "15550002222@s.whatsapp.net");
    assert!(sent.timestamp > 0);
    let got = inbox_until(&emu, BEN, |m| m.id == sent.id).await;
    assert_eq!(got.kind, "text");
    assert_eq!(got.text.as_deref(), Some("hello ben"));
    assert_eq!(got.from, "15550001111@s.whatsapp.net");

    // A second message reuses the session (msg, not pkmsg) and still decrypts.
    let again = client.send_text(BEN, "second").await.unwrap();
    inbox_until(&emu, BEN, |m| {
        m.id == again.id && m.text.as_deref() == Some("second")
    })
    .await;

    // The phone's delivery receipt comes back as an event.
    wait_for(
        &mut events,
        "receipt",
        |e| matches!(e, Event::Receipt(r) if r.ids.contains(&again.id) && r.kind == "delivered"),
    )
    .await;

    // Ben's phone -> our client.
    let id = emu.phone(BEN).send_text(ANA, "hi ana").await.unwrap();
    let m = next_message(&mut events, |m| m.id == id).await;
    assert_eq!(m.text.as_deref(), Some("hi ana"));
    assert_eq!(m.chat.to_string(), "15550002222@s.whatsapp.net");
    assert_eq!(m.sender.user, BEN);
    assert!(!m.from_me);
    assert_eq!(m.push_name.as_deref(), Some("Ben"));

    // An image: uploaded over HTTPS to the media host, downloaded and verified by the phone.
    let bytes = png(320, 200);
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let sent = client
        .send_image(
            BEN,
            ImageInput {
                bytes: bytes.clone(),
                mimetype: "image/png".into(),
                caption: Some("a picture".into()),
            },
        )
        .await
        .unwrap();
    let got = inbox_until(&emu, BEN, |m| m.id == sent.id).await;
    assert_eq!(got.kind, "image");
    assert_eq!(got.caption.as_deref(), Some("a picture"));
    assert_eq!(got.mimetype.as_deref(), Some("image/png"));
    assert_eq!(
        got.sha256.as_deref(),
        Some(sha.as_str()),
        "phone verified the media"
    );
    assert_eq!(got.size, Some(bytes.len() as u64));

    // A document goes through the same media path.
    let doc = b"%PDF-1.4 not really a pdf".repeat(100);
    let sent = client
        .send_media(
            BEN,
            MediaInput {
                kind: MediaKind::Document,
                bytes: doc.clone(),
                mimetype: "application/pdf".into(),
                caption: Some("the doc".into()),
                file_name: Some("doc.pdf".into()),
                seconds: None,
                ptt: false,
            },
        )
        .await
        .unwrap();
    let got = inbox_until(&emu, BEN, |m| m.id == sent.id).await;
    assert_eq!(got.kind, "document");
    assert_eq!(
        got.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&doc)).as_str())
    );

    // A large file streamed from disk (constant memory), verified by the phone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let video: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &video).unwrap();
    let sent = client
        .send_media_file(
            BEN,
            MediaKind::Video,
            &path,
            "video/mp4",
            Some("clip".into()),
        )
        .await
        .unwrap();
    let got = inbox_until(&emu, BEN, |m| m.id == sent.id).await;
    assert_eq!(got.kind, "video");
    assert_eq!(got.caption.as_deref(), Some("clip"));
    assert_eq!(
        got.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&video)).as_str())
    );

    // A number nobody uses: no device to encrypt to, an error rather than a hang.
    assert!(matches!(
        client.send_text("15559990000", "anyone?").await,
        Err(wa_client::ClientError::NoDevices(_))
    ));

    // Bad addresses are typed errors, nothing is sent.
    assert!(matches!(
        client.send_text("12ab", "x").await,
        Err(wa_client::ClientError::Address(_))
    ));
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_companion_copy_offline_and_media_download() {
    let emu = emulator().await;
    let (ana, mut ana_ev, _s1) = paired(&emu, ANA).await;
    let (ana2, mut ana2_ev, _s2) = paired(&emu, ANA).await;
    let (ben, mut ben_ev, _s3) = paired(&emu, BEN).await;

    // Ana -> Ben (client to client), Ana's second companion gets the DeviceSentMessage copy.
    let sent = ana.send_text(BEN, "hello from ana").await.unwrap();
    let m = next_message(&mut ben_ev, |m| m.id == sent.id).await;
    assert_eq!(m.text.as_deref(), Some("hello from ana"));
    assert_eq!(m.chat.user, ANA);
    assert!(!m.from_me);
    let copy = next_message(&mut ana2_ev, |m| m.id == sent.id).await;
    assert!(copy.from_me);
    assert_eq!(copy.chat.to_string(), "15550002222@s.whatsapp.net");
    assert_eq!(copy.text.as_deref(), Some("hello from ana"));
    inbox_until(&emu, BEN, |i| i.id == sent.id).await;

    // Ben -> Ana: both of Ana's companions receive it.
    let reply = ben.send_text(ANA, "hello ana").await.unwrap();
    let mut seen = None;
    for ev in [&mut ana_ev, &mut ana2_ev] {
        let m = next_message(ev, |m| m.id == reply.id).await;
        assert_eq!(m.text.as_deref(), Some("hello ana"));
        seen = Some(m);
    }
    // Ana reads it: Ben's client gets the read receipt.
    let seen = seen.unwrap();
    ana.mark_read(&seen.chat, &seen.sender, std::slice::from_ref(&seen.id))
        .await
        .unwrap();
    wait_for(
        &mut ben_ev,
        "read receipt",
        |e| matches!(e, Event::Receipt(r) if r.ids.contains(&reply.id) && r.kind == "read"),
    )
    .await;
    // Ben's own phone gets Ben's message as a DeviceSentMessage (not an inbox entry), Ana's
    // phone gets it in its inbox.
    inbox_until(&emu, ANA, |i| i.id == reply.id).await;

    // An image between our clients: the receiver downloads and verifies it.
    let bytes = png(64, 48);
    let sent = ana
        .send_image(
            BEN,
            ImageInput {
                bytes: bytes.clone(),
                mimetype: "image/png".into(),
                caption: Some("cap".into()),
            },
        )
        .await
        .unwrap();
    let m = next_message(&mut ben_ev, |m| m.id == sent.id).await;
    let media = m.media.expect("media");
    assert_eq!(media.kind, MediaKind::Image);
    assert_eq!(media.caption.as_deref(), Some("cap"));
    assert_eq!((media.width, media.height), (Some(64), Some(48)));
    assert!(media.jpeg_thumbnail.is_some());
    assert_eq!(ben.download_media(&media).await.unwrap(), bytes);
    let mut tampered = media.clone();
    tampered.media_key[0] ^= 1;
    assert!(
        ben.download_media(&tampered).await.is_err(),
        "MAC is checked"
    );

    // Offline: Ben's client is away while Ana writes; it gets the message on reconnect.
    ben.disconnect().await;
    let sent = ana.send_text(BEN, "while you were away").await.unwrap();
    ben.connect().await.unwrap();
    let m = next_message(&mut ben_ev, |m| m.id == sent.id).await;
    assert_eq!(m.text.as_deref(), Some("while you were away"));

    for c in [ana, ana2, ben] {
        c.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_or_corrupted_session_is_repaired_by_retry_receipts() {
    let emu = emulator().await;
    let (ana, _ana_ev, _s1) = paired(&emu, ANA).await;
    let (ben, mut ben_ev, ben_store) = paired(&emu, BEN).await;
    let ana_dev = ana.me().unwrap().jid;
    let addr = format!("{}.{}", ana_dev.user, ana_dev.device);

    let first = ana.send_text(BEN, "one").await.unwrap();
    next_message(&mut ben_ev, |m| m.id == first.id).await;
    let back = ben.send_text(ANA, "ack").await.unwrap();
    assert!(!back.id.is_empty());
    // Ana's session is now acknowledged: she sends `msg`, which needs Ben's session.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(ben_store.load_session(&addr).unwrap().is_some());

    // 1. Ben loses the session: the `msg` fails, Ben sends a retry receipt with his keys,
    //    Ana builds a fresh session from them and resends; Ben gets the message.
    ben_store.delete_session(&addr).unwrap();
    let prekeys_before = ben_store.next_prekey_id().unwrap();
    let lost = ana.send_text(BEN, "after loss").await.unwrap();
    let m = next_message(&mut ben_ev, |m| m.id == lost.id).await;
    assert_eq!(m.text.as_deref(), Some("after loss"));
    assert!(
        ben_store.next_prekey_id().unwrap() > prekeys_before,
        "the retry receipt carried a fresh one-time prekey"
    );
    assert!(ben_store.load_session(&addr).unwrap().is_some());

    // 2. Ben's stored record is corrupted: same repair.
    ben_store
        .save_session(&addr, b"\x01garbage record")
        .unwrap();
    let prekeys_before = ben_store.next_prekey_id().unwrap();
    let bad = ana.send_text(BEN, "after corruption").await.unwrap();
    let m = next_message(&mut ben_ev, |m| m.id == bad.id).await;
    assert_eq!(m.text.as_deref(), Some("after corruption"));
    assert!(ben_store.next_prekey_id().unwrap() > prekeys_before);

    // And the repaired session keeps working in both directions.
    let next = ana.send_text(BEN, "normal again").await.unwrap();
    next_message(&mut ben_ev, |m| m.id == next.id).await;
    // Delivered plaintexts are not kept (dropped right after the event is handed over).
    let deadline = tokio::time::Instant::now() + T;
    while !ben_store.scan_prefix("msgbuf/").unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "plaintext buffer kept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ana.disconnect().await;
    ben.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecryptable_message_from_a_phone_is_resent_after_our_retry_receipt() {
    let emu = emulator().await;
    let (ana, mut ev, store) = paired(&emu, ANA).await;
    // Establish the session both ways so that the phone sends `msg`, not `pkmsg`.
    let s = ana.send_text(BEN, "hi").await.unwrap();
    inbox_until(&emu, BEN, |m| m.id == s.id).await;
    let id = emu.phone(BEN).send_text(ANA, "first").await.unwrap();
    next_message(&mut ev, |m| m.id == id).await;

    // We lose the session with Ben's phone: its next `msg` cannot be decrypted, we answer with
    // a retry receipt, the phone starts a fresh session and resends (enc count=1).
    let addr = format!("{BEN}.0");
    assert!(store.load_session(&addr).unwrap().is_some());
    store.delete_session(&addr).unwrap();
    let id = emu.phone(BEN).send_text(ANA, "second").await.unwrap();
    let m = next_message(&mut ev, |m| m.id == id).await;
    assert_eq!(m.text.as_deref(), Some("second"));
    assert!(store.load_session(&addr).unwrap().is_some());
    ana.disconnect().await;
}
