//! Glue between wa-signal, the [`Store`] and the wire: Signal addresses, session load/save,
//! prekey bundles from `<user>`/`<keys>` nodes, device lists from usync, the plaintext padding
//! and the per-client messaging state (device cache, recently sent messages, locks).
//!
//! Rule of the house (design.md §2 rule 2): every ratchet step is written in ONE store batch
//! (session record, identity, consumed one-time prekey) before its ciphertext leaves or its
//! plaintext is acknowledged. All session reads and writes happen under
//! [`MessagingState::signal_lock`], so a send and a receive never step the same record from two
//! stale copies.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};
use wa_proto::binary::{Jid, Node, Server};
use wa_proto::proto;
use wa_signal::{PreKeyBundle, PublicKey, SessionRecord};

use crate::client::Client;
use crate::creds::Creds;
use crate::error::ClientError;
use crate::store::Store;

/// How long a usync device list stays fresh without a device notification.
pub(crate) const DEVICE_CACHE_TTL: Duration = Duration::from_secs(300);
/// How many sent messages are kept to answer retry receipts.
pub(crate) const RECENT_CAPACITY: usize = 256;
/// A peer gets at most this many resends per message.
pub(crate) const MAX_RESENDS: u32 = 5;
/// We ask for a message at most this many times.
pub(crate) const MAX_RETRY_RECEIPTS: u32 = 5;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A message we sent, kept to answer retry receipts.
#[derive(Clone, Debug)]
pub(crate) struct SentMessage {
    pub(crate) to: Jid,
    pub(crate) message: proto::Message,
    pub(crate) stanza_type: &'static str,
    pub(crate) media_type: Option<&'static str>,
}

/// Per-client messaging state (lives in the client's shared inner state).
#[derive(Default)]
pub(crate) struct MessagingState {
    /// Serialises every read-modify-write of Signal records.
    pub(crate) signal_lock: tokio::sync::Mutex<()>,
    devices: Mutex<HashMap<Jid, (Vec<Jid>, Instant)>>,
    recent: Mutex<VecDeque<(String, SentMessage)>>,
    resends: Mutex<HashMap<(String, Jid), u32>>,
    retry_counts: Mutex<HashMap<String, u32>>,
    pub(crate) media_conn: Mutex<Option<crate::media::MediaConn>>,
    pub(crate) http: OnceLock<reqwest::Client>,
    /// Decoded credentials with the record they came from (re-decoded when it changes).
    creds: Mutex<Option<(crate::store::DeviceRecord, std::sync::Arc<Creds>)>>,
}

/// Our credentials, decoded once per stored device record (decoding derives public keys).
pub(crate) fn creds(client: &Client) -> Result<std::sync::Arc<Creds>, ClientError> {
    let store = client.store().as_ref();
    let record = store
        .load_device()
        .map_err(store_err)?
        .ok_or(ClientError::NotConnected)?;
    let state = &client.inner.messaging;
    if let Some((r, c)) = lock(&state.creds).as_ref() {
        if *r == record {
            return Ok(c.clone());
        }
    }
    let c = std::sync::Arc::new(crate::creds::load(store)?.ok_or(ClientError::NotConnected)?);
    *lock(&state.creds) = Some((record, c.clone()));
    Ok(c)
}

impl MessagingState {
    /// Cached devices of `user` (non-AD JID), if fresh.
    pub(crate) fn cached_devices(&self, user: &Jid) -> Option<Vec<Jid>> {
        let cache = lock(&self.devices);
        let (devs, at) = cache.get(user)?;
        (at.elapsed() < DEVICE_CACHE_TTL).then(|| devs.clone())
    }

    pub(crate) fn cache_devices(&self, user: Jid, devices: Vec<Jid>) {
        lock(&self.devices).insert(user, (devices, Instant::now()));
    }

    /// Forget the device list of `user` (a device notification arrived).
    pub(crate) fn invalidate_devices(&self, user: &Jid) {
        lock(&self.devices).remove(&user.to_non_ad());
    }

