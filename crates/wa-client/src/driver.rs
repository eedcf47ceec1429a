//! The driver task: one per client, owns the connection, the timers and the connection state.
//!
//! ```text
//! loop {                                   // one iteration per connection
//!     load or create credentials (store)
//!     open transport, Noise handshake with a registration or login ClientPayload
//!     loop { select! { socket frame | command | keepalive timer | QR timer } }
//!     decide: restart now (515) | back off and retry | stop (logged out, replaced, ...)
//! }
//! ```
//!
//! Inbound stanzas the driver does not handle itself (`message`, `receipt`, `notification`,
//! `call`) go, in order, to a per-connection processor task ([`crate::handlers`]) that holds a
//! [`Client`] handle, so it can send IQs and acks without blocking the socket.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use rand_core::RngCore;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use wa_proto::binary::{Jid, Node};

use crate::backoff::Backoff;
use crate::client::Client;
use crate::config::ClientConfig;
use crate::creds::{self, Creds};
use crate::error::ClientError;
use crate::events::{Event, Me, Status};
use crate::socket::{Incoming, NoiseSocket};
use crate::transport::{self, TransportError};

/// Store key (kv area) of the last `<ib><edge_routing><routing_info>`.
const EDGE_ROUTING_KEY: &str = "edge_routing";

/// Commands from [`Client`] handles to the driver.
pub(crate) enum Command {
    /// Send a node.
    Send {
        node: Node,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Send a node and resolve with the first `iq`/`ack` carrying its id.
    Request {
        node: Node,
        reply: oneshot::Sender<Result<Node, ClientError>>,
    },
    /// Stop the driver.
    Stop { reply: oneshot::Sender<()> },
    /// The post-login sequence of connection `generation` finished.
    LoginDone {
        generation: u64,
        result: Result<(), ClientError>,
    },
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// `disconnect()`.
    Stop,
    /// Reconnect at once (stream error 515: after pairing, or on server demand).
    Restart,
    /// Network loss or a transient server error: back off and retry.
    Retry(String),
    /// Logged out: wipe and stop.
    LoggedOut(String),
    /// Stop without wiping (replaced, fatal failure).
    Halt(String),
    /// Every QR code expired.
    QrExhausted,
}

/// QR rotation state while pairing.
struct QrState {
    refs: Vec<String>,
    index: usize,
    deadline: Instant,
}

/// Per-connection state.
struct Conn {
    socket: NoiseSocket,
    creds: Creds,
    waiters: HashMap<String, oneshot::Sender<Result<Node, ClientError>>>,
    qr: Option<QrState>,
    logged_in: bool,
    next_ping: Option<Instant>,
    ping: Option<(String, Instant)>,
    /// Boxed nodes (104 bytes inline): the channel allocates 32 slots up front.
    inbound: mpsc::UnboundedSender<Box<Node>>,
}

pub(crate) struct Driver {
    client: Client,
    /// Boxed commands: the channel allocates its first block of 32 slots up front, per session.
    cmd_rx: mpsc::UnboundedReceiver<Box<Command>>,
    first: Option<oneshot::Sender<Result<(), ClientError>>>,
    backoff: Backoff,
    generation: u64,
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    pub(crate) fn new(
        client: Client,
        cmd_rx: mpsc::UnboundedReceiver<Box<Command>>,
        first: oneshot::Sender<Result<(), ClientError>>,
    ) -> Driver {
        let t = &client.inner.config.timeouts;
        let backoff = Backoff::new(t.reconnect_initial, t.reconnect_max);
        Driver {
            client,
            cmd_rx,
            first: Some(first),
            backoff,
            generation: 0,
        }
    }

