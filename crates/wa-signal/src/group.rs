//! Group sender keys (`skmsg`): one chain per (group, sender device).
//!
//! The sender creates its own [`SenderKeyRecord`] once per group, hands the
//! [`SenderKeyDistributionMessage`] to every member inside a 1:1 message, and
//! encrypts group messages with [`SenderKeyRecord::encrypt`]. Receivers keep
//! one record per (group, sender device), feed it the SKDM with
//! [`SenderKeyRecord::process_distribution_message`] and decrypt with
//! [`SenderKeyRecord::decrypt`]. Persist the record after each call; failed
//! calls leave it unchanged.

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::crypto::{aes_cbc_decrypt, aes_cbc_encrypt};
use crate::error::SignalError;
use crate::keys::{KeyPair, PrivateKey, PublicKey};
use crate::proto::{SenderKeyRecordStore, SenderKeyStateStore, SkippedKeyStore};
use crate::protocol::{SenderKeyDistributionMessage, SenderKeyMessage};
use crate::ratchet::{ChainKey, SenderMessageKeys};
use crate::record::{
    arr32, chain_from_store, chain_to_store, decode_record, encode_record, public_from_store,
};

/// How many sender-key states a record keeps.
pub const MAX_SENDER_KEY_STATES: usize = 5;
/// How far ahead of the chain a group message iteration may be.
pub const MAX_GROUP_FORWARD_JUMPS: u32 = 2000;
/// How many skipped group message keys a state keeps.
pub const MAX_GROUP_MESSAGE_KEYS: usize = 2000;

#[derive(Clone)]
struct SenderKeyState {
    key_id: u32,
    chain: ChainKey,
    signing_public: PublicKey,
    signing_private: Option<PrivateKey>,
    skipped: VecDeque<(u32, [u8; 32])>,
}

impl Drop for SenderKeyState {
    fn drop(&mut self) {
        for (_, s) in self.skipped.iter_mut() {
            s.zeroize();
        }
    }
}

/// The sender-key states of one (group, sender device), newest last.
#[derive(Clone, Default)]
pub struct SenderKeyRecord {
    states: VecDeque<SenderKeyState>,
}

impl core::fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.states.iter().map(|s| (s.key_id, s.chain.index)))
            .finish()
    }
}

impl SenderKeyRecord {
    /// An empty record.
    pub fn new() -> SenderKeyRecord {
        SenderKeyRecord::default()
    }

    /// Whether the record holds no state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Creates our own sender key for a group: a random 31-bit key id, a
    /// random 32-byte chain key at iteration 0 and a fresh signing key pair
    /// (drawn in that order).
    pub fn generate_own<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> SenderKeyRecord {
        let key_id = rng.next_u32() & 0x7FFF_FFFF;
        let mut chain_key = [0u8; 32];
        rng.fill_bytes(&mut chain_key);
        let signing = KeyPair::generate(rng);
        SenderKeyRecord::from_own_key(key_id, 0, chain_key, signing)
    }

    /// Our own sender key from explicit parts (for reproducible tests or
    /// migrations).
    pub fn from_own_key(
        key_id: u32,
        iteration: u32,
        chain_key: [u8; 32],
        signing: KeyPair,
    ) -> SenderKeyRecord {
        let mut r = SenderKeyRecord::new();
        r.states.push_back(SenderKeyState {
            key_id,
            chain: ChainKey::new(chain_key, iteration),
            signing_public: signing.public,
            signing_private: Some(signing.private),
            skipped: VecDeque::new(),
        });
        r
    }

    /// The key id of the newest state.
    pub fn key_id(&self) -> Option<u32> {
        self.states.back().map(|s| s.key_id)
    }

    /// The distribution message describing the newest state at its current
    /// iteration (send it to members that do not have our key yet).
    pub fn distribution_message(&self) -> Result<SenderKeyDistributionMessage, SignalError> {
        let s = self.states.back().ok_or(SignalError::NoSenderKeyState(0))?;
        Ok(SenderKeyDistributionMessage::new(
            s.key_id,
            s.chain.index,
            s.chain.key,
            s.signing_public,
        ))
    }

    /// Stores the state a received SKDM describes. A state with the same
    /// key id and signing key is kept as is (re-sent SKDMs must not rewind
    /// the chain and enable replays); at most [`MAX_SENDER_KEY_STATES`] are kept.
    pub fn process_distribution_message(&mut self, skdm: &SenderKeyDistributionMessage) {
        if let Some(pos) = self.states.iter().position(|s| s.key_id == skdm.key_id()) {
            if self.states[pos].signing_public == *skdm.signing_key() {
                return;
            }
            self.states.remove(pos);
        }
        self.states.push_back(SenderKeyState {
            key_id: skdm.key_id(),
            chain: ChainKey::new(*skdm.chain_key(), skdm.iteration()),
            signing_public: *skdm.signing_key(),
            signing_private: None,
            skipped: VecDeque::new(),
        });
        while self.states.len() > MAX_SENDER_KEY_STATES {
            self.states.pop_front();
        }
    }

