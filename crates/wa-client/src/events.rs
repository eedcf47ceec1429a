//! What a client reports: its [`Status`] (a value you can query and watch) and a bounded stream
//! of [`Event`]s.

use std::time::SystemTime;

use tokio::sync::mpsc;
use wa_proto::binary::Jid;

/// The connection status of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not running (never started, stopped, or gave up).
    Disconnected,
    /// Opening a connection, handshaking or logging in.
    Connecting,
    /// Not paired yet: showing QR codes (see [`Event::Qr`]).
    WaitingForQr,
    /// Logged in and online.
    Connected,
    /// The device was unlinked or logged out; the store has been wiped. Connecting again starts
    /// a new pairing.
    LoggedOut,
}

impl Status {
    /// A lower-case name (`"connected"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Disconnected => "disconnected",
            Status::Connecting => "connecting",
            Status::WaitingForQr => "waiting_for_qr",
            Status::Connected => "connected",
            Status::LoggedOut => "logged_out",
        }
    }
}

/// Who we are once paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// Our device JID (`phone:device@s.whatsapp.net`).
    pub jid: Jid,
    /// Our LID device JID, once the server told us.
    pub lid: Option<Jid>,
    /// The account's push name, empty until known: from the configuration, a business
    /// account's `<biz name>` at pairing, or the `notify` of a message from our own phone.
    /// It is kept in the store, so a stored login restores it.
    pub push_name: String,
}

/// Something that happened. The channel is bounded: when the consumer lags, connection events
/// are dropped (the [`Status`] and [`crate::Client::qr`] still tell the current state), while
/// message events wait for room.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Show this QR text to the user (render it with [`crate::qr`]); it is replaced by the next
    /// `Qr` event at `expires_at`.
    Qr {
        /// The QR text (`ref,noise,identity,adv_secret,platform`).
        code: String,
        /// When the phone stops accepting it.
        expires_at: SystemTime,
    },
    /// Every QR code expired without a scan; the client stopped. Connect again for new codes.
    QrExhausted,
    /// The phone scanned the code and linked this device.
    Paired {
        /// Our new device JID.
        jid: Jid,
    },
    /// Logged in and online.
    Connected,
    /// The connection went away; `reason` says why. The client reconnects by itself unless the
    /// status is [`Status::Disconnected`].
    Disconnected {
        /// Human-readable reason (`"network"`, `"replaced"`, `"stream error 503"`...).
        reason: String,
    },
    /// This device was logged out; the store was wiped.
    LoggedOut {
        /// Why (`"device removed"`, `"logout"`, `"failure 401"`...).
        reason: String,
    },
    /// A message was received and decrypted (already persisted and acknowledged).
    Message(Box<crate::receive::MessageEvent>),
    /// Another device sent a receipt (delivered, read, ...) for messages we sent.
    Receipt(crate::receive::ReceiptEvent),
}

/// The receiving end of a client's events.
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the client and every handle are gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// An event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// The underlying channel receiver.
    pub fn into_inner(self) -> mpsc::Receiver<Event> {
        self.rx
    }
}
