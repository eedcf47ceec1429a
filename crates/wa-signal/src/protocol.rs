//! Wire formats: SignalMessage (`msg`), PreKeySignalMessage (`pkmsg`),
//! SenderKeyMessage (`skmsg`) and SenderKeyDistributionMessage.
//!
//! Every message starts with the version byte `0x33`. A SignalMessage ends
//! with an 8-byte truncated HMAC-SHA256 over both identity keys (sender
//! first) and everything before the MAC; a SenderKeyMessage ends with a
//! 64-byte XEdDSA signature.

use prost::Message;
use subtle::ConstantTimeEq;

use crate::crypto::hmac_sha256;
use crate::error::SignalError;
use crate::keys::PublicKey;
use crate::proto::{
    PreKeySignalMessageProto, SenderKeyDistributionMessageProto, SenderKeyMessageProto,
    SignalMessageProto,
};

/// The message version this crate speaks.
pub const CIPHERTEXT_VERSION: u8 = 3;
/// The first byte of every message: `(3 << 4) | 3`.
pub const VERSION_BYTE: u8 = (CIPHERTEXT_VERSION << 4) | CIPHERTEXT_VERSION;
/// Length of the truncated MAC at the end of a SignalMessage.
pub const MAC_LENGTH: usize = 8;
/// Length of the signature at the end of a SenderKeyMessage.
pub const SIGNATURE_LENGTH: usize = 64;

fn check_version(bytes: &[u8], min_len: usize) -> Result<(), SignalError> {
    if bytes.len() < min_len {
        return Err(SignalError::TooShort(bytes.len()));
    }
    if bytes[0] >> 4 != CIPHERTEXT_VERSION {
        return Err(SignalError::UnsupportedVersion(bytes[0]));
    }
    Ok(())
}

fn encode_with_version<M: Message>(m: &M, extra: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + m.encoded_len() + extra);
    out.push(VERSION_BYTE);
    m.encode(&mut out).expect("Vec grows as needed");
    out
}

fn required<T>(v: Option<T>, what: &'static str) -> Result<T, SignalError> {
    v.ok_or(SignalError::InvalidMessage(what))
}

/// The kind of a 1:1 ciphertext, as named in the `type` attribute of `<enc>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A PreKeySignalMessage (`pkmsg`), sent until the peer has answered.
    PreKey,
    /// A SignalMessage (`msg`).
    Whisper,
}

impl MessageType {
    /// The `<enc type>` string: `"pkmsg"` or `"msg"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::PreKey => "pkmsg",
            MessageType::Whisper => "msg",
        }
    }
}

/// An encrypted 1:1 message ready to be put in an `<enc>` node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiphertextMessage {
    /// `pkmsg` or `msg`.
    pub kind: MessageType,
    /// The serialized message (starting with `0x33`).
    pub bytes: Vec<u8>,
}

