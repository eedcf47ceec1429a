//! Receiving: `<message>` decryption (pkmsg / msg / skmsg), receipts, retry receipts in both
//! directions, and device-list notifications (protocol-messaging.md §4).
//!
//! Order for every message (design.md §2 rule 2): decrypt, persist the ratchet state (one
//! store batch with the identity and the consumed prekey), then send the delivery receipt
//! (which is the ack), then emit [`Event::Message`]. A message that does not decrypt gets a
//! retry receipt (with our keys when the session is missing or on later attempts) and an ack.

use prost::Message as _;
use wa_proto::binary::{Jid, Node};
use wa_proto::proto;
use wa_signal::{
    IdentityKeyPair, PreKeyRecord, PreKeySignalMessage, SenderKeyDistributionMessage,
    SenderKeyRecord, SignalError,
};

use crate::client::Client;
use crate::error::ClientError;
use crate::events::Event;
use crate::handlers::send_ack;
use crate::media::MediaRef;
use crate::signal_glue as glue;
use crate::store::Batch;

/// A received (decrypted) message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MessageEvent {
    /// The sender's message id.
    pub id: String,
    /// The conversation: the other user for 1:1 chats (also for copies of our own messages
    /// sent from another of our devices), or the group.
    pub chat: Jid,
    /// The sending device.
    pub sender: Jid,
    /// Sent by our own account (from another of our devices).
    pub from_me: bool,
    /// Server timestamp (unix seconds).
    pub timestamp: u64,
    /// The sender's push name, if the server passed it on.
    pub push_name: Option<String>,
    /// The text (plain or extended text message), if any.
    pub text: Option<String>,
    /// The media it carries, if any; fetch it with [`Client::download_media`].
    pub media: Option<MediaRef>,
    /// The full decrypted message (unwrapped from a DeviceSentMessage).
    pub message: proto::Message,
}

/// A receipt from another device: delivered, read, played...
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiptEvent {
    /// The message ids it covers.
    pub ids: Vec<String>,
    /// The device that sent it (or the group, with `participant`).
    pub from: Jid,
    /// The group member, for group receipts.
    pub participant: Option<Jid>,
    /// `delivered` (no type attribute), `read`, `read-self`, `played`, `sender`, `inactive`...
    pub kind: String,
    /// Server timestamp, if given.
    pub timestamp: Option<u64>,
}

/// Why a message could not be decrypted.
#[derive(Debug)]
enum Failure {
    /// Not decryptable now: ask for a retry (`no_session` adds our keys at once).
    Retry { no_session: bool },
    /// A duplicate (already processed): acknowledge it as delivered, emit nothing.
    Duplicate,
}

fn signal_failure(e: &SignalError) -> Failure {
    match e {
        SignalError::DuplicateMessage { .. } => Failure::Duplicate,
        SignalError::NoSession | SignalError::NoMatchingSession => {
            Failure::Retry { no_session: true }
        }
        _ => Failure::Retry { no_session: false },
    }
}

fn store_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Store(e.to_string())
}

