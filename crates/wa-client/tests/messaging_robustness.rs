//! Robustness of the messaging parsers on untrusted input: property tests (padding round
//! trip, stanza parsers never panic on mutated stanzas) and a plain random-input smoke test.

use proptest::prelude::*;
use wa_client::fuzzing;
use wa_proto::binary::{Jid, Node};

fn sample_stanzas() -> Vec<Node> {
    vec![
        Node::new("iq").child(
            Node::new("list").child(
                Node::new("user")
                    .attr("jid", Jid::pn("1555").with_device(2))
                    .children([
                        Node::new("registration").bytes(vec![0, 0, 1, 2]),
                        Node::new("identity").bytes(vec![9; 32]),
                        Node::new("skey").children([
                            Node::new("id").bytes(vec![0, 0, 1]),
                            Node::new("value").bytes(vec![7; 32]),
                            Node::new("signature").bytes(vec![1; 64]),
                        ]),
                        Node::new("key").children([
                            Node::new("id").bytes(vec![0, 1, 1]),
                            Node::new("value").bytes(vec![3; 32]),
                        ]),
                    ]),
            ),
        ),
        Node::new("iq").child(Node::new("usync").child(
            Node::new("list").child(Node::new("user").attr("jid", Jid::pn("1555")).child(
                Node::new("devices").child(Node::new("device-list").children([
                    Node::new("device").attr("id", "0"),
                    Node::new("device").attr("id", "7").attr("key-index", "1"),
                ])),
            )),
        )),
        Node::new("iq").child(
            Node::new("media_conn")
                .attr("auth", "x")
                .child(Node::new("host").attr("hostname", "h")),
        ),
        Node::new("message")
            .attr("id", "ID")
            .attr("from", Jid::pn("1555").with_device(1))
            .child(
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(vec![1, 2, 3, 1]),
            ),
    ]
}

/// Replace the byte content of the `i`-th byte-carrying node (depth first) with `b`.
fn mutate(node: &mut Node, i: &mut usize, b: &[u8]) {
    if let Some(children) = node.get_children_mut() {
        for c in children {
            mutate(c, i, b);
        }
        return;
    }
    if *i == 0 {
        *node = node.clone().bytes(b.to_vec());
    }
    *i = i.wrapping_sub(1);
}

proptest! {
    #[test]
    fn pad_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300), seed in any::<u32>()) {
        prop_assert!(fuzzing::pad_round_trip(&data, seed));
    }

    #[test]
    fn parsers_never_panic_on_mutated_stanzas(which in 0usize..4, at in 0usize..12,
            bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut n = sample_stanzas().swap_remove(which);
        let mut i = at;
        mutate(&mut n, &mut i, &bytes);
        fuzzing::inbound_stanza(&n);
    }

    #[test]
    fn payload_decoding_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzzing::decrypted_payload(&data);
    }
}

#[test]
fn random_input_smoke() {
    // A small deterministic generator: no dependency on a RNG crate.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut decoded = 0;
    for _ in 0..5000 {
        let len = (next() % 512) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if fuzzing::decrypted_payload(&data) {
            decoded += 1;
        }
        if let Ok(node) = wa_proto::binary::decode_node(&data) {
            fuzzing::inbound_stanza(&node);
        }
    }
    // Random bytes occasionally form a valid (mostly empty) protobuf; never all of them.
    assert!(decoded < 5000);
    // And valid payloads do decode.
    let mut ok = prost::Message::encode_to_vec(&wa_client::text_message("hi"));
    ok.extend([1]);
    assert!(fuzzing::decrypted_payload(&ok));
}
