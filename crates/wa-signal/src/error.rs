//! The error type of this crate.

use crate::keys::KeyError;

/// Everything that can go wrong while building sessions or en/decrypting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// A key inside a message or record is malformed.
    #[error("invalid key: {0}")]
    Key(#[from] KeyError),
    /// The message is too short to hold its fixed parts.
    #[error("message too short ({0} bytes)")]
    TooShort(usize),
    /// The version byte is not one we speak (we accept version 3 only).
    #[error("unsupported message version byte {0:#04x}")]
    UnsupportedVersion(u8),
    /// The protobuf part is malformed or misses a required field.
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    /// The message authentication code does not match.
    #[error("message authentication failed")]
    InvalidMac,
    /// A signature (signed prekey or sender-key message) does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The body does not decrypt (bad length or padding).
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// The message key for this counter was already used (a replay or a duplicate delivery).
    #[error("duplicate message: counter {counter} already used (chain at {chain_index})")]
    DuplicateMessage {
        /// The counter of the message.
        counter: u32,
        /// The index the receiving chain is at.
        chain_index: u32,
    },
    /// The message is further ahead of the chain than the protocol allows.
    #[error("message counter {counter} too far ahead of chain index {chain_index}")]
    TooFarInFuture {
        /// The counter of the message.
        counter: u32,
        /// The index the receiving chain is at.
        chain_index: u32,
    },
    /// There is no session state to encrypt or decrypt with.
    #[error("no session")]
    NoSession,
    /// None of the session states in the record could decrypt the message.
    #[error("no session state matches the message")]
    NoMatchingSession,
    /// A PreKeySignalMessage refers to a signed prekey the caller did not supply.
    #[error("signed prekey {0} not available")]
    MissingSignedPreKey(u32),
    /// A PreKeySignalMessage refers to a one-time prekey the caller did not supply.
    #[error("one-time prekey {0} not available")]
    MissingPreKey(u32),
    /// A PreKeySignalMessage reuses a known base key with a different identity.
    #[error("identity key does not match the existing session")]
    IdentityMismatch,
    /// No sender-key state with this key id.
    #[error("no sender key state for key id {0}")]
    NoSenderKeyState(u32),
    /// The sender-key state has no private signing key (it is someone else's key).
    #[error("sender key state cannot sign (not our own)")]
    NotOwnSenderKey,
    /// A counter or iteration would overflow.
    #[error("chain exhausted")]
    ChainExhausted,
    /// A stored record could not be decoded.
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
}
