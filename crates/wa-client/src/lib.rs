//! A WhatsApp Web multi-device client.
#![warn(missing_docs)]

mod backoff;
pub mod config;
mod payload;
pub mod qr;
pub mod transport;

pub use config::{AppVersion, ClientConfig, ClientConfigBuilder, ConfigError, DevicePlatform, SharedRng, Timeouts};
