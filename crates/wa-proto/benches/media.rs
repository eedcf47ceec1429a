//! Media crypto throughput on 64 MiB (design.md §4: >= 470 MB/s using both
//! cores, constant memory). Run: `cargo bench -p wa-proto --bench media`.

use std::hint::black_box;

use aes::Aes256;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, inout::InOutBuf};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use rand::{RngCore, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use wa_proto::media::{
    Expected, MediaDecryptor, MediaKey, MediaType, MediaVerifier, decrypt, decrypt_parallel,
    encrypt, encrypt_parallel, encrypt_stream_parallel,
};

const SIZE: usize = 64 * 1024 * 1024;
const PIECE: usize = 1024 * 1024;

fn input() -> (MediaKey, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut plain = vec![0u8; SIZE];
    rng.fill_bytes(&mut plain);
    (MediaKey::generate(&mut rng), plain)
}

fn bench_encrypt(c: &mut Criterion) {
    let (key, plain) = input();
    let mut g = c.benchmark_group("media_encrypt_64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("sequential", |b| {
        b.iter(|| black_box(encrypt(&key, MediaType::Video, black_box(&plain))))
    });
    g.bench_function("parallel_whole_buffer", |b| {
        b.iter(|| black_box(encrypt_parallel(&key, MediaType::Video, black_box(&plain))))
    });
    // Streaming: 1 MiB pieces in, ciphertext pieces out to a sink that only
    // looks at them (what an uploader writing to a socket would do).
    g.bench_function("parallel_stream_1MiB_pieces", |b| {
        b.iter(|| {
            let mut seen = 0usize;
            let info = encrypt_stream_parallel(
                &key,
                MediaType::Video,
                plain.chunks(PIECE),
                |c: &[u8]| seen += black_box(c).len(),
            );
            black_box((info, seen))
        })
    });
    g.finish();
}

fn bench_decrypt(c: &mut Criterion) {
    let (key, plain) = input();
    let m = encrypt(&key, MediaType::Video, &plain);
    let exp = Expected {
        file_enc_sha256: Some(m.info.file_enc_sha256),
        file_sha256: Some(m.info.file_sha256),
        file_length: Some(m.info.file_length),
    };
    let mut g = c.benchmark_group("media_decrypt_64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("sequential_all_checks", |b| {
        b.iter(|| {
            black_box(decrypt(
                &key,
                MediaType::Video,
                black_box(&m.enc_file),
                &exp,
            ))
        })
    });
    g.bench_function("parallel_all_checks", |b| {
        b.iter(|| {
            black_box(decrypt_parallel(
                &key,
                MediaType::Video,
                black_box(&m.enc_file),
                &exp,
            ))
        })
    });
    g.bench_function("two_pass_stream_1MiB_pieces", |b| {
        let mut out = Vec::with_capacity(PIECE + 16);
        b.iter(|| {
            let mut v = MediaVerifier::new(&key, MediaType::Video);
            for p in m.enc_file.chunks(PIECE) {
                v.update(p);
            }
            let verified = v.finish(exp.file_enc_sha256.as_ref()).expect("valid");
            let mut d = MediaDecryptor::new(&key, MediaType::Video, &verified);
            for p in m.enc_file.chunks(PIECE) {
                out.clear();
                d.update(p, &mut out).expect("same blob");
                black_box(&out);
            }
            out.clear();
            d.finish(&mut out, &exp).expect("valid");
        })
    });
    g.finish();
}

/// The primitives alone, for comparison with `openssl speed`.
fn bench_primitives(c: &mut Criterion) {
    let (_, plain) = input();
    let mut g = c.benchmark_group("primitives_64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("sha256", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&plain))))
    });
    g.bench_function("hmac_sha256", |b| {
        b.iter(|| {
            let mut m = Hmac::<Sha256>::new_from_slice(&[1; 32]).expect("any key length");
            m.update(black_box(&plain));
            black_box(m.finalize())
        })
    });
    let mut buf = plain.clone();
    g.bench_function("aes256cbc_encrypt", |b| {
        b.iter(|| {
            let mut e = cbc::Encryptor::<Aes256>::new(&[2; 32].into(), &[3; 16].into());
            let (blocks, _) = InOutBuf::from(&mut buf[..]).into_chunks();
            e.encrypt_blocks_inout_mut(blocks);
            black_box(&buf);
        })
    });
    g.bench_function("aes256cbc_decrypt", |b| {
        b.iter(|| {
            let mut d = cbc::Decryptor::<Aes256>::new(&[2; 32].into(), &[3; 16].into());
            let (blocks, _) = InOutBuf::from(&mut buf[..]).into_chunks();
            d.decrypt_blocks_inout_mut(blocks);
            black_box(&buf);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_encrypt, bench_decrypt, bench_primitives);
criterion_main!(benches);
