//! One-time prekeys: counting them on the server, uploading and topping up
//! (protocol-transport.md §7.3).

use wa_proto::binary::{Jid, Node};

use crate::client::Client;
use crate::error::ClientError;

/// Upload when the server holds fewer than this many prekeys.
pub(crate) const MIN_PREKEYS: u64 = 5;
/// First upload when the server has none.
pub(crate) const INITIAL_COUNT: u32 = 812;
/// Top-up batch.
pub(crate) const TOP_UP_COUNT: u32 = 50;
/// Most prekeys sent in one upload `iq` (~4.5 KB). The initial 812 go in several uploads (the
/// server adds every upload to the device's pool, as top-ups rely on): one 812-key `iq` is
/// ~35 KB, and tungstenite keeps its write buffer at the largest message it ever sent for the
/// life of the connection, which for thousands of idle sessions is ~35 KB each.
pub(crate) const UPLOAD_BATCH: usize = 100;

/// Ask the server how many of our prekeys it holds.
pub(crate) async fn server_count(client: &Client) -> Result<u64, ClientError> {
    let iq = Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .attr("to", Jid::server())
        .child(Node::new("count"));
    let resp = client.send_iq(iq).await?;
    resp.get_child("count")
        .and_then(|c| c.attr_u64("value"))
        .ok_or_else(|| ClientError::Protocol("prekey count reply without <count value>".into()))
}

/// Upload prekeys when the server runs low (812 when it has none, else a top-up batch).
pub(crate) async fn upload_if_needed(client: &Client) -> Result<(), ClientError> {
    let count = server_count(client).await?;
    if count >= MIN_PREKEYS {
        return Ok(());
    }
    upload(
        client,
        if count == 0 {
            INITIAL_COUNT
        } else {
            TOP_UP_COUNT
        },
    )
    .await
}

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// Generate `n` prekeys, persist them, then upload them with our identity and signed prekey,
/// at most [`UPLOAD_BATCH`] per `iq`.
pub(crate) async fn upload(client: &Client, n: u32) -> Result<(), ClientError> {
    let store = client.store().as_ref();
    let creds = crate::creds::load(store)?.ok_or(ClientError::NotConnected)?;
    let keys = crate::creds::new_prekeys(store, client.config(), n)?;
    for batch in keys.chunks(UPLOAD_BATCH) {
        upload_batch(client, &creds, batch).await?;
    }
    tracing::info!(count = n, "uploaded prekeys");
    Ok(())
}

async fn upload_batch(
    client: &Client,
    creds: &crate::creds::Creds,
    keys: &[wa_signal::PreKeyRecord],
) -> Result<(), ClientError> {
    let list = keys.iter().map(|k| {
        Node::new("key")
            .child(Node::new("id").bytes(id3(k.id)))
            .child(Node::new("value").bytes(k.key_pair.public.as_djb().to_vec()))
    });
    let spk = &creds.signed_prekey;
    let iq = Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "set")
        .attr("to", Jid::server())
        .child(Node::new("registration").bytes(creds.registration_id.to_be_bytes().to_vec()))
        .child(Node::new("type").bytes(vec![0x05]))
        .child(Node::new("identity").bytes(creds.identity.public.as_djb().to_vec()))
        .child(Node::new("list").children(list))
        .child(
            Node::new("skey")
                .child(Node::new("id").bytes(id3(spk.id)))
                .child(Node::new("value").bytes(spk.key_pair.public.as_djb().to_vec()))
                .child(Node::new("signature").bytes(spk.signature.to_vec())),
        );
    client.send_iq(iq).await?;
    Ok(())
}
