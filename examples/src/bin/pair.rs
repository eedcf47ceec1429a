//! Link a new companion device by QR code, log in, and keep the login in a sled directory.
//!
//! ```text
//! cargo run -p wa-examples --bin pair -- --emulator          # fully offline: a simulated phone scans
//! cargo run -p wa-examples --bin pair -- --data ./data       # real WhatsApp: scan with your phone
//! ```
//!
//! Run it again with the same `--data` and it logs in without a QR code. With `--emulator` the
//! embedded emulator keeps its state in `<data>/emulator`, so the restart works offline too.
//!
//! `--plain` prints only machine-readable lines on stdout: `QR <qr text>` for each QR code and
//! `CONNECTED <jid>` once logged in; everything meant for humans goes to stderr.

use clap::Parser;
use wa_examples::common::Common;

#[derive(Parser, Debug)]
#[command(about = "Pair a WhatsApp companion device by QR code and log in")]
struct Args {
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = args.common.open(&[]).await?;
    let (client, mut events) = env.client(&args.common.session, "wa-rs pair example")?;
    env.login(&client, &mut events, &args.common.phone).await?;
    client.disconnect().await;
    env.shutdown().await;
    Ok(())
}
