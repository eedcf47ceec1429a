//! The client's error type.

use crate::address::AddressError;
use crate::transport::TransportError;

/// Errors returned by [`crate::Client`] operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No connection is up (the driver is stopped, connecting or waiting for a QR scan).
    #[error("not connected")]
    NotConnected,
    /// The connection went away before the operation finished.
    #[error("connection lost before the operation finished")]
    ConnectionLost,
    /// The server did not answer in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The server answered an IQ with an error.
    #[error("server error {code}: {text}")]
    Iq {
        /// The `<error code>`.
        code: u16,
        /// The `<error text>`.
        text: String,
    },
    /// The byte transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The Noise handshake or server certificate failed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The server sent something we could not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The store failed.
    #[error("store error: {0}")]
    Store(String),
    /// This device is logged out (unlinked by the phone, or `logout()` ran).
    #[error("logged out: {0}")]
    LoggedOut(String),
    /// The session was stopped by the server or the user (replaced, QR codes ran out...).
    #[error("stopped: {0}")]
    Stopped(String),
    /// An invalid address.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Media encryption, upload or download failed.
    #[error("media: {0}")]
    Media(String),
    /// The server refused a message (`<ack error=…>`).
    #[error("message rejected by the server (error {code})")]
    Rejected {
        /// The ack's error code (e.g. 479 invalid stanza, 463 missing privacy token).
        code: u16,
    },
    /// The recipient has no device we can encrypt to (not on WhatsApp, or no keys).
    #[error("no reachable device for {0}")]
    NoDevices(String),
    /// The operation is not supported (yet) for this kind of chat or message.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl From<crate::store::StoreError> for ClientError {
    fn from(e: crate::store::StoreError) -> Self {
        ClientError::Store(e.to_string())
    }
}
