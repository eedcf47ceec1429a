//! Binary node codec throughput over the public vector corpus (frames < 64 KiB, as in
//! design.md §4): encode node trees to bytes, and decode bytes to owned trees.
//!
//! `cargo bench -p wa-proto --bench binary -- --warm-up-time 1 --measurement-time 3`
//!
//! On a shared, loaded machine set `BENCH_CLOCK=thread-cpu` to measure the benchmark thread's
//! CPU time (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`) instead of wall time: time spent waiting
//! for a core is then not counted.

#[path = "../tests/data/binary/json.rs"]
mod json;

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};
use json::{NodeCase, NodeFile, load};
use wa_proto::binary::{Node, decode_node, encode_node, encode_node_into};

struct Corpus {
    /// Node bytes (without the flags byte).
    frames: Vec<Vec<u8>>,
    /// The same nodes as the decoder returns them (typed JIDs).
    decoded: Vec<Node>,
    /// The same nodes as the vectors give them to the encoder (every value a string).
    as_strings: Vec<Node>,
    bytes: u64,
}

fn corpus() -> Corpus {
    let file: NodeFile = load("nodes.json");
    let cases: Vec<&NodeCase> = file
        .cases
        .iter()
        .filter(|c| c.frame().len() < 64 << 10)
        .collect();
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.frame()[1..].to_vec()).collect();
    let decoded: Vec<Node> = frames
        .iter()
        .map(|f| decode_node(f).expect("vector decodes"))
        .collect();
    let as_strings = cases.iter().map(|c| c.node.to_node()).collect();
    let bytes = frames.iter().map(|f| f.len() as u64).sum();
    Corpus {
        frames,
        decoded,
        as_strings,
        bytes,
    }
}

fn bench<M: Measurement + 'static>(c: &mut Criterion<M>) {
    let corpus = corpus();
    let mut g = c.benchmark_group("binary_corpus");
    g.throughput(Throughput::Bytes(corpus.bytes));
    g.bench_function("encode_typed_nodes", |b| {
        b.iter(|| {
            for n in &corpus.decoded {
                black_box(encode_node(black_box(n)));
            }
        })
    });
    g.bench_function("encode_string_nodes", |b| {
        b.iter(|| {
            for n in &corpus.as_strings {
                black_box(encode_node(black_box(n)));
            }
        })
    });
    g.bench_function("encode_into_reused_buffer", |b| {
        let mut out = Vec::with_capacity(64 << 10);
        b.iter(|| {
            for n in &corpus.decoded {
                out.clear();
                encode_node_into(black_box(n), &mut out).expect("encodable");
                black_box(&out);
            }
        })
    });
    g.bench_function("decode_owned", |b| {
        b.iter(|| {
            for f in &corpus.frames {
                black_box(decode_node(black_box(f)).expect("decodes"));
            }
        })
    });
    g.finish();

    // One stanza on its own: the largest `message` node of the corpus.
    let stanza = corpus
        .decoded
        .iter()
        .zip(&corpus.frames)
        .filter(|(n, _)| n.tag == "message")
        .max_by_key(|(_, f)| f.len())
        .map(|(n, f)| (n.clone(), f.clone()));
    if let Some((node, frame)) = stanza {
        let mut g = c.benchmark_group("binary_message_stanza");
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function("encode", |b| {
            b.iter(|| black_box(encode_node(black_box(&node))))
        });
        g.bench_function("decode_owned", |b| {
            b.iter(|| black_box(decode_node(black_box(&frame)).expect("decodes")))
        });
        g.finish();
    }
}

#[path = "../../../benches/support/thread_cpu.rs"]
#[macro_use]
mod thread_cpu;

thread_cpu_main!(bench);
