//! Routing: client `<message>` fan-out (one `<enc>` per device), offline queues, receipts,
//! acks, and device-list notifications.

use wa_proto::binary::{Content, Jid, Node, Server};

use crate::Inner;
use crate::conn::{Conn, ConnError, Flow, new_id};
use crate::iq::resolve;
use crate::state::{ConnCommand, QueuedStanza, State, now_secs};

/// The JID of `(phone, device)` in the namespace of `like` (LID or phone number).
pub(crate) fn device_jid(st: &State, phone: &str, device: u32, lid_namespace: bool) -> Jid {
    let dev = device as u16;
    match st.accounts.get(phone) {
        Some(a) if lid_namespace => Jid::lid(a.lid.clone()).with_device(dev),
        _ => Jid::pn(phone.to_owned()).with_device(dev),
    }
}

/// Hands `node` to `(phone, device)`: the simulated phone for device 0, otherwise the device's
/// queue (kept until acked) and its live connection if any.
pub(crate) fn deliver(inner: &Inner, st: &mut State, phone: &str, device: u32, mut node: Node) {
    if node.tag == "message"
        && !st.corrupt_next.is_empty()
        && node.get_child("enc").is_some()
        && st.corrupt_next.remove(&(phone.to_owned(), device))
    {
        corrupt_enc(&mut node);
    }
    if device == 0 {
        crate::phone::receive(inner, st, phone, &node);
        return;
    }
    let conn = st.conns.get(&(phone.to_owned(), device)).cloned();
    let Some(acc) = st.accounts.get_mut(phone) else {
        return;
    };
    if !acc.devices.contains_key(&device) {
        return;
    }
    let Ok(bytes) = wa_proto::binary::try_encode_node(&node) else {
        tracing::error!(tag = %node.tag, "cannot encode a routed stanza");
        return;
    };
    let sent_on = conn.as_ref().and_then(|c| {
        c.tx.send(ConnCommand::Send(node.clone()))
            .is_ok()
            .then_some(c.conn_id)
    });
    let queue = acc.offline.entry(device).or_default();
    if queue.len() >= MAX_QUEUED {
        queue.remove(0);
    }
    queue.push(QueuedStanza {
        id: node.attr_str("id").unwrap_or("").to_owned(),
        tag: node.tag.to_string(),
        node: bytes,
        sent_on,
    });
    // Bound the bytes too (stanzas may be megabytes); the newest stanza is always kept.
    let mut total: usize = queue.iter().map(|s| s.node.len()).sum();
    while total > MAX_QUEUED_BYTES && queue.len() > 1 {
        total -= queue.remove(0).node.len();
    }
}

/// Fault injection: flips the last byte of the first `<enc>`'s ciphertext (inside the MAC of
/// a Signal message), so that the recipient fails to decrypt it.
fn corrupt_enc(node: &mut Node) {
    let Some(enc) = node.get_child_mut("enc") else {
        return;
    };
    if let Content::Bytes(bytes) = &mut enc.content {
        if let Some(last) = bytes.last_mut() {
            *last ^= 0x01;
            tracing::info!("fault injection: corrupted the ciphertext of a routed <enc>");
        }
    }
}

/// Most bytes of stanzas kept for one offline device; the oldest are dropped beyond this.
const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// Most stanzas kept for one offline device; the oldest are dropped beyond this.
const MAX_QUEUED: usize = 10_000;
/// Longest accepted message id (clients send 16 to 32 characters).
const MAX_MESSAGE_ID_LEN: usize = 128;
/// Most message ids remembered for routing receipts.
const MAX_ORIGINS: usize = 200_000;

/// Remembers which device sent message `id`.
pub(crate) fn remember_origin(st: &mut State, id: &str, phone: &str, device: u32) {
    if st.message_origin.len() >= MAX_ORIGINS {
        st.message_origin.clear();
    }
    st.message_origin
        .insert(id.to_owned(), (phone.to_owned(), device));
}

/// Drops queued stanzas of `(phone, device)` that the device acknowledged.
fn acknowledge(st: &mut State, phone: &str, device: u32, id: &str, tag: Option<&str>) {
    if let Some(q) = st
        .accounts
        .get_mut(phone)
        .and_then(|a| a.offline.get_mut(&device))
    {
        q.retain(|s| !(s.id == id && tag.is_none_or(|t| t == s.tag)));
    }
}

/// Stanza attributes copied from the sender's `<message>` to the delivered one.
const COPIED_MESSAGE_ATTRS: &[&str] = &["type", "edit", "category", "push_priority"];

