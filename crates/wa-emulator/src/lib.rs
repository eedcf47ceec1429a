//! An offline emulator of the WhatsApp multi-device server side, with simulated phones.
//!
//! [`Emulator::start`] binds three listeners — the WebSocket chat endpoint (`/ws/chat`, any
//! query string, with or without `Origin`), the control API plus plain-HTTP media host, and the
//! HTTPS media host — mints a Noise root key, a certificate chain for its Noise static key and a
//! self-signed media certificate, and returns a handle. Dropping the handle (or
//! [`Emulator::shutdown`]) stops everything. With a state directory, accounts, devices, the
//! phones' Signal state and the root key survive restarts.
//!
//! ```
//! use wa_emulator::{Emulator, EmulatorConfig};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 127.0.0.1 with free ports; `.with_state_dir(dir)` keeps accounts across restarts.
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! let ana = emu.create_account("15550001111", "Ana").await?;
//! emu.create_account("15550002222", "Ben").await?;
//! assert_eq!(ana.jid, "15550001111@s.whatsapp.net");
//!
//! // What a client is configured with instead of WhatsApp's endpoints:
//! println!("ws {} root {}", emu.ws_url(), hex::encode(emu.root_public_key()));
//! // ...and `emu.tls_cert_pem()` to trust for media. When the client shows a QR code, the
//! // account's phone links it: `emu.phone("15550001111").scan(&qr).await?`.
//!
//! // The phones are Signal parties of their own: Ana's phone encrypts to every device of
//! // Ben's account, Ben's phone decrypts into its inbox.
//! let id = emu.phone("15550001111").send_text("15550002222", "hi Ben").await?;
//! let got = loop {
//!     if let Some(m) = emu.phone("15550002222").inbox().await.into_iter().find(|m| m.id == id) {
//!         break m;
//!     }
//!     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
//! };
//! assert_eq!((got.from.as_str(), got.text.as_deref()), (ana.jid.as_str(), Some("hi Ben")));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # As a process (for other languages and CI)
//!
//! The `wa-emulator` binary (`cargo run --release -p wa-emulator -- --state-dir DIR`) takes
//! `--listen`, `--media-listen`, `--media-tls-listen` (port 0 = any free port, the default) and
//! `--state-dir`, prints ONE JSON line on stdout once it listens (logs go to stderr) and runs
//! until SIGINT/SIGTERM:
//!
//! ```text
//! {"ws_url":"ws://127.0.0.1:P/ws/chat","control_url":"http://127.0.0.1:Q","media_url":"http://127.0.0.1:Q","media_tls_url":"https://127.0.0.1:R","root_public_key":"<64 hex>"}
//! ```
//!
//! Drive it with the control API below; a client under test uses `ws_url`, `root_public_key`
//! and the PEM of `GET /control/tls_cert`.
//!
//! # Control API (design.md §3.1) — the same operations as this library's methods
//!
//! | HTTP | library |
//! |---|---|
//! | `POST /control/accounts` `{"phone","push_name"}` -> 201 `{"jid","lid"}` | [`Emulator::create_account`] |
//! | `GET /control/accounts[/{phone}]` | [`Emulator::accounts`], [`Emulator::account`], [`Phone::info`] |
//! | `POST /control/accounts/{phone}/scan` `{"qr"}` -> `{"device_jid"}` | [`Phone::scan`] |
//! | `POST /control/accounts/{phone}/send` `{"to","text"}` or `{"to","image":{"base64","mimetype"},"caption"}` -> `{"id"}` | [`Phone::send_text`], [`Phone::send_image`] |
//! | `POST /control/accounts/{phone}/link_code` `{"code"}` -> `{"device_jid"}` (phone-number pairing) | [`Phone::enter_link_code`] |
//! | `GET /control/accounts/{phone}/inbox` | [`Phone::inbox`] |
//! | `DELETE /control/accounts/{phone}/devices/{device}` | [`Phone::unlink`] |
//! | `POST /control/accounts/{phone}/devices/{device}/kick` `{"code"}` | [`Phone::kick`] |
//! | `POST /control/faults` `{"drop_connections":true}` | [`Emulator::drop_connections`] |
//! | `POST /control/faults` `{"corrupt_next_message_to":"<device jid>"}` (flips a byte of the next `<enc>` routed to that device: it fails to decrypt and sends a retry receipt) | [`Emulator::corrupt_next_message_to`] |
//! | `GET /control/tls_cert` -> `{"pem"}` | [`Emulator::tls_cert_pem`] |
//! | `GET /control/info` (the startup line) | [`Emulator::startup_info`] |
//!
//! Errors are `{"error":{"code","message"}}` with a 4xx status ([`EmulatorError::code`]).
//! The media host serves `POST /mms/{type}/{token}?auth=..` (token = base64url SHA-256 of the
//! body, padded or not) and `GET <direct_path>` (query ignored) over HTTP and HTTPS.
//!
//! # Protocol
//!
//! The wire protocol is the real one: intro header (optionally behind an edge-routing
//! pre-intro), Noise XX responder (a Noise IK resume is answered with XXfallback), binary nodes.
//! Registration sends `<pair-device>` with 6 refs (the socket lives 60 + 5 × 20 s); a scan sends
//! `<pair-success>` with an HMAC'd, account-signed ADV identity, checks `<pair-device-sign>` and
//! ends with stream error 515; pairing with a phone number (`link_code_companion_reg`
//! companion_hello / companion_finish, the phone entering the code) derives the new ADV secret
//! and continues the same way. Logins of unknown or unlinked devices (or with another Noise key)
//! get `<failure reason="401"/>`. After `<success>`: prekey count/upload/digest/rotate, bundle
//! fetch (one-time prekeys consumed once, `encrypt` notification below 5), usync (devices with
//! key indexes and a signed key-index list, LID, contact), `media_conn`, app state (empty
//! collections), props/abt/privacy/blocklist, pings, passive/active with offline delivery and
//! `<ib><offline count>`, logout (`remove-companion-device`). Messages fan out one `<enc>` per
//! device (`sender_lid`/`sender_pn`, `recipient` on own-device copies), are queued for offline
//! devices until acked, acked to the sender with the server time; receipts are routed back to
//! the sending device. Each account's device 0 is a simulated phone with its own Signal
//! identity: it decrypts into its inbox (downloading and verifying media), answers retry
//! receipts, sends with DeviceSentMessage copies, and after a companion's first login shares an
//! app-state key and an initial history-sync notification.
#![warn(missing_docs)]

