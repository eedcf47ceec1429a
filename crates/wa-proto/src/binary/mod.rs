//! WhatsApp's binary node codec ("binary XML", WAP), token dictionary version 3.
//!
//! Every stanza after the Noise handshake is one [`Node`]: a tag, ordered attributes and
//! optional content (child nodes, bytes, a string or a JID). On the wire a node is a list of
//! strings compressed with token dictionaries, packed nibble/hex strings and JID encodings;
//! a transport frame's plaintext is a flags byte followed by one node, zlib-compressed when
//! `flags & 2` is set.
//!
//! - [`encode_node`] / [`decode_node`]: the node bytes alone.
//! - [`marshal`] / [`unmarshal`]: a whole frame plaintext with the flags byte
//!   (`unmarshal` inflates compressed frames, with a cap on the inflated size).
//!
//! Encoding is byte-identical to Baileys (and, except for agent JIDs, to whatsapp-rust) for
//! string attribute values; [`AttrValue::Jid`] values are written as JIDs (`Jid::server()`
//! as `fa 00 03`). Decoding never panics, never allocates more than the input can back, and
//! rejects trailing bytes after the node.
//!
//! ```
//! use wa_proto::binary::{marshal, unmarshal, Jid, Node};
//!
//! let iq = Node::new("iq")
//!     .attr("id", "1.2-3")
//!     .attr("xmlns", "w:p")
//!     .attr("type", "get")
//!     .attr("to", Jid::server());
//! let frame = marshal(&iq);
//! assert_eq!(
//!     frame,
//!     [0x00, 0xf8, 0x09, 0x19, 0x08, 0xff, 0x83, 0x1b, 0x2a, 0x3f, 0x16, 0x57, 0x04, 0x29, 0x11, 0xfa, 0x00, 0x03]
//! );
//! let back = unmarshal(&frame).unwrap();
//! assert_eq!(back, iq);
//! assert_eq!(back.attr_jid("to"), Some(Jid::server()));
//! ```
#![warn(missing_docs)]

mod decoder;
mod encoder;
mod error;
mod jid;
mod node;
mod tokens;

use std::borrow::Cow;

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use jid::{Jid, JidParseError, Server};
pub use node::{AttrValue, Content, Node};
pub use tokens::{DICT_VERSION, DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS};

/// Tag bytes of the encoding.
pub(crate) mod tag {
    pub(crate) const LIST_EMPTY: u8 = 0;
    pub(crate) const DICTIONARY_0: u8 = 236;
    pub(crate) const DICTIONARY_3: u8 = 239;
    pub(crate) const INTEROP_JID: u8 = 245;
    pub(crate) const FB_JID: u8 = 246;
    pub(crate) const AD_JID: u8 = 247;
    pub(crate) const LIST_8: u8 = 248;
    pub(crate) const LIST_16: u8 = 249;
    pub(crate) const JID_PAIR: u8 = 250;
    pub(crate) const HEX_8: u8 = 251;
    pub(crate) const BINARY_8: u8 = 252;
    pub(crate) const BINARY_20: u8 = 253;
    pub(crate) const BINARY_32: u8 = 254;
    pub(crate) const NIBBLE_8: u8 = 255;
    /// Longest string that may be nibble- or hex-packed.
    pub(crate) const PACKED_MAX: usize = 127;
}

/// Deepest nesting of child lists the decoder accepts (real stanzas use fewer than 10).
pub const MAX_DEPTH: usize = 64;

/// Default cap on the inflated size of a compressed frame in [`unmarshal`] (32 MiB).
pub const DEFAULT_MAX_INFLATED: usize = 32 << 20;

/// Flags-byte bit that marks a zlib-compressed frame.
pub const FLAG_COMPRESSED: u8 = 0x02;

/// Encodes a node (without the flags byte), appending to `out`.
/// The buffer grows as needed; reuse it across calls to avoid allocating.
pub fn encode_node_into(node: &Node, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encoder::Encoder::new(out).node(node)
}

/// Encodes a node (without the flags byte).
pub fn try_encode_node(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(encoder::estimate_size(node));
    encode_node_into(node, &mut out)?;
    Ok(out)
}