pub(crate) async fn client_message(conn: &mut Conn, node: Node) -> Result<Flow, ConnError> {
    let Some((phone, device)) = conn.me() else {
        return Ok(Flow::Continue);
    };
    let id = node.attr_str("id").unwrap_or("").to_owned();
    if id.len() > MAX_MESSAGE_ID_LEN {
        // Ids are remembered to route receipts back: refuse what real clients never send.
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id)
            .attr("from", Jid::server())
            .attr("error", "400");
        conn.writer.node(&ack).await?;
        return Ok(Flow::Continue);
    }
    let Some(to) = node.attr_jid("to") else {
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id)
            .attr("from", Jid::server())
            .attr("error", "479");
        conn.writer.node(&ack).await?;
        return Ok(Flow::Continue);
    };
    let t = now_secs();
    // (target device JID, <enc> nodes)
    let mut targets: Vec<(Jid, Vec<Node>)> = Vec::new();
    if let Some(p) = node.get_child("participants") {
        for to_node in p.children_by_tag("to") {
            if let Some(j) = to_node.attr_jid("jid") {
                let encs: Vec<Node> = to_node.children_by_tag("enc").cloned().collect();
                if !encs.is_empty() {
                    targets.push((j, encs));
                }
            }
        }
    }
    let bare: Vec<Node> = node.children_by_tag("enc").cloned().collect();
    if !bare.is_empty() {
        targets.push((to.clone(), bare));
    }
    let extra: Vec<Node> = node
        .get_children()
        .iter()
        .filter(|c| c.tag == "device-identity")
        .cloned()
        .collect();
    let mut delivered = 0usize;
    {
        let mut st = conn.inner.store.lock();
        let push_name = st
            .accounts
            .get(&phone)
            .map(|a| a.push_name.clone())
            .unwrap_or_default();
        remember_origin(&mut st, &id, &phone, device);
        for (target, encs) in targets {
            let Some(target_phone) = resolve(&st, &target) else {
                continue;
            };
            let target_device = u32::from(target.device);
            if target_phone == phone && target_device == device {
                continue; // never echo to the sending device
            }
            let lid_ns = target.server == Server::Lid;
            let from = device_jid(&st, &phone, device, lid_ns);
            let mut out = Node::new("message")
                .attr("from", from)
                .attr("id", id.clone())
                .attr("t", t.to_string());
            for k in COPIED_MESSAGE_ATTRS {
                if let Some(v) = node.attr_str(k) {
                    out.set_attr(*k, v.to_owned());
                }
            }
            if !push_name.is_empty() {
                out.set_attr("notify", push_name.clone());
            }
            if lid_ns {
                out.set_attr("sender_pn", Jid::pn(phone.clone()));
            } else if let Some(a) = st.accounts.get(&phone) {
                out.set_attr("sender_lid", Jid::lid(a.lid.clone()));
            }
            if target_phone == phone {
                // A copy for one of the sender's own devices: name the chat.
                out.set_attr("recipient", to.to_non_ad());
            }
            let mut children = encs;
            children.extend(extra.iter().cloned());
            out.content = Content::Nodes(children);
            remember_contact(&mut st, &phone, &target_phone);
            deliver(&conn.inner, &mut st, &target_phone, target_device, out);
            delivered += 1;
        }
    }
    if delivered > 0 && conn.inner.store.is_persistent() {
        // Persist, then acknowledge: the ack tells the sender the message is stored (and the
        // receiving phone's ratchet has advanced), so it must survive a crash right after.
        let inner = conn.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.store.persist()).await;
    } else {
        conn.inner.store.mark_dirty();
    }
    let mut ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", id)
        .attr("from", to)
        .attr("t", t.to_string());
    if delivered == 0 {
        ack.set_attr("error", "479");
    }
    conn.writer.node(&ack).await?;
    Ok(Flow::Continue)
}