    pub(crate) fn remember_sent(&self, id: String, msg: SentMessage) {
        let mut r = lock(&self.recent);
        if r.len() >= RECENT_CAPACITY {
            r.pop_front();
        }
        r.push_back((id, msg));
    }

    pub(crate) fn sent(&self, id: &str) -> Option<SentMessage> {
        lock(&self.recent)
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, m)| m.clone())
    }

    /// Count one more resend of `id` to `requester`; false once the cap is reached.
    pub(crate) fn allow_resend(&self, id: &str, requester: &Jid) -> bool {
        let mut r = lock(&self.resends);
        if r.len() > 4 * RECENT_CAPACITY {
            r.clear();
        }
        let n = r.entry((id.to_owned(), requester.clone())).or_insert(0);
        *n += 1;
        *n <= MAX_RESENDS
    }

    /// The next retry-receipt count for a message we could not decrypt (`None` once we gave
    /// up). `at_least` is one more than the sender's own `<enc count>`.
    pub(crate) fn next_retry_count(&self, id: &str, at_least: u32) -> Option<u32> {
        let mut r = lock(&self.retry_counts);
        if r.len() > 4 * RECENT_CAPACITY {
            r.clear();
        }
        let n = r.entry(id.to_owned()).or_insert(0);
        *n = (*n + 1).max(at_least);
        (*n <= MAX_RETRY_RECEIPTS).then_some(*n)
    }
}

/// The store key of a device's Signal session and identity: `user.device` for phone-number
/// JIDs, `user@server.device` otherwise (the same form the pairing code uses for the primary).
pub(crate) fn address(jid: &Jid) -> String {
    match jid.server {
        Server::Pn | Server::Legacy => format!("{}.{}", jid.user, jid.device),
        _ => format!("{}@{}.{}", jid.user, jid.server.as_str(), jid.device),
    }
}

fn store_err(e: crate::store::StoreError) -> ClientError {
    ClientError::Store(e.to_string())
}

/// The session record of `jid` (empty when there is none or it cannot be read).
pub(crate) fn load_session(store: &dyn Store, jid: &Jid) -> Result<SessionRecord, ClientError> {
    Ok(
        match store.load_session(&address(jid)).map_err(store_err)? {
            None => SessionRecord::new(),
            Some(bytes) => SessionRecord::from_bytes(&bytes).unwrap_or_else(|e| {
                tracing::warn!(%jid, "unreadable session record dropped: {e}");
                SessionRecord::new()
            }),
        },
    )
}

/// Whether we hold a usable session with `jid`.
pub(crate) fn has_session(store: &dyn Store, jid: &Jid) -> Result<bool, ClientError> {
    Ok(load_session(store, jid)?.has_current_session())
}

// ------------------------------------------------------------------------------------------
// Padding (protocol-messaging.md §1.10)
// ------------------------------------------------------------------------------------------

/// Append 1..=16 bytes, each holding the pad length (WA Web's rule).
pub(crate) fn pad(mut plain: Vec<u8>, rng: &mut (impl RngCore + ?Sized)) -> Vec<u8> {
    let n = (rng.next_u32() & 0x0f) as u8 + 1;
    plain.extend(std::iter::repeat_n(n, usize::from(n)));
    plain
}

/// Strip the padding: the last byte n (1..=len) and n equal bytes. `None` when malformed.
pub(crate) fn unpad(plain: &[u8]) -> Option<&[u8]> {
    let n = *plain.last()?;
    let len = usize::from(n);
    if n == 0 || len > plain.len() {
        return None;
    }
    let (body, padding) = plain.split_at(plain.len() - len);
    padding.iter().all(|b| *b == n).then_some(body)
}

// ------------------------------------------------------------------------------------------
// Prekey bundles
// ------------------------------------------------------------------------------------------