/// A parsed SignalMessage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalMessage {
    ratchet_key: PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    pub(crate) fn new(
        mac_key: &[u8; 32],
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
    ) -> SignalMessage {
        let proto = SignalMessageProto {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = encode_with_version(&proto, MAC_LENGTH);
        let mac = compute_mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        SignalMessage {
            ratchet_key,
            counter,
            previous_counter,
            ciphertext: proto.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses a SignalMessage (does not check the MAC).
    pub fn deserialize(bytes: &[u8]) -> Result<SignalMessage, SignalError> {
        check_version(bytes, 1 + MAC_LENGTH)?;
        let proto = SignalMessageProto::decode(&bytes[1..bytes.len() - MAC_LENGTH])
            .map_err(|_| SignalError::InvalidMessage("SignalMessage protobuf"))?;
        let ratchet_key = PublicKey::deserialize(&required(proto.ratchet_key, "ratchet key")?)?;
        Ok(SignalMessage {
            ratchet_key,
            counter: required(proto.counter, "counter")?,
            previous_counter: proto.previous_counter.unwrap_or(0),
            ciphertext: required(proto.ciphertext, "ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender's ratchet public key.
    pub fn ratchet_key(&self) -> &PublicKey {
        &self.ratchet_key
    }
    /// The index of this message in its sending chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }
    /// The last index used on the sender's previous chain.
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }
    /// The AES-CBC body.
    pub fn body(&self) -> &[u8] {
        &self.ciphertext
    }
    /// The whole serialized message including the MAC.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
    /// The 8-byte MAC.
    pub fn mac(&self) -> &[u8] {
        &self.serialized[self.serialized.len() - MAC_LENGTH..]
    }

    pub(crate) fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
    ) -> bool {
        let (body, mac) = self.serialized.split_at(self.serialized.len() - MAC_LENGTH);
        let expected = compute_mac(mac_key, sender_identity, receiver_identity, body);
        expected.ct_eq(mac).into()
    }
}

fn compute_mac(
    mac_key: &[u8; 32],
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
    body: &[u8],
) -> [u8; MAC_LENGTH] {
    let full = hmac_sha256(
        mac_key,
        &[
            &sender_identity.serialize(),
            &receiver_identity.serialize(),
            body,
        ],
    );
    let mut out = [0u8; MAC_LENGTH];
    out.copy_from_slice(&full[..MAC_LENGTH]);
    out
}

/// A parsed PreKeySignalMessage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    registration_id: u32,
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    base_key: PublicKey,
    identity_key: PublicKey,
    message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    pub(crate) fn new(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: PublicKey,
        identity_key: PublicKey,
        message: SignalMessage,
    ) -> PreKeySignalMessage {
        let proto = PreKeySignalMessageProto {
            pre_key_id,
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message.serialized.clone()),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        };
        let serialized = encode_with_version(&proto, 0);
        PreKeySignalMessage {
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            message,
            serialized,
        }
    }

    /// Parses a PreKeySignalMessage and its inner SignalMessage.
    pub fn deserialize(bytes: &[u8]) -> Result<PreKeySignalMessage, SignalError> {
        check_version(bytes, 1)?;
        let proto = PreKeySignalMessageProto::decode(&bytes[1..])
            .map_err(|_| SignalError::InvalidMessage("PreKeySignalMessage protobuf"))?;
        let message = SignalMessage::deserialize(&required(proto.message, "inner message")?)?;
        Ok(PreKeySignalMessage {
            registration_id: proto.registration_id.unwrap_or(0),
            pre_key_id: proto.pre_key_id.filter(|&id| id != 0),
            signed_pre_key_id: required(proto.signed_pre_key_id, "signed prekey id")?,
            base_key: PublicKey::deserialize(&required(proto.base_key, "base key")?)?,
            identity_key: PublicKey::deserialize(&required(proto.identity_key, "identity key")?)?,
            message,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender's registration id.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }
    /// The one-time prekey the sender used, if any.
    pub fn pre_key_id(&self) -> Option<u32> {
        self.pre_key_id
    }
    /// The signed prekey the sender used.
    pub fn signed_pre_key_id(&self) -> u32 {
        self.signed_pre_key_id
    }
    /// The sender's X3DH base key.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }
    /// The sender's identity key.
    pub fn identity_key(&self) -> &PublicKey {
        &self.identity_key
    }
    /// The inner SignalMessage.
    pub fn message(&self) -> &SignalMessage {
        &self.message
    }
    /// The whole serialized message.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// A parsed SenderKeyMessage (`skmsg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyMessage {
    key_id: u32,
    iteration: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    pub(crate) fn new(
        key_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        signing_key: &crate::keys::PrivateKey,
    ) -> SenderKeyMessage {
        let proto = SenderKeyMessageProto {
            id: Some(key_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = encode_with_version(&proto, SIGNATURE_LENGTH);
        let sig = signing_key.calculate_signature_deterministic(&serialized);
        serialized.extend_from_slice(&sig);
        SenderKeyMessage {
            key_id,
            iteration,
            ciphertext: proto.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses a SenderKeyMessage (does not check the signature).
    pub fn deserialize(bytes: &[u8]) -> Result<SenderKeyMessage, SignalError> {
        check_version(bytes, 1 + SIGNATURE_LENGTH)?;
        let proto = SenderKeyMessageProto::decode(&bytes[1..bytes.len() - SIGNATURE_LENGTH])
            .map_err(|_| SignalError::InvalidMessage("SenderKeyMessage protobuf"))?;
        Ok(SenderKeyMessage {
            key_id: required(proto.id, "key id")?,
            iteration: required(proto.iteration, "iteration")?,
            ciphertext: required(proto.ciphertext, "ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender-key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    /// The chain iteration of this message.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The AES-CBC body.
    pub fn body(&self) -> &[u8] {
        &self.ciphertext
    }
    /// The whole serialized message including the signature.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Verifies the XEdDSA signature with the sender's signing key.
    pub fn verify_signature(&self, signing_key: &PublicKey) -> bool {
        let (body, sig) = self
            .serialized
            .split_at(self.serialized.len() - SIGNATURE_LENGTH);
        signing_key.verify_signature(body, sig)
    }
}

/// A parsed SenderKeyDistributionMessage (SKDM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    key_id: u32,
    iteration: u32,
    chain_key: [u8; 32],
    signing_key: PublicKey,
    serialized: Vec<u8>,
}

impl SenderKeyDistributionMessage {
    pub(crate) fn new(
        key_id: u32,
        iteration: u32,
        chain_key: [u8; 32],
        signing_key: PublicKey,
    ) -> SenderKeyDistributionMessage {
        let proto = SenderKeyDistributionMessageProto {
            id: Some(key_id),
            iteration: Some(iteration),
            chain_key: Some(chain_key.to_vec()),
            signing_key: Some(signing_key.serialize().to_vec()),
        };
        SenderKeyDistributionMessage {
            key_id,
            iteration,
            chain_key,
            signing_key,
            serialized: encode_with_version(&proto, 0),
        }
    }

    /// Parses a SenderKeyDistributionMessage.
    pub fn deserialize(bytes: &[u8]) -> Result<SenderKeyDistributionMessage, SignalError> {
        check_version(bytes, 1)?;
        let proto = SenderKeyDistributionMessageProto::decode(&bytes[1..])
            .map_err(|_| SignalError::InvalidMessage("SenderKeyDistributionMessage protobuf"))?;
        let chain_key: [u8; 32] = required(proto.chain_key, "chain key")?
            .as_slice()
            .try_into()
            .map_err(|_| SignalError::InvalidMessage("chain key length"))?;
        Ok(SenderKeyDistributionMessage {
            key_id: required(proto.id, "key id")?,
            iteration: required(proto.iteration, "iteration")?,
            chain_key,
            signing_key: PublicKey::deserialize(&required(proto.signing_key, "signing key")?)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender-key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    /// The chain iteration the chain key belongs to.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The chain key at `iteration`.
    pub fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }
    /// The sender's signing public key.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }
    /// The serialized message.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}
