//! The session manager: owns every session, drives its [`Link`], maps link status to the
//! gateway status machine, persists records, and fans events out to SSE subscribers and
//! webhooks.

use crate::backend::LinkStatus;
use crate::backend::{Connector, ImageToSend, Link, LinkEvent, LinkMe, SendError, Sent};
use crate::error::ApiError;
use crate::metrics::{global, inc};
use crate::registry::{
    LastError, Registry, SessionRecord, StatusChange, WebhookConfig, valid_session_name,
};
use crate::status::{SessionStatus, now_rfc3339, rfc3339};
use crate::webhook::{RetryPolicy, WebhookSender};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

/// Capacity of the per-session and global event broadcasts (slow SSE readers skip ahead).
const EVENT_BUFFER: usize = 256;

/// One event of a session, as sent over SSE and to webhooks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayEvent {
    /// Event name: `status`, `qr`, `paired`, `message`, `receipt`, `disconnected`,
    /// `logged_out`, `session_created`, `session_deleted`.
    pub event: String,
    /// Session name.
    pub session: String,
    /// When (RFC 3339).
    pub at: String,
    /// Event-specific payload.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The logged-in account of a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeView {
    /// Account JID.
    pub jid: String,
    /// Display name.
    pub push_name: String,
}

/// A webhook as the API shows it (the secret is never echoed).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    /// Target URL.
    pub url: String,
    /// Event filter (empty = all).
    pub events: Vec<String>,
    /// Whether deliveries are signed.
    pub signed: bool,
}

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// Session name.
    pub name: String,
    /// Current status.
    pub status: SessionStatus,
    /// The linked account, once known.
    pub me: Option<MeView>,
    /// Whether the session is meant to run (it is restarted when the gateway restarts).
    pub running: bool,
    /// When the current QR code expires, while `SCAN_QR_CODE`.
    pub qr_expires_at: Option<String>,
    /// The last error, if any.
    pub last_error: Option<LastError>,
    /// Recent status changes, oldest first.
    pub history: Vec<StatusChange>,
    /// Webhook targets.
    pub webhooks: Vec<WebhookView>,
    /// When the session was created (RFC 3339).
    pub created_at: String,
}

/// The current QR code of a session.
#[derive(Debug, Clone)]
pub(crate) struct QrState {
    pub(crate) code: String,
    pub(crate) expires_at: SystemTime,
}

struct State {
    record: SessionRecord,
    status: SessionStatus,
    qr: Option<QrState>,
    me: Option<LinkMe>,
    link: Option<Arc<dyn Link>>,
    pump: Option<JoinHandle<()>>,
    generation: u64,
    hooks: Vec<WebhookSender>,
    deleted: bool,
}

