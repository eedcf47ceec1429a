//! 1:1 sessions: X3DH setup, the Double Ratchet, session records.
//!
//! All functions take the [`SessionRecord`] explicitly. Encryption advances
//! the sending chain inside the record, so the caller must persist the record
//! *before* sending the ciphertext (a message key is never used twice).
//! Decryption leaves the record untouched when it fails.

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::crypto::{aes_cbc_decrypt, aes_cbc_encrypt};
use crate::error::SignalError;
use crate::keys::{KeyPair, PublicKey};
use crate::prekeys::{IdentityKeyPair, PreKeyBundle, PreKeyRecord, SignedPreKeyRecord};
use crate::proto::{
    PendingPreKeyStore, ReceiverChainStore, SessionRecordStore, SessionStateStore, SkippedKeyStore,
};
use crate::protocol::{
    CIPHERTEXT_VERSION, CiphertextMessage, MessageType, PreKeySignalMessage, SignalMessage,
};
use crate::ratchet::{ChainKey, MessageKeys, kdf_rk, kdf_x3dh};
use crate::record::{
    arr32, chain_from_store, chain_to_store, decode_record, encode_record, key_pair_from_store,
    key_pair_to_store, public_from_store,
};

/// How far ahead of a receiving chain a message counter may be.
pub const MAX_FORWARD_JUMPS: u32 = 2000;
/// How many skipped message keys a receiving chain keeps.
pub const MAX_MESSAGE_KEYS: usize = 2000;
/// How many receiving chains a session state keeps.
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// How many archived (previous) states a session record keeps.
pub const ARCHIVED_STATES_MAX: usize = 40;

#[derive(Clone)]
struct ReceiverChain {
    ratchet_key: PublicKey,
    chain: ChainKey,
    /// (counter, message-key seed), oldest first.
    skipped: VecDeque<(u32, [u8; 32])>,
}

impl Drop for ReceiverChain {
    fn drop(&mut self) {
        for (_, s) in self.skipped.iter_mut() {
            s.zeroize();
        }
    }
}

fn push_skipped(dst: &mut VecDeque<(u32, [u8; 32])>, new: Vec<(u32, [u8; 32])>, max: usize) {
    dst.extend(new);
    while dst.len() > max {
        if let Some((_, mut s)) = dst.pop_front() {
            s.zeroize();
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingPreKey {
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    base_key: PublicKey,
}

/// One ratchet session with a remote device.
#[derive(Clone)]
pub struct SessionState {
    local_identity: PublicKey,
    remote_identity: PublicKey,
    root_key: [u8; 32],
    previous_counter: u32,
    sender_ratchet: KeyPair,
    sender_chain: ChainKey,
    receiver_chains: Vec<ReceiverChain>,
    pending_pre_key: Option<PendingPreKey>,
    local_registration_id: u32,
    remote_registration_id: u32,
    base_key: PublicKey,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        self.root_key.zeroize();
    }
}

impl core::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionState")
            .field("remote_identity", &self.remote_identity)
            .field("remote_registration_id", &self.remote_registration_id)
            .field("sender_index", &self.sender_chain.index)
            .field("receiver_chains", &self.receiver_chains.len())
            .field("pending_pre_key", &self.pending_pre_key)
            .finish_non_exhaustive()
    }
}

impl SessionState {
    /// Our identity key as recorded in this session.
    pub fn local_identity(&self) -> &PublicKey {
        &self.local_identity
    }
    /// The remote identity key of this session.
    pub fn remote_identity(&self) -> &PublicKey {
        &self.remote_identity
    }
    /// Our registration id.
    pub fn local_registration_id(&self) -> u32 {
        self.local_registration_id
    }
    /// The remote registration id.
    pub fn remote_registration_id(&self) -> u32 {
        self.remote_registration_id
    }
    /// The X3DH base key this session was built from.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }
    /// True while we have not yet received anything on this session (we
    /// initiated it), i.e. while [`encrypt`] produces `pkmsg`.
    pub fn has_unacknowledged_pre_key(&self) -> bool {
        self.pending_pre_key.is_some()
    }
    /// The index the next outgoing message will use.
    pub fn sender_counter(&self) -> u32 {
        self.sender_chain.index
    }

