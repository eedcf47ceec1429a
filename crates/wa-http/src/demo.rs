//! Demo mode (`--demo`): an embedded wa-emulator plays WhatsApp. A simulated phone
//! ("Demo Phone") links the gateway's sessions by scanning their QR codes, and a second
//! simulated account ("Demo Friend") receives what they send. The demo routes exist only in
//! demo mode.

use crate::AppState;
use crate::api::{SessionPath, resource};
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use wa_emulator::{Emulator, EmulatorConfig};

/// Phone number of the simulated phone that links the sessions.
pub const DEMO_PHONE: &str = "15550001111";
/// Phone number of the simulated recipient whose inbox the UI shows.
pub const DEMO_FRIEND: &str = "15550002222";

/// The embedded emulator of demo mode.
pub struct Demo {
    emulator: Emulator,
}

impl Demo {
    /// Starts the emulator on loopback (free ports), keeping its state under `state_dir`,
    /// and creates the two demo accounts if they do not exist yet.
    pub async fn start(state_dir: &Path) -> Result<Demo, anyhow::Error> {
        std::fs::create_dir_all(state_dir)?;
        let emulator = Emulator::start(EmulatorConfig::default().with_state_dir(state_dir)).await?;
        for (phone, name) in [(DEMO_PHONE, "Demo Phone"), (DEMO_FRIEND, "Demo Friend")] {
            if emulator.account(phone).await.is_err() {
                emulator.create_account(phone, name).await?;
            }
        }
        Ok(Demo { emulator })
    }

    /// The emulator.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }
}

fn demo_error(e: wa_emulator::EmulatorError) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "demo_error", e.to_string())
}

async fn info(demo: web::Data<Arc<Demo>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "demo": true,
        "phone": DEMO_PHONE,
        "phone_jid": format!("{DEMO_PHONE}@s.whatsapp.net"),
        "friend": DEMO_FRIEND,
        "friend_jid": format!("{DEMO_FRIEND}@s.whatsapp.net"),
        "ws_url": demo.emulator.ws_url(),
    }))
}

async fn scan(
    st: web::Data<AppState>,
    demo: web::Data<Arc<Demo>>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    let qr = st.manager.qr(&path.name)?;
    let device_jid = demo
        .emulator
        .phone(DEMO_PHONE)
        .scan(&qr.code)
        .await
        .map_err(demo_error)?;
    Ok(HttpResponse::Ok().json(json!({ "device_jid": device_jid })))
}

async fn inbox(demo: web::Data<Arc<Demo>>) -> HttpResponse {
    HttpResponse::Ok().json(demo.emulator.phone(DEMO_FRIEND).inbox().await)
}

#[derive(Deserialize)]
struct Reply {
    text: Option<String>,
}

async fn reply(
    demo: web::Data<Arc<Demo>>,
    body: web::Json<Reply>,
) -> Result<HttpResponse, ApiError> {
    let text = match body.text.as_deref() {
        Some(t) if !t.trim().is_empty() => t,
        _ => return Err(ApiError::bad_request("missing_text", "`text` is required")),
    };
    let id = demo
        .emulator
        .phone(DEMO_FRIEND)
        .send_text(DEMO_PHONE, text)
        .await
        .map_err(demo_error)?;
    Ok(HttpResponse::Ok().json(json!({ "id": id })))
}

/// Registers the demo routes under `/api/demo`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig, demo: Arc<Demo>) {
    cfg.app_data(web::Data::new(demo))
        .service(resource("/demo").route(web::get().to(info)))
        .service(resource("/demo/sessions/{name}/scan").route(web::post().to(scan)))
        .service(resource("/demo/inbox").route(web::get().to(inbox)))
        .service(resource("/demo/reply").route(web::post().to(reply)));
}
