//! Pure interpretation of server stanzas that decide the connection's fate: what a
//! `<stream:error>` or `<failure>` means, and what a `<pair-device>` offers. The driver acts on
//! these; they are public so that they can be fuzzed and reused.

use wa_proto::binary::{Jid, Node};

/// What the client does after a server verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Reconnect immediately (stream error 515).
    Restart,
    /// Back off and reconnect.
    Retry(String),
    /// Logged out: wipe the store and stop.
    LoggedOut(String),
    /// Stop, keeping the login (replaced, fatal failure).
    Stop(String),
}

/// `<stream:error code=… [<conflict type=…/>]>` (protocol-transport.md §7.6): 515 restart,
/// 401 / `device_removed` / 516 logged out, `replaced` / 440 / 409 stop, anything else retry.
pub fn classify_stream_error(node: &Node) -> Disposition {
    let code = node.attr_u64("code");
    let conflict = node.get_child("conflict").and_then(|c| c.attr_text("type"));
    match (code, conflict.as_deref()) {
        (_, Some("replaced")) | (Some(440), _) => {
            Disposition::Stop("replaced by another connection".into())
        }
        (_, Some("device_removed")) | (Some(401), _) => {
            Disposition::LoggedOut("device removed".into())
        }
        (Some(515), _) => Disposition::Restart,
        (Some(516), _) => Disposition::LoggedOut("device removed (516)".into()),
        (Some(409), _) => Disposition::Stop("conflict (409)".into()),
        (Some(c), _) => Disposition::Retry(format!("stream error {c}")),
        (None, _) => Disposition::Retry("stream error".into()),
    }
}

/// `<failure reason=…>` (protocol-transport.md §7.7): 401/403/406 logged out, 500/503 retry,
/// everything else (405 outdated, bans...) stops.
pub fn classify_failure(node: &Node) -> Disposition {
    match node.attr_u64("reason") {
        Some(r @ (401 | 403 | 406)) => Disposition::LoggedOut(format!("failure {r}")),
        Some(r @ (500 | 503)) => Disposition::Retry(format!("failure {r}")),
        Some(405) => Disposition::Stop("client outdated (failure 405)".into()),
        Some(r) => Disposition::Stop(format!("failure {r}")),
        None => Disposition::Retry("failure".into()),
    }
}

/// The `<ref>` texts of an `<iq><pair-device>` (refs that are not text are skipped).
pub fn pair_device_refs(iq: &Node) -> Vec<String> {
    iq.get_child("pair-device")
        .map(|p| {
            p.children_by_tag("ref")
                .filter_map(|r| r.text_content().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the client derives from one decrypted frame plaintext, for fuzzing: decode,
/// classify, extract refs, build the ack. Never panics.
pub fn inspect_frame(plaintext: &[u8]) -> Option<Disposition> {
    let node = wa_proto::binary::unmarshal(plaintext).ok()?;
    let _ = pair_device_refs(&node);
    let _ = crate::handlers::build_ack(&node, Some(&Jid::pn("15550001111").with_device(2)));
    let _ = node.attr_jid("lid");
    match node.tag.as_ref() {
        "stream:error" => Some(classify_stream_error(&node)),
        "failure" => Some(classify_failure(&node)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn verdicts() {
        let se = |code: &'static str| Node::new("stream:error").attr("code", code);
        assert_eq!(classify_stream_error(&se("515")), Disposition::Restart);
        assert!(matches!(
            classify_stream_error(&se("503")),
            Disposition::Retry(_)
        ));
        assert!(matches!(
            classify_stream_error(&se("401")),
            Disposition::LoggedOut(_)
        ));
        assert!(matches!(
            classify_stream_error(&se("440")),
            Disposition::Stop(_)
        ));
        let replaced =
            Node::new("stream:error").child(Node::new("conflict").attr("type", "replaced"));
        assert!(matches!(
            classify_stream_error(&replaced),
            Disposition::Stop(_)
        ));
        let removed = se("401").child(Node::new("conflict").attr("type", "device_removed"));
        assert!(matches!(
            classify_stream_error(&removed),
            Disposition::LoggedOut(_)
        ));
        let f = |r: &'static str| Node::new("failure").attr("reason", r);
        assert!(matches!(
            classify_failure(&f("401")),
            Disposition::LoggedOut(_)
        ));
        assert!(matches!(classify_failure(&f("503")), Disposition::Retry(_)));
        assert!(matches!(classify_failure(&f("405")), Disposition::Stop(_)));
    }

    #[test]
    fn refs_are_extracted_in_order() {
        let iq = Node::new("iq").child(
            Node::new("pair-device")
                .child(Node::new("ref").bytes(b"a".to_vec()))
                .child(Node::new("ref").children([]))
                .child(Node::new("ref").text("b")),
        );
        assert_eq!(pair_device_refs(&iq), ["a", "b"]);
    }

    #[test]
    fn random_frames_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..5000 {
            let len = rng.gen_range(0..64);
            let mut buf: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            if !buf.is_empty() {
                buf[0] &= 0x02;
            }
            let _ = inspect_frame(&buf);
        }
        let real = wa_proto::binary::marshal(&Node::new("stream:error").attr("code", "515"));
        assert_eq!(inspect_frame(&real), Some(Disposition::Restart));
    }
}
