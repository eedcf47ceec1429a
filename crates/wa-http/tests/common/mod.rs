//! Test harness: a gateway on 127.0.0.1:0 over a scripted connector (a test double of
//! wa-client that lets a test play the phone), plus a local webhook receiver.
#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use wa_client::store::SledDatabase;
use wa_http::backend::{
    BoxFuture, Connector, ImageToSend, Link, LinkEvent, LinkMe, LinkStatus, SendError, Sent,
};
use wa_http::{Gateway, GatewayOptions, REGISTRY_NAMESPACE};

/// One message the scripted connector "sent".
#[derive(Debug, Clone)]
pub struct SentRecord {
    pub session: String,
    pub to: String,
    pub text: Option<String>,
    pub image: Option<ImageToSend>,
}

#[derive(Default)]
struct ScriptState {
    paired: HashSet<String>,
    links: HashMap<String, Arc<ScriptLink>>,
    sent: Vec<SentRecord>,
    wiped: Vec<String>,
    opened: Vec<String>,
}

/// A connector whose "phone" is driven by the test.
#[derive(Default)]
pub struct Scripted {
    state: Mutex<ScriptState>,
    qr_counter: AtomicU64,
    msg_counter: AtomicU64,
}

pub struct ScriptLink {
    name: String,
    script: Arc<Scripted>,
    tx: mpsc::Sender<LinkEvent>,
    connected: AtomicBool,
}

impl Scripted {
    pub fn new() -> Arc<Scripted> {
        Arc::new(Scripted::default())
    }

    fn link(&self, name: &str) -> Arc<ScriptLink> {
        self.state
            .lock()
            .unwrap()
            .links
            .get(name)
            .cloned()
            .expect("no link")
    }

    fn next_qr(&self, name: &str) -> LinkEvent {
        let n = self.qr_counter.fetch_add(1, Ordering::SeqCst);
        LinkEvent::Qr {
            code: format!("2@ref-{name}-{n},noise,identity,secret,1"),
            expires_at: SystemTime::now() + Duration::from_secs(60),
        }
    }

    /// The phone scans the QR of `name`.
    pub async fn scan(&self, name: &str) {
        let link = self.link(name);
        self.state.lock().unwrap().paired.insert(name.to_string());
        link.connected.store(true, Ordering::SeqCst);
        link.tx
            .send(LinkEvent::Paired {
                jid: "15550001111:1@s.whatsapp.net".into(),
            })
            .await
            .unwrap();
        link.tx
            .send(LinkEvent::Status(LinkStatus::Connected))
            .await
            .unwrap();
    }

    /// The QR code of `name` rotates.
    pub async fn rotate_qr(&self, name: &str) {
        let link = self.link(name);
        link.tx.send(self.next_qr(name)).await.unwrap();
    }

    /// The phone unlinks `name`.
    pub async fn unlink(&self, name: &str) {
        let link = self.link(name);
        self.state.lock().unwrap().paired.remove(name);
        link.connected.store(false, Ordering::SeqCst);
        link.tx
            .send(LinkEvent::LoggedOut {
                reason: "device removed".into(),
            })
            .await
            .unwrap();
        link.tx
            .send(LinkEvent::Status(LinkStatus::LoggedOut))
            .await
            .unwrap();
    }

    /// A message arrives for `name`.
    pub async fn incoming(&self, name: &str, v: serde_json::Value) {
        self.link(name)
            .tx
            .send(LinkEvent::Message(v))
            .await
            .unwrap();
    }

    pub fn sent(&self) -> Vec<SentRecord> {
        self.state.lock().unwrap().sent.clone()
    }

    pub fn wiped(&self) -> Vec<String> {
        self.state.lock().unwrap().wiped.clone()
    }

    pub fn opened(&self) -> Vec<String> {
        self.state.lock().unwrap().opened.clone()
    }

    pub fn is_paired(&self, name: &str) -> bool {
        self.state.lock().unwrap().paired.contains(name)
    }
}

/// `Arc<Scripted>` as a `Connector`.
pub struct ScriptConnector(pub Arc<Scripted>);

