//! The driver against a scripted server built from wa-proto pieces (the real wire protocol over
//! an in-memory transport): pairing, 515 restart, login, prekeys, keepalive, stream errors.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use wa_client::transport::{MemoryConn, MemoryListener, memory_network};
use wa_client::{Client, ClientConfig, Event, Events, Status, Timeouts};
use wa_proto::binary::{Jid, Node, Server};
use wa_proto::cert::CertChainBuilder;
use wa_proto::frame::{FrameDecoder, FrameEncoder};
use wa_proto::noise::{NoiseTransport, ServerHandshake};
use wa_proto::pairing::{DeviceIdentityDetails, QrCode, build_pair_success};
use wa_proto::proto::ClientPayload;
use wa_signal::KeyPair;

const T: Duration = Duration::from_secs(10);

struct ServerKeys {
    root: KeyPair,
    intermediate: KeyPair,
    static_key: KeyPair,
}

impl ServerKeys {
    fn new() -> Self {
        let mut rng = rand::thread_rng();
        ServerKeys {
            root: KeyPair::generate(&mut rng),
            intermediate: KeyPair::generate(&mut rng),
            static_key: KeyPair::generate(&mut rng),
        }
    }
}

struct SConn {
    conn: MemoryConn,
    dec: FrameDecoder,
    enc: FrameEncoder,
    noise: NoiseTransport,
    payload: ClientPayload,
    client_static: [u8; 32],
    routing_info: Option<Vec<u8>>,
}

async fn next_frame(conn: &mut MemoryConn, dec: &mut FrameDecoder) -> Vec<u8> {
    loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return f;
        }
        let bytes = tokio::time::timeout(T, conn.recv())
            .await
            .expect("client silent")
            .expect("client gone");
        dec.push(&bytes);
    }
}

async fn accept(listener: &mut MemoryListener, keys: &ServerKeys) -> SConn {
    let mut conn = tokio::time::timeout(T, listener.accept())
        .await
        .expect("no connection")
        .unwrap();
    let mut rng = rand::thread_rng();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let chain = CertChainBuilder::new(now - 60, now + 3600).mint(
        &keys.root.private,
        &keys.intermediate,
        &keys.static_key.public,
        &mut rng,
    );
    let mut dec = FrameDecoder::server();
    let mut enc = FrameEncoder::server();
    let hello = next_frame(&mut conn, &mut dec).await;
    let hs = ServerHandshake::new(keys.static_key.clone(), chain)
        .read_client_hello(&hello, &mut rng)
        .unwrap();
    conn.send(enc.encode(hs.server_hello()).unwrap()).unwrap();
    let finish = next_frame(&mut conn, &mut dec).await;
    let done = hs.read_client_finish(&finish).unwrap();
    assert_eq!(dec.intro().unwrap().dict_version, 3);
    let routing_info = dec.intro().and_then(|i| i.routing_info.clone());
    SConn {
        conn,
        dec,
        enc,
        noise: done.transport,
        payload: ClientPayload::decode(done.client_payload.as_slice()).unwrap(),
        client_static: *done.client_static.as_djb(),
        routing_info,
    }
}

impl SConn {
    fn send(&mut self, node: &Node) {
        let ct = self
            .noise
            .encrypt(&wa_proto::binary::marshal(node))
            .unwrap();
        self.conn.send(self.enc.encode(&ct).unwrap()).unwrap();
    }

    async fn recv(&mut self) -> Node {
        let f = next_frame(&mut self.conn, &mut self.dec).await;
        wa_proto::binary::unmarshal(&self.noise.decrypt(&f).unwrap()).unwrap()
    }

