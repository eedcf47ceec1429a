//! The simulated primary phone (device 0) of each account: a Signal party with its own
//! identity and prekeys, an inbox of decrypted messages, and the ability to send.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use wa_signal::{KeyPair, PrivateKey};

/// How many one-time prekeys a phone generates at a time.
const PREKEY_BATCH: u32 = 50;

/// A message the simulated phone received and decrypted (JSON shape of design.md §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboxMessage {
    /// The sender's message id.
    pub id: String,
    /// The sender's phone-number JID (`<phone>@s.whatsapp.net`).
    pub from: String,
    /// The message timestamp (unix seconds, from the server).
    pub timestamp: u64,
    /// `text`, `image`, `video`, `audio`, `document`, `sticker` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    /// The caption of a media message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub caption: Option<String>,
    /// The mimetype of a media message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mimetype: Option<String>,
    /// Hex SHA-256 of the downloaded and verified media plaintext.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Size in bytes of the media plaintext.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
}

/// Device 0's keys and Signal state, persisted with the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PhoneState {
    pub(crate) identity_private: [u8; 32],
    pub(crate) registration_id: u32,
    pub(crate) signed_prekey_id: u32,
    pub(crate) signed_prekey_private: [u8; 32],
    pub(crate) signed_prekey_signature: Vec<u8>,
    pub(crate) next_prekey_id: u32,
    /// Private one-time prekeys not yet used by an incoming pkmsg.
    pub(crate) prekeys: BTreeMap<u32, [u8; 32]>,
    /// Ids of one-time prekeys not yet handed out by the server.
    pub(crate) unserved: BTreeSet<u32>,
    /// Serialized Signal session records by address (`user.device` on `s.whatsapp.net`).
    #[serde(default)]
    pub(crate) sessions: BTreeMap<String, Vec<u8>>,
    /// Decrypted received messages, oldest first.
    #[serde(default)]
    pub(crate) inbox: Vec<InboxMessage>,
    /// Recently sent messages (id -> recipient phone, serialized `Message`, stanza type), kept
    /// to answer retry receipts.
    #[serde(default)]
    pub(crate) sent: BTreeMap<String, (String, Vec<u8>, String)>,
}

/// How many received messages a phone keeps in its inbox (oldest dropped first).
const INBOX_LIMIT: usize = 10_000;

/// How many bytes of ids, texts and captions a phone keeps in its inbox (oldest dropped first).
const INBOX_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// How many sent messages a phone remembers for retries.
const SENT_MEMORY: usize = 200;

impl PhoneState {
    /// A fresh phone: identity, signed prekey 1 and a batch of one-time prekeys.
    pub(crate) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> PhoneState {
        let identity = KeyPair::generate(rng);
        let spk = KeyPair::generate(rng);
        let sig = identity
            .private
            .calculate_signature(&spk.public.serialize(), rng);
        let mut st = PhoneState {
            identity_private: identity.private.to_bytes(),
            registration_id: (rng.next_u32() & 0x3fff).max(1),
            signed_prekey_id: 1,
            signed_prekey_private: spk.private.to_bytes(),
            signed_prekey_signature: sig.to_vec(),
            next_prekey_id: 1,
            prekeys: BTreeMap::new(),
            unserved: BTreeSet::new(),
            sessions: BTreeMap::new(),
            inbox: Vec::new(),
            sent: BTreeMap::new(),
        };
        st.top_up_prekeys(rng);
        st
    }

    pub(crate) fn identity(&self) -> KeyPair {
        KeyPair::from_private(PrivateKey::from_bytes(self.identity_private))
    }

    pub(crate) fn signed_prekey(&self) -> KeyPair {
        KeyPair::from_private(PrivateKey::from_bytes(self.signed_prekey_private))
    }

    /// Generates another batch of one-time prekeys.
    pub(crate) fn top_up_prekeys<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        for _ in 0..PREKEY_BATCH {
            let id = self.next_prekey_id;
            self.next_prekey_id = if id >= 0x00ff_ffff { 1 } else { id + 1 };
            let k = PrivateKey::generate(rng);
            self.prekeys.insert(id, k.to_bytes());
            self.unserved.insert(id);
        }
    }

    /// Hands out one one-time prekey (id, public) for a bundle fetch, consuming it.
    pub(crate) fn take_prekey<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
    ) -> Option<(u32, [u8; 32])> {
        if self.unserved.len() < 5 {
            self.top_up_prekeys(rng);
        }
        let id = self.unserved.pop_first()?;
        let private = self.prekeys.get(&id)?;
        Some((id, *PrivateKey::from_bytes(*private).public_key().as_djb()))
    }
}

