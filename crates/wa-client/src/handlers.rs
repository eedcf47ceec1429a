//! Inbound stanzas that the driver hands over: `message`, `receipt`, `notification`, `call`.
//!
//! They run, one at a time and in arrival order, in a per-connection processor task that owns
//! a [`Client`] handle: a handler may `await` IQs ([`Client::send_iq`]) and store writes without
//! blocking the socket. Rule of the house: persist, then ack ([`send_ack`]), then emit.
//!
//! # Adding a handler (issue #6: messages)
//! Add a match arm in [`handle_inbound`] that calls your `async fn(&Client, &Node)`; make it
//! persist what it must, then call [`send_ack`] (or send the receipt that replaces the ack),
//! then emit with [`Client::emit_wait`]. Everything not matched is acked as is.

use tokio::sync::mpsc;
use wa_proto::binary::{Jid, Node};

use crate::client::Client;
use crate::error::ClientError;

/// Process inbound stanzas until the connection's sender is dropped.
pub(crate) async fn run_inbound(client: Client, mut rx: mpsc::UnboundedReceiver<Box<Node>>) {
    while let Some(node) = rx.recv().await {
        let node = *node;
        if let Err(e) = handle_inbound(&client, &node).await {
            tracing::warn!(tag = %node.tag, "inbound handler failed: {e}");
        }
    }
}

/// Dispatch one inbound stanza.
pub(crate) async fn handle_inbound(client: &Client, node: &Node) -> Result<(), ClientError> {
    match (node.tag.as_ref(), node.attr_str("type")) {
        // Messaging (issue #6): crate::receive persists, then receipts/acks, then emits.
        ("message", _) => crate::receive::handle_message(client, node).await,
        ("receipt", _) => crate::receive::handle_receipt(client, node).await,
        ("notification", Some("devices")) => {
            crate::receive::handle_devices_notification(client, node).await
        }
        ("notification", Some("encrypt")) => {
            if let Some(count) = node.get_child("count").and_then(|c| c.attr_u64("value")) {
                // The server's pool runs low: top up before acking.
                if count < crate::prekeys::MIN_PREKEYS {
                    crate::prekeys::upload(client, crate::prekeys::TOP_UP_COUNT).await?;
                }
            }
            send_ack(client, node).await
        }
        _ => send_ack(client, node).await,
    }
}

/// Addresses `reply` (an ack or receipt) back to where `node` came from: `to` = its `from`,
/// plus its `participant` and `recipient` when present.
pub(crate) fn address_reply(reply: &mut Node, node: &Node) {
    if let Some(from) = node.get_attr("from") {
        reply.set_attr("to", from.clone());
    }
    for key in ["participant", "recipient"] {
        if let Some(v) = node.get_attr(key) {
            reply.set_attr(key, v.clone());
        }
    }
}

/// Build the `<ack>` for an inbound `message`/`receipt`/`notification`/`call`
/// (protocol-transport.md §7.9): `class` = the tag, same `id`, `to` = its `from`, plus
/// `participant`/`recipient` when present, and `type` except for messages.
pub(crate) fn build_ack(node: &Node, own: Option<&Jid>) -> Node {
    let mut ack = Node::new("ack").attr("class", node.tag.clone().into_owned());
    if let Some(id) = node.get_attr("id") {
        ack.set_attr("id", id.clone());
    }
    address_reply(&mut ack, node);
    if node.tag != "message" {
        if let Some(t) = node.get_attr("type") {
            ack.set_attr("type", t.clone());
        }
    } else if let Some(own) = own {
        ack.set_attr("from", own.to_non_ad());
    }
    ack
}

/// Send the ack for an inbound stanza.
pub(crate) async fn send_ack(client: &Client, node: &Node) -> Result<(), ClientError> {
    let own = client.me().map(|m| m.jid);
    client.send_node(build_ack(node, own.as_ref())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_shapes() {
        let n = Node::new("receipt")
            .attr("id", "ABC")
            .attr("from", Jid::pn("15550001111"))
            .attr("type", "read")
            .attr("participant", Jid::pn("15550002222"));
        let a = build_ack(&n, None);
        assert_eq!(a.attr_str("class"), Some("receipt"));
        assert_eq!(a.attr_str("id"), Some("ABC"));
        assert_eq!(a.attr_jid("to"), Some(Jid::pn("15550001111")));
        assert_eq!(a.attr_str("type"), Some("read"));
        assert_eq!(a.attr_jid("participant"), Some(Jid::pn("15550002222")));

        let m = Node::new("message")
            .attr("id", "X")
            .attr("from", Jid::pn("1555"))
            .attr("type", "text");
        let own = Jid::pn("1999").with_device(3);
        let a = build_ack(&m, Some(&own));
        assert_eq!(a.attr_str("type"), None, "message acks carry no type");
        assert_eq!(a.attr_jid("from"), Some(Jid::pn("1999")));
    }
}