    fn report_first(&mut self, r: Result<(), ClientError>) {
        if let Some(tx) = self.first.take() {
            let _ = tx.send(r);
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            self.client.set_status(Status::Connecting);
            self.generation += 1;
            let end = self.connection().await;
            tracing::debug!(?end, "connection ended");
            self.client.set_qr(None);
            match end {
                End::Restart => continue,
                End::Stop => {
                    self.cmd_rx.close();
                    self.client.set_status(Status::Disconnected);
                    self.report_first(Err(ClientError::Stopped("disconnected".into())));
                    break;
                }
                End::Retry(reason) => {
                    // Not logged in while backing off: no longer `Connected`.
                    self.client.set_status(Status::Connecting);
                    self.client.emit(Event::Disconnected {
                        reason: reason.clone(),
                    });
                    self.report_first(Err(ClientError::Stopped(reason)));
                    if !self.client.inner.config.auto_reconnect {
                        self.cmd_rx.close();
                        self.client.set_status(Status::Disconnected);
                        break;
                    }
                    let delay = self
                        .backoff
                        .next_delay(&mut self.client.inner.config.rng.clone());
                    tracing::info!(?delay, "reconnecting after backoff");
                    if !self.idle(delay).await {
                        self.cmd_rx.close();
                        self.client.set_status(Status::Disconnected);
                        break;
                    }
                }
                End::LoggedOut(reason) => {
                    self.cmd_rx.close();
                    if let Err(e) = creds::wipe(self.client.inner.store.as_ref()) {
                        tracing::error!("wiping the store failed: {e}");
                    }
                    self.client.set_me(None);
                    self.client.set_status(Status::LoggedOut);
                    self.client.emit(Event::LoggedOut {
                        reason: reason.clone(),
                    });
                    self.report_first(Err(ClientError::LoggedOut(reason)));
                    break;
                }
                End::Halt(reason) => {
                    self.cmd_rx.close();
                    self.client.set_status(Status::Disconnected);
                    self.client.emit(Event::Disconnected {
                        reason: reason.clone(),
                    });
                    self.report_first(Err(ClientError::Stopped(reason)));
                    break;
                }
                End::QrExhausted => {
                    self.cmd_rx.close();
                    self.client.set_status(Status::Disconnected);
                    self.client.emit(Event::QrExhausted);
                    self.report_first(Err(ClientError::Stopped("QR codes exhausted".into())));
                    break;
                }
            }
        }
        // Commands that raced with the end fail.
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            fail_command(*cmd);
        }
    }