/// Decrypt one pairwise enc from `sender` and persist the new state. Call under the signal lock.
fn decrypt_pairwise(
    client: &Client,
    sender: &Jid,
    kind: &str,
    bytes: &[u8],
    buffer_key: &str,
) -> Result<Result<Vec<u8>, Failure>, ClientError> {
    let store = client.store().as_ref();
    let creds = glue::creds(client)?;
    let addr = glue::address(sender);
    let mut record = glue::load_session(store, sender)?;
    let mut rng = client.config().rng.clone();
    let mut batch = Batch::new();
    let plaintext = match kind {
        "pkmsg" => {
            let msg = match PreKeySignalMessage::deserialize(bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(%sender, "bad pkmsg: {e}");
                    return Ok(Err(Failure::Retry { no_session: false }));
                }
            };
            let opk = match msg.pre_key_id() {
                Some(id) => store
                    .load_prekey(id)
                    .map_err(store_err)?
                    .map(|k| PreKeyRecord {
                        id,
                        key_pair: wa_signal::KeyPair::from_private(
                            wa_signal::PrivateKey::from_bytes(k),
                        ),
                    }),
                None => None,
            };
            let spk =
                (msg.signed_pre_key_id() == creds.signed_prekey.id).then_some(&creds.signed_prekey);
            match wa_signal::decrypt_prekey_message(
                &mut record,
                &IdentityKeyPair(creds.identity.clone()),
                creds.registration_id,
                &msg,
                spk,
                opk.as_ref(),
                &mut rng,
            ) {
                Ok(out) => {
                    // Trust on first use; a changed identity replaces the old one (the session
                    // was just rebuilt from this message).
                    if let Ok(Some(old)) = store.load_identity(&addr) {
                        if old.as_slice() != out.remote_identity.serialize().as_slice()
                            && old.as_slice() != out.remote_identity.as_djb().as_slice()
                        {
                            tracing::info!(%sender, "identity key changed");
                        }
                    }
                    batch
                        .put_identity(&addr, &out.remote_identity.serialize())
                        .map_err(store_err)?;
                    if let Some(id) = out.consumed_pre_key_id {
                        batch.remove_prekey(id);
                    }
                    out.plaintext
                }
                Err(e) => {
                    tracing::warn!(%sender, "pkmsg decrypt failed: {e}");
                    return Ok(Err(signal_failure(&e)));
                }
            }
        }
        "msg" => match wa_signal::decrypt_message(&mut record, bytes, &mut rng) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%sender, "msg decrypt failed: {e}");
                return Ok(Err(signal_failure(&e)));
            }
        },
        other => {
            tracing::warn!(%sender, kind = other, "unsupported enc type");
            return Ok(Err(Failure::Retry { no_session: false }));
        }
    };
    batch.put_session(&addr, &record.to_bytes());
    batch.put(buffer_key, &plaintext);
    store.apply(batch).map_err(store_err)?;
    Ok(Ok(plaintext))
}

/// Process a sender-key distribution message from `sender` for `group`.
fn process_skdm(
    client: &Client,
    sender: &Jid,
    skdm: &proto::message::SenderKeyDistributionMessage,
) -> Result<(), ClientError> {
    let (Some(group), Some(bytes)) = (
        skdm.group_id.as_deref(),
        skdm.axolotl_sender_key_distribution_message.as_deref(),
    ) else {
        return Ok(());
    };
    let Ok(dist) = SenderKeyDistributionMessage::deserialize(bytes) else {
        tracing::warn!(%sender, "bad sender key distribution message");
        return Ok(());
    };
    let store = client.store().as_ref();
    let addr = glue::address(sender);
    let mut record = store
        .load_sender_key(group, &addr)
        .map_err(store_err)?
        .and_then(|b| SenderKeyRecord::from_bytes(&b).ok())
        .unwrap_or_default();
    record.process_distribution_message(&dist);
    let mut batch = Batch::new();
    batch
        .put_sender_key(group, &addr, &record.to_bytes())
        .map_err(store_err)?;
    store.apply(batch).map_err(store_err)
}

/// Decrypt a group `skmsg` and persist the advanced chain.
fn decrypt_group(
    client: &Client,
    group: &Jid,
    sender: &Jid,
    bytes: &[u8],
    buffer_key: &str,
) -> Result<Result<Vec<u8>, Failure>, ClientError> {
    let store = client.store().as_ref();
    let addr = glue::address(sender);
    let g = group.to_string();
    let Some(mut record) = store
        .load_sender_key(&g, &addr)
        .map_err(store_err)?
        .and_then(|b| SenderKeyRecord::from_bytes(&b).ok())
    else {
        return Ok(Err(Failure::Retry { no_session: true }));
    };
    match record.decrypt(bytes) {
        Ok(p) => {
            let mut batch = Batch::new();
            batch
                .put_sender_key(&g, &addr, &record.to_bytes())
                .map_err(store_err)?
                .put(buffer_key, &p);
            store.apply(batch).map_err(store_err)?;
            Ok(Ok(p))
        }
        Err(e) => {
            tracing::warn!(%sender, %group, "skmsg decrypt failed: {e}");
            Ok(Err(signal_failure(&e)))
        }
    }
}

