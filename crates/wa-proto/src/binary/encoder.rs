//! Node -> bytes.
//!
//! Strings follow Baileys' rules (the reference for the vectors): single-byte token, double-byte
//! token, NIBBLE_8, HEX_8 (upper case), a JID if the string contains `@`, else raw
//! BINARY_8/20/32. Where Baileys would turn a malformed JID-looking string into bytes that do
//! not decode back to the same JID (`a:b:c@x`, `a_b@x`, `a:1@g.us`, `a@`, `u_1:2@s.whatsapp.net`
//! ...), the string is written raw instead, which is lossless. whatsmeow's agent spelling
//! `u.5:2@s.whatsapp.net` is read as agent 5 (as [`Jid`]'s `FromStr` does), where Baileys
//! would keep `u.5` as the user; no real JID has a dot in its user part.

use super::error::EncodeError;
use super::jid::{Jid, Server, split_dot_agent};
use super::node::{AttrValue, Content, Node};
use super::tag;
use super::tokens::{self, Token};

pub(crate) struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

/// How a JID-looking string is written.
enum JidPlan<'s> {
    Pair {
        user: &'s str,
        server: &'s str,
    },
    Ad {
        domain: u8,
        device: u8,
        user: &'s str,
    },
}

/// Parses a decimal `u8` the way a well-formed JID spells it (1 to 3 digits).
fn small_decimal(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Baileys' `jidDecode` + `writeJid`, restricted to strings it handles losslessly (plus the
/// explicit `:0` device that the vectors require).
fn classify_jid(s: &str) -> Option<JidPlan<'_>> {
    let (left, server) = s.split_once('@')?;
    if server.is_empty() || server.contains('@') {
        return None;
    }
    let (user_agent, device) = match left.split_once(':') {
        Some((ua, d)) => (ua, Some(small_decimal(d)?)),
        None => (left, None),
    };
    // An agent is only written for `s.whatsapp.net` device JIDs, as the AD_JID domain byte;
    // 1, 128 and 129 would read back as another server, so such strings stay raw.
    let pn_device = device.is_some() && server == "s.whatsapp.net";
    let (user, agent) = match user_agent.split_once('_') {
        Some((u, a)) => match small_decimal(a) {
            Some(a) if pn_device => (u, Some(a)),
            _ => return None,
        },
        None => match split_dot_agent(user_agent) {
            Some((u, a)) if pn_device => (u, Some(a)),
            _ => (user_agent, None),
        },
    };
    if matches!(agent, Some(1 | 128 | 129)) {
        return None;
    }
    match device {
        None => Some(JidPlan::Pair { user, server }),
        Some(device) => {
            let domain = match server {
                "s.whatsapp.net" => agent.unwrap_or(0),
                "lid" => 1,
                "hosted" => 128,
                "hosted.lid" => 129,
                _ => return None,
            };
            Some(JidPlan::Ad {
                domain,
                device,
                user,
            })
        }
    }
}

/// Character classes of the packed encodings.
const NIBBLE: u8 = 1;
const HEX: u8 = 2;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = NIBBLE | HEX;
        c += 1;
    }
    t[b'-' as usize] = NIBBLE;
    t[b'.' as usize] = NIBBLE;
    let mut c = b'A';
    while c <= b'F' {
        t[c as usize] = HEX;
        c += 1;
    }
    t
};

/// Which of NIBBLE / HEX hold for every byte of a packable-length string (0 as soon as
/// neither can).
#[inline]
fn packable(s: &[u8]) -> u8 {
    let mut all = NIBBLE | HEX;
    for &b in s {
        all &= CLASSES[usize::from(b)];
        if all == 0 {
            break;
        }
    }
    all
}

/// The 4-bit code of a packable byte: `0-9` = 0..9, `-` = 10, `.` = 11, `A-F` = 10..15 (the
/// nibble and hex alphabets never mix within one string).
const PACK_CODES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = c - b'0';
        c += 1;
    }
    t[b'-' as usize] = 10;
    t[b'.' as usize] = 11;
    let mut c = b'A';
    while c <= b'F' {
        t[c as usize] = c - b'A' + 10;
        c += 1;
    }
    t
};

/// A cheap upper bound-ish estimate of the encoded size, used to pre-size the buffer.
pub(crate) fn estimate_size(node: &Node) -> usize {
    let mut n = 4 + node.tag.len();
    for (k, v) in &node.attrs {
        n += 2
            + k.len()
            + match v {
                AttrValue::Str(s) => s.len(),
                AttrValue::Jid(j) => 8 + j.user.len(),
            };
    }
    n + match &node.content {
        Content::None => 0,
        Content::Nodes(children) => 3 + children.iter().map(estimate_size).sum::<usize>(),
        Content::Bytes(b) => 5 + b.len(),
        Content::Str(s) => 5 + s.len(),
        Content::Jid(j) => 8 + j.user.len(),
    }
}

