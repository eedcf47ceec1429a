//! Running the gateway from command-line flags: opens the data directory, wires wa-client
//! (or, with `--demo`, the embedded emulator) and serves HTTP until Ctrl-C.

use crate::client_backend::{ClientSettings, WaClientConnector};
use crate::config::{Cli, LogFormat};
use crate::demo::Demo;
use crate::{Gateway, GatewayOptions, REGISTRY_NAMESPACE};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer};
use anyhow::{Context as _, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use wa_client::store::SledDatabase;

/// Sets up `tracing` output (`RUST_LOG` filters; default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Refuses a non-loopback listen address when no API key is configured.
pub fn check_listen(listen: SocketAddr, api_key: Option<&str>) -> anyhow::Result<()> {
    if api_key.is_none_or(str::is_empty) && !listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {listen} without an API key: set --api-key (WA_API_KEY) or listen on a loopback address"
        );
    }
    Ok(())
}

fn parse_root_key(hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).context("--root-key is not hex")?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("--root-key must be 32 bytes (64 hex digits)"))
}

/// Logs every request at debug level (method, path, status, time).
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_string();
    let res = next.call(req).await;
    match &res {
        Ok(r) => {
            tracing::debug!(%method, %path, status = r.status().as_u16(), elapsed_ms = start.elapsed().as_millis() as u64, "request")
        }
        Err(e) => tracing::debug!(%method, %path, error = %e, "request failed"),
    }
    res
}

/// Runs the gateway until Ctrl-C (or SIGTERM).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    check_listen(cli.listen, cli.api_key.as_deref())?;
    let (data_dir, demo, settings) = if cli.demo {
        let data_dir = cli.data.join("demo");
        let demo = Demo::start(&data_dir.join("emulator"))
            .await
            .context("starting the embedded emulator")?;
        let settings = ClientSettings {
            ws_url: Some(demo.emulator().ws_url()),
            root_public_key: Some(demo.emulator().root_public_key()),
            media_ca_pem: vec![demo.emulator().tls_cert_pem()],
            device_name: Some("wa-http demo".into()),
        };
        tracing::warn!(ws_url = %demo.emulator().ws_url(), "DEMO MODE: sessions connect to an embedded emulator, not to WhatsApp");
        (data_dir, Some(Arc::new(demo)), settings)
    } else {
        let media_ca_pem = match &cli.media_ca {
            Some(path) => vec![
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --media-ca {}", path.display()))?,
            ],
            None => Vec::new(),
        };
        let settings = ClientSettings {
            ws_url: cli.ws_url.clone(),
            root_public_key: cli.root_key.as_deref().map(parse_root_key).transpose()?,
            media_ca_pem,
            device_name: None,
        };
        (cli.data.clone(), None, settings)
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let db_path = data_dir.join("wa.sled");
    let db = SledDatabase::open(&db_path)
        .with_context(|| format!("opening the database {}", db_path.display()))?;
    let registry = Arc::new(db.session_store(REGISTRY_NAMESPACE)?);
    let connector = Arc::new(WaClientConnector::new(db.clone(), settings));
    let gateway = Gateway::open(
        connector,
        registry,
        GatewayOptions {
            api_key: cli.api_key.clone(),
            max_image_bytes: cli.max_image_bytes,
            demo,
            ..GatewayOptions::default()
        },
    )?;
    let g = gateway.clone();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new()
            .wrap(from_fn(access_log))
            .configure(move |c| g.configure(c))
    })
    .bind(cli.listen)
    .with_context(|| format!("binding {}", cli.listen))?
    .shutdown_timeout(5);
    for addr in server.addrs() {
        tracing::info!(data = %data_dir.display(), demo = cli.demo, "wa-http listening on http://{addr}");
        println!("wa-http listening on http://{addr}");
    }
    server.run().await?;
    tracing::info!("shutting down");
    gateway.shutdown().await;
    db.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        let lo: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let lo6: SocketAddr = "[::1]:3000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert!(check_listen(lo, None).is_ok());
        assert!(check_listen(lo6, None).is_ok());
        assert!(check_listen(any, None).is_err());
        assert!(check_listen(any, Some("")).is_err());
        assert!(check_listen(any, Some("k")).is_ok());
    }

    #[test]
    fn root_key() {
        assert_eq!(parse_root_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_root_key("abcd").is_err());
        assert!(parse_root_key("zz").is_err());
    }
}