    /// Receive until `pred` matches, answering keepalive pings on the way.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Node) -> bool) -> Node {
        loop {
            let n = self.recv().await;
            if pred(&n) {
                return n;
            }
            if n.attr_str("xmlns") == Some("w:p") {
                let id = n.attr_str("id").unwrap().to_owned();
                self.send(&result(&id));
                continue;
            }
            if n.tag == "ib" {
                continue;
            }
            panic!("while waiting for {what}: unexpected {n}");
        }
    }

    /// The post-login sequence: prekey count -> upload -> active -> connected.
    async fn serve_login(&mut self, server_count: u64) -> Option<usize> {
        self.send(
            &Node::new("success")
                .attr("t", "1800000000")
                .attr("lid", Jid::lid("99887766").with_device(7))
                .attr("props", "27"),
        );
        let count = self
            .expect("count", |n| n.get_child("count").is_some())
            .await;
        assert_eq!(count.attr_str("xmlns"), Some("encrypt"));
        let id = count.attr_str("id").unwrap().to_owned();
        self.send(&result(&id).child(Node::new("count").attr("value", server_count)));
        let mut uploaded = None;
        let mut next = self
            .expect("upload or active", |n| {
                n.get_child("list").is_some() || n.get_child("active").is_some()
            })
            .await;
        // The upload may come in several `iq`s (the client batches large uploads).
        while let Some(list) = next.get_child("list") {
            let n = list.get_children().len();
            assert!((1..=100).contains(&n), "upload batch of {n} keys");
            uploaded = Some(uploaded.unwrap_or(0) + n);
            assert_eq!(
                next.get_child("type").unwrap().bytes_content(),
                Some(&[5u8][..])
            );
            assert_eq!(
                next.get_child("identity")
                    .unwrap()
                    .bytes_content()
                    .unwrap()
                    .len(),
                32
            );
            let skey = next.get_child("skey").unwrap();
            assert_eq!(
                skey.get_child("signature")
                    .unwrap()
                    .bytes_content()
                    .unwrap()
                    .len(),
                64
            );
            let k0 = &list.get_children()[0];
            assert_eq!(
                k0.get_child("id").unwrap().bytes_content().unwrap().len(),
                3
            );
            let id = next.attr_str("id").unwrap().to_owned();
            self.send(&result(&id));
            next = self
                .expect("upload or active", |n| {
                    n.get_child("list").is_some() || n.get_child("active").is_some()
                })
                .await;
        }
        assert_eq!(next.attr_str("xmlns"), Some("passive"));
        let id = next.attr_str("id").unwrap().to_owned();
        self.send(&result(&id));
        uploaded
    }
}

fn result(id: &str) -> Node {
    Node::new("iq")
        .attr("from", Jid::server())
        .attr("type", "result")
        .attr("id", id.to_owned())
}

fn config(
    keys: &ServerKeys,
    dialer: wa_client::transport::MemoryDialer,
    timeouts: Timeouts,
) -> ClientConfig {
    ClientConfig::builder()
        .root_public_key(*keys.root.public.as_djb())
        .memory_transport(dialer)
        .timeouts(timeouts)
        .device_name("scripted")
        .build()
        .unwrap()
}

fn fast_timeouts() -> Timeouts {
    Timeouts {
        reconnect_initial: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(100),
        keepalive_min: Duration::from_secs(30),
        keepalive_max: Duration::from_secs(31),
        ..Timeouts::default()
    }
}

async fn next_event(events: &mut Events) -> Event {
    tokio::time::timeout(T, events.recv())
        .await
        .expect("no event")
        .expect("events closed")
}

async fn wait_status(client: &Client, want: Status) {
    let mut w = client.watch_status();
    tokio::time::timeout(T, w.wait_for(|s| *s == want))
        .await
        .expect("status not reached")
        .unwrap();
}

