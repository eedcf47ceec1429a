//! The Noise socket: a transport connection plus framing, the handshake and the transport
//! ciphers, moving whole binary nodes.

use std::collections::VecDeque;
use std::time::Duration;

use prost::Message;
use wa_proto::binary::Node;
use wa_proto::frame::{FrameDecoder, FrameEncoder};
use wa_proto::noise::{ClientHandshake, NoiseTransport, TrustedRoot};
use wa_proto::proto::ClientPayload;
use wa_signal::KeyPair;

use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::transport::{Conn, TransportError};

/// How a socket reports incoming data.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A decoded node.
    Node(Node),
    /// The peer closed the connection.
    Closed,
}

/// Buffered bytes above which the frame decoder is replaced by a fresh one once drained.
const SHRINK_ABOVE: usize = 16 * 1024;
/// Queued nodes whose room the pending queue keeps after a burst.
const PENDING_KEEP: usize = 16;

/// An established, encrypted connection.
pub(crate) struct NoiseSocket {
    conn: Conn,
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    noise: NoiseTransport,
    pending: VecDeque<Node>,
}

impl std::fmt::Debug for NoiseSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseSocket")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

fn hs_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Handshake(e.to_string())
}

/// Read frames until one complete frame is available (handshake phase only).
async fn read_frame(conn: &mut Conn, decoder: &mut FrameDecoder) -> Result<Vec<u8>, ClientError> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(hs_err)? {
            return Ok(frame);
        }
        match conn.recv().await? {
            Some(bytes) => decoder.push(&bytes),
            None => return Err(ClientError::Transport(TransportError::Closed)),
        }
    }
}

impl NoiseSocket {
    /// Run the XX handshake on `conn`, sending `payload` as the ClientFinish payload.
    pub(crate) async fn handshake(
        mut conn: Conn,
        config: &ClientConfig,
        noise_key: KeyPair,
        payload: &ClientPayload,
        routing_info: Option<Vec<u8>>,
    ) -> Result<NoiseSocket, ClientError> {
        let trust = TrustedRoot::new(config.root_public_key);
        let mut rng = config.rng.clone();
        let hs = ClientHandshake::new(noise_key, trust, &mut rng);
        // The `ED 00 01` pre-intro carries the edge-routing info of an earlier session (it is
        // not part of the Noise prologue); without one, the plain `WA 06 03` intro.
        let mut encoder = routing_info
            .and_then(|r| FrameEncoder::with_routing_info(r).ok())
            .unwrap_or_default();
        let mut decoder = FrameDecoder::new();
        conn.send(encoder.encode(&hs.client_hello()).map_err(hs_err)?)
            .await?;
        let limit: Duration = config.timeouts.handshake;
        let server_hello = tokio::time::timeout(limit, read_frame(&mut conn, &mut decoder))
            .await
            .map_err(|_| ClientError::Timeout)??;
        let now = config
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let awaiting = hs.read_server_hello(&server_hello, now).map_err(hs_err)?;
        let finished = awaiting.finish(&payload.encode_to_vec()).map_err(hs_err)?;
        conn.send(encoder.encode(&finished.message).map_err(hs_err)?)
            .await?;
        Ok(NoiseSocket {
            conn,
            encoder,
            decoder,
            noise: finished.transport,
            pending: VecDeque::new(),
        })
    }

    /// Encrypt and send one node.
    pub(crate) async fn send_node(&mut self, node: &Node) -> Result<(), ClientError> {
        let plain = wa_proto::binary::try_marshal(node)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let ct = self
            .noise
            .encrypt(&plain)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let frame = self
            .encoder
            .encode(&ct)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.conn.send(frame).await?;
        Ok(())
    }

    /// Wait for more bytes and decode whatever complete frames they finish. Cancel safe: the
    /// only await is the transport's receive. Frames that fail to decrypt or decode are logged
    /// and skipped (the cipher counter still advances, as in whatsmeow).
    pub(crate) async fn recv(&mut self) -> Result<Incoming, ClientError> {
        loop {
            if let Some(n) = self.pending.pop_front() {
                return Ok(Incoming::Node(n));
            }
            let Some(bytes) = self.conn.recv().await? else {
                return Ok(Incoming::Closed);
            };
            self.decoder.push(&bytes);
            let peak = self.decoder.buffered_len();
            while let Some(frame) = self
                .decoder
                .next_frame()
                .map_err(|e| ClientError::Protocol(format!("bad frame: {e}")))?
            {
                let plain = match self.noise.decrypt(&frame) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!("dropping undecryptable frame: {e}");
                        continue;
                    }
                };
                match wa_proto::binary::unmarshal(&plain) {
                    Ok(node) => self.pending.push_back(node),
                    Err(e) => tracing::warn!("dropping undecodable node: {e}"),
                }
            }
            // The decoder's buffer keeps its largest size; after a big frame (history sync,
            // media notifications) give it back once nothing is buffered, so that an idle
            // connection does not hold its peak for the rest of its life.
            if peak > SHRINK_ABOVE && self.decoder.buffered_len() == 0 {
                self.decoder = FrameDecoder::new();
            }
            if self.pending.capacity() > PENDING_KEEP && self.pending.len() <= PENDING_KEEP {
                self.pending.shrink_to(PENDING_KEEP);
            }
        }
    }

    /// Close the underlying connection.
    pub(crate) async fn close(&mut self) {
        self.conn.close().await;
    }
}