    fn to_store(&self) -> SessionStateStore {
        SessionStateStore {
            version: u32::from(CIPHERTEXT_VERSION),
            local_identity: self.local_identity.serialize().to_vec(),
            remote_identity: self.remote_identity.serialize().to_vec(),
            root_key: self.root_key.to_vec(),
            previous_counter: self.previous_counter,
            sender_ratchet: Some(key_pair_to_store(&self.sender_ratchet)),
            sender_chain: Some(chain_to_store(
                &self.sender_chain.key,
                self.sender_chain.index,
            )),
            receiver_chains: self
                .receiver_chains
                .iter()
                .map(|c| ReceiverChainStore {
                    ratchet_key: c.ratchet_key.serialize().to_vec(),
                    chain: Some(chain_to_store(&c.chain.key, c.chain.index)),
                    skipped: c
                        .skipped
                        .iter()
                        .map(|(counter, seed)| SkippedKeyStore {
                            counter: *counter,
                            seed: seed.to_vec(),
                        })
                        .collect(),
                })
                .collect(),
            pending_pre_key: self.pending_pre_key.as_ref().map(|p| PendingPreKeyStore {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id,
                base_key: p.base_key.serialize().to_vec(),
            }),
            local_registration_id: self.local_registration_id,
            remote_registration_id: self.remote_registration_id,
            base_key: self.base_key.serialize().to_vec(),
        }
    }

    fn from_store(s: &SessionStateStore) -> Result<SessionState, SignalError> {
        if s.version != u32::from(CIPHERTEXT_VERSION) {
            return Err(SignalError::InvalidRecord("session version"));
        }
        if s.receiver_chains.len() > MAX_RECEIVER_CHAINS {
            return Err(SignalError::InvalidRecord("too many receiver chains"));
        }
        let (sk, si) = chain_from_store(s.sender_chain.as_ref())?;
        let mut receiver_chains = Vec::with_capacity(s.receiver_chains.len());
        for c in &s.receiver_chains {
            if c.skipped.len() > MAX_MESSAGE_KEYS {
                return Err(SignalError::InvalidRecord("too many skipped keys"));
            }
            let (k, i) = chain_from_store(c.chain.as_ref())?;
            let mut skipped = VecDeque::with_capacity(c.skipped.len());
            for sk in &c.skipped {
                skipped.push_back((sk.counter, arr32(&sk.seed, "skipped key")?));
            }
            receiver_chains.push(ReceiverChain {
                ratchet_key: public_from_store(&c.ratchet_key)?,
                chain: ChainKey::new(k, i),
                skipped,
            });
        }
        let pending_pre_key = match &s.pending_pre_key {
            None => None,
            Some(p) => Some(PendingPreKey {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id,
                base_key: public_from_store(&p.base_key)?,
            }),
        };
        Ok(SessionState {
            local_identity: public_from_store(&s.local_identity)?,
            remote_identity: public_from_store(&s.remote_identity)?,
            root_key: arr32(&s.root_key, "root key")?,
            previous_counter: s.previous_counter,
            sender_ratchet: key_pair_from_store(s.sender_ratchet.as_ref())?,
            sender_chain: ChainKey::new(sk, si),
            receiver_chains,
            pending_pre_key,
            local_registration_id: s.local_registration_id,
            remote_registration_id: s.remote_registration_id,
            base_key: public_from_store(&s.base_key)?,
        })
    }
}

/// All session states with one remote device: the current one plus up to
/// [`ARCHIVED_STATES_MAX`] archived ones (newest first).
#[derive(Clone, Debug, Default)]
pub struct SessionRecord {
    current: Option<SessionState>,
    previous: VecDeque<SessionState>,
}

impl SessionRecord {
    /// An empty record (no session yet).
    pub fn new() -> SessionRecord {
        SessionRecord::default()
    }

    /// The current session state, if any.
    pub fn current(&self) -> Option<&SessionState> {
        self.current.as_ref()
    }

    /// Whether there is a current session to encrypt with.
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// The archived states, newest first.
    pub fn previous(&self) -> impl Iterator<Item = &SessionState> {
        self.previous.iter()
    }

    /// Moves the current state (if any) to the archive, so that the next
    /// send needs a fresh session (e.g. after a retry receipt or an identity
    /// change). Archived states can still decrypt late messages.
    pub fn archive_current_state(&mut self) {
        if let Some(cur) = self.current.take() {
            self.previous.push_front(cur);
            self.previous.truncate(ARCHIVED_STATES_MAX);
        }
    }

    fn promote_new(&mut self, state: SessionState) {
        self.archive_current_state();
        self.current = Some(state);
    }

    fn promote_archived(&mut self, index: usize) {
        if let Some(state) = self.previous.remove(index) {
            self.promote_new(state);
        }
    }

