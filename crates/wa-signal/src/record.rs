//! Shared helpers for the versioned byte encoding of stored records.

use prost::Message;

use crate::error::SignalError;
use crate::keys::{KeyPair, PrivateKey, PublicKey};
use crate::proto::{ChainStore, KeyPairStore};

/// The version tag that starts every serialized record of this crate.
pub const RECORD_VERSION: u8 = 1;

pub(crate) fn encode_record<M: Message>(m: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + m.encoded_len());
    out.push(RECORD_VERSION);
    m.encode(&mut out).expect("Vec grows as needed");
    out
}

pub(crate) fn decode_record<M: Message + Default>(bytes: &[u8]) -> Result<M, SignalError> {
    match bytes.split_first() {
        None => Err(SignalError::InvalidRecord("empty")),
        Some((&RECORD_VERSION, rest)) => {
            M::decode(rest).map_err(|_| SignalError::InvalidRecord("protobuf"))
        }
        Some(_) => Err(SignalError::InvalidRecord("unknown record version")),
    }
}

pub(crate) fn arr32(bytes: &[u8], what: &'static str) -> Result<[u8; 32], SignalError> {
    bytes
        .try_into()
        .map_err(|_| SignalError::InvalidRecord(what))
}

pub(crate) fn public_from_store(bytes: &[u8]) -> Result<PublicKey, SignalError> {
    PublicKey::deserialize(bytes).map_err(|_| SignalError::InvalidRecord("public key"))
}

pub(crate) fn key_pair_to_store(kp: &KeyPair) -> KeyPairStore {
    KeyPairStore {
        private: kp.private.to_bytes().to_vec(),
        public: kp.public.serialize().to_vec(),
    }
}

pub(crate) fn key_pair_from_store(kp: Option<&KeyPairStore>) -> Result<KeyPair, SignalError> {
    let kp = kp.ok_or(SignalError::InvalidRecord("missing key pair"))?;
    let private = PrivateKey::from_bytes(arr32(&kp.private, "private key")?);
    let public = public_from_store(&kp.public)?;
    if private.public_key() != public {
        return Err(SignalError::InvalidRecord("key pair mismatch"));
    }
    Ok(KeyPair { private, public })
}

pub(crate) fn chain_to_store(key: &[u8; 32], index: u32) -> ChainStore {
    ChainStore {
        key: key.to_vec(),
        index,
    }
}

pub(crate) fn chain_from_store(c: Option<&ChainStore>) -> Result<([u8; 32], u32), SignalError> {
    let c = c.ok_or(SignalError::InvalidRecord("missing chain"))?;
    Ok((arr32(&c.key, "chain key")?, c.index))
}