/// Pair through the scripted server; returns the logged-in connection.
async fn pair(
    listener: &mut MemoryListener,
    keys: &ServerKeys,
    client: &Client,
    events: &mut Events,
) -> SConn {
    let c2 = client.clone();
    let connecting = tokio::spawn(async move { c2.connect().await });
    let mut s = accept(listener, keys).await;
    let reg = s
        .payload
        .device_pairing_data
        .clone()
        .expect("registration payload");
    assert!(s.payload.username.is_none());
    assert_eq!(reg.e_keytype.as_deref(), Some(&[5u8][..]));
    s.send(
        &Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "set")
            .attr("id", "pd1")
            .attr("xmlns", "md")
            .child(
                Node::new("pair-device")
                    .child(Node::new("ref").bytes(b"REF-ONE".to_vec()))
                    .child(Node::new("ref").bytes(b"REF-TWO".to_vec())),
            ),
    );
    let ack = s
        .expect("pair-device ack", |n| n.attr_str("id") == Some("pd1"))
        .await;
    assert_eq!(ack.attr_str("type"), Some("result"));
    connecting.await.unwrap().unwrap();
    assert_eq!(client.status(), Status::WaitingForQr);
    let Event::Qr { code, .. } = next_event(events).await else {
        panic!("expected Qr")
    };
    assert!(
        code.starts_with(wa_proto::pairing::QR_DEEP_LINK_PREFIX),
        "{code}"
    );
    let qr = QrCode::parse(&code).unwrap();
    assert_eq!(qr.reference, "REF-ONE");
    assert_eq!(qr.client_type.map(|t| t.as_char()), Some('1'), "Chrome");
    assert_eq!(qr.noise_public, s.client_static);
    assert_eq!(qr.identity_public.to_vec(), reg.e_ident.clone().unwrap());
    assert_eq!(client.qr().unwrap().0, code);

    // The phone scans: pair-success signed by the account key, HMAC'd with the QR's secret.
    let account = KeyPair::generate(&mut rand::thread_rng());
    let details = DeviceIdentityDetails {
        raw_id: 1234,
        timestamp: 1_800_000_000,
        key_index: 3,
        hosted: false,
    };
    let companion = wa_signal::PublicKey::from_djb(qr.identity_public);
    let built = build_pair_success(
        &details,
        &account,
        &companion,
        &qr.adv_secret,
        &mut rand::thread_rng(),
    );
    s.send(
        &Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "set")
            .attr("id", "ps1")
            .child(
                Node::new("pair-success")
                    .child(Node::new("device-identity").bytes(built.device_identity.clone()))
                    .child(Node::new("platform").attr("name", "android"))
                    .child(
                        Node::new("device")
                            .attr("jid", Jid::pn("15550001111").with_device(7))
                            .attr("lid", Jid::lid("99887766").with_device(7)),
                    ),
            ),
    );
    let sign = s
        .expect("pair-device-sign", |n| n.attr_str("id") == Some("ps1"))
        .await;
    assert_eq!(sign.attr_str("type"), Some("result"));
    let di = sign
        .get_child_by_path(&["pair-device-sign", "device-identity"])
        .unwrap();
    assert_eq!(di.attr_u64("key-index"), Some(3));
    built
        .verify_reply(di.bytes_content().unwrap())
        .expect("device signature verifies");
    let Event::Paired { jid } = next_event(events).await else {
        panic!("expected Paired")
    };
    assert_eq!(jid.to_string(), "15550001111:7@s.whatsapp.net");

    // 515: restart required; the client comes back with a login payload.
    s.send(&Node::new("stream:error").attr("code", "515"));
    drop(s);
    let mut s = accept(listener, keys).await;
    assert_eq!(s.payload.username, Some(15550001111));
    assert_eq!(s.payload.device, Some(7));
    assert_eq!(s.payload.passive, Some(true));
    assert!(s.payload.device_pairing_data.is_none());
    let uploaded = s.serve_login(0).await;
    assert_eq!(uploaded, Some(812));
    loop {
        match next_event(events).await {
            Event::Connected => break,
            Event::Disconnected { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(client.status(), Status::Connected);
    let me = client.me().unwrap();
    assert_eq!(me.lid.unwrap().server, Server::Lid);
    s
}

#[tokio::test]
async fn pair_login_reconnect_and_unlink() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let store: Arc<dyn wa_client::store::Store> = Arc::new(wa_client::store::MemoryStore::new());
    let (client, mut events) = Client::new(
        config(&keys, dialer.clone(), fast_timeouts()),
        store.clone(),
    );
    let mut s = pair(&mut listener, &keys, &client, &mut events).await;

    // The server asks for prekeys when its pool runs low; the client tops up, then acks.
    s.send(
        &Node::new("notification")
            .attr("from", Jid::server())
            .attr("type", "encrypt")
            .attr("id", "n1")
            .child(Node::new("count").attr("value", "3")),
    );
    let up = s.expect("top-up", |n| n.get_child("list").is_some()).await;
    assert_eq!(up.get_child("list").unwrap().get_children().len(), 50);
    let id = up.attr_str("id").unwrap().to_owned();
    s.send(&result(&id));
    let ack = s.expect("notification ack", |n| n.tag == "ack").await;
    assert_eq!(ack.attr_str("class"), Some("notification"));
    assert_eq!(ack.attr_str("id"), Some("n1"));
    assert_eq!(ack.attr_str("type"), Some("encrypt"));

    // Server ping gets a pong.
    s.send(
        &Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "get")
            .attr("xmlns", "urn:xmpp:ping")
            .attr("id", "sp1"),
    );
    let pong = s.expect("pong", |n| n.attr_str("id") == Some("sp1")).await;
    assert_eq!(pong.attr_str("type"), Some("result"));

    // Network loss: the client reconnects by itself and logs in again without a QR.
    drop(s);
    let Event::Disconnected { .. } = next_event(&mut events).await else {
        panic!("expected Disconnected")
    };
    let mut s = accept(&mut listener, &keys).await;
    assert_eq!(s.payload.username, Some(15550001111));
    assert_eq!(
        s.serve_login(40).await,
        None,
        "no upload when the server has enough"
    );
    let Event::Connected = next_event(&mut events).await else {
        panic!("expected Connected")
    };

    // A second client over the same store (a process restart) logs in without a QR.
    client.disconnect().await;
    assert_eq!(client.status(), Status::Disconnected);
    drop(s);
    let (client2, mut events2) = Client::new(
        config(&keys, dialer.clone(), fast_timeouts()),
        store.clone(),
    );
    assert_eq!(
        client2.me().unwrap().jid.to_string(),
        "15550001111:7@s.whatsapp.net"
    );
    let c2 = client2.clone();
    let connecting = tokio::spawn(async move { c2.connect().await });
    let mut s = accept(&mut listener, &keys).await;
    assert_eq!(s.payload.device, Some(7));
    s.serve_login(40).await;
    connecting.await.unwrap().unwrap();
    let Event::Connected = next_event(&mut events2).await else {
        panic!("expected Connected")
    };

    // The phone unlinks us: logged out, store wiped, no reconnect.
    s.send(
        &Node::new("stream:error")
            .attr("code", "401")
            .child(Node::new("conflict").attr("type", "device_removed")),
    );
    let Event::LoggedOut { reason } = next_event(&mut events2).await else {
        panic!("expected LoggedOut")
    };
    assert!(reason.contains("removed"));
    wait_status(&client2, Status::LoggedOut).await;
    assert!(client2.me().is_none());
    let (fresh, _e) = Client::new(config(&keys, dialer, fast_timeouts()), store.clone());
    assert!(fresh.me().is_none(), "store wiped");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), listener.accept())
            .await
            .is_err(),
        "no reconnect"
    );
}