/// Encodes a node (without the flags byte).
///
/// # Panics
/// If the node cannot be represented (more than 65,535 children or list entries, or a byte
/// string of 4 GiB or more); use [`try_encode_node`] to get an error instead.
pub fn encode_node(node: &Node) -> Vec<u8> {
    try_encode_node(node).unwrap_or_else(|e| panic!("cannot encode node <{}>: {e}", node.tag))
}

/// Encodes a frame plaintext: the flags byte `0x00` followed by the node.
///
/// # Panics
/// Like [`encode_node`].
pub fn marshal(node: &Node) -> Vec<u8> {
    try_marshal(node).unwrap_or_else(|e| panic!("cannot encode node <{}>: {e}", node.tag))
}

/// Encodes a frame plaintext: the flags byte `0x00` followed by the node.
pub fn try_marshal(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(1 + encoder::estimate_size(node));
    out.push(0);
    encoder::Encoder::new(&mut out).node(node)?;
    Ok(out)
}

/// Encodes a compressed frame plaintext: flags `0x02` followed by the zlib stream of the node.
/// Real clients never compress what they send; servers (and so the emulator) may.
pub fn try_marshal_compressed(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let raw = try_encode_node(node)?;
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    out.push(FLAG_COMPRESSED);
    let mut z = flate2::Compress::new(flate2::Compression::default(), true);
    loop {
        out.reserve(raw.len() / 2 + 64);
        let consumed = usize::try_from(z.total_in())
            .unwrap_or(raw.len())
            .min(raw.len());
        match z.compress_vec(&raw[consumed..], &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return Ok(out),
            Ok(_) => {}
            // Compressing into a growing Vec has no failure mode; keep the stream uncompressed
            // rather than panic if the backend ever reports one.
            Err(_) => {
                let mut plain = Vec::with_capacity(1 + raw.len());
                plain.push(0);
                plain.extend_from_slice(&raw);
                return Ok(plain);
            }
        }
    }
}

/// Decodes one node from its bytes (without the flags byte). Bytes after the node are an error.
pub fn decode_node(data: &[u8]) -> Result<Node, DecodeError> {
    let mut d = decoder::Decoder::new(data);
    let node = d.node(0).map_err(|e| *e)?;
    if d.remaining() != 0 {
        return Err(DecodeError::new(
            d.position(),
            DecodeErrorKind::TrailingData(d.remaining()),
        ));
    }
    Ok(node)
}

/// Strips the flags byte of a frame plaintext and inflates it if `flags & 2` is set, with at
/// most `max_inflated` bytes of output.
pub fn unpack(frame: &[u8], max_inflated: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    let Some((&flags, rest)) = frame.split_first() else {
        return Err(DecodeError::new(0, DecodeErrorKind::UnexpectedEof));
    };
    if flags & FLAG_COMPRESSED == 0 {
        return Ok(Cow::Borrowed(rest));
    }
    inflate(rest, max_inflated).map(Cow::Owned)
}

/// Decodes a frame plaintext (flags byte + node, inflating compressed frames up to
/// [`DEFAULT_MAX_INFLATED`] bytes).
pub fn unmarshal(frame: &[u8]) -> Result<Node, DecodeError> {
    unmarshal_with_limit(frame, DEFAULT_MAX_INFLATED)
}

/// Like [`unmarshal`] with an explicit cap on the inflated size.
pub fn unmarshal_with_limit(frame: &[u8], max_inflated: usize) -> Result<Node, DecodeError> {
    decode_node(&unpack(frame, max_inflated)?)
}

