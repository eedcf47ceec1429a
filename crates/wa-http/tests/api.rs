//! REST integration tests: every endpoint and every error, over a real HTTP server on
//! 127.0.0.1:0 with a scripted connector playing the WhatsApp side.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use wa_http::GatewayOptions;
use wa_http::webhook::RetryPolicy;

fn opts() -> GatewayOptions {
    GatewayOptions {
        max_image_bytes: 64 * 1024,
        webhook_retry: RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            timeout: Duration::from_secs(5),
        },
        ..GatewayOptions::default()
    }
}

async fn setup() -> (tempfile::TempDir, Arc<Scripted>, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let script = Scripted::new();
    let h = start(
        dir.path(),
        Arc::new(ScriptConnector(script.clone())),
        opts(),
    )
    .await;
    (dir, script, h)
}

async fn working(h: &Harness, script: &Scripted, name: &str) {
    let r = h.post("/api/sessions", json!({"name": name})).await;
    assert_eq!(r.status(), 201);
    h.wait_status(name, "SCAN_QR_CODE").await;
    script.scan(name).await;
    h.wait_status(name, "WORKING").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_endpoints_and_ui() {
    let (_dir, _script, h) = setup().await;
    let v: Value = h.get("/health").await.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["demo"], false);

    let r = h.get("/").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("/app.js"));
    for (p, t) in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = h.get(p).await;
        assert_eq!(r.status(), 200, "{p}");
        assert!(
            r.headers()["content-type"].to_str().unwrap().starts_with(t),
            "{p}"
        );
    }
    let v: Value = h.get("/ui/config").await.json().await.unwrap();
    assert_eq!(
        v,
        json!({"demo": false, "auth_required": false, "version": v["version"]})
    );

    let doc: Value = h.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/sessions",
        "/api/sessions/{name}",
        "/api/sessions/{name}/start",
        "/api/sessions/{name}/stop",
        "/api/sessions/{name}/restart",
        "/api/sessions/{name}/logout",
        "/api/sessions/{name}/qr",
        "/api/sessions/{name}/messages/text",
        "/api/sessions/{name}/messages/image",
        "/api/sessions/{name}/events",
        "/api/openapi.json",
        "/health",
        "/metrics",
    ] {
        assert!(doc["paths"][p].is_object(), "openapi lacks {p}");
    }
    assert!(doc["components"]["schemas"]["SessionView"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());

    h.post("/api/sessions", json!({"name": "m1", "start": false}))
        .await;
    let text = h.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("wa_http_sessions{status=\"STOPPED\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE wa_http_messages_sent_total counter"));
    assert!(text.contains("wa_http_messages_received_total"));
    assert!(
        text.contains("wa_http_api_errors_total")
            || text.contains("wa_http_webhook_deliveries_total")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_lifecycle_qr_and_sending() {
    let (_dir, script, h) = setup().await;
    let r = h
        .post("/api/sessions", json!({"name": "sales", "start": true}))
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "sales");
    assert!(v["me"].is_null());
    h.wait_status("sales", "SCAN_QR_CODE").await;

    // QR in four formats.
    let r = h.get("/api/sessions/sales/qr").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(r.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let r = h.get("/api/sessions/sales/qr?format=svg").await;
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));
    let raw = h
        .get("/api/sessions/sales/qr?format=raw")
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.starts_with("2@ref-sales-"), "{raw}");
    let j: Value = h
        .get("/api/sessions/sales/qr?format=json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["qr"], raw.as_str());
    let png = base64::engine::general_purpose::STANDARD
        .decode(j["png_base64"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert!(j["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_error(
        h.get("/api/sessions/sales/qr?format=gif").await,
        400,
        "invalid_format",
    )
    .await;

    // The QR rotates.
    script.rotate_qr("sales").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let raw2 = h
            .get("/api/sessions/sales/qr?format=raw")
            .await
            .text()
            .await
            .unwrap();
        if raw2 != raw {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "QR never rotated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Sending before WORKING is a conflict.
    assert_error(
        h.post(
            "/api/sessions/sales/messages/text",
            json!({"to": "+1 555 000 2222", "text": "hi"}),
        )
        .await,
        409,
        "session_not_working",
    )
    .await;

    script.scan("sales").await;
    let v = h.wait_status("sales", "WORKING").await;
    assert_eq!(v["me"]["jid"], "15550001111:1@s.whatsapp.net");
    assert_eq!(v["me"]["push_name"], "Test Phone");
    assert_error(
        h.get("/api/sessions/sales/qr").await,
        409,
        "qr_not_available",
    )
    .await;

    // Text.
    let r = h
        .post(
            "/api/sessions/sales/messages/text",
            json!({"to": "+55 11 91234-5678", "text": "olá"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["to"], "5511912345678@s.whatsapp.net");
    assert!(s["id"].as_str().unwrap().starts_with("3EB0"));
    assert!(s["timestamp"].as_u64().unwrap() > 0);

    // Image by multipart, base64 and data URL.
    let png = common::png();
    let form = reqwest::multipart::Form::new()
        .text("to", "15550002222")
        .text("caption", "a caption")
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("q.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let r = h
        .http
        .post(h.url("/api/sessions/sales/messages/image"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let r = h
        .post(
            "/api/sessions/sales/messages/image",
            json!({"to": "15550002222", "image": {"base64": b64, "mimetype": "image/png"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = h
        .post("/api/sessions/sales/messages/image", json!({"to": "15550002222", "caption": "c2", "image": {"base64": format!("data:image/png;base64,{b64}")}}))
        .await;
    assert_eq!(r.status(), 200);

    let sent = script.sent();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].text.as_deref(), Some("olá"));
    let img = sent[1].image.as_ref().unwrap();
    assert_eq!(img.bytes, png);
    assert_eq!(img.mimetype, "image/png");
    assert_eq!(img.caption.as_deref(), Some("a caption"));
    assert_eq!(sent[1].to, "15550002222@s.whatsapp.net");
    assert_eq!(
        sent[3].image.as_ref().unwrap().caption.as_deref(),
        Some("c2")
    );

    // stop / start (login kept) / restart.
    let v: Value = h
        .post_empty("/api/sessions/sales/stop")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "STOPPED");
    assert_eq!(v["running"], false);
    assert_error(
        h.get("/api/sessions/sales/qr").await,
        409,
        "qr_not_available",
    )
    .await;
    assert_error(
        h.post(
            "/api/sessions/sales/messages/text",
            json!({"to": "15550002222", "text": "x"}),
        )
        .await,
        409,
        "session_not_working",
    )
    .await;
    let r = h.post_empty("/api/sessions/sales/stop").await;
    assert_eq!(r.status(), 200, "stop is idempotent");
    let r = h.post_empty("/api/sessions/sales/start").await;
    assert_eq!(r.status(), 200);
    h.wait_status("sales", "WORKING").await;
    assert_error(
        h.post_empty("/api/sessions/sales/start").await,
        409,
        "session_already_running",
    )
    .await;
    let r = h.post_empty("/api/sessions/sales/restart").await;
    assert_eq!(r.status(), 200);
    h.wait_status("sales", "WORKING").await;
    assert!(script.wiped().is_empty());

    // logout = restart with a new QR.
    let r = h.post_empty("/api/sessions/sales/logout").await;
    assert_eq!(r.status(), 200);
    let v = h.wait_status("sales", "SCAN_QR_CODE").await;
    assert!(v["me"].is_null());
    assert_eq!(script.wiped(), vec!["sales".to_string()]);
    let raw3 = h
        .get("/api/sessions/sales/qr?format=raw")
        .await
        .text()
        .await
        .unwrap();
    assert_ne!(raw3, raw);
    assert!(
        v["last_error"].is_null(),
        "a requested logout is not an error: {v}"
    );

    // History and list.
    let statuses: Vec<String> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect();
    for s in ["STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING"] {
        assert!(statuses.iter().any(|x| x == s), "{statuses:?}");
    }
    let list: Value = h.get("/api/sessions").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // delete
    let r = h.delete("/api/sessions/sales").await;
    assert_eq!(r.status(), 204);
    assert_error(h.get("/api/sessions/sales").await, 404, "session_not_found").await;
    let list: Value = h.get("/api/sessions").await.json().await.unwrap();
    assert!(list.as_array().unwrap().is_empty());
    let text = h.get("/metrics").await.text().await.unwrap();
    assert!(
        !text.contains("wa_http_messages_sent_total{type=\"text\"} 0"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_the_right_status() {
    let (_dir, script, h) = setup().await;
    // Unknown session: every per-session endpoint.
    for (m, p) in [
        ("GET", "/api/sessions/nope"),
        ("DELETE", "/api/sessions/nope"),
        ("POST", "/api/sessions/nope/start"),
        ("POST", "/api/sessions/nope/stop"),
        ("POST", "/api/sessions/nope/restart"),
        ("POST", "/api/sessions/nope/logout"),
        ("GET", "/api/sessions/nope/qr"),
        ("GET", "/api/sessions/nope/events"),
    ] {
        let r = h
            .http
            .request(m.parse().unwrap(), h.url(p))
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "session_not_found").await;
    }
    assert_error(
        h.post(
            "/api/sessions/nope/messages/text",
            json!({"to": "1555", "text": "x"}),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    assert_error(
        h.post("/api/sessions/nope/messages/image", json!({"to": "1555"}))
            .await,
        404,
        "session_not_found",
    )
    .await;

    // Names.
    for bad in ["a b", "a.b", "..", "x".repeat(65).as_str(), "ñ", ""] {
        assert_error(
            h.post("/api/sessions", json!({"name": bad})).await,
            400,
            "invalid_session_name",
        )
        .await;
    }
    assert_error(
        h.get("/api/sessions/a.b").await,
        400,
        "invalid_session_name",
    )
    .await;
    assert_error(
        h.get("/api/sessions/a%2Fb").await,
        400,
        "invalid_session_name",
    )
    .await;
    assert_error(
        h.get("/api/sessions/a%00b").await,
        400,
        "invalid_session_name",
    )
    .await;

    // Body problems.
    let r = h
        .http
        .post(h.url("/api/sessions"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "malformed_json").await;
    let r = h
        .http
        .post(h.url("/api/sessions"))
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
    assert_error(
        h.post("/api/sessions", json!({"start": true})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        h.post("/api/sessions", json!({"name": 5})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        h.post(
            "/api/sessions",
            json!({"name": "w", "webhooks": [{"url": "ftp://x/"}]}),
        )
        .await,
        400,
        "invalid_webhook",
    )
    .await;
    let big = "x".repeat(20 * 1024);
    assert_error(
        h.post("/api/sessions", json!({"name": big})).await,
        413,
        "payload_too_large",
    )
    .await;

    // Duplicate.
    assert_eq!(
        h.post("/api/sessions", json!({"name": "dup", "start": false}))
            .await
            .status(),
        201
    );
    assert_error(
        h.post("/api/sessions", json!({"name": "dup"})).await,
        409,
        "session_exists",
    )
    .await;

    // Sending: the session works, the inputs do not.
    working(&h, &script, "s").await;
    let t = "/api/sessions/s/messages/text";
    assert_error(h.post(t, json!({"text": "x"})).await, 400, "missing_to").await;
    assert_error(
        h.post(t, json!({"to": "15550002222"})).await,
        400,
        "missing_text",
    )
    .await;
    assert_error(
        h.post(t, json!({"to": "15550002222", "text": "  "})).await,
        400,
        "missing_text",
    )
    .await;
    assert_error(
        h.post(t, json!({"to": "not a number", "text": "x"})).await,
        422,
        "invalid_phone_number",
    )
    .await;
    assert_error(
        h.post(t, json!({"to": "12", "text": "x"})).await,
        422,
        "invalid_phone_number",
    )
    .await;
    let r = h
        .http
        .post(h.url(t))
        .header("content-type", "application/json")
        .body("{\"to\": \"1")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "malformed_json").await;

    let i = "/api/sessions/s/messages/image";
    let part = |bytes: Vec<u8>, mime: &str| {
        reqwest::multipart::Part::bytes(bytes)
            .file_name("f")
            .mime_str(mime)
            .unwrap()
    };
    let send_form = |form: reqwest::multipart::Form| h.http.post(h.url(i)).multipart(form).send();
    let r = send_form(
        reqwest::multipart::Form::new()
            .text("to", "15550002222")
            .part("file", part(b"plain text".to_vec(), "text/plain")),
    )
    .await
    .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
    let r = send_form(
        reqwest::multipart::Form::new()
            .text("to", "15550002222")
            .part("file", part(b"GIF89a....".to_vec(), "image/gif")),
    )
    .await
    .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
    let mut huge = png();
    huge.resize(200 * 1024, 0);
    let r = send_form(
        reqwest::multipart::Form::new()
            .text("to", "15550002222")
            .part("file", part(huge.clone(), "image/png")),
    )
    .await
    .unwrap();
    assert_error(r, 413, "payload_too_large").await;
    let r = send_form(reqwest::multipart::Form::new().text("to", "15550002222"))
        .await
        .unwrap();
    assert_error(r, 400, "missing_file").await;
    let r = send_form(reqwest::multipart::Form::new().part("file", part(png(), "image/png")))
        .await
        .unwrap();
    assert_error(r, 400, "missing_to").await;
    let r = send_form(
        reqwest::multipart::Form::new()
            .text("to", "abc")
            .part("file", part(png(), "image/png")),
    )
    .await
    .unwrap();
    assert_error(r, 422, "invalid_phone_number").await;
    let r = h
        .http
        .post(h.url(i))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
    let r = h
        .http
        .post(h.url(i))
        .header("content-type", "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_multipart").await;
    assert_error(
        h.post(i, json!({"to": "15550002222"})).await,
        400,
        "missing_file",
    )
    .await;
    assert_error(
        h.post(i, json!({"to": "15550002222", "image": {}})).await,
        400,
        "missing_file",
    )
    .await;
    assert_error(
        h.post(i, json!({"to": "15550002222", "image": {"base64": "%%%"}}))
            .await,
        400,
        "invalid_base64",
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&huge);
    assert_error(
        h.post(i, json!({"to": "15550002222", "image": {"base64": b64}}))
            .await,
        413,
        "payload_too_large",
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"not an image at all");
    assert_error(
        h.post(i, json!({"to": "15550002222", "image": {"base64": b64}}))
            .await,
        415,
        "unsupported_media_type",
    )
    .await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(png());
    assert_error(
        h.post(
            i,
            json!({"to": "15550002222", "image": {"base64": b64, "mimetype": "application/pdf"}}),
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        h.post(
            i,
            json!({"to": "15550002222", "image": {"url": "file:///etc/passwd"}}),
        )
        .await,
        400,
        "invalid_url",
    )
    .await;
    assert_error(
        h.post(
            i,
            json!({"to": "15550002222", "image": {"url": "http://127.0.0.1:1/x.png"}}),
        )
        .await,
        422,
        "image_fetch_failed",
    )
    .await;
    // URLs served by the gateway itself: a 404, a non-image and an image.
    assert_error(
        h.post(
            i,
            json!({"to": "15550002222", "image": {"url": h.url("/nothing.png")}}),
        )
        .await,
        422,
        "image_fetch_failed",
    )
    .await;
    assert_error(
        h.post(
            i,
            json!({"to": "15550002222", "image": {"url": h.url("/app.js")}}),
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    let r = h.post(i, json!({"to": "15550002222", "caption": "by url", "image": {"url": h.url("/api/sessions/s/qr")}})).await;
    assert_error(r, 422, "image_fetch_failed").await; // 409 from the QR endpoint: the session is WORKING

    // Routing.
    assert_error(h.get("/api/nothing").await, 404, "not_found").await;
    assert_error(h.get("/nothing").await, 404, "not_found").await;
    assert_error(
        h.http.put(h.url("/api/sessions")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    assert_error(
        h.get("/api/sessions/s/start").await,
        405,
        "method_not_allowed",
    )
    .await;
    assert_error(
        h.delete("/api/sessions/s/qr").await,
        405,
        "method_not_allowed",
    )
    .await;

    // Nothing was sent by any of the failed requests.
    assert!(script.sent().is_empty(), "{:?}", script.sent());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_by_url() {
    let (_dir, script, h) = setup().await;
    working(&h, &script, "u").await;
    working(&h, &script, "q").await;
    // Another session's QR endpoint serves a real PNG: stop q's link and put it back in SCAN_QR_CODE.
    h.post_empty("/api/sessions/q/logout").await;
    h.wait_status("q", "SCAN_QR_CODE").await;
    let r = h
        .post(
            "/api/sessions/u/messages/image",
            json!({"to": "15550002222", "caption": "by url", "image": {"url": h.url("/api/sessions/q/qr")}}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = script.sent();
    let img = sent[0].image.as_ref().unwrap();
    assert!(img.bytes.starts_with(b"\x89PNG"));
    assert_eq!(img.caption.as_deref(), Some("by url"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_required_everywhere_under_api() {
    let dir = tempfile::tempdir().unwrap();
    let script = Scripted::new();
    let h = start(
        dir.path(),
        Arc::new(ScriptConnector(script.clone())),
        GatewayOptions {
            api_key: Some("s3cret-key".into()),
            ..opts()
        },
    )
    .await;
    assert!(h.gateway.requires_api_key());
    for p in [
        "/api/sessions",
        "/api/openapi.json",
        "/api/events",
        "/api/sessions/x/qr",
        "/api/nothing",
    ] {
        assert_error(h.get(p).await, 401, "unauthorized").await;
        let r = h
            .http
            .get(h.url(p))
            .header("X-Api-Key", "wrong")
            .send()
            .await
            .unwrap();
        assert_error(r, 401, "unauthorized").await;
        let r = h
            .http
            .get(h.url(p))
            .header("X-Api-Key", "s3cret-key-longer")
            .send()
            .await
            .unwrap();
        assert_error(r, 401, "unauthorized").await;
    }
    assert_error(
        h.post("/api/sessions", json!({"name": "a"})).await,
        401,
        "unauthorized",
    )
    .await;
    let r = h
        .http
        .get(h.url("/api/sessions"))
        .header("X-Api-Key", "s3cret-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = h
        .http
        .post(h.url("/api/sessions"))
        .header("X-Api-Key", "s3cret-key")
        .json(&json!({"name": "a", "start": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Outside /api: no key needed.
    assert_eq!(h.get("/health").await.status(), 200);
    assert_eq!(h.get("/metrics").await.status(), 200);
    assert_eq!(h.get("/").await.status(), 200);
    let v: Value = h.get("/ui/config").await.json().await.unwrap();
    assert_eq!(v["auth_required"], true);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events() {
    let (_dir, script, h) = setup().await;
    h.post("/api/sessions", json!({"name": "ev", "start": false}))
        .await;
    let r = h.get("/api/sessions/ev/events").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut sse = Sse::new(r);
    let (e, d) = sse.next().await;
    assert_eq!(e, "status");
    assert_eq!(d["session"], "ev");
    assert_eq!(d["data"]["status"], "STOPPED");
    let mut all = Sse::new(h.get("/api/events").await);
    all.until(|e, d| e == "status" && d["session"] == "ev")
        .await;

    h.post_empty("/api/sessions/ev/start").await;
    sse.until(|e, d| e == "status" && d["data"]["status"] == "STARTING")
        .await;
    let qr = sse.until(|e, _| e == "qr").await;
    assert!(qr["data"]["qr"].as_str().unwrap().starts_with("2@ref-ev-"));
    assert!(qr["data"]["expires_at"].as_str().is_some());
    script.rotate_qr("ev").await;
    let qr2 = sse.until(|e, _| e == "qr").await;
    assert_ne!(qr2["data"]["qr"], qr["data"]["qr"]);

    script.scan("ev").await;
    let paired = sse.until(|e, _| e == "paired").await;
    assert_eq!(paired["data"]["jid"], "15550001111:1@s.whatsapp.net");
    let st = sse
        .until(|e, d| e == "status" && d["data"]["status"] == "WORKING")
        .await;
    assert_eq!(st["data"]["me"]["jid"], "15550001111:1@s.whatsapp.net");

    script.incoming("ev", json!({"id": "ABC", "from": "15550002222@s.whatsapp.net", "type": "text", "text": "yo"})).await;
    let m = sse.until(|e, _| e == "message").await;
    assert_eq!(m["data"]["text"], "yo");
    let m = all.until(|e, _| e == "message").await;
    assert_eq!(m["session"], "ev");

    // The phone unlinks: FAILED with the reason.
    script.unlink("ev").await;
    sse.until(|e, _| e == "logged_out").await;
    let st = sse
        .until(|e, d| e == "status" && d["data"]["status"] == "FAILED")
        .await;
    assert!(
        st["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("logged out")
    );
    let v = h.wait_status("ev", "FAILED").await;
    assert!(
        v["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("device removed"),
        "{v}"
    );

    // Deleting ends the per-session stream.
    h.delete("/api/sessions/ev").await;
    sse.until(|e, _| e == "session_deleted").await;
    let d = all.until(|e, _| e == "session_deleted").await;
    assert_eq!(d["session"], "ev");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_filtered() {
    let (_dir, script, h) = setup().await;
    let flaky = receiver(2).await;
    let filtered = receiver(0).await;
    let r = h
        .post(
            "/api/sessions",
            json!({"name": "wh", "webhooks": [
                {"url": flaky.url, "secret": "hook-secret"},
                {"url": filtered.url, "events": ["message"]}
            ]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["webhooks"][0]["signed"], true);
    assert!(
        v["webhooks"][0].get("secret").is_none(),
        "secrets are never echoed"
    );
    h.wait_status("wh", "SCAN_QR_CODE").await;
    script.scan("wh").await;
    h.wait_status("wh", "WORKING").await;
    script
        .incoming("wh", json!({"id": "M1", "text": "hello"}))
        .await;

    // The first two attempts failed; the event still arrives, signed.
    let hook = flaky
        .wait_for(|v| v["event"] == "status" && v["data"]["status"] == "WORKING")
        .await;
    assert_eq!(hook.headers["content-type"], "application/json");
    assert_eq!(hook.headers["x-wa-event"], "status");
    assert_eq!(hook.headers["x-wa-session"], "wh");
    assert!(!hook.headers["x-wa-delivery"].is_empty());
    let expected = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(&hook.body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert_eq!(hook.headers["x-wa-signature"], expected);
    assert_eq!(wa_http::webhook::sign("hook-secret", &hook.body), expected);
    assert!(flaky.attempts.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let m = flaky.wait_for(|v| v["event"] == "message").await;
    let mv: Value = serde_json::from_slice(&m.body).unwrap();
    assert_eq!(mv["data"]["text"], "hello");

    // The filtered webhook got only the message, unsigned.
    let m = filtered.wait_for(|v| v["event"] == "message").await;
    assert!(!m.headers.contains_key("x-wa-signature"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kinds: Vec<String> = filtered
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|h| {
            serde_json::from_slice::<Value>(&h.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, vec!["message".to_string()]);

    // A dead receiver never blocks the session.
    let dead = receiver(0).await;
    let dead_url = dead.url.clone();
    dead.stop().await;
    h.post(
        "/api/sessions",
        json!({"name": "wh2", "webhooks": [{"url": dead_url}]}),
    )
    .await;
    h.wait_status("wh2", "SCAN_QR_CODE").await;
    script.scan("wh2").await;
    h.wait_status("wh2", "WORKING").await;
    let r = h
        .post(
            "/api/sessions/wh2/messages/text",
            json!({"to": "15550002222", "text": "x"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    flaky.stop().await;
    filtered.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let script = Scripted::new();
    let h = start(
        dir.path(),
        Arc::new(ScriptConnector(script.clone())),
        opts(),
    )
    .await;
    working(&h, &script, "keep").await;
    h.post("/api/sessions", json!({"name": "idle", "start": false}))
        .await;
    working(&h, &script, "halted").await;
    h.post_empty("/api/sessions/halted/stop").await;
    h.post("/api/sessions", json!({"name": "hooked", "start": false, "webhooks": [{"url": "http://127.0.0.1:9/x", "events": ["message"]}]})).await;
    let before: Value = h.get("/api/sessions/keep").await.json().await.unwrap();
    h.stop().await;

    // Reopen the data directory with a fresh gateway (the scripted phone remembers the links).
    let opened_before = script.opened().len();
    let h = start(
        dir.path(),
        Arc::new(ScriptConnector(script.clone())),
        opts(),
    )
    .await;
    let v = h.wait_status("keep", "WORKING").await;
    assert_eq!(v["created_at"], before["created_at"]);
    assert!(v["history"].as_array().unwrap().len() > before["history"].as_array().unwrap().len());
    assert_eq!(h.status_of("idle").await, "STOPPED");
    assert_eq!(h.status_of("halted").await, "STOPPED");
    let hooked: Value = h.get("/api/sessions/hooked").await.json().await.unwrap();
    assert_eq!(hooked["webhooks"][0]["url"], "http://127.0.0.1:9/x");
    assert_eq!(hooked["webhooks"][0]["events"], json!(["message"]));
    // Only the running session was reopened.
    assert_eq!(&script.opened()[opened_before..], &["keep".to_string()]);
    // The stopped one starts with its login intact.
    h.post_empty("/api/sessions/halted/start").await;
    h.wait_status("halted", "WORKING").await;
    h.stop().await;
}
