//! The Signal protocol as WhatsApp uses it, without IO.
//!
//! Randomness is always injected by the caller, and every state change is
//! returned explicitly so that callers can persist it before acting on it.
#![warn(missing_docs)]

pub mod keys;

pub use keys::{KeyError, KeyPair, PrivateKey, PublicKey};
