//! A scripted companion built from wa-proto/wa-signal pieces: it speaks the real protocol
//! (intro, Noise XX initiator, binary nodes, Signal) to the emulator, step by step.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wa_proto::binary::{Jid, Node};
use wa_proto::cert::TrustedRoot;
use wa_proto::frame::{FrameDecoder, FrameEncoder};
use wa_proto::noise::{ClientHandshake, NoiseTransport};
use wa_proto::proto::{self, ClientPayload, client_payload};
use wa_signal::{
    IdentityKeyPair, KeyPair, PreKeyBundle, PreKeyRecord, PreKeySignalMessage, PublicKey,
    SessionRecord, SignedPreKeyRecord,
};

pub const WAIT: Duration = Duration::from_secs(10);

/// One Noise-encrypted connection to the emulator.
pub struct Link {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    transport: NoiseTransport,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    /// Nodes read while waiting for something else, oldest first.
    stash: std::collections::VecDeque<Node>,
    /// The server's Noise static key (what a client caches for IK).
    pub server_static: [u8; 32],
}

impl Link {
    pub async fn connect(
        ws_url: &str,
        root: [u8; 32],
        noise: &KeyPair,
        payload: &ClientPayload,
    ) -> Link {
        let url = format!("{ws_url}?ED=unused");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        let mut encoder = FrameEncoder::new();
        let hs = ClientHandshake::new(noise.clone(), TrustedRoot::new(root), &mut OsRng);
        let hello = encoder.encode(&hs.client_hello()).unwrap();
        ws.send(WsMessage::Binary(hello.into())).await.unwrap();
        let mut decoder = FrameDecoder::new();
        let server_hello = read_frame(&mut ws, &mut decoder)
            .await
            .expect("server hello");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let awaiting = hs
            .read_server_hello(&server_hello, now)
            .expect("server hello verifies under the emulator root");
        let server_static = *awaiting.server_static().as_djb();
        let finished = awaiting.finish(&payload.encode_to_vec()).unwrap();
        let frame = encoder.encode(&finished.message).unwrap();
        ws.send(WsMessage::Binary(frame.into())).await.unwrap();
        Link {
            ws,
            transport: finished.transport,
            decoder,
            encoder,
            stash: Default::default(),
            server_static,
        }
    }

