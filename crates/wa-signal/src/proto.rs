//! Hand-written prost structures: the Signal wire messages
//! (WhisperTextProtocol) and this crate's own storage records.
//!
//! Wire fields are proto2 `optional`, so zeros are written explicitly as the
//! reference implementations do.

#![allow(missing_docs)]

// ---------- wire (field numbers from WhisperTextProtocol.proto) ----------

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SignalMessageProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    pub counter: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub previous_counter: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PreKeySignalMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub base_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub identity_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub message: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub signed_pre_key_id: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SenderKeyMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub ciphertext: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SenderKeyDistributionMessageProto {
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub chain_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signing_key: Option<Vec<u8>>,
}

// ---------- storage (this crate's own layout) ----------

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyPairStore {
    #[prost(bytes = "vec", tag = "1")]
    pub private: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub public: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PreKeyStore {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(message, optional, tag = "2")]
    pub key_pair: Option<KeyPairStore>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SignedPreKeyStore {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(message, optional, tag = "2")]
    pub key_pair: Option<KeyPairStore>,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub timestamp: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ChainStore {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub index: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SkippedKeyStore {
    #[prost(uint32, tag = "1")]
    pub counter: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub seed: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ReceiverChainStore {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub chain: Option<ChainStore>,
    #[prost(message, repeated, tag = "3")]
    pub skipped: Vec<SkippedKeyStore>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PendingPreKeyStore {
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    #[prost(uint32, tag = "2")]
    pub signed_pre_key_id: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub base_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SessionStateStore {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub local_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub remote_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub root_key: Vec<u8>,
    #[prost(uint32, tag = "5")]
    pub previous_counter: u32,
    #[prost(message, optional, tag = "6")]
    pub sender_ratchet: Option<KeyPairStore>,
    #[prost(message, optional, tag = "7")]
    pub sender_chain: Option<ChainStore>,
    #[prost(message, repeated, tag = "8")]
    pub receiver_chains: Vec<ReceiverChainStore>,
    #[prost(message, optional, tag = "9")]
    pub pending_pre_key: Option<PendingPreKeyStore>,
    #[prost(uint32, tag = "10")]
    pub local_registration_id: u32,
    #[prost(uint32, tag = "11")]
    pub remote_registration_id: u32,
    #[prost(bytes = "vec", tag = "12")]
    pub base_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SessionRecordStore {
    #[prost(message, optional, tag = "1")]
    pub current: Option<SessionStateStore>,
    #[prost(message, repeated, tag = "2")]
    pub previous: Vec<SessionStateStore>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SenderKeyStateStore {
    #[prost(uint32, tag = "1")]
    pub key_id: u32,
    #[prost(message, optional, tag = "2")]
    pub chain: Option<ChainStore>,
    #[prost(bytes = "vec", tag = "3")]
    pub signing_public: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signing_private: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "5")]
    pub skipped: Vec<SkippedKeyStore>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SenderKeyRecordStore {
    #[prost(message, repeated, tag = "1")]
    pub states: Vec<SenderKeyStateStore>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct IdentityStore {
    #[prost(message, optional, tag = "1")]
    pub key_pair: Option<KeyPairStore>,
}
