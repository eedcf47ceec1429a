//! The Signal protocol as WhatsApp uses it, without IO.
//!
//! - [`keys`]: Curve25519 keys (`0x05`-prefixed 33-byte form, raw 32-byte
//!   form), X25519 agreement and XEdDSA signatures in libsignal's variant
//!   (the Edwards sign bit travels in the top bit of the signature).
//! - [`prekeys`]: identity keys, registration ids, signed and one-time
//!   prekeys, prekey bundles.
//! - [`session`]: X3DH ("WhisperText") from a bundle or from a received
//!   PreKeySignalMessage, the Double Ratchet with skipped message keys
//!   (2000 ahead at most, 2000 stored per chain, 5 receiving chains, 40
//!   archived states), session records.
//! - [`protocol`]: the wire formats (`0x33` version byte, 8-byte MAC over
//!   both identity keys; sender-key messages with a 64-byte signature).
//! - [`group`]: sender keys for groups (`skmsg`).
//!
//! Randomness is always injected by the caller (`rand_core::{RngCore,
//! CryptoRng}`), and state is passed explicitly: [`encrypt`] advances the
//! sending chain inside the [`SessionRecord`] you pass, so persist the record
//! *before* sending the ciphertext; decryption leaves the record unchanged on
//! failure, and [`decrypt_prekey_message`] reports which one-time prekey it
//! consumed so that you can delete it in the same transaction. Every record
//! serializes to bytes starting with a version tag ([`record::RECORD_VERSION`]).
//! Plaintext padding (WhatsApp's 1–16 bytes of value n) is the caller's job.
//!
//! # Example: two parties establish a session
//!
//! ```
//! use wa_signal::rand_core::OsRng;
//! use wa_signal::{
//!     IdentityKeyPair, MessageType, PreKeyBundle, PreKeySignalMessage, SessionRecord,
//!     decrypt_message, decrypt_prekey_message, encrypt, generate_pre_keys,
//!     generate_registration_id, generate_signed_pre_key, process_bundle,
//! };
//!
//! let mut rng = OsRng;
//! // Bob's device: identity, registration id, prekeys (uploaded to the server).
//! let bob_identity = IdentityKeyPair::generate(&mut rng);
//! let bob_registration_id = generate_registration_id(&mut rng);
//! let bob_signed_pre_key = generate_signed_pre_key(&bob_identity, 1, 1_700_000_000_000, &mut rng);
//! let mut bob_pre_keys = generate_pre_keys(1, 10, &mut rng);
//! // The bundle the server hands to Alice.
//! let bundle = PreKeyBundle::new(
//!     bob_registration_id,
//!     bob_identity.public_key(),
//!     &bob_signed_pre_key,
//!     bob_pre_keys.first(),
//! );
//!
//! // Alice starts a session from the bundle and encrypts.
//! let alice_identity = IdentityKeyPair::generate(&mut rng);
//! let alice_registration_id = generate_registration_id(&mut rng);
//! let mut alice_session = SessionRecord::new();
//! process_bundle(&mut alice_session, &alice_identity, alice_registration_id, &bundle, &mut rng)?;
//! let first = encrypt(&mut alice_session, b"hello bob")?;
//! assert_eq!(first.kind, MessageType::PreKey); // <enc type="pkmsg">
//! // ... persist alice_session, then send first.bytes ...
//!
//! // Bob receives the pkmsg, looks up the prekeys it names and decrypts.
//! let msg = PreKeySignalMessage::deserialize(&first.bytes)?;
//! let one_time = msg.pre_key_id().and_then(|id| bob_pre_keys.iter().find(|k| k.id == id));
//! let mut bob_session = SessionRecord::new();
//! let res = decrypt_prekey_message(
//!     &mut bob_session,
//!     &bob_identity,
//!     bob_registration_id,
//!     &msg,
//!     Some(&bob_signed_pre_key),
//!     one_time,
//!     &mut rng,
//! )?;
//! assert_eq!(res.plaintext, b"hello bob");
//! assert_eq!(res.remote_identity, *alice_identity.public_key());
//! // Delete the consumed one-time prekey together with storing the session.
//! bob_pre_keys.retain(|k| Some(k.id) != res.consumed_pre_key_id);
//! let stored: Vec<u8> = bob_session.to_bytes();
//!
//! // Bob answers with a plain SignalMessage; Alice decrypts it.
//! let mut bob_session = SessionRecord::from_bytes(&stored)?;
//! let reply = encrypt(&mut bob_session, b"hi alice")?;
//! assert_eq!(reply.kind.as_str(), "msg");
//! assert_eq!(decrypt_message(&mut alice_session, &reply.bytes, &mut rng)?, b"hi alice");
//! // From now on Alice sends "msg" too.
//! assert_eq!(encrypt(&mut alice_session, b"how are you")?.kind, MessageType::Whisper);
//! # Ok::<(), wa_signal::SignalError>(())
//! ```
//!
//! # Example: sender keys
//!
//! ```
//! use wa_signal::rand_core::OsRng;
//! use wa_signal::{SenderKeyDistributionMessage, SenderKeyRecord};
//!
//! let mut own = SenderKeyRecord::generate_own(&mut OsRng);
//! // Sent to each member inside a 1:1 message (senderKeyDistributionMessage).
//! let skdm = own.distribution_message()?.serialized().to_vec();
//! let skmsg = own.encrypt(b"hello group")?; // <enc type="skmsg">
//!
//! let mut theirs = SenderKeyRecord::new(); // one per (group, sender device)
//! theirs.process_distribution_message(&SenderKeyDistributionMessage::deserialize(&skdm)?);
//! assert_eq!(theirs.decrypt(&skmsg)?, b"hello group");
//! # Ok::<(), wa_signal::SignalError>(())
//! ```
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