    /// Connects resuming with Noise IK against a cached server static key, and completes the
    /// XXfallback the server answers with (whatsapp-rust's behaviour).
    pub async fn connect_ik(
        ws_url: &str,
        root: [u8; 32],
        noise: &KeyPair,
        server_static: [u8; 32],
        payload: &ClientPayload,
    ) -> Link {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("ws connect");
        let mut encoder = FrameEncoder::new();
        let prologue = wa_proto::frame::INTRO_HEADER;
        let rs = PublicKey::from_djb(server_static);
        let e = KeyPair::generate(&mut OsRng);
        let mut ik = noise_sym::Symmetric::new(b"Noise_IK_25519_AESGCM_SHA256\0\0\0\0", &prologue);
        ik.mix_hash(&server_static);
        ik.mix_hash(e.public.as_djb());
        ik.mix_key(&e.private.calculate_agreement(&rs));
        let static_ct = ik.encrypt_and_hash(noise.public.as_djb());
        ik.mix_key(&noise.private.calculate_agreement(&rs));
        let payload_ct = ik.encrypt_and_hash(&payload.encode_to_vec());
        let hello = proto::HandshakeMessage {
            client_hello: Some(proto::handshake_message::ClientHello {
                ephemeral: Some(e.public.as_djb().to_vec()),
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..Default::default()
        };
        let frame = encoder.encode(&hello.encode_to_vec()).unwrap();
        ws.send(WsMessage::Binary(frame.into())).await.unwrap();
        let mut decoder = FrameDecoder::new();
        let sh = read_frame(&mut ws, &mut decoder)
            .await
            .expect("server hello");
        let sh = proto::HandshakeMessage::decode(sh.as_slice())
            .unwrap()
            .server_hello
            .unwrap();
        assert!(sh.r#static.is_some(), "server answers IK with XXfallback");
        let es = PublicKey::from_djb(sh.ephemeral.unwrap().try_into().unwrap());
        let mut fb = noise_sym::Symmetric::new(b"Noise_XXfallback_25519_AESGCM_SHA256", &prologue);
        fb.mix_hash(e.public.as_djb());
        fb.mix_hash(es.as_djb());
        fb.mix_key(&e.private.calculate_agreement(&es));
        let ss: [u8; 32] = fb
            .decrypt_and_hash(&sh.r#static.unwrap())
            .try_into()
            .unwrap();
        assert_eq!(ss, server_static);
        fb.mix_key(&e.private.calculate_agreement(&PublicKey::from_djb(ss)));
        let chain = fb.decrypt_and_hash(&sh.payload.unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        wa_proto::cert::verify_cert_chain(&chain, &TrustedRoot::new(root), &ss, now)
            .expect("chain verifies");
        let c1 = fb.encrypt_and_hash(noise.public.as_djb());
        fb.mix_key(&noise.private.calculate_agreement(&es));
        let c2 = fb.encrypt_and_hash(&payload.encode_to_vec());
        let finish = proto::HandshakeMessage {
            client_finish: Some(proto::handshake_message::ClientFinish {
                r#static: Some(c1),
                payload: Some(c2),
            }),
            ..Default::default()
        };
        let frame = encoder.encode(&finish.encode_to_vec()).unwrap();
        ws.send(WsMessage::Binary(frame.into())).await.unwrap();
        let (c2s, s2c) = fb.split();
        Link {
            ws,
            transport: NoiseTransport::new(
                wa_proto::noise::TransportCipher::new(c2s),
                wa_proto::noise::TransportCipher::new(s2c),
            ),
            decoder,
            encoder,
            stash: Default::default(),
            server_static,
        }
    }

    pub async fn send(&mut self, node: &Node) {
        let plain = wa_proto::binary::marshal(node);
        let ct = self.transport.encrypt(&plain).unwrap();
        let frame = self.encoder.encode(&ct).unwrap();
        self.ws.send(WsMessage::Binary(frame.into())).await.unwrap();
    }

    /// Sends raw bytes as one frame payload (for malformed-input tests).
    pub async fn send_raw_frame(&mut self, payload: &[u8]) {
        let frame = self.encoder.encode(payload).unwrap();
        self.ws.send(WsMessage::Binary(frame.into())).await.unwrap();
    }

    /// Sends raw bytes encrypted as one frame (a well-encrypted but malformed node).
    pub async fn send_encrypted_raw(&mut self, plain: &[u8]) {
        let ct = self.transport.encrypt(plain).unwrap();
        self.send_raw_frame(&ct).await;
    }

    /// The next node, `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Option<Node> {
        if let Some(n) = self.stash.pop_front() {
            return Some(n);
        }
        self.recv_wire().await
    }

    async fn recv_wire(&mut self) -> Option<Node> {
        let frame = tokio::time::timeout(WAIT, read_frame(&mut self.ws, &mut self.decoder))
            .await
            .expect("timed out waiting for a node")?;
        let plain = self.transport.decrypt(&frame).expect("decrypt");
        Some(wa_proto::binary::unmarshal(&plain).expect("node decodes"))
    }

    /// Reads until a node matches `pred`; panics on close or timeout.
    /// Other nodes read meanwhile are kept for later [`Link::recv`] calls.
    pub async fn recv_until(&mut self, what: &str, pred: impl Fn(&Node) -> bool) -> Node {
        if let Some(i) = self.stash.iter().position(&pred) {
            return self.stash.remove(i).unwrap();
        }
        loop {
            match self.recv_wire().await {
                Some(n) if pred(&n) => return n,
                Some(n) => self.stash.push_back(n),
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }

    /// True once the server has closed the socket (reads until close).
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, read_frame(&mut self.ws, &mut self.decoder)).await {
                Err(_) => return false,
                Ok(None) => return true,
                Ok(Some(_)) => {}
            }
        }
    }

    /// Sends an iq and waits for its answer.
    pub async fn iq(&mut self, mut node: Node) -> Node {
        let id = format!("t.{}", OsRng.next_u32());
        node.set_attr("id", id.clone());
        node.set_attr("to", Jid::server());
        self.send(&node).await;
        self.recv_until("iq answer", |n| {
            n.tag == "iq" && n.attr_str("id") == Some(id.as_str())
        })
        .await
    }
}

async fn read_frame(
    ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>,
    decoder: &mut FrameDecoder,
) -> Option<Vec<u8>> {
    loop {
        if let Some(f) = decoder.next_frame().expect("frame") {
            return Some(f);
        }
        match ws.next().await {
            Some(Ok(WsMessage::Binary(b))) => decoder.push(&b),
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn be(n: u32, len: usize) -> Vec<u8> {
    n.to_be_bytes()[4 - len..].to_vec()
}

/// A companion device: its keys, its Signal sessions and (once paired) its JID.
pub struct Companion {
    pub noise: KeyPair,
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed_prekey: SignedPreKeyRecord,
    pub prekeys: BTreeMap<u32, PreKeyRecord>,
    pub adv_secret: [u8; 32],
    pub phone: Option<String>,
    pub device: u32,
    pub account: Option<Vec<u8>>,
    pub sessions: HashMap<String, SessionRecord>,
    pub ws_url: String,
    pub root: [u8; 32],
}

impl Companion {
    pub fn new(ws_url: &str, root: [u8; 32]) -> Companion {
        let identity = KeyPair::generate(&mut OsRng);
        let spk = KeyPair::generate(&mut OsRng);
        let signature = identity
            .private
            .calculate_signature(&spk.public.serialize(), &mut OsRng);
        Companion {
            noise: KeyPair::generate(&mut OsRng),
            registration_id: OsRng.gen_range(1..16380),
            signed_prekey: SignedPreKeyRecord {
                id: 1,
                key_pair: spk,
                signature,
                timestamp: 0,
            },
            identity,
            prekeys: BTreeMap::new(),
            adv_secret: OsRng.r#gen(),
            phone: None,
            device: 0,
            account: None,
            sessions: HashMap::new(),
            ws_url: ws_url.to_owned(),
            root,
        }
    }

    fn registration_payload(&self) -> ClientPayload {
        ClientPayload {
            passive: Some(false),
            pull: Some(false),
            connect_type: Some(1),
            connect_reason: Some(1),
            device_pairing_data: Some(client_payload::DevicePairingRegistrationData {
                e_regid: Some(be(self.registration_id, 4)),
                e_keytype: Some(vec![5]),
                e_ident: Some(self.identity.public.as_djb().to_vec()),
                e_skey_id: Some(be(self.signed_prekey.id, 3)),
                e_skey_val: Some(self.signed_prekey.key_pair.public.as_djb().to_vec()),
                e_skey_sig: Some(self.signed_prekey.signature.to_vec()),
                build_hash: Some(vec![0u8; 16]),
                device_props: Some(
                    proto::DeviceProps {
                        os: Some("scripted".to_owned()),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                ),
            }),
            ..Default::default()
        }
    }

    pub fn login_payload(&self) -> ClientPayload {
        ClientPayload {
            username: Some(self.phone.as_ref().expect("paired").parse().unwrap()),
            device: Some(self.device),
            passive: Some(true),
            pull: Some(true),
            connect_type: Some(1),
            connect_reason: Some(1),
            ..Default::default()
        }
    }

    /// Connects in registration mode, acks `<pair-device>` and returns the link and the QR
    /// text of the first ref.
    pub async fn start_registration(&self) -> (Link, String, usize) {
        let mut link = Link::connect(
            &self.ws_url,
            self.root,
            &self.noise,
            &self.registration_payload(),
        )
        .await;
        let iq = link
            .recv_until("pair-device", |n| {
                n.tag == "iq" && n.get_child("pair-device").is_some()
            })
            .await;
        assert_eq!(iq.attr_jid("from"), Some(Jid::server()));
        let refs: Vec<String> = iq
            .get_child("pair-device")
            .unwrap()
            .children_by_tag("ref")
            .map(|r| String::from_utf8(r.bytes_content().expect("ref is bytes").to_vec()).unwrap())
            .collect();
        let ack = Node::new("iq")
            .attr("to", Jid::server())
            .attr("id", iq.attr_str("id").unwrap().to_owned())
            .attr("type", "result");
        link.send(&ack).await;
        let qr = format!(
            "{}{},1",
            wa_proto::pairing::QR_DEEP_LINK_PREFIX,
            wa_proto::pairing::qr_text(
                &refs[0],
                self.noise.public.as_djb(),
                self.identity.public.as_djb(),
                &self.adv_secret
            )
        );
        (link, qr, refs.len())
    }

    /// Answers `<pair-success>` on `link` the way real clients do; returns the device JID.
    pub async fn complete_pairing(&mut self, link: &mut Link) -> Jid {
        let iq = link
            .recv_until("pair-success", |n| {
                n.tag == "iq" && n.get_child("pair-success").is_some()
            })
            .await;
        let ps = iq.get_child("pair-success").unwrap();
        let di = ps
            .get_child("device-identity")
            .and_then(Node::bytes_content)
            .expect("device-identity bytes");
        let jid = ps
            .get_child("device")
            .and_then(|d| d.attr_jid("jid"))
            .expect("device jid");
        let (_verified, reply) = wa_proto::pairing::handle_pair_success(
            di,
            &self.adv_secret,
            &self.identity,
            &mut OsRng,
        )
        .expect("pair-success verifies");
        self.account = Some(reply.account.encode_to_vec());
        self.phone = Some(jid.user.clone());
        self.device = u32::from(jid.device);
        let answer = Node::new("iq")
            .attr("to", Jid::server())
            .attr("type", "result")
            .attr("id", iq.attr_str("id").unwrap().to_owned())
            .child(
                Node::new("pair-device-sign").child(
                    Node::new("device-identity")
                        .attr("key-index", reply.key_index.to_string())
                        .bytes(reply.device_identity.clone()),
                ),
            );
        link.send(&answer).await;
        let err = link
            .recv_until("stream:error 515", |n| n.tag == "stream:error")
            .await;
        assert_eq!(err.attr_str("code"), Some("515"));
        assert!(link.closed().await, "server closes after 515");
        jid
    }

    /// Logs in; returns the link after `<success>` (or panics with the failure).
    pub async fn login(&self) -> Result<Link, Node> {
        let mut link =
            Link::connect(&self.ws_url, self.root, &self.noise, &self.login_payload()).await;
        let first = link.recv().await.expect("success or failure");
        if first.tag == "success" {
            Ok(link)
        } else {
            Err(first)
        }
    }

    /// Uploads `n` one-time prekeys and goes active.
    pub async fn upload_prekeys_and_activate(&mut self, link: &mut Link, n: u32) -> Node {
        let start = self.prekeys.keys().last().copied().unwrap_or(0) + 1;
        let mut list = Vec::new();
        for id in start..start + n {
            let kp = KeyPair::generate(&mut OsRng);
            list.push(Node::new("key").children([
                Node::new("id").bytes(be(id, 3)),
                Node::new("value").bytes(kp.public.as_djb().to_vec()),
            ]));
            self.prekeys.insert(id, PreKeyRecord { id, key_pair: kp });
        }
        let up = link
            .iq(Node::new("iq")
                .attr("xmlns", "encrypt")
                .attr("type", "set")
                .children([
                    Node::new("registration").bytes(be(self.registration_id, 4)),
                    Node::new("type").bytes(vec![5]),
                    Node::new("identity").bytes(self.identity.public.as_djb().to_vec()),
                    Node::new("list").children(list),
                    Node::new("skey").children([
                        Node::new("id").bytes(be(self.signed_prekey.id, 3)),
                        Node::new("value")
                            .bytes(self.signed_prekey.key_pair.public.as_djb().to_vec()),
                        Node::new("signature").bytes(self.signed_prekey.signature.to_vec()),
                    ]),
                ]))
            .await;
        assert_eq!(up.attr_str("type"), Some("result"));
        link.iq(Node::new("iq")
            .attr("xmlns", "passive")
            .attr("type", "set")
            .child(Node::new("active")))
            .await
    }

    /// Decrypts one `<enc>` from `sender` (address key `user:device`), returning the message.
    pub fn decrypt(&mut self, sender_key: &str, enc: &Node) -> proto::Message {
        let bytes = enc.bytes_content().expect("enc bytes");
        let record = self.sessions.entry(sender_key.to_owned()).or_default();
        let plain = match enc.attr_str("type") {
            Some("pkmsg") => {
                let msg = PreKeySignalMessage::deserialize(bytes).unwrap();
                let opk = msg
                    .pre_key_id()
                    .and_then(|id| self.prekeys.get(&id).cloned());
                let out = wa_signal::decrypt_prekey_message(
                    record,
                    &IdentityKeyPair(self.identity.clone()),
                    self.registration_id,
                    &msg,
                    Some(&self.signed_prekey),
                    opk.as_ref(),
                    &mut OsRng,
                )
                .expect("pkmsg decrypts");
                if let Some(id) = out.consumed_pre_key_id {
                    self.prekeys.remove(&id);
                }
                out.plaintext
            }
            Some("msg") => {
                wa_signal::decrypt_message(record, bytes, &mut OsRng).expect("msg decrypts")
            }
            other => panic!("unexpected enc type {other:?}"),
        };
        let n = usize::from(*plain.last().unwrap());
        proto::Message::decode(&plain[..plain.len() - n]).expect("message protobuf")
    }

    /// Fetches the bundle of `device_jid` over the `encrypt` iq and starts a session.
    pub async fn ensure_session(&mut self, link: &mut Link, key: &str, device_jid: Jid) {
        if self
            .sessions
            .get(key)
            .is_some_and(SessionRecord::has_current_session)
        {
            return;
        }
        let resp = link
            .iq(Node::new("iq")
                .attr("xmlns", "encrypt")
                .attr("type", "get")
                .child(
                    Node::new("key").child(
                        Node::new("user")
                            .attr("jid", device_jid)
                            .attr("reason", "identity"),
                    ),
                ))
            .await;
        let user = resp
            .get_child_by_path(&["list", "user"])
            .expect("user bundle");
        assert!(user.get_child("error").is_none(), "bundle error: {user:?}");
        let b = |path: &[&str]| {
            user.get_child_by_path(path)
                .and_then(Node::bytes_content)
                .unwrap()
                .to_vec()
        };
        let be_u32 = |v: Vec<u8>| v.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x));
        let key32 = |v: Vec<u8>| PublicKey::from_djb(v.try_into().unwrap());
        let pre_key = user
            .get_child("key")
            .map(|_| (be_u32(b(&["key", "id"])), key32(b(&["key", "value"]))));
        let bundle = PreKeyBundle {
            registration_id: be_u32(b(&["registration"])),
            identity_key: key32(b(&["identity"])),
            signed_pre_key_id: be_u32(b(&["skey", "id"])),
            signed_pre_key: key32(b(&["skey", "value"])),
            signed_pre_key_signature: b(&["skey", "signature"]).try_into().unwrap(),
            pre_key,
        };
        let mut record = SessionRecord::new();
        wa_signal::process_bundle(
            &mut record,
            &IdentityKeyPair(self.identity.clone()),
            self.registration_id,
            &bundle,
            &mut OsRng,
        )
        .expect("bundle verifies");
        self.sessions.insert(key.to_owned(), record);
    }

    /// Encrypts `msg` (padded) for the session `key`.
    pub fn encrypt(&mut self, key: &str, msg: &proto::Message) -> Node {
        let mut plain = msg.encode_to_vec();
        plain.extend([3u8, 3, 3]);
        let record = self.sessions.get_mut(key).expect("session");
        let ct = wa_signal::encrypt(record, &plain).unwrap();
        Node::new("enc")
            .attr("v", "2")
            .attr("type", ct.kind.as_str())
            .bytes(ct.bytes)
    }

    /// Sends `msg` to `to_phone`: usync its devices and ours, encrypt for each, one stanza.
    /// Returns the server's `<ack>`.
    pub async fn send_message(
        &mut self,
        link: &mut Link,
        to_phone: &str,
        msg: &proto::Message,
        id: &str,
    ) -> Node {
        let me = self.phone.clone().unwrap();
        let resp = link
            .iq(Node::new("iq")
                .attr("xmlns", "usync")
                .attr("type", "get")
                .child(
                    Node::new("usync")
                        .attr("sid", "s1")
                        .attr("mode", "query")
                        .attr("last", "true")
                        .attr("index", "0")
                        .attr("context", "message")
                        .children([
                            Node::new("query").child(Node::new("devices").attr("version", "2")),
                            Node::new("list").children([
                                Node::new("user").attr("jid", Jid::pn(to_phone.to_owned())),
                                Node::new("user").attr("jid", Jid::pn(me.clone())),
                            ]),
                        ]),
                ))
            .await;
        let mut devices: Vec<(String, u32)> = Vec::new();
        for u in resp
            .get_child_by_path(&["usync", "list"])
            .unwrap()
            .children_by_tag("user")
        {
            let user = u.attr_jid("jid").unwrap().user;
            for d in u
                .get_child_by_path(&["devices", "device-list"])
                .unwrap()
                .children_by_tag("device")
            {
                let id: u32 = d.attr_str("id").unwrap().parse().unwrap();
                if !(user == me && id == self.device) {
                    devices.push((user.clone(), id));
                }
            }
        }
        let dsm = proto::Message {
            device_sent_message: Some(Box::new(proto::DeviceSentMessage {
                destination_jid: Some(format!("{to_phone}@s.whatsapp.net")),
                message: Some(Box::new(msg.clone())),
                phash: None,
            })),
            ..Default::default()
        };
        let mut tos = Vec::new();
        let mut any_pkmsg = false;
        for (user, dev) in devices {
            let key = format!("{user}:{dev}");
            let jid = Jid::pn(user.clone()).with_device(dev as u16);
            self.ensure_session(link, &key, jid.clone()).await;
            let enc = self.encrypt(&key, if user == me { &dsm } else { msg });
            any_pkmsg |= enc.attr_str("type") == Some("pkmsg");
            tos.push(Node::new("to").attr("jid", jid).child(enc));
        }
        let mut stanza = Node::new("message")
            .attr("to", Jid::pn(to_phone.to_owned()))
            .attr("id", id.to_owned())
            .attr(
                "type",
                if msg.image_message.is_some() {
                    "media"
                } else {
                    "text"
                },
            )
            .child(Node::new("participants").children(tos));
        if any_pkmsg {
            stanza.push_child(Node::new("device-identity").bytes(self.account.clone().unwrap()));
        }
        link.send(&stanza).await;
        link.recv_until("message ack", |n| {
            n.tag == "ack" && n.attr_str("id") == Some(id)
        })
        .await
    }
}

/// Companion side of pairing with a phone number (independent of the emulator's code).
pub mod link_code {
    use aes::cipher::{BlockEncrypt, KeyInit};
    use aes_gcm::aead::Aead;
    use hmac::Mac;
    use rand::RngCore;
    use rand::rngs::OsRng;

    pub fn pbkdf2(password: &[u8], salt: &[u8]) -> [u8; 32] {
        let prf = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(password).unwrap();
        let mut m = prf.clone();
        m.update(salt);
        m.update(&[0, 0, 0, 1]);
        let mut u: [u8; 32] = m.finalize().into_bytes().into();
        let mut t = u;
        for _ in 1..(2u32 << 16) {
            let mut m = prf.clone();
            m.update(&u);
            u = m.finalize().into_bytes().into();
            t.iter_mut().zip(u).for_each(|(a, b)| *a ^= b);
        }
        t
    }

    pub fn ctr(key: &[u8; 32], iv: &[u8], data: &[u8]) -> Vec<u8> {
        let c = aes::Aes256::new(key.into());
        let mut n = u128::from_be_bytes(iv.try_into().unwrap());
        let mut out = Vec::new();
        for chunk in data.chunks(16) {
            let mut b = aes::Block::from(n.to_be_bytes());
            c.encrypt_block(&mut b);
            out.extend(chunk.iter().zip(b).map(|(x, k)| x ^ k));
            n = n.wrapping_add(1);
        }
        out
    }

    pub fn wrap(code: &str, public: &[u8; 32]) -> Vec<u8> {
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        let key = pbkdf2(code.as_bytes(), &salt);
        [salt.to_vec(), iv.to_vec(), ctr(&key, &iv, public)].concat()
    }

    pub fn unwrap(code: &str, wrapped: &[u8]) -> [u8; 32] {
        let key = pbkdf2(code.as_bytes(), &wrapped[..32]);
        ctr(&key, &wrapped[32..48], &wrapped[48..80])
            .try_into()
            .unwrap()
    }

    pub fn hkdf(ikm: &[u8], salt: Option<&[u8]>, info: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm)
            .expand(info, &mut out)
            .unwrap();
        out
    }

    pub fn seal_bundle(eph_shared: &[u8; 32], plain: &[u8]) -> Vec<u8> {
        let mut salt = [0u8; 32];
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut nonce);
        let key = hkdf(
            eph_shared,
            Some(&salt),
            b"link_code_pairing_key_bundle_encryption_key",
        );
        let ct = aes_gcm::Aes256Gcm::new((&key).into())
            .encrypt(aes_gcm::Nonce::from_slice(&nonce), plain)
            .unwrap();
        [salt.to_vec(), nonce.to_vec(), ct].concat()
    }
}

impl Companion {
    /// Pairs with the phone number `phone`: companion_hello, the phone enters `code` (through
    /// `enter`), companion_finish with the key bundle, then the usual pair-success / 515.
    pub async fn pair_with_code<F, Fut>(
        &mut self,
        phone: &str,
        code: &str,
        enter: F,
    ) -> (Jid, Fut::Output)
    where
        F: FnOnce() -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let (mut link, _qr, _) = self.start_registration().await;
        let eph = KeyPair::generate(&mut OsRng);
        let hello = link
            .iq(Node::new("iq")
                .attr("xmlns", "md")
                .attr("type", "set")
                .child(
                    Node::new("link_code_companion_reg")
                        .attr("jid", Jid::pn(phone.to_owned()))
                        .attr("stage", "companion_hello")
                        .attr("should_show_push_notification", "true")
                        .children([
                            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                                .bytes(link_code::wrap(code, eph.public.as_djb())),
                            Node::new("companion_server_auth_key_pub")
                                .bytes(self.noise.public.as_djb().to_vec()),
                            Node::new("companion_platform_id").text("1"),
                            Node::new("companion_platform_display").text("Chrome (Linux)"),
                            Node::new("link_code_pairing_nonce").bytes(vec![0u8]),
                        ]),
                ))
            .await;
        let reference = hello
            .get_child_by_path(&["link_code_companion_reg", "link_code_pairing_ref"])
            .and_then(Node::bytes_content)
            .expect("pairing ref")
            .to_vec();
        let entered = tokio::spawn(enter());
        let n = link
            .recv_until("link code notification", |n| {
                n.tag == "notification" && n.attr_str("type") == Some("link_code_companion_reg")
            })
            .await;
        link.send(
            &Node::new("ack")
                .attr("class", "notification")
                .attr("id", n.attr_str("id").unwrap().to_owned())
                .attr("to", Jid::server())
                .attr("type", "link_code_companion_reg"),
        )
        .await;
        let reg = n.get_child("link_code_companion_reg").unwrap();
        assert_eq!(
            reg.get_child("link_code_pairing_ref")
                .and_then(Node::bytes_content),
            Some(reference.as_slice())
        );
        let wrapped_primary = reg
            .get_child("link_code_pairing_wrapped_primary_ephemeral_pub")
            .and_then(Node::bytes_content)
            .unwrap();
        let primary_identity: [u8; 32] = reg
            .get_child("primary_identity_pub")
            .and_then(Node::bytes_content)
            .unwrap()
            .try_into()
            .unwrap();
        let primary_eph = PublicKey::from_djb(link_code::unwrap(code, wrapped_primary));
        let eph_shared = eph.private.calculate_agreement(&primary_eph);
        let adv_rand: [u8; 32] = OsRng.r#gen();
        let plain = [
            self.identity.public.as_djb().as_slice(),
            primary_identity.as_slice(),
            adv_rand.as_slice(),
        ]
        .concat();
        let bundle = link_code::seal_bundle(&eph_shared, &plain);
        let id_shared = self
            .identity
            .private
            .calculate_agreement(&PublicKey::from_djb(primary_identity));
        self.adv_secret = link_code::hkdf(
            &[
                eph_shared.as_slice(),
                id_shared.as_slice(),
                adv_rand.as_slice(),
            ]
            .concat(),
            None,
            b"adv_secret",
        );
        let fin = link
            .iq(Node::new("iq")
                .attr("xmlns", "md")
                .attr("type", "set")
                .child(
                    Node::new("link_code_companion_reg")
                        .attr("jid", Jid::pn(phone.to_owned()))
                        .attr("stage", "companion_finish")
                        .children([
                            Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
                            Node::new("companion_identity_public")
                                .bytes(self.identity.public.as_djb().to_vec()),
                            Node::new("link_code_pairing_ref").bytes(reference),
                        ]),
                ))
            .await;
        assert_eq!(fin.attr_str("type"), Some("result"));
        let jid = self.complete_pairing(&mut link).await;
        (jid, entered.await.unwrap())
    }
}

/// A minimal Noise symmetric state for the IK / XXfallback client in tests.
pub mod noise_sym {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::{Aes256Gcm, KeyInit};
    use sha2::{Digest, Sha256};

    pub struct Symmetric {
        h: [u8; 32],
        ck: [u8; 32],
        k: [u8; 32],
        n: u32,
    }

    fn iv(n: u32) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[8..].copy_from_slice(&n.to_be_bytes());
        iv
    }

    impl Symmetric {
        pub fn new(name: &[u8], prologue: &[u8]) -> Symmetric {
            let h: [u8; 32] = if name.len() == 32 {
                name.try_into().unwrap()
            } else {
                Sha256::digest(name).into()
            };
            let mut s = Symmetric {
                h,
                ck: h,
                k: [0; 32],
                n: 0,
            };
            s.mix_hash(prologue);
            s
        }
        pub fn mix_hash(&mut self, data: &[u8]) {
            self.h = Sha256::new()
                .chain_update(self.h)
                .chain_update(data)
                .finalize()
                .into();
        }
        pub fn mix_key(&mut self, ikm: &[u8]) {
            let mut out = [0u8; 64];
            hkdf::Hkdf::<Sha256>::new(Some(&self.ck), ikm)
                .expand(&[], &mut out)
                .unwrap();
            self.ck.copy_from_slice(&out[..32]);
            self.k.copy_from_slice(&out[32..]);
            self.n = 0;
        }
        pub fn encrypt_and_hash(&mut self, pt: &[u8]) -> Vec<u8> {
            let ct = Aes256Gcm::new((&self.k).into())
                .encrypt(
                    (&iv(self.n)).into(),
                    Payload {
                        msg: pt,
                        aad: &self.h,
                    },
                )
                .unwrap();
            self.n += 1;
            self.mix_hash(&ct);
            ct
        }
        pub fn decrypt_and_hash(&mut self, ct: &[u8]) -> Vec<u8> {
            let pt = Aes256Gcm::new((&self.k).into())
                .decrypt(
                    (&iv(self.n)).into(),
                    Payload {
                        msg: ct,
                        aad: &self.h,
                    },
                )
                .expect("handshake decrypt");
            self.n += 1;
            self.mix_hash(ct);
            pt
        }
        pub fn split(&self) -> ([u8; 32], [u8; 32]) {
            let mut out = [0u8; 64];
            hkdf::Hkdf::<Sha256>::new(Some(&self.ck), &[])
                .expand(&[], &mut out)
                .unwrap();
            (out[..32].try_into().unwrap(), out[32..].try_into().unwrap())
        }
    }
}
