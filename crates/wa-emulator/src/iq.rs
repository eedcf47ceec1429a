//! Answers to the client's `<iq>` queries: keepalive, passive/active, prekeys (count, upload,
//! digest, bundle fetch, rotate), usync, media_conn, app state, props, privacy, logout.

use prost::Message as _;
use rand::rngs::OsRng;
use sha1::Digest as _;
use wa_proto::binary::{Jid, Node, Server};

use crate::conn::{Conn, ConnError, Flow};
use crate::state::{Account, State, now_secs};

/// `<iq type="result" id=.. from=@s.whatsapp.net/>` answering `req`.
pub(crate) fn result(req: &Node) -> Node {
    let mut n = Node::new("iq")
        .attr("type", "result")
        .attr("from", Jid::server());
    if let Some(id) = req.attr_str("id") {
        n.set_attr("id", id.to_owned());
    }
    n
}

/// `<iq type="error"><error code text/></iq>` answering `req`.
pub(crate) fn error(req: &Node, code: u16, text: &'static str) -> Node {
    let mut n = result(req);
    n.set_attr("type", "error");
    n.child(
        Node::new("error")
            .attr("code", code.to_string())
            .attr("text", text),
    )
}

fn be(n: u32, len: usize) -> Vec<u8> {
    n.to_be_bytes()[4 - len..].to_vec()
}

fn be_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 4 {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
}

pub(crate) async fn handle(conn: &mut Conn, node: Node) -> Result<Flow, ConnError> {
    let ty = node.attr_str("type").unwrap_or("");
    if ty == "result" || ty == "error" {
        return Ok(Flow::Continue); // answers to our own iqs (pair-device ack, pings)
    }
    let Some((phone, device)) = conn.me() else {
        return Ok(Flow::Continue);
    };
    let xmlns = node.attr_str("xmlns").unwrap_or("").to_owned();
    let first = node.get_children().first().map(|c| c.tag.to_string());
    let reply = match (xmlns.as_str(), first.as_deref()) {
        ("w:p", _) => result(&node).attr("t", now_secs().to_string()),
        ("passive", Some("active")) => {
            conn.writer.node(&result(&node)).await?;
            conn.deliver_offline().await?;
            return Ok(Flow::Continue);
        }
        ("encrypt", Some("count")) => prekey_count(conn, &node, &phone, device),
        ("encrypt", Some("registration" | "list" | "identity" | "skey" | "type")) => {
            prekey_upload(conn, &node, &phone, device)
        }
        ("encrypt", Some("digest")) => digest(conn, &node, &phone, device),
        ("encrypt", Some("key")) => key_fetch(conn, &node),
        ("encrypt", Some("rotate")) => rotate(conn, &node, &phone, device),
        ("usync", _) => usync(conn, &node),
        ("w:m", _) => media_conn(conn, &node),
        ("w:sync:app:state", _) => app_state(&node),
        ("md", Some("remove-companion-device")) => {
            conn.writer.node(&result(&node)).await?;
            let target = node.get_children()[0]
                .attr_jid("jid")
                .map_or(device, |j| u32::from(j.device));
            let _ = crate::Phone {
                inner: conn.inner.clone(),
                phone: phone.clone(),
            }
            .remove_device(target, target != device);
            return Ok(if target == device {
                Flow::Close
            } else {
                Flow::Continue
            });
        }
        ("privacy", _) => result(&node).child(
            Node::new("privacy").children(
                [
                    ("readreceipts", "all"),
                    ("last", "all"),
                    ("online", "all"),
                    ("profile", "all"),
                    ("status", "all"),
                    ("groupadd", "all"),
                    ("calladd", "all"),
                ]
                .into_iter()
                .map(|(n, v)| Node::new("category").attr("name", n).attr("value", v)),
            ),
        ),
        ("abt", _) => result(&node).child(
            Node::new("props")
                .attr("protocol", "1")
                .attr("ab_key", "emu")
                .attr("hash", "emu1")
                .attr("refresh", "86400"),
        ),
        ("w", Some("props")) => result(&node).child(
            Node::new("props")
                .attr("protocol", "2")
                .attr("hash", "emu1")
                .attr("refresh", "86400"),
        ),
        ("blocklist", _) => result(&node).child(Node::new("list")),
        ("w:g2", Some("participating")) => result(&node).child(Node::new("groups")),
        ("w:g2", _) => error(&node, 404, "item-not-found"),
        ("w:profile:picture", _) => error(&node, 404, "item-not-found"),
        _ => result(&node),
    };
    conn.writer.node(&reply).await?;
    Ok(Flow::Continue)
}

