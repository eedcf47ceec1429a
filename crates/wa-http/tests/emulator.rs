//! End-to-end: the gateway over the real wa-client, against the in-process wa-emulator.
//! Link by QR with a simulated phone, send text and images (multipart, base64), read them in
//! the recipient's inbox, receive a message over SSE, log out to a new QR, and reopen the data
//! directory to find the sessions running again.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wa_client::store::SledDatabase;
use wa_emulator::{Emulator, EmulatorConfig};
use wa_http::GatewayOptions;
use wa_http::client_backend::{ClientSettings, WaClientConnector};

const PHONE: &str = "15550001111";
const FRIEND: &str = "15550002222";

/// A gateway over wa-client whose sessions connect to `emu`.
async fn gateway(dir: &Path, emu: &Emulator) -> (Harness, SledDatabase) {
    let db = SledDatabase::open(dir.join("wa.sled")).unwrap();
    let connector = Arc::new(WaClientConnector::new(
        db.clone(),
        ClientSettings {
            ws_url: Some(emu.ws_url()),
            root_public_key: Some(emu.root_public_key()),
            media_ca_pem: vec![emu.tls_cert_pem()],
            device_name: Some("wa-http test".into()),
        },
    ));
    (
        start_db(db.clone(), connector, GatewayOptions::default()).await,
        db,
    )
}

async fn wait_inbox(emu: &Emulator, phone: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let inbox = emu.phone(phone).inbox().await;
        if inbox.len() >= n {
            return inbox
                .iter()
                .map(|m| serde_json::to_value(m).unwrap())
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "inbox of {phone} has {} messages",
            inbox.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_send_receive_logout_and_restart_against_the_emulator() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(PHONE, "Ana").await.unwrap();
    emu.create_account(FRIEND, "Bruno").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (h, db) = gateway(dir.path(), &emu).await;

    assert_eq!(
        h.post("/api/sessions", json!({"name": "main"}))
            .await
            .status(),
        201
    );
    h.wait_status("main", "SCAN_QR_CODE").await;
    let qr = h
        .get("/api/sessions/main/qr?format=raw")
        .await
        .text()
        .await
        .unwrap();
    assert!(qr.split(',').count() >= 4, "QR text {qr}");
    let mut sse = Sse::new(h.get("/api/sessions/main/events").await);
    let device = emu.phone(PHONE).scan(&qr).await.unwrap();
    let v = h.wait_status("main", "WORKING").await;
    assert_eq!(v["me"]["jid"], device.as_str());
    sse.until(|e, d| e == "status" && d["data"]["status"] == "WORKING")
        .await;

    // Text.
    let r = h
        .post(
            "/api/sessions/main/messages/text",
            json!({"to": "+1 555 000 2222", "text": "hello Bruno"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["to"], format!("{FRIEND}@s.whatsapp.net"));
    let inbox = wait_inbox(&emu, FRIEND, 1).await;
    assert_eq!(inbox[0]["id"], sent["id"]);
    assert_eq!(inbox[0]["from"], format!("{PHONE}@s.whatsapp.net"));
    assert_eq!(inbox[0]["text"], "hello Bruno");

    // Image by multipart and by base64.
    let png = png();
    let form = reqwest::multipart::Form::new()
        .text("to", FRIEND)
        .text("caption", "a picture")
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("p.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let r = h
        .http
        .post(h.url("/api/sessions/main/messages/image"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let r = h
        .post(
            "/api/sessions/main/messages/image",
            json!({"to": FRIEND, "image": {"base64": b64, "mimetype": "image/png"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let inbox = wait_inbox(&emu, FRIEND, 3).await;
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&png))
    };
    assert_eq!(inbox[1]["type"], "image");
    assert_eq!(inbox[1]["caption"], "a picture");
    assert_eq!(inbox[1]["mimetype"], "image/png");
    assert_eq!(inbox[1]["sha256"], sha.as_str());
    assert_eq!(inbox[1]["size"], png.len() as u64);
    assert_eq!(inbox[2]["sha256"], sha.as_str());

    // Incoming message reaches SSE.
    emu.phone(FRIEND)
        .send_text(PHONE, "hi gateway")
        .await
        .unwrap();
    let m = sse.until(|e, _| e == "message").await;
    assert_eq!(m["data"]["text"], "hi gateway");
    assert_eq!(m["data"]["type"], "text");

    // Restart keeps the login.
    assert_eq!(
        h.post_empty("/api/sessions/main/restart").await.status(),
        200
    );
    h.wait_status("main", "WORKING").await;

    // Logout: the companion disappears from the phone and a new QR is shown.
    assert_eq!(
        h.post_empty("/api/sessions/main/logout").await.status(),
        200
    );
    h.wait_status("main", "SCAN_QR_CODE").await;
    let qr2 = h
        .get("/api/sessions/main/qr?format=raw")
        .await
        .text()
        .await
        .unwrap();
    assert_ne!(qr2, qr);
    let info = emu.phone(PHONE).info().await.unwrap();
    let info = serde_json::to_value(&info).unwrap();
    assert!(
        !info.to_string().contains(&device),
        "old companion still linked: {info}"
    );
    let device2 = emu.phone(PHONE).scan(&qr2).await.unwrap();
    assert_ne!(device2, device);
    h.wait_status("main", "WORKING").await;

    // A second, stopped session.
    h.post("/api/sessions", json!({"name": "spare", "start": false}))
        .await;

    // Reopen the data directory: the running session comes back WORKING with its keys.
    h.stop().await;
    drop(db);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (h, db) = gateway(dir.path(), &emu).await;
    let v = h.wait_status("main", "WORKING").await;
    assert_eq!(v["me"]["jid"], device2.as_str());
    assert_eq!(h.status_of("spare").await, "STOPPED");
    let r = h
        .post(
            "/api/sessions/main/messages/text",
            json!({"to": FRIEND, "text": "after restart"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let inbox = wait_inbox(&emu, FRIEND, 4).await;
    assert_eq!(inbox[3]["text"], "after restart");

    // The phone unlinks the companion: FAILED with the reason; "restart with a new QR" relinks.
    let device_no: u32 = device2
        .split('@')
        .next()
        .and_then(|u| u.split(':').nth(1))
        .and_then(|d| d.parse().ok())
        .unwrap();
    emu.phone(PHONE).unlink(device_no).await.unwrap();
    let v = h.wait_status("main", "FAILED").await;
    assert!(
        v["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("logged out"),
        "{v}"
    );
    assert!(v["me"].is_null());
    assert_eq!(
        h.post_empty("/api/sessions/main/logout").await.status(),
        200
    );
    h.wait_status("main", "SCAN_QR_CODE").await;
    let qr3 = h
        .get("/api/sessions/main/qr?format=raw")
        .await
        .text()
        .await
        .unwrap();
    emu.phone(PHONE).scan(&qr3).await.unwrap();
    h.wait_status("main", "WORKING").await;

    // Delete wipes the keys: the namespace is gone, the registry's stays.
    assert!(db.list_namespaces().unwrap().contains(&"main".to_string()));
    assert_eq!(h.delete("/api/sessions/main").await.status(), 204);
    let namespaces = db.list_namespaces().unwrap();
    assert!(!namespaces.contains(&"main".to_string()), "{namespaces:?}");
    assert!(namespaces.contains(&wa_http::REGISTRY_NAMESPACE.to_string()));
    h.stop().await;
}