    /// Wait out a backoff delay while answering commands. False when told to stop.
    async fn idle(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                cmd = self.cmd_rx.recv() => match cmd.map(|c| *c) {
                    None => return false,
                    Some(Command::Stop { reply }) => {
                        let _ = reply.send(());
                        return false;
                    }
                    Some(other) => fail_command(other),
                },
            }
        }
    }

    /// One connection, from dialing to its end.
    async fn connection(&mut self) -> End {
        let inner = self.client.inner.clone();
        let config = &inner.config;
        let mut creds = match creds::load_or_create(inner.store.as_ref(), config) {
            Ok(c) => c,
            Err(e) => return End::Halt(format!("store: {e}")),
        };
        // A push name given in the configuration wins over the stored one.
        if let Some(name) = config.push_name.as_deref() {
            if !name.is_empty() && creds.push_name != name {
                creds.push_name = name.to_owned();
                if let Err(e) = creds::save(inner.store.as_ref(), &creds) {
                    return End::Halt(format!("store: {e}"));
                }
            }
        }
        let payload = match &creds.jid {
            Some(jid) => {
                let Ok(user) = jid.user.parse::<u64>() else {
                    return End::LoggedOut(format!("stored JID {jid} is not a phone number"));
                };
                crate::payload::login_payload(config, user, u32::from(jid.device))
            }
            None => crate::payload::registration_payload(config, &creds.registration_keys()),
        };
        let routing = inner.store.get(EDGE_ROUTING_KEY).ok().flatten();
        let noise_key = creds.noise.clone();
        // Boxed and dropped once done: this task lives as long as the client, and an inline
        // dial + TLS + handshake future would keep its space in the driver's state for the
        // whole connection (thousands of idle sessions per process).
        let mut setup = Box::pin(async {
            let conn = match tokio::time::timeout(config.timeouts.connect, dial(config)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(End::Retry(e.to_string())),
                Err(_) => return Err(End::Retry("connect timeout".into())),
            };
            match NoiseSocket::handshake(conn, config, noise_key, &payload, routing).await {
                Ok(s) => Ok(s),
                Err(ClientError::Handshake(e)) => Err(End::Halt(format!("handshake: {e}"))),
                Err(e) => Err(End::Retry(format!("handshake: {e}"))),
            }
        });
        // Dialing and handshaking can take a while: stay responsive to `disconnect()`.
        let socket = loop {
            tokio::select! {
                r = &mut setup => match r {
                    Ok(s) => break s,
                    Err(end) => return end,
                },
                cmd = self.cmd_rx.recv() => match cmd.map(|c| *c) {
                    None => return End::Stop,
                    Some(Command::Stop { reply }) => {
                        let _ = reply.send(());
                        return End::Stop;
                    }
                    Some(other) => fail_command(other),
                },
            }
        };
        drop(setup);
        let (inbound, inbound_rx) = mpsc::unbounded_channel();
        let processor = tokio::spawn(crate::handlers::run_inbound(
            self.client.clone(),
            inbound_rx,
        ));
        let mut conn = Conn {
            socket,
            creds,
            waiters: HashMap::new(),
            qr: None,
            logged_in: false,
            next_ping: None,
            ping: None,
            inbound,
        };
        let end = self.serve(&mut conn).await;
        conn.socket.close().await;
        for (_, w) in conn.waiters.drain() {
            let _ = w.send(Err(ClientError::ConnectionLost));
        }
        // Let the processor finish what it has (its sends now fail fast) so that no handle
        // outlives the connection.
        let Conn { inbound, .. } = conn;
        drop(inbound);
        let _ = tokio::time::timeout(Duration::from_secs(5), processor).await;
        end
    }

    async fn serve(&mut self, conn: &mut Conn) -> End {
        loop {
            let qr_deadline = conn.qr.as_ref().map(|q| q.deadline);
            let ping_deadline = conn.ping.as_ref().map(|p| p.1);
            let r = tokio::select! {
                incoming = conn.socket.recv() => match incoming {
                    // Handlers are boxed so that the rarely used large ones (pairing) do not
                    // size the idle driver's state.
                    Ok(Incoming::Node(node)) => Box::pin(self.handle_node(conn, node)).await,
                    Ok(Incoming::Closed) => Some(End::Retry("connection closed by server".into())),
                    Err(e) => Some(End::Retry(e.to_string())),
                },
                cmd = self.cmd_rx.recv() => match cmd.map(|c| *c) {
                    None => Some(End::Stop),
                    Some(cmd) => Box::pin(self.handle_command(conn, cmd)).await,
                },
                _ = sleep_opt(qr_deadline) => self.rotate_qr(conn),
                _ = sleep_opt(conn.next_ping) => self.send_ping(conn).await,
                _ = sleep_opt(ping_deadline) => Some(End::Retry("keepalive timeout".into())),
            };
            if let Some(end) = r {
                return end;
            }
        }
    }

    async fn send(&self, conn: &mut Conn, node: &Node) -> Result<(), ClientError> {
        tracing::trace!(%node, "send");
        conn.socket.send_node(node).await
    }

    async fn handle_command(&mut self, conn: &mut Conn, cmd: Command) -> Option<End> {
        match cmd {
            Command::Send { node, reply } => {
                let r = self.send(conn, &node).await;
                let failed = r.is_err();
                let _ = reply.send(r);
                failed.then(|| End::Retry("send failed".into()))
            }
            Command::Request { node, reply } => {
                let id = node.attr_str("id").unwrap_or_default().to_owned();
                match self.send(conn, &node).await {
                    Ok(()) => {
                        conn.waiters.insert(id, reply);
                        None
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        Some(End::Retry("send failed".into()))
                    }
                }
            }
            Command::Stop { reply } => {
                let _ = reply.send(());
                Some(End::Stop)
            }
            Command::LoginDone { generation, result } => {
                if generation != self.generation {
                    return None;
                }
                match result {
                    Ok(()) => {
                        self.backoff.reset();
                        self.client.set_status(Status::Connected);
                        self.client.emit(Event::Connected);
                        self.report_first(Ok(()));
                        self.schedule_ping(conn);
                        None
                    }
                    Err(e) => Some(End::Retry(format!("post-login: {e}"))),
                }
            }
        }
    }

    fn schedule_ping(&self, conn: &mut Conn) {
        let t = &self.client.inner.config.timeouts;
        let span = t.keepalive_max.saturating_sub(t.keepalive_min).as_millis() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.client.inner.config.rng.clone().next_u64() % span
        };
        conn.next_ping = Some(Instant::now() + t.keepalive_min + Duration::from_millis(jitter));
    }

    async fn send_ping(&mut self, conn: &mut Conn) -> Option<End> {
        conn.next_ping = None;
        conn.waiters.retain(|_, w| !w.is_closed());
        let id = self.client.generate_request_id();
        let ping = Node::new("iq")
            .attr("id", id.clone())
            .attr("xmlns", "w:p")
            .attr("type", "get")
            .attr("to", Jid::server());
        if let Err(e) = self.send(conn, &ping).await {
            return Some(End::Retry(format!("keepalive send: {e}")));
        }
        conn.ping = Some((
            id,
            Instant::now() + self.client.inner.config.timeouts.keepalive_response,
        ));
        None
    }

    fn rotate_qr(&mut self, conn: &mut Conn) -> Option<End> {
        let qr = conn.qr.as_mut()?;
        qr.index += 1;
        if qr.index >= qr.refs.len() {
            conn.qr = None;
            return Some(End::QrExhausted);
        }
        let lifetime = self.client.inner.config.timeouts.qr_next;
        qr.deadline = Instant::now() + lifetime;
        let code = conn
            .creds
            .qr_text(&qr.refs[qr.index], self.client.inner.config.platform);
        self.show_qr(code, lifetime);
        None
    }

    fn show_qr(&mut self, code: String, lifetime: Duration) {
        let expires_at = self.client.inner.config.clock.now() + lifetime;
        self.client.set_qr(Some((code.clone(), expires_at)));
        self.client.set_status(Status::WaitingForQr);
        self.client.emit(Event::Qr { code, expires_at });
        self.report_first(Ok(()));
    }

    async fn handle_node(&mut self, conn: &mut Conn, node: Node) -> Option<End> {
        tracing::trace!(%node, "recv");
        match node.tag.as_ref() {
            "iq" => self.handle_iq(conn, node).await,
            "ack" => {
                if let Some(id) = node.attr_str("id") {
                    if let Some(w) = conn.waiters.remove(id) {
                        let _ = w.send(Ok(node));
                    }
                }
                None
            }
            "success" => self.handle_success(conn, &node),
            "failure" => Some(crate::stanza::classify_failure(&node).into()),
            "stream:error" => Some(crate::stanza::classify_stream_error(&node).into()),
            "xmlstreamend" => Some(End::Retry("server ended the stream".into())),
            "ib" => self.handle_ib(conn, &node).await,
            "message" | "receipt" | "notification" | "call" => {
                let _ = conn.inbound.send(Box::new(node));
                None
            }
            other => {
                tracing::debug!(tag = other, "unhandled stanza");
                None
            }
        }
    }

    async fn handle_iq(&mut self, conn: &mut Conn, node: Node) -> Option<End> {
        let id = node.attr_str("id").unwrap_or_default().to_owned();
        let typ = node.attr_str("type").unwrap_or_default().to_owned();
        let from = node.attr_jid("from").unwrap_or_else(Jid::server);
        if node.get_child("pair-device").is_some() && typ == "set" {
            return self.handle_pair_device(conn, &node, &id, from).await;
        }
        if node.get_child("pair-success").is_some() {
            return self.handle_pair_success(conn, &node, &id).await;
        }
        if typ == "result" || typ == "error" {
            if conn.ping.as_ref().is_some_and(|(pid, _)| *pid == id) {
                conn.ping = None;
                self.schedule_ping(conn);
            } else if let Some(w) = conn.waiters.remove(&id) {
                let _ = w.send(Ok(node));
            }
            return None;
        }
        if typ == "get"
            && (node.attr_str("xmlns") == Some("urn:xmpp:ping") || node.get_child("ping").is_some())
        {
            let pong = Node::new("iq")
                .attr("to", from)
                .attr("id", id)
                .attr("type", "result");
            return self
                .send(conn, &pong)
                .await
                .err()
                .map(|e| End::Retry(e.to_string()));
        }
        tracing::debug!(%node, "unhandled iq");
        None
    }

    async fn handle_pair_device(
        &mut self,
        conn: &mut Conn,
        node: &Node,
        id: &str,
        from: Jid,
    ) -> Option<End> {
        let ack = Node::new("iq")
            .attr("to", from)
            .attr("id", id.to_owned())
            .attr("type", "result");
        if let Err(e) = self.send(conn, &ack).await {
            return Some(End::Retry(e.to_string()));
        }
        if conn.creds.jid.is_some() {
            tracing::warn!("pair-device for an already paired device ignored");
            return None;
        }
        let refs = crate::stanza::pair_device_refs(node);
        if refs.is_empty() {
            return Some(End::Retry("pair-device without refs".into()));
        }
        let lifetime = self.client.inner.config.timeouts.qr_first;
        let code = conn
            .creds
            .qr_text(&refs[0], self.client.inner.config.platform);
        conn.qr = Some(QrState {
            refs,
            index: 0,
            deadline: Instant::now() + lifetime,
        });
        self.show_qr(code, lifetime);
        None
    }

    async fn handle_pair_success(&mut self, conn: &mut Conn, node: &Node, id: &str) -> Option<End> {
        let ps = node.get_child("pair-success")?;
        let identity = ps
            .get_child("device-identity")
            .and_then(|d| d.bytes_content())
            .unwrap_or_default();
        let device_jid = ps.get_child("device").and_then(|d| d.attr_jid("jid"));
        let lid = ps.get_child("device").and_then(|d| d.attr_jid("lid"));
        let platform = ps
            .get_child("platform")
            .and_then(|p| p.attr_text("name"))
            .map(|s| s.into_owned());
        let mut rng = self.client.inner.config.rng.clone();
        let result = wa_proto::pairing::handle_pair_success(
            identity,
            &conn.creds.adv_secret,
            &conn.creds.identity,
            &mut rng,
        );
        let (verified, reply, jid) = match (result, device_jid) {
            (Ok((v, r)), Some(jid)) => (v, r, jid),
            (Err(e), _) => {
                let (code, text) = e.iq_error();
                let err = Node::new("iq")
                    .attr("to", Jid::server())
                    .attr("type", "error")
                    .attr("id", id.to_owned())
                    .child(Node::new("error").attr("code", code).attr("text", text));
                let _ = self.send(conn, &err).await;
                return Some(End::Halt(format!("pairing failed: {e}")));
            }
            (Ok(_), None) => {
                let err = Node::new("iq")
                    .attr("to", Jid::server())
                    .attr("type", "error")
                    .attr("id", id.to_owned())
                    .child(
                        Node::new("error")
                            .attr("code", 500u16)
                            .attr("text", "internal-error"),
                    );
                let _ = self.send(conn, &err).await;
                return Some(End::Halt("pair-success without device jid".into()));
            }
        };
        tracing::info!(%jid, platform = platform.as_deref().unwrap_or("?"), "paired");
        conn.creds.jid = Some(jid.clone());
        conn.creds.lid = lid.clone();
        // A business account's verified name (`<biz name>`) is its name until we learn another.
        if conn.creds.push_name.is_empty() {
            if let Some(name) = ps.get_child("biz").and_then(|b| b.attr_text("name")) {
                conn.creds.push_name = name.into_owned();
            }
        }
        if let Err(e) = creds::save_paired(
            self.client.inner.store.as_ref(),
            &conn.creds,
            &verified,
            &reply,
        ) {
            return Some(End::Halt(format!("store: {e}")));
        }
        let sign = Node::new("iq")
            .attr("to", Jid::server())
            .attr("type", "result")
            .attr("id", id.to_owned())
            .child(
                Node::new("pair-device-sign").child(
                    Node::new("device-identity")
                        .attr("key-index", reply.key_index)
                        .bytes(reply.device_identity.clone()),
                ),
            );
        if let Err(e) = self.send(conn, &sign).await {
            return Some(End::Retry(e.to_string()));
        }
        conn.qr = None;
        self.client.set_qr(None);
        self.client.set_me(Some(Me {
            jid: jid.clone(),
            lid,
            push_name: conn.creds.push_name.clone(),
        }));
        self.client.emit(Event::Paired { jid });
        None
    }

    fn handle_success(&mut self, conn: &mut Conn, node: &Node) -> Option<End> {
        let Some(jid) = conn.creds.jid.clone() else {
            tracing::warn!("<success> before pairing ignored");
            return None;
        };
        if conn.logged_in {
            return None;
        }
        conn.logged_in = true;
        if let Some(lid) = node.attr_jid("lid") {
            if conn.creds.lid.as_ref() != Some(&lid) {
                conn.creds.lid = Some(lid);
                if let Err(e) = creds::save(self.client.inner.store.as_ref(), &conn.creds) {
                    tracing::warn!("saving lid failed: {e}");
                }
            }
        }
        self.client.set_me(Some(Me {
            jid,
            lid: conn.creds.lid.clone(),
            push_name: conn.creds.push_name.clone(),
        }));
        tokio::spawn(post_login(self.client.clone(), self.generation));
        None
    }

    async fn handle_ib(&mut self, conn: &mut Conn, node: &Node) -> Option<End> {
        for child in node.get_children() {
            match child.tag.as_ref() {
                "dirty" => {
                    let clean = Node::new("iq")
                        .attr("id", self.client.generate_request_id())
                        .attr("to", Jid::server())
                        .attr("type", "set")
                        .attr("xmlns", "urn:xmpp:whatsapp:dirty")
                        .child(
                            Node::new("clean")
                                .attr(
                                    "type",
                                    child
                                        .attr_text("type")
                                        .map(|s| s.into_owned())
                                        .unwrap_or_default(),
                                )
                                .attr(
                                    "timestamp",
                                    child
                                        .attr_text("timestamp")
                                        .map(|s| s.into_owned())
                                        .unwrap_or_default(),
                                ),
                        );
                    if let Err(e) = self.send(conn, &clean).await {
                        return Some(End::Retry(e.to_string()));
                    }
                }
                "downgrade_webclient" => {
                    return Some(End::Halt("phone does not support multi-device".into()));
                }
                "edge_routing" => {
                    let info = child
                        .get_child("routing_info")
                        .and_then(|r| r.bytes_content());
                    if let Some(info) = info.filter(|i| !i.is_empty() && i.len() < 1 << 16) {
                        if let Err(e) = self.client.inner.store.put(EDGE_ROUTING_KEY, info) {
                            tracing::warn!("saving edge routing info failed: {e}");
                        }
                    }
                }
                "offline" => {
                    tracing::debug!(count = ?child.attr_u64("count"), "offline delivery complete")
                }
                other => tracing::trace!(tag = other, "ib ignored"),
            }
        }
        None
    }
}