fn prekey_count(conn: &Conn, node: &Node, phone: &str, device: u32) -> Node {
    let st = conn.inner.store.lock();
    let n = st
        .accounts
        .get(phone)
        .and_then(|a| a.devices.get(&device))
        .map_or(0, |d| d.prekeys.len());
    result(node).child(Node::new("count").attr("value", n.to_string()))
}

fn parse_skey(n: &Node) -> Option<crate::state::SignedPreKeyRecord> {
    let id = be_u32(n.get_child("id")?.bytes_content()?)?;
    let value = n.get_child("value")?.bytes_content()?;
    let sig = n.get_child("signature")?.bytes_content()?;
    (value.len() == 32 && sig.len() == 64).then(|| crate::state::SignedPreKeyRecord {
        id,
        public: value.to_vec(),
        signature: sig.to_vec(),
    })
}

/// Most one-time prekeys stored for one device (clients keep tens to hundreds uploaded).
const MAX_PREKEYS_PER_DEVICE: usize = 5_000;

fn prekey_upload(conn: &Conn, node: &Node, phone: &str, device: u32) -> Node {
    let mut keys = Vec::new();
    if let Some(list) = node.get_child("list") {
        for k in list.children_by_tag("key") {
            let id = k
                .get_child("id")
                .and_then(Node::bytes_content)
                .and_then(be_u32);
            let v = k.get_child("value").and_then(Node::bytes_content);
            match (id, v) {
                (Some(id), Some(v)) if v.len() == 32 => keys.push((id, v.to_vec())),
                _ => return error(node, 400, "bad-request"),
            }
        }
    }
    let skey = node.get_child("skey").map(parse_skey);
    if matches!(skey, Some(None)) {
        return error(node, 400, "bad-request");
    }
    let regid = node
        .get_child("registration")
        .and_then(Node::bytes_content)
        .and_then(be_u32);
    let identity = node.get_child("identity").and_then(Node::bytes_content);
    {
        let mut st = conn.inner.store.lock();
        let Some(d) = st
            .accounts
            .get_mut(phone)
            .and_then(|a| a.devices.get_mut(&device))
        else {
            return error(node, 404, "item-not-found");
        };
        if let Some(r) = regid {
            d.registration_id = r;
        }
        if let Some(i) = identity.filter(|i| i.len() == 32) {
            d.identity = i.to_vec();
        }
        if let Some(Some(s)) = skey {
            d.signed_prekey = Some(s);
        }
        for (id, v) in keys {
            d.prekeys.insert(id, v);
        }
        // Ids are peer-chosen: keep the map bounded (lowest ids, the oldest, go first).
        while d.prekeys.len() > MAX_PREKEYS_PER_DEVICE {
            d.prekeys.pop_first();
        }
    }
    conn.inner.store.persist();
    result(node)
}

fn rotate(conn: &Conn, node: &Node, phone: &str, device: u32) -> Node {
    let Some(Some(skey)) = node.get_child_by_path(&["rotate", "skey"]).map(parse_skey) else {
        return error(node, 400, "bad-request");
    };
    {
        let mut st = conn.inner.store.lock();
        if let Some(d) = st
            .accounts
            .get_mut(phone)
            .and_then(|a| a.devices.get_mut(&device))
        {
            d.signed_prekey = Some(skey);
        }
    }
    conn.inner.store.persist();
    result(node)
}

