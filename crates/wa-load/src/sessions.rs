//! Mode (a): N companions paired and connected in one process; memory per idle session and
//! pairing / login time. Also the pairing helper that mode (b) reuses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wa_client::store::{MemoryStore, SledDatabase, Store};
use wa_client::{Client, ClientConfig, Event, Events, Status};

use crate::emu::Emu;
use crate::stats::{Samples, kib, rss, threads};

/// Which store backs the sessions.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum StoreKind {
    /// One `MemoryStore` per session.
    Memory,
    /// One sled database for the whole process, a namespace per session (design.md rule 7).
    Sled,
}

/// Creates the per-session stores.
pub(crate) struct Stores {
    kind: StoreKind,
    sled: Option<(SledDatabase, tempfile::TempDir)>,
}

impl Stores {
    pub(crate) fn new(kind: StoreKind) -> Result<Stores> {
        let sled = match kind {
            StoreKind::Memory => None,
            StoreKind::Sled => {
                let dir = tempfile::tempdir()?;
                let db = SledDatabase::open(dir.path())?;
                Some((db, dir))
            }
        };
        Ok(Stores { kind, sled })
    }

    fn store(&self, idx: usize) -> Result<Arc<dyn Store>> {
        Ok(match (&self.kind, &self.sled) {
            (StoreKind::Sled, Some((db, _))) => Arc::new(db.session_store(&format!("s{idx}"))?),
            _ => Arc::new(MemoryStore::new()),
        })
    }
}

/// Phone number of the account of session `idx` (loopback emulator only).
pub(crate) fn phone_of(idx: usize) -> String {
    format!("1555{:07}", 1_000_000 + idx)
}

pub(crate) fn client_config(emu: &Emu) -> Result<ClientConfig> {
    let mut b = ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_key())
        .device_name("wa-load");
    if let Some(pem) = emu.tls_cert_pem() {
        b = b.media_ca_pem(pem);
    }
    Ok(b.build()?)
}

async fn next_event(events: &mut Events, deadline: Instant, what: &str) -> Result<Event> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, events.recv())
        .await
        .map_err(|_| anyhow!("timed out waiting for {what}"))?
        .ok_or_else(|| anyhow!("event channel closed while waiting for {what}"))
}

/// One paired, connected session.
pub(crate) struct Session {
    pub(crate) client: Client,
}

/// Create the account of session `idx`, pair a new companion to it by QR, wait until it is
/// connected. Events are drained by a task from then on (what an application does).
pub(crate) async fn pair_one(
    emu: &Emu,
    stores: &Stores,
    idx: usize,
    per_session: Duration,
) -> Result<(Session, Duration)> {
    let phone = phone_of(idx);
    emu.create_account(&phone, &format!("load {idx}")).await?;
    let (client, mut events) = Client::new(client_config(emu)?, stores.store(idx)?);
    let deadline = Instant::now() + per_session;
    let t0 = Instant::now();
    client.connect().await.context("connect")?;
    let code = loop {
        match next_event(&mut events, deadline, "a QR code").await? {
            Event::Qr { code, .. } => break code,
            Event::Connected => bail!("session {idx}: connected without pairing"),
            _ => {}
        }
    };
    emu.scan(&phone, &code).await?;
    loop {
        match next_event(&mut events, deadline, "connected").await? {
            Event::Connected => break,
            Event::LoggedOut { reason } => bail!("session {idx}: logged out: {reason}"),
            _ => {}
        }
    }
    let took = t0.elapsed();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    Ok((Session { client }, took))
}

/// Pair `count` sessions, at most `parallel` at a time.
pub(crate) async fn pair_many(
    emu: &Arc<Emu>,
    stores: &Arc<Stores>,
    count: usize,
    parallel: usize,
    per_session: Duration,
) -> Result<(Vec<Session>, Samples)> {
    let sem = Arc::new(Semaphore::new(parallel.max(1)));
    let mut set = JoinSet::new();
    for idx in 0..count {
        let (emu, stores, sem) = (emu.clone(), stores.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let r = pair_one(&emu, &stores, idx, per_session).await;
            r.map(|(s, t)| (idx, s, t))
                .with_context(|| format!("session {idx}"))
        });
    }
    let mut sessions: Vec<Option<Session>> = (0..count).map(|_| None).collect();
    let mut times = Samples::default();
    while let Some(r) = set.join_next().await {
        let (idx, s, t) = r??;
        sessions[idx] = Some(s);
        times.push(t);
    }
    Ok((sessions.into_iter().flatten().collect(), times))
}

