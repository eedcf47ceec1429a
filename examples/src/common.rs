//! What the examples share: the command-line flags of design.md §3.3, the optional embedded
//! emulator, the client configuration, the QR-and-login loop and the `--plain` output.
//!
//! A typical example is:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     common: wa_examples::common::Common,
//! }
//! let args = Args::parse();
//! let env = args.common.open(&[]).await?; // starts the emulator with --emulator
//! let (client, mut events) = env.client(&args.common.session, "my example")?;
//! let logged_in = env.login(&client, &mut events, &args.common.phone).await?;
//! let sent = client.send_text("+1 555 000-2222", "hi").await?;
//! env.out.sent(&sent);
//! client.disconnect().await;
//! env.shutdown().await;
//! # let _ = logged_in; Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use wa_client::store::SledDatabase;
use wa_client::{Client, ClientConfig, Event, Events, Me, MessageEvent, SendResult, Status};
use wa_emulator::{Emulator, EmulatorConfig, InboxMessage};

/// How long the examples wait for the emulator's phone to receive what they sent.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags every example takes (design.md §3.3), each with its environment variable.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Data directory: the sled database lives in `<data>/sessions` and, with --emulator, the
    /// emulator's accounts in `<data>/emulator`.
    #[arg(long, env = "WA_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Session name: the namespace of this login in the database.
    #[arg(long, default_value = "default")]
    pub session: String,
    /// WebSocket URL of the server (default: WhatsApp's).
    #[arg(long, env = "WA_WS_URL")]
    pub ws_url: Option<String>,
    /// Trusted Noise root public key, 64 hex digits (default: WhatsApp's root).
    #[arg(long, env = "WA_ROOT_KEY")]
    pub root_key: Option<String>,
    /// Extra PEM certificate to trust for media hosts (e.g. an emulator's
    /// `GET /control/tls_cert`).
    #[arg(long, env = "WA_MEDIA_CA")]
    pub media_ca: Option<PathBuf>,
    /// Start an embedded emulator: the needed accounts are created and a simulated phone scans
    /// the QR code, so the example runs offline from end to end.
    #[arg(long)]
    pub emulator: bool,
    /// Our account's phone number inside the emulator (only with --emulator).
    #[arg(long, default_value = "15550001111")]
    pub phone: String,
    /// Machine-readable output on stdout: `QR <text>`, `CONNECTED <jid>`, `SENT <id>`,
    /// `MESSAGE <from> <text>` (and `DELIVERED <id>` when the emulator's phone got it);
    /// everything else goes to stderr.
    #[arg(long)]
    pub plain: bool,
}

/// Where the output goes: human text, or the machine-readable lines of `--plain`.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--plain` was given.
    pub plain: bool,
}

impl Out {
    /// A QR code to scan.
    pub fn qr(&self, code: &str, expires_at: SystemTime) {
        if self.plain {
            println!("QR {code}");
        } else {
            let secs = expires_at
                .duration_since(SystemTime::now())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            println!("{}", wa_client::qr::to_terminal(code));
            println!("Scan with WhatsApp > Linked devices > Link a device (valid {secs} s)");
        }
    }

    /// Logged in.
    pub fn connected(&self, me: &Me) {
        if self.plain {
            println!("CONNECTED {}", me.jid);
        } else {
            match me.push_name.as_str() {
                "" => println!("Connected as {}", me.jid),
                name => println!("Connected as {} ({name})", me.jid),
            }
        }
    }

    /// A message was sent and acknowledged by the server.
    pub fn sent(&self, r: &SendResult) {
        if self.plain {
            println!("SENT {}", r.id);
        } else {
            println!("Sent {} to {} (server time {})", r.id, r.to, r.timestamp);
        }
    }

    /// A message was received.
    pub fn message(&self, m: &MessageEvent) {
        let from = m.sender.to_non_ad();
        let text = describe(m);
        if self.plain {
            println!("MESSAGE {from} {}", text.replace(['\n', '\r'], " "));
        } else {
            println!("Message {} from {from}: {text}", m.id);
        }
    }

    /// The emulator's phone received and decrypted the message `id`.
    pub fn delivered(&self, phone: &str, m: &InboxMessage) {
        if self.plain {
            println!("DELIVERED {}", m.id);
        } else {
            let what = m.text.as_deref().or(m.caption.as_deref()).unwrap_or("");
            println!(
                "The emulated phone {phone} received {} ({}) {what}",
                m.id, m.kind
            );
        }
    }

