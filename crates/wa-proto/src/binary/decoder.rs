//! Bytes -> Node.
//!
//! Every read checks the remaining input first; lengths read from the input are compared with
//! what is left before anything is allocated, so a hostile length field costs nothing. Child
//! lists are nested at most [`MAX_DEPTH`] deep.

use std::borrow::Cow;

use super::MAX_DEPTH;
use super::error::{DecodeError, DecodeErrorKind as K};
use super::jid::{Jid, Server};
use super::node::{AttrValue, Content, Node};
use super::tag;
use super::tokens;

pub(crate) struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Internal result: the error is boxed so that `Result<u8>` and friends stay two registers
/// wide on the hot path (errors are rare and cold).
pub(crate) type Result<T> = std::result::Result<T, Box<DecodeError>>;

/// NIBBLE_8 digits; 0xFF marks the invalid values 12..=14 (15 is the padding, read as NUL
/// and only allowed as the dropped last digit).
const NIBBLE_CHARS: [u8; 16] = *b"0123456789-.\xff\xff\xff\0";
const HEX_CHARS: [u8; 16] = *b"0123456789ABCDEF";

/// Smallest encoded node: LIST_8, size, one-byte tag.
const MIN_NODE_LEN: usize = 3;

fn owned_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    #[cold]
    #[inline(never)]
    fn err(&self, at: usize, kind: K) -> Box<DecodeError> {
        Box::new(DecodeError::new(at, kind))
    }

    #[inline]
    fn u8(&mut self) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err(self.pos, K::UnexpectedEof)),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(self.pos, K::UnexpectedEof));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// The length that follows a BINARY_8/20/32 tag.
    fn binary_len(&mut self, t: u8) -> Result<usize> {
        Ok(match t {
            tag::BINARY_8 => usize::from(self.u8()?),
            tag::BINARY_20 => {
                let b = self.take(3)?;
                (usize::from(b[0] & 0x0F) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
            }
            _ => {
                let b = self.take(4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
        })
    }

    fn list_size(&mut self, t: u8, at: usize) -> Result<usize> {
        match t {
            tag::LIST_EMPTY => Ok(0),
            tag::LIST_8 => Ok(usize::from(self.u8()?)),
            tag::LIST_16 => Ok(usize::from(self.u16()?)),
            other => Err(self.err(at, K::InvalidListTag(other))),
        }
    }

    fn packed(&mut self, t: u8) -> Result<String> {
        let start = self.u8()?;
        let n = usize::from(start & 0x7F);
        let at = self.pos;
        let bytes = self.take(n)?;
        let table = if t == tag::NIBBLE_8 {
            &NIBBLE_CHARS
        } else {
            &HEX_CHARS
        };
        let mut out = Vec::with_capacity(2 * n);
        // Invalid nibbles map to 0xFF and the pad to 0 (NUL); both are errors, except a pad
        // (or any valid digit) as the dropped last digit of an odd-length string.
        let odd = start & 0x80 != 0;
        let mut bad = false;
        let (body, last) = match bytes.split_last() {
            Some((&last, body)) => (body, Some(last)),
            None => (bytes, None),
        };
        for &b in body {
            let (hi, lo) = (table[usize::from(b >> 4)], table[usize::from(b & 0x0F)]);
            bad |= hi.wrapping_sub(1) >= 0xFE || lo.wrapping_sub(1) >= 0xFE;
            out.extend_from_slice(&[hi, lo]);
        }
        if let Some(b) = last {
            let (hi, lo) = (table[usize::from(b >> 4)], table[usize::from(b & 0x0F)]);
            bad |= hi.wrapping_sub(1) >= 0xFE || lo == 0xFF || (lo == 0 && !odd);
            out.push(hi);
            if !odd {
                out.push(lo);
            }
        }
        if bad {
            return Err(self.packed_error(at, bytes, t, start));
        }
        // Every table entry is ASCII, so this never fails.
        String::from_utf8(out).map_err(|_| self.err(at, K::InvalidTag(t)))
    }

    /// Locates the offending nibble of a rejected packed string.
    #[cold]
    fn packed_error(&self, at: usize, bytes: &[u8], t: u8, start: u8) -> Box<DecodeError> {
        let table = if t == tag::NIBBLE_8 {
            &NIBBLE_CHARS
        } else {
            &HEX_CHARS
        };
        let last = bytes.len().wrapping_sub(1);
        for (i, &b) in bytes.iter().enumerate() {
            for (j, v) in [b >> 4, b & 0x0F].into_iter().enumerate() {
                let c = table[usize::from(v)];
                let dropped = j == 1 && i == last && start & 0x80 != 0;
                if c == 0xFF || (c == 0 && !dropped) {
                    return self.err(at + i, K::InvalidNibble(v));
                }
            }
        }
        self.err(at, K::InvalidNibble(15))
    }

    /// Reads a string that starts with tag byte `t`. JID encodings are rejected unless
    /// `jid_ok`, in which case they are formatted (tags and keys never hold JIDs in practice,
    /// but Baileys' decoder accepts them).
    #[inline(always)]
    fn string(&mut self, t: u8, at: usize, jid_ok: bool) -> Result<Cow<'static, str>> {
        // Single-byte tokens are most strings: no call, no allocation.
        if let Some(s) = tokens::single(t) {
            return Ok(Cow::Borrowed(s));
        }
        self.string_slow(t, at, jid_ok)
    }

    #[inline(never)]
    fn string_slow(&mut self, t: u8, at: usize, jid_ok: bool) -> Result<Cow<'static, str>> {
        match t {
            tag::LIST_EMPTY => Ok(Cow::Borrowed("")),
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let i = self.u8()?;
                tokens::double(t - tag::DICTIONARY_0, i)
                    .map(Cow::Borrowed)
                    .ok_or_else(|| self.err(at, K::InvalidTag(t)))
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let n = self.binary_len(t)?;
                Ok(Cow::Owned(owned_string(self.take(n)?)))
            }
            tag::NIBBLE_8 | tag::HEX_8 => Ok(Cow::Owned(self.packed(t)?)),
            tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID => {
                if jid_ok {
                    Ok(Cow::Owned(self.jid(t)?.to_string()))
                } else {
                    Err(self.err(at, K::NestedJid))
                }
            }
            other => Err(self.err(at, K::InvalidTag(other))),
        }
    }

    /// Reads the next string (tag byte included); JIDs are not allowed.
    fn next_plain_string(&mut self) -> Result<Cow<'static, str>> {
        let at = self.pos;
        let t = self.u8()?;
        self.string(t, at, false)
    }

    fn jid(&mut self, t: u8) -> Result<Jid> {
        match t {
            tag::JID_PAIR => {
                let user = self.next_plain_string()?;
                let server_at = self.pos;
                let server = self.next_plain_string()?;
                if server.is_empty() {
                    return Err(self.err(server_at, K::EmptyJidServer));
                }
                Ok(Jid::new(user, Server::from_name(&server)))
            }
            tag::AD_JID => {
                let domain = self.u8()?;
                let device = self.u8()?;
                let user = self.next_plain_string()?;
                let (server, agent) = match domain {
                    0 => (Server::Pn, 0),
                    1 => (Server::Lid, 0),
                    128 => (Server::Hosted, 0),
                    129 => (Server::HostedLid, 0),
                    agent => (Server::Pn, agent),
                };
                Ok(Jid::new(user, server)
                    .with_agent(agent)
                    .with_device(u16::from(device)))
            }
            tag::FB_JID => {
                let user = self.next_plain_string()?;
                let device = self.u16()?;
                let server_at = self.pos;
                let server = self.next_plain_string()?;
                if server != "msgr" {
                    return Err(self.err(server_at, K::UnexpectedJidServer(server.into_owned())));
                }
                Ok(Jid::new(user, Server::Messenger).with_device(device))
            }
            _ => {
                let user = self.next_plain_string()?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                let server_at = self.pos;
                let server = self.next_plain_string()?;
                if server != "interop" {
                    return Err(self.err(server_at, K::UnexpectedJidServer(server.into_owned())));
                }
                let mut jid = Jid::new(user, Server::Interop).with_device(device);
                jid.integrator = integrator;
                Ok(jid)
            }
        }
    }

    fn attr_value(&mut self) -> Result<AttrValue> {
        let at = self.pos;
        let t = self.u8()?;
        match t {
            tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID => {
                Ok(AttrValue::Jid(self.jid(t)?))
            }
            _ => Ok(AttrValue::Str(self.string(t, at, false)?)),
        }
    }

    pub(crate) fn node(&mut self, depth: usize) -> Result<Node> {
        let at = self.pos;
        if depth > MAX_DEPTH {
            return Err(self.err(at, K::TooDeep));
        }
        let t = self.u8()?;
        let size = self.list_size(t, at)?;
        if size == 0 {
            return Err(self.err(at, K::EmptyNode));
        }
        let tag_at = self.pos;
        let tt = self.u8()?;
        let tag = self.string(tt, tag_at, true)?;
        if tag.is_empty() {
            return Err(self.err(tag_at, K::EmptyTag));
        }
        let nattrs = (size - 1) >> 1;
        let mut attrs = Vec::with_capacity(nattrs.min(self.remaining() / 2));
        for _ in 0..nattrs {
            let key_at = self.pos;
            let kt = self.u8()?;
            let key = self.string(kt, key_at, true)?;
            let value = self.attr_value()?;
            attrs.push((key, value));
        }
        let content = if size % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content> {
        let at = self.pos;
        let t = self.u8()?;
        Ok(match t {
            tag::LIST_EMPTY | tag::LIST_8 | tag::LIST_16 => {
                let n = self.list_size(t, at)?;
                let mut children = Vec::with_capacity(n.min(self.remaining() / MIN_NODE_LEN));
                for _ in 0..n {
                    children.push(self.node(depth + 1)?);
                }
                Content::Nodes(children)
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let n = self.binary_len(t)?;
                Content::Bytes(self.take(n)?.to_vec())
            }
            tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID => {
                Content::Jid(self.jid(t)?)
            }
            _ => {
                let s = self.string(t, at, false)?;
                // An empty packed string is written back as BINARY_8 0 (like Baileys does for
                // ""), which decodes as empty bytes; decode it that way right away.
                if s.is_empty() {
                    Content::Bytes(Vec::new())
                } else {
                    Content::Str(s)
                }
            }
        })
    }
}
