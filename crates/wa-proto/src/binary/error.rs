//! Errors of the binary node codec.

use std::fmt;

/// What went wrong while decoding (see [`DecodeError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended in the middle of a value.
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// A byte that is not valid where a string or value was expected (0xF0..=0xF4, or a list
    /// tag in string position).
    #[error("invalid tag byte {0:#04x}")]
    InvalidTag(u8),
    /// A byte that is not a list tag where a node or child list was expected.
    #[error("invalid list tag {0:#04x}")]
    InvalidListTag(u8),
    /// A node whose list size is 0.
    #[error("node with list size 0")]
    EmptyNode,
    /// A node whose tag is the empty string.
    #[error("node with an empty tag")]
    EmptyTag,
    /// A nibble value 12..=14 in a NIBBLE_8 string, or the pad value 15 anywhere but in the
    /// dropped last digit of an odd-length string.
    #[error("invalid nibble {0}")]
    InvalidNibble(u8),
    /// A JID without a server (JID_PAIR with an empty server string).
    #[error("JID without a server")]
    EmptyJidServer,
    /// A JID inside the user or server part of another JID.
    #[error("JID nested inside a JID")]
    NestedJid,
    /// An FB_JID whose server is not `msgr`, or an INTEROP_JID whose server is not `interop`.
    #[error("unexpected JID server {0:?}")]
    UnexpectedJidServer(String),
    /// Children nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("nodes nested too deeply")]
    TooDeep,
    /// Bytes left over after the node.
    #[error("{0} bytes left after the node")]
    TrailingData(usize),
    /// The zlib stream of a compressed frame is corrupt or truncated.
    #[error("invalid zlib stream: {0}")]
    Inflate(String),
    /// The compressed frame inflates to more than the allowed size.
    #[error("compressed frame inflates to more than {0} bytes")]
    InflatedTooLarge(usize),
}

/// A decoding failure: what went wrong and where.
///
/// `offset` counts bytes from the start of the encoded node (after the flags byte and after
/// inflating, for frames passed to [`unmarshal`](super::unmarshal)); for the frame-level errors
/// (empty frame, zlib) it counts from the start of the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset at which the offending item starts.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "binary node decode error at offset {}: {}",
            self.offset, self.kind
        )
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// An encoding failure: the node cannot be represented on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A node has more than 65,535 list entries (1 + 2 × attributes + content), or more than
    /// 65,535 children.
    #[error("list of {0} entries is longer than 65535")]
    ListTooLong(usize),
    /// A byte string of 2^32 bytes or more.
    #[error("byte string of {0} bytes is too long")]
    BinaryTooLong(usize),
}
