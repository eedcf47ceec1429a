//! Reply to every received text with the same text.
//!
//! ```text
//! cargo run -p wa-examples --bin echo_bot -- --emulator --max-messages 3     # offline
//! cargo run -p wa-examples --bin echo_bot -- --data ./data                   # runs until Ctrl-C
//! ```
//!
//! It stops after `--max-messages` echoes, after `--timeout` seconds, or on Ctrl-C. With
//! `--emulator` the phone of a second account (`--friend`) writes to the bot, one message
//! after each verified echo, and the example checks that every echo arrives in that phone's
//! inbox; it fails if fewer than `--max-messages` (default 3 there) round trips complete in time.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use wa_client::{Client, Event, MessageEvent};
use wa_examples::common::{Common, Env};

#[derive(Parser, Debug)]
#[command(about = "A WhatsApp bot that echoes every text it receives")]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Exit after this many echoes (default: never; 3 with --emulator).
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit after this many seconds (with --emulator: fail if not every round trip is done).
    #[arg(long)]
    timeout: Option<u64>,
    /// With --emulator: the account whose simulated phone writes to the bot.
    #[arg(long, default_value = "15550002222")]
    friend: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let emulated = args.common.emulator;
    let max = args.max_messages.or(emulated.then_some(3));
    let env = args.common.open(&[args.friend.as_str()]).await?;
    let (client, mut events) = env.client(&args.common.session, "wa-rs echo_bot example")?;
    let logged_in = env.login(&client, &mut events, &args.common.phone).await?;
    let me = logged_in.me.jid.to_non_ad();

    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut echoed = 0u64;
    let mut offline = false;
    let done = |n: u64| max.is_some_and(|m| n >= m);
    for m in logged_in.early {
        if echo(&env, &client, &m, &args.friend).await? {
            echoed += 1;
        }
    }
    if emulated && !done(echoed) {
        friend_writes(&env, &args.friend, &me.user, echoed).await?;
    }

    while !done(echoed) {
        let next = tokio::select! {
            e = events.recv() => e,
            _ = sleep_until(deadline) => {
                if emulated {
                    bail!("timed out after {echoed} of {} echoes", max.unwrap_or(0));
                }
                env.out.info(format!("Timeout: {echoed} messages echoed"));
                break;
            }
            _ = tokio::signal::ctrl_c() => break,
        };
        match next.context("the client stopped")? {
            Event::Message(m) => {
                if !echo(&env, &client, &m, &args.friend).await? {
                    continue;
                }
                echoed += 1;
                if emulated && !done(echoed) {
                    friend_writes(&env, &args.friend, &me.user, echoed).await?;
                }
            }
            Event::Disconnected { reason } => {
                offline = true;
                env.out
                    .info(format!("Disconnected: {reason} (reconnecting)"));
            }
            Event::Connected if offline => {
                offline = false;
                env.out.info("Connected again");
            }
            Event::LoggedOut { reason } => bail!("logged out: {reason}"),
            _ => {}
        }
    }

    client.disconnect().await;
    env.shutdown().await;
    Ok(())
}

/// Print a received message and echo its text to the chat; `false` when there is nothing to
/// echo (our own messages from other devices, media without a caption, groups).
async fn echo(env: &Env, client: &Client, m: &MessageEvent, friend: &str) -> anyhow::Result<bool> {
    env.out.message(m);
    let Some(text) = m.text.clone() else {
        return Ok(false);
    };
    if m.from_me || m.chat.is_group() {
        return Ok(false);
    }
    let sent = client
        .send_message(&m.chat, wa_client::text_message(&text))
        .await
        .with_context(|| format!("echoing to {}", m.chat))?;
    env.out.sent(&sent);
    env.await_delivery(friend, |d| {
        d.id == sent.id && d.text.as_deref() == Some(&text)
    })
    .await?;
    Ok(true)
}

/// With --emulator: the friend's phone sends message number `n` to the bot.
async fn friend_writes(env: &Env, friend: &str, bot: &str, n: u64) -> anyhow::Result<()> {
    if let Some(emu) = &env.emulator {
        let text = format!("ping {}", n + 1);
        emu.phone(friend)
            .send_text(bot, &text)
            .await
            .context("the emulated phone could not send")?;
        env.out
            .info(format!("The emulated phone {friend} sent {text:?}"));
    }
    Ok(())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