fn digest(conn: &Conn, node: &Node, phone: &str, device: u32) -> Node {
    let st = conn.inner.store.lock();
    let Some(d) = st.accounts.get(phone).and_then(|a| a.devices.get(&device)) else {
        return error(node, 404, "item-not-found");
    };
    let Some(skey) = &d.signed_prekey else {
        return error(node, 404, "item-not-found");
    };
    let mut h = sha1::Sha1::new();
    h.update(&d.identity);
    h.update(&skey.public);
    h.update(&skey.signature);
    for v in d.prekeys.values() {
        h.update(v);
    }
    result(node).child(Node::new("digest").children([
        Node::new("registration").bytes(be(d.registration_id, 4)),
        Node::new("type").bytes(vec![5u8]),
        Node::new("identity").bytes(d.identity.clone()),
        Node::new("skey").children([
            Node::new("id").bytes(be(skey.id, 3)),
            Node::new("value").bytes(skey.public.clone()),
            Node::new("signature").bytes(skey.signature.clone()),
        ]),
        Node::new("list").children(d.prekeys.keys().map(|id| Node::new("id").bytes(be(*id, 3)))),
        Node::new("hash").bytes(h.finalize().to_vec()),
    ]))
}

/// Resolves a user JID (PN or LID) to a phone number.
pub(crate) fn resolve(st: &State, jid: &Jid) -> Option<String> {
    let server = match jid.server {
        Server::Lid => "lid",
        Server::Pn => "s.whatsapp.net",
        _ => return None,
    };
    st.resolve_user(&jid.user, server)
}

/// The prekey bundle node of one device, consuming a one-time prekey.
pub(crate) fn bundle_node(st: &mut State, jid: &Jid) -> Node {
    let user = Node::new("user").attr("jid", jid.clone());
    let not_acceptable = |u: Node| {
        u.child(
            Node::new("error")
                .attr("code", "406")
                .attr("text", "not-acceptable"),
        )
    };
    let Some(phone) = resolve(st, jid) else {
        return not_acceptable(user);
    };
    let Some(acc) = st.accounts.get_mut(&phone) else {
        return not_acceptable(user);
    };
    let device = u32::from(jid.device);
    let Some(b) = crate::phone::device_bundle(acc, device, &mut OsRng) else {
        return not_acceptable(user);
    };
    let mut children = vec![
        Node::new("registration").bytes(be(b.registration_id, 4)),
        Node::new("type").bytes(vec![5u8]),
        Node::new("identity").bytes(b.identity_key.as_djb().to_vec()),
        Node::new("skey").children([
            Node::new("id").bytes(be(b.signed_pre_key_id, 3)),
            Node::new("value").bytes(b.signed_pre_key.as_djb().to_vec()),
            Node::new("signature").bytes(b.signed_pre_key_signature.to_vec()),
        ]),
    ];
    if let Some((id, k)) = b.pre_key {
        children.push(Node::new("key").children([
            Node::new("id").bytes(be(id, 3)),
            Node::new("value").bytes(k.as_djb().to_vec()),
        ]));
    }
    if let Some(d) = acc.devices.get(&device) {
        children.push(Node::new("device-identity").bytes(d.device_identity.clone()));
    }
    user.children(children)
}

fn key_fetch(conn: &Conn, node: &Node) -> Node {
    let users: Vec<Jid> = node
        .get_child("key")
        .map(|k| {
            k.children_by_tag("user")
                .filter_map(|u| u.attr_jid("jid"))
                .collect()
        })
        .unwrap_or_default();
    let list = {
        let mut st = conn.inner.store.lock();
        users
            .iter()
            .map(|j| bundle_node(&mut st, j))
            .collect::<Vec<_>>()
    };
    conn.inner.store.persist();
    result(node).child(Node::new("list").children(list))
}

/// `<key-index-list>` content: the account's signed key-index list.
pub(crate) fn key_index_list(acc: &Account) -> (u64, Vec<u8>) {
    let ts = acc
        .devices
        .values()
        .map(|d| d.linked_at)
        .max()
        .unwrap_or(acc.created);
    let valid: Vec<u32> = acc.devices.values().map(|d| d.key_index).collect();
    let details = wa_proto::proto::AdvKeyIndexList {
        raw_id: Some(acc.raw_id()),
        timestamp: Some(ts),
        current_index: Some(valid.iter().copied().max().unwrap_or(0)),
        valid_indexes: valid,
        account_type: None,
    }
    .encode_to_vec();
    let mut msg = vec![6u8, 2];
    msg.extend_from_slice(&details);
    let sig = acc
        .phone_state
        .identity()
        .private
        .calculate_signature(&msg, &mut OsRng);
    let signed = wa_proto::proto::AdvSignedKeyIndexList {
        details: Some(details),
        account_signature: Some(sig.to_vec()),
        account_signature_key: Some(acc.phone_state.identity().public.as_djb().to_vec()),
    }
    .encode_to_vec();
    (ts, signed)
}