pub(crate) struct Session {
    name: String,
    /// Serialises start/stop/logout/delete of this session.
    ops: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    events: broadcast::Sender<GatewayEvent>,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Inner {
    rt: tokio::runtime::Handle,
    connector: Arc<dyn Connector>,
    registry: Registry,
    http: reqwest::Client,
    retry: RetryPolicy,
    sessions: Mutex<BTreeMap<String, Arc<Session>>>,
    all_events: broadcast::Sender<GatewayEvent>,
}

/// What `create` takes.
#[derive(Debug, Clone)]
pub(crate) struct NewSession {
    pub(crate) name: String,
    pub(crate) start: bool,
    pub(crate) webhooks: Vec<WebhookConfig>,
}

/// Cheap, cloneable handle to the session manager.
#[derive(Clone)]
pub(crate) struct Manager {
    inner: Arc<Inner>,
}

impl Manager {
    /// Loads every stored session and restarts those that were running.
    pub(crate) fn load(
        rt: tokio::runtime::Handle,
        connector: Arc<dyn Connector>,
        registry: Registry,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> Result<Manager, ApiError> {
        let (all_events, _) = broadcast::channel(EVENT_BUFFER);
        let mgr = Manager {
            inner: Arc::new(Inner {
                rt,
                connector,
                registry,
                http,
                retry,
                sessions: Mutex::new(BTreeMap::new()),
                all_events,
            }),
        };
        let records = mgr
            .inner
            .registry
            .list()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut to_start = Vec::new();
        for rec in records {
            if !valid_session_name(&rec.name) {
                tracing::warn!(name = %rec.name, "skipping stored session with an invalid name");
                continue;
            }
            let running = rec.running;
            let s = mgr.new_session(rec);
            if running {
                to_start.push(s.clone());
            }
            mgr.sessions().insert(s.name.clone(), s);
        }
        for s in to_start {
            let m = mgr.clone();
            mgr.inner.rt.spawn(async move {
                let _g = s.ops.lock().await;
                tracing::info!(session = %s.name, "restoring running session");
                if let Err(e) = m.start_locked(&s).await {
                    tracing::warn!(session = %s.name, error = %e, "could not restore session");
                }
            });
        }
        Ok(mgr)
    }

    fn sessions(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Session>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn new_session(&self, record: SessionRecord) -> Arc<Session> {
        let hooks = record
            .webhooks
            .iter()
            .map(|w| {
                WebhookSender::spawn(
                    &self.inner.rt,
                    self.inner.http.clone(),
                    w.clone(),
                    self.inner.retry,
                )
            })
            .collect();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(Session {
            name: record.name.clone(),
            ops: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                record,
                status: SessionStatus::Stopped,
                qr: None,
                me: None,
                link: None,
                pump: None,
                generation: 0,
                hooks,
                deleted: false,
            }),
            events,
        })
    }

    /// Runs `fut` on the manager's runtime (so session tasks live there, and an operation
    /// is finished even if the HTTP request that asked for it goes away).
    async fn on_rt<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, ApiError>> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.inner
            .rt
            .spawn(fut)
            .await
            .map_err(|e| ApiError::internal(format!("operation aborted: {e}")))?
    }

