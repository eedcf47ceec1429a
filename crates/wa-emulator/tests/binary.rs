//! The `wa-emulator` binary prints exactly one JSON startup line and serves the control API;
//! `--state-dir` keeps accounts across restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Running, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wa-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wa-emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).expect("one JSON line");
    (Running(child), v)
}

fn check_line(v: &serde_json::Value) {
    let obj = v.as_object().expect("object");
    let mut keys: Vec<_> = obj.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "control_url",
            "media_tls_url",
            "media_url",
            "root_public_key",
            "ws_url"
        ]
    );
    let ws = v["ws_url"].as_str().unwrap();
    assert!(
        ws.starts_with("ws://127.0.0.1:") && ws.ends_with("/ws/chat"),
        "{ws}"
    );
    assert!(
        v["control_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(v["media_url"], v["control_url"]);
    assert!(
        v["media_tls_url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    let root = v["root_public_key"].as_str().unwrap();
    assert_eq!(root.len(), 64);
    assert!(hex::decode(root).is_ok());
}

#[allow(deprecated)]
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn post(url: String, body: serde_json::Value) -> (u16, serde_json::Value) {
    let resp = client().post(url).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn startup_line_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (proc1, v) = spawn(&["--state-dir", state]);
    check_line(&v);
    let v1 = v.clone();
    let control = v["control_url"].as_str().unwrap().to_owned();
    let (s, created) = post(
        format!("{control}/control/accounts"),
        serde_json::json!({"phone":"15550003333","push_name":"Cy"}),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    drop(proc1);

    // Restart on the same state dir: the account (and its LID) survives.
    let root1 = v1["root_public_key"].clone();
    let (_proc2, v) = spawn(&["--state-dir", state]);
    check_line(&v);
    // The root key survives too, so configured clients keep trusting the server.
    assert_eq!(v["root_public_key"], root1);
    let control = v["control_url"].as_str().unwrap();
    let got: serde_json::Value = client()
        .get(format!("{control}/control/accounts/15550003333"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["lid"], created["lid"]);
}

#[tokio::test]
async fn listen_is_honoured() {
    // Find a free port, then ask the binary to use exactly it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_p, v) = spawn(&["--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(v["ws_url"], format!("ws://127.0.0.1:{port}/ws/chat"));
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_cleanly_and_flushes_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (mut proc1, v) = spawn(&["--state-dir", state]);
    let control = v["control_url"].as_str().unwrap().to_owned();
    let (s, _) = post(
        format!("{control}/control/accounts"),
        serde_json::json!({"phone":"15550006666","push_name":"Fe"}),
    )
    .await;
    assert_eq!(s, 201);
    let pid = proc1.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = proc1.0.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(dir.path().join("emulator-state.json").exists());
    assert!(dir.path().join("keys.json").exists());
}
