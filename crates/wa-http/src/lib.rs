//! The multi-session WhatsApp gateway: REST API, server-sent events, webhooks and a web UI.
//!
//! [`Gateway`] owns the sessions (persisted in the process-wide sled database) and registers
//! the HTTP routes on an actix-web `App`; the `wa-http` binary wires it to wa-client
//! (`client_backend::WaClientConnector`) and, with `--demo`, to an embedded wa-emulator.
#![warn(missing_docs)]

mod api;
pub mod backend;
pub mod client_backend;
pub mod config;
pub mod demo;
mod error;
mod manager;
mod media;
mod metrics;
mod registry;
pub mod server;
mod status;
mod ui;
pub mod webhook;

pub use api::ApiDoc;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use manager::{GatewayEvent, MeView, SessionView, WebhookView};
pub use registry::{
    LastError, REGISTRY_NAMESPACE, RegistryError, StatusChange, WebhookConfig, valid_session_name,
};
pub use status::{SessionStatus, rfc3339};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};
use backend::Connector;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

/// Options of a [`Gateway`].
#[derive(Clone)]
pub struct GatewayOptions {
    /// API key required in `X-Api-Key` on every `/api` route (none: no auth).
    pub api_key: Option<String>,
    /// Largest image accepted for sending, in bytes.
    pub max_image_bytes: usize,
    /// How webhook deliveries are retried.
    pub webhook_retry: webhook::RetryPolicy,
    /// Demo mode: the embedded emulator and its simulated phones.
    pub demo: Option<Arc<demo::Demo>>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            api_key: None,
            max_image_bytes: 16 * 1024 * 1024,
            webhook_retry: webhook::RetryPolicy::default(),
            demo: None,
        }
    }
}

/// Shared state of the handlers.
pub(crate) struct AppState {
    pub(crate) manager: manager::Manager,
    pub(crate) api_key: Option<String>,
    pub(crate) max_image_bytes: usize,
    pub(crate) http: reqwest::Client,
    pub(crate) demo: Option<Arc<demo::Demo>>,
}

/// The gateway: the session manager plus the HTTP routes. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    state: web::Data<AppState>,
}

impl Gateway {
    /// Opens the gateway, keeping its session records in `registry_store` (normally the
    /// [`REGISTRY_NAMESPACE`] of the process-wide sled database), loading every stored session
    /// and restarting those that were running. Session tasks run on the current Tokio runtime,
    /// which must outlive the gateway.
    pub fn open(
        connector: Arc<dyn Connector>,
        registry_store: Arc<dyn wa_client::store::Store>,
        options: GatewayOptions,
    ) -> Result<Gateway, anyhow::Error> {
        let http = http_client()?;
        let registry = registry::Registry::open(registry_store)?;
        let manager = manager::Manager::load(
            tokio::runtime::Handle::current(),
            connector,
            registry,
            http.clone(),
            options.webhook_retry,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Gateway {
            state: web::Data::new(AppState {
                manager,
                api_key: options.api_key.filter(|k| !k.is_empty()),
                max_image_bytes: options.max_image_bytes,
                http,
                demo: options.demo,
            }),
        })
    }

    /// Registers every route: the UI at `/`, `/health`, `/metrics` and the API under `/api`.
    /// Use as `App::new().configure(|c| gateway.configure(c))`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let max = self.state.max_image_bytes;
        let demo = self.state.demo.clone();
        cfg.app_data(self.state.clone())
            .app_data(error::json_config(max / 3 * 4 + 64 * 1024))
            .app_data(error::path_config())
            .app_data(error::query_config())
            .app_data(error::payload_config(max / 3 * 4 + 64 * 1024))
            .configure(ui::routes)
            .route("/ui/config", web::get().to(ui_config))
            .service(api::resource("/health").route(web::get().to(api::health)))
            .service(api::resource("/metrics").route(web::get().to(api::metrics)))
            .service(
                web::scope("/api")
                    .wrap(from_fn(require_api_key))
                    .configure(|c| api::api_routes(c, max))
                    .configure(|c| {
                        if let Some(d) = demo {
                            demo::routes(c, d);
                        }
                    })
                    .default_service(web::to(error::not_found)),
            )
            .default_service(web::to(error::not_found));
    }

    /// Disconnects every session, leaving their `running` flags for the next start.
    pub async fn shutdown(&self) {
        self.state.manager.shutdown().await;
    }

    /// Whether an API key is configured.
    pub fn requires_api_key(&self) -> bool {
        self.state.api_key.is_some()
    }
}

/// What the UI needs to know before calling the API (no auth needed).
async fn ui_config(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "demo": st.demo.is_some(),
        "auth_required": st.api_key.is_some(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// Middleware: with an API key configured, `/api` requests need a matching `X-Api-Key`
/// (compared in constant time).
async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.api_key.clone());
    if let Some(expected) = expected {
        let given = req
            .headers()
            .get("x-api-key")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        let ok = given.len() == expected.len() && bool::from(given.ct_eq(expected.as_bytes()));
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid X-Api-Key header is required",
            )
            .into());
        }
    }
    next.call(req).await
}

/// The HTTP client for webhooks and image URLs (rustls with the webpki roots).
fn http_client() -> Result<reqwest::Client, anyhow::Error> {
    // The workspace standardises on the ring provider (deprecated in rustls 0.23 only for
    // lacking post-quantum key exchange).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .user_agent(concat!("wa-http/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()?)
}
