//! End to end against wa-emulator (in process, real WebSocket + Noise + binary protocol):
//! pair via the simulated phone, restart from a sled store without QR, survive dropped
//! connections, kicks, and get logged out when the phone unlinks.

use std::sync::Arc;
use std::time::Duration;

use wa_client::store::{SledDatabase, Store};
use wa_client::{Client, ClientConfig, ClientError, Event, Events, Status, Timeouts};
use wa_emulator::{Emulator, EmulatorConfig};

const T: Duration = Duration::from_secs(20);
const PHONE: &str = "15550001111";

fn config(emu: &Emulator) -> ClientConfig {
    ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_public_key())
        .media_ca_pem(emu.tls_cert_pem())
        .device_name("wa-rs test")
        .timeouts(Timeouts {
            reconnect_initial: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(300),
            ..Timeouts::default()
        })
        .build()
        .unwrap()
}

async fn next_event(events: &mut Events) -> Event {
    tokio::time::timeout(T, events.recv())
        .await
        .expect("no event in time")
        .expect("events closed")
}

async fn wait_for(events: &mut Events, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = next_event(events).await;
        if pred(&e) {
            return e;
        }
        eprintln!("waiting for {what}, got {e:?}");
    }
}

async fn wait_status(client: &Client, want: Status) {
    let mut w = client.watch_status();
    tokio::time::timeout(T, w.wait_for(|s| *s == want))
        .await
        .expect("status not reached")
        .unwrap();
}

