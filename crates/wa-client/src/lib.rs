//! A WhatsApp Web multi-device client: link a companion device by QR code, log in, send and
//! receive end-to-end encrypted text and media, over the real protocol (WebSocket, Noise,
//! binary nodes, Signal) without a browser.
//!
//! Everything can run offline against [`wa-emulator`](https://docs.rs/wa-emulator), which plays
//! the WhatsApp server and the users' phones; by default a [`ClientConfig`] points at WhatsApp
//! itself (its WebSocket URL and Noise root key).
//!
//! # Example
//!
//! Pair with a (simulated) phone, send a text, receive one. This runs as a test, offline:
//!
//! ```
//! use std::sync::Arc;
//! use wa_client::{Client, ClientConfig, Event, store::MemoryStore};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An offline WhatsApp with two accounts (drop these lines and the three builder calls
//! // below to talk to the real service).
//! let emu = wa_emulator::Emulator::start(Default::default()).await?;
//! emu.create_account("15550001111", "Ana").await?;
//! emu.create_account("15550002222", "Ben").await?;
//!
//! let config = ClientConfig::builder()
//!     .ws_url(emu.ws_url())
//!     .root_public_key(emu.root_public_key())
//!     .media_ca_pem(emu.tls_cert_pem())
//!     .device_name("my bot")
//!     .build()?;
//! let (client, mut events) = Client::new(config, Arc::new(MemoryStore::new()));
//! client.connect().await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         // A human scans what `wa_client::qr::to_terminal(&code)` prints; here Ana's
//!         // simulated phone does.
//!         Event::Qr { code, .. } => drop(emu.phone("15550001111").scan(&code).await?),
//!         Event::Connected => break,
//!         _ => {}
//!     }
//! }
//! let sent = client.send_text("+1 555 000-2222", "hello Ben").await?;
//! println!("sent {} at {}", sent.id, sent.timestamp);
//!
//! emu.phone("15550002222").send_text("15550001111", "hi Ana").await?;
//! while let Some(event) = events.recv().await {
//!     if let Event::Message(m) = event {
//!         assert_eq!(m.text.as_deref(), Some("hi Ana"));
//!         break;
//!     }
//! }
//! client.disconnect().await; // keeps the login in the store
//! # Ok(()) }
//! ```
//!
//! Keep the login across restarts with a [`store::SledDatabase`]: one per process, one
//! namespace per session (`db.session_store("sales")?`), so thousands of sessions share it.
//! The `examples/` directory of the repository has complete programs (`pair`, `send_text`,
//! `send_image`, `echo_bot`, `multi_session`), each runnable with `--emulator`.
//!
//! # Main types
//!
//! - [`ClientConfig`] (built with [`ClientConfig::builder`]): server URL, trusted Noise root,
//!   media TLS roots, device name, timeouts, reconnect policy.
//! - [`Client`]: the cloneable handle: [`Client::connect`], [`Client::disconnect`],
//!   [`Client::logout`], [`Client::status`], [`Client::me`], [`Client::send_text`],
//!   [`Client::send_image`], [`Client::send_media`], [`Client::send_media_file`],
//!   [`Client::download_media`].
//! - [`Events`] / [`Event`]: QR codes, pairing, connection changes, [`MessageEvent`]s and
//!   [`ReceiptEvent`]s; [`Status`] is the current state.
//! - [`store::Store`]: where keys and sessions live, with [`store::MemoryStore`] and the sled
//!   backend [`store::SledDatabase`] / [`store::SledStore`].
//! - [`parse_phone_number`] turns what people type into a [`Jid`]; [`qr`] renders QR codes for
//!   the terminal, SVG or PNG.
//!
//! # How it runs
//! [`Client::new`] gives a cheap, cloneable handle and a bounded [`Events`] stream.
//! [`Client::connect`] starts one driver task that owns the socket (WebSocket over rustls, or
//! `ws://` for the emulator), the Noise session, the timers and the connection state:
//!
//! - unpaired store: registration payload, `<pair-device>` refs become [`Event::Qr`] codes that
//!   rotate (60 s, then 20 s each, configurable) until [`Event::QrExhausted`]; the phone's
//!   `<pair-success>` is verified (HMAC, account signature), signed and persisted, then the
//!   server's 515 restart logs the new device in ([`Event::Paired`], then [`Event::Connected`]);
//! - paired store: login payload, `<success>`, prekey count/upload, `<active/>`, keepalive pings;
//! - network loss or transient errors: reconnect with capped exponential backoff and jitter;
//!   401 / unlink / `<failure 401|403|406>`: wipe the store, [`Status::LoggedOut`]; replaced:
//!   stop, keep the login.
//!
//! [`Client::status`] / [`Client::watch_status`] tell the state at any time. Low-level:
//! [`Client::send_iq`] (waits for the `result`, maps `error` to [`ClientError::Iq`]),
//! [`Client::send_request`] (waits for the first `iq`/`ack` with the same id) and
//! [`Client::send_node`]. Inbound `message`/`receipt`/`notification`/`call` stanzas are
//! processed in order by a per-connection task (persist, then ack, then emit).
#![warn(missing_docs)]

mod address;
mod backoff;
mod client;
pub mod config;
mod creds;
mod driver;
mod error;
mod events;
mod handlers;
pub mod media;
mod payload;
mod prekeys;
pub mod qr;
mod receive;
mod send;
mod signal_glue;
mod socket;
pub mod stanza;
pub mod store;
pub mod transport;

pub use address::{AddressError, parse_phone_number};
pub use client::Client;
pub use config::{
    AppVersion, ClientConfig, ClientConfigBuilder, ConfigError, DevicePlatform, SharedRng, Timeouts,
};
pub use error::ClientError;
pub use events::{Event, Events, Me, Status};
pub use media::{MediaKind, MediaRef};
pub use receive::{MessageEvent, ReceiptEvent};
pub use send::{
    ImageInput, MediaInput, Quoted, SendResult, TextMessage, extended_text_message, text_message,
};
pub use wa_proto::binary::Jid;

#[doc(hidden)]
pub use signal_glue::fuzzing;