    pub(crate) fn get(&self, name: &str) -> Result<Arc<Session>, ApiError> {
        if !valid_session_name(name) {
            return Err(ApiError::bad_request(
                "invalid_session_name",
                "session names match ^[A-Za-z0-9_-]{1,64}$",
            ));
        }
        self.sessions()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::session_not_found(name))
    }

    /// Every session, by name.
    pub(crate) fn list(&self) -> Vec<SessionView> {
        let all: Vec<_> = self.sessions().values().cloned().collect();
        all.iter().map(|s| view(s)).collect()
    }

    /// One session.
    pub(crate) fn view(&self, name: &str) -> Result<SessionView, ApiError> {
        let s = self.get(name)?;
        Ok(view(&s))
    }

    /// Number of sessions per status.
    pub(crate) fn count_by_status(&self) -> BTreeMap<SessionStatus, usize> {
        let mut out = BTreeMap::new();
        for s in self.sessions().values() {
            *out.entry(s.lock().status).or_insert(0) += 1;
        }
        out
    }

    /// Subscribes to one session's events.
    pub(crate) fn subscribe(
        &self,
        name: &str,
    ) -> Result<(broadcast::Receiver<GatewayEvent>, Vec<GatewayEvent>), ApiError> {
        let s = self.get(name)?;
        let rx = s.events.subscribe();
        Ok((rx, snapshot(&s)))
    }

    /// Subscribes to the events of every session.
    pub(crate) fn subscribe_all(&self) -> (broadcast::Receiver<GatewayEvent>, Vec<GatewayEvent>) {
        let rx = self.inner.all_events.subscribe();
        let all: Vec<_> = self.sessions().values().cloned().collect();
        (rx, all.iter().flat_map(|s| snapshot(s)).collect())
    }

    /// The current QR code, or 409 when the session is not in `SCAN_QR_CODE`.
    pub(crate) fn qr(&self, name: &str) -> Result<QrState, ApiError> {
        let s = self.get(name)?;
        let st = s.lock();
        match (&st.qr, st.status) {
            (Some(qr), SessionStatus::ScanQrCode) => Ok(qr.clone()),
            (_, status) => Err(ApiError::conflict(
                "qr_not_available",
                format!("session {name:?} is {status}, a QR code exists only while SCAN_QR_CODE"),
            )),
        }
    }

    /// Creates a session (and starts it when asked).
    pub(crate) async fn create(&self, req: NewSession) -> Result<SessionView, ApiError> {
        if !valid_session_name(&req.name) {
            return Err(ApiError::bad_request(
                "invalid_session_name",
                "session names match ^[A-Za-z0-9_-]{1,64}$",
            ));
        }
        for w in &req.webhooks {
            validate_webhook(w)?;
        }
        let m = self.clone();
        self.on_rt(async move {
            let record = SessionRecord {
                name: req.name.clone(),
                created_at: now_rfc3339(),
                webhooks: req.webhooks,
                running: false,
                last_error: None,
                history: vec![StatusChange {
                    status: SessionStatus::Stopped,
                    at: now_rfc3339(),
                    reason: Some("created".into()),
                }],
            };
            let s = {
                let mut map = m.sessions();
                if map.contains_key(&req.name) {
                    return Err(ApiError::conflict(
                        "session_exists",
                        format!("a session named {:?} already exists", req.name),
                    ));
                }
                m.inner
                    .registry
                    .put(&record)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                let s = m.new_session(record);
                map.insert(req.name.clone(), s.clone());
                s
            };
            m.emit(&s, "session_created", json!({}));
            if req.start {
                let _g = s.ops.lock().await;
                m.start_locked(&s).await?;
            }
            Ok(view(&s))
        })
        .await
    }

    /// Starts a stopped or failed session.
    pub(crate) async fn start(&self, name: &str) -> Result<SessionView, ApiError> {
        let s = self.get(name)?;
        let m = self.clone();
        self.on_rt(async move {
            let _g = s.ops.lock().await;
            check_alive(&s)?;
            let status = s.lock().status;
            if matches!(
                status,
                SessionStatus::Starting | SessionStatus::ScanQrCode | SessionStatus::Working
            ) {
                return Err(ApiError::conflict(
                    "session_already_running",
                    format!("session {:?} is already running ({status})", s.name),
                ));
            }
            m.stop_locked(&s, true, None).await;
            m.start_locked(&s).await?;
            Ok(view(&s))
        })
        .await
    }

    /// Stops a session (keeps its login). Stopping a stopped session is a no-op.
    pub(crate) async fn stop(&self, name: &str) -> Result<SessionView, ApiError> {
        let s = self.get(name)?;
        let m = self.clone();
        self.on_rt(async move {
            let _g = s.ops.lock().await;
            check_alive(&s)?;
            m.stop_locked(&s, false, Some("stopped")).await;
            Ok(view(&s))
        })
        .await
    }

    /// Stops and starts a session, keeping its login.
    pub(crate) async fn restart(&self, name: &str) -> Result<SessionView, ApiError> {
        let s = self.get(name)?;
        let m = self.clone();
        self.on_rt(async move {
            let _g = s.ops.lock().await;
            check_alive(&s)?;
            m.stop_locked(&s, true, Some("restarting")).await;
            m.start_locked(&s).await?;
            Ok(view(&s))
        })
        .await
    }

    /// Logs out (the companion is removed and its keys wiped); a running session comes back
    /// in `SCAN_QR_CODE` with a new QR code.
    pub(crate) async fn logout(&self, name: &str) -> Result<SessionView, ApiError> {
        let s = self.get(name)?;
        let m = self.clone();
        self.on_rt(async move {
            let _g = s.ops.lock().await;
            check_alive(&s)?;
            let was_running = s.lock().record.running;
            let (link, pump) = detach(&s);
            if let Some(link) = &link {
                if let Err(e) = link.logout().await {
                    tracing::info!(session = %s.name, error = %e, "logout on the server failed; wiping locally");
                }
                link.disconnect().await;
            }
            if let Some(p) = pump {
                p.abort();
            }
            m.inner
                .connector
                .wipe(&s.name)
                .map_err(|e| ApiError::internal(format!("could not wipe the keys: {e}")))?;
            s.lock().me = None;
            m.set_status(&s, SessionStatus::Stopped, None, Some("logged out".into()));
            m.emit(&s, "logged_out", json!({ "reason": "logout requested" }));
            if was_running {
                m.start_locked(&s).await?;
            }
            Ok(view(&s))
        })
        .await
    }

    /// Stops a session, wipes its keys and forgets it.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let s = self.get(name)?;
        let m = self.clone();
        self.on_rt(async move {
            let _g = s.ops.lock().await;
            check_alive(&s)?;
            let (link, pump) = detach(&s);
            if let Some(link) = &link {
                link.disconnect().await;
            }
            if let Some(p) = pump {
                p.abort();
            }
            m.inner
                .registry
                .remove(&s.name)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            if let Err(e) = m.inner.connector.wipe(&s.name) {
                tracing::warn!(session = %s.name, error = %e, "could not wipe keys of deleted session");
            }
            {
                let mut st = s.lock();
                st.deleted = true;
                st.status = SessionStatus::Stopped;
            }
            m.sessions().remove(&s.name);
            m.emit(&s, "session_deleted", json!({}));
            s.lock().hooks.clear();
            Ok(())
        })
        .await
    }

    /// Validates a recipient through the client library's phone-number parser.
    pub(crate) fn parse_recipient(&self, to: &str) -> Result<String, ApiError> {
        self.inner
            .connector
            .parse_recipient(to)
            .map_err(ApiError::invalid_number)
    }

    fn working_link(&self, name: &str) -> Result<Arc<dyn Link>, ApiError> {
        let s = self.get(name)?;
        let st = s.lock();
        match (&st.link, st.status) {
            (Some(link), SessionStatus::Working) => Ok(link.clone()),
            (_, status) => Err(ApiError::conflict(
                "session_not_working",
                format!("session {name:?} is {status}; messages can be sent only while WORKING"),
            )),
        }
    }

    /// Sends a text message (the recipient is already parsed).
    pub(crate) async fn send_text(
        &self,
        name: &str,
        to: String,
        text: String,
    ) -> Result<Sent, ApiError> {
        let link = self.working_link(name)?;
        let r = self
            .on_rt(async move { Ok(link.send_text(&to, &text).await) })
            .await?;
        let sent = r.map_err(send_error)?;
        inc(&global().sent_text);
        Ok(sent)
    }

    /// Sends an image (the recipient is already parsed).
    pub(crate) async fn send_image(
        &self,
        name: &str,
        to: String,
        image: ImageToSend,
    ) -> Result<Sent, ApiError> {
        let link = self.working_link(name)?;
        let r = self
            .on_rt(async move { Ok(link.send_image(&to, image).await) })
            .await?;
        let sent = r.map_err(send_error)?;
        inc(&global().sent_image);
        Ok(sent)
    }

    /// Disconnects every session (their `running` flags stay, so they come back next time).
    pub(crate) async fn shutdown(&self) {
        let all: Vec<_> = self.sessions().values().cloned().collect();
        for s in all {
            let _g = s.ops.lock().await;
            let (link, pump) = detach(&s);
            if let Some(link) = link {
                link.disconnect().await;
            }
            if let Some(p) = pump {
                p.abort();
            }
        }
    }

    /// Starts the link of `s`; the caller holds `s.ops` and the session is not running.
    async fn start_locked(&self, s: &Arc<Session>) -> Result<(), ApiError> {
        let generation = {
            let mut st = s.lock();
            st.generation += 1;
            st.record.running = true;
            st.qr = None;
            st.generation
        };
        self.set_status(s, SessionStatus::Starting, None, Some("starting".into()));
        let (link, rx) = match self.inner.connector.open(&s.name) {
            Ok(x) => x,
            Err(e) => {
                inc(&global().session_errors);
                self.set_status(
                    s,
                    SessionStatus::Failed,
                    None,
                    Some(format!("could not open the session: {e}")),
                );
                return Ok(());
            }
        };
        let pump = self
            .inner
            .rt
            .spawn(pump(self.clone(), s.clone(), generation, rx, link.clone()));
        {
            let mut st = s.lock();
            st.link = Some(link.clone());
            st.pump = Some(pump);
        }
        if let Err(e) = link.connect().await {
            inc(&global().session_errors);
            self.set_status(
                s,
                SessionStatus::Failed,
                Some(generation),
                Some(format!("could not connect: {e}")),
            );
        }
        Ok(())
    }

    /// Stops the link of `s`; the caller holds `s.ops`.
    async fn stop_locked(&self, s: &Arc<Session>, keep_running: bool, reason: Option<&str>) {
        let (link, pump) = detach(s);
        if !keep_running {
            let mut st = s.lock();
            st.record.running = false;
        }
        if let Some(link) = link {
            link.disconnect().await;
        }
        if let Some(p) = pump {
            p.abort();
        }
        self.set_status(s, SessionStatus::Stopped, None, reason.map(str::to_string));
        if reason.is_some() {
            // Persist the `running` flag even when the status did not change.
            let rec = s.lock().record.clone();
            self.persist(&rec);
        }
    }

    fn persist(&self, rec: &SessionRecord) {
        if let Err(e) = self.inner.registry.put(rec) {
            tracing::error!(session = %rec.name, error = %e, "could not persist session");
        }
    }

    /// Moves `s` to `status` (ignored when `generation` is given and stale), records it in the
    /// history and persists it, then emits a `status` event.
    fn set_status(
        &self,
        s: &Arc<Session>,
        status: SessionStatus,
        generation: Option<u64>,
        reason: Option<String>,
    ) {
        let data = {
            let mut st = s.lock();
            if st.deleted || generation.is_some_and(|g| g != st.generation) {
                return;
            }
            if st.status == status {
                return;
            }
            st.status = status;
            if status != SessionStatus::ScanQrCode {
                st.qr = None;
            }
            let at = now_rfc3339();
            if status == SessionStatus::Failed {
                st.record.last_error = Some(LastError {
                    at: at.clone(),
                    message: reason.clone().unwrap_or_else(|| "failed".into()),
                });
            }
            st.record.push_history(StatusChange {
                status,
                at,
                reason: reason.clone(),
            });
            let rec = st.record.clone();
            self.persist(&rec);
            json!({
                "status": status,
                "reason": reason,
                "me": st.me.as_ref().map(me_view),
            })
        };
        tracing::info!(session = %s.name, %status, "status changed");
        self.emit(s, "status", data);
    }

    fn emit(&self, s: &Arc<Session>, event: &str, data: Value) {
        let ev = GatewayEvent {
            event: event.to_string(),
            session: s.name.clone(),
            at: now_rfc3339(),
            data,
        };
        match serde_json::to_vec(&ev) {
            Ok(body) => {
                let body = Arc::new(body);
                for h in &s.lock().hooks {
                    h.offer(event, &s.name, &body);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode event"),
        }
        let _ = s.events.send(ev.clone());
        let _ = self.inner.all_events.send(ev);
    }
}

/// Bumps the generation (so the old pump's events are ignored) and takes link and pump.
fn detach(s: &Session) -> (Option<Arc<dyn Link>>, Option<JoinHandle<()>>) {
    let mut st = s.lock();
    st.generation += 1;
    st.qr = None;
    (st.link.take(), st.pump.take())
}

fn check_alive(s: &Session) -> Result<(), ApiError> {
    if s.lock().deleted {
        Err(ApiError::session_not_found(&s.name))
    } else {
        Ok(())
    }
}

fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::InvalidRecipient(m) => ApiError::invalid_number(m),
        SendError::NotConnected(m) => ApiError::conflict("session_not_working", m),
        SendError::InvalidInput(m) => ApiError::bad_request("invalid_request", m),
        other => {
            inc(&global().send_failures);
            ApiError::new(
                actix_web::http::StatusCode::BAD_GATEWAY,
                "send_failed",
                other.to_string(),
            )
        }
    }
}