/// Open the sled directory again; sled's background flusher may hold the file lock for a moment
/// after the previous handle is dropped.
async fn reopen(path: &std::path::Path) -> SledDatabase {
    for _ in 0..100 {
        if let Ok(db) = SledDatabase::open(path) {
            return db;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    SledDatabase::open(path).expect("sled directory still locked")
}

/// Connect an unpaired client, scan its first QR with the phone, wait for Connected.
async fn pair(emu: &Emulator, client: &Client, events: &mut Events) -> u32 {
    client.connect().await.expect("connect");
    assert_eq!(client.status(), Status::WaitingForQr);
    let Event::Qr { code, .. } = wait_for(events, "qr", |e| matches!(e, Event::Qr { .. })).await
    else {
        unreachable!()
    };
    assert!(!wa_client::qr::to_terminal(&code).is_empty());
    let device_jid = emu.phone(PHONE).scan(&code).await.expect("scan");
    let Event::Paired { jid } =
        wait_for(events, "paired", |e| matches!(e, Event::Paired { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(jid.to_string(), device_jid);
    wait_for(events, "connected", |e| matches!(e, Event::Connected)).await;
    assert_eq!(client.status(), Status::Connected);
    u32::from(jid.device)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_restart_reconnect_unlink() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(PHONE, "Ana").await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let device = {
        let db = SledDatabase::open(dir.path()).unwrap();
        let store: Arc<dyn Store> = Arc::new(db.session_store("s1").unwrap());
        let (client, mut events) = Client::new(config(&emu), store);
        let device = pair(&emu, &client, &mut events).await;
        let me = client.me().unwrap();
        assert_eq!(me.jid.user, PHONE);
        let info = emu.phone(PHONE).info().await.unwrap();
        let d = info
            .devices
            .iter()
            .find(|d| d.device == device)
            .expect("device linked");
        assert!(d.connected, "device connected: {info:?}");
        client.disconnect().await;
        assert_eq!(client.status(), Status::Disconnected);
        device
    };

    // "Process restart": reopen the same sled directory, log in without a QR.
    let db = reopen(dir.path()).await;
    let store: Arc<dyn Store> = Arc::new(db.session_store("s1").unwrap());
    let (client, mut events) = Client::new(config(&emu), store.clone());
    assert_eq!(client.me().unwrap().jid.device, device as u16);
    client.connect().await.expect("login");
    let first = wait_for(&mut events, "connected", |e| {
        matches!(e, Event::Connected | Event::Qr { .. })
    })
    .await;
    assert!(matches!(first, Event::Connected), "no QR on restart");

    // Fault injection: every connection dropped; the client comes back by itself.
    emu.drop_connections().await;
    wait_for(&mut events, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    wait_for(&mut events, "reconnected", |e| {
        matches!(e, Event::Connected)
    })
    .await;
    assert_eq!(client.status(), Status::Connected);

    // Kick 503: transient, reconnect.
    emu.phone(PHONE).kick(device, 503).await.unwrap();
    wait_for(&mut events, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    wait_for(&mut events, "reconnected after 503", |e| {
        matches!(e, Event::Connected)
    })
    .await;

    // Kick 515: restart at once.
    emu.phone(PHONE).kick(device, 515).await.unwrap();
    wait_for(&mut events, "reconnected after 515", |e| {
        matches!(e, Event::Connected)
    })
    .await;

    // The phone unlinks us: LoggedOut, store wiped, no reconnect.
    emu.phone(PHONE).unlink(device).await.unwrap();
    let Event::LoggedOut { .. } = wait_for(&mut events, "logged out", |e| {
        matches!(e, Event::LoggedOut { .. })
    })
    .await
    else {
        unreachable!()
    };
    wait_status(&client, Status::LoggedOut).await;
    assert!(client.me().is_none());
    assert!(store.load_device().unwrap().is_none(), "store wiped");
    let info = emu.phone(PHONE).info().await.unwrap();
    assert!(
        info.devices.iter().all(|d| d.device != device),
        "unlinked: {info:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        client.status(),
        Status::LoggedOut,
        "no reconnect after logout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_440_stops_and_logout_removes_the_companion() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(PHONE, "Ana").await.unwrap();
    let store: Arc<dyn Store> = Arc::new(wa_client::store::MemoryStore::new());
    let (client, mut events) = Client::new(config(&emu), store.clone());
    let device = pair(&emu, &client, &mut events).await;

    emu.phone(PHONE).kick(device, 440).await.unwrap();
    let Event::Disconnected { reason } = wait_for(&mut events, "disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert!(reason.contains("replaced"), "{reason}");
    wait_status(&client, Status::Disconnected).await;
    assert!(client.me().is_some(), "replaced keeps the login");

    // Connect again (same login), then log out explicitly.
    client.connect().await.unwrap();
    wait_for(&mut events, "connected", |e| matches!(e, Event::Connected)).await;
    client.logout().await.unwrap();
    assert_eq!(client.status(), Status::LoggedOut);
    assert!(store.load_device().unwrap().is_none());
    // The server answers the IQ, then removes the device: poll briefly.
    let mut removed = false;
    for _ in 0..100 {
        let info = emu.phone(PHONE).info().await.unwrap();
        if info.devices.iter().all(|d| d.device != device) {
            removed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(removed, "companion removed on the server");

    // After logout, connecting starts a fresh pairing.
    client.connect().await.unwrap();
    assert_eq!(client.status(), Status::WaitingForQr);
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_expiry_against_the_emulator() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let config = ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_public_key())
        .qr_timeouts(Duration::from_millis(300), Duration::from_millis(100))
        .build()
        .unwrap();
    let (client, mut events) = Client::new(config, Arc::new(wa_client::store::MemoryStore::new()));
    client.connect().await.unwrap();
    let mut codes = Vec::new();
    loop {
        match next_event(&mut events).await {
            Event::Qr { code, .. } => codes.push(code),
            Event::QrExhausted => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        codes.len() >= 2,
        "rotated through the refs: {}",
        codes.len()
    );
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len());
    wait_status(&client, Status::Disconnected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_root_key_is_refused() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let config = ClientConfig::builder()
        .ws_url(emu.ws_url())
        .auto_reconnect(false)
        .build()
        .unwrap();
    let (client, _events) = Client::new(config, Arc::new(wa_client::store::MemoryStore::new()));
    let err = client.connect().await.unwrap_err();
    assert!(err.to_string().contains("handshake"), "{err}");
    assert_eq!(client.status(), Status::Disconnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_connected_with_a_lagging_event_consumer() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(PHONE, "Ana").await.unwrap();
    let db = SledDatabase::open(tempfile::tempdir().unwrap().path()).unwrap();
    let store: Arc<dyn Store> = Arc::new(db.session_store("s").unwrap());
    // One event slot, never read: the QR, Paired and Connected events are mostly dropped.
    let cfg = ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_public_key())
        .device_name("wa-rs test")
        .event_capacity(1)
        .timeouts(Timeouts {
            reconnect_initial: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(300),
            ..Timeouts::default()
        })
        .build()
        .unwrap();
    let (client, _events) = Client::new(cfg, store);

    // Before connect(): the driver is not running.
    assert!(matches!(
        client.wait_connected(T).await,
        Err(ClientError::NotConnected)
    ));

    client.connect().await.expect("connect");
    // Nobody scans: timeout while showing QR codes.
    assert!(matches!(
        client.wait_connected(Duration::from_millis(200)).await,
        Err(ClientError::Timeout)
    ));
    assert_eq!(client.status(), Status::WaitingForQr);

    let (code, _) = client.qr().expect("a QR code is shown");
    let phone = emu.phone(PHONE);
    let (scanned, connected) = tokio::join!(phone.scan(&code), client.wait_connected(T));
    let device = scanned.expect("scan");
    connected.expect("connected");
    assert_eq!(client.status(), Status::Connected);
    assert_eq!(client.me().unwrap().jid.to_string(), device);
    // Already connected: at once.
    client
        .wait_connected(Duration::from_millis(1))
        .await
        .unwrap();

    // Dropped connections: no longer Connected while reconnecting, then connected again.
    let mut status = client.watch_status();
    status.borrow_and_update();
    emu.drop_connections().await;
    tokio::time::timeout(T, status.wait_for(|s| *s != Status::Connected))
        .await
        .expect("status left Connected")
        .unwrap();
    client.wait_connected(T).await.expect("reconnected");

    // Unlinked by the phone: LoggedOut.
    let device_id: u32 = device
        .split(['@', ':'])
        .nth(1)
        .and_then(|d| d.parse().ok())
        .expect("device id");
    emu.phone(PHONE).unlink(device_id).await.unwrap();
    tokio::time::timeout(T, status.wait_for(|s| *s == Status::LoggedOut))
        .await
        .expect("logged out")
        .unwrap();
    assert!(matches!(
        client.wait_connected(T).await,
        Err(ClientError::LoggedOut(_))
    ));

    // A stopped client errors at once instead of waiting for the timeout.
    let db2 = SledDatabase::open(tempfile::tempdir().unwrap().path()).unwrap();
    let (other, _ev) = Client::new(config(&emu), Arc::new(db2.session_store("s").unwrap()));
    other.connect().await.expect("connect");
    other.disconnect().await;
    assert!(matches!(
        other.wait_connected(T).await,
        Err(ClientError::NotConnected | ClientError::Stopped(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_name_is_persisted_and_restored() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(PHONE, "Ana").await.unwrap();
    emu.create_account("15550002222", "Bea").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let db = SledDatabase::open(dir.path()).unwrap();
        let store: Arc<dyn Store> = Arc::new(db.session_store("s").unwrap());
        let (client, mut events) = Client::new(config(&emu), store);
        pair(&emu, &client, &mut events).await;
        assert_eq!(client.me().unwrap().push_name, "", "not known yet");
        // Our phone writes to Bea: the copy for our companion carries our push name.
        emu.phone(PHONE)
            .send_text("15550002222", "hi Bea")
            .await
            .unwrap();
        let Event::Message(m) = wait_for(
            &mut events,
            "own message",
            |e| matches!(e, Event::Message(m) if m.from_me),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(m.push_name.as_deref(), Some("Ana"));
        assert_eq!(client.me().unwrap().push_name, "Ana");
        client.disconnect().await;
    }

    // Stored login: the name is restored before and after connecting.
    {
        let db = reopen(dir.path()).await;
        let store: Arc<dyn Store> = Arc::new(db.session_store("s").unwrap());
        assert_eq!(store.load_device().unwrap().unwrap().push_name, "Ana");
        let (client, _events) = Client::new(config(&emu), store);
        assert_eq!(client.me().unwrap().push_name, "Ana");
        client.connect().await.expect("login");
        client.wait_connected(T).await.expect("connected");
        assert_eq!(client.me().unwrap().push_name, "Ana");
        client.disconnect().await;
    }

    // A push name in the configuration wins and is stored.
    let db = reopen(dir.path()).await;
    let store: Arc<dyn Store> = Arc::new(db.session_store("s").unwrap());
    let cfg = ClientConfig::builder()
        .ws_url(emu.ws_url())
        .root_public_key(emu.root_public_key())
        .push_name("Ana Maria")
        .build()
        .unwrap();
    let (client, _events) = Client::new(cfg, store.clone());
    client.connect().await.expect("login");
    client.wait_connected(T).await.expect("connected");
    assert_eq!(client.me().unwrap().push_name, "Ana Maria");
    assert_eq!(store.load_device().unwrap().unwrap().push_name, "Ana Maria");
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_ciphertext_is_retried_and_recovers() {
    const BEA: &str = "15550002222";
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.create_account(PHONE, "Ana").await.unwrap();
    emu.create_account(BEA, "Bea").await.unwrap();
    let db = SledDatabase::open(tempfile::tempdir().unwrap().path()).unwrap();
    let (client, mut events) = Client::new(config(&emu), Arc::new(db.session_store("s").unwrap()));
    pair(&emu, &client, &mut events).await;
    let me = client.me().unwrap().jid.to_string();

    let texts_from_bea = |e: &Event| match e {
        Event::Message(m) if m.sender.user == BEA => m.text.clone(),
        _ => None,
    };
    // A first message sets up the Signal session.
    emu.phone(BEA).send_text(PHONE, "warm-up").await.unwrap();
    wait_for(&mut events, "warm-up", |e| {
        texts_from_bea(e).as_deref() == Some("warm-up")
    })
    .await;

    // The next <enc> routed to us gets a flipped byte: we fail to decrypt, send a retry
    // receipt, Bea's phone re-encrypts with a new session and resends.
    emu.corrupt_next_message_to(&me).await.unwrap();
    assert_eq!(emu.armed_corruptions().await, vec![me.clone()]);
    let id = emu
        .phone(BEA)
        .send_text(PHONE, "survives corruption")
        .await
        .unwrap();
    let Event::Message(m) = wait_for(&mut events, "the resent message", |e| {
        texts_from_bea(e).is_some()
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(m.text.as_deref(), Some("survives corruption"));
    assert_eq!(m.id, id);
    assert!(
        emu.armed_corruptions().await.is_empty(),
        "the fault fired on that message"
    );

    // Exactly once: no second copy, and the session keeps working.
    emu.phone(BEA).send_text(PHONE, "after").await.unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
        if let Some(text) = texts_from_bea(&e) {
            let done = text == "after";
            seen.push(text);
            if done {
                break;
            }
        }
    }
    assert_eq!(seen, vec!["after".to_owned()], "no duplicate delivery");
    client.disconnect().await;
}