fn be_uint(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 4 {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
}

fn key32(n: Option<&Node>) -> Option<PublicKey> {
    let b = n?.bytes_content()?;
    match b.len() {
        32 => Some(PublicKey::from_djb(b.try_into().ok()?)),
        33 => PublicKey::deserialize(b).ok(),
        _ => None,
    }
}

/// A prekey bundle from the children of a `<user>` (prekey fetch) or `<keys>` (retry receipt)
/// node; `registration` overrides a missing `<registration>` child. `None` when incomplete.
pub(crate) fn parse_bundle(node: &Node, registration: Option<u32>) -> Option<PreKeyBundle> {
    // WM also accepts the key material wrapped in a <keys> child.
    let n = node.get_child("keys").unwrap_or(node);
    let registration_id = node
        .get_child("registration")
        .and_then(Node::bytes_content)
        .and_then(be_uint)
        .or(registration)?;
    let identity_key = key32(n.get_child("identity"))?;
    let skey = n.get_child("skey")?;
    let signed_pre_key_id = be_uint(skey.get_child("id")?.bytes_content()?)?;
    let signed_pre_key = key32(skey.get_child("value"))?;
    let signed_pre_key_signature: [u8; 64] = skey
        .get_child("signature")?
        .bytes_content()?
        .try_into()
        .ok()?;
    let pre_key = match n.get_child("key") {
        Some(k) => Some((
            be_uint(k.get_child("id")?.bytes_content()?)?,
            key32(k.get_child("value"))?,
        )),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id,
        identity_key,
        signed_pre_key_id,
        signed_pre_key,
        signed_pre_key_signature,
        pre_key,
    })
}

