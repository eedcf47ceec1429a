//! `wa-emulator`: the offline WhatsApp server with simulated phones, as a standalone process.
//!
//! Prints exactly one JSON line to stdout once every listener is ready; logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// An offline emulator of the WhatsApp multi-device server, with simulated phones.
#[derive(Parser, Debug)]
#[command(name = "wa-emulator", version)]
struct Args {
    /// WebSocket listener address (`/ws/chat`); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", env = "WA_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Control API and plain-HTTP media host address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", env = "WA_EMULATOR_MEDIA_LISTEN")]
    media_listen: SocketAddr,
    /// HTTPS media host address; port 0 picks a free port.
    #[arg(
        long,
        default_value = "127.0.0.1:0",
        env = "WA_EMULATOR_MEDIA_TLS_LISTEN"
    )]
    media_tls_listen: SocketAddr,
    /// Keep accounts in this directory across restarts (in memory when absent).
    #[arg(long, env = "WA_EMULATOR_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = wa_emulator::EmulatorConfig::default()
        .with_listen(args.listen)
        .with_media_listen(args.media_listen)
        .with_media_tls_listen(args.media_tls_listen);
    if let Some(dir) = args.state_dir {
        config = config.with_state_dir(dir);
    }
    let emu = wa_emulator::Emulator::start(config).await?;
    {
        use std::io::Write;
        let line = serde_json::to_string(&emu.startup_info())?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    emu.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C, or SIGTERM on Unix (how CI systems stop background services).
async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
