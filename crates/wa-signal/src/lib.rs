//! The Signal protocol as WhatsApp uses it, without IO.
//!
//! Randomness is always injected by the caller, and every state change is
//! returned explicitly so that callers can persist it before acting on it.
#![warn(missing_docs)]

mod crypto;
pub mod error;
pub mod group;
pub mod keys;
pub mod prekeys;
mod proto;
pub mod protocol;
mod ratchet;
pub mod record;
pub mod session;

pub use error::SignalError;
pub use group::SenderKeyRecord;
pub use keys::{KeyError, KeyPair, PrivateKey, PublicKey};
pub use prekeys::{
    IdentityKeyPair, PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, generate_pre_keys,
    generate_registration_id, generate_signed_pre_key,
};
pub use protocol::{
    CiphertextMessage, MessageType, PreKeySignalMessage, SenderKeyDistributionMessage,
    SenderKeyMessage, SignalMessage,
};
/// Re-exported so callers can name the RNG traits without a direct dependency.
pub use rand_core;
pub use session::{
    PreKeyDecryption, SessionRecord, SessionState, decrypt_message, decrypt_prekey_message,
    decrypt_signal_message, encrypt, process_bundle,
};
