//! The real backend: every session is a [`wa_client::Client`] whose keys live in its own
//! namespace of the process-wide [`SledDatabase`].

use crate::backend::{
    BoxFuture, Connector, ImageToSend, Link, LinkEvent, LinkMe, LinkStatus, SendError, Sent,
};
use serde_json::json;
use std::str::FromStr as _;
use std::sync::Arc;
use tokio::sync::mpsc;
use wa_client::store::SledDatabase;
use wa_client::{Client, ClientConfig, ClientError, Event, Jid, MessageEvent, Status};

/// Where sessions connect to and what they trust (design.md §3.3 flags).
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// WebSocket URL (`None`: WhatsApp's).
    pub ws_url: Option<String>,
    /// Trusted Noise root public key (`None`: WhatsApp's root).
    pub root_public_key: Option<[u8; 32]>,
    /// Extra PEM certificates to trust for media hosts.
    pub media_ca_pem: Vec<String>,
    /// Device name shown on the phone's "Linked devices" list.
    pub device_name: Option<String>,
}

/// Makes wa-client sessions over one [`SledDatabase`].
pub struct WaClientConnector {
    db: SledDatabase,
    settings: ClientSettings,
}

impl WaClientConnector {
    /// A connector storing each session's keys in namespace `<session name>` of `db`.
    pub fn new(db: SledDatabase, settings: ClientSettings) -> Self {
        WaClientConnector { db, settings }
    }

    fn config(&self) -> Result<ClientConfig, String> {
        let mut b = ClientConfig::builder();
        if let Some(url) = &self.settings.ws_url {
            b = b.ws_url(url.clone());
        }
        if let Some(key) = self.settings.root_public_key {
            b = b.root_public_key(key);
        }
        for pem in &self.settings.media_ca_pem {
            b = b.media_ca_pem(pem.clone());
        }
        b = b.device_name(
            self.settings
                .device_name
                .clone()
                .unwrap_or_else(|| "wa-http".to_string()),
        );
        b.build().map_err(|e| e.to_string())
    }
}

fn link_status(s: Status) -> LinkStatus {
    match s {
        Status::Disconnected => LinkStatus::Disconnected,
        Status::Connecting => LinkStatus::Connecting,
        Status::WaitingForQr => LinkStatus::WaitingForQr,
        Status::Connected => LinkStatus::Connected,
        Status::LoggedOut => LinkStatus::LoggedOut,
    }
}

impl Connector for WaClientConnector {
    fn open(&self, name: &str) -> Result<(Arc<dyn Link>, mpsc::Receiver<LinkEvent>), String> {
        let store = self.db.session_store(name).map_err(|e| e.to_string())?;
        let config = self.config()?;
        let (client, events) = Client::new(config, Arc::new(store));
        let (tx, rx) = mpsc::channel(256);
        let status = client.watch_status();
        tokio::spawn(forward(events, status, tx));
        Ok((Arc::new(ClientLink { client }), rx))
    }

    fn wipe(&self, name: &str) -> Result<(), String> {
        self.db.drop_namespace(name).map_err(|e| e.to_string())?;
        self.db.flush().map_err(|e| e.to_string())
    }

    fn parse_recipient(&self, input: &str) -> Result<String, String> {
        parse_recipient(input)
    }
}

/// A phone number in any common format, or a JID.
pub(crate) fn parse_recipient(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.contains('@') {
        let jid = Jid::from_str(input).map_err(|e| format!("invalid JID {input:?}: {e}"))?;
        if jid.user.is_empty() {
            return Err(format!("invalid JID {input:?}: no user part"));
        }
        Ok(jid.to_string())
    } else {
        wa_client::parse_phone_number(input)
            .map(|j| j.to_string())
            .map_err(|e| format!("invalid phone number {input:?}: {e}"))
    }
}

/// Merges the client's status changes and events into one ordered stream of [`LinkEvent`]s.
async fn forward(
    mut events: wa_client::Events,
    mut status: tokio::sync::watch::Receiver<Status>,
    tx: mpsc::Sender<LinkEvent>,
) {
    let first = *status.borrow_and_update();
    if tx
        .send(LinkEvent::Status(link_status(first)))
        .await
        .is_err()
    {
        return;
    }
    let mut status_open = true;
    loop {
        let ev = tokio::select! {
            changed = status.changed(), if status_open => {
                if changed.is_err() {
                    status_open = false;
                    continue;
                }
                let s = *status.borrow_and_update();
                LinkEvent::Status(link_status(s))
            }
            ev = events.recv() => match ev {
                None => break,
                Some(ev) => match convert(ev) {
                    Some(ev) => ev,
                    None => continue,
                },
            },
        };
        if tx.send(ev).await.is_err() {
            break;
        }
    }
}