#[tokio::test]
async fn keepalive_timeout_forces_reconnect() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let t = Timeouts {
        keepalive_min: Duration::from_millis(50),
        keepalive_max: Duration::from_millis(60),
        keepalive_response: Duration::from_millis(100),
        ..fast_timeouts()
    };
    let (client, mut events) = Client::new(
        config(&keys, dialer, t),
        Arc::new(wa_client::store::MemoryStore::new()),
    );
    let mut s = pair(&mut listener, &keys, &client, &mut events).await;
    // Swallow pings without answering.
    let ping = loop {
        let n = s.recv().await;
        if n.tag != "ib" {
            break n;
        }
    };
    assert_eq!(ping.attr_str("xmlns"), Some("w:p"));
    assert_eq!(ping.attr_str("type"), Some("get"));
    let Event::Disconnected { reason } = next_event(&mut events).await else {
        panic!("expected Disconnected")
    };
    assert!(reason.contains("keepalive"), "{reason}");
    let s2 = accept(&mut listener, &keys).await;
    assert_eq!(s2.payload.username, Some(15550001111));
    drop(s);
    drop(s2);
    client.disconnect().await;
}

#[tokio::test]
async fn replaced_stops_without_wiping() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let store: Arc<dyn wa_client::store::Store> = Arc::new(wa_client::store::MemoryStore::new());
    let (client, mut events) = Client::new(config(&keys, dialer, fast_timeouts()), store.clone());
    let mut s = pair(&mut listener, &keys, &client, &mut events).await;
    s.send(
        &Node::new("stream:error")
            .attr("code", "440")
            .child(Node::new("conflict").attr("type", "replaced")),
    );
    let Event::Disconnected { reason } = next_event(&mut events).await else {
        panic!("expected Disconnected")
    };
    assert!(reason.contains("replaced"), "{reason}");
    wait_status(&client, Status::Disconnected).await;
    assert!(client.me().is_some(), "login kept");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), listener.accept())
            .await
            .is_err(),
        "no reconnect"
    );
}