// ---------------------------------------------------------------------------------------------
// Signal plumbing of the simulated phones
// ---------------------------------------------------------------------------------------------

use prost::Message as _;
use rand::Rng as _;
use rand::rngs::OsRng;
use wa_proto::binary::{Jid, Node, Server};
use wa_proto::proto;
use wa_signal::{
    IdentityKeyPair, PreKeyBundle, PreKeyRecord, PreKeySignalMessage, PublicKey, SessionRecord,
    SignedPreKeyRecord,
};

use crate::error::EmulatorError;
use crate::state::{Account, ConnCommand, State, now_secs};
use crate::{Inner, Phone};

/// The prekey bundle of device `device` of `acc`, consuming one one-time prekey.
pub(crate) fn device_bundle<R: RngCore + CryptoRng>(
    acc: &mut Account,
    device: u32,
    rng: &mut R,
) -> Option<PreKeyBundle> {
    if device == 0 {
        let ps = &mut acc.phone_state;
        let pre_key = ps
            .take_prekey(rng)
            .map(|(id, k)| (id, PublicKey::from_djb(k)));
        let sig: [u8; 64] = ps.signed_prekey_signature.as_slice().try_into().ok()?;
        return Some(PreKeyBundle {
            registration_id: ps.registration_id,
            identity_key: ps.identity().public,
            signed_pre_key_id: ps.signed_prekey_id,
            signed_pre_key: ps.signed_prekey().public,
            signed_pre_key_signature: sig,
            pre_key,
        });
    }
    let d = acc.devices.get_mut(&device)?;
    let spk = d.signed_prekey.as_ref()?;
    let identity: [u8; 32] = d.identity.as_slice().try_into().ok()?;
    let spk_pub: [u8; 32] = spk.public.as_slice().try_into().ok()?;
    let sig: [u8; 64] = spk.signature.as_slice().try_into().ok()?;
    let pre_key = d.prekeys.pop_first().and_then(|(id, v)| {
        let k: [u8; 32] = v.as_slice().try_into().ok()?;
        Some((id, PublicKey::from_djb(k)))
    });
    Some(PreKeyBundle {
        registration_id: d.registration_id,
        identity_key: PublicKey::from_djb(identity),
        signed_pre_key_id: spk.id,
        signed_pre_key: PublicKey::from_djb(spk_pub),
        signed_pre_key_signature: sig,
        pre_key,
    })
}

/// WhatsApp's plaintext padding (`v="2"`): 1..=15 bytes, each holding the pad length.
fn pad(mut plain: Vec<u8>) -> Vec<u8> {
    let n: u8 = OsRng.gen_range(1..=15);
    plain.extend(std::iter::repeat_n(n, usize::from(n)));
    plain
}

fn unpad(plain: &[u8]) -> Option<&[u8]> {
    let n = usize::from(*plain.last()?);
    (n > 0 && n <= plain.len()).then(|| &plain[..plain.len() - n])
}

fn session_key(phone: &str, device: u32) -> String {
    format!("{phone}:{device}")
}

/// Encrypts `plaintext` (unpadded) from `from`'s phone to `(to, device)`, building a session
/// from a fetched bundle if needed. Returns the `<enc>` node.
fn encrypt_for(
    st: &mut State,
    from: &str,
    to: &str,
    device: u32,
    plaintext: Vec<u8>,
) -> Result<Node, EmulatorError> {
    let key = session_key(to, device);
    let existing = st
        .account(from)?
        .phone_state
        .sessions
        .get(&key)
        .and_then(|b| SessionRecord::from_bytes(b).ok())
        .filter(SessionRecord::has_current_session);
    let mut record = match existing {
        Some(r) => r,
        None => {
            let bundle = {
                let acc = st.account_mut(to)?;
                device_bundle(acc, device, &mut OsRng).ok_or_else(|| {
                    EmulatorError::Phone(format!("no keys for device {device} of {to}"))
                })?
            };
            let ps = &st.account(from)?.phone_state;
            let mut r = SessionRecord::new();
            wa_signal::process_bundle(
                &mut r,
                &IdentityKeyPair(ps.identity()),
                ps.registration_id,
                &bundle,
                &mut OsRng,
            )
            .map_err(|e| EmulatorError::Phone(format!("session with {to}:{device}: {e}")))?;
            r
        }
    };
    let ct = wa_signal::encrypt(&mut record, &pad(plaintext))
        .map_err(|e| EmulatorError::Phone(format!("encrypt to {to}:{device}: {e}")))?;
    st.account_mut(from)?
        .phone_state
        .sessions
        .insert(key, record.to_bytes());
    Ok(Node::new("enc")
        .attr("v", "2")
        .attr("type", ct.kind.as_str())
        .bytes(ct.bytes))
}

