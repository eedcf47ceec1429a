//! Command-line flags and environment variables (design.md §3.3).

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `wa-http`: the multi-session WhatsApp gateway.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "wa-http",
    version,
    about = "Multi-session WhatsApp gateway: REST API, server-sent events, webhooks and a web UI"
)]
pub struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "WA_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Data directory (the session database lives here).
    #[arg(long, env = "WA_DATA", default_value = "./data")]
    pub data: PathBuf,

    /// API key required in the X-Api-Key header of every /api request. Without one the
    /// gateway only listens on loopback addresses.
    #[arg(long, env = "WA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// WhatsApp WebSocket URL (default: WhatsApp's).
    #[arg(long, env = "WA_WS_URL")]
    pub ws_url: Option<String>,

    /// Trusted Noise root public key, 64 hex digits (default: WhatsApp's root).
    #[arg(long, env = "WA_ROOT_KEY")]
    pub root_key: Option<String>,

    /// Extra PEM file to trust for media hosts.
    #[arg(long, env = "WA_MEDIA_CA")]
    pub media_ca: Option<PathBuf>,

    /// Demo mode: start an embedded WhatsApp emulator with simulated phones and point every
    /// session at it. Never talks to WhatsApp. (Deliberately a flag only, no environment
    /// variable, so it cannot be switched on by accident.)
    #[arg(long, conflicts_with_all = ["ws_url", "root_key", "media_ca"])]
    pub demo: bool,

    /// Log format.
    #[arg(long, env = "WA_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Largest image accepted for sending, in bytes.
    #[arg(long, env = "WA_MAX_IMAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_image_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let c = Cli::try_parse_from(["wa-http"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.data, PathBuf::from("./data"));
        assert!(!c.demo);
        let c = Cli::try_parse_from([
            "wa-http",
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert!(c.demo);
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["wa-http", "--demo", "--ws-url", "ws://x"]).is_err());
    }
}
