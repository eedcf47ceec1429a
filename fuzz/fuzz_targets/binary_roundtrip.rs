//! Fuzz the binary node encoder: build a node tree from the input bytes (strings that may look
//! like tokens, packed strings or JIDs, typed JIDs, bytes, nested children), then check that
//! it survives encode -> decode (plain and zlib-compressed frames) with the same meaning.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::binary::{
    AttrValue, Content, Jid, Node, SINGLE_BYTE_TOKENS, Server, decode_node, encode_node, marshal,
    try_marshal_compressed, unmarshal,
};

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn string(&mut self) -> String {
        match self.byte() % 4 {
            0 => SINGLE_BYTE_TOKENS[usize::from(self.byte()) % SINGLE_BYTE_TOKENS.len()].to_owned(),
            _ => {
                let n = usize::from(self.byte() % 24).min(self.0.len());
                let (s, rest) = self.0.split_at(n);
                self.0 = rest;
                String::from_utf8_lossy(s).into_owned()
            }
        }
    }

    fn jid(&mut self) -> Jid {
        let user = self.string().replace('@', "");
        let device = u16::from(self.byte());
        match self.byte() % 6 {
            0 => Jid::pn(user).with_device(device),
            1 => Jid::lid(user).with_device(device),
            2 => Jid::group(user),
            3 => Jid::new(user, Server::Messenger).with_device(device),
            4 => Jid::new(user, Server::HostedLid).with_device(device),
            _ => Jid::server(),
        }
    }

    fn node(&mut self, depth: usize) -> Node {
        let mut tag = self.string();
        if tag.is_empty() {
            tag.push('x');
        }
        let mut node = Node::new(tag);
        for _ in 0..self.byte() % 4 {
            let key = self.string();
            let value = if self.byte() % 3 == 0 {
                AttrValue::Jid(self.jid())
            } else {
                AttrValue::from(self.string())
            };
            node.set_attr(key, value);
        }
        node.content = match self.byte() % 5 {
            0 => Content::None,
            1 => Content::Bytes(self.string().into_bytes()),
            2 => Content::Jid(self.jid()),
            3 => Content::Str(self.string().into()),
            _ if depth < 4 => {
                Content::Nodes((0..self.byte() % 4).map(|_| self.node(depth + 1)).collect())
            }
            _ => Content::Nodes(Vec::new()),
        };
        node
    }
}

/// A string value comes back as itself, or as the JID it spells (canonically formatted).
fn same_string(s: &str, back: &AttrValue) -> bool {
    match back {
        AttrValue::Str(t) => t == s,
        AttrValue::Jid(j) => j.to_string() == s || s.parse::<Jid>().as_ref() == Ok(j),
    }
}

fn check(orig: &Node, back: &Node) {
    assert_eq!(orig.tag, back.tag);
    assert_eq!(orig.attrs.len(), back.attrs.len());
    for ((k, v), (bk, bv)) in orig.attrs.iter().zip(&back.attrs) {
        assert_eq!(k, bk);
        match v {
            AttrValue::Str(s) => assert!(same_string(s, bv), "{s:?} -> {bv:?}"),
            AttrValue::Jid(j) => assert_eq!(bv.as_jid(), Some(j)),
        }
    }
    match (&orig.content, &back.content) {
        (Content::None, Content::None) => {}
        (Content::Nodes(a), Content::Nodes(b)) => {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).for_each(|(a, b)| check(a, b));
        }
        (Content::Bytes(a), Content::Bytes(b)) => assert_eq!(a, b),
        (Content::Str(s), Content::Bytes(b)) => assert_eq!(s.as_bytes(), &b[..]),
        (Content::Str(s), Content::Str(t)) => assert_eq!(s, t),
        (Content::Str(s), Content::Jid(j)) => assert!(same_string(s, &AttrValue::Jid(j.clone()))),
        (Content::Jid(a), Content::Jid(b)) => assert_eq!(a, b),
        (a, b) => panic!("content {a:?} -> {b:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let node = Input(data).node(0);
    let bytes = encode_node(&node);
    let back = decode_node(&bytes).expect("an encoded node decodes");
    check(&node, &back);
    // Decoding is a fixed point after one round trip.
    assert_eq!(decode_node(&encode_node(&back)).as_ref(), Ok(&back));
    assert_eq!(unmarshal(&marshal(&node)).as_ref(), Ok(&back));
    let z = try_marshal_compressed(&node).expect("encodable");
    assert_eq!(unmarshal(&z).as_ref(), Ok(&back));
});