/// Disconnect every session, then log each in again (no QR) and time connect -> Connected.
async fn relogin_all(
    sessions: &[Session],
    parallel: usize,
    per_session: Duration,
) -> Result<Samples> {
    for s in sessions {
        s.client.disconnect().await;
    }
    let sem = Arc::new(Semaphore::new(parallel.max(1)));
    let mut set = JoinSet::new();
    for (idx, s) in sessions.iter().enumerate() {
        let (client, sem) = (s.client.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut status = client.watch_status();
            let t0 = Instant::now();
            client.connect().await.context("login")?;
            tokio::time::timeout(per_session, status.wait_for(|s| *s == Status::Connected))
                .await
                .map_err(|_| anyhow!("session {idx}: not connected after login"))??;
            anyhow::Ok(t0.elapsed())
        });
    }
    let mut times = Samples::default();
    while let Some(r) = set.join_next().await {
        times.push(r??);
    }
    Ok(times)
}

fn count_connected(sessions: &[Session]) -> usize {
    sessions
        .iter()
        .filter(|s| s.client.status() == Status::Connected)
        .count()
}

/// Options of mode (a).
pub(crate) struct SessionsOpts {
    pub(crate) count: usize,
    pub(crate) parallel: usize,
    pub(crate) settle: Duration,
    pub(crate) relogin: bool,
    pub(crate) per_session: Duration,
    pub(crate) store: StoreKind,
    pub(crate) exit_at_idle: bool,
}

/// Run mode (a) and print the figures.
pub(crate) async fn run(emu: Arc<Emu>, o: SessionsOpts) -> Result<()> {
    let stores = Arc::new(Stores::new(o.store)?);
    let emu_pid = emu.child_pid();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss0, erss0, thr0) = (rss(None), emu_pid.map(|p| rss(Some(p))), threads());
    println!(
        "baseline: rss={} threads={thr0} emulator={}{}",
        kib(rss0 as f64),
        if emu.is_in_process() {
            "in-process"
        } else {
            "separate"
        },
        erss0
            .map(|r| format!(" emulator_rss={}", kib(r as f64)))
            .unwrap_or_default()
    );

    let t0 = Instant::now();
    let (sessions, pair_times) =
        pair_many(&emu, &stores, o.count, o.parallel, o.per_session).await?;
    let pair_wall = t0.elapsed();
    println!(
        "paired {} sessions in {:.2}s ({:.1}/s); pair time (connect -> QR -> scan -> connected): {}",
        sessions.len(),
        pair_wall.as_secs_f64(),
        sessions.len() as f64 / pair_wall.as_secs_f64(),
        pair_times.summary()
    );

    let report = |label: &str| {
        let n = sessions.len() as f64;
        let (r, t) = (rss(None), threads());
        let per = r.saturating_sub(rss0) as f64 / n;
        let emu_part = emu_pid.map(|p| {
            let e = rss(Some(p));
            let eper = e.saturating_sub(erss0.unwrap_or(0)) as f64 / n;
            format!(
                " | emulator process rss={} (+{} per session)",
                kib(e as f64),
                kib(eper)
            )
        });
        println!(
            "{label}: connected={}/{} rss={} threads={t} => {} per idle connected session{}{}",
            count_connected(&sessions),
            sessions.len(),
            kib(r as f64),
            kib(per),
            if emu.is_in_process() {
                " (emulator included)"
            } else {
                ""
            },
            emu_part.unwrap_or_default()
        );
        per
    };

    tokio::time::sleep(o.settle).await;
    report("after pairing + settle");

    if o.relogin {
        let t1 = Instant::now();
        let login_times = relogin_all(&sessions, o.parallel, o.per_session).await?;
        let wall = t1.elapsed();
        println!(
            "re-login of {} sessions (stored credentials, no QR) in {:.2}s ({:.1}/s); login time (connect -> connected): {}",
            login_times.len(),
            wall.as_secs_f64(),
            login_times.len() as f64 / wall.as_secs_f64(),
            login_times.summary()
        );
        tokio::time::sleep(o.settle).await;
        report("after re-login + settle");
    }

    if o.exit_at_idle {
        // For heap profilers (heaptrack, valgrind --tool=massif): end the process right here, so
        // that what it reports as not freed is exactly the heap of the idle connected sessions.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        emu.stop_child();
        std::process::exit(0);
    }
    let connected = count_connected(&sessions);
    if connected != sessions.len() || sessions.len() != o.count {
        bail!(
            "only {connected} of {} sessions connected at the end",
            o.count
        );
    }
    for s in &sessions {
        s.client.disconnect().await;
    }
    println!("ok: {} sessions", o.count);
    Ok(())
}