impl Connector for ScriptConnector {
    fn open(&self, name: &str) -> Result<(Arc<dyn Link>, mpsc::Receiver<LinkEvent>), String> {
        let (tx, rx) = mpsc::channel(64);
        let link = Arc::new(ScriptLink {
            name: name.to_string(),
            script: self.0.clone(),
            tx,
            connected: AtomicBool::new(false),
        });
        let mut st = self.0.state.lock().unwrap();
        st.links.insert(name.to_string(), link.clone());
        st.opened.push(name.to_string());
        Ok((link, rx))
    }

    fn wipe(&self, name: &str) -> Result<(), String> {
        let mut st = self.0.state.lock().unwrap();
        st.paired.remove(name);
        st.wiped.push(name.to_string());
        Ok(())
    }

    fn parse_recipient(&self, input: &str) -> Result<String, String> {
        wa_client::parse_phone_number(input)
            .map(|j| j.to_string())
            .map_err(|e| e.to_string())
    }
}

impl Link for ScriptLink {
    fn connect(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let paired = self.script.is_paired(&self.name);
            let tx = self.tx.clone();
            let qr = self.script.next_qr(&self.name);
            if paired {
                self.connected.store(true, Ordering::SeqCst);
            }
            tokio::spawn(async move {
                let _ = tx.send(LinkEvent::Status(LinkStatus::Connecting)).await;
                if paired {
                    let _ = tx.send(LinkEvent::Status(LinkStatus::Connected)).await;
                } else {
                    let _ = tx.send(LinkEvent::Status(LinkStatus::WaitingForQr)).await;
                    let _ = tx.send(qr).await;
                }
            });
            Ok(())
        })
    }

    fn disconnect(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.connected.store(false, Ordering::SeqCst);
        })
    }

    fn logout(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.script.state.lock().unwrap().paired.remove(&self.name);
            self.connected.store(false, Ordering::SeqCst);
            let _ = self
                .tx
                .send(LinkEvent::LoggedOut {
                    reason: "logout".into(),
                })
                .await;
            Ok(())
        })
    }

    fn me(&self) -> Option<LinkMe> {
        self.script.is_paired(&self.name).then(|| LinkMe {
            jid: "15550001111:1@s.whatsapp.net".into(),
            push_name: "Test Phone".into(),
        })
    }

    fn send_text<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            if !self.connected.load(Ordering::SeqCst) {
                return Err(SendError::NotConnected("not connected".into()));
            }
            let n = self.script.msg_counter.fetch_add(1, Ordering::SeqCst);
            self.script.state.lock().unwrap().sent.push(SentRecord {
                session: self.name.clone(),
                to: to.to_string(),
                text: Some(text.to_string()),
                image: None,
            });
            Ok(Sent {
                id: format!("3EB0{n:016X}"),
                timestamp: 1_700_000_000 + n,
                to: to.to_string(),
            })
        })
    }

    fn send_image<'a>(
        &'a self,
        to: &'a str,
        image: ImageToSend,
    ) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            if !self.connected.load(Ordering::SeqCst) {
                return Err(SendError::NotConnected("not connected".into()));
            }
            let n = self.script.msg_counter.fetch_add(1, Ordering::SeqCst);
            self.script.state.lock().unwrap().sent.push(SentRecord {
                session: self.name.clone(),
                to: to.to_string(),
                text: None,
                image: Some(image),
            });
            Ok(Sent {
                id: format!("3EB0{n:016X}"),
                timestamp: 1_700_000_000 + n,
                to: to.to_string(),
            })
        })
    }
}

