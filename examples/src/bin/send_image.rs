//! Send one image (encrypted, uploaded to the media host, then announced) and print its id.
//!
//! ```text
//! cargo run -p wa-examples --bin send_image -- --emulator 15550002222 --caption "a square"
//! cargo run -p wa-examples --bin send_image -- "+55 11 91234-5678" --file photo.jpg
//! ```
//!
//! Without `--file` it sends a small built-in PNG. With `--emulator` the recipient's simulated
//! phone downloads and decrypts the image, and the example checks its SHA-256.

use std::path::PathBuf;

use anyhow::{Context, ensure};
use clap::Parser;
use sha2::{Digest, Sha256};
use wa_client::ImageInput;
use wa_examples::common::{Common, phone_digits};

/// A 16x16 PNG sent when no --file is given.
const SAMPLE_PNG: &[u8] = include_bytes!("../sample.png");

#[derive(Parser, Debug)]
#[command(about = "Send a WhatsApp image message and print its id")]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Recipient: a phone number with its country code (`+1 555 000-2222`) or a JID.
    to: String,
    /// The image file (JPEG or PNG get a thumbnail); default: a built-in 16x16 PNG.
    #[arg(long)]
    file: Option<PathBuf>,
    /// MIME type (default: from the file extension).
    #[arg(long)]
    mimetype: Option<String>,
    /// A caption.
    #[arg(long)]
    caption: Option<String>,
}

fn mimetype_of(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (bytes, guessed) = match &args.file {
        Some(path) => (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            mimetype_of(path),
        ),
        None => (SAMPLE_PNG.to_vec(), "image/png"),
    };
    let mimetype = args.mimetype.clone().unwrap_or_else(|| guessed.to_owned());
    let sha256 = hex(&Sha256::digest(&bytes));

    let recipient = phone_digits(&args.to)?;
    let env = args.common.open(&[recipient.as_str()]).await?;
    let (client, mut events) = env.client(&args.common.session, "wa-rs send_image example")?;
    env.login(&client, &mut events, &args.common.phone).await?;

    let image = ImageInput {
        bytes,
        mimetype,
        caption: args.caption.clone(),
    };
    let sent = client.send_image(&args.to, image).await?;
    env.out.sent(&sent);
    if let Some(got) = env.await_delivery(&recipient, |m| m.id == sent.id).await? {
        ensure!(
            got.kind == "image",
            "the phone received a {} message",
            got.kind
        );
        ensure!(
            got.sha256.as_deref() == Some(sha256.as_str()),
            "the phone decrypted different bytes ({:?}, expected {sha256})",
            got.sha256
        );
        ensure!(got.caption == args.caption, "the caption differs");
    }

    client.disconnect().await;
    env.shutdown().await;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