fn convert(ev: Event) -> Option<LinkEvent> {
    Some(match ev {
        Event::Qr { code, expires_at } => LinkEvent::Qr { code, expires_at },
        Event::QrExhausted => LinkEvent::QrExhausted,
        Event::Paired { jid } => LinkEvent::Paired {
            jid: jid.to_string(),
        },
        Event::Connected => LinkEvent::Status(LinkStatus::Connected),
        Event::Disconnected { reason } => LinkEvent::Disconnected { reason },
        Event::LoggedOut { reason } => LinkEvent::LoggedOut { reason },
        Event::Message(m) => LinkEvent::Message(message_json(&m)),
        Event::Receipt(r) => LinkEvent::Receipt(json!({
            "ids": r.ids,
            "from": r.from.to_string(),
            "participant": r.participant.as_ref().map(ToString::to_string),
            "type": r.kind,
            "timestamp": r.timestamp,
        })),
        _ => return None,
    })
}

/// The JSON form of an incoming message (SSE `message` events and webhooks).
fn message_json(m: &MessageEvent) -> serde_json::Value {
    let kind = match &m.media {
        Some(media) => format!("{:?}", media.kind).to_ascii_lowercase(),
        None if m.text.is_some() => "text".to_string(),
        None => "other".to_string(),
    };
    json!({
        "id": m.id,
        "chat": m.chat.to_string(),
        "from": m.sender.to_string(),
        "from_me": m.from_me,
        "timestamp": m.timestamp,
        "push_name": m.push_name,
        "type": kind,
        "text": m.text,
        "media": m.media.as_ref().map(|media| json!({
            "mimetype": media.mimetype,
            "caption": media.caption,
            "file_name": media.file_name,
            "size": media.file_length,
            "sha256": media.file_sha256.map(hex::encode),
            "width": media.width,
            "height": media.height,
        })),
    })
}

struct ClientLink {
    client: Client,
}

fn send_error(e: ClientError) -> SendError {
    match e {
        ClientError::Address(a) => SendError::InvalidRecipient(a.to_string()),
        ClientError::NotConnected | ClientError::LoggedOut(_) | ClientError::Stopped(_) => {
            SendError::NotConnected(e.to_string())
        }
        other => SendError::Failed(other.to_string()),
    }
}

impl Link for ClientLink {
    fn connect(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.client.connect().await.map_err(|e| e.to_string()) })
    }

    fn disconnect(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.client.disconnect())
    }

    fn logout(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.client.logout().await.map_err(|e| e.to_string()) })
    }

    fn me(&self) -> Option<LinkMe> {
        self.client.me().map(|me| LinkMe {
            jid: me.jid.to_string(),
            push_name: me.push_name,
        })
    }

    fn send_text<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let r = self.client.send_text(to, text).await.map_err(send_error)?;
            Ok(Sent {
                id: r.id,
                timestamp: r.timestamp,
                to: r.to.to_string(),
            })
        })
    }

    fn send_image<'a>(
        &'a self,
        to: &'a str,
        image: ImageToSend,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let input = wa_client::ImageInput {
                bytes: image.bytes,
                mimetype: image.mimetype,
                caption: image.caption,
            };
            let r = self
                .client
                .send_image(to, input)
                .await
                .map_err(send_error)?;
            Ok(Sent {
                id: r.id,
                timestamp: r.timestamp,
                to: r.to.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients() {
        assert_eq!(
            parse_recipient("+55 11 91234-5678").unwrap(),
            "5511912345678@s.whatsapp.net"
        );
        assert_eq!(
            parse_recipient("15550002222@s.whatsapp.net").unwrap(),
            "15550002222@s.whatsapp.net"
        );
        assert!(parse_recipient("hello").is_err());
        assert!(parse_recipient("").is_err());
        assert!(parse_recipient("@s.whatsapp.net").is_err());
    }
}
