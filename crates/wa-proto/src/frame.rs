//! The frame layer under the Noise socket: 3-byte big-endian lengths and the
//! client's one-time intro header.
//!
//! On the wire every frame is `[len: u24 BE][len bytes]`. The client's first
//! frame of a connection is preceded by the intro `57 41 06 03` (`"WA"`, magic
//! 6, dictionary version 3), optionally preceded itself by the edge-routing
//! pre-intro `45 44 00 01 [len: u24 BE][routing_info]`. Frames are a byte stream:
//! a WebSocket message may carry several frames or only part of one, so the
//! receiving side feeds whatever arrives into a [`FrameDecoder`].
//!
//! ```
//! use wa_proto::frame::{FrameDecoder, FrameEncoder};
//!
//! // Client side: the intro goes in front of the first frame only.
//! let mut enc = FrameEncoder::new();
//! let first = enc.encode(b"hello").unwrap();
//! assert_eq!(&first[..7], &[b'W', b'A', 6, 3, 0, 0, 5]);
//! let second = enc.encode(b"again").unwrap();
//! assert_eq!(&second[..3], &[0, 0, 5]);
//!
//! // Server side: a decoder that first expects the client's intro.
//! let mut dec = FrameDecoder::server();
//! let mut wire = first.clone();
//! wire.extend_from_slice(&second);
//! for chunk in wire.chunks(4) {
//!     dec.push(chunk);
//! }
//! assert_eq!(dec.next_frame().unwrap().unwrap(), b"hello");
//! assert_eq!(dec.intro().unwrap().dict_version, 3);
//! assert_eq!(dec.next_frame().unwrap().unwrap(), b"again");
//! assert_eq!(dec.next_frame().unwrap(), None);
//! ```

use thiserror::Error;

/// The intro header the client sends in front of its first frame:
/// `"WA"`, magic 6, dictionary version 3.
pub const INTRO_HEADER: [u8; 4] = [b'W', b'A', WA_MAGIC, DICT_VERSION];

/// The magic value, third byte of the intro header.
pub const WA_MAGIC: u8 = 6;

/// The binary-node dictionary version this implementation speaks (fourth
/// intro byte).
pub const DICT_VERSION: u8 = 3;

/// The optional edge-routing pre-intro marker: `"ED"`, 0, 1.
pub const EDGE_ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// The largest payload a 3-byte length can describe (`2^24 - 1`); the default
/// maximum frame size of encoders and decoders.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;

/// Length of the frame header (the big-endian length).
pub const FRAME_HEADER_LEN: usize = 3;

/// Errors of the frame layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame (or routing info) is longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    Oversize {
        /// The length that was announced or requested.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The client's intro header is not `WA 06 xx` (optionally behind `ED 00 01 ...`).
    #[error("bad intro header {found:02x?}")]
    BadIntro {
        /// The four bytes found where the intro was expected.
        found: [u8; 4],
    },
}

/// What the client announced in front of its first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIntro {
    /// The dictionary version (4th intro byte); 3 is the current token table.
    pub dict_version: u8,
    /// The edge-routing info of the `ED 00 01` pre-intro, if the client sent one.
    pub routing_info: Option<Vec<u8>>,
}

impl ClientIntro {
    /// Serializes the intro (pre-intro included) as the client sends it.
    ///
    /// Fails with [`FrameError::Oversize`] if the routing info is longer than
    /// [`MAX_FRAME_SIZE`] (its length must fit in 3 bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(4 + self.routing_info.as_ref().map_or(0, |r| r.len() + 7));
        if let Some(routing) = &self.routing_info {
            if routing.len() > MAX_FRAME_SIZE {
                return Err(FrameError::Oversize {
                    len: routing.len(),
                    max: MAX_FRAME_SIZE,
                });
            }
            out.extend_from_slice(&EDGE_ROUTING_MAGIC);
            out.extend_from_slice(&u24_be(routing.len()));
            out.extend_from_slice(routing);
        }
        out.extend_from_slice(&[b'W', b'A', WA_MAGIC, self.dict_version]);
        Ok(out)
    }
}