/// A fresh message id in the current web format (`3EB0` + 18 hex digits).
pub(crate) fn message_id() -> String {
    let b: [u8; 9] = OsRng.r#gen();
    format!("3EB0{}", hex::encode_upper(b))
}

/// Sends `message` from `from`'s phone: one stanza per device of `to` (the recipient's phone is
/// handed the ciphertext directly) plus DeviceSentMessage copies to `from`'s own companions.
fn send_message(
    inner: &Inner,
    st: &mut State,
    from: &str,
    to: &str,
    message: &proto::Message,
    stanza_type: &str,
    media_type: Option<&str>,
) -> Result<String, EmulatorError> {
    let id = message_id();
    let t = now_secs().to_string();
    let push_name = st.account(from)?.push_name.clone();
    let from_lid = st.account(from)?.lid.clone();
    let own_companions: Vec<u32> = st.account(from)?.devices.keys().copied().collect();
    let their_devices = st.account(to)?.device_ids();
    let plain = message.encode_to_vec();
    let dsm = proto::Message {
        device_sent_message: Some(Box::new(proto::DeviceSentMessage {
            destination_jid: Some(format!("{to}@s.whatsapp.net")),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        message_context_info: message.message_context_info.clone(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut targets: Vec<(String, u32, Vec<u8>)> = their_devices
        .into_iter()
        .map(|d| (to.to_owned(), d, plain.clone()))
        .collect();
    if to != from {
        targets.extend(
            own_companions
                .into_iter()
                .map(|d| (from.to_owned(), d, dsm.clone())),
        );
    }
    crate::route::remember_origin(st, &id, from, 0);
    crate::route::remember_contact(st, from, to);
    {
        let sent = &mut st.account_mut(from)?.phone_state.sent;
        sent.insert(
            id.clone(),
            (to.to_owned(), plain.clone(), stanza_type.to_owned()),
        );
        while sent.len() > SENT_MEMORY {
            sent.pop_first();
        }
    }
    for (phone, device, pt) in targets {
        let enc = encrypt_for(st, from, &phone, device, pt);
        crate::route::low_prekey_notice(inner, st, &phone, device);
        let mut enc = match enc {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "phone could not encrypt for a device; skipped");
                continue;
            }
        };
        if let Some(m) = media_type {
            enc.set_attr("mediatype", m.to_owned());
        }
        let mut node = Node::new("message")
            .attr("from", Jid::pn(from.to_owned()))
            .attr("id", id.clone())
            .attr("type", stanza_type.to_owned())
            .attr("t", t.clone())
            .attr("sender_lid", Jid::lid(from_lid.clone()));
        if !push_name.is_empty() {
            node.set_attr("notify", push_name.clone());
        }
        if phone == from {
            node.set_attr("recipient", Jid::pn(to.to_owned()));
        }
        deliver_from_phone(inner, st, &phone, device, node.child(enc));
    }
    Ok(id)
}

fn deliver_from_phone(inner: &Inner, st: &mut State, phone: &str, device: u32, node: Node) {
    crate::route::deliver(inner, st, phone, device, node);
}

/// After a companion's first login: the phone shares an app-state sync key and sends an
/// (empty) initial history-sync notification (blob uploaded and inlined), as real phones do.
pub(crate) fn first_login_pushes(inner: &Inner, phone: &str, device: u32) {
    let mut st = inner.store.lock();
    let result = (|| -> Result<(), EmulatorError> {
        let acc = st.account_mut(phone)?;
        let raw_id = acc.raw_id();
        let lid = acc.lid.clone();
        if let Some(d) = acc.devices.get_mut(&device) {
            d.logged_in_once = true;
        }
        let mut key_id = vec![0u8; 6];
        OsRng.fill(&mut key_id[2..]);
        let key_share = proto::Message {
            protocol_message: Some(Box::new(proto::ProtocolMessage {
                r#type: Some(proto::protocol_message::Type::AppStateSyncKeyShare as i32),
                app_state_sync_key_share: Some(proto::AppStateSyncKeyShare {
                    keys: vec![proto::AppStateSyncKey {
                        key_id: Some(proto::AppStateSyncKeyId {
                            key_id: Some(key_id),
                        }),
                        key_data: Some(proto::AppStateSyncKeyData {
                            key_data: Some(OsRng.r#gen::<[u8; 32]>().to_vec()),
                            fingerprint: Some(proto::AppStateSyncKeyFingerprint {
                                raw_id: Some(raw_id),
                                current_index: Some(0),
                                device_indexes: vec![0],
                            }),
                            timestamp: Some(now_secs() as i64 * 1000),
                        }),
                    }],
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        // The history blob: zlib(HistorySync{INITIAL_BOOTSTRAP}), encrypted like media.
        let history = proto::HistorySync {
            sync_type: Some(proto::HistorySyncType::InitialBootstrap as i32),
            progress: Some(100),
            ..Default::default()
        }
        .encode_to_vec();
        let compressed = {
            use std::io::Write;
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&history).map_err(EmulatorError::Io)?;
            z.finish().map_err(EmulatorError::Io)?
        };
        let media_key = wa_proto::media::MediaKey::generate(&mut OsRng);
        let enc =
            wa_proto::media::encrypt(&media_key, wa_proto::media::MediaType::History, &compressed);
        let (_, direct_path, _) = inner.store_media_locked(
            &mut st,
            "md-msg-hist",
            &enc.info.file_enc_sha256,
            enc.enc_file.into(),
        );
        let notification = proto::Message {
            protocol_message: Some(Box::new(proto::ProtocolMessage {
                r#type: Some(proto::protocol_message::Type::HistorySyncNotification as i32),
                history_sync_notification: Some(proto::HistorySyncNotification {
                    file_sha256: Some(enc.info.file_sha256.to_vec()),
                    file_length: Some(compressed.len() as u64),
                    media_key: Some(media_key.0.to_vec()),
                    file_enc_sha256: Some(enc.info.file_enc_sha256.to_vec()),
                    direct_path: Some(direct_path),
                    sync_type: Some(proto::HistorySyncType::InitialBootstrap as i32),
                    chunk_order: Some(1),
                    progress: Some(100),
                    // Real phones inline the initial bootstrap blob too; clients that read it
                    // (Baileys, whatsmeow) then need no download from the default media host.
                    initial_hist_bootstrap_inline_payload: Some(compressed.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        for msg in [key_share, notification] {
            let t = now_secs().to_string();
            let enc = encrypt_for(&mut st, phone, phone, device, msg.encode_to_vec())?;
            let node = Node::new("message")
                .attr("from", Jid::pn(phone.to_owned()))
                .attr("id", message_id())
                .attr("type", "text")
                .attr("category", "peer")
                .attr("sender_lid", Jid::lid(lid.clone()))
                .attr("t", t)
                .child(enc);
            crate::route::deliver(inner, &mut st, phone, device, node);
        }
        Ok(())
    })();
    drop(st);
    if let Err(e) = result {
        tracing::warn!(error = %e, "first-login pushes failed");
    }
    inner.store.persist();
}

/// The simulated phone `phone` receives `node` (a `<message>`, `<receipt>` or `<notification>`
/// addressed to its device 0).
pub(crate) fn receive(inner: &Inner, st: &mut State, phone: &str, node: &Node) {
    if node.tag == "receipt" && node.attr_str("type") == Some("retry") {
        resend_on_retry(inner, st, phone, node);
        return;
    }
    if node.tag != "message" {
        return; // other receipts and notifications need no action from the phone
    }
    let Some(from) = node.attr_jid("from") else {
        return;
    };
    let Some(sender_phone) = crate::iq::resolve(st, &from.to_non_ad()) else {
        return;
    };
    let sender_device = u32::from(from.device);
    let id = node.attr_str("id").unwrap_or("").to_owned();
    let t = node.attr_u64("t").unwrap_or_else(now_secs);
    for enc in node.children_by_tag("enc") {
        let Some(bytes) = enc.bytes_content() else {
            continue;
        };
        let plain = match decrypt(
            st,
            phone,
            &sender_phone,
            sender_device,
            enc.attr_str("type"),
            bytes,
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%phone, from = %from, error = %e, "phone could not decrypt");
                continue;
            }
        };
        let Some(unpadded) = unpad(&plain) else {
            continue;
        };
        let Ok(msg) = proto::Message::decode(unpadded) else {
            continue;
        };
        if let Some(entry) = inbox_entry(st, &id, &sender_phone, t, &msg) {
            if let Ok(acc) = st.account_mut(phone) {
                let inbox = &mut acc.phone_state.inbox;
                if inbox.len() >= INBOX_LIMIT {
                    inbox.remove(0);
                }
                inbox.push(entry);
                // Bound the bytes too (texts may be megabytes); the newest entry is kept.
                let size = |m: &InboxMessage| {
                    m.id.len()
                        + m.text.as_ref().map_or(0, String::len)
                        + m.caption.as_ref().map_or(0, String::len)
                };
                let mut total: usize = inbox.iter().map(size).sum();
                while total > INBOX_BYTES_LIMIT && inbox.len() > 1 {
                    total -= size(&inbox.remove(0));
                }
            }
        }
    }
    // Delivery receipt back to the sending device.
    let lid_ns = from.server == Server::Lid;
    let receipt = Node::new("receipt")
        .attr("from", crate::route::device_jid(st, phone, 0, lid_ns))
        .attr("id", id)
        .attr("t", now_secs().to_string());
    let receipt = if node.attr_str("category") == Some("peer") {
        receipt.attr("type", "peer_msg")
    } else if sender_phone == phone {
        receipt.attr("type", "sender")
    } else {
        receipt
    };
    crate::route::deliver(inner, st, &sender_phone, sender_device, receipt);
}

/// A device could not decrypt a message this phone sent: start a fresh session with it and
/// send the message again to that device only (`<enc count=N>`).
fn resend_on_retry(inner: &Inner, st: &mut State, phone: &str, receipt: &Node) {
    let Some(from) = receipt.attr_jid("from") else {
        return;
    };
    let Some(requester) = crate::iq::resolve(st, &from.to_non_ad()) else {
        return;
    };
    let device = u32::from(from.device);
    let id = receipt.attr_str("id").unwrap_or("").to_owned();
    let Some((to, plain, stanza_type)) = st
        .account(phone)
        .ok()
        .and_then(|a| a.phone_state.sent.get(&id).cloned())
    else {
        return;
    };
    let count = receipt
        .get_child("retry")
        .and_then(|r| r.attr_str("count"))
        .unwrap_or("1")
        .to_owned();
    let plaintext = if requester == phone {
        let Ok(original) = proto::Message::decode(plain.as_slice()) else {
            return;
        };
        proto::Message {
            device_sent_message: Some(Box::new(proto::DeviceSentMessage {
                destination_jid: Some(format!("{to}@s.whatsapp.net")),
                message: Some(Box::new(original)),
                phash: None,
            })),
            ..Default::default()
        }
        .encode_to_vec()
    } else {
        plain
    };
    if let Ok(acc) = st.account_mut(phone) {
        acc.phone_state
            .sessions
            .remove(&session_key(&requester, device));
    }
    match encrypt_for(st, phone, &requester, device, plaintext) {
        Ok(enc) => {
            let mut node = Node::new("message")
                .attr("from", Jid::pn(phone.to_owned()))
                .attr("id", id)
                .attr("type", stanza_type)
                .attr("t", now_secs().to_string())
                .child(enc.attr("count", count));
            if requester == phone {
                node.set_attr("recipient", Jid::pn(to));
            }
            crate::route::deliver(inner, st, &requester, device, node);
        }
        Err(e) => tracing::warn!(error = %e, "phone could not answer a retry receipt"),
    }
}

fn decrypt(
    st: &mut State,
    phone: &str,
    sender: &str,
    sender_device: u32,
    kind: Option<&str>,
    bytes: &[u8],
) -> Result<Vec<u8>, EmulatorError> {
    let err = |e: wa_signal::SignalError| EmulatorError::Phone(e.to_string());
    let key = session_key(sender, sender_device);
    let ps = &mut st.account_mut(phone)?.phone_state;
    let mut record = ps
        .sessions
        .get(&key)
        .and_then(|b| SessionRecord::from_bytes(b).ok())
        .unwrap_or_else(SessionRecord::new);
    let plain = match kind {
        Some("pkmsg") => {
            let msg = PreKeySignalMessage::deserialize(bytes).map_err(err)?;
            let spk = SignedPreKeyRecord {
                id: ps.signed_prekey_id,
                key_pair: ps.signed_prekey(),
                signature: ps
                    .signed_prekey_signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| EmulatorError::Phone("bad signed prekey".into()))?,
                timestamp: 0,
            };
            let opk = msg.pre_key_id().and_then(|id| {
                ps.prekeys.get(&id).map(|k| PreKeyRecord {
                    id,
                    key_pair: KeyPair::from_private(PrivateKey::from_bytes(*k)),
                })
            });
            let out = wa_signal::decrypt_prekey_message(
                &mut record,
                &IdentityKeyPair(ps.identity()),
                ps.registration_id,
                &msg,
                Some(&spk),
                opk.as_ref(),
                &mut OsRng,
            )
            .map_err(err)?;
            if let Some(id) = out.consumed_pre_key_id {
                ps.prekeys.remove(&id);
            }
            out.plaintext
        }
        Some("msg") => wa_signal::decrypt_message(&mut record, bytes, &mut OsRng).map_err(err)?,
        other => {
            return Err(EmulatorError::Phone(format!(
                "unsupported enc type {other:?}"
            )));
        }
    };
    ps.sessions.insert(key, record.to_bytes());
    Ok(plain)
}

/// Media fields common to the media messages.
struct MediaRef<'a> {
    kind: &'static str,
    media_type: wa_proto::media::MediaType,
    mimetype: Option<&'a str>,
    caption: Option<&'a str>,
    media_key: Option<&'a [u8]>,
    file_sha256: Option<&'a [u8]>,
    file_enc_sha256: Option<&'a [u8]>,
    file_length: Option<u64>,
    direct_path: Option<&'a str>,
    url: Option<&'a str>,
}

fn inbox_entry(
    st: &State,
    id: &str,
    sender: &str,
    t: u64,
    msg: &proto::Message,
) -> Option<InboxMessage> {
    use wa_proto::media::MediaType as M;
    let mut entry = InboxMessage {
        id: id.to_owned(),
        from: format!("{sender}@s.whatsapp.net"),
        timestamp: t,
        kind: "other".to_owned(),
        text: None,
        caption: None,
        mimetype: None,
        sha256: None,
        size: None,
    };
    if msg.device_sent_message.is_some()
        || (msg.protocol_message.is_some() && msg.conversation.is_none())
        || (msg.sender_key_distribution_message.is_some() && msg.conversation.is_none())
    {
        return None; // own-device copies and protocol traffic are not inbox messages
    }
    let media = if let Some(text) = &msg.conversation {
        entry.kind = "text".into();
        entry.text = Some(text.clone());
        None
    } else if let Some(x) = &msg.extended_text_message {
        entry.kind = "text".into();
        entry.text = x.text.clone();
        None
    } else if let Some(m) = &msg.image_message {
        Some(MediaRef {
            kind: "image",
            media_type: M::Image,
            mimetype: m.mimetype.as_deref(),
            caption: m.caption.as_deref(),
            media_key: m.media_key.as_deref(),
            file_sha256: m.file_sha256.as_deref(),
            file_enc_sha256: m.file_enc_sha256.as_deref(),
            file_length: m.file_length,
            direct_path: m.direct_path.as_deref(),
            url: m.url.as_deref(),
        })
    } else if let Some(m) = &msg.video_message {
        Some(MediaRef {
            kind: "video",
            media_type: M::Video,
            mimetype: m.mimetype.as_deref(),
            caption: m.caption.as_deref(),
            media_key: m.media_key.as_deref(),
            file_sha256: m.file_sha256.as_deref(),
            file_enc_sha256: m.file_enc_sha256.as_deref(),
            file_length: m.file_length,
            direct_path: m.direct_path.as_deref(),
            url: m.url.as_deref(),
        })
    } else if let Some(m) = &msg.audio_message {
        Some(MediaRef {
            kind: "audio",
            media_type: M::Audio,
            mimetype: m.mimetype.as_deref(),
            caption: None,
            media_key: m.media_key.as_deref(),
            file_sha256: m.file_sha256.as_deref(),
            file_enc_sha256: m.file_enc_sha256.as_deref(),
            file_length: m.file_length,
            direct_path: m.direct_path.as_deref(),
            url: m.url.as_deref(),
        })
    } else if let Some(m) = &msg.document_message {
        Some(MediaRef {
            kind: "document",
            media_type: M::Document,
            mimetype: m.mimetype.as_deref(),
            caption: m.caption.as_deref(),
            media_key: m.media_key.as_deref(),
            file_sha256: m.file_sha256.as_deref(),
            file_enc_sha256: m.file_enc_sha256.as_deref(),
            file_length: m.file_length,
            direct_path: m.direct_path.as_deref(),
            url: m.url.as_deref(),
        })
    } else {
        msg.sticker_message.as_ref().map(|m| MediaRef {
            kind: "sticker",
            media_type: M::Sticker,
            mimetype: m.mimetype.as_deref(),
            caption: None,
            media_key: m.media_key.as_deref(),
            file_sha256: m.file_sha256.as_deref(),
            file_enc_sha256: m.file_enc_sha256.as_deref(),
            file_length: m.file_length,
            direct_path: m.direct_path.as_deref(),
            url: m.url.as_deref(),
        })
    };
    if let Some(m) = media {
        entry.kind = m.kind.into();
        entry.caption = m.caption.map(str::to_owned);
        entry.mimetype = m.mimetype.map(str::to_owned);
        match download_and_verify(st, &m) {
            Ok(plain) => {
                use sha2::Digest as _;
                entry.sha256 = Some(hex::encode(sha2::Sha256::digest(&plain)));
                entry.size = Some(plain.len() as u64);
            }
            Err(e) => tracing::warn!(error = %e, "phone could not download/verify media"),
        }
    }
    Some(entry)
}

fn download_and_verify(st: &State, m: &MediaRef<'_>) -> Result<Vec<u8>, EmulatorError> {
    let fail = |s: &str| EmulatorError::Phone(s.to_owned());
    let key: [u8; 32] = m
        .media_key
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| fail("media key missing"))?;
    let path_of = |p: &str| p.split('?').next().unwrap_or(p).to_owned();
    let from_url = m.url.and_then(|u| {
        let rest = u.split_once("://")?.1;
        Some(path_of(&rest[rest.find('/')?..]))
    });
    let blob = m
        .direct_path
        .map(path_of)
        .and_then(|p| st.media.get(&p))
        .or_else(|| from_url.and_then(|p| st.media.get(&p)))
        .ok_or_else(|| fail("media not found on the media host"))?;
    let arr = |b: Option<&[u8]>| b.and_then(|b| <[u8; 32]>::try_from(b).ok());
    let expected = wa_proto::media::Expected {
        file_enc_sha256: arr(m.file_enc_sha256),
        file_sha256: arr(m.file_sha256),
        file_length: m.file_length,
    };
    wa_proto::media::decrypt(
        &wa_proto::media::MediaKey(key),
        m.media_type,
        &blob.bytes,
        &expected,
    )
    .map_err(|e| EmulatorError::Phone(format!("media verification failed: {e}")))
}

impl Phone {
    /// Sends a text message from this phone to `to` (a phone number or JID): encrypted to every
    /// device of the recipient and, as DeviceSentMessage, to this account's companions.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<String, EmulatorError> {
        let to = recipient_phone(to)?;
        let msg = proto::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        let mut st = self.inner.store.lock();
        st.account(&self.phone)?;
        st.account(&to)?;
        let id = send_message(&self.inner, &mut st, &self.phone, &to, &msg, "text", None)?;
        drop(st);
        self.inner.store.mark_dirty();
        Ok(id)
    }

    /// Sends an image from this phone: encrypts it with a fresh media key, stores it on the media
    /// host and sends an `imageMessage` to every device of `to` (and this account's companions).
    pub async fn send_image(
        &self,
        to: &str,
        image: &[u8],
        mimetype: &str,
        caption: Option<&str>,
    ) -> Result<String, EmulatorError> {
        let to = recipient_phone(to)?;
        let key = wa_proto::media::MediaKey::generate(&mut OsRng);
        let enc = wa_proto::media::encrypt(&key, wa_proto::media::MediaType::Image, image);
        let mut st = self.inner.store.lock();
        st.account(&self.phone)?;
        st.account(&to)?;
        let (url, direct_path, _) = self.inner.store_media_locked(
            &mut st,
            "image",
            &enc.info.file_enc_sha256,
            enc.enc_file.into(),
        );
        let msg = proto::Message {
            image_message: Some(Box::new(proto::ImageMessage {
                url: Some(url),
                direct_path: Some(direct_path),
                mimetype: Some(mimetype.to_owned()),
                caption: caption.map(str::to_owned),
                media_key: Some(key.0.to_vec()),
                file_sha256: Some(enc.info.file_sha256.to_vec()),
                file_enc_sha256: Some(enc.info.file_enc_sha256.to_vec()),
                file_length: Some(image.len() as u64),
                media_key_timestamp: Some(now_secs() as i64),
                ..Default::default()
            })),
            ..Default::default()
        };
        let id = send_message(
            &self.inner,
            &mut st,
            &self.phone,
            &to,
            &msg,
            "media",
            Some("image"),
        )?;
        drop(st);
        self.inner.store.mark_dirty();
        Ok(id)
    }

    /// Links the companion that shows this QR: pair-success, pair-device-sign check, 515.
    /// Returns the new device JID.
    pub async fn scan(&self, qr: &str) -> Result<String, EmulatorError> {
        let code = wa_proto::pairing::QrCode::parse(qr)
            .map_err(|e| EmulatorError::BadQr(e.to_string()))?;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        {
            let st = self.inner.store.lock();
            st.account(&self.phone)?;
            let pending = st.pending.get(&code.reference).ok_or_else(|| {
                EmulatorError::BadQr("no connected companion shows this QR".to_owned())
            })?;
            if pending.noise_pub != code.noise_public || pending.identity != code.identity_public {
                return Err(EmulatorError::BadQr(
                    "the QR keys do not match the companion's connection".to_owned(),
                ));
            }
            pending
                .conn
                .tx
                .send(ConnCommand::Pair(Box::new(crate::state::PairRequest {
                    phone: self.phone.clone(),
                    adv_secret: code.adv_secret,
                    done: done_tx,
                })))
                .map_err(|_| EmulatorError::BadQr("the companion disconnected".to_owned()))?;
        }
        match tokio::time::timeout(std::time::Duration::from_secs(40), done_rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(EmulatorError::Pairing(
                "the companion disconnected".to_owned(),
            )),
            Err(_) => Err(EmulatorError::Pairing("timed out".to_owned())),
        }
    }

    /// Pairs with a phone number: the phone "enters" the 8-character code that a registering
    /// companion displays (after its `companion_hello` for this account's number). Completes
    /// the whole flow (key exchange, pair-success, pair-device-sign, 515) and returns the new
    /// device JID.
    pub async fn enter_link_code(&self, code: &str) -> Result<String, EmulatorError> {
        let code = crate::linkcode::normalize_code(code).ok_or_else(|| {
            EmulatorError::InvalidRequest("a link code is 8 letters or digits".to_owned())
        })?;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        {
            let st = self.inner.store.lock();
            st.account(&self.phone)?;
            let conn = st
                .pending_link
                .values()
                .find(|(p, _)| *p == self.phone)
                .map(|(_, c)| c.clone())
                .ok_or_else(|| {
                    EmulatorError::BadQr(
                        "no companion is waiting for a link code for this number".to_owned(),
                    )
                })?;
            conn.tx
                .send(ConnCommand::LinkCode(Box::new(
                    crate::state::LinkCodeRequest {
                        phone: self.phone.clone(),
                        code,
                        done: done_tx,
                    },
                )))
                .map_err(|_| EmulatorError::BadQr("the companion disconnected".to_owned()))?;
        }
        match tokio::time::timeout(std::time::Duration::from_secs(90), done_rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(EmulatorError::Pairing(
                "the companion disconnected".to_owned(),
            )),
            Err(_) => Err(EmulatorError::Pairing("timed out".to_owned())),
        }
    }

    /// Unlinks a companion: it gets `<stream:error code="401"><conflict type="device_removed"/>`
    /// and later logins are refused with `<failure reason="401"/>`.
    pub async fn unlink(&self, device: u32) -> Result<(), EmulatorError> {
        self.remove_device(device, true)
    }

    pub(crate) fn remove_device(&self, device: u32, kick: bool) -> Result<(), EmulatorError> {
        {
            let mut st = self.inner.store.lock();
            let acc = st.account_mut(&self.phone)?;
            if device == 0 || !acc.devices.contains_key(&device) {
                return Err(EmulatorError::DeviceNotFound(self.phone.clone(), device));
            }
            acc.offline.remove(&device);
            acc.phone_state
                .sessions
                .remove(&session_key(&self.phone, device));
            if let Some(c) = st.conns.remove(&(self.phone.clone(), device)) {
                if kick {
                    let _ = c.tx.send(ConnCommand::StreamError {
                        code: 401,
                        conflict: Some("device_removed"),
                    });
                }
            }
        }
        // Notify while the device is still listed (for its key index), then remove it.
        crate::route::notify_device_change(&self.inner, &self.phone, device, false);
        if let Ok(acc) = self.inner.store.lock().account_mut(&self.phone) {
            acc.devices.remove(&device);
        }
        self.inner.store.persist();
        Ok(())
    }
}

/// Accepts `15550001111`, `+1 555 000 1111` or `15550001111@s.whatsapp.net`.
fn recipient_phone(to: &str) -> Result<String, EmulatorError> {
    let user = to.split('@').next().unwrap_or(to);
    let user = user.split(':').next().unwrap_or(user);
    let digits: String = user
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    crate::state::normalize_phone(&digits)
}