/// `<devices>` of a usync answer.
pub(crate) fn devices_node(acc: &Account) -> Node {
    let mut list = vec![Node::new("device").attr("id", "0")];
    for (id, d) in &acc.devices {
        list.push(
            Node::new("device")
                .attr("id", id.to_string())
                .attr("key-index", d.key_index.to_string()),
        );
    }
    let mut devices = vec![Node::new("device-list").children(list)];
    if !acc.devices.is_empty() {
        let (ts, bytes) = key_index_list(acc);
        devices.push(
            Node::new("key-index-list")
                .attr("ts", ts.to_string())
                .bytes(bytes),
        );
    }
    Node::new("devices").children(devices)
}

fn usync(conn: &Conn, node: &Node) -> Node {
    let Some(us) = node.get_child("usync") else {
        return error(node, 400, "bad-request");
    };
    let queries: Vec<String> = us
        .get_child("query")
        .map(|q| q.get_children().iter().map(|c| c.tag.to_string()).collect())
        .unwrap_or_default();
    let st = conn.inner.store.lock();
    let mut out = Vec::new();
    for u in us
        .get_child("list")
        .map(|l| l.children_by_tag("user").collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let contact = u.get_child("contact");
        let jid = u.attr_jid("jid").or_else(|| {
            let text = contact.and_then(|c| {
                c.text_content().map(str::to_owned).or_else(|| {
                    c.bytes_content()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                })
            })?;
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            (!digits.is_empty()).then(|| Jid::pn(digits))
        });
        let Some(jid) = jid else { continue };
        let acc = resolve(&st, &jid).and_then(|p| st.accounts.get(&p));
        let mut children = Vec::new();
        for q in &queries {
            match (q.as_str(), acc) {
                ("devices", Some(a)) => children.push(devices_node(a)),
                ("devices", None) => {
                    children.push(Node::new("devices").child(Node::new("device-list")))
                }
                ("lid", Some(a)) => {
                    children.push(Node::new("lid").attr("val", Jid::lid(a.lid.clone())))
                }
                ("lid", None) => children.push(Node::new("lid")),
                ("contact", a) => {
                    let mut c =
                        Node::new("contact").attr("type", if a.is_some() { "in" } else { "out" });
                    // Echo the query as bytes (whatsmeow reads it as []byte).
                    let query = contact.and_then(|c| {
                        c.bytes_content()
                            .map(<[u8]>::to_vec)
                            .or_else(|| c.text_content().map(|t| t.as_bytes().to_vec()))
                    });
                    if let Some(q) = query {
                        c = c.bytes(q);
                    }
                    children.push(c);
                }
                ("status", Some(_)) => children.push(
                    Node::new("status")
                        .attr("t", "0")
                        .text("Hey there! I am using WhatsApp."),
                ),
                _ => {}
            }
        }
        out.push(Node::new("user").attr("jid", jid).children(children));
    }
    let mut reply_us = Node::new("usync");
    for k in ["sid", "mode", "last", "index", "context"] {
        if let Some(v) = us.attr_str(k) {
            reply_us.set_attr(k, v.to_owned());
        }
    }
    result(node).child(reply_us.child(Node::new("list").children(out)))
}

fn media_conn(conn: &Conn, node: &Node) -> Node {
    result(node).child(
        Node::new("media_conn")
            .attr("auth", conn.inner.media_auth.clone())
            .attr("ttl", "3600")
            .attr("auth_ttl", "21600")
            .attr("max_buckets", "12")
            .child(Node::new("host").attr("hostname", conn.inner.media_host())),
    )
}

fn app_state(node: &Node) -> Node {
    let collections: Vec<Node> = node
        .get_child("sync")
        .map(|s| {
            s.children_by_tag("collection")
                .map(|c| {
                    let mut n = Node::new("collection");
                    if let Some(name) = c.attr_str("name") {
                        n.set_attr("name", name.to_owned());
                    }
                    n.set_attr("version", c.attr_str("version").unwrap_or("0").to_owned());
                    n
                })
                .collect()
        })
        .unwrap_or_default();
    result(node).child(Node::new("sync").children(collections))
}