fn u24_be(len: usize) -> [u8; 3] {
    debug_assert!(len <= MAX_FRAME_SIZE);
    [(len >> 16) as u8, (len >> 8) as u8, len as u8]
}

fn read_u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// Appends `[len: u24 BE][payload]` to `out`.
///
/// Fails with [`FrameError::Oversize`] when `payload` is longer than
/// `max_frame_size` (which is itself capped at [`MAX_FRAME_SIZE`]).
pub fn encode_frame_into(
    payload: &[u8],
    max_frame_size: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let max = max_frame_size.min(MAX_FRAME_SIZE);
    if payload.len() > max {
        return Err(FrameError::Oversize {
            len: payload.len(),
            max,
        });
    }
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&u24_be(payload.len()));
    out.extend_from_slice(payload);
    Ok(())
}

/// Returns `[len: u24 BE][payload]` (no intro), with the default maximum size.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    encode_frame_into(payload, MAX_FRAME_SIZE, &mut out)?;
    Ok(out)
}

/// Compares the available prefix of `buf` with `expected`; on a mismatch
/// returns the (up to) four bytes found.
fn prefix_mismatch(buf: &[u8], expected: &[u8]) -> Option<[u8; 4]> {
    let mismatch = buf.iter().zip(expected).any(|(a, b)| a != b);
    mismatch.then(|| {
        let mut found = [0u8; 4];
        let n = buf.len().min(4);
        found[..n].copy_from_slice(&buf[..n]);
        found
    })
}

/// Parses the client's intro at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((intro, consumed)))`
/// once the whole intro (pre-intro included) is present. `max_routing_len`
/// bounds the routing info of the pre-intro.
pub fn parse_client_intro(
    buf: &[u8],
    max_routing_len: usize,
) -> Result<Option<(ClientIntro, usize)>, FrameError> {
    let mut pos = 0;
    let mut routing_info = None;
    if buf.first() == Some(&EDGE_ROUTING_MAGIC[0]) {
        // Check each byte as soon as it is there, so garbage fails early.
        if let Some(found) = prefix_mismatch(buf, &EDGE_ROUTING_MAGIC) {
            return Err(FrameError::BadIntro { found });
        }
        if buf.len() < 7 {
            return Ok(None);
        }
        let len = read_u24(&buf[4..7]);
        let max = max_routing_len.min(MAX_FRAME_SIZE);
        if len > max {
            return Err(FrameError::Oversize { len, max });
        }
        if buf.len() < 7 + len {
            return Ok(None);
        }
        routing_info = Some(buf[7..7 + len].to_vec());
        pos = 7 + len;
    }
    let rest = &buf[pos..];
    if let Some(found) = prefix_mismatch(rest, &[b'W', b'A', WA_MAGIC]) {
        return Err(FrameError::BadIntro { found });
    }
    if rest.len() < 4 {
        return Ok(None);
    }
    Ok(Some((
        ClientIntro {
            dict_version: rest[3],
            routing_info,
        },
        pos + 4,
    )))
}

