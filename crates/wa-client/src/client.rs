//! The [`Client`] handle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rand_core::RngCore;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use wa_proto::binary::{Jid, Node};

use crate::config::ClientConfig;
use crate::driver::{Command, Driver};
use crate::error::ClientError;
use crate::events::{Event, Events, Me, Status};
use crate::store::Store;

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) me: RwLock<Option<Me>>,
    pub(crate) qr: RwLock<Option<(String, SystemTime)>>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) cmd: Mutex<Option<mpsc::UnboundedSender<Box<Command>>>>,
    pub(crate) driver: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    iq_prefix: String,
    iq_counter: AtomicU64,
    /// Messaging state (device cache, sent-message cache, Signal lock): see `signal_glue`.
    pub(crate) messaging: crate::signal_glue::MessagingState,
}

/// A handle to one WhatsApp session: cheap to clone, all clones drive the same connection.
///
/// One driver task per client owns the socket, the timers and the connection state; the handle
/// sends it commands and awaits replies. [`Client::connect`] starts the driver, which then
/// pairs (QR events) or logs in, stays connected (keepalive, prekey top-up) and reconnects by
/// itself after network losses until [`Client::disconnect`], [`Client::logout`], or a terminal
/// server decision (logged out, replaced, QR codes exhausted).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// Create a client over `store` (which may already hold a paired device). Nothing happens
    /// until [`Client::connect`]. Events arrive on the returned bounded [`Events`] stream.
    pub fn new(config: ClientConfig, store: Arc<dyn Store>) -> (Client, Events) {
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity);
        let (status, _) = watch::channel(Status::Disconnected);
        let mut rng = config.rng.clone();
        let mut prefix = [0u8; 2];
        rng.fill_bytes(&mut prefix);
        let me = crate::creds::load_me(store.as_ref()).ok().flatten();
        let inner = Inner {
            config,
            store,
            status,
            me: RwLock::new(me),
            qr: RwLock::new(None),
            events: events_tx,
            cmd: Mutex::new(None),
            driver: tokio::sync::Mutex::new(None),
            iq_prefix: format!("{}.{}-", prefix[0], prefix[1]),
            iq_counter: AtomicU64::new(1),
            messaging: Default::default(),
        };
        (
            Client {
                inner: Arc::new(inner),
            },
            Events { rx: events_rx },
        )
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Start the driver if it is not running and wait for the first connection attempt:
    /// `Ok` once it shows a QR code ([`Status::WaitingForQr`]) or is logged in
    /// ([`Status::Connected`]). On a network failure the error is returned while the driver
    /// keeps retrying in the background (with auto-reconnect on); terminal failures (logged
    /// out, replaced) stop it.
    pub async fn connect(&self) -> Result<(), ClientError> {
        let mut guard = self.inner.driver.lock().await;
        if let Some(h) = guard.take() {
            let ending = lock(&self.inner.cmd)
                .as_ref()
                .is_none_or(|tx| tx.is_closed());
            if !h.is_finished() && !ending {
                *guard = Some(h);
                return Ok(());
            }
            // A driver that has decided to stop: let it finish before starting anew.
            let _ = h.await;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.inner.cmd) = Some(tx);
        let (first_tx, first_rx) = oneshot::channel();
        let driver = Driver::new(self.clone(), rx, first_tx);
        *guard = Some(tokio::spawn(driver.run()));
        drop(guard);
        first_rx.await.unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// Stop the driver and close the connection; the login is kept (connect again later).
    pub async fn disconnect(&self) {
        let mut guard = self.inner.driver.lock().await;
        let sender = lock(&self.inner.cmd).take();
        if let Some(tx) = sender {
            let (reply, done) = oneshot::channel();
            if tx.send(Box::new(Command::Stop { reply })).is_ok() {
                let _ = done.await;
            }
        }
        if let Some(h) = guard.take() {
            let _ = h.await;
        }
    }

    /// Log out: ask the server to remove this companion (when connected), stop, wipe the store
    /// and end in [`Status::LoggedOut`]. Connect again to pair anew.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let jid = self.me().map(|m| m.jid);
        if let (Some(jid), Status::Connected) = (jid, self.status()) {
            let iq = Node::new("iq")
                .attr("xmlns", "md")
                .attr("type", "set")
                .attr("to", Jid::server())
                .child(
                    Node::new("remove-companion-device")
                        .attr("jid", jid)
                        .attr("reason", "user_initiated"),
                );
            match self.send_iq(iq).await {
                Ok(_) | Err(ClientError::ConnectionLost) => {}
                Err(e) => return Err(e),
            }
        }
        self.disconnect().await;
        let already = self.status() == Status::LoggedOut;
        crate::creds::wipe(self.inner.store.as_ref())?;
        *self.inner.me.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.set_status(Status::LoggedOut);
        if !already {
            self.emit(Event::LoggedOut {
                reason: "logout".into(),
            });
        }
        Ok(())
    }

    /// The current status.
    pub fn status(&self) -> Status {
        *self.inner.status.borrow()
    }

    /// A receiver that observes every status change.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Wait until the client is logged in ([`Status::Connected`]), at most `timeout`.
    ///
    /// Built on [`Client::watch_status`], so it cannot miss the login even when the consumer
    /// of [`Events`] lags behind. Returns at once when already connected. Fails with
    /// [`ClientError::LoggedOut`] when the status becomes [`Status::LoggedOut`],
    /// [`ClientError::NotConnected`] / [`ClientError::Stopped`] when the driver is not running
    /// (never started with [`Client::connect`], or stopped: [`Client::disconnect`], replaced,
    /// QR codes exhausted), and [`ClientError::Timeout`] when `timeout` passes first. While
    /// pairing, it keeps waiting for the QR code to be scanned.
    pub async fn wait_connected(&self, timeout: std::time::Duration) -> Result<(), ClientError> {
        let mut status = self.watch_status();
        let wait = async {
            loop {
                let now = *status.borrow_and_update();
                match now {
                    Status::Connected => return Ok(()),
                    Status::LoggedOut => return Err(ClientError::LoggedOut("logged out".into())),
                    Status::Disconnected => match lock(&self.inner.cmd).as_ref() {
                        None => return Err(ClientError::NotConnected),
                        Some(tx) if tx.is_closed() => {
                            return Err(ClientError::Stopped("the client stopped".into()));
                        }
                        // connect() is starting the driver.
                        Some(_) => {}
                    },
                    Status::Connecting | Status::WaitingForQr => {}
                }
                // The sender lives in `self.inner`, so `changed` cannot fail while we hold it.
                if status.changed().await.is_err() {
                    return Err(ClientError::ConnectionLost);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(ClientError::Timeout))
    }

    /// Who we are, once paired.
    pub fn me(&self) -> Option<Me> {
        self.inner
            .me
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The QR text currently shown and when it expires (only while [`Status::WaitingForQr`]).
    pub fn qr(&self) -> Option<(String, SystemTime)> {
        self.inner
            .qr
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A fresh request id in the protocol's `A.B-N` format.
    pub fn generate_request_id(&self) -> String {
        let n = self.inner.iq_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{}", self.inner.iq_prefix, n)
    }

    /// Low level: send one node as is. Fails with [`ClientError::NotConnected`] when no socket
    /// is up.
    pub async fn send_node(&self, node: Node) -> Result<(), ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Send { node, reply })?;
        rx.await.unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// Low level: send `node` and wait for the first `<iq>` or `<ack>` with the same `id`
    /// (an `id` is generated when absent), up to the configured IQ timeout. Use this for
    /// message stanzas, whose answer is the server's `<ack>`.
    pub async fn send_request(&self, mut node: Node) -> Result<Node, ClientError> {
        if node.attr_str("id").is_none() {
            node.set_attr("id", self.generate_request_id());
        }
        let (reply, rx) = oneshot::channel();
        self.command(Command::Request { node, reply })?;
        match tokio::time::timeout(self.inner.config.timeouts.iq, rx).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Ok(Ok(r)) => r,
        }
    }

    /// Low level: send an `<iq>` (an `id` is generated and `to` defaults to the server) and
    /// wait for its `result`; an `error` reply becomes [`ClientError::Iq`].
    pub async fn send_iq(&self, mut node: Node) -> Result<Node, ClientError> {
        if node.get_attr("to").is_none() {
            node.set_attr("to", Jid::server());
        }
        let resp = self.send_request(node).await?;
        if resp.attr_str("type") == Some("error") {
            let err = resp.get_child("error");
            let code = err
                .and_then(|e| e.attr_u64("code"))
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0);
            let text = err
                .and_then(|e| e.attr_text("text"))
                .map(|t| t.into_owned())
                .unwrap_or_default();
            return Err(ClientError::Iq { code, text });
        }
        Ok(resp)
    }

    pub(crate) fn command(&self, cmd: Command) -> Result<(), ClientError> {
        let guard = lock(&self.inner.cmd);
        match guard.as_ref() {
            Some(tx) => tx
                .send(Box::new(cmd))
                .map_err(|_| ClientError::NotConnected),
            None => Err(ClientError::NotConnected),
        }
    }

    pub(crate) fn set_status(&self, status: Status) {
        self.inner.status.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status;
                true
            }
        });
    }

    /// Emit a connection event without blocking the driver; dropped (and logged) when the
    /// consumer lags.
    pub(crate) fn emit(&self, event: Event) {
        if let Err(e) = self.inner.events.try_send(event) {
            tracing::warn!("event dropped: {e}");
        }
    }

    /// Emit an event, waiting for room (for message events, which must not be lost).
    pub(crate) async fn emit_wait(&self, event: Event) {
        let _ = self.inner.events.send(event).await;
    }

    pub(crate) fn set_me(&self, me: Option<Me>) {
        *self.inner.me.write().unwrap_or_else(|p| p.into_inner()) = me;
    }

    /// Our own push name became known (e.g. the `notify` of a message from our phone):
    /// keep it in [`Client::me`] and in the store, so a stored login restores it.
    pub(crate) fn learn_push_name(&self, name: &str) {
        if name.is_empty() {
            return;
        }
        {
            let mut me = self.inner.me.write().unwrap_or_else(|p| p.into_inner());
            match me.as_mut() {
                Some(m) if m.push_name != name => m.push_name = name.to_owned(),
                _ => return,
            }
        }
        if let Err(e) = crate::creds::save_push_name(self.inner.store.as_ref(), name) {
            tracing::warn!("saving the push name failed: {e}");
        }
    }

    pub(crate) fn set_qr(&self, qr: Option<(String, SystemTime)>) {
        *self.inner.qr.write().unwrap_or_else(|p| p.into_inner()) = qr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_have_the_protocol_format() {
        let (client, _events) = Client::new(
            ClientConfig::default(),
            Arc::new(crate::store::MemoryStore::new()),
        );
        let a = client.generate_request_id();
        let b = client.generate_request_id();
        let (prefix, n) = a.split_once('-').unwrap();
        let (x, y) = prefix.split_once('.').unwrap();
        assert!(x.parse::<u8>().is_ok() && y.parse::<u8>().is_ok(), "{a}");
        assert_eq!(n, "1");
        assert_eq!(b, format!("{prefix}-2"));
        assert_eq!(client.status(), Status::Disconnected);
        assert!(client.me().is_none());
    }

    #[tokio::test]
    async fn requests_without_a_connection_fail_fast() {
        let (client, _events) = Client::new(
            ClientConfig::default(),
            Arc::new(crate::store::MemoryStore::new()),
        );
        let iq = Node::new("iq").attr("type", "get").attr("xmlns", "w:p");
        assert!(matches!(
            client.send_iq(iq).await,
            Err(ClientError::NotConnected)
        ));
        assert!(matches!(
            client.send_node(Node::new("ib")).await,
            Err(ClientError::NotConnected)
        ));
        // logout of a never-connected client just wipes and reports LoggedOut.
        client.logout().await.unwrap();
        assert_eq!(client.status(), Status::LoggedOut);
    }
}
