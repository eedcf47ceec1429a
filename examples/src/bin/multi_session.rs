//! Several sessions (WhatsApp accounts) in one process, sharing ONE sled database: each session
//! is a namespace in it, and each has its own [`wa_client::Client`].
//!
//! ```text
//! cargo run -p wa-examples --bin multi_session -- --emulator --sessions 3     # offline
//! cargo run -p wa-examples --bin multi_session -- --sessions 2 --to "+55 11 91234-5678"
//! ```
//!
//! Sessions are named `<--session>-1`, `<--session>-2`, ... and are linked one after the other
//! (one QR code each; a stored login is reused). With `--emulator` session i belongs to the
//! account `--phone` + i - 1, and every session sends a text to the next one (the last to the
//! first), so each session both sends and receives. Without the emulator, `--to` makes every
//! session send `--text` to that number.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use wa_client::{Client, Event, Events};
use wa_examples::common::{Common, DELIVERY_TIMEOUT, Env};

#[derive(Parser, Debug)]
#[command(about = "Run several WhatsApp sessions in one process over one database")]
struct Args {
    #[command(flatten)]
    common: Common,
    /// How many sessions.
    #[arg(long, default_value_t = 3)]
    sessions: u32,
    /// Without --emulator: a recipient every session writes to.
    #[arg(long)]
    to: Option<String>,
    /// The text to send (the session name is prepended).
    #[arg(long, default_value = "hello")]
    text: String,
}

struct Session {
    name: String,
    phone: String,
    client: Client,
    events: Events,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        (1..=100).contains(&args.sessions),
        "--sessions must be 1..=100"
    );
    let base: u64 = args
        .common
        .phone
        .parse()
        .context("--phone must be digits")?;
    let phones: Vec<String> = (0..u64::from(args.sessions))
        .map(|i| (base + i).to_string())
        .collect();
    let others: Vec<&str> = phones.iter().skip(1).map(String::as_str).collect();
    let env = args.common.open(&others).await?;

    let mut sessions = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let name = format!("{}-{}", args.common.session, i + 1);
        env.out.info(format!("Session {name}:"));
        let (client, mut events) = env.client(&name, &format!("wa-rs multi_session {name}"))?;
        env.login(&client, &mut events, phone).await?;
        sessions.push(Session {
            name,
            phone: phone.clone(),
            client,
            events,
        });
    }
    let namespaces = env.db.list_namespaces()?;
    env.out.info(format!(
        "{} sessions connected; namespaces in the database: {}",
        sessions.len(),
        namespaces.join(", ")
    ));

    if env.emulator.is_some() {
        ring(&env, &mut sessions, &args.text).await?;
    } else if let Some(to) = &args.to {
        for s in &sessions {
            let sent = s
                .client
                .send_text(to, &format!("{}: {}", s.name, args.text))
                .await
                .with_context(|| format!("sending from {}", s.name))?;
            env.out.sent(&sent);
        }
    }

    for s in &sessions {
        s.client.disconnect().await;
    }
    env.shutdown().await;
    Ok(())
}

/// Every session sends to the next one's account, then every session waits for its message.
async fn ring(env: &Env, sessions: &mut [Session], text: &str) -> anyhow::Result<()> {
    let n = sessions.len();
    let mut expected = Vec::with_capacity(n);
    for i in 0..n {
        let next = &sessions[(i + 1) % n];
        let from = &sessions[i];
        let body = format!("{}: {text}", from.name);
        let sent = from
            .client
            .send_text(&next.phone, &body)
            .await
            .with_context(|| format!("sending from {}", from.name))?;
        env.out.sent(&sent);
        // With a single session it writes to its own account: the phone gets it.
        if n == 1 {
            env.await_delivery(&from.phone, |m| m.id == sent.id).await?;
        }
        expected.push((sent.id, body));
    }
    if n == 1 {
        return Ok(());
    }
    for i in 0..n {
        let (id, body) = &expected[(i + n - 1) % n];
        let s = &mut sessions[i];
        let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let event = tokio::time::timeout_at(deadline, s.events.recv())
                .await
                .map_err(|_| anyhow::anyhow!("{} did not receive {id} in time", s.name))?
                .context("the client stopped")?;
            match event {
                Event::Message(m) if &m.id == id => {
                    env.out.message(&m);
                    ensure!(m.text.as_deref() == Some(body), "{} got other text", s.name);
                    break;
                }
                Event::LoggedOut { reason } => bail!("{} logged out: {reason}", s.name),
                _ => {}
            }
        }
    }
    // Let the receipts for the last messages go out before disconnecting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
