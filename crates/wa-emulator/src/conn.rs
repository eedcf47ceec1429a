//! WebSocket connections: `/ws/chat` upgrade (any query string, with or without Origin), the
//! intro header, the Noise XX responder, then binary nodes: registration (pair-device, QR scan,
//! pair-success / pair-device-sign / 515) or login (`<success>` or `<failure reason="401"/>`),
//! and the stanza loop.
//!
//! A client that sends a malformed frame or node gets its connection closed; nothing it sends
//! can disturb another connection (each connection is its own task and never panics).

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand::Rng as _;
use rand::rngs::OsRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use wa_proto::binary::{Jid, Node};
use wa_proto::frame::FrameDecoder;
use wa_proto::noise::{NoiseTransport, ServerHandshake};
use wa_proto::pairing::{DeviceIdentityDetails, PairSuccessPayload, build_pair_success};
use wa_proto::proto::ClientPayload;
use wa_signal::PublicKey;

use crate::Inner;
use crate::error::EmulatorError;
use crate::state::{
    ConnCommand, ConnHandle, DeviceRecord, LinkCodeRequest, PairRequest, PendingRegistration,
    SignedPreKeyRecord, now_secs,
};

/// How long a client may take for each handshake message.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Number of QR refs in `<pair-device>`.
const QR_REFS: usize = 6;
/// The first ref is shown 60 s, each later one 20 s: the registration socket lives 160 s.
const REGISTRATION_LIFETIME: Duration = Duration::from_secs(60 + 5 * 20);
/// How long the server waits for the companion's `<pair-device-sign>`.
const PAIR_SIGN_TIMEOUT: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<TcpStream>;

