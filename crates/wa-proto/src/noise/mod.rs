//! The Noise handshake and transport of the WhatsApp Web socket, without IO.
//!
//! WhatsApp runs `Noise_XX_25519_AESGCM_SHA256` with the prologue `WA 06 03`
//! and carries each handshake message in a `HandshakeMessage` protobuf.
//! It is *not* bit-for-bit standard Noise: message 1 carries no payload and
//! WhatsApp skips the `MixHash("")` that standard Noise performs for it, so
//! the later AEAD associated data differ from a stock library's (the
//! transport keys agree). This module implements the WhatsApp variant.
//!
//! Both sides are typestate machines: each step consumes the state and
//! returns the next one, so a handshake cannot be driven out of order, and a
//! failure ends it. Randomness is injected, time is a parameter.
//!
//! | client ([`ClientHandshake`])                         | server ([`ServerHandshake`])                              |
//! |------------------------------------------------------|-----------------------------------------------------------|
//! | `new(static, trust, rng)`, send `client_hello()`     |                                                           |
//! |                                                      | `read_client_hello(msg, rng)`, send `server_hello()`      |
//! | `read_server_hello(msg, now)` (verifies the chain)   |                                                           |
//! | `finish(client_payload)`, send `message`             |                                                           |
//! |                                                      | `read_client_finish(msg)`: client static + ClientPayload  |
//! | `transport` encrypt/decrypt                          | `transport` encrypt/decrypt                               |
//!
//! Framing is separate ([`crate::frame`]): the client's first frame carries
//! the intro header, frames are 3-byte length prefixed.
//!
//! ```
//! use wa_proto::cert::{CertChainBuilder, TrustedRoot};
//! use wa_proto::frame::{FrameDecoder, FrameEncoder};
//! use wa_proto::noise::{ClientHandshake, ServerHandshake};
//! use wa_signal::KeyPair;
//!
//! let mut rng = rand::thread_rng();
//! let now = 1_800_000_000; // unix seconds, from the caller's clock
//!
//! // The server (an emulator) owns a root, an intermediate and a static key.
//! let root = KeyPair::generate(&mut rng);
//! let intermediate = KeyPair::generate(&mut rng);
//! let server_static = KeyPair::generate(&mut rng);
//! let chain = CertChainBuilder::new(now - 3600, now + 86_400).mint(
//!     &root.private,
//!     &intermediate,
//!     &server_static.public,
//!     &mut rng,
//! );
//! let server = ServerHandshake::new(server_static, chain);
//!
//! // The client trusts that root (the default is WhatsApp's real root).
//! let trust = TrustedRoot::new(*root.public.as_djb());
//! let client_static = KeyPair::generate(&mut rng);
//! let client = ClientHandshake::new(client_static.clone(), trust, &mut rng);
//!
//! // Client -> server: intro + framed client hello.
//! let mut client_out = FrameEncoder::new();
//! let mut server_in = FrameDecoder::server();
//! server_in.push(&client_out.encode(&client.client_hello()).unwrap());
//! let hello = server_in.next_frame().unwrap().unwrap();
//! assert_eq!(server_in.intro().unwrap().dict_version, 3);
//!
//! // Server -> client: server hello.
//! let server = server.read_client_hello(&hello, &mut rng).unwrap();
//! let mut server_out = FrameEncoder::server();
//! let mut client_in = FrameDecoder::new();
//! client_in.push(&server_out.encode(server.server_hello()).unwrap());
//! let server_hello = client_in.next_frame().unwrap().unwrap();
//!
//! // Client verifies the chain and finishes with its ClientPayload bytes.
//! let client = client.read_server_hello(&server_hello, now).unwrap();
//! let client_done = client.finish(b"serialized ClientPayload").unwrap();
//! server_in.push(&client_out.encode(&client_done.message).unwrap());
//! let finish = server_in.next_frame().unwrap().unwrap();
//!
//! // Server learns who the client is and what it wants.
//! let server_done = server.read_client_finish(&finish).unwrap();
//! assert_eq!(server_done.client_static, client_static.public);
//! assert_eq!(server_done.client_payload, b"serialized ClientPayload");
//! assert_eq!(server_done.handshake_hash, client_done.handshake_hash);
//!
//! // Transport: every later frame is AES-GCM under per-direction counters.
//! let (mut c, mut s) = (client_done.transport, server_done.transport);
//! let ct = c.encrypt(b"\x00<node>").unwrap();
//! assert_eq!(s.decrypt(&ct).unwrap(), b"\x00<node>");
//! let ct = s.encrypt(b"\x00<success>").unwrap();
//! assert_eq!(c.decrypt(&ct).unwrap(), b"\x00<success>");
//! ```

mod handshake;
pub(crate) mod symmetric;
mod transport;

use thiserror::Error;

pub use crate::cert::{CertError, TrustedRoot, VerifiedCertChain, WA_ROOT_PUBLIC_KEY};
pub use handshake::{
    ClientAwaitingFinish, ClientFinished, ClientHandshake, ServerAwaitingFinish, ServerFinished,
    ServerHandshake,
};
pub use transport::{NoiseTransport, TAG_LEN, TransportCipher};

/// The 32-byte protocol name (28 ASCII bytes + 4 NUL), used directly as the
/// initial `h` and `ck`.
pub const NOISE_XX_PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// The XXfallback protocol name (36 bytes, so `h = SHA-256(name)`), used
/// when a client's Noise IK attempt is answered with a full server hello.
pub const NOISE_XXFALLBACK_PROTOCOL_NAME: &[u8] = b"Noise_XXfallback_25519_AESGCM_SHA256";

/// Errors of the handshake and the transport.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// The server hello does not decode or lacks a field.
    #[error("bad server hello: {0}")]
    BadServerHello(&'static str),
    /// The client hello does not decode or lacks a field.
    #[error("bad client hello: {0}")]
    BadClientHello(&'static str),
    /// The client finish does not decode or lacks a field.
    #[error("bad client finish: {0}")]
    BadClientFinish(&'static str),
    /// The server's certificate chain is not trusted.
    #[error("untrusted server certificate: {0}")]
    UntrustedCertificate(#[from] CertError),
    /// An AES-GCM tag did not verify (tampered or wrong keys).
    #[error("decryption failed")]
    Decrypt,
    /// AES-GCM refused to encrypt (message too long for GCM).
    #[error("encryption failed")]
    Encrypt,
    /// The nonce counter ran out; the connection must be replaced.
    #[error("nonce counter exhausted")]
    CounterExhausted,
    /// A peer key gave an all-zero Diffie-Hellman result (low-order point).
    #[error("weak (low-order) public key")]
    WeakKey,
    /// Internal misuse: an AEAD operation before any key was mixed in.
    #[error("no handshake key yet")]
    NoKey,
}