fn validate_webhook(w: &WebhookConfig) -> Result<(), ApiError> {
    let ok = reqwest::Url::parse(&w.url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_webhook",
            format!("webhook URL {:?} is not an http(s) URL", w.url),
        ))
    }
}

fn me_view(me: &LinkMe) -> MeView {
    MeView {
        jid: me.jid.clone(),
        push_name: me.push_name.clone(),
    }
}

fn view(s: &Session) -> SessionView {
    let st = s.lock();
    SessionView {
        name: s.name.clone(),
        status: st.status,
        me: st.me.as_ref().map(me_view),
        running: st.record.running,
        qr_expires_at: st
            .qr
            .as_ref()
            .filter(|_| st.status == SessionStatus::ScanQrCode)
            .map(|q| rfc3339(q.expires_at)),
        last_error: st.record.last_error.clone(),
        history: st.record.history.clone(),
        webhooks: st
            .record
            .webhooks
            .iter()
            .map(|w| WebhookView {
                url: w.url.clone(),
                events: w.events.clone(),
                signed: w.secret.is_some(),
            })
            .collect(),
        created_at: st.record.created_at.clone(),
    }
}

/// The events a new subscriber gets first: the current status (and QR code).
fn snapshot(s: &Session) -> Vec<GatewayEvent> {
    let st = s.lock();
    let mut out = vec![GatewayEvent {
        event: "status".into(),
        session: s.name.clone(),
        at: now_rfc3339(),
        data: json!({ "status": st.status, "reason": null, "me": st.me.as_ref().map(me_view) }),
    }];
    if let (Some(qr), SessionStatus::ScanQrCode) = (&st.qr, st.status) {
        out.push(GatewayEvent {
            event: "qr".into(),
            session: s.name.clone(),
            at: now_rfc3339(),
            data: json!({ "qr": qr.code, "expires_at": rfc3339(qr.expires_at) }),
        });
    }
    out
}

