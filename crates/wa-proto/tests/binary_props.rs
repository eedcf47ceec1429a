//! Property tests of the binary node codec: decode(encode(n)) == n, string values keep their
//! meaning, and arbitrary or mutated bytes never panic.

use std::borrow::Cow;

use proptest::prelude::*;
use wa_proto::binary::{
    AttrValue, Content, DOUBLE_BYTE_TOKENS, Jid, Node, SINGLE_BYTE_TOKENS, Server, decode_node,
    encode_node, marshal, try_marshal_compressed, unmarshal,
};

fn token() -> BoxedStrategy<&'static str> {
    prop_oneof![
        (1usize..SINGLE_BYTE_TOKENS.len()).prop_map(|i| SINGLE_BYTE_TOKENS[i]),
        (0usize..4, 0usize..256).prop_map(|(d, i)| DOUBLE_BYTE_TOKENS[d][i]),
    ]
    .boxed()
}

/// Any string: tokens, packable strings, arbitrary Unicode.
fn any_string() -> BoxedStrategy<String> {
    prop_oneof![
        token().prop_map(str::to_owned),
        "[0-9.-]{0,130}",
        "[0-9A-F]{0,130}",
        "[0-9a-f]{0,20}",
        ".{0,40}",
        "[a-z:_@.0-9-]{0,16}",
    ]
    .boxed()
}

/// Strings that decode as the same string (no `@`, which may turn into a JID).
fn plain_string() -> BoxedStrategy<String> {
    any_string()
        .prop_filter("no @", |s| !s.contains('@'))
        .boxed()
}

/// Strings written as a token or packed, so that as content they decode as strings (not bytes).
fn string_content() -> BoxedStrategy<String> {
    prop_oneof![
        token().prop_map(str::to_owned),
        "[0-9.-]{1,127}",
        "[0-9A-F]{1,127}",
    ]
    .boxed()
}

fn user() -> BoxedStrategy<String> {
    prop_oneof![
        "[0-9]{0,20}",
        "[0-9A-F]{32}",
        ".{0,12}",
        token().prop_map(str::to_owned)
    ]
    .boxed()
}

/// JIDs in the form the decoder produces (canonical for their encoding).
fn jid() -> BoxedStrategy<Jid> {
    let ad_agent = prop_oneof![
        Just(0u8),
        (2u8..=255).prop_filter("domain", |a| *a != 128 && *a != 129)
    ];
    prop_oneof![
        (user(), ad_agent, 0u16..=255)
            .prop_map(|(u, a, d)| Jid::pn(u).with_agent(a).with_device(d)),
        (
            user(),
            prop_oneof![
                Just(Server::Lid),
                Just(Server::Hosted),
                Just(Server::HostedLid)
            ],
            0u16..=255
        )
            .prop_map(|(u, s, d)| Jid::new(u, s).with_device(d)),
        (
            user(),
            prop_oneof![
                Just(Server::Group),
                Just(Server::Broadcast),
                Just(Server::Legacy),
                Just(Server::Newsletter),
                Just(Server::Bot),
                Just(Server::Call),
                "[a-z]{1,8}\\.example".prop_map(|s| Server::from_name(&s)),
            ]
        )
            .prop_map(|(u, s)| Jid::new(u, s)),
        (user(), any::<u16>()).prop_map(|(u, d)| Jid::new(u, Server::Messenger).with_device(d)),
        (user(), any::<u16>(), any::<u16>()).prop_map(|(u, d, i)| {
            let mut j = Jid::new(u, Server::Interop).with_device(d);
            j.integrator = i;
            j
        }),
    ]
    .boxed()
}

fn attr_value() -> BoxedStrategy<AttrValue> {
    prop_oneof![
        3 => plain_string().prop_map(AttrValue::from),
        1 => jid().prop_map(AttrValue::Jid),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Node> {
    let tag = any_string().prop_filter("non-empty tag", |s| !s.is_empty());
    let attrs = prop::collection::vec((any_string(), attr_value()), 0..5);
    let content = prop_oneof![
        Just(Content::None),
        Just(Content::Nodes(Vec::new())),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Content::Bytes),
        string_content().prop_map(|s| Content::Str(Cow::Owned(s))),
        jid().prop_map(Content::Jid),
    ];
    (tag, attrs, content)
        .prop_map(|(tag, attrs, content)| {
            let mut n = Node::new(tag).content(content);
            for (k, v) in attrs {
                n.set_attr(k, v);
            }
            n
        })
        .boxed()
}

fn node() -> BoxedStrategy<Node> {
    leaf()
        .prop_recursive(4, 48, 5, |inner| {
            (leaf(), prop::collection::vec(inner, 0..6))
                .prop_map(|(n, children)| n.children(children))
        })
        .boxed()
}

/// The node with every JID replaced by its text.
fn as_text(node: &Node) -> Node {
    Node {
        tag: node.tag.clone(),
        attrs: node
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), AttrValue::from(v.to_string())))
            .collect(),
        content: match &node.content {
            Content::Nodes(children) => Content::Nodes(children.iter().map(as_text).collect()),
            Content::Jid(j) => Content::Str(j.to_string().into()),
            other => other.clone(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_inverts_encode(n in node()) {
        let bytes = encode_node(&n);
        prop_assert_eq!(decode_node(&bytes), Ok(n.clone()));
        prop_assert_eq!(unmarshal(&marshal(&n)), Ok(n.clone()));
        prop_assert_eq!(unmarshal(&try_marshal_compressed(&n).unwrap()), Ok(n));
    }

    #[test]
    fn string_values_keep_their_meaning(s in any_string()) {
        let n = Node::new("iq").attr("v", s.clone()).text(s.clone());
        let back = decode_node(&encode_node(&n)).unwrap();
        let same = |v: &AttrValue| match v {
            AttrValue::Str(t) => *t == s,
            // A JID-looking string decodes as a JID with the same text, or (for the
            // non-canonical forms `u:0@x`, `u:05@x`) the JID that the text parses to.
            AttrValue::Jid(j) => j.to_string() == s || s.parse::<Jid>().as_ref() == Ok(j),
        };
        prop_assert!(same(back.get_attr("v").unwrap()), "attr {:?} -> {:?}", s, back.get_attr("v"));
        let content_ok = match &back.content {
            Content::Str(t) => *t == s,
            Content::Bytes(b) => b == s.as_bytes(),
            Content::Jid(j) => same(&AttrValue::Jid(j.clone())),
            _ => false,
        };
        prop_assert!(content_ok, "content {:?} -> {:?}", s, back.content);
    }

    #[test]
    fn jid_text_round_trips(j in jid()) {
        // Only user strings that contain the separators can be read differently.
        if !j.user.contains(['@', ':', '_', '.', '-']) && !j.user.is_empty() {
            let text = j.to_string();
            prop_assert_eq!(text.parse::<Jid>(), Ok(j));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_node(&data);
        let _ = unmarshal(&data);
    }

    #[test]
    fn mutated_encodings_never_panic(n in node(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let original = encode_node(&n);
        // Every proper prefix of a valid encoding is rejected.
        let end = cut.index(original.len());
        prop_assert!(decode_node(&original[..end]).is_err());
        let mut bytes = original;
        for (i, b) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        if let Ok(m) = decode_node(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same tree (up to
            // raw `a@b` strings, which re-encode as JIDs with the same text).
            let again = decode_node(&encode_node(&m)).unwrap();
            prop_assert_eq!(as_text(&again), as_text(&m));
        }
    }
}