fn decode(plain: &[u8], v: Option<&str>) -> Option<proto::Message> {
    let body = if v == Some("3") {
        plain
    } else {
        glue::unpad(plain)?
    };
    proto::Message::decode(body).ok()
}

fn text_of(m: &proto::Message) -> Option<String> {
    m.conversation.clone().or_else(|| {
        m.extended_text_message
            .as_ref()
            .and_then(|x| x.text.clone())
    })
}

/// Only protocol traffic (key shares, history sync, sender keys): nothing for the user.
fn is_protocol_only(m: &proto::Message) -> bool {
    let stripped = proto::Message {
        protocol_message: None,
        sender_key_distribution_message: None,
        message_context_info: None,
        ..m.clone()
    };
    stripped == proto::Message::default()
}

/// Handle an incoming `<message>`.
pub(crate) async fn handle_message(client: &Client, node: &Node) -> Result<(), ClientError> {
    let Some(from) = node.attr_jid("from") else {
        return send_ack(client, node).await;
    };
    let participant = node.attr_jid("participant");
    let (chat, sender) = match (&participant, from.is_group() || from.is_broadcast()) {
        (Some(p), true) => (from.clone(), p.clone()),
        // A LID sender: name the chat by phone number when the server tells it.
        _ if from.is_lid() => (
            node.attr_jid("sender_pn")
                .map(|j| j.to_non_ad())
                .unwrap_or_else(|| from.to_non_ad()),
            from.clone(),
        ),
        _ => (from.to_non_ad(), from.clone()),
    };
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let timestamp = node
        .attr_u64("t")
        .unwrap_or_else(|| crate::send::now_secs(client));
    let me = client.me();
    let from_me = me.as_ref().is_some_and(|m| {
        sender.same_user(&m.jid) || m.lid.as_ref().is_some_and(|l| sender.same_user(l))
    });

    // A device we did not know about: our cached list of that user is stale.
    let state = &client.inner.messaging;
    if state
        .cached_devices(&sender.to_non_ad())
        .is_some_and(|d| !d.contains(&sender))
    {
        state.invalidate_devices(&sender);
    }

    let mut message: Option<proto::Message> = None;
    let mut failure: Option<Failure> = None;
    let mut max_count = 0u32;
    let mut buffered = Vec::new();
    {
        let _guard = client.inner.messaging.signal_lock.lock().await;
        for enc in node.children_by_tag("enc") {
            let kind = enc.attr_str("type").unwrap_or_default();
            max_count = max_count.max(enc.attr_u64("count").unwrap_or(0) as u32);
            let Some(bytes) = enc.bytes_content() else {
                continue;
            };
            // A plaintext persisted together with its ratchet step but never acknowledged
            // (crash before the receipt) is replayed instead of failing as a duplicate.
            let key = buffer_key(&sender, kind, bytes);
            let result = match client.store().get(&key).map_err(store_err)? {
                Some(plain) => Ok(plain),
                None if kind == "skmsg" => decrypt_group(client, &chat, &sender, bytes, &key)?,
                None => decrypt_pairwise(client, &sender, kind, bytes, &key)?,
            };
            if result.is_ok() {
                buffered.push(key);
            }
            match result {
                Ok(plain) => match decode(&plain, enc.attr_str("v")) {
                    Some(m) => {
                        if let Some(skdm) = &m.sender_key_distribution_message {
                            process_skdm(client, &sender, skdm)?;
                        }
                        if message.is_none() || kind == "skmsg" {
                            message = Some(m);
                        }
                    }
                    None => {
                        tracing::warn!(%sender, %id, "decrypted payload is not a message");
                        failure.get_or_insert(Failure::Retry { no_session: false });
                    }
                },
                Err(f) => {
                    failure.get_or_insert(f);
                }
            }
        }
    }

    let Some(mut msg) = message else {
        Done {
            client,
            keys: buffered,
        }
        .finish()?;
        return match failure {
            Some(Failure::Retry { no_session }) => {
                // Ack first: the resend carries the same id, and a late ack must not also
                // settle the resend in the server's offline queue.
                send_ack(client, node).await?;
                send_retry_receipt(client, node, max_count + 1, no_session).await
            }
            Some(Failure::Duplicate) => send_receipt(client, node, from_me).await,
            None => send_ack(client, node).await,
        };
    };
    // Persisted above; now the receipt (our ack), then the event.
    send_receipt(client, node, from_me).await?;
    let done = Done {
        client,
        keys: buffered,
    };
    let mut chat = chat;
    if let Some(dsm) = msg.device_sent_message.take() {
        if let Some(dest) = dsm.destination_jid.as_deref().and_then(|d| d.parse().ok()) {
            chat = dest;
        }
        if let Some(inner) = dsm.message {
            let ctx = msg.message_context_info.take();
            msg = *inner;
            if msg.message_context_info.is_none() {
                msg.message_context_info = ctx;
            }
        }
    } else if from_me {
        if let Some(r) = node.attr_jid("recipient") {
            chat = r;
        }
    }
    if is_protocol_only(&msg) {
        return done.finish();
    }
    let push_name = node.attr_text("notify").map(|s| s.into_owned());
    if from_me {
        // Our own phone's messages carry our push name.
        if let Some(name) = &push_name {
            client.learn_push_name(name);
        }
    }
    let event = MessageEvent {
        id,
        chat,
        sender,
        from_me,
        timestamp,
        push_name,
        text: text_of(&msg),
        media: MediaRef::from_message(&msg),
        message: msg,
    };
    client.emit_wait(Event::Message(Box::new(event))).await;
    done.finish()
}