mod conn;
mod error;
mod http;
mod iq;
mod linkcode;
mod phone;
mod route;
mod state;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng as _;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use wa_signal::KeyPair;

pub use crate::error::EmulatorError;
pub use crate::phone::InboxMessage;
use crate::state::{Account, ConnCommand, MediaBlob, Store, normalize_phone, now_secs};

/// Where the emulator listens and keeps its state.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// WebSocket listener (`/ws/chat`). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Control API and plain-HTTP media host. Port 0 picks a free port.
    pub media_listen: SocketAddr,
    /// HTTPS media host. Port 0 picks a free port.
    pub media_tls_listen: SocketAddr,
    /// Directory for the persistent account snapshot; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        EmulatorConfig {
            listen: lo,
            media_listen: lo,
            media_tls_listen: lo,
            state_dir: None,
        }
    }
}

impl EmulatorConfig {
    /// Sets the WebSocket listen address.
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// Sets the control/media HTTP listen address.
    pub fn with_media_listen(mut self, addr: SocketAddr) -> Self {
        self.media_listen = addr;
        self
    }
    /// Sets the HTTPS media listen address.
    pub fn with_media_tls_listen(mut self, addr: SocketAddr) -> Self {
        self.media_tls_listen = addr;
        self
    }
    /// Persists accounts in this directory.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }
}

/// The emulator's addresses and root key: the JSON startup line of the binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StartupInfo {
    /// `ws://127.0.0.1:P/ws/chat`
    pub ws_url: String,
    /// `http://127.0.0.1:Q`
    pub control_url: String,
    /// `http://127.0.0.1:Q` (the same listener serves media)
    pub media_url: String,
    /// `https://127.0.0.1:R`
    pub media_tls_url: String,
    /// The Noise root public key, 64 hex digits.
    pub root_public_key: String,
}

/// A created account: its phone-number JID and LID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountInfo {
    /// `<phone>@s.whatsapp.net`
    pub jid: String,
    /// `<lid>@lid`
    pub lid: String,
}