/// Forwards one link's events into the session until the link is replaced.
async fn pump(
    m: Manager,
    s: Arc<Session>,
    generation: u64,
    mut rx: mpsc::Receiver<LinkEvent>,
    link: Arc<dyn Link>,
) {
    let current = |s: &Session| {
        let st = s.lock();
        st.generation == generation && !st.deleted
    };
    while let Some(ev) = rx.recv().await {
        if !current(&s) {
            break;
        }
        match ev {
            LinkEvent::Status(ls) => {
                if ls == LinkStatus::Connected {
                    s.lock().me = link.me();
                }
                let reason = match ls {
                    LinkStatus::LoggedOut => Some("logged out".to_string()),
                    LinkStatus::Disconnected => Some("disconnected, reconnecting".to_string()),
                    _ => None,
                };
                if ls == LinkStatus::LoggedOut {
                    inc(&global().session_errors);
                }
                m.set_status(&s, ls.to_session_status(), Some(generation), reason);
            }
            LinkEvent::Qr { code, expires_at } => {
                s.lock().qr = Some(QrState {
                    code: code.clone(),
                    expires_at,
                });
                m.set_status(&s, SessionStatus::ScanQrCode, Some(generation), None);
                m.emit(
                    &s,
                    "qr",
                    json!({ "qr": code, "expires_at": rfc3339(expires_at) }),
                );
            }
            LinkEvent::QrExhausted => {
                inc(&global().session_errors);
                m.set_status(
                    &s,
                    SessionStatus::Failed,
                    Some(generation),
                    Some("the QR code was not scanned in time".into()),
                );
            }
            LinkEvent::Paired { jid } => m.emit(&s, "paired", json!({ "jid": jid })),
            LinkEvent::Message(v) => {
                inc(&global().received);
                m.emit(&s, "message", v);
            }
            LinkEvent::Receipt(v) => m.emit(&s, "receipt", v),
            LinkEvent::Disconnected { reason } => {
                m.emit(&s, "disconnected", json!({ "reason": reason }));
            }
            LinkEvent::LoggedOut { reason } => {
                s.lock().me = None;
                inc(&global().session_errors);
                m.emit(&s, "logged_out", json!({ "reason": reason }));
                m.set_status(
                    &s,
                    SessionStatus::Failed,
                    Some(generation),
                    Some(format!("logged out: {reason}")),
                );
            }
        }
    }
}
