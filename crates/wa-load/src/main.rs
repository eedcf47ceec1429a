//! `wa-load`: a bounded load tool for wa-rs, loopback only, that stops by itself.
//!
//! - `wa-load sessions --count N`: N companions paired and connected in one process; resident
//!   memory per idle connected session, pairing and login time percentiles.
//! - `wa-load send --sessions S --messages M`: sustained text sends to a simulated phone from one
//!   and from many sessions; messages/s and latency until the server's ack.
//! - `wa-load http --url http://127.0.0.1:PORT --session NAME --requests R`: the same through
//!   wa-http's REST API (a second process).
//!
//! The emulator runs in this process (`--emulator`, the default), as a child process
//! (`--spawn-emulator PATH` to the `wa-emulator` binary: its memory is then reported apart), or is
//! an external one (`--ws-url`, `--root-key`, `--control-url`). Exits non-zero on any failure.

mod emu;
mod http;
mod send;
mod sessions;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};

use emu::Emu;
use sessions::StoreKind;

#[derive(Parser)]
#[command(
    name = "wa-load",
    version,
    about = "Bounded load tool for wa-rs (loopback only)"
)]
struct Cli {
    /// Give up (exit 1) after this many seconds in total.
    #[arg(long, default_value_t = 600, global = true)]
    timeout: u64,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone)]
struct EmuArgs {
    /// Run the emulator inside this process (the default when no other choice is given).
    #[arg(long, conflicts_with_all = ["spawn_emulator", "ws_url"])]
    emulator: bool,
    /// Start this `wa-emulator` binary as a child process (its memory is reported apart).
    #[arg(long, value_name = "PATH", conflicts_with = "ws_url")]
    spawn_emulator: Option<String>,
    /// WebSocket URL of an external emulator (loopback).
    #[arg(long, env = "WA_WS_URL", requires_all = ["root_key", "control_url"])]
    ws_url: Option<String>,
    /// Its Noise root public key (64 hex).
    #[arg(long, env = "WA_ROOT_KEY")]
    root_key: Option<String>,
    /// Its control API base URL (to create accounts and scan QR codes).
    #[arg(long)]
    control_url: Option<String>,
    /// Sessions paired at the same time.
    #[arg(long, default_value_t = 16)]
    parallel: usize,
    /// Give up on one session's pairing or login after this many seconds.
    #[arg(long, default_value_t = 60)]
    session_timeout: u64,
    /// Store backing the sessions.
    #[arg(long, value_enum, default_value = "memory")]
    store: StoreKind,
}

impl EmuArgs {
    async fn start(&self) -> Result<Arc<Emu>> {
        let emu = if let Some(bin) = &self.spawn_emulator {
            Emu::spawn(bin)?
        } else if let (Some(ws), Some(key), Some(ctl)) =
            (&self.ws_url, &self.root_key, &self.control_url)
        {
            Emu::external(ws, key, ctl)?
        } else {
            Emu::in_process().await?
        };
        Ok(Arc::new(emu))
    }
}

#[derive(Subcommand)]
enum Mode {
    /// N paired, connected, idle sessions: memory per session, pairing and login time.
    Sessions {
        /// Number of sessions.
        #[arg(long)]
        count: usize,
        /// Seconds to let the process settle before reading its memory.
        #[arg(long, default_value_t = 3)]
        settle: u64,
        /// Skip the disconnect + login round.
        #[arg(long)]
        no_relogin: bool,
        /// Exit at once after the last memory reading (for heap profilers: what is not freed
        /// then is the heap of the idle sessions).
        #[arg(long)]
        exit_at_idle: bool,
        #[command(flatten)]
        emu: EmuArgs,
    },
    /// Sustained text sends to a simulated phone from one and from many sessions.
    Send {
        /// Sender sessions (the first one also runs the single-session phase).
        #[arg(long, default_value_t = 1)]
        sessions: usize,
        /// Messages per session and phase.
        #[arg(long)]
        messages: usize,
        /// Sends in flight per session.
        #[arg(long, default_value_t = 1)]
        inflight: usize,
        #[command(flatten)]
        emu: EmuArgs,
    },
    /// Text sends through wa-http's REST API (run `wa-http --demo` or link the session first).
    Http {
        /// Base URL of wa-http (loopback).
        #[arg(long)]
        url: String,
        /// Session name (created and started if missing).
        #[arg(long)]
        session: String,
        /// Number of send requests.
        #[arg(long)]
        requests: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Recipient (default: the demo friend of `wa-http --demo`).
        #[arg(long, default_value = "15550002222")]
        to: String,
        /// API key, when wa-http requires one.
        #[arg(long, env = "WA_API_KEY")]
        api_key: Option<String>,
    },
}

async fn run(mode: Mode) -> Result<()> {
    match mode {
        Mode::Sessions {
            count,
            settle,
            no_relogin,
            exit_at_idle,
            emu,
        } => {
            if count == 0 {
                bail!("--count must be at least 1");
            }
            let e = emu.start().await?;
            sessions::run(
                e,
                sessions::SessionsOpts {
                    count,
                    parallel: emu.parallel,
                    settle: Duration::from_secs(settle),
                    relogin: !no_relogin,
                    per_session: Duration::from_secs(emu.session_timeout),
                    store: emu.store,
                    exit_at_idle,
                },
            )
            .await
        }
        Mode::Send {
            sessions,
            messages,
            inflight,
            emu,
        } => {
            let e = emu.start().await?;
            send::run(
                e,
                send::SendOpts {
                    sessions,
                    messages,
                    inflight,
                    parallel: emu.parallel,
                    per_session: Duration::from_secs(emu.session_timeout),
                    deliver_timeout: Duration::from_secs(emu.session_timeout),
                    store: emu.store,
                },
            )
            .await
        }
        Mode::Http {
            url,
            session,
            requests,
            concurrency,
            to,
            api_key,
        } => {
            http::run(http::HttpOpts {
                url,
                session,
                requests,
                concurrency,
                to,
                api_key,
                ready_timeout: Duration::from_secs(60),
            })
            .await
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let limit = Duration::from_secs(cli.timeout);
    let r = rt.block_on(async move {
        match tokio::time::timeout(limit, run(cli.mode)).await {
            Ok(r) => r,
            Err(_) => bail!("gave up after {limit:?} (--timeout)"),
        }
    });
    // Do not wait for lingering driver tasks: the figures are printed, stop now.
    rt.shutdown_timeout(Duration::from_secs(2));
    r
}
