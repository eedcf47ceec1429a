//! Throughput of text sends through the REST API: HTTP client -> wa-http -> wa-client ->
//! wa-emulator (Noise, Signal, server ack) with 32 requests in flight over keep-alive
//! connections. One element = one `POST /api/sessions/{name}/messages/text` answered 200.

use actix_web::{App, HttpServer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wa_client::store::SledDatabase;
use wa_emulator::{Emulator, EmulatorConfig};
use wa_http::client_backend::{ClientSettings, WaClientConnector};
use wa_http::{Gateway, GatewayOptions, REGISTRY_NAMESPACE};

const IN_FLIGHT: u64 = 32;

struct Setup {
    _emu: Emulator,
    _dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account("15550001111", "Ana").await.unwrap();
    emu.create_account("15550002222", "Bruno").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = SledDatabase::open(dir.path().join("wa.sled")).unwrap();
    let connector = Arc::new(WaClientConnector::new(
        db.clone(),
        ClientSettings {
            ws_url: Some(emu.ws_url()),
            root_public_key: Some(emu.root_public_key()),
            media_ca_pem: vec![emu.tls_cert_pem()],
            device_name: None,
        },
    ));
    let registry = Arc::new(db.session_store(REGISTRY_NAMESPACE).unwrap());
    let gateway = Gateway::open(connector, registry, GatewayOptions::default()).unwrap();
    let server = HttpServer::new(move || {
        let g = gateway.clone();
        App::new().configure(move |c| g.configure(c))
    })
    .bind("127.0.0.1:0")
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/sessions"))
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let status = |want: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            for _ in 0..500 {
                let v: serde_json::Value = http
                    .get(format!("{base}/api/sessions/bench"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if v["status"] == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("session never reached {want}");
        }
    };
    status("SCAN_QR_CODE").await;
    let qr = http
        .get(format!("{base}/api/sessions/bench/qr?format=raw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    emu.phone("15550001111").scan(&qr).await.unwrap();
    status("WORKING").await;
    Setup {
        _emu: emu,
        _dir: dir,
        url: format!("{base}/api/sessions/bench/messages/text"),
        http,
    }
}

async fn send_many(s: &Setup, n: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..IN_FLIGHT.min(n) {
        let (http, url) = (s.http.clone(), s.url.clone());
        let share = n / IN_FLIGHT.min(n) + u64::from(w < n % IN_FLIGHT.min(n));
        tasks.spawn(async move {
            for i in 0..share {
                let r = http
                    .post(&url)
                    .json(
                        &serde_json::json!({"to": "15550002222", "text": format!("bench {w} {i}")}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(setup());
    let mut g = c.benchmark_group("rest");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("send_text_to_emulator", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                send_many(&s, iters).await;
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