    /// Serializes the record (versioned; see [`crate::record::RECORD_VERSION`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_record(&SessionRecordStore {
            current: self.current.as_ref().map(SessionState::to_store),
            previous: self.previous.iter().map(SessionState::to_store).collect(),
        })
    }

    /// Parses what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<SessionRecord, SignalError> {
        let s: SessionRecordStore = decode_record(bytes)?;
        if s.previous.len() > ARCHIVED_STATES_MAX {
            return Err(SignalError::InvalidRecord("too many archived states"));
        }
        Ok(SessionRecord {
            current: s
                .current
                .as_ref()
                .map(SessionState::from_store)
                .transpose()?,
            previous: s
                .previous
                .iter()
                .map(SessionState::from_store)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Starts a session from a prekey bundle (X3DH as initiator) and makes it
/// the record's current session; any previous current state is archived.
///
/// Draws two key pairs from `rng`: the base key, then the first sending
/// ratchet key. Fails with [`SignalError::InvalidSignature`] if the signed
/// prekey signature does not verify under the bundle's identity key.
pub fn process_bundle<R: RngCore + CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    our_registration_id: u32,
    bundle: &PreKeyBundle,
    rng: &mut R,
) -> Result<(), SignalError> {
    if !bundle.verify() {
        return Err(SignalError::InvalidSignature);
    }
    let ik = &our_identity.key_pair().private;
    let base = KeyPair::generate(rng);
    let mut agreements = vec![
        ik.calculate_agreement(&bundle.signed_pre_key),
        base.private.calculate_agreement(&bundle.identity_key),
        base.private.calculate_agreement(&bundle.signed_pre_key),
    ];
    if let Some((_, opk)) = &bundle.pre_key {
        agreements.push(base.private.calculate_agreement(opk));
    }
    let (rk, _ck) = kdf_x3dh(&agreements);
    agreements.zeroize();
    let sending = KeyPair::generate(rng);
    let (root_key, cks) = kdf_rk(
        &rk,
        &sending.private.calculate_agreement(&bundle.signed_pre_key),
    );
    let state = SessionState {
        local_identity: *our_identity.public_key(),
        remote_identity: bundle.identity_key,
        root_key,
        previous_counter: 0,
        sender_ratchet: sending,
        sender_chain: ChainKey::new(cks, 0),
        receiver_chains: Vec::new(),
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.map(|(id, _)| id),
            signed_pre_key_id: bundle.signed_pre_key_id,
            base_key: base.public,
        }),
        local_registration_id: our_registration_id,
        remote_registration_id: bundle.registration_id,
        base_key: base.public,
    };
    record.promote_new(state);
    Ok(())
}

/// Encrypts `plaintext` (already padded by the caller) with the record's
/// current session and advances its sending chain.
///
/// Returns a `pkmsg` until the session has received something from the
/// peer, a `msg` afterwards. Persist `record` before sending the result.
pub fn encrypt(
    record: &mut SessionRecord,
    plaintext: &[u8],
) -> Result<CiphertextMessage, SignalError> {
    let state = record.current.as_mut().ok_or(SignalError::NoSession)?;
    let (seed, next) = state.sender_chain.step()?;
    let keys = MessageKeys::derive(&seed);
    let body = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let msg = SignalMessage::new(
        &keys.mac_key,
        &state.local_identity,
        &state.remote_identity,
        state.sender_ratchet.public,
        state.sender_chain.index,
        state.previous_counter,
        body,
    );
    state.sender_chain = next;
    Ok(match &state.pending_pre_key {
        Some(p) => CiphertextMessage {
            kind: MessageType::PreKey,
            bytes: PreKeySignalMessage::new(
                state.local_registration_id,
                p.pre_key_id,
                p.signed_pre_key_id,
                p.base_key,
                state.local_identity,
                msg,
            )
            .serialized()
            .to_vec(),
        },
        None => CiphertextMessage {
            kind: MessageType::Whisper,
            bytes: msg.serialized().to_vec(),
        },
    })
}

/// What must change in a state after a successful decryption.
enum Plan {
    UseSkipped {
        chain: usize,
        pos: usize,
    },
    Advance {
        chain: usize,
        skipped: Vec<(u32, [u8; 32])>,
        next: ChainKey,
    },
    NewChain {
        their: PublicKey,
        root_key: [u8; 32],
        skipped: Vec<(u32, [u8; 32])>,
        next: ChainKey,
    },
}