/// A plain HTTP client (rustls needs its provider installed once per process).
pub fn http() -> reqwest::Client {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A running gateway.
pub struct Harness {
    pub base: String,
    pub http: reqwest::Client,
    pub gateway: Gateway,
    server: actix_web::dev::ServerHandle,
    db: SledDatabase,
}

pub async fn start(dir: &Path, connector: Arc<dyn Connector>, opts: GatewayOptions) -> Harness {
    start_db(
        SledDatabase::open(dir.join("wa.sled")).unwrap(),
        connector,
        opts,
    )
    .await
}

/// A gateway whose records live in `db` (the one database of the process).
pub async fn start_db(
    db: SledDatabase,
    connector: Arc<dyn Connector>,
    opts: GatewayOptions,
) -> Harness {
    let registry = Arc::new(db.session_store(REGISTRY_NAMESPACE).unwrap());
    let gateway = Gateway::open(connector, registry, opts).unwrap();
    let g = gateway.clone();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new().configure(move |c| g.configure(c))
    })
    .workers(1)
    .shutdown_timeout(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Harness {
        base: format!("http://{addr}"),
        http: http(),
        gateway,
        server: handle,
        db,
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.http.post(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn status_of(&self, name: &str) -> String {
        let v: serde_json::Value = self
            .get(&format!("/api/sessions/{name}"))
            .await
            .json()
            .await
            .unwrap();
        v["status"].as_str().unwrap_or("").to_string()
    }

    /// Polls until the session reaches `status` (panics after 10 s).
    pub async fn wait_status(&self, name: &str, status: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v: serde_json::Value = self
                .get(&format!("/api/sessions/{name}"))
                .await
                .json()
                .await
                .unwrap();
            if v["status"] == status {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "session {name} never reached {status}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server, disconnects the sessions and closes the database.
    pub async fn stop(self) {
        self.server.stop(true).await;
        self.gateway.shutdown().await;
        self.db.flush().unwrap();
        drop(self.gateway);
        drop(self.db);
        // Let the session tasks that still hold database handles finish.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts an error response: status and `error.code`.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str) {
    let got = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.text().await.unwrap();
    assert_eq!(got, status, "status for {code}: body {body}");
    assert!(
        ctype.starts_with("application/json"),
        "content-type {ctype} for {body}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], code, "body {body}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A local webhook receiver that fails the first `fail_first` requests with 500.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Hook>>>,
    pub attempts: Arc<AtomicU64>,
    handle: actix_web::dev::ServerHandle,
}

pub async fn receiver(fail_first: u64) -> Receiver {
    let got: Arc<Mutex<Vec<Hook>>> = Arc::default();
    let attempts = Arc::new(AtomicU64::new(0));
    let (g, a) = (got.clone(), attempts.clone());
    let server = HttpServer::new(move || {
        let (g, a) = (g.clone(), a.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (g, a) = (g.clone(), a.clone());
            async move {
                let n = a.fetch_add(1, Ordering::SeqCst);
                if n < fail_first {
                    return HttpResponse::InternalServerError().finish();
                }
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_ascii_lowercase(),
                            v.to_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                g.lock().unwrap().push(Hook {
                    headers,
                    body: body.to_vec(),
                });
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Receiver {
        url: format!("http://{addr}/hook"),
        got,
        attempts,
        handle,
    }
}

impl Receiver {
    /// Waits until a delivered event satisfies `pred`.
    pub async fn wait_for(&self, pred: impl Fn(&serde_json::Value) -> bool) -> Hook {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .got
                .lock()
                .unwrap()
                .iter()
                .find(|h| {
                    serde_json::from_slice::<serde_json::Value>(&h.body)
                        .map(|v| pred(&v))
                        .unwrap_or(false)
                })
                .cloned();
            if let Some(h) = found {
                return h;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "webhook never delivered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Reads SSE frames from a streaming response.
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    pub fn new(resp: reqwest::Response) -> Sse {
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (name, data JSON), skipping comments; panics after 10 s.
    pub async fn next(&mut self) -> (String, serde_json::Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let frame: String = self.buf[..i].to_string();
                self.buf.drain(..i + 2);
                let mut event = None;
                let mut data = None;
                for line in frame.lines() {
                    if let Some(e) = line.strip_prefix("event: ") {
                        event = Some(e.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(d).unwrap());
                    }
                }
                if let (Some(e), Some(d)) = (event, data) {
                    return (e, d);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .expect("no SSE event in time")
                .unwrap()
                .expect("SSE stream ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skips events until one matches.
    pub async fn until(
        &mut self,
        pred: impl Fn(&str, &serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            let (e, d) = self.next().await;
            if pred(&e, &d) {
                return d;
            }
        }
    }
}

/// A real PNG (a QR code rendered by wa-client).
pub fn png() -> Vec<u8> {
    wa_client::qr::to_png("hello")
}
