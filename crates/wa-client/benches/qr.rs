//! QR rendering of a pairing text (what a user sees once per QR rotation, and what wa-http
//! serves at `GET /api/sessions/{name}/qr`): terminal text, SVG and PNG.
//!
//! `cargo bench -p wa-client --bench qr -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

/// A pairing QR text of the real shape and length: `ref,noise_pub_b64,identity_pub_b64,adv_secret_b64,platform`
/// (the ref as the server sends it, 3 base64 keys of 32 bytes).
const PAIRING_QR: &str = "2@Xb7kQ2Ld0mVq8sYt3ZpWcR9uJfHnE1aK4oGi6xBvMlTyUw5eNdCrPh0sAjQgIzF+/Xb7kQ2Ld0mVq8sYt3ZpWcR9uJfHnE1aK4oGi6xBvMl==,\
w8fHc2VydmVyLW5vaXNlLXB1YmxpYy1rZXktMzJiOSE=,aWRlbnRpdHktcHVibGljLWtleS0zMi1ieXRlcyEhISE=,\
YWR2LXNlY3JldC1rZXktMzItYnl0ZXMtcmFuZG9tISE=,1";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("qr_render");
    g.bench_function("terminal", |b| {
        b.iter(|| black_box(wa_client::qr::to_terminal(black_box(PAIRING_QR))))
    });
    g.bench_function("svg", |b| {
        b.iter(|| black_box(wa_client::qr::to_svg(black_box(PAIRING_QR))))
    });
    g.bench_function("png", |b| {
        b.iter(|| black_box(wa_client::qr::to_png(black_box(PAIRING_QR))))
    });
    g.finish();

    // Output sizes, for BENCHMARKS.md.
    eprintln!(
        "qr text {} bytes -> terminal {} bytes, svg {} bytes, png {} bytes",
        PAIRING_QR.len(),
        wa_client::qr::to_terminal(PAIRING_QR).len(),
        wa_client::qr::to_svg(PAIRING_QR).len(),
        wa_client::qr::to_png(PAIRING_QR).len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