fn open(
    state: &SessionState,
    msg: &SignalMessage,
    seed: &[u8; 32],
) -> Result<Vec<u8>, SignalError> {
    let keys = MessageKeys::derive(seed);
    if !msg.verify_mac(&keys.mac_key, &state.remote_identity, &state.local_identity) {
        return Err(SignalError::InvalidMac);
    }
    aes_cbc_decrypt(&keys.cipher_key, &keys.iv, msg.body())
}

/// Decrypts with one state without modifying it.
fn plan_decrypt(state: &SessionState, msg: &SignalMessage) -> Result<(Vec<u8>, Plan), SignalError> {
    let their = msg.ratchet_key();
    let counter = msg.counter();
    match state
        .receiver_chains
        .iter()
        .position(|c| c.ratchet_key == *their)
    {
        Some(i) => {
            let chain = &state.receiver_chains[i];
            if counter < chain.chain.index {
                let pos = chain
                    .skipped
                    .iter()
                    .position(|(c, _)| *c == counter)
                    .ok_or(SignalError::DuplicateMessage {
                        counter,
                        chain_index: chain.chain.index,
                    })?;
                let pt = open(state, msg, &chain.skipped[pos].1)?;
                Ok((pt, Plan::UseSkipped { chain: i, pos }))
            } else {
                let (skipped, seed, next) = chain.chain.advance_to(counter, MAX_FORWARD_JUMPS)?;
                let pt = open(state, msg, &seed)?;
                Ok((
                    pt,
                    Plan::Advance {
                        chain: i,
                        skipped,
                        next,
                    },
                ))
            }
        }
        None => {
            let dh = state.sender_ratchet.private.calculate_agreement(their);
            let (root_key, ckr) = kdf_rk(&state.root_key, &dh);
            let (skipped, seed, next) =
                ChainKey::new(ckr, 0).advance_to(counter, MAX_FORWARD_JUMPS)?;
            let pt = open(state, msg, &seed)?;
            Ok((
                pt,
                Plan::NewChain {
                    their: *their,
                    root_key,
                    skipped,
                    next,
                },
            ))
        }
    }
}

/// Applies a successful plan. Draws one key pair from `rng` if the message
/// started a new receiving chain (the DH ratchet step).
fn apply<R: RngCore + CryptoRng + ?Sized>(state: &mut SessionState, plan: Plan, rng: &mut R) {
    match plan {
        Plan::UseSkipped { chain, pos } => {
            if let Some((_, mut s)) = state.receiver_chains[chain].skipped.remove(pos) {
                s.zeroize();
            }
        }
        Plan::Advance {
            chain,
            skipped,
            next,
        } => {
            let c = &mut state.receiver_chains[chain];
            push_skipped(&mut c.skipped, skipped, MAX_MESSAGE_KEYS);
            c.chain = next;
        }
        Plan::NewChain {
            their,
            root_key,
            skipped,
            next,
        } => {
            let ours = KeyPair::generate(rng);
            let (root2, cks) = kdf_rk(&root_key, &ours.private.calculate_agreement(&their));
            state.root_key = root2;
            state.previous_counter = state.sender_chain.index.saturating_sub(1);
            state.sender_ratchet = ours;
            state.sender_chain = ChainKey::new(cks, 0);
            let mut chain = ReceiverChain {
                ratchet_key: their,
                chain: next,
                skipped: VecDeque::new(),
            };
            push_skipped(&mut chain.skipped, skipped, MAX_MESSAGE_KEYS);
            state.receiver_chains.push(chain);
            if state.receiver_chains.len() > MAX_RECEIVER_CHAINS {
                state.receiver_chains.remove(0);
            }
        }
    }
    state.pending_pre_key = None;
}

/// Decrypts a serialized SignalMessage (`msg`).
///
/// Tries the current state, then the archived ones; a matching archived
/// state becomes current. On any error the record is left unchanged. May
/// draw one key pair from `rng` (DH ratchet step).
pub fn decrypt_message<R: RngCore + CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError> {
    let msg = SignalMessage::deserialize(bytes)?;
    decrypt_signal_message(record, &msg, rng)
}