/// Inflates a zlib stream (RFC 1950) to at most `limit` bytes. Offsets in errors count from
/// the flags byte.
fn inflate(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    use flate2::{Decompress, FlushDecompress, Status};
    let err = |z: &Decompress, kind| DecodeError::new(1 + z.total_in() as usize, kind);
    let mut z = Decompress::new(true);
    let mut out: Vec<u8> =
        Vec::with_capacity(input.len().saturating_mul(4).clamp(64, limit.max(64)));
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(err(&z, DecodeErrorKind::InflatedTooLarge(limit)));
            }
            let room = (limit + 1 - out.len()).min(out.capacity().max(1024));
            out.reserve_exact(room);
        }
        let in_before = z.total_in();
        let out_before = out.len();
        let pending = input.get(in_before as usize..).unwrap_or(&[]);
        match z.decompress_vec(pending, &mut out, FlushDecompress::None) {
            Ok(Status::StreamEnd) => break,
            Ok(_) => {
                if z.total_in() == in_before
                    && out.len() == out_before
                    && out.len() < out.capacity()
                {
                    return Err(err(&z, DecodeErrorKind::Inflate("truncated stream".into())));
                }
            }
            Err(e) => return Err(err(&z, DecodeErrorKind::Inflate(e.to_string()))),
        }
    }
    if out.len() > limit {
        return Err(err(&z, DecodeErrorKind::InflatedTooLarge(limit)));
    }
    let used = z.total_in() as usize;
    if used != input.len() {
        return Err(DecodeError::new(
            1 + used,
            DecodeErrorKind::TrailingData(input.len() - used),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node::new("message")
            .attr("to", Jid::user("5511999999999").with_device(3))
            .attr("id", "3EB0AABBCCDD")
            .attr("type", "text")
            .children([
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "pkmsg")
                    .bytes(vec![7u8; 300]),
                Node::new("participants").children([]),
                Node::new("body").text("hello"),
                Node::new("to").content(Content::Jid(Jid::group("120363000000000000"))),
            ])
    }

    #[test]
    fn round_trip_and_frames() {
        let n = sample();
        let bytes = encode_node(&n);
        // "hello" content comes back as bytes (BINARY_8), like Baileys.
        let mut expected = n.clone();
        expected.get_child_mut("body").unwrap().content = Content::Bytes(b"hello".to_vec());
        assert_eq!(decode_node(&bytes).unwrap(), expected);
        let frame = marshal(&n);
        assert_eq!(frame[0], 0);
        assert_eq!(&frame[1..], &bytes[..]);
        assert_eq!(unmarshal(&frame).unwrap(), expected);
        let z = try_marshal_compressed(&n).unwrap();
        assert_eq!(z[0], FLAG_COMPRESSED);
        assert!(z.len() < frame.len());
        assert_eq!(unmarshal(&z).unwrap(), expected);
    }

    #[test]
    fn inflate_cap_and_corruption() {
        let z = try_marshal_compressed(&sample()).unwrap();
        let inflated = unpack(&z, usize::MAX).unwrap().len();
        assert!(unmarshal_with_limit(&z, inflated).is_ok());
        let e = unmarshal_with_limit(&z, inflated - 1).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::InflatedTooLarge(inflated - 1));
        for cut in 1..z.len() {
            assert!(unmarshal(&z[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = z.clone();
        trailing.push(0);
        assert!(matches!(
            unmarshal(&trailing).unwrap_err().kind,
            DecodeErrorKind::TrailingData(1)
        ));
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(
            decode_node(&[0xf8, 0x01, 0x19, 0x00]).unwrap_err(),
            DecodeError::new(3, DecodeErrorKind::TrailingData(1))
        );
        assert_eq!(
            decode_node(&[0xf8, 0x02, 0x19, 0xf8, 0x01, 0xfc, 0x01, 0x61]).unwrap_err(),
            DecodeError::new(5, DecodeErrorKind::InvalidListTag(0xfc))
        );
        assert_eq!(
            decode_node(&[0xf8, 0x01, 0xff, 0x01, 0xc1]).unwrap_err(),
            DecodeError::new(4, DecodeErrorKind::InvalidNibble(12))
        );
        assert_eq!(
            unmarshal(&[]).unwrap_err().kind,
            DecodeErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = Node::new("x");
        for _ in 0..MAX_DEPTH {
            deep = Node::new("x").children([deep]);
        }
        assert!(decode_node(&encode_node(&deep)).is_ok());
        let deeper = Node::new("x").children([deep]);
        assert_eq!(
            decode_node(&encode_node(&deeper)).unwrap_err().kind,
            DecodeErrorKind::TooDeep
        );
    }
}