async fn dial(config: &ClientConfig) -> Result<transport::Conn, TransportError> {
    match &config.memory_dialer {
        Some(d) => d.dial(),
        None => transport::connect_ws(&config.ws_url).await,
    }
}

fn fail_command(cmd: Command) {
    match cmd {
        Command::Send { reply, .. } => {
            let _ = reply.send(Err(ClientError::NotConnected));
        }
        Command::Request { reply, .. } => {
            let _ = reply.send(Err(ClientError::NotConnected));
        }
        Command::Stop { reply } => {
            let _ = reply.send(());
        }
        Command::LoginDone { .. } => {}
    }
}

/// After `<success>`: prekeys, active, unified session; then the driver reports Connected.
async fn post_login(client: Client, generation: u64) {
    let result = async {
        crate::prekeys::upload_if_needed(&client).await?;
        let active = Node::new("iq")
            .attr("xmlns", "passive")
            .attr("type", "set")
            .child(Node::new("active"));
        client.send_iq(active).await?;
        let now_ms = client
            .config()
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let session = (now_ms + 3 * 86_400_000) % 604_800_000;
        client
            .send_node(
                Node::new("ib").child(Node::new("unified_session").attr("id", session.to_string())),
            )
            .await?;
        Ok::<(), ClientError>(())
    }
    .await;
    let _ = client.command(Command::LoginDone { generation, result });
}

impl From<crate::stanza::Disposition> for End {
    fn from(d: crate::stanza::Disposition) -> End {
        use crate::stanza::Disposition;
        match d {
            Disposition::Restart => End::Restart,
            Disposition::Retry(r) => End::Retry(r),
            Disposition::LoggedOut(r) => End::LoggedOut(r),
            Disposition::Stop(r) => End::Halt(r),
        }
    }
}