#[tokio::test]
async fn qr_codes_rotate_then_run_out() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let t = Timeouts {
        qr_first: Duration::from_millis(150),
        qr_next: Duration::from_millis(80),
        ..fast_timeouts()
    };
    let (client, mut events) = Client::new(
        config(&keys, dialer, t),
        Arc::new(wa_client::store::MemoryStore::new()),
    );
    let c2 = client.clone();
    let connecting = tokio::spawn(async move { c2.connect().await });
    let mut s = accept(&mut listener, &keys).await;
    s.send(
        &Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "set")
            .attr("id", "pd")
            .child(
                Node::new("pair-device")
                    .child(Node::new("ref").bytes(b"R1".to_vec()))
                    .child(Node::new("ref").bytes(b"R2".to_vec()))
                    .child(Node::new("ref").bytes(b"R3".to_vec())),
            ),
    );
    connecting.await.unwrap().unwrap();
    let mut refs = Vec::new();
    let mut expiries = Vec::new();
    loop {
        match next_event(&mut events).await {
            Event::Qr { code, expires_at } => {
                refs.push(QrCode::parse(&code).unwrap().reference);
                expiries.push(expires_at);
            }
            Event::QrExhausted => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refs, ["R1", "R2", "R3"]);
    assert!(expiries.windows(2).all(|w| w[0] <= w[1]));
    wait_status(&client, Status::Disconnected).await;
    assert!(client.qr().is_none());
}

#[tokio::test]
async fn stream_error_503_retries_and_failure_401_logs_out() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let store: Arc<dyn wa_client::store::Store> = Arc::new(wa_client::store::MemoryStore::new());
    let (client, mut events) = Client::new(config(&keys, dialer, fast_timeouts()), store.clone());
    let mut s = pair(&mut listener, &keys, &client, &mut events).await;

    // 503: transient; the client backs off and logs in again.
    s.send(&Node::new("stream:error").attr("code", "503"));
    drop(s);
    let Event::Disconnected { reason } = next_event(&mut events).await else {
        panic!("expected Disconnected")
    };
    assert!(reason.contains("503"), "{reason}");
    let mut s = accept(&mut listener, &keys).await;
    assert_eq!(s.payload.device, Some(7));

    // The server refuses the login: <failure reason="401"/> -> logged out and wiped.
    s.send(&Node::new("failure").attr("reason", "401"));
    let Event::LoggedOut { reason } = next_event(&mut events).await else {
        panic!("expected LoggedOut")
    };
    assert!(reason.contains("401"), "{reason}");
    wait_status(&client, Status::LoggedOut).await;
    assert!(store.load_device().unwrap().is_none(), "store wiped");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), listener.accept())
            .await
            .is_err(),
        "no reconnect"
    );
}

#[tokio::test]
async fn edge_routing_info_is_sent_back_in_the_pre_intro() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let (client, mut events) = Client::new(
        config(&keys, dialer, fast_timeouts()),
        Arc::new(wa_client::store::MemoryStore::new()),
    );
    let mut s = pair(&mut listener, &keys, &client, &mut events).await;
    assert_eq!(s.routing_info, None);
    s.send(&Node::new("ib").child(
        Node::new("edge_routing").child(Node::new("routing_info").bytes(b"\x08\x02edge".to_vec())),
    ));
    // A round trip (server ping) makes sure the ib was processed before the drop.
    s.send(
        &Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "get")
            .attr("xmlns", "urn:xmpp:ping")
            .attr("id", "sp"),
    );
    s.expect("pong", |n| n.attr_str("id") == Some("sp")).await;
    drop(s);
    let s = accept(&mut listener, &keys).await;
    assert_eq!(s.routing_info.as_deref(), Some(&b"\x08\x02edge"[..]));
    assert_eq!(s.payload.device, Some(7));
    drop(s);
    client.disconnect().await;
}

#[tokio::test]
async fn disconnect_interrupts_a_stuck_handshake() {
    let keys = ServerKeys::new();
    let (dialer, mut listener) = memory_network();
    let (client, _events) = Client::new(
        config(&keys, dialer, fast_timeouts()),
        Arc::new(wa_client::store::MemoryStore::new()),
    );
    let c2 = client.clone();
    let connecting = tokio::spawn(async move { c2.connect().await });
    // The server accepts and then says nothing (handshake timeout is 20 s).
    let _silent = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(client.status(), Status::Connecting);
    tokio::time::timeout(Duration::from_secs(2), client.disconnect())
        .await
        .expect("disconnect returns promptly");
    assert_eq!(client.status(), Status::Disconnected);
    assert!(connecting.await.unwrap().is_err());
}