    /// Encrypts with our newest state and advances its chain; returns the
    /// serialized SenderKeyMessage (`skmsg`). The signature uses the
    /// deterministic XEdDSA nonce, as libsignal-node/Baileys do.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SignalError> {
        let s = self
            .states
            .back_mut()
            .ok_or(SignalError::NoSenderKeyState(0))?;
        let signing = s
            .signing_private
            .as_ref()
            .ok_or(SignalError::NotOwnSenderKey)?;
        let (seed, next) = s.chain.step()?;
        let keys = SenderMessageKeys::derive(&seed);
        let body = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let msg = SenderKeyMessage::new(s.key_id, s.chain.index, body, signing);
        s.chain = next;
        Ok(msg.serialized().to_vec())
    }

    /// Decrypts a serialized SenderKeyMessage.
    pub fn decrypt(&mut self, bytes: &[u8]) -> Result<Vec<u8>, SignalError> {
        let msg = SenderKeyMessage::deserialize(bytes)?;
        self.decrypt_message(&msg)
    }

    /// Decrypts a parsed SenderKeyMessage: checks the signature, steps the
    /// chain (storing skipped keys) and decrypts. Unchanged on error.
    pub fn decrypt_message(&mut self, msg: &SenderKeyMessage) -> Result<Vec<u8>, SignalError> {
        let s = self
            .states
            .iter_mut()
            .rev()
            .find(|s| s.key_id == msg.key_id())
            .ok_or(SignalError::NoSenderKeyState(msg.key_id()))?;
        if !msg.verify_signature(&s.signing_public) {
            return Err(SignalError::InvalidSignature);
        }
        let it = msg.iteration();
        if it < s.chain.index {
            let pos = s.skipped.iter().position(|(i, _)| *i == it).ok_or(
                SignalError::DuplicateMessage {
                    counter: it,
                    chain_index: s.chain.index,
                },
            )?;
            let keys = SenderMessageKeys::derive(&s.skipped[pos].1);
            let pt = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, msg.body())?;
            if let Some((_, mut seed)) = s.skipped.remove(pos) {
                seed.zeroize();
            }
            return Ok(pt);
        }
        let (skipped, seed, next) = s.chain.advance_to(it, MAX_GROUP_FORWARD_JUMPS)?;
        let keys = SenderMessageKeys::derive(&seed);
        let pt = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, msg.body())?;
        s.skipped.extend(skipped);
        while s.skipped.len() > MAX_GROUP_MESSAGE_KEYS {
            if let Some((_, mut seed)) = s.skipped.pop_front() {
                seed.zeroize();
            }
        }
        s.chain = next;
        Ok(pt)
    }

    /// Serializes the record (versioned).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_record(&SenderKeyRecordStore {
            states: self
                .states
                .iter()
                .map(|s| SenderKeyStateStore {
                    key_id: s.key_id,
                    chain: Some(chain_to_store(&s.chain.key, s.chain.index)),
                    signing_public: s.signing_public.serialize().to_vec(),
                    signing_private: s.signing_private.as_ref().map(|p| p.to_bytes().to_vec()),
                    skipped: s
                        .skipped
                        .iter()
                        .map(|(i, seed)| SkippedKeyStore {
                            counter: *i,
                            seed: seed.to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Parses what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<SenderKeyRecord, SignalError> {
        let r: SenderKeyRecordStore = decode_record(bytes)?;
        if r.states.len() > MAX_SENDER_KEY_STATES {
            return Err(SignalError::InvalidRecord("too many sender key states"));
        }
        let mut states = VecDeque::with_capacity(r.states.len());
        for s in &r.states {
            if s.skipped.len() > MAX_GROUP_MESSAGE_KEYS {
                return Err(SignalError::InvalidRecord("too many skipped keys"));
            }
            let (k, i) = chain_from_store(s.chain.as_ref())?;
            let signing_public = public_from_store(&s.signing_public)?;
            let signing_private = match &s.signing_private {
                None => None,
                Some(p) => {
                    let p = PrivateKey::from_bytes(arr32(p, "signing key")?);
                    if p.public_key() != signing_public {
                        return Err(SignalError::InvalidRecord("signing key mismatch"));
                    }
                    Some(p)
                }
            };
            let mut skipped = VecDeque::with_capacity(s.skipped.len());
            for sk in &s.skipped {
                skipped.push_back((sk.counter, arr32(&sk.seed, "skipped key")?));
            }
            states.push_back(SenderKeyState {
                key_id: s.key_id,
                chain: ChainKey::new(k, i),
                signing_public,
                signing_private,
                skipped,
            });
        }
        Ok(SenderKeyRecord { states })
    }
}