/// Accepts TCP connections forever; each connection runs in its own task.
pub(crate) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((tcp, addr)) => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    match serve(inner, tcp).await {
                        Ok(()) => tracing::debug!(%addr, "connection closed"),
                        Err(e) => {
                            tracing::info!(%addr, error = %e, "connection closed with an error")
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[allow(clippy::result_large_err)] // the signature is tungstenite's callback type
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == "/ws/chat" {
        Ok(resp)
    } else {
        let mut e = ErrorResponse::new(Some("not found".to_owned()));
        *e.status_mut() = StatusCode::NOT_FOUND;
        Err(e)
    }
}

/// Why a connection ended abnormally.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("websocket: {0}")]
    Ws(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("frame: {0}")]
    Frame(#[from] wa_proto::frame::FrameError),
    #[error("noise: {0}")]
    Noise(#[from] wa_proto::noise::NoiseError),
    #[error("node: {0}")]
    Node(#[from] wa_proto::binary::DecodeError),
    #[error("client payload: {0}")]
    Payload(String),
    #[error("timed out during {0}")]
    Timeout(&'static str),
    #[error("peer closed during {0}")]
    Closed(&'static str),
}

impl From<tokio_tungstenite::tungstenite::Error> for ConnError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ConnError::Ws(Box::new(e))
    }
}

/// Reads raw frames from the socket.
struct FrameReader {
    stream: SplitStream<Ws>,
    decoder: FrameDecoder,
}

impl FrameReader {
    /// The next whole frame, `None` when the peer closed.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, ConnError> {
        loop {
            if let Some(f) = self.decoder.next_frame()? {
                return Ok(Some(f));
            }
            match self.stream.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(WsMessage::Binary(b))) => self.decoder.push(&b),
                Some(Ok(WsMessage::Close(_))) => return Ok(None),
                // Text, ping, pong: not part of the protocol (pings are answered by tungstenite).
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Writes frames and encrypted nodes.
pub(crate) struct Writer {
    sink: SplitSink<Ws, WsMessage>,
    noise: Option<NoiseTransport>,
}

impl Writer {
    async fn raw_frame(&mut self, payload: &[u8]) -> Result<(), ConnError> {
        let frame = wa_proto::frame::encode_frame(payload)?;
        self.sink.send(WsMessage::Binary(frame.into())).await?;
        Ok(())
    }

    pub(crate) async fn node(&mut self, node: &Node) -> Result<(), ConnError> {
        tracing::trace!(node = %node_summary(node), "->");
        let Ok(plain) = wa_proto::binary::try_marshal(node) else {
            tracing::error!(tag = %node.tag, "cannot encode an outgoing node; dropped");
            return Ok(());
        };
        let noise = self.noise.as_mut().ok_or(ConnError::Closed("handshake"))?;
        let ct = noise.encrypt(&plain)?;
        self.raw_frame(&ct).await
    }

    /// Closes with WebSocket status 1002 (protocol error) and the reason.
    async fn close_with_error(&mut self, reason: &str) {
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        let reason: String = reason.chars().take(100).collect();
        let frame = CloseFrame {
            code: CloseCode::Protocol,
            reason: reason.into(),
        };
        let _ = self.sink.send(WsMessage::Close(Some(frame))).await;
        let _ = self.sink.close().await;
    }

    async fn close(&mut self) {
        let _ = self.sink.send(WsMessage::Close(None)).await;
        let _ = self.sink.close().await;
    }
}

fn node_summary(node: &Node) -> String {
    let mut s = format!("<{}", node.tag);
    for (k, v) in &node.attrs {
        s.push_str(&format!(" {k}={v}"));
    }
    s.push('>');
    s
}

/// `<stream:error code=..>[<conflict type=../>]</stream:error>`
pub(crate) fn stream_error(code: u16, conflict: Option<&'static str>) -> Node {
    let n = Node::new("stream:error").attr("code", code.to_string());
    match conflict {
        Some(t) => n.child(Node::new("conflict").attr("type", t)),
        None => n,
    }
}

/// A fresh server-side stanza id.
pub(crate) fn new_id() -> String {
    let mut rng = OsRng;
    format!(
        "{}.{}-{}",
        rng.gen_range(1..65535),
        rng.gen_range(1..65535),
        rng.gen_range(1..9999)
    )
}

async fn serve(inner: Arc<Inner>, tcp: TcpStream) -> Result<(), ConnError> {
    let _ = tcp.set_nodelay(true);
    let ws = tokio_tungstenite::accept_hdr_async(tcp, check_path).await?;
    let (sink, stream) = ws.split();
    let mut reader = FrameReader {
        stream,
        decoder: FrameDecoder::server(),
    };
    let mut writer = Writer { sink, noise: None };

    let (client_static, payload) = match handshake(&inner, &mut reader, &mut writer).await {
        Ok(x) => x,
        Err(e) => {
            writer.close_with_error(&e.to_string()).await;
            return Err(e);
        }
    };

    let conn_id = inner.next_conn_id();
    let (tx, rx) = crate::state::conn_channel();
    let handle = ConnHandle { conn_id, tx };
    inner.store.lock().all_conns.insert(conn_id, handle.clone());
    let mut conn = Conn {
        inner: inner.clone(),
        handle,
        reader,
        writer,
        rx,
        client_static,
        session: Session::Handshaken,
        pending_pair: None,
        link: None,
    };
    let result = conn.run(payload).await;
    conn.cleanup();
    match &result {
        Ok(()) => conn.writer.close().await,
        Err(e) => conn.writer.close_with_error(&e.to_string()).await,
    }
    result
}

/// The Noise XX handshake as responder; returns the client's static key and its payload.
async fn handshake(
    inner: &Inner,
    reader: &mut FrameReader,
    writer: &mut Writer,
) -> Result<(PublicKey, ClientPayload), ConnError> {
    // Noise XX as responder.
    let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next())
        .await
        .map_err(|_| ConnError::Timeout("client hello"))??
        .ok_or(ConnError::Closed("client hello"))?;
    if let Some(intro) = reader.decoder.intro() {
        if intro.dict_version != wa_proto::binary::DICT_VERSION {
            tracing::info!(
                version = intro.dict_version,
                "client announces another dictionary version"
            );
        }
    }
    // A client resuming with Noise IK (whatsapp-rust does once it has cached the certificate
    // chain) is answered with XXfallback by the same state machine; the rest of the flow is XX.
    let hs = ServerHandshake::new(inner.server_static.clone(), inner.cert_chain.clone());
    let awaiting = hs.read_client_hello(&hello, &mut OsRng)?;
    if awaiting.is_fallback() {
        tracing::debug!("Noise IK attempt answered with XXfallback");
    }
    writer.raw_frame(awaiting.server_hello()).await?;
    let finish = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next())
        .await
        .map_err(|_| ConnError::Timeout("client finish"))??
        .ok_or(ConnError::Closed("client finish"))?;
    let done = awaiting.read_client_finish(&finish)?;
    writer.noise = Some(done.transport);
    let (client_static, client_payload) = (done.client_static, done.client_payload);
    let payload = ClientPayload::decode(client_payload.as_slice())
        .map_err(|e| ConnError::Payload(e.to_string()))?;
    Ok((client_static, payload))
}

/// What this connection is.
enum Session {
    Handshaken,
    /// A new companion waiting for a scan.
    Registering {
        refs: Vec<String>,
        identity: [u8; 32],
        registration_id: u32,
        signed_prekey: SignedPreKeyRecord,
        platform: String,
    },
    /// A logged-in companion.
    LoggedIn {
        phone: String,
        device: u32,
    },
}

/// A pair-success that was sent and awaits `<pair-device-sign>`.
struct PendingPair {
    iq_id: String,
    payload: PairSuccessPayload,
    phone: String,
    device: u32,
    key_index: u32,
    done: tokio::sync::oneshot::Sender<Result<String, EmulatorError>>,
    deadline: tokio::time::Instant,
}

pub(crate) struct Conn {
    pub(crate) inner: Arc<Inner>,
    handle: ConnHandle,
    reader: FrameReader,
    pub(crate) writer: Writer,
    rx: mpsc::Receiver<ConnCommand>,
    client_static: PublicKey,
    session: Session,
    pending_pair: Option<PendingPair>,
    link: Option<LinkState>,
}

/// Pairing with a phone number: what the companion announced, and the phone's side once the
/// code was entered.
struct LinkState {
    reference: String,
    phone: String,
    wrapped_companion: Vec<u8>,
    entered: Option<LinkEntered>,
}

struct LinkEntered {
    primary: wa_signal::KeyPair,
    companion_ephemeral: PublicKey,
    done: tokio::sync::oneshot::Sender<Result<String, EmulatorError>>,
}

/// What the stanza loop should do next.
pub(crate) enum Flow {
    Continue,
    Close,
}

impl Conn {
    async fn run(&mut self, payload: ClientPayload) -> Result<(), ConnError> {
        match payload.username {
            Some(user) => {
                if !self.login(&payload, user).await? {
                    return Ok(());
                }
            }
            None => self.register(&payload).await?,
        }
        self.stanza_loop().await
    }

    /// Removes this connection from the shared state.
    fn cleanup(&mut self) {
        let mut st = self.inner.store.lock();
        st.all_conns.remove(&self.handle.conn_id);
        match &self.session {
            Session::Registering { refs, .. } => {
                for r in refs {
                    st.pending.remove(r);
                }
            }
            Session::LoggedIn { phone, device } => {
                let key = (phone.clone(), *device);
                if st.conns.get(&key).map(|c| c.conn_id) == Some(self.handle.conn_id) {
                    st.conns.remove(&key);
                }
            }
            Session::Handshaken => {}
        }
        if let Some(p) = self.pending_pair.take() {
            let _ = p.done.send(Err(EmulatorError::Pairing(
                "the companion disconnected before signing".to_owned(),
            )));
        }
        if let Some(l) = self.link.take() {
            st.pending_link.remove(&l.reference);
            if let Some(e) = l.entered {
                let _ = e.done.send(Err(EmulatorError::Pairing(
                    "the companion disconnected during link-code pairing".to_owned(),
                )));
            }
        }
    }

    /// `(phone, device)` if logged in.
    pub(crate) fn me(&self) -> Option<(String, u32)> {
        match &self.session {
            Session::LoggedIn { phone, device } => Some((phone.clone(), *device)),
            _ => None,
        }
    }

    async fn register(&mut self, payload: &ClientPayload) -> Result<(), ConnError> {
        let reg = payload
            .device_pairing_data
            .as_ref()
            .ok_or_else(|| ConnError::Payload("neither username nor devicePairingData".into()))?;
        let fixed = |v: &Option<Vec<u8>>, n: usize, what: &str| -> Result<Vec<u8>, ConnError> {
            match v {
                Some(b) if b.len() == n => Ok(b.clone()),
                _ => Err(ConnError::Payload(format!(
                    "devicePairingData.{what} is not {n} bytes"
                ))),
            }
        };
        let regid = fixed(&reg.e_regid, 4, "eRegid")?;
        let identity: [u8; 32] = fixed(&reg.e_ident, 32, "eIdent")?
            .try_into()
            .map_err(|_| ConnError::Payload("eIdent".into()))?;
        let skey_id = fixed(&reg.e_skey_id, 3, "eSkeyID")?;
        let skey_val = fixed(&reg.e_skey_val, 32, "eSkeyVal")?;
        let skey_sig = fixed(&reg.e_skey_sig, 64, "eSkeySig")?;
        let platform = reg
            .device_props
            .as_deref()
            .and_then(|b| wa_proto::proto::DeviceProps::decode(b).ok())
            .and_then(|p| p.os)
            .unwrap_or_else(|| "unknown".to_owned());
        let mut rng = OsRng;
        let refs: Vec<String> = (0..QR_REFS)
            .map(|_| {
                let mut b = [0u8; 18];
                rng.fill(&mut b);
                format!(
                    "2@{}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
                )
            })
            .collect();
        {
            let mut st = self.inner.store.lock();
            for r in &refs {
                st.pending.insert(
                    r.clone(),
                    PendingRegistration {
                        conn: self.handle.clone(),
                        noise_pub: *self.client_static.as_djb(),
                        identity,
                    },
                );
            }
        }
        self.session = Session::Registering {
            refs: refs.clone(),
            identity,
            registration_id: u32::from_be_bytes([regid[0], regid[1], regid[2], regid[3]]),
            signed_prekey: SignedPreKeyRecord {
                id: u32::from_be_bytes([0, skey_id[0], skey_id[1], skey_id[2]]),
                public: skey_val,
                signature: skey_sig,
            },
            platform,
        };
        let iq = Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "set")
            .attr("id", new_id())
            .attr("xmlns", "md")
            .child(
                Node::new("pair-device").children(
                    refs.iter()
                        .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec())),
                ),
            );
        self.writer.node(&iq).await
    }

    /// Returns false if the login was refused (the connection then ends).
    async fn login(&mut self, payload: &ClientPayload, user: u64) -> Result<bool, ConnError> {
        let phone = user.to_string();
        let device = payload.device.unwrap_or(0);
        let verdict = {
            let st = self.inner.store.lock();
            match st
                .accounts
                .get(&phone)
                .and_then(|a| a.devices.get(&device).map(|d| (a, d)))
            {
                None => None,
                Some((_, d)) if d.noise_pub != self.client_static.as_djb() => None,
                Some((a, d)) => Some((a.lid.clone(), a.created, d.logged_in_once)),
            }
        };
        let Some((lid, created, logged_in_before)) = verdict else {
            tracing::info!(%phone, device, "login refused: unknown or unlinked device");
            self.writer
                .node(
                    &Node::new("failure")
                        .attr("reason", "401")
                        .attr("location", "emu"),
                )
                .await?;
            return Ok(false);
        };
        // Register, replacing an older connection of the same device.
        let old = {
            let mut st = self.inner.store.lock();
            st.conns
                .insert((phone.clone(), device), self.handle.clone())
        };
        if let Some(old) = old {
            let _ = old.tx.send(ConnCommand::StreamError {
                code: 440,
                conflict: Some("replaced"),
            });
        }
        self.session = Session::LoggedIn {
            phone: phone.clone(),
            device,
        };
        let success = Node::new("success")
            .attr("t", now_secs().to_string())
            .attr("props", "27")
            .attr("abprops", "10")
            .attr("location", "emu")
            .attr("lid", Jid::lid(lid).with_device(device as u16))
            .attr("creation", created.to_string());
        self.writer.node(&success).await?;
        if !logged_in_before {
            crate::phone::first_login_pushes(&self.inner, &phone, device);
        }
        if payload.passive != Some(true) {
            self.deliver_offline().await?;
        }
        Ok(true)
    }

    /// Sends every queued stanza (marked `offline`), then `<ib><offline count=N/></ib>`.
    pub(crate) async fn deliver_offline(&mut self) -> Result<(), ConnError> {
        let Some((phone, device)) = self.me() else {
            return Ok(());
        };
        let conn_id = self.handle.conn_id;
        let queued: Vec<Node> = {
            let mut st = self.inner.store.lock();
            st.accounts
                .get_mut(&phone)
                .and_then(|a| a.offline.get_mut(&device))
                .map(|q| {
                    q.iter_mut()
                        .filter(|s| s.sent_on != Some(conn_id))
                        .filter_map(|s| {
                            s.sent_on = Some(conn_id);
                            wa_proto::binary::decode_node(&s.node).ok()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let count = queued.len();
        for mut n in queued {
            n.set_attr("offline", "0");
            self.writer.node(&n).await?;
        }
        self.writer
            .node(&Node::new("ib").child(Node::new("offline").attr("count", count.to_string())))
            .await
    }

    async fn stanza_loop(&mut self) -> Result<(), ConnError> {
        let mut shutdown = self.inner.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        let registration_deadline = tokio::time::Instant::now() + REGISTRATION_LIFETIME;
        loop {
            let deadline = match (&self.session, &self.pending_pair) {
                (_, Some(p)) => Some(p.deadline),
                (Session::Registering { .. }, None) => Some(registration_deadline),
                _ => None,
            };
            let timer = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = self.reader.next() => {
                    let Some(frame) = frame? else { return Ok(()) };
                    let noise = self.writer.noise.as_mut().ok_or(ConnError::Closed("transport"))?;
                    let plain = noise.decrypt(&frame)?;
                    let node = wa_proto::binary::unmarshal(&plain)?;
                    tracing::trace!(node = %node_summary(&node), "<-");
                    if let Flow::Close = self.handle_node(node).await? {
                        return Ok(());
                    }
                }
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { return Ok(()) };
                    if let Flow::Close = self.handle_command(cmd).await? {
                        return Ok(());
                    }
                }
                () = timer => {
                    if let Some(p) = self.pending_pair.take() {
                        let _ = p.done.send(Err(EmulatorError::Pairing(
                            "the companion did not answer pair-success".to_owned(),
                        )));
                    }
                    tracing::info!("registration socket expired (QR refs exhausted)");
                    return Ok(());
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    async fn handle_command(&mut self, cmd: ConnCommand) -> Result<Flow, ConnError> {
        match cmd {
            ConnCommand::Send(node) => {
                self.writer.node(&node).await?;
                Ok(Flow::Continue)
            }
            ConnCommand::StreamError { code, conflict } => {
                self.writer.node(&stream_error(code, conflict)).await?;
                Ok(Flow::Close)
            }
            ConnCommand::Drop => Ok(Flow::Close),
            ConnCommand::Pair(req) => {
                self.start_pair(*req).await?;
                Ok(Flow::Continue)
            }
            ConnCommand::LinkCode(req) => {
                self.link_code_entered(*req).await?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn start_pair(&mut self, req: PairRequest) -> Result<(), ConnError> {
        let Session::Registering { identity, .. } = &self.session else {
            let _ = req.done.send(Err(EmulatorError::BadQr(
                "that companion is not waiting for a scan".to_owned(),
            )));
            return Ok(());
        };
        if self.pending_pair.is_some() {
            let _ = req.done.send(Err(EmulatorError::BadQr(
                "that companion is already being paired".to_owned(),
            )));
            return Ok(());
        }
        let companion = PublicKey::from_djb(*identity);
        let prepared = {
            let mut st = self.inner.store.lock();
            match st.account_mut(&req.phone) {
                Err(e) => Err(e),
                Ok(acc) => {
                    // Device numbers are one byte on the wire (AD_JID): take the next free
                    // one in 1..=255, wrapping around.
                    let start = acc.next_device.clamp(1, 255);
                    let free = (0..255)
                        .map(|i| (start - 1 + i) % 255 + 1)
                        .find(|d| !acc.devices.contains_key(d));
                    let Some(device) = free else {
                        let _ = req.done.send(Err(EmulatorError::Pairing(
                            "the account already has 255 companions".to_owned(),
                        )));
                        return Ok(());
                    };
                    let key_index = acc.next_key_index;
                    acc.next_device = device % 255 + 1;
                    acc.next_key_index += 1;
                    let details = DeviceIdentityDetails {
                        raw_id: acc.raw_id(),
                        timestamp: now_secs(),
                        key_index,
                        hosted: false,
                    };
                    let payload = build_pair_success(
                        &details,
                        &acc.phone_state.identity(),
                        &companion,
                        &req.adv_secret,
                        &mut OsRng,
                    );
                    Ok((device, key_index, payload, acc.lid.clone()))
                }
            }
        };
        let (device, key_index, payload, lid) = match prepared {
            Ok(x) => x,
            Err(e) => {
                let _ = req.done.send(Err(e));
                return Ok(());
            }
        };
        let iq_id = new_id();
        let iq = Node::new("iq")
            .attr("from", Jid::server())
            .attr("type", "set")
            .attr("id", iq_id.clone())
            .attr("t", now_secs().to_string())
            .child(
                Node::new("pair-success").children([
                    Node::new("device-identity").bytes(payload.device_identity.clone()),
                    Node::new("platform").attr("name", "android"),
                    Node::new("device")
                        .attr("jid", Jid::pn(req.phone.clone()).with_device(device as u16))
                        .attr("lid", Jid::lid(lid).with_device(device as u16)),
                ]),
            );
        self.writer.node(&iq).await?;
        self.pending_pair = Some(PendingPair {
            iq_id,
            payload,
            phone: req.phone,
            device,
            key_index,
            done: req.done,
            deadline: tokio::time::Instant::now() + PAIR_SIGN_TIMEOUT,
        });
        Ok(())
    }

    /// Handles the companion's answer to pair-success. Returns true if it was that answer.
    async fn finish_pair(&mut self, node: &Node) -> Result<Option<Flow>, ConnError> {
        let is_answer = node.tag == "iq"
            && self
                .pending_pair
                .as_ref()
                .is_some_and(|p| node.attr_str("id") == Some(p.iq_id.as_str()));
        if !is_answer {
            return Ok(None);
        }
        let Some(p) = self.pending_pair.take() else {
            return Ok(None);
        };
        let fail = |msg: String| Err(EmulatorError::Pairing(msg));
        let outcome: Result<(String, Vec<u8>), EmulatorError> =
            if node.attr_str("type") == Some("error") {
                let err = node.get_child("error");
                fail(format!(
                    "the companion refused pair-success: {} {}",
                    err.and_then(|e| e.attr_str("code")).unwrap_or("?"),
                    err.and_then(|e| e.attr_str("text")).unwrap_or("")
                ))
            } else {
                match node
                    .get_child_by_path(&["pair-device-sign", "device-identity"])
                    .and_then(Node::bytes_content)
                {
                    None => fail("pair-device-sign without device-identity bytes".to_owned()),
                    Some(bytes) => match p.payload.verify_reply(bytes) {
                        Ok(full) => Ok((
                            format!("{}:{}@s.whatsapp.net", p.phone, p.device),
                            full.encode_to_vec(),
                        )),
                        Err(e) => fail(format!("bad pair-device-sign: {e}")),
                    },
                }
            };
        match outcome {
            Err(e) => {
                let _ = p.done.send(Err(e));
                Ok(Some(Flow::Continue))
            }
            Ok((jid, device_identity)) => {
                let Session::Registering {
                    refs,
                    identity,
                    registration_id,
                    signed_prekey,
                    platform,
                } = &self.session
                else {
                    return Ok(Some(Flow::Close));
                };
                let record = DeviceRecord {
                    id: p.device,
                    noise_pub: self.client_static.as_djb().to_vec(),
                    identity: identity.to_vec(),
                    registration_id: *registration_id,
                    signed_prekey: Some(signed_prekey.clone()),
                    prekeys: Default::default(),
                    key_index: p.key_index,
                    device_identity,
                    platform: platform.clone(),
                    linked_at: now_secs(),
                    logged_in_once: false,
                };
                {
                    let mut st = self.inner.store.lock();
                    for r in refs {
                        st.pending.remove(r);
                    }
                    if let Ok(acc) = st.account_mut(&p.phone) {
                        acc.devices.insert(p.device, record);
                    }
                }
                self.inner.store.persist();
                crate::route::notify_device_change(&self.inner, &p.phone, p.device, true);
                self.writer.node(&stream_error(515, None)).await?;
                let _ = p.done.send(Ok(jid));
                Ok(Some(Flow::Close))
            }
        }
    }

    async fn handle_node(&mut self, node: Node) -> Result<Flow, ConnError> {
        if let Some(flow) = self.finish_pair(&node).await? {
            return Ok(flow);
        }
        if node.tag == "xmlstreamend" {
            return Ok(Flow::Close);
        }
        if self.me().is_none() {
            if node.tag == "iq" && node.get_child("link_code_companion_reg").is_some() {
                return self.link_code_iq(&node).await;
            }
            // Registration sockets only carry acks of pair-device and pings.
            if node.tag == "iq" && node.attr_str("type") == Some("get") {
                let reply = crate::iq::result(&node);
                self.writer.node(&reply).await?;
            }
            return Ok(Flow::Continue);
        }
        match node.tag.as_ref() {
            "iq" => crate::iq::handle(self, node).await,
            "message" => crate::route::client_message(self, node).await,
            "receipt" => crate::route::client_receipt(self, node).await,
            "ack" => {
                crate::route::client_ack(self, &node);
                Ok(Flow::Continue)
            }
            _ => Ok(Flow::Continue),
        }
    }
}

impl Conn {
    /// `<link_code_companion_reg stage="companion_hello|companion_finish">` from a registering
    /// companion.
    async fn link_code_iq(&mut self, node: &Node) -> Result<Flow, ConnError> {
        let Some(reg) = node.get_child("link_code_companion_reg") else {
            return Ok(Flow::Continue);
        };
        if !matches!(self.session, Session::Registering { .. }) {
            self.writer
                .node(&crate::iq::error(node, 400, "bad-request"))
                .await?;
            return Ok(Flow::Continue);
        }
        let bytes_of = |tag: &str| -> Option<Vec<u8>> {
            let c = reg.get_child(tag)?;
            c.bytes_content()
                .map(<[u8]>::to_vec)
                .or_else(|| c.text_content().map(|t| t.as_bytes().to_vec()))
        };
        match reg.attr_str("stage") {
            Some("companion_hello") => {
                let phone = reg.attr_jid("jid").map(|j| j.user);
                let wrapped = bytes_of("link_code_pairing_wrapped_companion_ephemeral_pub");
                let known = phone
                    .as_ref()
                    .is_some_and(|p| self.inner.store.lock().accounts.contains_key(p));
                let (Some(phone), Some(wrapped), true) = (phone, wrapped, known) else {
                    self.writer
                        .node(&crate::iq::error(node, 400, "bad-request"))
                        .await?;
                    return Ok(Flow::Continue);
                };
                if wrapped.len() != crate::linkcode::WRAPPED_LEN {
                    self.writer
                        .node(&crate::iq::error(node, 400, "bad-request"))
                        .await?;
                    return Ok(Flow::Continue);
                }
                let mut r = [0u8; 16];
                OsRng.fill(&mut r);
                let reference = hex::encode(r);
                {
                    let mut st = self.inner.store.lock();
                    if let Some(old) = &self.link {
                        st.pending_link.remove(&old.reference);
                    }
                    st.pending_link
                        .insert(reference.clone(), (phone.clone(), self.handle.clone()));
                }
                self.link = Some(LinkState {
                    reference: reference.clone(),
                    phone,
                    wrapped_companion: wrapped,
                    entered: None,
                });
                let reply = crate::iq::result(node).child(
                    Node::new("link_code_companion_reg")
                        .child(Node::new("link_code_pairing_ref").bytes(reference.into_bytes())),
                );
                self.writer.node(&reply).await?;
            }
            Some("companion_finish") => {
                self.writer.node(&crate::iq::result(node)).await?;
                let bundle = bytes_of("link_code_pairing_wrapped_key_bundle");
                let Some(link) = self.link.take() else {
                    return Ok(Flow::Continue);
                };
                self.inner.store.lock().pending_link.remove(&link.reference);
                let Some(entered) = link.entered else {
                    return Ok(Flow::Continue);
                };
                let outcome = self.open_bundle(&link.phone, &entered, bundle.as_deref());
                match outcome {
                    Ok(adv_secret) => {
                        self.start_pair(PairRequest {
                            phone: link.phone,
                            adv_secret,
                            done: entered.done,
                        })
                        .await?;
                    }
                    Err(e) => {
                        let _ = entered.done.send(Err(e));
                    }
                }
            }
            _ => {
                self.writer
                    .node(&crate::iq::error(node, 400, "bad-request"))
                    .await?;
            }
        }
        Ok(Flow::Continue)
    }

    /// Checks the companion's key bundle and derives the new ADV secret.
    fn open_bundle(
        &self,
        phone: &str,
        entered: &LinkEntered,
        bundle: Option<&[u8]>,
    ) -> Result<[u8; 32], EmulatorError> {
        let wrong = || EmulatorError::Pairing("wrong link code or bad key bundle".to_owned());
        let Session::Registering { identity, .. } = &self.session else {
            return Err(wrong());
        };
        let eph_shared = entered
            .primary
            .private
            .calculate_agreement(&entered.companion_ephemeral);
        let plain = crate::linkcode::open_key_bundle(&eph_shared, bundle.ok_or_else(wrong)?)
            .ok_or_else(wrong)?;
        let phone_identity = self
            .inner
            .store
            .lock()
            .account(phone)?
            .phone_state
            .identity();
        if plain[..32] != identity[..] || plain[32..64] != phone_identity.public.as_djb()[..] {
            return Err(wrong());
        }
        let id_shared = phone_identity
            .private
            .calculate_agreement(&PublicKey::from_djb(*identity));
        Ok(crate::linkcode::adv_secret(
            &eph_shared,
            &id_shared,
            &plain[64..],
        ))
    }

    /// The phone entered the code: unwrap the companion's ephemeral key, send ours.
    async fn link_code_entered(&mut self, req: LinkCodeRequest) -> Result<(), ConnError> {
        let Some(link) = self.link.as_mut().filter(|l| l.entered.is_none()) else {
            let _ = req.done.send(Err(EmulatorError::BadQr(
                "no companion is waiting for a link code".to_owned(),
            )));
            return Ok(());
        };
        let wrapped = link.wrapped_companion.clone();
        let code = req.code.clone();
        let primary = wa_signal::KeyPair::generate(&mut OsRng);
        let primary_pub = *primary.public.as_djb();
        let crypto = tokio::task::spawn_blocking(move || {
            let companion = crate::linkcode::unwrap_ephemeral(&code, &wrapped)?;
            let ours = crate::linkcode::wrap_ephemeral(&code, &primary_pub, &mut OsRng);
            Some((companion, ours))
        })
        .await
        .ok()
        .flatten();
        let Some((companion, wrapped_primary)) = crypto else {
            let _ = req
                .done
                .send(Err(EmulatorError::Pairing("bad link code data".to_owned())));
            return Ok(());
        };
        let reference = link.reference.clone();
        link.entered = Some(LinkEntered {
            primary,
            companion_ephemeral: PublicKey::from_djb(companion),
            done: req.done,
        });
        let identity = self
            .inner
            .store
            .lock()
            .account(&req.phone)
            .map(|a| *a.phone_state.identity().public.as_djb());
        let Ok(identity) = identity else {
            return Ok(());
        };
        let n = Node::new("notification")
            .attr("from", Jid::server())
            .attr("type", "link_code_companion_reg")
            .attr("id", new_id())
            .attr("t", now_secs().to_string())
            .child(Node::new("link_code_companion_reg").children([
                Node::new("link_code_pairing_ref").bytes(reference.into_bytes()),
                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(wrapped_primary),
                Node::new("primary_identity_pub").bytes(identity.to_vec()),
            ]));
        self.writer.node(&n).await
    }
}