/// Frames outgoing payloads; puts the client intro in front of the first one.
///
/// Use [`FrameEncoder::new`] on the client (intro on the first frame) and
/// [`FrameEncoder::server`] on the server (no intro ever).
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    pending_intro: Option<ClientIntro>,
    max_frame_size: usize,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameEncoder {
    /// A client encoder: `WA 06 03` goes in front of the first frame.
    pub fn new() -> Self {
        Self {
            pending_intro: Some(ClientIntro {
                dict_version: DICT_VERSION,
                routing_info: None,
            }),
            max_frame_size: MAX_FRAME_SIZE,
        }
    }

    /// A client encoder that sends the edge-routing pre-intro
    /// (`ED 00 01 len routing_info`) before `WA 06 03`.
    ///
    /// Fails with [`FrameError::Oversize`] if `routing_info` is longer than
    /// [`MAX_FRAME_SIZE`].
    pub fn with_routing_info(routing_info: Vec<u8>) -> Result<Self, FrameError> {
        if routing_info.len() > MAX_FRAME_SIZE {
            return Err(FrameError::Oversize {
                len: routing_info.len(),
                max: MAX_FRAME_SIZE,
            });
        }
        Ok(Self {
            pending_intro: Some(ClientIntro {
                dict_version: DICT_VERSION,
                routing_info: Some(routing_info),
            }),
            max_frame_size: MAX_FRAME_SIZE,
        })
    }

    /// A server encoder: plain frames, never an intro.
    pub fn server() -> Self {
        Self {
            pending_intro: None,
            max_frame_size: MAX_FRAME_SIZE,
        }
    }

    /// Sets the largest payload this encoder accepts (capped at [`MAX_FRAME_SIZE`]).
    #[must_use]
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.max_frame_size = max.min(MAX_FRAME_SIZE);
        self
    }

    /// Whether the intro has already been emitted (always true for a server encoder).
    pub fn intro_sent(&self) -> bool {
        self.pending_intro.is_none()
    }

    /// Appends the framed payload (with the intro if this is the first frame)
    /// to `out`. On error nothing is appended and the intro stays pending.
    pub fn encode_into(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        if payload.len() > self.max_frame_size {
            return Err(FrameError::Oversize {
                len: payload.len(),
                max: self.max_frame_size,
            });
        }
        if let Some(intro) = &self.pending_intro {
            // Validated by the constructors; checked again rather than trusted.
            out.extend_from_slice(&intro.to_bytes()?);
            self.pending_intro = None;
        }
        encode_frame_into(payload, self.max_frame_size, out)
    }

    /// Returns the framed payload (with the intro if this is the first frame).
    pub fn encode(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(payload.len() + 16);
        self.encode_into(payload, &mut out)?;
        Ok(out)
    }
}