/// One device of an account as seen by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceState {
    /// Device number (0 = the phone).
    pub device: u32,
    /// Device JID (`<phone>[:<device>]@s.whatsapp.net`).
    pub jid: String,
    /// Device LID (`<lid>[:<device>]@lid`).
    pub lid: String,
    /// Whether the device has a live, logged-in connection (the phone always does).
    pub connected: bool,
    /// Platform or OS name the companion registered with (`phone` for device 0).
    pub platform: String,
    /// Stanzas queued for this device while it is offline.
    pub queued: usize,
}

/// An account, its devices and whether each is connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountState {
    /// The phone number.
    pub phone: String,
    /// `<phone>@s.whatsapp.net`
    pub jid: String,
    /// `<lid>@lid`
    pub lid: String,
    /// The push name.
    pub push_name: String,
    /// Device 0 and every linked companion.
    pub devices: Vec<DeviceState>,
}

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The Noise root and server static keys: fresh in memory, or kept in `<state_dir>/keys.json`
/// so that clients configured with the root key keep working across restarts.
fn load_or_make_keys(dir: Option<&std::path::Path>) -> Result<(KeyPair, KeyPair), EmulatorError> {
    #[derive(Serialize, Deserialize)]
    struct Keys {
        root_private: String,
        server_static_private: String,
    }
    let make = || (KeyPair::generate(&mut OsRng), KeyPair::generate(&mut OsRng));
    let Some(dir) = dir else { return Ok(make()) };
    let path = dir.join("keys.json");
    let perr =
        |e: &dyn std::fmt::Display| EmulatorError::Persistence(format!("{}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let k: Keys = serde_json::from_slice(&bytes).map_err(|e| perr(&e))?;
            let key = |h: &str| -> Result<KeyPair, EmulatorError> {
                let b: [u8; 32] = hex::decode(h)
                    .map_err(|e| perr(&e))?
                    .try_into()
                    .map_err(|_| perr(&"a key is not 32 bytes"))?;
                Ok(KeyPair::from_private(wa_signal::PrivateKey::from_bytes(b)))
            };
            Ok((key(&k.root_private)?, key(&k.server_static_private)?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (root, st) = make();
            let k = Keys {
                root_private: hex::encode(root.private.to_bytes()),
                server_static_private: hex::encode(st.private.to_bytes()),
            };
            let json = serde_json::to_vec_pretty(&k).map_err(|e| perr(&e))?;
            let tmp = dir.join("keys.json.tmp");
            std::fs::write(&tmp, json).map_err(|e| perr(&e))?;
            std::fs::rename(&tmp, &path).map_err(|e| perr(&e))?;
            Ok((root, st))
        }
        Err(e) => Err(perr(&e)),
    }
}

/// Shared internals of a running emulator.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) root: KeyPair,
    pub(crate) server_static: KeyPair,
    /// Serialized `CertChain` (intermediate signed by `root`, leaf = `server_static`).
    pub(crate) cert_chain: Vec<u8>,
    pub(crate) ws_addr: SocketAddr,
    pub(crate) http_addr: SocketAddr,
    pub(crate) https_addr: SocketAddr,
    pub(crate) tls_pem: String,
    pub(crate) media_auth: String,
    next_conn_id: AtomicU64,
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
}

/// A running emulator. Dropping it stops every listener and connection.
pub struct Emulator {
    inner: Arc<Inner>,
    _tasks: Vec<AbortOnDrop>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("ws_url", &self.ws_url())
            .field("control_url", &self.control_url())
            .finish()
    }
}

