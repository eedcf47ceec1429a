//! The `wa-http` binary: flag rules, the listening line, demo routes only in demo mode.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_wa-http");

struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on 127.0.0.1:0 and reads the URL from its one stdout line.
fn spawn(args: &[&str], data: &std::path::Path) -> Running {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .env_remove("WA_API_KEY")
        .env_remove("WA_LISTEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("wa-http listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Running { child, url }
}

fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn refuses_a_public_address_without_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path())
        .env_remove("WA_API_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without an API key"), "{err}");
    // Demo mode cannot be combined with a real server address.
    let out = Command::new(BIN)
        .args(["--demo", "--ws-url", "wss://example.invalid/ws"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn plain_mode_has_no_demo_routes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = spawn(&[], dir.path());
    let (status, body) = get(&format!("{}/health", srv.url));
    assert_eq!(status, 200);
    assert!(body.contains("\"demo\":false"), "{body}");
    let (status, body) = get(&format!("{}/api/demo", srv.url));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not_found"));
    let (status, body) = get(&format!("{}/api/demo/inbox", srv.url));
    assert_eq!(status, 404, "{body}");
    assert!(dir.path().join("wa.sled").exists());
}

#[test]
fn demo_mode_starts_an_emulator_and_keeps_its_data_apart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = spawn(&["--demo"], dir.path());
    let (status, body) = get(&format!("{}/health", srv.url));
    assert_eq!(status, 200);
    assert!(body.contains("\"demo\":true"), "{body}");
    let (status, body) = get(&format!("{}/api/demo", srv.url));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("15550002222"));
    let (status, body) = get(&format!("{}/api/demo/inbox", srv.url));
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (_, cfg) = get(&format!("{}/ui/config", srv.url));
    assert!(cfg.contains("\"demo\":true"), "{cfg}");
    assert!(dir.path().join("demo").join("wa.sled").exists());
    assert!(!dir.path().join("wa.sled").exists());
}