/// Store key of a decrypted-but-not-yet-delivered plaintext.
fn buffer_key(sender: &Jid, kind: &str, ciphertext: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(glue::address(sender).as_bytes());
    h.update([0]);
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(ciphertext);
    format!("msgbuf/{}", hex::encode(h.finalize()))
}

/// Drops the buffered plaintexts once the message was handed to the user.
struct Done<'a> {
    client: &'a Client,
    keys: Vec<String>,
}

impl Done<'_> {
    fn finish(self) -> Result<(), ClientError> {
        let mut batch = Batch::new();
        for k in &self.keys {
            batch.delete(k);
        }
        self.client.store().apply(batch).map_err(store_err)
    }
}

/// The delivery receipt that acknowledges a decrypted message.
pub(crate) fn build_receipt(node: &Node, from_me: bool) -> Node {
    let mut r = Node::new("receipt");
    if let Some(id) = node.get_attr("id") {
        r.set_attr("id", id.clone());
    }
    crate::handlers::address_reply(&mut r, node);
    if node.attr_str("category") == Some("peer") {
        r.set_attr("type", "peer_msg");
    } else if from_me {
        r.set_attr("type", "sender");
    }
    r
}

async fn send_receipt(client: &Client, node: &Node, from_me: bool) -> Result<(), ClientError> {
    client.send_node(build_receipt(node, from_me)).await
}

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// Ask the sender to encrypt the message again (protocol-messaging.md §4.4).
async fn send_retry_receipt(
    client: &Client,
    node: &Node,
    at_least: u32,
    no_session: bool,
) -> Result<(), ClientError> {
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    let Some(count) = client.inner.messaging.next_retry_count(&id, at_least) else {
        tracing::warn!(%id, "giving up on an undecryptable message");
        return Ok(());
    };
    let store = client.store().as_ref();
    let creds = glue::creds(client)?;
    let mut r = Node::new("receipt")
        .attr("id", id.clone())
        .attr("type", "retry");
    crate::handlers::address_reply(&mut r, node);
    if node.attr_str("category") == Some("peer") {
        r.set_attr("category", "peer");
    }
    r.push_child(
        Node::new("retry")
            .attr("count", count.to_string())
            .attr("id", id)
            .attr("t", node.attr_str("t").unwrap_or("0").to_owned())
            .attr("v", "1"),
    );
    r.push_child(Node::new("registration").bytes(creds.registration_id.to_be_bytes().to_vec()));
    if count >= 2 || no_session {
        let prekey = crate::creds::new_prekeys(store, client.config(), 1)?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Store("no prekey generated".into()))?;
        let spk = &creds.signed_prekey;
        let mut keys = Node::new("keys").children([
            Node::new("type").bytes(vec![0x05]),
            Node::new("identity").bytes(creds.identity.public.as_djb().to_vec()),
            Node::new("key").children([
                Node::new("id").bytes(id3(prekey.id)),
                Node::new("value").bytes(prekey.key_pair.public.as_djb().to_vec()),
            ]),
            Node::new("skey").children([
                Node::new("id").bytes(id3(spk.id)),
                Node::new("value").bytes(spk.key_pair.public.as_djb().to_vec()),
                Node::new("signature").bytes(spk.signature.to_vec()),
            ]),
        ]);
        if let Some(di) = creds.account.clone() {
            keys.push_child(Node::new("device-identity").bytes(di));
        }
        r.push_child(keys);
    }
    client.send_node(r).await
}

