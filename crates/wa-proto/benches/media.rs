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

/// CPU-time measurements (Linux `/proc`), so figures stay meaningful on a
/// machine shared with other work: wall-clock throughput there measures the
/// share of the CPU we got, not the code.
mod cpu {
    use criterion::measurement::{Measurement, ValueFormatter, WallTime};

    fn read(path: &str) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Nanoseconds the calling thread spent on a CPU
    /// (`/proc/thread-self/schedstat`, first field).
    pub fn thread_ns() -> u64 {
        let s = read("/proc/thread-self/schedstat");
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .expect("schedstat")
    }

    /// CPU time of the whole process, all threads including exited ones
    /// (`/proc/self/stat` utime + stime, 10 ms ticks), in nanoseconds.
    pub fn process_ns() -> u64 {
        let s = read("/proc/self/stat");
        let after = &s[s.rfind(')').expect("comm") + 2..];
        let f: Vec<u64> = after
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        // Fields 14 and 15 of the full line are 11 and 12 after "pid (comm)".
        (f[11] + f[12]) * 10_000_000
    }

    /// On-CPU time of the benchmarking thread.
    pub struct ThreadCpu(WallTime);

    /// On-CPU time of all threads of the process.
    pub struct ProcessCpu(WallTime);

    macro_rules! ns_measurement {
        ($t:ident, $f:path) => {
            impl Default for $t {
                fn default() -> Self {
                    $t(WallTime)
                }
            }

            impl Measurement for $t {
                type Intermediate = u64;
                type Value = u64;
                fn start(&self) -> u64 {
                    $f()
                }
                fn end(&self, start: u64) -> u64 {
                    $f().saturating_sub(start)
                }
                fn add(&self, a: &u64, b: &u64) -> u64 {
                    a + b
                }
                fn zero(&self) -> u64 {
                    0
                }
                fn to_f64(&self, v: &u64) -> f64 {
                    *v as f64
                }
                fn formatter(&self) -> &dyn ValueFormatter {
                    self.0.formatter()
                }
            }
        };
    }
    ns_measurement!(ThreadCpu, thread_ns);
    ns_measurement!(ProcessCpu, process_ns);
}

/// Single-thread CPU cost (sequential paths, primitives) and, for the
/// parallel paths, the CPU time of the calling thread, which runs AES-CBC:
/// the critical path when the hash workers have the other core.
fn bench_thread_cpu(c: &mut Criterion<cpu::ThreadCpu>) {
    let (key, plain) = input();
    let m = encrypt(&key, MediaType::Video, &plain);
    let exp = Expected {
        file_enc_sha256: Some(m.info.file_enc_sha256),
        file_sha256: Some(m.info.file_sha256),
        file_length: Some(m.info.file_length),
    };
    let mut g = c.benchmark_group("thread_cpu_64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("encrypt_sequential", |b| {
        b.iter(|| black_box(encrypt(&key, MediaType::Video, black_box(&plain))))
    });
    g.bench_function("decrypt_sequential_all_checks", |b| {
        b.iter(|| {
            black_box(decrypt(
                &key,
                MediaType::Video,
                black_box(&m.enc_file),
                &exp,
            ))
        })
    });
    g.bench_function("encrypt_parallel_calling_thread", |b| {
        b.iter(|| black_box(encrypt_parallel(&key, MediaType::Video, black_box(&plain))))
    });
    g.bench_function("encrypt_stream_parallel_1MiB_pieces", |b| {
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
    g.bench_function("decrypt_parallel_calling_thread", |b| {
        b.iter(|| {
            black_box(decrypt_parallel(
                &key,
                MediaType::Video,
                black_box(&m.enc_file),
                &exp,
            ))
        })
    });
    g.bench_function("sha256", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&plain))))
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
    g.finish();
}

/// Total CPU time over all threads of the parallel paths (10 ms resolution
/// per sample; samples are long enough for that to be small).
fn bench_process_cpu(c: &mut Criterion<cpu::ProcessCpu>) {
    let (key, plain) = input();
    let m = encrypt(&key, MediaType::Video, &plain);
    let exp = Expected {
        file_enc_sha256: Some(m.info.file_enc_sha256),
        file_sha256: Some(m.info.file_sha256),
        file_length: Some(m.info.file_length),
    };
    let mut g = c.benchmark_group("process_cpu_64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("encrypt_parallel_all_threads", |b| {
        b.iter(|| black_box(encrypt_parallel(&key, MediaType::Video, black_box(&plain))))
    });
    g.bench_function("encrypt_stream_parallel_1MiB_pieces", |b| {
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
    g.bench_function("decrypt_parallel_all_threads", |b| {
        b.iter(|| {
            black_box(decrypt_parallel(
                &key,
                MediaType::Video,
                black_box(&m.enc_file),
                &exp,
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_encrypt, bench_decrypt, bench_primitives);
criterion_group! {
    name = thread_cpu;
    config = Criterion::default().with_measurement(cpu::ThreadCpu::default());
    targets = bench_thread_cpu
}
criterion_group! {
    name = process_cpu;
    config = Criterion::default().with_measurement(cpu::ProcessCpu::default());
    targets = bench_process_cpu
}
criterion_main!(benches, thread_cpu, process_cpu);