/// Like [`decrypt_message`], for an already parsed message.
pub fn decrypt_signal_message<R: RngCore + CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    msg: &SignalMessage,
    rng: &mut R,
) -> Result<Vec<u8>, SignalError> {
    let mut first_err = None;
    if let Some(state) = record.current.as_mut() {
        match plan_decrypt(state, msg) {
            Ok((pt, plan)) => {
                apply(state, plan, rng);
                return Ok(pt);
            }
            Err(e) => first_err = Some(e),
        }
    }
    let mut duplicate = None;
    for i in 0..record.previous.len() {
        match plan_decrypt(&record.previous[i], msg) {
            Ok((pt, plan)) => {
                apply(&mut record.previous[i], plan, rng);
                record.promote_archived(i);
                return Ok(pt);
            }
            Err(e @ SignalError::DuplicateMessage { .. }) => {
                duplicate.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    match (first_err, duplicate) {
        (Some(e @ SignalError::DuplicateMessage { .. }), _) => Err(e),
        (_, Some(d)) => Err(d),
        (Some(e), None) => Err(e),
        (None, None) => Err(SignalError::NoSession),
    }
}

/// The result of decrypting a PreKeySignalMessage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyDecryption {
    /// The plaintext (still padded).
    pub plaintext: Vec<u8>,
    /// The one-time prekey this message consumed: delete it in the same
    /// transaction that stores the record. `None` if the message used no
    /// one-time prekey or the session already existed.
    pub consumed_pre_key_id: Option<u32>,
    /// The sender's identity key (store it for trust decisions).
    pub remote_identity: PublicKey,
    /// The sender's registration id.
    pub remote_registration_id: u32,
}

/// Decrypts a PreKeySignalMessage (`pkmsg`), setting up the responder side
/// of the session unless a state with the same base key already exists.
///
/// Look up the signed prekey (`msg.signed_pre_key_id()`) and, if present,
/// the one-time prekey (`msg.pre_key_id()`) before calling; trust decisions
/// on `msg.identity_key()` are the caller's. On success the new state is
/// current (the old one archived). On any error the record is unchanged.
pub fn decrypt_prekey_message<R: RngCore + CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    our_registration_id: u32,
    msg: &PreKeySignalMessage,
    signed_pre_key: Option<&SignedPreKeyRecord>,
    one_time_pre_key: Option<&PreKeyRecord>,
    rng: &mut R,
) -> Result<PreKeyDecryption, SignalError> {
    let done = |plaintext, consumed| PreKeyDecryption {
        plaintext,
        consumed_pre_key_id: consumed,
        remote_identity: *msg.identity_key(),
        remote_registration_id: msg.registration_id(),
    };
    // Existing state with this base key (a later pkmsg of the same session).
    let in_current = record
        .current
        .as_ref()
        .is_some_and(|s| s.base_key == *msg.base_key());
    let in_previous = if in_current {
        None
    } else {
        record
            .previous
            .iter()
            .position(|s| s.base_key == *msg.base_key())
    };
    if in_current || in_previous.is_some() {
        let state = match in_previous {
            Some(i) => record.previous.get_mut(i),
            None => record.current.as_mut(),
        }
        .ok_or(SignalError::NoSession)?;
        if state.remote_identity != *msg.identity_key() {
            return Err(SignalError::IdentityMismatch);
        }
        let (pt, plan) = plan_decrypt(state, msg.message())?;
        apply(state, plan, rng);
        if let Some(i) = in_previous {
            record.promote_archived(i);
        }
        return Ok(done(pt, None));
    }

    let spk = signed_pre_key
        .filter(|s| s.id == msg.signed_pre_key_id())
        .ok_or(SignalError::MissingSignedPreKey(msg.signed_pre_key_id()))?;
    let opk = match msg.pre_key_id() {
        None => None,
        Some(id) => Some(
            one_time_pre_key
                .filter(|p| p.id == id)
                .ok_or(SignalError::MissingPreKey(id))?,
        ),
    };
    let ik = &our_identity.key_pair().private;
    let mut agreements = vec![
        spk.key_pair.private.calculate_agreement(msg.identity_key()),
        ik.calculate_agreement(msg.base_key()),
        spk.key_pair.private.calculate_agreement(msg.base_key()),
    ];
    if let Some(opk) = opk {
        agreements.push(opk.key_pair.private.calculate_agreement(msg.base_key()));
    }
    let (root_key, ck) = kdf_x3dh(&agreements);
    agreements.zeroize();
    let mut state = SessionState {
        local_identity: *our_identity.public_key(),
        remote_identity: *msg.identity_key(),
        root_key,
        previous_counter: 0,
        sender_ratchet: spk.key_pair.clone(),
        sender_chain: ChainKey::new(ck, 0),
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        local_registration_id: our_registration_id,
        remote_registration_id: msg.registration_id(),
        base_key: *msg.base_key(),
    };
    let (pt, plan) = plan_decrypt(&state, msg.message())?;
    apply(&mut state, plan, rng);
    record.promote_new(state);
    Ok(done(pt, opk.map(|p| p.id)))
}