impl Emulator {
    /// Binds the listeners, mints the keys and certificates and starts serving.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let store = Store::open(config.state_dir.as_deref())?;
        let ws = TcpListener::bind(config.listen).await?;
        let http = TcpListener::bind(config.media_listen).await?;
        let https = TcpListener::bind(config.media_tls_listen).await?;
        let https_addr = https.local_addr()?;
        let cert = tls::mint_media_cert(https_addr.ip())?;
        let mut rng = OsRng;
        let (root, server_static) = load_or_make_keys(config.state_dir.as_deref())?;
        let intermediate = KeyPair::generate(&mut rng);
        let now = now_secs();
        let cert_chain = wa_proto::cert::CertChainBuilder::new(
            now.saturating_sub(86_400),
            now + 10 * 365 * 86_400,
        )
        .mint(
            &root.private,
            &intermediate,
            &server_static.public,
            &mut rng,
        );
        let mut auth = [0u8; 24];
        rng.fill(&mut auth);
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            store,
            root,
            server_static,
            cert_chain,
            ws_addr: ws.local_addr()?,
            http_addr: http.local_addr()?,
            https_addr,
            tls_pem: cert.pem,
            media_auth: base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                auth,
            ),
            next_conn_id: AtomicU64::new(1),
            shutdown,
        });
        let mut tasks = Vec::new();
        let router = http::router(inner.clone());
        let r1 = router.clone();
        tasks.push(AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = axum::serve(http, r1).await {
                tracing::error!(error = %e, "control/media HTTP server stopped");
            }
        })));
        let tls_listener = tls::TlsListener::new(https, cert.acceptor)?;
        tasks.push(AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = axum::serve(tls_listener, router).await {
                tracing::error!(error = %e, "media HTTPS server stopped");
            }
        })));
        if inner.store.is_persistent() {
            let flush_inner = inner.clone();
            tasks.push(AbortOnDrop(tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    let i = flush_inner.clone();
                    let _ = tokio::task::spawn_blocking(move || i.store.flush_if_dirty()).await;
                }
            })));
        }
        let ws_inner = inner.clone();
        tasks.push(AbortOnDrop(tokio::spawn(async move {
            conn::accept_loop(ws_inner, ws).await;
        })));
        tracing::info!(ws = %inner.ws_addr, http = %inner.http_addr, https = %inner.https_addr, "wa-emulator listening");
        Ok(Emulator {
            inner,
            _tasks: tasks,
        })
    }

    /// Stops every listener and closes every connection.
    pub async fn shutdown(self) {
        self.inner.shutdown.send_replace(true);
        drop(self);
        tokio::task::yield_now().await;
    }

    /// `ws://127.0.0.1:P/ws/chat`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.inner.ws_addr)
    }
    /// `http://127.0.0.1:Q`
    pub fn control_url(&self) -> String {
        format!("http://{}", self.inner.http_addr)
    }
    /// `http://127.0.0.1:Q` (media over plain HTTP, same listener as the control API).
    pub fn media_url(&self) -> String {
        self.control_url()
    }
    /// `https://127.0.0.1:R`
    pub fn media_tls_url(&self) -> String {
        format!("https://{}", self.inner.https_addr)
    }
    /// The Noise root public key that signs the server certificate chain.
    pub fn root_public_key(&self) -> [u8; 32] {
        *self.inner.root.public.as_djb()
    }
    /// PEM of the media host's self-signed HTTPS certificate.
    pub fn tls_cert_pem(&self) -> String {
        self.inner.tls_pem.clone()
    }
    /// The media auth token that `media_conn` hands out (uploads must carry it as `?auth=`).
    pub fn media_auth_token(&self) -> String {
        self.inner.media_auth.clone()
    }
    /// The JSON startup line of the binary.
    pub fn startup_info(&self) -> StartupInfo {
        self.inner.startup_info()
    }

    /// Creates an account whose phone (device 0) has its own Signal identity and prekeys.
    pub async fn create_account(
        &self,
        phone: &str,
        push_name: &str,
    ) -> Result<AccountInfo, EmulatorError> {
        self.inner.create_account(phone, push_name)
    }

    /// The account, its devices and whether each is connected.
    pub async fn account(&self, phone: &str) -> Result<AccountState, EmulatorError> {
        self.inner.account_state(phone)
    }

    /// Every account.
    pub async fn accounts(&self) -> Vec<AccountState> {
        self.inner.list_accounts()
    }

    /// The simulated primary device of that account.
    pub fn phone(&self, phone: &str) -> Phone {
        Phone {
            inner: self.inner.clone(),
            phone: phone.strip_prefix('+').unwrap_or(phone).to_owned(),
        }
    }

    /// Closes every connection (fault injection). Returns how many were closed.
    pub async fn drop_connections(&self) -> usize {
        self.inner.drop_connections()
    }

    /// Fault injection: flips one byte in the ciphertext of the next `<enc>` routed to the
    /// device `device_jid` (`phone:device@s.whatsapp.net`, `lid:device@lid`, or without
    /// `:device` for the phone itself), so that it fails to decrypt that message (and asks for
    /// a retry). Armed once per device; later messages are untouched.
    pub async fn corrupt_next_message_to(&self, device_jid: &str) -> Result<(), EmulatorError> {
        self.inner.corrupt_next_message_to(device_jid)
    }

    /// The devices (`phone:device@s.whatsapp.net`) whose
    /// [`corrupt_next_message_to`](Emulator::corrupt_next_message_to) fault is armed and has
    /// not fired yet, sorted.
    pub async fn armed_corruptions(&self) -> Vec<String> {
        let st = self.inner.store.lock();
        let mut v: Vec<String> = st
            .corrupt_next
            .iter()
            .map(|(phone, device)| match device {
                0 => format!("{phone}@s.whatsapp.net"),
                d => format!("{phone}:{d}@s.whatsapp.net"),
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
        self.inner.store.flush_if_dirty();
    }
}

impl Inner {
    pub(crate) fn startup_info(&self) -> StartupInfo {
        StartupInfo {
            ws_url: format!("ws://{}/ws/chat", self.ws_addr),
            control_url: format!("http://{}", self.http_addr),
            media_url: format!("http://{}", self.http_addr),
            media_tls_url: format!("https://{}", self.https_addr),
            root_public_key: hex::encode(self.root.public.as_djb()),
        }
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The `host:port` that `media_conn` hands out (the HTTPS listener).
    pub(crate) fn media_host(&self) -> String {
        self.https_addr.to_string()
    }

    pub(crate) fn create_account(
        &self,
        phone: &str,
        push_name: &str,
    ) -> Result<AccountInfo, EmulatorError> {
        let phone = normalize_phone(phone)?;
        let mut rng = OsRng;
        let info = {
            let mut st = self.store.lock();
            if st.accounts.contains_key(&phone) {
                return Err(EmulatorError::AccountExists(phone));
            }
            let lid = loop {
                let n: u64 = rng.gen_range(100_000_000_000_000..999_999_999_999_999);
                let lid = n.to_string();
                if !st.lid_index.contains_key(&lid) {
                    break lid;
                }
            };
            let acc = Account {
                phone: phone.clone(),
                push_name: push_name.to_owned(),
                lid: lid.clone(),
                created: now_secs(),
                next_device: 1,
                next_key_index: 1,
                devices: Default::default(),
                phone_state: phone::PhoneState::generate(&mut rng),
                offline: Default::default(),
            };
            let info = AccountInfo {
                jid: acc.jid(),
                lid: acc.lid_jid(),
            };
            st.lid_index.insert(lid, phone.clone());
            st.accounts.insert(phone, acc);
            info
        };
        self.store.persist();
        Ok(info)
    }

    fn state_of(st: &state::State, acc: &Account) -> AccountState {
        let mut devices = vec![DeviceState {
            device: 0,
            jid: acc.jid(),
            lid: acc.lid_jid(),
            connected: true,
            platform: "phone".to_owned(),
            queued: 0,
        }];
        for (id, d) in &acc.devices {
            devices.push(DeviceState {
                device: *id,
                jid: format!("{}:{id}@s.whatsapp.net", acc.phone),
                lid: format!("{}:{id}@lid", acc.lid),
                connected: st.conns.contains_key(&(acc.phone.clone(), *id)),
                platform: d.platform.clone(),
                queued: acc.offline.get(id).map_or(0, Vec::len),
            });
        }
        AccountState {
            phone: acc.phone.clone(),
            jid: acc.jid(),
            lid: acc.lid_jid(),
            push_name: acc.push_name.clone(),
            devices,
        }
    }

    pub(crate) fn account_state(&self, phone: &str) -> Result<AccountState, EmulatorError> {
        let phone = phone.strip_prefix('+').unwrap_or(phone);
        let st = self.store.lock();
        let acc = st.account(phone)?;
        Ok(Self::state_of(&st, acc))
    }

    pub(crate) fn list_accounts(&self) -> Vec<AccountState> {
        let st = self.store.lock();
        st.accounts
            .values()
            .map(|a| Self::state_of(&st, a))
            .collect()
    }

    pub(crate) fn corrupt_next_message_to(&self, device_jid: &str) -> Result<(), EmulatorError> {
        let jid: wa_proto::binary::Jid = device_jid
            .parse()
            .map_err(|_| EmulatorError::InvalidRequest(format!("bad device JID {device_jid:?}")))?;
        let mut st = self.store.lock();
        let phone = st
            .resolve_user(&jid.user, jid.server.as_str())
            .ok_or_else(|| EmulatorError::AccountNotFound(jid.user.clone()))?;
        let device = u32::from(jid.device);
        if device != 0 && !st.account(&phone)?.devices.contains_key(&device) {
            return Err(EmulatorError::DeviceNotFound(phone, device));
        }
        st.corrupt_next.insert((phone, device));
        Ok(())
    }

    pub(crate) fn drop_connections(&self) -> usize {
        let st = self.store.lock();
        let mut n = 0;
        for c in st.all_conns.values() {
            if c.tx.send(ConnCommand::Drop).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Stores an uploaded media blob; returns (url, direct_path, handle).
    pub(crate) fn store_media(
        &self,
        media_type: &str,
        enc_sha256: &[u8],
        body: bytes::Bytes,
    ) -> (String, String, String) {
        let mut st = self.store.lock();
        self.store_media_locked(&mut st, media_type, enc_sha256, body)
    }

    /// [`Inner::store_media`] with the state already locked.
    pub(crate) fn store_media_locked(
        &self,
        st: &mut state::State,
        media_type: &str,
        enc_sha256: &[u8],
        body: bytes::Bytes,
    ) -> (String, String, String) {
        let mut rng = OsRng;
        let handle = hex::encode(rng.r#gen::<[u8; 16]>());
        let oh = hex::encode(&enc_sha256[..8.min(enc_sha256.len())]);
        let oe = format!("{:X}", now_secs() + 30 * 86400);
        let prefix = match media_type {
            "image" => "t62.7118-24",
            "video" => "t62.7161-24",
            "audio" => "t62.7117-24",
            "document" => "t62.7119-24",
            _ => "t62.15575-24",
        };
        let path = format!(
            "/v/{prefix}/{}_{handle}_n.enc",
            rng.gen_range(10_000_000u64..99_999_999)
        );
        let direct_path = format!("{path}?ccb=11-4&oh=01_{oh}&oe={oe}&_nc_sid=5e03e0");
        let url = format!("https://{}{direct_path}&mms3=true", self.media_host());
        st.media.insert(path, MediaBlob { bytes: body });
        (url, direct_path, handle)
    }

    /// Looks up a media blob by path (query string ignored).
    pub(crate) fn get_media(&self, path: &str) -> Option<bytes::Bytes> {
        let path = path.split('?').next().unwrap_or(path);
        self.store.lock().media.get(path).map(|b| b.bytes.clone())
    }
}

/// The simulated primary phone (device 0) of one account.
#[derive(Clone)]
pub struct Phone {
    pub(crate) inner: Arc<Inner>,
    pub(crate) phone: String,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("phone", &self.phone).finish()
    }
}

impl Phone {
    /// The phone number of this account.
    pub fn number(&self) -> &str {
        &self.phone
    }

    /// The account, its devices and whether each is connected.
    pub async fn info(&self) -> Result<AccountState, EmulatorError> {
        self.inner.account_state(&self.phone)
    }

    /// Messages the phone received and decrypted, oldest first (empty for an unknown account).
    pub async fn inbox(&self) -> Vec<InboxMessage> {
        self.try_inbox().unwrap_or_default()
    }

    /// Like [`Phone::inbox`], but fails for an unknown account.
    pub fn try_inbox(&self) -> Result<Vec<InboxMessage>, EmulatorError> {
        let st = self.inner.store.lock();
        Ok(st.account(&self.phone)?.phone_state.inbox.clone())
    }

    /// Sends a stream error with `code` to the companion `device` and closes its connection.
    pub async fn kick(&self, device: u32, code: u16) -> Result<(), EmulatorError> {
        if !(400..=599).contains(&code) {
            return Err(EmulatorError::InvalidRequest(format!(
                "stream error code {code} is not in 400..=599"
            )));
        }
        let st = self.inner.store.lock();
        let acc = st.account(&self.phone)?;
        if !acc.devices.contains_key(&device) {
            return Err(EmulatorError::DeviceNotFound(self.phone.clone(), device));
        }
        if let Some(c) = st.conns.get(&(self.phone.clone(), device)) {
            let conflict = (code == 440).then_some("replaced");
            let _ = c.tx.send(ConnCommand::StreamError { code, conflict });
        }
        Ok(())
    }
}