/// Reassembles frames from a byte stream that may be split across or packed
/// into WebSocket messages.
///
/// Feed bytes with [`push`](Self::push) and take whole frames with
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`. A length
/// above the maximum is reported as soon as its 3 header bytes arrive, before
/// anything is buffered for it; after an error the decoder stays failed
/// (the stream cannot be resynchronised).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_frame_size: usize,
    expect_intro: bool,
    intro: Option<ClientIntro>,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder of plain frames (what the client receives from the server).
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_frame_size: MAX_FRAME_SIZE,
            expect_intro: false,
            intro: None,
            failed: None,
        }
    }

    /// A decoder for the server side: the stream starts with the client's
    /// intro (see [`parse_client_intro`]), available from
    /// [`intro`](Self::intro) once parsed.
    pub fn server() -> Self {
        Self {
            expect_intro: true,
            ..Self::new()
        }
    }

    /// Sets the largest frame payload accepted (capped at [`MAX_FRAME_SIZE`]);
    /// it also bounds the routing info of a client's pre-intro.
    #[must_use]
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.max_frame_size = max.min(MAX_FRAME_SIZE);
        self
    }

    /// The client's intro, once the server decoder has read it (it is parsed
    /// by [`next_frame`](Self::next_frame)).
    pub fn intro(&self) -> Option<&ClientIntro> {
        self.intro.as_ref()
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends received bytes (a whole or partial WebSocket message).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn fail(&mut self, e: FrameError) -> Result<Option<Vec<u8>>, FrameError> {
        self.failed = Some(e.clone());
        // Release the memory: the stream is dead.
        self.buf = Vec::new();
        self.start = 0;
        Err(e)
    }

    /// Returns the next whole frame payload, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.expect_intro {
            match parse_client_intro(&self.buf[self.start..], self.max_frame_size) {
                Ok(None) => return Ok(None),
                Ok(Some((intro, used))) => {
                    self.start += used;
                    self.intro = Some(intro);
                    self.expect_intro = false;
                }
                Err(e) => return self.fail(e),
            }
        }
        let avail = &self.buf[self.start..];
        if avail.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let len = read_u24(avail);
        if len > self.max_frame_size {
            return self.fail(FrameError::Oversize {
                len,
                max: self.max_frame_size,
            });
        }
        if avail.len() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        let frame = avail[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len].to_vec();
        self.start += FRAME_HEADER_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intro_with_routing_roundtrip() {
        let mut enc = FrameEncoder::with_routing_info(vec![1, 2, 3]).unwrap();
        let wire = enc.encode(&[9; 10]).unwrap();
        assert_eq!(&wire[..7], &[b'E', b'D', 0, 1, 0, 0, 3]);
        assert_eq!(&wire[7..10], &[1, 2, 3]);
        assert_eq!(&wire[10..14], &INTRO_HEADER);
        let mut dec = FrameDecoder::server();
        for b in &wire[..wire.len() - 1] {
            dec.push(std::slice::from_ref(b));
            assert_eq!(dec.next_frame().unwrap(), None);
        }
        dec.push(&wire[wire.len() - 1..]);
        assert_eq!(dec.next_frame().unwrap().unwrap(), vec![9; 10]);
        let intro = dec.intro().unwrap();
        assert_eq!(intro.routing_info.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(intro.dict_version, 3);
    }

    #[test]
    fn bad_intro_fails_early() {
        assert!(matches!(
            parse_client_intro(b"X", 100),
            Err(FrameError::BadIntro { .. })
        ));
        assert!(matches!(
            parse_client_intro(b"WB", 100),
            Err(FrameError::BadIntro { .. })
        ));
        assert!(matches!(
            parse_client_intro(b"WA\x05\x03", 100),
            Err(FrameError::BadIntro { .. })
        ));
        assert!(matches!(
            parse_client_intro(b"EDx", 100),
            Err(FrameError::BadIntro { .. })
        ));
        assert_eq!(parse_client_intro(b"WA\x06", 100), Ok(None));
        assert_eq!(parse_client_intro(b"E", 100), Ok(None));
        let (intro, used) = parse_client_intro(b"WA\x06\x05rest", 100).unwrap().unwrap();
        assert_eq!(intro.dict_version, 5);
        assert_eq!(used, 4);
    }

    #[test]
    fn routing_info_bounded() {
        let wire = [b'E', b'D', 0, 1, 0xff, 0xff, 0xff];
        assert_eq!(
            parse_client_intro(&wire, 1024),
            Err(FrameError::Oversize {
                len: 0xff_ffff,
                max: 1024
            })
        );
    }

    #[test]
    fn oversize_detected_from_header() {
        let mut dec = FrameDecoder::new().max_frame_size(10);
        dec.push(&[0, 0, 11]);
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::Oversize { len: 11, max: 10 })
        );
        // Stays failed.
        dec.push(&[0; 11]);
        assert!(dec.next_frame().is_err());
        let mut enc = FrameEncoder::new().max_frame_size(10);
        assert!(enc.encode(&[0; 11]).is_err());
        assert!(!enc.intro_sent());
        assert!(encode_frame(&vec![0; MAX_FRAME_SIZE + 1]).is_err());
    }

    #[test]
    fn packed_frames_and_empty_frame() {
        let mut wire = Vec::new();
        for p in [&b""[..], b"a", b"bc"] {
            encode_frame_into(p, MAX_FRAME_SIZE, &mut wire).unwrap();
        }
        let mut dec = FrameDecoder::new();
        dec.push(&wire);
        assert_eq!(dec.next_frame().unwrap().unwrap(), b"");
        assert_eq!(dec.next_frame().unwrap().unwrap(), b"a");
        assert_eq!(dec.next_frame().unwrap().unwrap(), b"bc");
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(dec.buffered_len(), 0);
    }
}
