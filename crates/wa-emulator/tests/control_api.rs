//! Every control endpoint over real HTTP, and its errors.

use serde_json::{Value, json};
use wa_emulator::{Emulator, EmulatorConfig};

async fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

#[allow(deprecated)]
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.expect("json body");
    (status, v)
}

fn assert_error(status: u16, v: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "body: {v}");
    assert_eq!(v["error"]["code"], want_code, "body: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn accounts_create_get_and_errors() {
    let emu = start().await;
    let base = emu.control_url();
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts"),
        Some(json!({"phone":"15550001111","push_name":"Ana"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["jid"], "15550001111@s.whatsapp.net");
    let lid = v["lid"].as_str().unwrap().to_owned();
    assert!(lid.ends_with("@lid") && lid.len() > 10, "{lid}");

    // Duplicate, invalid phone, malformed body.
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts"),
        Some(json!({"phone":"15550001111","push_name":"Ana"})),
    )
    .await;
    assert_error(s, &v, 409, "account_exists");
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts"),
        Some(json!({"phone":"12ab","push_name":"X"})),
    )
    .await;
    assert_error(s, &v, 400, "invalid_phone");
    let resp = client()
        .post(format!("{base}/control/accounts"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_request");

    // Get: device 0 is the phone and is connected.
    let (s, v) = call(
        reqwest::Method::GET,
        format!("{base}/control/accounts/15550001111"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lid"], lid.as_str());
    assert_eq!(v["push_name"], "Ana");
    assert_eq!(v["devices"][0]["device"], 0);
    assert_eq!(v["devices"][0]["connected"], true);
    assert_eq!(v["devices"].as_array().unwrap().len(), 1);

    let (s, v) = call(
        reqwest::Method::GET,
        format!("{base}/control/accounts/19999999999"),
        None,
    )
    .await;
    assert_error(s, &v, 404, "account_not_found");

    // The library API sees the same account.
    let st = emu.account("15550001111").await.unwrap();
    assert_eq!(st.lid, lid);
}

#[tokio::test]
async fn inbox_scan_send_devices_errors() {
    let emu = start().await;
    let base = emu.control_url();
    emu.create_account("15550002222", "Bo").await.unwrap();

    let (s, v) = call(
        reqwest::Method::GET,
        format!("{base}/control/accounts/15550002222/inbox"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v, json!([]));
    let (s, v) = call(
        reqwest::Method::GET,
        format!("{base}/control/accounts/1555000/inbox"),
        None,
    )
    .await;
    assert_error(s, &v, 404, "account_not_found");

    // A QR no companion shows.
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550002222/scan"),
        Some(json!({"qr":"garbage"})),
    )
    .await;
    assert_error(s, &v, 400, "bad_qr");
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550002222/scan"),
        Some(json!({"nope":1})),
    )
    .await;
    assert_error(s, &v, 400, "invalid_request");

    // Send to an unknown account.
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550002222/send"),
        Some(json!({"to":"15550009999","text":"hi"})),
    )
    .await;
    assert_error(s, &v, 404, "account_not_found");

    // Devices that do not exist.
    let (s, v) = call(
        reqwest::Method::DELETE,
        format!("{base}/control/accounts/15550002222/devices/7"),
        None,
    )
    .await;
    assert_error(s, &v, 404, "device_not_found");
    let (s, v) = call(
        reqwest::Method::DELETE,
        format!("{base}/control/accounts/15550002222/devices/x"),
        None,
    )
    .await;
    assert_error(s, &v, 400, "invalid_request");
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550002222/devices/7/kick"),
        Some(json!({"code":515})),
    )
    .await;
    assert_error(s, &v, 404, "device_not_found");
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550002222/devices/7/kick"),
        Some(json!({"code":99})),
    )
    .await;
    assert_error(s, &v, 400, "invalid_request");
}

