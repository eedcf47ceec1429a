//! The emulator the load runs against: in this process (library API), a child process
//! (the `wa-emulator` binary, so that its memory is measured apart), or an external one
//! reached through its control API. Loopback only.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use wa_emulator::{Emulator, EmulatorConfig};

/// Where the emulator is and how to drive its simulated phones.
pub(crate) struct Emu {
    ws_url: String,
    root_key: [u8; 32],
    tls_cert_pem: Option<String>,
    kind: Kind,
}

enum Kind {
    InProcess(Emulator),
    Remote {
        control_url: String,
        http: reqwest::Client,
        child: std::sync::Mutex<Option<ChildGuard>>,
    },
}

/// Kills the spawned emulator when the load tool ends (also on error paths).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Deserialize)]
struct StartupLine {
    ws_url: String,
    control_url: String,
    root_public_key: String,
}

#[derive(Deserialize)]
struct ScanReply {
    device_jid: String,
}

/// Refuse anything that is not a loopback URL: the tool must never load a real service.
pub(crate) fn ensure_loopback(url: &str) -> Result<()> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("not a URL: {url}"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ok = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !ok {
        bail!("{url}: only loopback addresses are allowed");
    }
    Ok(())
}

fn parse_key(hex_key: &str) -> Result<[u8; 32]> {
    let v = hex::decode(hex_key.trim()).context("root key is not hex")?;
    v.try_into()
        .map_err(|_| anyhow!("root key must be 32 bytes"))
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    // reqwest is built without a default TLS provider; plain HTTP on loopback needs none,
    // but the builder still wants one installed. The workspace standardises on ring
    // (deprecated in rustls 0.23 only for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder().build()?)
}

impl Emu {
    /// An emulator inside this process.
    pub(crate) async fn in_process() -> Result<Emu> {
        let emu = Emulator::start(EmulatorConfig::default()).await?;
        Ok(Emu {
            ws_url: emu.ws_url(),
            root_key: emu.root_public_key(),
            tls_cert_pem: Some(emu.tls_cert_pem()),
            kind: Kind::InProcess(emu),
        })
    }

    /// Start the `wa-emulator` binary at `bin` as a child process and read its startup line.
    pub(crate) fn spawn(bin: &str) -> Result<Emu> {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--media-listen", "127.0.0.1:0"])
            .args(["--media-tls-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {bin}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let guard = ChildGuard(child);
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .context("read the emulator's startup line")?;
        let info: StartupLine = serde_json::from_str(line.trim())
            .with_context(|| format!("emulator startup line: {line:?}"))?;
        let mut emu = Emu::external(&info.ws_url, &info.root_public_key, &info.control_url)?;
        if let Kind::Remote { child, .. } = &mut emu.kind {
            *child.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(guard);
        }
        Ok(emu)
    }

    /// An emulator somebody else runs.
    pub(crate) fn external(ws_url: &str, root_key_hex: &str, control_url: &str) -> Result<Emu> {
        ensure_loopback(ws_url)?;
        ensure_loopback(control_url)?;
        Ok(Emu {
            ws_url: ws_url.to_string(),
            root_key: parse_key(root_key_hex)?,
            tls_cert_pem: None,
            kind: Kind::Remote {
                control_url: control_url.trim_end_matches('/').to_string(),
                http: http_client()?,
                child: std::sync::Mutex::new(None),
            },
        })
    }

    pub(crate) fn ws_url(&self) -> &str {
        &self.ws_url
    }

    pub(crate) fn root_key(&self) -> [u8; 32] {
        self.root_key
    }

    pub(crate) fn tls_cert_pem(&self) -> Option<&str> {
        self.tls_cert_pem.as_deref()
    }

    /// The emulator's process id when it runs as our child (to read its memory).
    pub(crate) fn child_pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Remote { child, .. } => child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|c| c.0.id()),
            _ => None,
        }
    }

    /// Stop the child emulator now (before a `process::exit`, which runs no destructors).
    pub(crate) fn stop_child(&self) {
        if let Kind::Remote { child, .. } = &self.kind {
            drop(child.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
    }

    /// Whether the emulator shares this process (its memory is then in our RSS).
    pub(crate) fn is_in_process(&self) -> bool {
        matches!(self.kind, Kind::InProcess(_))
    }

    pub(crate) async fn create_account(&self, phone: &str, name: &str) -> Result<()> {
        match &self.kind {
            Kind::InProcess(e) => {
                e.create_account(phone, name).await?;
            }
            Kind::Remote {
                control_url, http, ..
            } => {
                let r = http
                    .post(format!("{control_url}/control/accounts"))
                    .json(&serde_json::json!({"phone": phone, "push_name": name}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("create account {phone}: {} {}", r.status(), r.text().await?);
                }
            }
        }
        Ok(())
    }

    /// The phone of `phone`'s account scans a companion's QR; returns the device JID.
    pub(crate) async fn scan(&self, phone: &str, qr: &str) -> Result<String> {
        match &self.kind {
            Kind::InProcess(e) => Ok(e.phone(phone).scan(qr).await?),
            Kind::Remote {
                control_url, http, ..
            } => {
                let r = http
                    .post(format!("{control_url}/control/accounts/{phone}/scan"))
                    .json(&serde_json::json!({"qr": qr}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("scan for {phone}: {} {}", r.status(), r.text().await?);
                }
                Ok(r.json::<ScanReply>().await?.device_jid)
            }
        }
    }

    /// How many messages the phone of `phone` has received and decrypted.
    pub(crate) async fn inbox_len(&self, phone: &str) -> Result<usize> {
        match &self.kind {
            Kind::InProcess(e) => Ok(e.phone(phone).try_inbox()?.len()),
            Kind::Remote {
                control_url, http, ..
            } => {
                let r = http
                    .get(format!("{control_url}/control/accounts/{phone}/inbox"))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("inbox of {phone}: {}", r.status());
                }
                Ok(r.json::<Vec<serde_json::Value>>().await?.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        for ok in [
            "ws://127.0.0.1:1234/ws/chat",
            "http://localhost:3000",
            "http://[::1]:80/x",
            "http://127.0.0.2",
        ] {
            ensure_loopback(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "wss://web.whatsapp.com/ws/chat",
            "http://10.0.0.1:3000",
            "http://example.com",
            "127.0.0.1:3000",
        ] {
            assert!(ensure_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn root_key_must_be_32_hex_bytes() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key("abcd").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }
}
