//! The public binary node vectors (Baileys 7.0.0-rc14, cross-checked with whatsapp-rust), in
//! both directions. See `tests/data/binary/README.md`.

#[path = "data/binary/json.rs"]
mod json;

use json::*;
use sha2::{Digest, Sha256};
use wa_proto::binary::{
    DOUBLE_BYTE_TOKENS, DecodeErrorKind, Jid, SINGLE_BYTE_TOKENS, decode_node, encode_node,
    marshal, unmarshal, unpack,
};

fn jid_display(j: &Jid) -> String {
    j.to_string()
}

/// Baileys drops the agent of an AD_JID when decoding; we keep it.
fn jid_display_without_agent(j: &Jid) -> String {
    j.clone().with_agent(0).to_string()
}

#[test]
fn encoder_matches_every_frame() {
    let file: NodeFile = load("nodes.json");
    assert_eq!(file.dictionary_version, 3);
    assert_eq!(file.cases.len(), file.count);
    assert_eq!(file.count, 305);
    let mut failures = Vec::new();
    for case in &file.cases {
        let want = case.frame();
        let got = marshal(&case.node.to_node());
        if let Some(len) = case.frame_len {
            assert_eq!(want.len(), len, "{}: frame_len", case.id);
        }
        if let Some(sha) = &case.frame_sha256 {
            assert_eq!(
                hex::encode(Sha256::digest(&want)),
                *sha,
                "{}: frame_sha256",
                case.id
            );
        }
        if got != want {
            failures.push(format!(
                "{} ({}): got {} want {}",
                case.id,
                case.kind,
                hex::encode(&got[..got.len().min(80)]),
                hex::encode(&want[..want.len().min(80)])
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} encoder mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn decoder_matches_every_frame() {
    let file: NodeFile = load("nodes.json");
    let mut failures = Vec::new();
    for case in &file.cases {
        let frame = case.frame();
        let node = match unmarshal(&frame) {
            Ok(n) => n,
            Err(e) => {
                failures.push(format!("{}: {e}", case.id));
                continue;
            }
        };
        let agent = case.tags.iter().any(|t| t == "pn-agent-device");
        let jid_text: &dyn Fn(&Jid) -> String = if agent {
            &jid_display_without_agent
        } else {
            &jid_display
        };
        if let Err(e) = compare(&node, case.expected_decoded(), "", jid_text) {
            failures.push(format!("{}: {e}", case.id));
        }
        // The decoded tree re-encodes to the same bytes wherever Baileys' does; for the agent
        // JIDs ours does too, because the agent is kept.
        let reencoded = marshal(&node);
        if case.reencode_equal || agent {
            if reencoded != frame {
                failures.push(format!("{}: re-encoding differs", case.id));
            }
        } else {
            assert!(case.tags.iter().any(|t| t == "pn-device-0"), "{}", case.id);
            assert_ne!(reencoded, frame, "{}", case.id);
        }
        // decode_node on the bytes without the flags byte gives the same tree.
        assert_eq!(decode_node(&frame[1..]).as_ref(), Ok(&node), "{}", case.id);
    }
    assert!(
        failures.is_empty(),
        "{} decoder mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn agent_jids_keep_the_agent() {
    let file: NodeFile = load("nodes.json");
    let agent_cases: Vec<_> = file
        .cases
        .iter()
        .filter(|c| c.tags.iter().any(|t| t == "pn-agent-device"))
        .collect();
    assert_eq!(agent_cases.len(), 2);
    for case in agent_cases {
        let node = unmarshal(&case.frame()).unwrap();
        let jid = node
            .attr_jid("from")
            .or_else(|| node.jid_content())
            .expect("a JID");
        assert_eq!(jid.agent, 5, "{}", case.id);
        assert_eq!(jid.server, wa_proto::binary::Server::Pn);
    }
}

#[test]
fn compressed_frames_inflate_and_decode() {
    let file: CompressedFile = load("compressed.json");
    assert_eq!(file.count, 20);
    assert_eq!(file.cases.len(), 20);
    let nodes: NodeFile = load("nodes.json");
    for case in &file.cases {
        let frame = unhex(&case.frame);
        assert_eq!(frame[0] & 2, 2, "{}", case.id);
        let inflated = unpack(&frame, usize::MAX).unwrap_or_else(|e| panic!("{}: {e}", case.id));
        assert_eq!(hex::encode(&*inflated), case.inflated, "{}", case.id);
        let node = unmarshal(&frame).unwrap_or_else(|e| panic!("{}: {e}", case.id));
        compare(&node, &case.decoded, "", &jid_display)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        let source = nodes
            .cases
            .iter()
            .find(|c| c.id == case.source_case)
            .expect("source case");
        assert_eq!(&source.frame()[1..], &inflated[..], "{}", case.id);
        // Every proper prefix of a compressed frame is rejected.
        for cut in 1..frame.len() {
            assert!(
                unmarshal(&frame[..cut]).is_err(),
                "{} cut at {cut}",
                case.id
            );
        }
    }
}

#[test]
fn must_fail_frames_are_rejected() {
    let file: FailFile = load("must_fail.json");
    assert_eq!(file.count, 23);
    assert_eq!(file.cases.len(), 23);
    for case in &file.cases {
        let frame = unhex(&case.frame);
        let err = unmarshal(&frame).expect_err(&case.id);
        // The error points inside the input.
        assert!(
            err.offset <= frame.len(),
            "{}: offset {} of {}",
            case.id,
            err.offset,
            frame.len()
        );
    }
    // A few specific kinds.
    let kind = |id: &str| {
        let c = file.cases.iter().find(|c| c.id == id).unwrap();
        unmarshal(&unhex(&c.frame)).unwrap_err().kind
    };
    assert_eq!(kind("fail-009"), DecodeErrorKind::UnexpectedEof);
    assert_eq!(kind("fail-012"), DecodeErrorKind::EmptyNode);
    assert_eq!(kind("fail-013"), DecodeErrorKind::EmptyTag);
    assert_eq!(kind("fail-014"), DecodeErrorKind::EmptyTag);
    assert_eq!(kind("fail-015"), DecodeErrorKind::InvalidTag(0xf0));
    assert_eq!(kind("fail-018"), DecodeErrorKind::InvalidNibble(12));
    assert_eq!(kind("fail-019"), DecodeErrorKind::EmptyJidServer);
    assert_eq!(kind("fail-020"), DecodeErrorKind::InvalidListTag(0xfc));
    assert_eq!(kind("fail-021"), DecodeErrorKind::UnexpectedEof);
    assert!(matches!(kind("fail-023"), DecodeErrorKind::Inflate(_)));
}

#[test]
fn decode_only_frames() {
    let file: DecodeOnlyFile = load("decode_only.json");
    assert_eq!(file.count, 10);
    for case in &file.cases {
        let frame = unhex(&case.frame);
        if case.id == "decode-009" {
            // Trailing bytes: Baileys ignores them, we reject them (like whatsmeow/whatsapp-rust).
            let err = unmarshal(&frame).unwrap_err();
            assert_eq!(err.kind, DecodeErrorKind::TrailingData(2));
            assert_eq!(err.offset, 3);
            continue;
        }
        let node = unmarshal(&frame).unwrap_or_else(|e| panic!("{}: {e}", case.id));
        compare(&node, &case.decoded, "", &jid_display)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        // Whatever we decode, we can encode, and that decodes to the same tree.
        assert_eq!(
            decode_node(&encode_node(&node)).as_ref(),
            Ok(&node),
            "{}",
            case.id
        );
    }
}

#[test]
fn decode_only_typed_jids() {
    let file: DecodeOnlyFile = load("decode_only.json");
    let jid = |id: &str| {
        let c = file.cases.iter().find(|c| c.id == id).unwrap();
        unmarshal(&unhex(&c.frame))
            .unwrap()
            .attr_jid("jid")
            .unwrap()
    };
    let fb = jid("decode-001");
    assert_eq!((fb.user.as_str(), fb.device), ("12345", 7));
    assert_eq!(fb.server, wa_proto::binary::Server::Messenger);
    let interop = jid("decode-002");
    assert_eq!(
        (interop.user.as_str(), interop.device, interop.integrator),
        ("999", 2, 17)
    );
    assert_eq!(interop.server, wa_proto::binary::Server::Interop);
    assert_eq!(jid("decode-006"), Jid::lid("1234567890").with_device(5));
    assert_eq!(jid("decode-007").server, wa_proto::binary::Server::Hosted);
}

fn fingerprint(tokens: &[&str]) -> String {
    hex::encode(Sha256::digest(tokens.join("\n").as_bytes()))
}

#[test]
fn token_tables_match_the_vectors() {
    let file: TokenFile = load("tokens.json");
    assert_eq!(file.dictionary_version, wa_proto::binary::DICT_VERSION);
    assert_eq!(file.single_byte.count, SINGLE_BYTE_TOKENS.len());
    assert_eq!(file.single_byte.tokens, SINGLE_BYTE_TOKENS);
    assert_eq!(fingerprint(&SINGLE_BYTE_TOKENS), file.single_byte.sha256);
    assert_eq!(
        file.single_byte.sha256,
        "1e8302d2aba0d8c40d09fd79fc9c70347350cb00926dd0e3565683b347be35a5"
    );
    assert_eq!(file.double_byte.len(), 4);
    for (d, table) in file.double_byte.iter().enumerate() {
        assert_eq!(usize::from(table.dictionary), d);
        assert_eq!(usize::from(table.tag_byte), 236 + d);
        assert_eq!(table.tokens, DOUBLE_BYTE_TOKENS[d]);
        assert_eq!(fingerprint(&DOUBLE_BYTE_TOKENS[d]), table.sha256);
    }
}

#[test]
fn every_token_encodes_to_its_index_and_back() {
    use wa_proto::binary::Node;
    for (i, t) in SINGLE_BYTE_TOKENS.iter().enumerate().skip(1) {
        let bytes = encode_node(&Node::new("iq").attr("type", *t));
        assert_eq!(bytes, [0xf8, 0x03, 0x19, 0x04, i as u8], "{t}");
        assert_eq!(decode_node(&bytes).unwrap().attr_str("type"), Some(*t));
    }
    for (d, table) in DOUBLE_BYTE_TOKENS.iter().enumerate() {
        for (i, t) in table.iter().enumerate() {
            let bytes = encode_node(&Node::new("iq").attr("type", *t));
            assert_eq!(
                bytes,
                [0xf8, 0x03, 0x19, 0x04, 236 + d as u8, i as u8],
                "{t}"
            );
            assert_eq!(decode_node(&bytes).unwrap().attr_str("type"), Some(*t));
        }
    }
}
