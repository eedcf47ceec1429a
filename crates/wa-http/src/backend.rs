//! The seam between the session manager and the WhatsApp client library: a session manager
//! drives [`Link`]s made by a [`Connector`]. The shipped binary uses the wa-client connector
//! (`WaClientConnector`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a link reports, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LinkEvent {
    /// The connection status changed.
    Status(LinkStatus),
    /// A (new) QR code to show; it replaces the previous one.
    Qr {
        /// The QR text.
        code: String,
        /// When it stops being valid.
        expires_at: SystemTime,
    },
    /// Every QR code expired without a scan; the client gave up.
    QrExhausted,
    /// The phone linked this session.
    Paired {
        /// The device JID we got.
        jid: String,
    },
    /// An incoming message, already in its JSON event form.
    Message(serde_json::Value),
    /// A receipt for a sent message, already in its JSON event form.
    Receipt(serde_json::Value),
    /// The connection dropped (the client reconnects by itself unless logged out).
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The session was logged out (unlinked by the phone, or by us).
    LoggedOut {
        /// Why.
        reason: String,
    },
}

/// What the underlying WhatsApp connection reports (mirrors `wa_client::Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not connected (the client may be about to reconnect).
    Disconnected,
    /// Connecting, handshaking or logging in.
    Connecting,
    /// Not paired: showing QR codes.
    WaitingForQr,
    /// Logged in and online.
    Connected,
    /// Unlinked or logged out; the keys are gone.
    LoggedOut,
}

/// The logged-in account of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMe {
    /// The account's JID.
    pub jid: String,
    /// The account's display name.
    pub push_name: String,
}

/// A sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Message id.
    pub id: String,
    /// Server timestamp, Unix seconds.
    pub timestamp: u64,
    /// Recipient JID.
    pub to: String,
}

/// Why a send failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The recipient is not a valid phone number or JID.
    #[error("invalid recipient: {0}")]
    InvalidRecipient(String),
    /// The session is not connected.
    #[error("not connected: {0}")]
    NotConnected(String),
    /// The media or message was rejected as input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Anything else (network, server).
    #[error("{0}")]
    Failed(String),
}

/// An image to send.
#[derive(Debug, Clone)]
pub struct ImageToSend {
    /// The image bytes.
    pub bytes: Vec<u8>,
    /// Its mimetype (`image/jpeg`, `image/png`, ...).
    pub mimetype: String,
    /// Optional caption.
    pub caption: Option<String>,
}

/// One WhatsApp connection of a session.
pub trait Link: Send + Sync + 'static {
    /// Starts connecting (and keeps reconnecting) in the background.
    fn connect(&self) -> BoxFuture<'_, Result<(), String>>;
    /// Stops the connection, keeping the login.
    fn disconnect(&self) -> BoxFuture<'_, ()>;
    /// Removes this companion from the account and wipes its keys.
    fn logout(&self) -> BoxFuture<'_, Result<(), String>>;
    /// The logged-in account, if any.
    fn me(&self) -> Option<LinkMe>;
    /// Sends a text message.
    fn send_text<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>>;
    /// Sends an image.
    fn send_image<'a>(
        &'a self,
        to: &'a str,
        image: ImageToSend,
    ) -> BoxFuture<'a, Result<Sent, SendError>>;
}

/// Makes links for sessions and manages their stored keys.
pub trait Connector: Send + Sync + 'static {
    /// Creates the link of session `name` (not connected yet) and its event stream.
    /// Called on the gateway's runtime.
    fn open(&self, name: &str) -> Result<(Arc<dyn Link>, mpsc::Receiver<LinkEvent>), String>;
    /// Deletes every stored key of session `name`.
    fn wipe(&self, name: &str) -> Result<(), String>;
    /// Normalises a recipient (`+55 11 91234-5678`, a bare number or a JID) to a JID.
    fn parse_recipient(&self, input: &str) -> Result<String, String>;
}
