//! Wire formats of the WhatsApp Web multi-device protocol, without IO.
//!
//! This crate knows how bytes look on the wire and nothing about sockets,
//! files or clocks: time and randomness are parameters. It holds
//!
//! - [`proto`]: the protobuf messages we use, generated from `proto/` with prost.
//! - [`frame`], [`noise`], [`cert`]: the socket layer under the binary nodes: 3-byte
//!   length framing with the `WA 06 03` intro, the Noise XX handshake (client and
//!   server state machines, see [`noise`] for how each side drives it), the
//!   transport ciphers, and the server certificate chain (verify and mint).
//!
//! Higher layers (`wa-client`, `wa-emulator`) drive these pieces from their
//! own IO tasks.

/// Protobuf messages generated from `proto/whatsapp.proto` (see `scripts/regen-proto.sh`).
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_qualifications,
    rust_2018_idioms
)]
pub mod proto {
    include!("gen/proto.rs");
}

pub mod binary;
pub mod cert;
pub mod frame;
pub mod media;
pub mod noise;
pub mod pairing;
