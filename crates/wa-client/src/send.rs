//! Sending 1:1 messages end to end encrypted (protocol-messaging.md §3).
//!
//! ```text
//! devices = usync([to, me])  (cached; refreshed on device notifications)
//! lock signal state
//!   for each device without a session: fetch its bundle, X3DH
//!   encrypt pad(message) for `to`'s devices, pad(DeviceSentMessage) for our other devices
//!   persist every touched session in ONE store batch
//! unlock
//! send <message><participants><to jid><enc v=2 type=pkmsg|msg/></to>..</participants>
//!      [<device-identity/> when any pkmsg]</message>, wait for the server's <ack>
//! ```

use std::time::SystemTime;

use prost::Message as _;
use wa_proto::binary::{Jid, Node};
use wa_proto::proto;
use wa_signal::{IdentityKeyPair, MessageType, PreKeyBundle};

use crate::client::Client;
use crate::error::ClientError;
use crate::media::{MediaKind, thumbnail};
use crate::signal_glue::{self as glue, SentMessage};
use crate::store::Batch;

/// What the server confirmed for a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The message id.
    pub id: String,
    /// The server timestamp (unix seconds) from its `<ack>`.
    pub timestamp: u64,
    /// The chat the message went to.
    pub to: Jid,
}

/// An image to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInput {
    /// The image file (JPEG or PNG get a thumbnail and dimensions; other formats are sent
    /// without).
    pub bytes: Vec<u8>,
    /// MIME type (`image/jpeg`...).
    pub mimetype: String,
    /// Optional caption.
    pub caption: Option<String>,
}

/// Any media file to send through the same path as images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInput {
    /// What it is.
    pub kind: MediaKind,
    /// The file.
    pub bytes: Vec<u8>,
    /// MIME type.
    pub mimetype: String,
    /// Caption (images, videos, documents).
    pub caption: Option<String>,
    /// File name (documents).
    pub file_name: Option<String>,
    /// Duration in seconds (audio, video).
    pub seconds: Option<u32>,
    /// Send an audio file as a voice note.
    pub ptt: bool,
}

/// A text with an optional quoted message and mentions (an `extendedTextMessage`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextMessage {
    /// The text.
    pub text: String,
    /// Reply to this message.
    pub quoted: Option<Quoted>,
    /// Mentioned users (JIDs; `@<number>` should appear in the text).
    pub mentions: Vec<Jid>,
}

/// The message a reply quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Quoted {
    /// Id of the quoted message.
    pub id: String,
    /// Who sent it (non-AD JID).
    pub sender: Jid,
    /// Its content.
    pub message: proto::Message,
}

/// The plain text `waE2E.Message` (`conversation`).
pub fn text_message(text: &str) -> proto::Message {
    proto::Message {
        conversation: Some(text.to_owned()),
        ..Default::default()
    }
}