/// Fetch the prekey bundles of `devices` in one `encrypt` IQ. Devices the server refuses
/// (`<error code=406>`) or that come back incomplete are left out.
pub(crate) async fn fetch_bundles(
    client: &Client,
    devices: &[Jid],
) -> Result<HashMap<Jid, PreKeyBundle>, ClientError> {
    let mut out = HashMap::new();
    if devices.is_empty() {
        return Ok(out);
    }
    let users = devices.iter().map(|d| {
        Node::new("user")
            .attr("jid", d.clone())
            .attr("reason", "identity")
    });
    let iq = Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .attr("to", Jid::server())
        .child(Node::new("key").children(users));
    let resp = client.send_iq(iq).await?;
    let Some(list) = resp.get_child("list") else {
        return Ok(out);
    };
    for user in list.children_by_tag("user") {
        let Some(jid) = user.attr_jid("jid") else {
            continue;
        };
        if let Some(err) = user.get_child("error") {
            tracing::debug!(%jid, code = ?err.attr_str("code"), "no prekey bundle");
            continue;
        }
        match parse_bundle(user, None) {
            Some(b) => {
                out.insert(jid, b);
            }
            None => tracing::warn!(%jid, "incomplete prekey bundle ignored"),
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Devices (usync)
// ------------------------------------------------------------------------------------------

/// The device JIDs of every `<user>` in a usync reply, keyed by the user's non-AD JID.
/// Companions without a `key-index` and hosted devices are dropped (BL, WM).
pub(crate) fn parse_usync_devices(resp: &Node) -> HashMap<Jid, Vec<Jid>> {
    let mut out = HashMap::new();
    let Some(list) = resp.get_child_by_path(&["usync", "list"]) else {
        return out;
    };
    for user in list.children_by_tag("user") {
        let Some(jid) = user.attr_jid("jid") else {
            continue;
        };
        let base = jid.to_non_ad();
        let Some(dl) = user.get_child_by_path(&["devices", "device-list"]) else {
            continue;
        };
        let mut devs = Vec::new();
        for d in dl.children_by_tag("device") {
            let Some(id) = d.attr_u64("id").and_then(|i| u16::try_from(i).ok()) else {
                continue;
            };
            if d.attr_str("is_hosted") == Some("true") {
                continue;
            }
            if id != 0 && !d.has_attr("key-index") {
                continue;
            }
            devs.push(base.clone().with_device(id));
        }
        devs.sort();
        devs.dedup();
        out.insert(base, devs);
    }
    out
}

/// The devices of `users` (non-AD JIDs), from the cache or one usync query.
pub(crate) async fn devices_of(client: &Client, users: &[Jid]) -> Result<Vec<Jid>, ClientError> {
    let state = &client.inner.messaging;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for u in users {
        match state.cached_devices(u) {
            Some(d) => out.extend(d),
            None => missing.push(u.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let sid = client.generate_request_id();
    let list = missing
        .iter()
        .map(|u| Node::new("user").attr("jid", u.clone()));
    let iq = Node::new("iq")
        .attr("xmlns", "usync")
        .attr("type", "get")
        .attr("to", Jid::server())
        .child(
            Node::new("usync")
                .attr("sid", sid)
                .attr("mode", "query")
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", "message")
                .child(
                    Node::new("query")
                        .child(Node::new("devices").attr("version", "2"))
                        .child(Node::new("lid")),
                )
                .child(Node::new("list").children(list)),
        );
    let resp = client.send_iq(iq).await?;
    let parsed = parse_usync_devices(&resp);
    for u in missing {
        let devs = parsed.get(&u).cloned().unwrap_or_default();
        state.cache_devices(u, devs.clone());
        out.extend(devs);
    }
    Ok(out)
}

/// A fresh message id in the current web format: `3EB0` + 18 upper-case hex digits of
/// SHA-256(unix seconds BE ‖ own user ‖ "@c.us" ‖ 16 random bytes) (protocol-messaging.md §3.1).
pub(crate) fn message_id<R: RngCore + CryptoRng + ?Sized>(
    now_secs: u64,
    own_user: &str,
    rng: &mut R,
) -> String {
    use sha2::Digest;
    let mut random = [0u8; 16];
    rng.fill_bytes(&mut random);
    let mut h = sha2::Sha256::new();
    h.update(now_secs.to_be_bytes());
    h.update(own_user.as_bytes());
    h.update(b"@c.us");
    h.update(random);
    let d = h.finalize();
    format!("3EB0{}", hex::encode_upper(&d[..9]))
}

/// Entry points for fuzz targets and robustness tests: every parser the messaging code runs
/// on untrusted input. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use wa_proto::binary::Node;

    /// Run every messaging parser over one inbound stanza; never panics.
    pub fn inbound_stanza(node: &Node) {
        let _ = super::parse_bundle(node, Some(1));
        if let Some(list) = node.get_child("list") {
            for u in list.children_by_tag("user") {
                let _ = super::parse_bundle(u, None);
            }
        }
        let _ = super::parse_usync_devices(node);
        let _ = crate::media::parse_media_conn(node);
        let _ = crate::receive::build_receipt(node, true);
        for enc in node.children_by_tag("enc") {
            if let Some(b) = enc.bytes_content() {
                decrypted_payload(b);
            }
        }
    }

    /// Unpad and decode a decrypted payload as a `waE2E.Message`, then extract its media;
    /// never panics. Returns whether it decoded.
    pub fn decrypted_payload(plain: &[u8]) -> bool {
        match super::unpad(plain).map(<wa_proto::proto::Message as prost::Message>::decode) {
            Some(Ok(m)) => {
                let _ = crate::media::MediaRef::from_message(&m);
                true
            }
            _ => false,
        }
    }

    /// Pad then unpad: must return the input.
    pub fn pad_round_trip(data: &[u8], seed: u32) -> bool {
        struct Fixed(u32);
        impl rand_core::RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                self.0
            }
            fn next_u64(&mut self) -> u64 {
                u64::from(self.0)
            }
            fn fill_bytes(&mut self, d: &mut [u8]) {
                d.fill(self.0 as u8);
            }
            fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
                self.fill_bytes(d);
                Ok(())
            }
        }
        let padded = super::pad(data.to_vec(), &mut Fixed(seed));
        super::unpad(&padded) == Some(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            self.0 = self.0.wrapping_add(1);
            u32::from(self.0)
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32())
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for b in d {
                *b = self.next_u32() as u8;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl CryptoRng for Counter {}

    #[test]
    fn pad_round_trip_every_length() {
        let mut rng = Counter(0);
        for _ in 0..40 {
            let p = pad(b"hello".to_vec(), &mut rng);
            let n = p.len() - 5;
            assert!((1..=16).contains(&n));
            assert_eq!(unpad(&p), Some(&b"hello"[..]));
        }
    }

    #[test]
    fn unpad_rejects_malformed() {
        assert_eq!(unpad(&[]), None);
        assert_eq!(unpad(&[1, 2, 0]), None);
        assert_eq!(unpad(&[9, 9]), None, "longer than the input");
        assert_eq!(unpad(&[1, 3, 2, 3]), None, "unequal pad bytes");
        assert_eq!(unpad(&[7, 1]), Some(&[7u8][..]));
        assert_eq!(unpad(&[2, 2]), Some(&[][..]));
    }

    #[test]
    fn message_id_shape() {
        let id = message_id(1_700_000_000, "15550001111", &mut Counter(3));
        assert_eq!(id.len(), 22);
        assert!(id.starts_with("3EB0"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(
            id,
            message_id(1_700_000_000, "15550001111", &mut Counter(9))
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(address(&Jid::pn("1555").with_device(3)), "1555.3");
        assert_eq!(address(&Jid::lid("999")), "999@lid.0");
    }

    #[test]
    fn usync_device_parsing() {
        let reply = Node::new("iq").child(
            Node::new("usync").child(
                Node::new("list").child(
                    Node::new("user").attr("jid", Jid::pn("1555")).child(
                        Node::new("devices").child(
                            Node::new("device-list").children([
                                Node::new("device").attr("id", "0"),
                                Node::new("device").attr("id", "3").attr("key-index", "1"),
                                Node::new("device").attr("id", "4"),
                                Node::new("device")
                                    .attr("id", "5")
                                    .attr("key-index", "2")
                                    .attr("is_hosted", "true"),
                            ]),
                        ),
                    ),
                ),
            ),
        );
        let d = parse_usync_devices(&reply);
        assert_eq!(
            d[&Jid::pn("1555")],
            vec![Jid::pn("1555"), Jid::pn("1555").with_device(3)]
        );
    }

    #[test]
    fn bundle_parsing() {
        let mut rng = rand_core::OsRng;
        let id = wa_signal::IdentityKeyPair::generate(&mut rng);
        let spk = wa_signal::generate_signed_pre_key(&id, 7, 0, &mut rng);
        let opk = wa_signal::generate_pre_keys(300, 1, &mut rng).remove(0);
        let user = Node::new("user").children([
            Node::new("registration").bytes(vec![0, 0, 0x12, 0x34]),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(id.public_key().as_djb().to_vec()),
            Node::new("skey").children([
                Node::new("id").bytes(vec![0, 0, 7]),
                Node::new("value").bytes(spk.key_pair.public.as_djb().to_vec()),
                Node::new("signature").bytes(spk.signature.to_vec()),
            ]),
            Node::new("key").children([
                Node::new("id").bytes(vec![0, 1, 44]),
                Node::new("value").bytes(opk.key_pair.public.as_djb().to_vec()),
            ]),
        ]);
        let b = parse_bundle(&user, None).unwrap();
        assert_eq!(b.registration_id, 0x1234);
        assert_eq!(b.signed_pre_key_id, 7);
        assert_eq!(b.pre_key.map(|p| p.0), Some(300));
        assert!(b.verify());
        // Missing pieces make it incomplete, never a panic.
        let mut broken = user.clone();
        if let Some(c) = broken.get_children_mut() {
            c.retain(|n| n.tag != "skey");
        }
        assert!(parse_bundle(&broken, None).is_none());
    }
}
