//! A WhatsApp Web multi-device client.
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
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use wa_client::{Client, ClientConfig, Event};
//! let config = ClientConfig::builder().device_name("my bot").build()?;
//! let (client, mut events) = Client::new(config, Arc::new(wa_client::store::MemoryStore::new()));
//! client.connect().await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Qr { code, .. } => println!("{}", wa_client::qr::to_terminal(&code)),
//!         Event::Connected => break,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
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
