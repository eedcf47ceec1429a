//! Link a new companion device by QR code, log in, and keep the login in a sled directory.
//!
//! ```text
//! cargo run -p wa-examples --bin pair -- --emulator          # fully offline: a simulated phone scans
//! cargo run -p wa-examples --bin pair -- --data ./data       # real WhatsApp: scan with your phone
//! ```
//!
//! Run it again with the same `--data` and it logs in without a QR code. With `--emulator` the
//! embedded emulator keeps its state in `<data>/emulator`, so the restart works offline too.
//! `--plain` prints machine-readable `key=value` lines instead of the terminal QR.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use wa_client::store::SledDatabase;
use wa_client::{Client, ClientConfig, Event};

#[derive(Parser, Debug)]
#[command(about = "Pair a WhatsApp companion device by QR code and log in")]
struct Args {
    /// Data directory (sled database).
    #[arg(long, env = "WA_DATA", default_value = "./data")]
    data: PathBuf,
    /// Session name (namespace in the database).
    #[arg(long, default_value = "default")]
    session: String,
    /// WebSocket URL (default: WhatsApp's).
    #[arg(long, env = "WA_WS_URL")]
    ws_url: Option<String>,
    /// Trusted Noise root public key, 64 hex characters (default: WhatsApp's root).
    #[arg(long, env = "WA_ROOT_KEY")]
    root_key: Option<String>,
    /// Extra PEM certificates to trust for media hosts.
    #[arg(long, env = "WA_MEDIA_CA")]
    media_ca: Option<PathBuf>,
    /// Run against an embedded emulator whose simulated phone scans the QR code.
    #[arg(long)]
    emulator: bool,
    /// Phone number of the emulated account (with --emulator).
    #[arg(long, default_value = "15550001111")]
    phone: String,
    /// Machine-readable output.
    #[arg(long)]
    plain: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;

    let emulator = if args.emulator {
        let config =
            wa_emulator::EmulatorConfig::default().with_state_dir(args.data.join("emulator"));
        let emu = wa_emulator::Emulator::start(config).await?;
        if emu.account(&args.phone).await.is_err() {
            emu.create_account(&args.phone, "Example").await?;
        }
        Some(emu)
    } else {
        None
    };

    let mut builder = ClientConfig::builder().device_name("wa-rs pair example");
    if let Some(emu) = &emulator {
        builder = builder
            .ws_url(emu.ws_url())
            .root_public_key(emu.root_public_key())
            .media_ca_pem(emu.tls_cert_pem());
    }
    if let Some(url) = &args.ws_url {
        builder = builder.ws_url(url.clone());
    }
    if let Some(key) = &args.root_key {
        builder = builder.root_public_key_hex(key);
    }
    if let Some(path) = &args.media_ca {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        builder = builder.media_ca_pem(pem);
    }
    let config = builder.build()?;

    let db = SledDatabase::open(args.data.join("sessions"))?;
    let store = Arc::new(db.session_store(&args.session)?);
    let (client, mut events) = Client::new(config, store);
    if let Some(me) = client.me() {
        say(&args, "stored_login", &me.jid.to_string());
    }
    client.connect().await?;

    while let Some(event) = events.recv().await {
        match event {
            Event::Qr { code, expires_at } => {
                let secs = expires_at
                    .duration_since(std::time::SystemTime::now())
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                if args.plain {
                    println!("qr={code}");
                } else {
                    println!("{}", wa_client::qr::to_terminal(&code));
                    println!("Scan with WhatsApp > Linked devices (valid {secs} s)");
                }
                if let Some(emu) = &emulator {
                    let jid = emu.phone(&args.phone).scan(&code).await?;
                    say(&args, "scanned_by_phone", &jid);
                }
            }
            Event::Paired { jid } => say(&args, "paired", &jid.to_string()),
            Event::Connected => {
                let me = client.me().context("connected without identity")?;
                say(&args, "connected", &me.jid.to_string());
                break;
            }
            Event::Disconnected { reason } => say(&args, "disconnected", &reason),
            Event::QrExhausted => bail!("no QR code was scanned in time"),
            Event::LoggedOut { reason } => bail!("logged out: {reason}"),
            _ => {}
        }
    }
    client.disconnect().await;
    if let Some(emu) = emulator {
        emu.shutdown().await;
    }
    Ok(())
}

fn say(args: &Args, key: &str, value: &str) {
    if args.plain {
        println!("{key}={value}");
    } else {
        println!("{key}: {value}");
    }
}
