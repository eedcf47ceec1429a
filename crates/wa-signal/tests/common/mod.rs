//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};
use serde_json::Value;

/// Decodes a hex string field.
pub fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// Decodes a 32-byte hex field.
pub fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().expect("32 bytes")
}

/// An RNG that hands out recorded 32-byte private keys in order and fails
/// the test on any other draw, so a test also proves that the code under
/// test draws exactly the recorded keys and nothing else.
pub struct ReplayRng {
    pub draws: VecDeque<[u8; 32]>,
}

impl ReplayRng {
    pub fn new(draws: Vec<[u8; 32]>) -> ReplayRng {
        ReplayRng {
            draws: draws.into(),
        }
    }
}

impl RngCore for ReplayRng {
    fn next_u32(&mut self) -> u32 {
        panic!("unexpected next_u32 draw")
    }
    fn next_u64(&mut self) -> u64 {
        panic!("unexpected next_u64 draw")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert_eq!(dest.len(), 32, "unexpected draw size");
        let d = self
            .draws
            .pop_front()
            .expect("more key draws than recorded");
        dest.copy_from_slice(&d);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for ReplayRng {}

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wa_signal::{
    CiphertextMessage, IdentityKeyPair, MessageType, PreKeyBundle, PreKeyRecord,
    PreKeySignalMessage, SessionRecord, SignalError, SignedPreKeyRecord, decrypt_message,
    decrypt_prekey_message, encrypt, generate_pre_keys, generate_registration_id,
    generate_signed_pre_key, process_bundle,
};

/// One device in a simulated conversation.
pub struct Device {
    pub identity: IdentityKeyPair,
    pub registration_id: u32,
    pub signed_pre_key: SignedPreKeyRecord,
    pub pre_keys: Vec<PreKeyRecord>,
    pub record: SessionRecord,
}

impl Device {
    pub fn new(rng: &mut StdRng) -> Device {
        let identity = IdentityKeyPair::generate(rng);
        let signed_pre_key = generate_signed_pre_key(&identity, 1, 0, rng);
        Device {
            registration_id: generate_registration_id(rng),
            pre_keys: generate_pre_keys(1, 3, rng),
            signed_pre_key,
            identity,
            record: SessionRecord::new(),
        }
    }

    pub fn bundle(&self, with_one_time: bool) -> PreKeyBundle {
        PreKeyBundle::new(
            self.registration_id,
            self.identity.public_key(),
            &self.signed_pre_key,
            if with_one_time {
                self.pre_keys.first()
            } else {
                None
            },
        )
    }

    /// Decrypts either kind, deleting a consumed one-time prekey.
    pub fn decrypt(
        &mut self,
        msg: &CiphertextMessage,
        rng: &mut StdRng,
    ) -> Result<Vec<u8>, SignalError> {
        match msg.kind {
            MessageType::Whisper => decrypt_message(&mut self.record, &msg.bytes, rng),
            MessageType::PreKey => {
                let m = PreKeySignalMessage::deserialize(&msg.bytes)?;
                let opk = m
                    .pre_key_id()
                    .and_then(|id| self.pre_keys.iter().find(|p| p.id == id));
                let res = decrypt_prekey_message(
                    &mut self.record,
                    &self.identity,
                    self.registration_id,
                    &m,
                    Some(&self.signed_pre_key),
                    opk,
                    rng,
                )?;
                if let Some(id) = res.consumed_pre_key_id {
                    self.pre_keys.retain(|p| p.id != id);
                }
                Ok(res.plaintext)
            }
        }
    }
}

/// Parameters of a simulated conversation.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub steps: usize,
    /// Probability (percent) that a due message is lost.
    pub loss_pct: u32,
    /// Deliveries pick among the first `window` in-flight messages.
    pub window: usize,
    /// Probability (percent) that a delivered message is delivered again (must be rejected).
    pub replay_pct: u32,
    pub one_time_pre_key: bool,
}

/// Outcome counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: usize,
    pub delivered: usize,
    pub lost: usize,
    pub replays_rejected: usize,
}

struct InFlight {
    msg: CiphertextMessage,
    plaintext: Vec<u8>,
    overtaken: u32,
}

/// A message may be overtaken this many times at most (keeps reordering
/// within the protocol's limits on receiving chains).
const MAX_OVERTAKEN: u32 = 8;

/// Runs a random two-party conversation: random direction, reordering
/// within `window`, random loss and replays. Every delivered message must
/// decrypt to its plaintext and every replay must be rejected.
pub fn run_conversation(seed: u64, sc: Scenario) -> Stats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut devs = [Device::new(&mut rng), Device::new(&mut rng)];
    let bundle = devs[1].bundle(sc.one_time_pre_key);
    let (a_id, a_reg) = (devs[0].identity.clone(), devs[0].registration_id);
    process_bundle(&mut devs[0].record, &a_id, a_reg, &bundle, &mut rng).unwrap();
    // queues[i]: messages in flight towards device i.
    let mut queues: [Vec<InFlight>; 2] = [Vec::new(), Vec::new()];
    let mut stats = Stats::default();
    let mut step = 0usize;
    while stats.sent < sc.steps || queues.iter().any(|q| !q.is_empty()) {
        step += 1;
        let sending = stats.sent < sc.steps && rng.gen_bool(0.5);
        if sending {
            let from = rng.gen_range(0..2usize);
            if !devs[from].record.has_current_session() {
                continue;
            }
            let len = rng.gen_range(0..200usize);
            let mut plaintext = vec![0u8; len];
            rng.fill(&mut plaintext[..]);
            plaintext.extend_from_slice(&(step as u64).to_be_bytes());
            let msg = encrypt(&mut devs[from].record, &plaintext).unwrap();
            queues[1 - from].push(InFlight {
                msg,
                plaintext,
                overtaken: 0,
            });
            stats.sent += 1;
        } else {
            let to = rng.gen_range(0..2usize);
            if queues[to].is_empty() {
                continue;
            }
            let w = sc.window.max(1).min(queues[to].len());
            let pick = if queues[to][0].overtaken >= MAX_OVERTAKEN {
                0
            } else {
                rng.gen_range(0..w)
            };
            for earlier in &mut queues[to][..pick] {
                earlier.overtaken += 1;
            }
            let item = queues[to].remove(pick);
            if rng.gen_range(0..100) < sc.loss_pct {
                stats.lost += 1;
                continue;
            }
            let pt = devs[to]
                .decrypt(&item.msg, &mut rng)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: delivery failed: {e}"));
            assert_eq!(pt, item.plaintext);
            stats.delivered += 1;
            if rng.gen_range(0..100) < sc.replay_pct {
                let before = devs[to].record.to_bytes();
                let err = devs[to].decrypt(&item.msg, &mut rng).unwrap_err();
                assert!(
                    matches!(err, SignalError::DuplicateMessage { .. }),
                    "seed {seed} step {step}: replay gave {err:?}"
                );
                assert_eq!(
                    devs[to].record.to_bytes(),
                    before,
                    "replay changed the record"
                );
                stats.replays_rejected += 1;
            }
        }
    }
    assert_eq!(stats.delivered + stats.lost, stats.sent);
    stats
}