/// An `extendedTextMessage` with reply context and mentions.
pub fn extended_text_message(t: &TextMessage) -> proto::Message {
    let context = (t.quoted.is_some() || !t.mentions.is_empty()).then(|| proto::ContextInfo {
        stanza_id: t.quoted.as_ref().map(|q| q.id.clone()),
        participant: t.quoted.as_ref().map(|q| q.sender.to_non_ad().to_string()),
        quoted_message: t.quoted.as_ref().map(|q| Box::new(q.message.clone())),
        mentioned_jid: t
            .mentions
            .iter()
            .map(|j| j.to_non_ad().to_string())
            .collect(),
        ..Default::default()
    });
    proto::Message {
        extended_text_message: Some(Box::new(proto::ExtendedTextMessage {
            text: Some(t.text.clone()),
            context_info: context.map(Box::new),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The uploaded-media fields every media message carries.
#[derive(Debug, Clone)]
pub(crate) struct Uploaded {
    url: String,
    direct_path: String,
    media_key: Vec<u8>,
    file_sha256: Vec<u8>,
    file_enc_sha256: Vec<u8>,
    file_length: u64,
    media_key_timestamp: i64,
}

/// The media message (image/video/audio/document/sticker) for an uploaded file.
pub(crate) fn media_message(input: &MediaInput, up: Uploaded) -> proto::Message {
    let mut m = proto::Message::default();
    let dims = matches!(
        input.kind,
        MediaKind::Image | MediaKind::Video | MediaKind::Sticker
    )
    .then(|| thumbnail(&input.bytes))
    .flatten();
    let (thumb, w, h) = match dims {
        Some((t, w, h)) => (Some(t), Some(w), Some(h)),
        None => (None, None, None),
    };
    let mime = Some(input.mimetype.clone());
    match input.kind {
        MediaKind::Image => {
            m.image_message = Some(Box::new(proto::ImageMessage {
                url: Some(up.url),
                mimetype: mime,
                caption: input.caption.clone(),
                file_sha256: Some(up.file_sha256),
                file_length: Some(up.file_length),
                height: h,
                width: w,
                media_key: Some(up.media_key),
                file_enc_sha256: Some(up.file_enc_sha256),
                direct_path: Some(up.direct_path),
                media_key_timestamp: Some(up.media_key_timestamp),
                jpeg_thumbnail: thumb,
                ..Default::default()
            }))
        }
        MediaKind::Video => {
            m.video_message = Some(Box::new(proto::VideoMessage {
                url: Some(up.url),
                mimetype: mime,
                file_sha256: Some(up.file_sha256),
                file_length: Some(up.file_length),
                seconds: input.seconds,
                media_key: Some(up.media_key),
                caption: input.caption.clone(),
                height: h,
                width: w,
                file_enc_sha256: Some(up.file_enc_sha256),
                direct_path: Some(up.direct_path),
                media_key_timestamp: Some(up.media_key_timestamp),
                jpeg_thumbnail: thumb,
                ..Default::default()
            }))
        }
        MediaKind::Audio => {
            m.audio_message = Some(Box::new(proto::AudioMessage {
                url: Some(up.url),
                mimetype: mime,
                file_sha256: Some(up.file_sha256),
                file_length: Some(up.file_length),
                seconds: input.seconds,
                ptt: Some(input.ptt),
                media_key: Some(up.media_key),
                file_enc_sha256: Some(up.file_enc_sha256),
                direct_path: Some(up.direct_path),
                media_key_timestamp: Some(up.media_key_timestamp),
                ..Default::default()
            }))
        }
        MediaKind::Document => {
            m.document_message = Some(Box::new(proto::DocumentMessage {
                url: Some(up.url),
                mimetype: mime,
                title: input.file_name.clone(),
                file_sha256: Some(up.file_sha256),
                file_length: Some(up.file_length),
                media_key: Some(up.media_key),
                file_name: input.file_name.clone(),
                file_enc_sha256: Some(up.file_enc_sha256),
                direct_path: Some(up.direct_path),
                media_key_timestamp: Some(up.media_key_timestamp),
                caption: input.caption.clone(),
                ..Default::default()
            }))
        }
        MediaKind::Sticker => {
            m.sticker_message = Some(Box::new(proto::StickerMessage {
                url: Some(up.url),
                file_sha256: Some(up.file_sha256),
                file_enc_sha256: Some(up.file_enc_sha256),
                media_key: Some(up.media_key),
                mimetype: mime,
                height: h,
                width: w,
                direct_path: Some(up.direct_path),
                file_length: Some(up.file_length),
                media_key_timestamp: Some(up.media_key_timestamp),
                ..Default::default()
            }))
        }
    }
    m
}

/// The DeviceSentMessage copy of `message` for our own other devices (messageContextInfo
/// hoisted to the outer message).
pub(crate) fn device_sent(to: &Jid, message: &proto::Message) -> proto::Message {
    proto::Message {
        device_sent_message: Some(Box::new(proto::DeviceSentMessage {
            destination_jid: Some(to.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        message_context_info: message.message_context_info.clone(),
        ..Default::default()
    }
}

/// One encrypted `<enc>` for one device.
pub(crate) struct DeviceCiphertext {
    pub(crate) jid: Jid,
    pub(crate) kind: MessageType,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn enc_node(c: &DeviceCiphertext, media_type: Option<&'static str>) -> Node {
    let mut enc = Node::new("enc")
        .attr("v", "2")
        .attr("type", c.kind.as_str())
        .bytes(c.bytes.clone());
    if let Some(m) = media_type {
        enc.set_attr("mediatype", m);
    }
    enc
}

/// Encrypt one plaintext per device, creating sessions from `bundles` where needed, and
/// persist every new record (and identity) in ONE batch before returning the ciphertexts.
/// Devices without a session and without a bundle are skipped. Call under the signal lock.
pub(crate) fn encrypt_for_devices(
    client: &Client,
    targets: &[(Jid, &[u8])],
    bundles: &std::collections::HashMap<Jid, PreKeyBundle>,
    force_new: bool,
) -> Result<Vec<DeviceCiphertext>, ClientError> {
    let store = client.store().as_ref();
    let creds = glue::creds(client)?;
    let identity = IdentityKeyPair(creds.identity.clone());
    let mut rng = client.config().rng.clone();
    let mut batch = Batch::new();
    let mut out = Vec::new();
    for (jid, plaintext) in targets {
        let mut record = glue::load_session(store, jid)?;
        let bundle = bundles.get(jid);
        if force_new || !record.has_current_session() {
            let Some(bundle) = bundle else {
                tracing::warn!(%jid, "no session and no prekey bundle: device skipped");
                continue;
            };
            if let Err(e) = wa_signal::process_bundle(
                &mut record,
                &identity,
                creds.registration_id,
                bundle,
                &mut rng,
            ) {
                tracing::warn!(%jid, "bad prekey bundle: {e}");
                continue;
            }
            batch
                .put_identity(&glue::address(jid), &bundle.identity_key.serialize())
                .map_err(|e| ClientError::Store(e.to_string()))?;
        }
        let padded = glue::pad(plaintext.to_vec(), &mut rng);
        match wa_signal::encrypt(&mut record, &padded) {
            Ok(ct) => {
                batch.put_session(&glue::address(jid), &record.to_bytes());
                out.push(DeviceCiphertext {
                    jid: jid.clone(),
                    kind: ct.kind,
                    bytes: ct.bytes,
                });
            }
            Err(e) => tracing::warn!(%jid, "encrypt failed: {e}"),
        }
    }
    store
        .apply(batch)
        .map_err(|e| ClientError::Store(e.to_string()))?;
    Ok(out)
}

/// Our signed device identity for `<device-identity>`, if paired.
pub(crate) fn device_identity(client: &Client) -> Result<Option<Vec<u8>>, ClientError> {
    Ok(glue::creds(client)?.account.clone())
}

pub(crate) fn now_secs(client: &Client) -> u64 {
    client
        .config()
        .clock
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `type` attribute of the stanza.
fn stanza_type(m: &proto::Message) -> &'static str {
    if m.image_message.is_some()
        || m.video_message.is_some()
        || m.audio_message.is_some()
        || m.document_message.is_some()
        || m.sticker_message.is_some()
    {
        "media"
    } else if m.reaction_message.is_some() {
        "reaction"
    } else {
        "text"
    }
}

fn enc_media_type(m: &proto::Message) -> Option<&'static str> {
    crate::media::MediaRef::from_message(m).map(|r| match r.kind {
        MediaKind::Audio if m.audio_message.as_ref().and_then(|a| a.ptt) == Some(true) => "ptt",
        k => k.enc_media_type(),
    })
}

impl Client {
    /// Send a text message to `to` (a phone number in any usual form, or a JID).
    /// Returns once the server acknowledged it.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<SendResult, ClientError> {
        let to = crate::address::parse_phone_number(to)?;
        self.send_message(&to, text_message(text)).await
    }

    /// Send an extended text (reply and/or mentions).
    pub async fn send_extended_text(
        &self,
        to: &str,
        text: &TextMessage,
    ) -> Result<SendResult, ClientError> {
        let to = crate::address::parse_phone_number(to)?;
        self.send_message(&to, extended_text_message(text)).await
    }

    /// Encrypt, upload and send an image with an optional caption (thumbnail and dimensions
    /// are computed for JPEG and PNG).
    pub async fn send_image(&self, to: &str, image: ImageInput) -> Result<SendResult, ClientError> {
        self.send_media(
            to,
            MediaInput {
                kind: MediaKind::Image,
                bytes: image.bytes,
                mimetype: image.mimetype,
                caption: image.caption,
                file_name: None,
                seconds: None,
                ptt: false,
            },
        )
        .await
    }

    /// Encrypt, upload and send any media file (image, video, audio, document, sticker).
    pub async fn send_media(&self, to: &str, input: MediaInput) -> Result<SendResult, ClientError> {
        let to = crate::address::parse_phone_number(to)?;
        let media_type = input.kind.media_type();
        let (key, enc) = crate::media::encrypt(self, media_type, &input.bytes)?;
        let info = enc.info.clone();
        let up = crate::media::upload(self, media_type, enc).await?;
        self.send_uploaded(&to, &input, up, &key, &info).await
    }

    /// Encrypt, upload and send a media file read from disk in constant memory: one pass
    /// computes the hashes, a second streams the encrypted blob to the media host (images are
    /// also read once more for the thumbnail). Documents get the file name.
    pub async fn send_media_file(
        &self,
        to: &str,
        kind: MediaKind,
        path: impl AsRef<std::path::Path>,
        mimetype: &str,
        caption: Option<String>,
    ) -> Result<SendResult, ClientError> {
        let to = crate::address::parse_phone_number(to)?;
        let path = path.as_ref().to_path_buf();
        let media_type = kind.media_type();
        let key = wa_proto::media::MediaKey::generate(&mut self.config().rng.clone());
        let info = crate::media::file_info(&path, &key, media_type).await?;
        let up = crate::media::upload_body(
            self,
            media_type,
            &info,
            crate::media::UploadBody::File {
                path: path.clone(),
                key: key.clone(),
            },
        )
        .await?;
        let preview = if matches!(kind, MediaKind::Image | MediaKind::Sticker) {
            tokio::fs::read(&path)
                .await
                .map_err(|e| ClientError::Media(e.to_string()))?
        } else {
            Vec::new()
        };
        let input = MediaInput {
            kind,
            bytes: preview,
            mimetype: mimetype.to_owned(),
            caption,
            file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            seconds: None,
            ptt: false,
        };
        self.send_uploaded(&to, &input, up, &key, &info).await
    }

    /// Sends the media message for a file already uploaded with `key` (shared by
    /// [`send_media`](Self::send_media) and [`send_media_file`](Self::send_media_file)).
    async fn send_uploaded(
        &self,
        to: &Jid,
        input: &MediaInput,
        up: crate::media::Uploaded,
        key: &wa_proto::media::MediaKey,
        info: &wa_proto::media::MediaInfo,
    ) -> Result<SendResult, ClientError> {
        let message = media_message(
            input,
            Uploaded {
                url: up.url,
                direct_path: up.direct_path,
                media_key: key.0.to_vec(),
                file_sha256: info.file_sha256.to_vec(),
                file_enc_sha256: info.file_enc_sha256.to_vec(),
                file_length: info.file_length,
                media_key_timestamp: now_secs(self) as i64,
            },
        );
        self.send_message(to, message).await
    }

    /// Send any `waE2E.Message` to a user (1:1): to every device of `to` and, as a
    /// DeviceSentMessage, to our own other devices.
    pub async fn send_message(
        &self,
        to: &Jid,
        message: proto::Message,
    ) -> Result<SendResult, ClientError> {
        if to.is_group() || to.is_broadcast() || to.is_newsletter() {
            return Err(ClientError::Unsupported(
                "only 1:1 chats can be sent to".into(),
            ));
        }
        let me = self.me().ok_or(ClientError::NotConnected)?;
        let to = to.to_non_ad();
        let own_user = me.jid.to_non_ad();
        let id = glue::message_id(now_secs(self), &me.jid.user, &mut self.config().rng.clone());
        let st = stanza_type(&message);
        let mt = enc_media_type(&message);
        let mut users = vec![to.clone()];
        if own_user != to {
            users.push(own_user.clone());
        }
        let devices: Vec<Jid> = glue::devices_of(self, &users)
            .await?
            .into_iter()
            .filter(|d| *d != me.jid)
            .collect();
        let plain = message.encode_to_vec();
        let dsm = device_sent(&to, &message).encode_to_vec();
        let ciphertexts = {
            let _guard = self.inner.messaging.signal_lock.lock().await;
            let mut missing = Vec::new();
            for d in &devices {
                if !glue::has_session(self.store().as_ref(), d)? {
                    missing.push(d.clone());
                }
            }
            let bundles = glue::fetch_bundles(self, &missing).await?;
            let targets: Vec<(Jid, &[u8])> = devices
                .iter()
                .map(|d| {
                    let pt: &[u8] = if d.same_user(&to) { &plain } else { &dsm };
                    (d.clone(), pt)
                })
                .collect();
            encrypt_for_devices(self, &targets, &bundles, false)?
        };
        if !ciphertexts.iter().any(|c| c.jid.same_user(&to)) {
            return Err(ClientError::NoDevices(to.to_string()));
        }
        let any_pkmsg = ciphertexts.iter().any(|c| c.kind == MessageType::PreKey);
        let participants = ciphertexts.iter().map(|c| {
            Node::new("to")
                .attr("jid", c.jid.clone())
                .child(enc_node(c, mt))
        });
        let mut node = Node::new("message")
            .attr("to", to.clone())
            .attr("id", id.clone())
            .attr("type", st)
            .child(Node::new("participants").children(participants));
        if any_pkmsg {
            if let Some(di) = device_identity(self)? {
                node.push_child(Node::new("device-identity").bytes(di));
            }
        }
        self.inner.messaging.remember_sent(
            id.clone(),
            SentMessage {
                to: to.clone(),
                message,
                stanza_type: st,
                media_type: mt,
            },
        );
        let ack = self.send_request(node).await?;
        if let Some(code) = ack.attr_u64("error") {
            return Err(ClientError::Rejected {
                code: u16::try_from(code).unwrap_or(u16::MAX),
            });
        }
        let timestamp = ack.attr_u64("t").unwrap_or_else(|| now_secs(self));
        Ok(SendResult { id, timestamp, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders() {
        let m = text_message("hi");
        assert_eq!(m.conversation.as_deref(), Some("hi"));
        assert_eq!(stanza_type(&m), "text");
        let x = extended_text_message(&TextMessage {
            text: "@1555 look".into(),
            quoted: Some(Quoted {
                id: "ABC".into(),
                sender: Jid::pn("1555").with_device(2),
                message: text_message("orig"),
            }),
            mentions: vec![Jid::pn("1555")],
        });
        let e = x.extended_text_message.unwrap();
        let ctx = e.context_info.unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("ABC"));
        assert_eq!(ctx.participant.as_deref(), Some("1555@s.whatsapp.net"));
        assert_eq!(ctx.mentioned_jid, ["1555@s.whatsapp.net"]);
        assert_eq!(
            ctx.quoted_message.unwrap().conversation.as_deref(),
            Some("orig")
        );
    }

    #[test]
    fn media_message_fields() {
        let input = MediaInput {
            kind: MediaKind::Document,
            bytes: b"%PDF".to_vec(),
            mimetype: "application/pdf".into(),
            caption: Some("c".into()),
            file_name: Some("a.pdf".into()),
            seconds: None,
            ptt: false,
        };
        let up = Uploaded {
            url: "https://h/p".into(),
            direct_path: "/p".into(),
            media_key: vec![1; 32],
            file_sha256: vec![2; 32],
            file_enc_sha256: vec![3; 32],
            file_length: 4,
            media_key_timestamp: 5,
        };
        let m = media_message(&input, up);
        assert_eq!(stanza_type(&m), "media");
        assert_eq!(enc_media_type(&m), Some("document"));
        let d = m.document_message.unwrap();
        assert_eq!(d.file_name.as_deref(), Some("a.pdf"));
        assert_eq!(d.direct_path.as_deref(), Some("/p"));
        let dsm = device_sent(&Jid::pn("1555"), &text_message("x"));
        let inner = dsm.device_sent_message.unwrap();
        assert_eq!(
            inner.destination_jid.as_deref(),
            Some("1555@s.whatsapp.net")
        );
    }
}
