//! A WhatsApp Web multi-device client.
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
