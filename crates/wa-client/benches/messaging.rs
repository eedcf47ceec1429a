//! End-to-end messaging throughput through the public API against an in-process wa-emulator
//! (WebSocket + Noise + binary codec + Signal on both sides, the simulated phone decrypting):
//! one `send_text` (usync cached, session established) waited for until the server's ack, and
//! image encryption + upload + send.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wa_client::store::MemoryStore;
use wa_client::{Client, ClientConfig, Event, ImageInput};
use wa_emulator::{Emulator, EmulatorConfig};

const ANA: &str = "15550001111";
const BEN: &str = "15550002222";

async fn setup() -> (Emulator, Client) {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(ANA, "Ana").await.unwrap();
    emu.create_account(BEN, "Ben").await.unwrap();
    let config = ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_public_key())
        .media_ca_pem(emu.tls_cert_pem())
        .build()
        .unwrap();
    let (client, mut events) = Client::new(config, Arc::new(MemoryStore::new()));
    client.connect().await.unwrap();
    loop {
        match events.recv().await.unwrap() {
            Event::Qr { code, .. } => {
                emu.phone(ANA).scan(&code).await.unwrap();
            }
            Event::Connected => break,
            _ => {}
        }
    }
    // Drain events in the background so that message events never block the client.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    client.send_text(BEN, "warm up").await.unwrap();
    (emu, client)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_emu, client) = rt.block_on(setup());
    let mut g = c.benchmark_group("messaging");
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    g.bench_function("send_text_until_ack", |b| {
        b.iter(|| {
            rt.block_on(client.send_text(BEN, "hello from the bench"))
                .unwrap()
        })
    });
    let img = vec![0xA5u8; 64 * 1024];
    g.throughput(Throughput::Bytes(img.len() as u64));
    g.bench_function("send_image_64k_until_ack", |b| {
        b.iter(|| {
            rt.block_on(client.send_image(
                BEN,
                ImageInput {
                    bytes: img.clone(),
                    mimetype: "image/jpeg".into(),
                    caption: None,
                },
            ))
            .unwrap()
        })
    });
    g.finish();
    rt.block_on(client.disconnect());
}

criterion_group!(benches, bench);
criterion_main!(benches);
