//! Noise transport throughput (AES-256-GCM, empty AAD, per-frame nonce) for
//! typical frame sizes, plus one whole in-memory handshake.
//!
//! Run: `cargo bench -p wa-proto --bench noise`

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_proto::cert::{CertChainBuilder, TrustedRoot};
use wa_proto::frame::{FrameDecoder, encode_frame};
use wa_proto::noise::{ClientHandshake, ServerHandshake, TransportCipher};
use wa_signal::KeyPair;

/// Frame sizes: a receipt/ack, a typical text message node, a larger node,
/// and a history-sync sized frame.
const SIZES: [usize; 4] = [64, 512, 4 * 1024, 64 * 1024];

fn transport(c: &mut Criterion) {
    let mut g = c.benchmark_group("noise_transport");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let plaintext = vec![0x5au8; size];
        g.bench_with_input(BenchmarkId::new("encrypt", size), &plaintext, |b, pt| {
            let mut enc = TransportCipher::new([7; 32]);
            let mut buf = Vec::with_capacity(size + 16);
            b.iter(|| {
                enc.set_counter(0);
                buf.clear();
                buf.extend_from_slice(pt);
                enc.encrypt_in_place(&mut buf).unwrap();
                black_box(&buf);
            });
        });
        let mut enc = TransportCipher::new([7; 32]);
        let ciphertext = enc.encrypt(&plaintext).unwrap();
        g.bench_with_input(BenchmarkId::new("decrypt", size), &ciphertext, |b, ct| {
            let mut dec = TransportCipher::new([7; 32]);
            let mut buf = Vec::with_capacity(size + 16);
            b.iter(|| {
                dec.set_counter(0);
                buf.clear();
                buf.extend_from_slice(ct);
                dec.decrypt_in_place(&mut buf).unwrap();
                black_box(&buf);
            });
        });
        g.bench_with_input(
            BenchmarkId::new("frame_decode_and_decrypt", size),
            &ciphertext,
            |b, ct| {
                let wire = encode_frame(ct).unwrap();
                let mut dec = TransportCipher::new([7; 32]);
                let mut frames = FrameDecoder::new();
                b.iter(|| {
                    dec.set_counter(0);
                    frames.push(&wire);
                    let frame = frames.next_frame().unwrap().unwrap();
                    black_box(dec.decrypt(&frame).unwrap());
                });
            },
        );
    }
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let root = KeyPair::generate(&mut rng);
    let intermediate = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let client_static = KeyPair::generate(&mut rng);
    let chain = CertChainBuilder::new(0, u64::MAX).mint(
        &root.private,
        &intermediate,
        &server_static.public,
        &mut rng,
    );
    let trust = TrustedRoot::new(*root.public.as_djb());
    let payload = vec![0u8; 200];
    c.bench_function("noise_handshake_full_xx_both_sides", |b| {
        b.iter(|| {
            let client = ClientHandshake::new(client_static.clone(), trust, &mut rng);
            let server = ServerHandshake::new(server_static.clone(), chain.clone())
                .read_client_hello(&client.client_hello(), &mut rng)
                .unwrap();
            let done = client
                .read_server_hello(server.server_hello(), 1_800_000_000)
                .unwrap()
                .finish(&payload)
                .unwrap();
            black_box(server.read_client_finish(&done.message).unwrap());
        });
    });
}

criterion_group!(benches, transport, handshake);
criterion_main!(benches);
