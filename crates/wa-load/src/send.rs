//! Mode (b): sustained text sends to a simulated phone, from one session and then from many
//! at once; messages/s and latency until the server's ack (`Client::send_text` returns on it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::task::JoinSet;
use wa_client::Client;

use crate::emu::Emu;
use crate::sessions::{Session, StoreKind, Stores, pair_many};
use crate::stats::Samples;

/// The simulated phone every message goes to (an account without companions).
pub(crate) const RECIPIENT: &str = "15550009999";

/// Options of mode (b).
pub(crate) struct SendOpts {
    pub(crate) sessions: usize,
    pub(crate) messages: usize,
    pub(crate) inflight: usize,
    pub(crate) parallel: usize,
    pub(crate) per_session: Duration,
    pub(crate) deliver_timeout: Duration,
    pub(crate) store: StoreKind,
}

/// `messages` sends from one client, `inflight` at a time; latency of each until its ack.
async fn send_from(
    client: Client,
    tag: String,
    messages: usize,
    inflight: usize,
) -> Result<Samples> {
    let mut lat = Samples::default();
    let mut set = JoinSet::new();
    for i in 0..messages {
        if set.len() >= inflight.max(1) {
            lat.push(set.join_next().await.expect("non-empty")??);
        }
        let c = client.clone();
        let text = format!("load {tag} #{i}");
        set.spawn(async move {
            let t0 = Instant::now();
            c.send_text(RECIPIENT, &text).await.context("send_text")?;
            anyhow::Ok(t0.elapsed())
        });
    }
    while let Some(r) = set.join_next().await {
        lat.push(r??);
    }
    Ok(lat)
}

async fn phase(label: &str, senders: &[Session], o: &SendOpts) -> Result<usize> {
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for (i, s) in senders.iter().enumerate() {
        set.spawn(send_from(
            s.client.clone(),
            format!("{label}/{i}"),
            o.messages,
            o.inflight,
        ));
    }
    let mut all = Samples::default();
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    let wall = t0.elapsed();
    println!(
        "{label}: {} sessions x {} messages ({} in flight each): {} sent in {:.2}s = {:.0} msg/s; latency to server ack: {}",
        senders.len(),
        o.messages,
        o.inflight,
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        all.summary()
    );
    Ok(all.len())
}

/// Run mode (b) and print the figures.
pub(crate) async fn run(emu: Arc<Emu>, o: SendOpts) -> Result<()> {
    emu.create_account(RECIPIENT, "load recipient").await?;
    let stores = Arc::new(Stores::new(o.store)?);
    let (sessions, pair_times) =
        pair_many(&emu, &stores, o.sessions.max(1), o.parallel, o.per_session).await?;
    println!(
        "paired {} sender sessions: {}",
        sessions.len(),
        pair_times.summary()
    );

    // Warm-up: each session's first message sets up its Signal sessions (device list and
    // prekey bundle fetch, X3DH); the phases below measure established sessions.
    let t0 = Instant::now();
    let mut sent = phase_warmup(&sessions).await?;
    println!(
        "warm-up (first message of each session, includes usync + prekey fetch + X3DH): {:.2}s",
        t0.elapsed().as_secs_f64()
    );

    sent += phase("one session", &sessions[..1], &o).await?;
    if sessions.len() > 1 {
        sent += phase("many sessions", &sessions, &o).await?;
    }

    // Every acked message must reach the phone and decrypt there.
    let t1 = Instant::now();
    let deadline = t1 + o.deliver_timeout;
    let mut have = emu.inbox_len(RECIPIENT).await?;
    while have < sent {
        if Instant::now() > deadline {
            bail!("only {have} of {sent} messages reached the phone's inbox");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        have = emu.inbox_len(RECIPIENT).await?;
    }
    println!(
        "delivered: all {sent} messages decrypted in the phone's inbox ({:.2}s after the last ack)",
        t1.elapsed().as_secs_f64()
    );
    for s in &sessions {
        s.client.disconnect().await;
    }
    println!("ok: {sent} messages");
    Ok(())
}

async fn phase_warmup(sessions: &[Session]) -> Result<usize> {
    let mut set = JoinSet::new();
    for (i, s) in sessions.iter().enumerate() {
        set.spawn(send_from(s.client.clone(), format!("warm-up/{i}"), 1, 1));
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        n += r??.len();
    }
    Ok(n)
}
