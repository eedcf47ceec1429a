//! Send one text message and print its id.
//!
//! ```text
//! cargo run -p wa-examples --bin send_text -- --emulator 15550002222 "hello"      # offline
//! cargo run -p wa-examples --bin send_text -- --data ./data "+55 11 91234-5678" "hello"
//! ```
//!
//! The first run shows a QR code (with `--emulator` a simulated phone scans it); later runs
//! with the same `--data` reuse the login. With `--emulator` the recipient's account is created
//! in the emulator and the example waits until its simulated phone has decrypted the message.

use clap::Parser;
use wa_examples::common::{Common, phone_digits};

#[derive(Parser, Debug)]
#[command(about = "Send a WhatsApp text message and print its id")]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Recipient: a phone number with its country code (`+1 555 000-2222`) or a JID.
    to: String,
    /// The text to send.
    text: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let recipient = phone_digits(&args.to)?;
    let env = args.common.open(&[recipient.as_str()]).await?;
    let (client, mut events) = env.client(&args.common.session, "wa-rs send_text example")?;
    env.login(&client, &mut events, &args.common.phone).await?;

    let sent = client.send_text(&args.to, &args.text).await?;
    env.out.sent(&sent);
    env.await_delivery(&recipient, |m| {
        m.id == sent.id && m.text.as_deref() == Some(&args.text)
    })
    .await?;

    client.disconnect().await;
    env.shutdown().await;
    Ok(())
}
