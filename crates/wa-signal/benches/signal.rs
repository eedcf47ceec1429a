//! Criterion benchmarks: 1:1 encrypt/decrypt on an established session,
//! session setup (initiator from a bundle, responder from a pkmsg), and
//! sender-key encrypt/decrypt.
//!
//! By default criterion measures wall-clock time. On a shared, loaded machine
//! set `BENCH_CLOCK=thread-cpu` to measure the benchmark thread's CPU time
//! instead (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`), which excludes time
//! spent waiting for a core.

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use wa_signal::{
    IdentityKeyPair, PreKeyBundle, PreKeySignalMessage, SenderKeyRecord, SessionRecord,
    decrypt_message, decrypt_prekey_message, encrypt, generate_pre_keys, generate_signed_pre_key,
    process_bundle,
};

/// A typical padded text message (a short `conversation` plus padding).
const PLAINTEXT: &[u8] = &[0x42; 64];

fn benches<M: Measurement + 'static>(c: &mut Criterion<M>) {
    let mut rng = StdRng::seed_from_u64(1);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let spk = generate_signed_pre_key(&bob, 1, 0, &mut rng);
    let opk = generate_pre_keys(1, 1, &mut rng);
    let bundle = PreKeyBundle::new(2, bob.public_key(), &spk, opk.first());

    c.bench_function("session setup from bundle (initiator)", |b| {
        b.iter(|| {
            let mut r = SessionRecord::new();
            process_bundle(&mut r, &alice, 1, black_box(&bundle), &mut rng).unwrap();
            r
        })
    });

    // An established session: Alice → Bob (pkmsg), Bob → Alice.
    let mut a = SessionRecord::new();
    process_bundle(&mut a, &alice, 1, &bundle, &mut rng).unwrap();
    let first = encrypt(&mut a, PLAINTEXT).unwrap();
    let pk = PreKeySignalMessage::deserialize(&first.bytes).unwrap();

    c.bench_function(
        "session setup from pkmsg (responder, incl. first decrypt)",
        |bn| {
            bn.iter(|| {
                let mut r = SessionRecord::new();
                decrypt_prekey_message(
                    &mut r,
                    &bob,
                    2,
                    black_box(&pk),
                    Some(&spk),
                    opk.first(),
                    &mut rng,
                )
                .unwrap();
                r
            })
        },
    );

    let mut b = SessionRecord::new();
    decrypt_prekey_message(&mut b, &bob, 2, &pk, Some(&spk), opk.first(), &mut rng).unwrap();
    let reply = encrypt(&mut b, PLAINTEXT).unwrap();
    decrypt_message(&mut a, &reply.bytes, &mut rng).unwrap();

    // Copies for the decrypt bench, taken before the encrypt bench advances `a`.
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    c.bench_function("encrypt (established session, 64 B)", |bn| {
        bn.iter(|| encrypt(&mut a, black_box(PLAINTEXT)).unwrap())
    });

    // Decrypt in order on the same chain (no ratchet step).
    c.bench_function("decrypt (established session, 64 B)", |bn| {
        bn.iter_batched(
            || encrypt(&mut a2, PLAINTEXT).unwrap().bytes,
            |ct| decrypt_message(&mut b2, black_box(&ct), &mut rng).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let mut own = SenderKeyRecord::generate_own(&mut rng);
    let mut recv = SenderKeyRecord::new();
    recv.process_distribution_message(&own.distribution_message().unwrap());
    c.bench_function("sender key encrypt (64 B)", |bn| {
        bn.iter(|| own.encrypt(black_box(PLAINTEXT)).unwrap())
    });
    let mut own2 = SenderKeyRecord::generate_own(&mut rng);
    let mut recv2 = SenderKeyRecord::new();
    recv2.process_distribution_message(&own2.distribution_message().unwrap());
    drop(recv);
    c.bench_function("sender key decrypt (64 B)", |bn| {
        bn.iter_batched(
            || own2.encrypt(PLAINTEXT).unwrap(),
            |ct| recv2.decrypt(black_box(&ct)).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

#[path = "../../../benches/support/thread_cpu.rs"]
#[macro_use]
mod thread_cpu;

thread_cpu_main!(benches);
