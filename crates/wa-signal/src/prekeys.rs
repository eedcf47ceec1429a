//! Identity keys, registration ids, signed prekeys, one-time prekeys and
//! prekey bundles.

use rand_core::{CryptoRng, RngCore};

use crate::error::SignalError;
use crate::keys::{KeyPair, PublicKey};
use crate::proto::{IdentityStore, PreKeyStore, SignedPreKeyStore};
use crate::record::{decode_record, encode_record, key_pair_from_store, key_pair_to_store};

/// Prekey ids are 24-bit on the wire (3 bytes big-endian in nodes).
pub const MAX_PRE_KEY_ID: u32 = 0x00FF_FFFF;

/// A device's long-term identity key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityKeyPair(pub KeyPair);

impl IdentityKeyPair {
    /// Draws a fresh identity key pair.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> IdentityKeyPair {
        IdentityKeyPair(KeyPair::generate(rng))
    }

    /// The public identity key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0.public
    }

    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.0
    }

    /// Serializes the key pair (versioned record).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_record(&IdentityStore {
            key_pair: Some(key_pair_to_store(&self.0)),
        })
    }

    /// Parses what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<IdentityKeyPair, SignalError> {
        let s: IdentityStore = decode_record(bytes)?;
        Ok(IdentityKeyPair(key_pair_from_store(s.key_pair.as_ref())?))
    }
}

/// Draws a registration id in 1..=16380 (libsignal's 14-bit range; every
/// client range is accepted by the server). It goes on the wire as 4 bytes
/// big-endian.
pub fn generate_registration_id<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> u32 {
    (rng.next_u32() % 16380) + 1
}

/// A one-time prekey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyRecord {
    /// The 24-bit id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

impl PreKeyRecord {
    /// Serializes the record (versioned).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_record(&PreKeyStore {
            id: self.id,
            key_pair: Some(key_pair_to_store(&self.key_pair)),
        })
    }

    /// Parses what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<PreKeyRecord, SignalError> {
        let s: PreKeyStore = decode_record(bytes)?;
        Ok(PreKeyRecord {
            id: s.id,
            key_pair: key_pair_from_store(s.key_pair.as_ref())?,
        })
    }
}

/// Generates `count` one-time prekeys with consecutive ids starting at
/// `start`, wrapping within 1..=[`MAX_PRE_KEY_ID`].
pub fn generate_pre_keys<R: RngCore + CryptoRng + ?Sized>(
    start: u32,
    count: u32,
    rng: &mut R,
) -> Vec<PreKeyRecord> {
    let mut id = start.clamp(1, MAX_PRE_KEY_ID);
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        out.push(PreKeyRecord {
            id,
            key_pair: KeyPair::generate(rng),
        });
        id = if id >= MAX_PRE_KEY_ID { 1 } else { id + 1 };
    }
    out
}

/// A signed prekey: a key pair plus the identity key's XEdDSA signature over
/// the 33-byte serialized public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPreKeyRecord {
    /// The 24-bit id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// XEdDSA signature by the identity key over `key_pair.public.serialize()`.
    pub signature: [u8; 64],
    /// Creation time (milliseconds since the Unix epoch, caller supplied).
    pub timestamp: u64,
}

impl SignedPreKeyRecord {
    /// Serializes the record (versioned).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_record(&SignedPreKeyStore {
            id: self.id,
            key_pair: Some(key_pair_to_store(&self.key_pair)),
            signature: self.signature.to_vec(),
            timestamp: self.timestamp,
        })
    }

    /// Parses what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedPreKeyRecord, SignalError> {
        let s: SignedPreKeyStore = decode_record(bytes)?;
        Ok(SignedPreKeyRecord {
            id: s.id,
            key_pair: key_pair_from_store(s.key_pair.as_ref())?,
            signature: s
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| SignalError::InvalidRecord("signature"))?,
            timestamp: s.timestamp,
        })
    }
}

/// Generates a signed prekey with the given id, signed by `identity`.
pub fn generate_signed_pre_key<R: RngCore + CryptoRng + ?Sized>(
    identity: &IdentityKeyPair,
    id: u32,
    timestamp: u64,
    rng: &mut R,
) -> SignedPreKeyRecord {
    let key_pair = KeyPair::generate(rng);
    let signature = identity
        .0
        .private
        .calculate_signature(&key_pair.public.serialize(), rng);
    SignedPreKeyRecord {
        id,
        key_pair,
        signature,
        timestamp,
    }
}

/// What a server hands out so that someone can start a session with a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The device's registration id.
    pub registration_id: u32,
    /// The device's identity key.
    pub identity_key: PublicKey,
    /// The signed prekey id.
    pub signed_pre_key_id: u32,
    /// The signed prekey public key.
    pub signed_pre_key: PublicKey,
    /// The identity key's signature over `signed_pre_key.serialize()`.
    pub signed_pre_key_signature: [u8; 64],
    /// A one-time prekey (id, public key), if the server had one left.
    pub pre_key: Option<(u32, PublicKey)>,
}

impl PreKeyBundle {
    /// Builds the bundle describing our own keys (what we upload; what a
    /// server or the emulator hands to peers).
    pub fn new(
        registration_id: u32,
        identity: &PublicKey,
        signed_pre_key: &SignedPreKeyRecord,
        pre_key: Option<&PreKeyRecord>,
    ) -> PreKeyBundle {
        PreKeyBundle {
            registration_id,
            identity_key: *identity,
            signed_pre_key_id: signed_pre_key.id,
            signed_pre_key: signed_pre_key.key_pair.public,
            signed_pre_key_signature: signed_pre_key.signature,
            pre_key: pre_key.map(|p| (p.id, p.key_pair.public)),
        }
    }

    /// Whether the signed-prekey signature verifies under the identity key.
    pub fn verify(&self) -> bool {
        self.identity_key.verify_signature(
            &self.signed_pre_key.serialize(),
            &self.signed_pre_key_signature,
        )
    }
}