/// Handle an incoming `<receipt>`: retry requests are answered by re-sending; every other
/// receipt is acked and emitted as [`Event::Receipt`].
pub(crate) async fn handle_receipt(client: &Client, node: &Node) -> Result<(), ClientError> {
    if node.attr_str("type") == Some("retry") {
        if let Err(e) = handle_retry(client, node).await {
            tracing::warn!("answering a retry receipt failed: {e}");
        }
        return send_ack(client, node).await;
    }
    send_ack(client, node).await?;
    let Some(from) = node.attr_jid("from") else {
        return Ok(());
    };
    let mut ids: Vec<String> = node.attr_str("id").map(str::to_owned).into_iter().collect();
    if let Some(list) = node.get_child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attr_str("id").map(str::to_owned)),
        );
    }
    client
        .emit_wait(Event::Receipt(ReceiptEvent {
            ids,
            from,
            participant: node.attr_jid("participant"),
            kind: node.attr_str("type").unwrap_or("delivered").to_owned(),
            timestamp: node.attr_u64("t"),
        }))
        .await;
    Ok(())
}

/// A peer could not decrypt our message `id`: rebuild the session (from the keys it sent, or
/// a fetched bundle) when needed and send it again to that one device.
async fn handle_retry(client: &Client, node: &Node) -> Result<(), ClientError> {
    let (Some(requester), Some(id)) = (node.attr_jid("from"), node.attr_str("id")) else {
        return Ok(());
    };
    let Some(sent) = client.inner.messaging.sent(id) else {
        tracing::debug!(%id, "retry receipt for a message we no longer have");
        return Ok(());
    };
    if !client.inner.messaging.allow_resend(id, &requester) {
        tracing::warn!(%id, %requester, "too many retry receipts; ignored");
        return Ok(());
    }
    let count = node
        .get_child("retry")
        .and_then(|r| r.attr_u64("count"))
        .unwrap_or(1)
        .min(u64::from(u32::MAX)) as u32;
    let registration = node
        .get_child("registration")
        .and_then(Node::bytes_content)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes);
    let me = client.me().ok_or(ClientError::NotConnected)?;
    let own = requester.same_user(&me.jid);
    let plaintext = if own {
        crate::send::device_sent(&sent.to, &sent.message).encode_to_vec()
    } else {
        sent.message.encode_to_vec()
    };
    let ciphertext = {
        let _guard = client.inner.messaging.signal_lock.lock().await;
        let mut bundles = std::collections::HashMap::new();
        let mut force_new = false;
        if let Some(b) = node
            .get_child("keys")
            .and_then(|_| glue::parse_bundle(node, registration))
        {
            bundles.insert(requester.clone(), b);
            force_new = true;
        } else if count >= 2 || !glue::has_session(client.store().as_ref(), &requester)? {
            bundles = glue::fetch_bundles(client, std::slice::from_ref(&requester)).await?;
            force_new = bundles.contains_key(&requester);
        }
        crate::send::encrypt_for_devices(
            client,
            &[(requester.clone(), &plaintext)],
            &bundles,
            force_new,
        )?
    };
    let Some(c) = ciphertext.into_iter().next() else {
        return Err(ClientError::Protocol(format!(
            "cannot encrypt the resend of {id} to {requester}"
        )));
    };
    let mut enc = crate::send::enc_node(&c, sent.media_type);
    enc.set_attr("count", count.to_string());
    let mut msg = Node::new("message")
        .attr("to", requester.clone())
        .attr("id", id.to_owned())
        .attr("type", sent.stanza_type)
        .attr("t", crate::send::now_secs(client).to_string())
        .child(enc);
    if own {
        msg.set_attr("recipient", sent.to.clone());
    }
    if c.kind == wa_signal::MessageType::PreKey {
        if let Some(di) = crate::send::device_identity(client)? {
            msg.push_child(Node::new("device-identity").bytes(di));
        }
    }
    let ack = client.send_request(msg).await?;
    if let Some(code) = ack.attr_str("error") {
        tracing::warn!(%id, code, "resend rejected by the server");
    }
    Ok(())
}