    /// Anything else: stdout for humans, stderr with `--plain`.
    pub fn info(&self, text: impl std::fmt::Display) {
        if self.plain {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

/// The text of a message, or a short description of what it carries.
pub fn describe(m: &MessageEvent) -> String {
    match (&m.text, &m.media) {
        (Some(t), _) => t.clone(),
        (None, Some(media)) => format!("[{:?}]", media.kind),
        (None, None) => "[unsupported message]".to_owned(),
    }
}

/// What [`Env::login`] returns.
#[derive(Debug)]
pub struct LoggedIn {
    /// Who we are.
    pub me: Me,
    /// Messages that arrived while logging in (offline delivery), in order.
    pub early: Vec<MessageEvent>,
}

/// An opened environment: the database, the emulator (with --emulator) and the output.
pub struct Env {
    /// The flags.
    pub common: Common,
    /// The embedded emulator, with --emulator.
    pub emulator: Option<Emulator>,
    /// The one sled database of this process (one namespace per session).
    pub db: SledDatabase,
    /// The output.
    pub out: Out,
}

impl Common {
    /// Create the data directory, open the database and, with --emulator, start the emulator
    /// and create our account (`--phone`) and the `others` if they do not exist yet.
    pub async fn open(&self, others: &[&str]) -> anyhow::Result<Env> {
        std::fs::create_dir_all(&self.data)
            .with_context(|| format!("creating {}", self.data.display()))?;
        let emulator = if self.emulator {
            let config = EmulatorConfig::default().with_state_dir(self.data.join("emulator"));
            let emu = Emulator::start(config)
                .await
                .context("starting the emulator")?;
            ensure_account(&emu, &self.phone, "Example").await?;
            for phone in others {
                ensure_account(&emu, phone, "Friend").await?;
            }
            Some(emu)
        } else {
            None
        };
        let db = SledDatabase::open(self.data.join("sessions"))
            .with_context(|| format!("opening {}", self.data.join("sessions").display()))?;
        Ok(Env {
            common: self.clone(),
            emulator,
            db,
            out: Out { plain: self.plain },
        })
    }
}

/// Create `phone`'s account in the emulator unless it exists.
pub async fn ensure_account(emu: &Emulator, phone: &str, push_name: &str) -> anyhow::Result<()> {
    if emu.account(phone).await.is_err() {
        emu.create_account(phone, push_name)
            .await
            .with_context(|| format!("creating account {phone} in the emulator"))?;
    }
    Ok(())
}

/// The digits of a phone number or JID as the user typed it (`+1 555 000-2222` -> `15550002222`).
pub fn phone_digits(input: &str) -> anyhow::Result<String> {
    Ok(wa_client::parse_phone_number(input)
        .with_context(|| format!("not a phone number: {input}"))?
        .user)
}

impl Env {
    /// The client configuration: the emulator's endpoints with --emulator, WhatsApp's by
    /// default, each overridden by --ws-url, --root-key and --media-ca.
    pub fn config(&self, device_name: &str) -> anyhow::Result<ClientConfig> {
        let mut builder = ClientConfig::builder().device_name(device_name);
        if let Some(emu) = &self.emulator {
            builder = builder
                .ws_url(emu.ws_url())
                .root_public_key(emu.root_public_key())
                .media_ca_pem(emu.tls_cert_pem());
        }
        if let Some(url) = &self.common.ws_url {
            builder = builder.ws_url(url.clone());
        }
        if let Some(key) = &self.common.root_key {
            builder = builder.root_public_key_hex(key);
        }
        if let Some(path) = &self.common.media_ca {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            builder = builder.media_ca_pem(pem);
        }
        Ok(builder.build()?)
    }

    /// A client over the namespace `session` of the database (which may hold a login).
    pub fn client(&self, session: &str, device_name: &str) -> anyhow::Result<(Client, Events)> {
        let store = self
            .db
            .session_store(session)
            .with_context(|| format!("opening session {session}"))?;
        Ok(Client::new(self.config(device_name)?, Arc::new(store)))
    }

    /// Connect and wait until logged in: print each QR code (with --emulator, `phone`'s
    /// simulated phone scans it), then `CONNECTED <jid>`. A stored login connects without a QR;
    /// a login the server rejects (device unlinked) is dropped once and paired anew.
    pub async fn login(
        &self,
        client: &Client,
        events: &mut Events,
        phone: &str,
    ) -> anyhow::Result<LoggedIn> {
        let out = self.out;
        if let Some(me) = client.me() {
            out.info(format!("Stored login: {}", me.jid));
        }
        client.connect().await.context("connecting")?;
        let mut status = client.watch_status();
        let mut early = Vec::new();
        let mut repaired = false;
        loop {
            if client.status() == Status::Connected {
                if let Some(me) = client.me() {
                    out.connected(&me);
                    return Ok(LoggedIn { me, early });
                }
            }
            let event = tokio::select! {
                event = events.recv() => event.context("the client stopped")?,
                changed = status.changed() => {
                    changed.context("the client stopped")?;
                    continue;
                }
            };
            match event {
                Event::Qr { code, expires_at } => {
                    out.qr(&code, expires_at);
                    if let Some(emu) = &self.emulator {
                        let device = emu
                            .phone(phone)
                            .scan(&code)
                            .await
                            .context("the emulated phone could not scan the QR code")?;
                        out.info(format!("The emulated phone {phone} linked {device}"));
                    }
                }
                Event::Paired { jid } => out.info(format!("Paired as {jid}")),
                Event::Disconnected { reason } => out.info(format!("Disconnected: {reason}")),
                Event::QrExhausted => bail!("no QR code was scanned in time"),
                Event::LoggedOut { reason } if !repaired => {
                    repaired = true;
                    out.info(format!("Logged out ({reason}); pairing anew"));
                    client.connect().await.context("connecting")?;
                }
                Event::LoggedOut { reason } => bail!("logged out: {reason}"),
                Event::Message(m) => early.push(*m),
                _ => {}
            }
        }
    }

    /// With --emulator: wait until `phone`'s simulated phone has decrypted a message matching
    /// `pred`, print `DELIVERED <id>` and return it. Without the emulator: `Ok(None)`.
    pub async fn await_delivery(
        &self,
        phone: &str,
        pred: impl Fn(&InboxMessage) -> bool,
    ) -> anyhow::Result<Option<InboxMessage>> {
        let Some(emu) = &self.emulator else {
            return Ok(None);
        };
        let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
        loop {
            if let Some(m) = emu.phone(phone).inbox().await.into_iter().find(&pred) {
                self.out.delivered(phone, &m);
                return Ok(Some(m));
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the emulated phone {phone} did not receive the message in time");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Flush the database and stop the emulator.
    pub async fn shutdown(self) {
        if let Err(e) = self.db.flush() {
            self.out.info(format!("flushing the database: {e}"));
        }
        if let Some(emu) = self.emulator {
            emu.shutdown().await;
        }
    }
}
