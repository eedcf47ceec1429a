//! Plain `cargo test` random-input smoke test of the binary node decoder (the fuzz targets need
//! nightly): random bytes, every truncation and random mutations of the vector frames, and
//! hostile length fields. Nothing may panic, and whatever decodes must re-encode consistently.

#[path = "data/binary/json.rs"]
mod json;

use json::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wa_proto::binary::{
    AttrValue, Content, DecodeErrorKind, Node, decode_node, encode_node, try_marshal_compressed,
    unmarshal, unmarshal_with_limit,
};

fn small_frames() -> Vec<Vec<u8>> {
    let file: NodeFile = load("nodes.json");
    file.cases
        .iter()
        .map(NodeCase::frame)
        .filter(|f| f.len() <= 4096)
        .collect()
}

/// The node with every JID replaced by its text. A raw string that looks like a JID (`a@b`)
/// decodes as a string but is re-encoded as a JID (Baileys' string rules), so the re-decoded
/// tree may hold a JID where the first held its text.
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

fn check(data: &[u8]) {
    if let Ok(node) = unmarshal(data) {
        let again = decode_node(&encode_node(&node)).expect("re-encoded node decodes");
        assert_eq!(as_text(&again), as_text(&node), "re-encode of {data:02x?}");
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x0b1a_2c0d);
    let mut buf = Vec::new();
    for i in 0..100_000 {
        let len = rng.gen_range(0..64);
        buf.clear();
        // Start half of the inputs like a frame so that the decoder gets past the header.
        if i % 2 == 0 {
            buf.extend_from_slice(&[0x00, 0xf8, rng.r#gen()]);
        }
        buf.extend((0..len).map(|_| rng.r#gen::<u8>()));
        check(&buf);
    }
}

#[test]
fn every_truncation_of_every_vector_fails_cleanly() {
    let mut n = 0;
    for frame in small_frames() {
        for cut in 0..frame.len() {
            let err = unmarshal(&frame[..cut]).expect_err("a truncated frame must not decode");
            assert!(err.offset <= cut);
            n += 1;
        }
    }
    assert!(n > 10_000, "{n}");
}

#[test]
fn mutated_vectors_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let frames = small_frames();
    for _ in 0..50_000 {
        let mut f = frames[rng.gen_range(0..frames.len())].clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..f.len());
            match rng.gen_range(0..3) {
                0 => f[i] = rng.r#gen(),
                1 => f[i] ^= 1 << rng.gen_range(0..8),
                _ => {
                    f.insert(i, rng.r#gen());
                }
            }
        }
        check(&f);
    }
}

#[test]
fn hostile_lengths_do_not_allocate() {
    // BINARY_32 claiming 4 GiB, LIST_16 claiming 65535 children, BINARY_20 claiming 1 MiB.
    for frame in [
        &[0x00, 0xf8, 0x02, 0x19, 0xfe, 0xff, 0xff, 0xff, 0xff][..],
        &[0x00, 0xf8, 0x02, 0x19, 0xf9, 0xff, 0xff, 0xf8, 0x01, 0x19][..],
        &[0x00, 0xf8, 0x02, 0x19, 0xfd, 0x0f, 0xff, 0xff, 0x00][..],
        &[0x00, 0xf9, 0xff, 0xff, 0x19][..],
    ] {
        assert_eq!(
            unmarshal(frame).unwrap_err().kind,
            DecodeErrorKind::UnexpectedEof
        );
    }
    // A deep chain of single-child lists stops at MAX_DEPTH.
    let mut deep = vec![0x00];
    for _ in 0..10_000 {
        deep.extend_from_slice(&[0xf8, 0x02, 0x19, 0xf8, 0x01]);
    }
    assert_eq!(unmarshal(&deep).unwrap_err().kind, DecodeErrorKind::TooDeep);
}

#[test]
fn zlib_bomb_is_capped() {
    // 8 MiB of zeros compresses to a few KiB.
    let node = Node::new("iq").bytes(vec![0u8; 8 << 20]);
    let frame = try_marshal_compressed(&node).unwrap();
    assert!(frame.len() < 64 << 10, "{}", frame.len());
    assert_eq!(
        unmarshal_with_limit(&frame, 1 << 20).unwrap_err().kind,
        DecodeErrorKind::InflatedTooLarge(1 << 20)
    );
    assert_eq!(unmarshal(&frame).unwrap(), node);
}
