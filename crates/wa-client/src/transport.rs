//! Byte transports under the Noise layer: a WebSocket (tokio-tungstenite over rustls with the
//! ring provider and the web PKI roots, or plain `ws://` for an emulator) and an in-memory pipe
//! for tests.
//!
//! A transport moves opaque binary WebSocket messages; framing (3-byte lengths, which are
//! independent of message boundaries) happens above it.

use std::fmt;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Errors of the byte transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Could not open the connection.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection broke while in use.
    #[error("transport error: {0}")]
    Io(String),
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
}

/// Maximum WebSocket message we accept (the protocol's frame limit, 16 MiB, plus the header).
const MAX_MESSAGE: usize = (1 << 24) + 16;

/// One open connection.
pub(crate) enum Conn {
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Memory(MemoryConn),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conn::Ws(_) => f.write_str("Conn::Ws"),
            Conn::Memory(_) => f.write_str("Conn::Memory"),
        }
    }
}

impl Conn {
    /// Send one binary message.
    pub(crate) async fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        match self {
            Conn::Ws(ws) => ws
                .send(Message::binary(data))
                .await
                .map_err(|e| TransportError::Io(e.to_string())),
            Conn::Memory(m) => m.tx.send(data).map_err(|_| TransportError::Closed),
        }
    }

    /// Receive the next binary message; `Ok(None)` when the peer closed cleanly.
    pub(crate) async fn recv(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        match self {
            Conn::Ws(ws) => loop {
                match ws.next().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(TransportError::Io(e.to_string())),
                    Some(Ok(Message::Binary(b))) => return Ok(Some(b.to_vec())),
                    Some(Ok(Message::Close(_))) => return Ok(None),
                    // Text is not part of the protocol (ignored like whatsmeow does); ping/pong
                    // are answered by tungstenite itself.
                    Some(Ok(_)) => continue,
                }
            },
            Conn::Memory(m) => Ok(m.rx.recv().await),
        }
    }

    /// Close politely (errors are irrelevant at this point).
    pub(crate) async fn close(&mut self) {
        match self {
            Conn::Ws(ws) => {
                let _ = SinkExt::close(ws.as_mut()).await;
            }
            Conn::Memory(m) => m.rx.close(),
        }
    }
}

/// Parse every certificate in a PEM text into DER.
pub(crate) fn parse_pem_certs(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut reader = pem.as_bytes();
    rustls_pemfile::certs(&mut reader)
        .map(|c| c.map(|c| c.as_ref().to_vec()).map_err(|e| e.to_string()))
        .collect()
}

/// A rustls client configuration trusting the web PKI roots plus `extra_der` certificates
/// (ring provider). Used for the chat socket (no extras) and by the media code (with the
/// configured media roots).
pub fn tls_client_config(extra_der: &[Vec<u8>]) -> Result<rustls::ClientConfig, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_der {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| TransportError::Connect(format!("bad extra root: {e}")))?;
    }
    // The workspace standardises on the ring provider (rustls 0.23 deprecates this constructor
    // only because ring lacks post-quantum key exchange).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Connect(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Open a WebSocket to `url` (`ws://` or `wss://`), with the Origin header real web clients send.
pub(crate) async fn connect_ws(url: &str) -> Result<Conn, TransportError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| TransportError::Connect(e.to_string()))?;
    if let Ok(v) = "https://web.whatsapp.com".parse() {
        request.headers_mut().insert("Origin", v);
    }
    let connector = if url.starts_with("wss://") {
        tokio_tungstenite::Connector::Rustls(Arc::new(tls_client_config(&[])?))
    } else {
        tokio_tungstenite::Connector::Plain
    };
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE);
    config.max_frame_size = Some(MAX_MESSAGE);
    // Thousands of mostly idle sessions per process: small buffers (tungstenite's defaults are
    // 128 KiB each), every message written at once.
    config.read_buffer_size = 4 * 1024;
    config.write_buffer_size = 0;
    let (ws, _resp) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        Some(connector),
    )
    .await
    .map_err(|e| TransportError::Connect(e.to_string()))?;
    Ok(Conn::Ws(Box::new(ws)))
}

/// One end of an in-memory connection (tests and scripted servers).
#[derive(Debug)]
pub struct MemoryConn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl MemoryConn {
    /// Two connected ends.
    pub fn pair() -> (MemoryConn, MemoryConn) {
        let (atx, arx) = mpsc::unbounded_channel();
        let (btx, brx) = mpsc::unbounded_channel();
        (
            MemoryConn { tx: atx, rx: brx },
            MemoryConn { tx: btx, rx: arx },
        )
    }

    /// Send one message to the other end.
    pub fn send(&self, data: Vec<u8>) -> Result<(), TransportError> {
        self.tx.send(data).map_err(|_| TransportError::Closed)
    }

    /// Receive the next message; `None` once the other end is gone.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.rx.recv().await
    }
}

/// The dialing half of an in-memory "network": give it to
/// [`crate::ClientConfigBuilder::memory_transport`]; every connect produces a fresh
/// [`MemoryConn`] whose other end arrives on the paired [`MemoryListener`].
#[derive(Debug, Clone)]
pub struct MemoryDialer {
    tx: mpsc::UnboundedSender<MemoryConn>,
}

/// The accepting half of an in-memory network.
#[derive(Debug)]
pub struct MemoryListener {
    rx: mpsc::UnboundedReceiver<MemoryConn>,
}

/// Create a connected dialer/listener pair.
pub fn memory_network() -> (MemoryDialer, MemoryListener) {
    let (tx, rx) = mpsc::unbounded_channel();
    (MemoryDialer { tx }, MemoryListener { rx })
}

impl MemoryDialer {
    pub(crate) fn dial(&self) -> Result<Conn, TransportError> {
        let (client, server) = MemoryConn::pair();
        self.tx
            .send(server)
            .map_err(|_| TransportError::Connect("memory listener gone".into()))?;
        Ok(Conn::Memory(client))
    }
}

impl MemoryListener {
    /// Wait for the next connection; `None` once every dialer is gone.
    pub async fn accept(&mut self) -> Option<MemoryConn> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_roundtrip() {
        let (dialer, mut listener) = memory_network();
        let mut c = dialer.dial().unwrap();
        let mut s = listener.accept().await.unwrap();
        c.send(vec![1, 2, 3]).await.unwrap();
        assert_eq!(s.recv().await, Some(vec![1, 2, 3]));
        s.send(vec![4]).unwrap();
        assert_eq!(c.recv().await.unwrap(), Some(vec![4]));
        drop(s);
        assert_eq!(c.recv().await.unwrap(), None);
    }

    #[tokio::test]
    async fn ws_connect_refused_is_an_error() {
        // port 1 on loopback: nothing listens there
        let e = connect_ws("ws://127.0.0.1:1/ws/chat").await.unwrap_err();
        assert!(matches!(e, TransportError::Connect(_)));
    }

    #[test]
    fn tls_config_builds_and_rejects_garbage_roots() {
        assert!(tls_client_config(&[]).is_ok());
        assert!(tls_client_config(&[vec![1, 2, 3]]).is_err());
        assert!(parse_pem_certs("nothing").unwrap().is_empty());
    }
}
