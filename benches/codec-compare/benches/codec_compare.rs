//! Our binary codec (wa-proto) against whatsapp-rust's (wacore-binary 0.7, stable build) on the
//! same corpus, in the same run. Each group holds both codecs so criterion prints them together.
//!
//! `cargo bench --manifest-path benches/codec-compare/Cargo.toml -- --warm-up-time 1 --measurement-time 3`
//!
//! With `BENCH_CLOCK=thread-cpu` the time measured is the CPU time of the bench thread
//! (`CLOCK_THREAD_CPUTIME_ID`) instead of wall-clock time: on a machine shared with other work
//! it leaves out the time the thread waited for a core.

use std::hint::black_box;

use codec_compare::{corpus, ours_encode, reencode_mismatches, theirs_encode};
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};

fn bench<M: Measurement + 'static>(c: &mut Criterion<M>) {
    let corpus = corpus();
    let (m_ours, m_theirs) = reencode_mismatches(&corpus);
    eprintln!(
        "corpus: {} frames, {} bytes; skipped {:?}; re-encode mismatches ours {:?} wacore {:?}",
        corpus.frames.len(),
        corpus.bytes,
        corpus.skipped,
        m_ours,
        m_theirs
    );

    let mut g = c.benchmark_group("encode_fresh_buffer");
    g.throughput(Throughput::Bytes(corpus.bytes));
    g.bench_function("wa-proto", |b| {
        b.iter(|| {
            for n in &corpus.ours {
                black_box(ours_encode(black_box(n)));
            }
        })
    });
    g.bench_function("wacore-binary", |b| {
        b.iter(|| {
            for n in &corpus.theirs {
                black_box(theirs_encode(black_box(n)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("encode_reused_buffer");
    g.throughput(Throughput::Bytes(corpus.bytes));
    g.bench_function("wa-proto", |b| {
        let mut out = Vec::with_capacity(64 << 10);
        b.iter(|| {
            for n in &corpus.ours {
                out.clear();
                wa_proto::binary::encode_node_into(black_box(n), &mut out).expect("encodes");
                black_box(&out);
            }
        })
    });
    g.bench_function("wacore-binary", |b| {
        let mut out = Vec::with_capacity(64 << 10);
        b.iter(|| {
            for n in &corpus.theirs {
                wacore_binary::marshal_to_vec(black_box(n), &mut out).expect("encodes");
                black_box(&out);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode_owned");
    g.throughput(Throughput::Bytes(corpus.bytes));
    g.bench_function("wa-proto", |b| {
        b.iter(|| {
            for f in &corpus.frames {
                black_box(wa_proto::binary::decode_node(black_box(f)).expect("decodes"));
            }
        })
    });
    g.bench_function("wacore-binary", |b| {
        b.iter(|| {
            for f in &corpus.frames {
                let r = wacore_binary::marshal::unmarshal_ref(black_box(f)).expect("decodes");
                black_box(r.to_owned());
            }
        })
    });
    g.finish();

    // wacore-binary also offers a borrowing decoder (NodeRef into the frame); ours has no
    // borrowed form, so this line is theirs alone, for reference.
    let mut g = c.benchmark_group("decode_borrowed");
    g.throughput(Throughput::Bytes(corpus.bytes));
    g.bench_function("wacore-binary", |b| {
        b.iter(|| {
            for f in &corpus.frames {
                black_box(wacore_binary::marshal::unmarshal_ref(black_box(f)).expect("decodes"));
            }
        })
    });
    g.finish();
}

#[path = "../../support/thread_cpu.rs"]
#[macro_use]
mod thread_cpu;

thread_cpu_main!(bench);
