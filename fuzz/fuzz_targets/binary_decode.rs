//! Fuzz the binary node decoder: arbitrary frame plaintexts (flags byte, optional zlib) and
//! raw node bytes, under a small inflate cap. Nothing may panic; errors must point inside the
//! input; whatever decodes must re-encode to bytes that decode to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_proto::binary::{AttrValue, Content, Node, decode_node, encode_node, unmarshal_with_limit};

/// The node with every JID replaced by its text (a raw `a@b` string re-encodes as a JID).
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

fn check(result: Result<Node, wa_proto::binary::DecodeError>) {
    if let Ok(node) = result {
        let again = decode_node(&encode_node(&node)).expect("a decoded node re-encodes");
        assert_eq!(as_text(&again), as_text(&node));
    }
}

fuzz_target!(|data: &[u8]| {
    check(unmarshal_with_limit(data, 1 << 20));
    let direct = decode_node(data);
    if let Err(e) = &direct {
        assert!(e.offset <= data.len());
    }
    check(direct);
});