impl<'a> Encoder<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Encoder<'a> {
        Encoder { out }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    fn list_start(&mut self, size: usize) -> Result<(), EncodeError> {
        if size == 0 {
            self.byte(tag::LIST_EMPTY);
        } else if size < 256 {
            self.out.extend_from_slice(&[tag::LIST_8, size as u8]);
        } else if size <= 0xFFFF {
            self.out
                .extend_from_slice(&[tag::LIST_16, (size >> 8) as u8, size as u8]);
        } else {
            return Err(EncodeError::ListTooLong(size));
        }
        Ok(())
    }

    fn byte_length(&mut self, len: usize) -> Result<(), EncodeError> {
        if len < 256 {
            self.out.extend_from_slice(&[tag::BINARY_8, len as u8]);
        } else if len < 1 << 20 {
            self.out.extend_from_slice(&[
                tag::BINARY_20,
                (len >> 16) as u8 & 0x0F,
                (len >> 8) as u8,
                len as u8,
            ]);
        } else if let Ok(l) = u32::try_from(len) {
            self.byte(tag::BINARY_32);
            self.out.extend_from_slice(&l.to_be_bytes());
        } else {
            return Err(EncodeError::BinaryTooLong(len));
        }
        Ok(())
    }

    fn binary(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.byte_length(bytes.len())?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes a NIBBLE_8 or HEX_8 string (its bytes already checked by [`packable`]).
    fn packed(&mut self, kind: u8, s: &[u8]) {
        let odd = s.len() % 2 == 1;
        self.out.reserve(2 + s.len().div_ceil(2));
        self.out.push(kind);
        self.out
            .push((s.len().div_ceil(2) as u8) | if odd { 0x80 } else { 0 });
        let mut pairs = s.chunks_exact(2);
        for p in pairs.by_ref() {
            self.out
                .push((PACK_CODES[usize::from(p[0])] << 4) | PACK_CODES[usize::from(p[1])]);
        }
        if let [last] = pairs.remainder() {
            self.out.push((PACK_CODES[usize::from(*last)] << 4) | 0x0F);
        }
    }

    fn token(&mut self, t: Token) {
        match t {
            Token::Single(i) => self.byte(i),
            Token::Double(d, i) => self.out.extend_from_slice(&[tag::DICTIONARY_0 + d, i]),
        }
    }

    /// Writes a tag, key or JID part: token, packed or raw (no JID detection).
    #[inline]
    fn plain(&mut self, s: &str) -> Result<(), EncodeError> {
        self.string(s, false)
    }

    /// Writes a string value: like [`Encoder::plain`], plus the JID step for strings with `@`.
    #[inline]
    fn value(&mut self, s: &str) -> Result<(), EncodeError> {
        self.string(s, true)
    }

    #[inline(always)]
    fn string(&mut self, s: &str, jid_ok: bool) -> Result<(), EncodeError> {
        if let Some(t) = tokens::lookup(s) {
            self.token(t);
            return Ok(());
        }
        let b = s.as_bytes();
        let class = if !b.is_empty() && b.len() <= tag::PACKED_MAX {
            packable(b)
        } else {
            0
        };
        if class & NIBBLE != 0 {
            self.packed(tag::NIBBLE_8, b);
        } else if class & HEX != 0 {
            self.packed(tag::HEX_8, b);
        } else if jid_ok && b.contains(&b'@') {
            self.jid_string(s)?;
        } else {
            self.binary(b)?;
        }
        Ok(())
    }

    /// A string with an `@`: a JID if it spells one losslessly, else raw.
    #[inline(never)]
    fn jid_string(&mut self, s: &str) -> Result<(), EncodeError> {
        match classify_jid(s) {
            Some(JidPlan::Pair { user, server }) => {
                self.byte(tag::JID_PAIR);
                self.jid_user_or_empty(user)?;
                self.plain(server)
            }
            Some(JidPlan::Ad {
                domain,
                device,
                user,
            }) => {
                self.out.extend_from_slice(&[tag::AD_JID, domain, device]);
                self.plain(user)
            }
            None => self.binary(s.as_bytes()),
        }
    }

    fn jid_user_or_empty(&mut self, user: &str) -> Result<(), EncodeError> {
        if user.is_empty() {
            self.byte(tag::LIST_EMPTY);
            Ok(())
        } else {
            self.plain(user)
        }
    }

    fn jid(&mut self, jid: &Jid) -> Result<(), EncodeError> {
        match &jid.server {
            Server::Messenger => {
                self.byte(tag::FB_JID);
                self.plain(&jid.user)?;
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.plain(jid.server.as_str())
            }
            Server::Interop => {
                self.byte(tag::INTEROP_JID);
                self.plain(&jid.user)?;
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.out.extend_from_slice(&jid.integrator.to_be_bytes());
                self.plain(jid.server.as_str())
            }
            server => match server.ad_domain() {
                Some(domain) if jid.device != 0 || jid.agent != 0 => {
                    let domain = if *server == Server::Pn {
                        jid.agent
                    } else {
                        domain
                    };
                    self.out
                        .extend_from_slice(&[tag::AD_JID, domain, jid.device as u8]);
                    self.plain(&jid.user)
                }
                _ => {
                    self.byte(tag::JID_PAIR);
                    self.jid_user_or_empty(&jid.user)?;
                    self.plain(server.as_str())
                }
            },
        }
    }

    pub(crate) fn node(&mut self, node: &Node) -> Result<(), EncodeError> {
        let has_content = !matches!(node.content, Content::None);
        self.list_start(1 + 2 * node.attrs.len() + usize::from(has_content))?;
        self.plain(&node.tag)?;
        for (k, v) in &node.attrs {
            self.plain(k)?;
            match v {
                AttrValue::Str(s) => self.value(s)?,
                AttrValue::Jid(j) => self.jid(j)?,
            }
        }
        match &node.content {
            Content::None => {}
            Content::Nodes(children) => {
                self.list_start(children.len())?;
                for c in children {
                    self.node(c)?;
                }
            }
            Content::Bytes(b) => self.binary(b)?,
            Content::Str(s) => self.value(s)?,
            Content::Jid(j) => self.jid(j)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(node: &Node) -> Vec<u8> {
        let mut out = Vec::new();
        Encoder::new(&mut out).node(node).unwrap();
        out
    }

    #[test]
    fn worked_vector_from_the_notes() {
        let n = Node::new("iq")
            .attr("id", "1.2-3")
            .attr("xmlns", "w:p")
            .attr("type", "get")
            .attr("to", Jid::server());
        assert_eq!(
            enc(&n),
            [
                0xf8, 0x09, 0x19, 0x08, 0xff, 0x83, 0x1b, 0x2a, 0x3f, 0x16, 0x57, 0x04, 0x29, 0x11,
                0xfa, 0x00, 0x03
            ]
        );
        // The string form of the server JID gives the same bytes; the bare name is a token.
        assert_eq!(
            enc(&Node::new("iq").attr("to", "@s.whatsapp.net")),
            enc(&Node::new("iq").attr("to", Jid::server()))
        );
        assert_eq!(
            enc(&Node::new("iq").attr("to", "s.whatsapp.net")),
            [0xf8, 0x03, 0x19, 0x11, 0x03]
        );
    }

    #[test]
    fn lossy_jid_strings_are_written_raw() {
        for s in [
            "a:b:c@x",
            "u_1:2@s.whatsapp.net",
            "u.128:2@s.whatsapp.net",
            "a_b@s.whatsapp.net",
            "a:1@g.us",
            "a@",
            "a@b@c",
            "u_5@s.whatsapp.net",
            "u_5:1@lid",
            "u:300@lid",
        ] {
            let mut expected = vec![0xf8, 0x02, 0x19, 0xfc, s.len() as u8];
            expected.extend_from_slice(s.as_bytes());
            assert_eq!(enc(&Node::new("iq").text(s)), expected, "{s}");
        }
    }

    #[test]
    fn typed_jids() {
        // msgr is a token and "12345" nibble-packs; whatsmeow writes both the same way.
        let fb = Jid::new("12345", Server::Messenger).with_device(7);
        assert_eq!(
            enc(&Node::new("iq").attr("jid", fb)),
            hex_literal("f803190cf6ff8312345f0007cc")
        );
        let mut interop = Jid::new("999", Server::Interop).with_device(2);
        interop.integrator = 17;
        assert_eq!(
            enc(&Node::new("iq").attr("jid", interop)),
            hex_literal("f803190cf5ff82999f00020011fc07696e7465726f70")
        );
        let lid = Jid::lid("1234567890").with_device(5);
        assert_eq!(
            enc(&Node::new("iq").attr("jid", lid)),
            hex_literal("f803190cf70105ff051234567890")
        );
    }

    fn hex_literal(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