#[tokio::test]
async fn faults_tls_cert_info_and_unknown_routes() {
    let emu = start().await;
    let base = emu.control_url();
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/faults"),
        Some(json!({"drop_connections":true})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["dropped_connections"], 0);

    let (s, v) = call(
        reqwest::Method::GET,
        format!("{base}/control/tls_cert"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let pem = v["pem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(pem, emu.tls_cert_pem());

    let (s, v) = call(reqwest::Method::GET, format!("{base}/control/info"), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["ws_url"], emu.ws_url());
    assert_eq!(v["root_public_key"], hex::encode(emu.root_public_key()));

    let (s, v) = call(
        reqwest::Method::GET,
        format!("{base}/control/nothing"),
        None,
    )
    .await;
    assert_error(s, &v, 404, "not_found");
}

#[tokio::test]
async fn media_upload_and_download_over_http_and_https() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let emu = start().await;
    // The auth token comes from media_conn; read it via the library for this HTTP-level test.
    let auth = emu.media_auth_token();
    let blob = b"ciphertext-and-mac-bytes".to_vec();
    let token = base64::engine::general_purpose::URL_SAFE.encode(sha2::Sha256::digest(&blob));

    // Wrong auth.
    let resp = client()
        .post(format!(
            "{}/mms/image/{token}?auth=nope&token={token}",
            emu.media_url()
        ))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Wrong hash.
    let resp = client()
        .post(format!(
            "{}/mms/image/AAAA?auth={auth}&token=AAAA",
            emu.media_url()
        ))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // HTTPS, trusting only the emulator's certificate.
    let tls = reqwest::Client::builder()
        .use_preconfigured_tls(tls_config(&emu.tls_cert_pem()))
        .build()
        .unwrap();
    let resp = tls
        .post(format!(
            "{}/mms/image/{token}?auth={auth}&token={token}",
            emu.media_tls_url()
        ))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let url = v["url"].as_str().unwrap().to_owned();
    let direct_path = v["direct_path"].as_str().unwrap().to_owned();
    assert!(
        direct_path.starts_with("/v/") && direct_path.contains('?'),
        "{direct_path}"
    );
    assert!(url.starts_with(&emu.media_tls_url()), "{url}");

    // Download by URL (HTTPS), and by direct path on plain HTTP with extra query parameters.
    let got = tls.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), blob.as_slice());
    let got = client()
        .get(format!(
            "{}{direct_path}&hash=x&mms-type=image",
            emu.media_url()
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), blob.as_slice());
    let resp = client()
        .get(format!("{}/v/t62.7118-24/missing.enc", emu.media_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[allow(deprecated)]
fn tls_config(pem: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

#[tokio::test]
async fn phones_exchange_text_and_image_over_the_control_api() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let emu = start().await;
    let base = emu.control_url();
    for (p, n) in [("15550004444", "Di"), ("15550005555", "Ed")] {
        let (s, _) = call(
            reqwest::Method::POST,
            format!("{base}/control/accounts"),
            Some(json!({"phone": p, "push_name": n})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550004444/send"),
        Some(json!({"to":"+1 555 000 5555","text":"hello Ed"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let text_id = v["id"].as_str().unwrap().to_owned();
    assert!(text_id.starts_with("3EB0"));

    let image: Vec<u8> = (0..3000u32).map(|i| (i % 256) as u8).collect();
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550005555/send"),
        Some(json!({
            "to": "15550004444@s.whatsapp.net",
            "image": {"base64": base64::engine::general_purpose::STANDARD.encode(&image), "mimetype": "image/png"},
            "caption": "pixels"
        })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let image_id = v["id"].as_str().unwrap().to_owned();

    let (_, inbox_e) = call(
        reqwest::Method::GET,
        format!("{base}/control/accounts/15550005555/inbox"),
        None,
    )
    .await;
    assert_eq!(
        inbox_e,
        json!([{"id": text_id, "from": "15550004444@s.whatsapp.net",
                "timestamp": inbox_e[0]["timestamp"], "type": "text", "text": "hello Ed"}])
    );
    let (_, inbox_d) = call(
        reqwest::Method::GET,
        format!("{base}/control/accounts/15550004444/inbox"),
        None,
    )
    .await;
    let m = &inbox_d[0];
    assert_eq!(m["id"], image_id.as_str());
    assert_eq!(m["type"], "image");
    assert_eq!(m["caption"], "pixels");
    assert_eq!(m["mimetype"], "image/png");
    assert_eq!(m["size"], 3000);
    assert_eq!(m["sha256"], hex::encode(sha2::Sha256::digest(&image)));

    // Neither text nor image.
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/control/accounts/15550005555/send"),
        Some(json!({"to":"15550004444"})),
    )
    .await;
    assert_error(s, &v, 400, "invalid_request");
}

/// Every bad control request gets a 4xx with a JSON error body, including the ones axum
/// itself rejects (wrong method, body over the control limit).
#[tokio::test]
async fn every_bad_control_request_gets_a_json_4xx() {
    let emu = start().await;
    emu.create_account("15550001111", "Ana").await.unwrap();
    let base = emu.control_url();
    let c = client();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        // Unknown account.
        (
            c.post(format!("{base}/control/accounts/15559999999/send"))
                .json(&json!({"to": "15550001111", "text": "x"})),
            404,
        ),
        // Bad JSON and wrong types.
        (
            c.post(format!("{base}/control/accounts/15550001111/scan"))
                .body("{not json"),
            400,
        ),
        (
            c.post(format!("{base}/control/accounts/15550001111/scan"))
                .json(&json!({"qr": 5})),
            400,
        ),
        (
            c.post(format!(
                "{base}/control/accounts/15550001111/devices/1/kick"
            ))
            .json(&json!({"code": 70000})),
            400,
        ),
        (
            c.delete(format!(
                "{base}/control/accounts/15550001111/devices/99999999999"
            )),
            400,
        ),
        // Bad QR.
        (
            c.post(format!("{base}/control/accounts/15550001111/scan"))
                .json(&json!({"qr": "nonsense"})),
            400,
        ),
        // Wrong method on a known route.
        (
            c.get(format!("{base}/control/accounts/15550001111/send")),
            405,
        ),
        // A control body over the control limit.
        (
            c.post(format!("{base}/control/accounts"))
                .body(vec![b' '; 40 * 1024 * 1024]),
            413,
        ),
    ];
    for (req, want) in cases {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, want, "body: {text}");
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
        assert!(v["error"]["code"].as_str().is_some(), "{v}");
        assert!(v["error"]["message"].as_str().is_some(), "{v}");
    }
}

#[tokio::test]
async fn fault_corrupt_next_message_to_validates_the_device() {
    let emu = start().await;
    emu.create_account("15550001111", "Ana").await.unwrap();
    let url = format!("{}/control/faults", emu.control_url());
    let (s, v) = call(
        reqwest::Method::POST,
        url.clone(),
        Some(json!({"corrupt_next_message_to":"15550001111@s.whatsapp.net"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["corrupt_next_message_to"], "15550001111@s.whatsapp.net");
    assert_eq!(v["dropped_connections"], 0);

    let (s, v) = call(
        reqwest::Method::POST,
        url.clone(),
        Some(json!({"corrupt_next_message_to":"not a jid@@"})),
    )
    .await;
    assert_error(s, &v, 400, "invalid_request");
    let (s, v) = call(
        reqwest::Method::POST,
        url.clone(),
        Some(json!({"corrupt_next_message_to":"15559999999:1@s.whatsapp.net"})),
    )
    .await;
    assert_error(s, &v, 404, "account_not_found");
    let (s, v) = call(
        reqwest::Method::POST,
        url,
        Some(json!({"corrupt_next_message_to":"15550001111:7@s.whatsapp.net"})),
    )
    .await;
    assert_error(s, &v, 404, "device_not_found");
    // The same through the library.
    assert!(
        emu.corrupt_next_message_to("15550001111:7@s.whatsapp.net")
            .await
            .is_err()
    );
    emu.corrupt_next_message_to("15550001111@s.whatsapp.net")
        .await
        .unwrap();
}
