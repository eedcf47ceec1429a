//! Interop check: the real whatsapp-rust 0.7.0 client against wa-emulator.
//!
//! Env: WS_URL, CONTROL_URL, ME, PEER, DB (sqlite path). The control API is driven with `curl`.
//! Exits 0 when every step passed, 1 on the first failure (bounded by TIMEOUT_SECS, default 110).

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust_tokio_transport::TokioWebSocketTransportFactory;
use whatsapp_rust_ureq_http_client::UreqHttpClient;

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| fail(&format!("missing env {k}")))
}

fn fail(msg: &str) -> ! {
    eprintln!("FAIL: {msg}");
    std::process::exit(1)
}

fn log(msg: &str) {
    println!("{msg}");
}

/// One control-API call through curl; returns the response body (fails on an HTTP error).
fn control(method: &str, url: &str, body: Option<&str>) -> String {
    let mut c = Command::new("curl");
    c.args(["-fsS", "-X", method, url]);
    if let Some(b) = body {
        c.args(["-H", "content-type: application/json", "-d", b]);
    }
    let out = c.output().unwrap_or_else(|e| fail(&format!("curl: {e}")));
    if !out.status.success() {
        fail(&format!(
            "{method} {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_str(s: &str) -> String {
    whatsapp_rust::serde_json::Value::String(s.to_owned()).to_string()
}

enum Ev {
    Qr(String),
    Connected,
    Text { from: String, text: String },
    Image(Box<wa::message::ImageMessage>),
    LoggedOut,
}

#[tokio::main]
async fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let ws_url = env("WS_URL");
    let control_url = env("CONTROL_URL");
    let me = env("ME");
    let peer = env("PEER");
    let db = env("DB");
    let timeout: u64 = std::env::var("TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(110);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(timeout)).await;
        fail("overall timeout");
    });

    let (tx, mut rx) = mpsc::unbounded_channel::<Ev>();
    let store = SqliteStore::new(&db)
        .await
        .unwrap_or_else(|e| fail(&format!("sqlite: {e}")));
    let (t1, t2, t3, t4) = (tx.clone(), tx.clone(), tx.clone(), tx.clone());
    let bot = Bot::builder()
        .with_backend(store)
        .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(ws_url))
        .with_http_client(UreqHttpClient::with_agent(media_agent(&env("MEDIA_CA"))))
        .with_runtime(TokioRuntime)
        // Offline: do not fetch the current WhatsApp Web version from web.whatsapp.com.
        .with_version((2, 3000, 1_023_868_180))
        .on_qr_code(move |code, _ttl| {
            let t = t1.clone();
            async move {
                let _ = t.send(Ev::Qr(code));
            }
        })
        .on_connected(move |_c| {
            let t = t2.clone();
            async move {
                let _ = t.send(Ev::Connected);
            }
        })
        .on_logged_out(move |_i| {
            let t = t3.clone();
            async move {
                let _ = t.send(Ev::LoggedOut);
            }
        })
        .on_message(move |ctx| {
            let t = t4.clone();
            async move {
                if let Some(img) = ctx.message.image_message.as_option() {
                    let _ = t.send(Ev::Image(Box::new(img.clone())));
                }
                if let Some(text) = ctx.message.text_content() {
                    let _ = t.send(Ev::Text {
                        from: ctx.info.source.sender.to_string(),
                        text: text.to_owned(),
                    });
                }
            }
        })
        .build()
        .await
        .unwrap_or_else(|e| fail(&format!("build bot: {e}")));
    let client = bot.client();
    let _handle = bot.spawn();

    // 1. pair: the QR is scanned by the account's simulated phone; the 515 restart is internal.
    let mut scanned = false;
    loop {
        match rx.recv().await {
            Some(Ev::Qr(code)) if !scanned => {
                scanned = true;
                log(&format!("QR {code}"));
                let r = control(
                    "POST",
                    &format!("{control_url}/control/accounts/{me}/scan"),
                    Some(&format!("{{\"qr\":{}}}", json_str(&code))),
                );
                log(&format!("SCANNED {r}"));
            }
            Some(Ev::Qr(_)) => {}
            Some(Ev::Connected) => break,
            Some(Ev::LoggedOut) => fail("logged out while pairing"),
            Some(Ev::Text { .. } | Ev::Image(_)) => {}
            None => fail("event channel closed"),
        }
    }
    if !scanned {
        fail("connected without a QR on a fresh store");
    }
    log("PASS paired and connected");

    // 2. text: whatsapp-rust -> peer's phone
    let peer_jid: Jid = format!("{peer}@s.whatsapp.net")
        .parse()
        .unwrap_or_else(|_| fail("peer jid"));
    let text = format!("hello from whatsapp-rust {}", std::process::id());
    let sent = client
        .send_text(peer_jid.clone(), text.clone())
        .await
        .unwrap_or_else(|e| fail(&format!("send_text: {e}")));
    log(&format!("SENT id={}", sent.message_id));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = control(
            "GET",
            &format!("{control_url}/control/accounts/{peer}/inbox"),
            None,
        );
        let v: whatsapp_rust::serde_json::Value =
            whatsapp_rust::serde_json::from_str(&inbox).unwrap_or_default();
        let found = v.as_array().is_some_and(|a| {
            a.iter().any(|m| {
                m["id"].as_str() == Some(sent.message_id.as_str())
                    && m["text"].as_str() == Some(text.as_str())
            })
        });
        if found {
            break;
        }
        if Instant::now() > deadline {
            fail(&format!("text not in the peer's inbox: {inbox}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    log("PASS text delivered to the phone");

    // 3. text: peer's phone -> whatsapp-rust
    let back = format!("hello from the phone {}", std::process::id());
    control(
        "POST",
        &format!("{control_url}/control/accounts/{peer}/send"),
        Some(&format!("{{\"to\":\"{me}\",\"text\":{}}}", json_str(&back))),
    );
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(Ev::Text { from, text })) if text == back => {
                log(&format!("MESSAGE from={from} text={text:?}"));
                break;
            }
            Ok(Some(Ev::LoggedOut)) => fail("logged out"),
            Ok(Some(_)) => {}
            Ok(None) => fail("event channel closed"),
            Err(_) => fail("text from the phone not received"),
        }
    }
    log("PASS text received from the phone");
    // 4. image: whatsapp-rust uploads (HTTPS to the media_conn host) and sends to the phone
    let image = test_image(40_000);
    let sha = hex(&Sha256::digest(&image));
    let caption = format!("caption {}", std::process::id());
    let up = client
        .upload(image.clone(), MediaType::Image, Default::default())
        .await
        .unwrap_or_else(|e| fail(&format!("upload: {e:#}")));
    log(&format!(
        "UPLOADED url={} direct_path={}",
        up.url, up.direct_path
    ));
    let msg = whatsapp_rust::media::image_message(
        up,
        whatsapp_rust::media::ImageOptions {
            caption: Some(caption.clone()),
            mimetype: Some("image/png".to_owned()),
            ..Default::default()
        },
    );
    let sent = client
        .send_message(peer_jid.clone(), msg)
        .await
        .unwrap_or_else(|e| fail(&format!("send image: {e}")));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = control(
            "GET",
            &format!("{control_url}/control/accounts/{peer}/inbox"),
            None,
        );
        let v: whatsapp_rust::serde_json::Value =
            whatsapp_rust::serde_json::from_str(&inbox).unwrap_or_default();
        let entry = v.as_array().and_then(|a| {
            a.iter()
                .find(|m| m["id"].as_str() == Some(sent.message_id.as_str()))
                .cloned()
        });
        if let Some(m) = entry {
            if m["type"].as_str() != Some("image")
                || m["sha256"].as_str().map(str::to_lowercase) != Some(sha.clone())
                || m["caption"].as_str() != Some(caption.as_str())
            {
                fail(&format!("image arrived wrong: {m} (want sha256 {sha})"));
            }
            break;
        }
        if Instant::now() > deadline {
            fail(&format!("image not in the peer's inbox: {inbox}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    log("PASS image delivered to the phone (sha256 and caption match)");

    // 5. image: peer's phone -> whatsapp-rust, downloaded and decrypted by the client
    let image2 = test_image(20_000);
    let caption2 = format!("from the phone {}", std::process::id());
    control(
        "POST",
        &format!("{control_url}/control/accounts/{peer}/send"),
        Some(&format!(
            "{{\"to\":\"{me}\",\"caption\":{},\"image\":{{\"base64\":\"{}\",\"mimetype\":\"image/png\"}}}}",
            json_str(&caption2),
            base64::engine::general_purpose::STANDARD.encode(&image2)
        )),
    );
    let img = loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(Ev::Image(img))) if img.caption.as_deref() == Some(caption2.as_str()) => {
                break img;
            }
            Ok(Some(Ev::LoggedOut)) => fail("logged out"),
            Ok(Some(_)) => {}
            Ok(None) => fail("event channel closed"),
            Err(_) => fail("image from the phone not received"),
        }
    };
    log(&format!("IMAGE url={:?}", img.url));
    let data = client
        .download(&*img)
        .await
        .unwrap_or_else(|e| fail(&format!("download: {e:#}")));
    if data != image2 {
        fail("downloaded image differs from the one sent");
    }
    log("PASS image received from the phone and downloaded");
    log("ALL PASSED");
    std::process::exit(0);
}

/// A ureq agent that trusts the emulator's media certificate (the PEM from
/// `GET /control/tls_cert`) — whatsapp-rust's documented way to customise TLS.
fn media_agent(pem_path: &str) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let pem = std::fs::read(pem_path).unwrap_or_else(|e| fail(&format!("{pem_path}: {e}")));
    let cert = Certificate::from_pem(&pem)
        .unwrap_or_else(|e| fail(&format!("media certificate: {e}")))
        .to_owned();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(std::sync::Arc::new(vec![cert])))
        .build();
    ureq::config::Config::builder()
        .tls_config(tls)
        .build()
        .into()
}

/// Deterministic-length bytes with a PNG signature (content is not inspected by either side).
fn test_image(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let seed = std::process::id() as u64 ^ len as u64;
    let mut x = seed | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