pub(crate) async fn client_receipt(conn: &mut Conn, node: Node) -> Result<Flow, ConnError> {
    let Some((phone, device)) = conn.me() else {
        return Ok(Flow::Continue);
    };
    let id = node.attr_str("id").unwrap_or("").to_owned();
    let mut ids = vec![id.clone()];
    if let Some(list) = node.get_child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attr_str("id").map(str::to_owned)),
        );
    }
    let to = node.attr_jid("to");
    {
        let mut st = conn.inner.store.lock();
        for i in &ids {
            acknowledge(&mut st, &phone, device, i, Some("message"));
        }
        let origin = st.message_origin.get(&id).cloned().or_else(|| {
            let to = to.as_ref()?;
            resolve(&st, to).map(|p| (p, u32::from(to.device)))
        });
        if let Some((o_phone, o_device)) = origin {
            let lid_ns = to.as_ref().is_some_and(|j| j.server == Server::Lid);
            let mut out = Node::new("receipt")
                .attr("from", device_jid(&st, &phone, device, lid_ns))
                .attr("id", id.clone())
                .attr("t", now_secs().to_string());
            for k in ["type", "recipient", "participant"] {
                if let Some(v) = node.get_attr(k) {
                    out.set_attr(k, v.clone());
                }
            }
            out.content = node.content.clone();
            deliver(&conn.inner, &mut st, &o_phone, o_device, out);
        }
    }
    conn.inner.store.mark_dirty();
    let mut ack = Node::new("ack")
        .attr("class", "receipt")
        .attr("id", id)
        .attr("from", Jid::server());
    if let Some(t) = node.attr_str("type") {
        ack.set_attr("type", t.to_owned());
    }
    conn.writer.node(&ack).await?;
    Ok(Flow::Continue)
}

pub(crate) fn client_ack(conn: &mut Conn, node: &Node) {
    let Some((phone, device)) = conn.me() else {
        return;
    };
    let (Some(id), Some(class)) = (node.attr_str("id"), node.attr_str("class")) else {
        return;
    };
    let mut st = conn.inner.store.lock();
    acknowledge(&mut st, &phone, device, id, Some(class));
}

/// Tells the account's other companions that `device` was linked (`added`) or unlinked.
pub(crate) fn notify_device_change(inner: &Inner, phone: &str, device: u32, added: bool) {
    let mut st = inner.store.lock();
    let Some(acc) = st.accounts.get(phone) else {
        return;
    };
    let key_index = acc.devices.get(&device).map(|d| d.key_index);
    let mut dev =
        Node::new("device").attr("jid", Jid::pn(phone.to_owned()).with_device(device as u16));
    if let Some(k) = key_index {
        dev.set_attr("key-index", k.to_string());
    }
    let mut change = Node::new(if added { "add" } else { "remove" }).child(dev);
    let (ts, kil) = crate::iq::key_index_list(acc);
    change.push_child(
        Node::new("key-index-list")
            .attr("ts", ts.to_string())
            .bytes(kil),
    );
    // The account's other companions, and the companions of every account it has exchanged
    // messages with (they cache its device list).
    let mut targets: Vec<(String, u32)> = acc
        .devices
        .keys()
        .copied()
        .filter(|d| *d != device)
        .map(|d| (phone.to_owned(), d))
        .collect();
    for peer in st.contacts.get(phone).into_iter().flatten() {
        if let Some(p) = st.accounts.get(peer) {
            targets.extend(p.devices.keys().map(|d| (peer.clone(), *d)));
        }
    }
    let t = now_secs().to_string();
    for (target_phone, target_device) in targets {
        let n = Node::new("notification")
            .attr("from", Jid::pn(phone.to_owned()))
            .attr("type", "devices")
            .attr("id", new_id())
            .attr("t", t.clone())
            .child(change.clone());
        deliver(inner, &mut st, &target_phone, target_device, n);
    }
}

/// Records that `a` and `b` exchanged a message (device-list changes are announced to peers).
pub(crate) fn remember_contact(st: &mut State, a: &str, b: &str) {
    if a == b {
        return;
    }
    st.contacts
        .entry(a.to_owned())
        .or_default()
        .insert(b.to_owned());
    st.contacts
        .entry(b.to_owned())
        .or_default()
        .insert(a.to_owned());
}

/// Below this many one-time prekeys a device is told to upload more.
const LOW_PREKEYS: usize = 5;

/// After a bundle fetch: tells companion `(phone, device)` when its one-time prekeys run low
/// (`<notification type="encrypt"><count value=N/></notification>`).
pub(crate) fn low_prekey_notice(inner: &Inner, st: &mut State, phone: &str, device: u32) {
    if device == 0 {
        return;
    }
    let Some(left) = st
        .accounts
        .get(phone)
        .and_then(|a| a.devices.get(&device))
        .map(|d| d.prekeys.len())
    else {
        return;
    };
    if left < LOW_PREKEYS {
        let n = Node::new("notification")
            .attr("from", Jid::server())
            .attr("type", "encrypt")
            .attr("id", new_id())
            .attr("t", now_secs().to_string())
            .child(Node::new("count").attr("value", left.to_string()));
        deliver(inner, st, phone, device, n);
    }
}