impl Client {
    /// Mark messages of one sender as read (`<receipt type="read">`). `chat` is the user (or
    /// group) and `sender` the sending device's JID (for groups, the member); `ids` must not
    /// be empty.
    pub async fn mark_read(
        &self,
        chat: &Jid,
        sender: &Jid,
        ids: &[String],
    ) -> Result<(), ClientError> {
        let (first, rest) = ids
            .split_first()
            .ok_or_else(|| ClientError::Unsupported("mark_read without ids".into()))?;
        let mut r = Node::new("receipt")
            .attr("id", first.clone())
            .attr("type", "read")
            .attr("t", crate::send::now_secs(self).to_string());
        if chat.is_group() {
            r.set_attr("to", chat.clone());
            r.set_attr("participant", sender.clone());
        } else {
            r.set_attr("to", sender.clone());
        }
        if !rest.is_empty() {
            r.push_child(
                Node::new("list")
                    .children(rest.iter().map(|i| Node::new("item").attr("id", i.clone()))),
            );
        }
        self.send_node(r).await
    }
}

/// `<notification type="devices">`: forget the cached device list of that user, then ack.
pub(crate) async fn handle_devices_notification(
    client: &Client,
    node: &Node,
) -> Result<(), ClientError> {
    if let Some(from) = node.attr_jid("from") {
        client.inner.messaging.invalidate_devices(&from);
    }
    for change in node.get_children() {
        for d in change.children_by_tag("device") {
            if let Some(j) = d.attr_jid("jid") {
                client.inner.messaging.invalidate_devices(&j);
            }
        }
    }
    send_ack(client, node).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline_client() -> Client {
        let store = std::sync::Arc::new(crate::store::MemoryStore::new());
        let config = crate::ClientConfig::builder().build().unwrap();
        crate::creds::load_or_create(store.as_ref(), &config).unwrap();
        Client::new(config, store).0
    }

    #[test]
    fn pairwise_decrypt_persists_session_identity_prekey_and_buffer() {
        let client = offline_client();
        let store = client.store().clone();
        let creds = glue::creds(&client).unwrap();
        let opk = crate::creds::new_prekeys(store.as_ref(), client.config(), 1)
            .unwrap()
            .remove(0);
        let bundle = wa_signal::PreKeyBundle::new(
            creds.registration_id,
            &creds.identity.public,
            &creds.signed_prekey,
            Some(&opk),
        );
        let mut rng = rand_core::OsRng;
        let alice = IdentityKeyPair::generate(&mut rng);
        let mut rec = wa_signal::SessionRecord::new();
        wa_signal::process_bundle(&mut rec, &alice, 42, &bundle, &mut rng).unwrap();
        let mut plain = crate::send::text_message("hello").encode_to_vec();
        plain.extend([2, 2]);
        let ct = wa_signal::encrypt(&mut rec, &plain).unwrap();
        assert_eq!(ct.kind.as_str(), "pkmsg");

        let sender = Jid::pn("15550009999").with_device(4);
        let key = buffer_key(&sender, "pkmsg", &ct.bytes);
        let out = decrypt_pairwise(&client, &sender, "pkmsg", &ct.bytes, &key).unwrap();
        assert_eq!(out.unwrap(), plain);
        assert!(store.load_session("15550009999.4").unwrap().is_some());
        assert!(store.load_identity("15550009999.4").unwrap().is_some());
        assert_eq!(
            store.load_prekey(opk.id).unwrap(),
            None,
            "one-time prekey consumed"
        );
        assert_eq!(
            store.get(&key).unwrap(),
            Some(plain.clone()),
            "plaintext buffered"
        );
        assert_eq!(
            decode(&plain, Some("2")).unwrap().conversation.as_deref(),
            Some("hello")
        );

        // The same ciphertext again is a duplicate, never a second plaintext.
        let again = decrypt_pairwise(&client, &sender, "pkmsg", &ct.bytes, &key).unwrap();
        assert!(matches!(again, Err(Failure::Duplicate)), "{again:?}");
        // Garbage and unknown types ask for a retry.
        let bad = decrypt_pairwise(&client, &sender, "msg", &[0x33, 1, 2], &key).unwrap();
        assert!(matches!(bad, Err(Failure::Retry { .. })));
        let other = decrypt_pairwise(&client, &sender, "frank", &[1], &key).unwrap();
        assert!(matches!(other, Err(Failure::Retry { no_session: false })));
    }

    #[test]
    fn group_messages_decrypt_after_the_distribution_message() {
        let client = offline_client();
        let group = Jid::group("120363000000000001");
        let sender = Jid::pn("15550009999").with_device(1);
        let mut own = SenderKeyRecord::generate_own(&mut rand_core::OsRng);
        let skmsg = own.encrypt(b"early").unwrap();
        // Before the SKDM: no sender key, so a retry (with keys) is requested.
        let early = decrypt_group(&client, &group, &sender, &skmsg, "k0").unwrap();
        assert!(matches!(early, Err(Failure::Retry { no_session: true })));

        let skdm = own.distribution_message().unwrap();
        let wrapper = proto::message::SenderKeyDistributionMessage {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(skdm.serialized().to_vec()),
        };
        process_skdm(&client, &sender, &wrapper).unwrap();
        let ct = own.encrypt(b"group hello").unwrap();
        let out = decrypt_group(&client, &group, &sender, &ct, "k1").unwrap();
        assert_eq!(out.unwrap(), b"group hello");
        let dup = decrypt_group(&client, &group, &sender, &ct, "k1").unwrap();
        assert!(matches!(dup, Err(Failure::Duplicate)), "{dup:?}");
    }

    #[test]
    fn receipt_shapes() {
        let m = Node::new("message")
            .attr("id", "X")
            .attr("from", Jid::pn("1555").with_device(2))
            .attr("recipient", Jid::pn("1666"));
        let r = build_receipt(&m, true);
        assert_eq!(r.attr_str("type"), Some("sender"));
        assert_eq!(r.attr_jid("to"), Some(Jid::pn("1555").with_device(2)));
        assert_eq!(r.attr_jid("recipient"), Some(Jid::pn("1666")));
        let peer = Node::new("message")
            .attr("id", "Y")
            .attr("category", "peer");
        assert_eq!(
            build_receipt(&peer, true).attr_str("type"),
            Some("peer_msg")
        );
        let plain = Node::new("message").attr("id", "Z");
        assert_eq!(build_receipt(&plain, false).attr_str("type"), None);
    }

    #[test]
    fn protocol_only_detection() {
        assert!(is_protocol_only(&proto::Message {
            protocol_message: Some(Box::default()),
            ..Default::default()
        }));
        assert!(!is_protocol_only(&crate::send::text_message("x")));
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(decode(&[], Some("2")).is_none());
        assert!(decode(&[0xff, 0x01], Some("2")).is_none());
        let mut ok = crate::send::text_message("hi").encode_to_vec();
        ok.extend([3, 3, 3]);
        assert_eq!(
            decode(&ok, Some("2")).and_then(|m| m.conversation),
            Some("hi".into())
        );
    }
}
