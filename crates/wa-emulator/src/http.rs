//! The HTTP side: the control API (`/control/...`) and the media host (`/mms/...` uploads,
//! downloads by direct path). The same router serves plain HTTP and HTTPS.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;

use crate::error::{EmulatorError, error_response};
use crate::{Inner, Phone};

/// Largest accepted request body (media uploads).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Largest accepted control request (a base64 image in `send` is the biggest).
const MAX_CONTROL_BODY: usize = 32 * 1024 * 1024;

type AppState = Arc<Inner>;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/control/info", get(info))
        .route("/control/accounts", post(create_account).get(list_accounts))
        .route("/control/accounts/{phone}", get(get_account))
        .route("/control/accounts/{phone}/scan", post(scan))
        .route("/control/accounts/{phone}/send", post(send))
        .route("/control/accounts/{phone}/link_code", post(link_code))
        .route("/control/accounts/{phone}/inbox", get(inbox))
        .route("/control/accounts/{phone}/devices/{device}", delete(unlink))
        .route(
            "/control/accounts/{phone}/devices/{device}/kick",
            post(kick),
        )
        .route("/control/faults", post(faults))
        .route("/control/tls_cert", get(tls_cert))
        .route(
            "/mms/{media_type}/{token}",
            post(upload).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_CONTROL_BODY))
        .layer(axum::middleware::map_response(json_client_errors))
        .with_state(inner)
}

/// Gives the 4xx answers that axum produces itself (wrong method, body too large) the same
/// JSON error body as every other control error.
async fn json_client_errors(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let status = resp.status();
    if !status.is_client_error() || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    let mut out = error_response(
        status,
        code,
        status.canonical_reason().unwrap_or("bad request"),
    );
    if let Some(allow) = resp.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, EmulatorError> {
    serde_json::from_slice(body).map_err(|e| EmulatorError::InvalidRequest(e.to_string()))
}

fn parse_device(device: &str) -> Result<u32, EmulatorError> {
    device
        .parse()
        .map_err(|_| EmulatorError::InvalidRequest(format!("bad device id {device:?}")))
}

async fn info(State(inner): State<AppState>) -> Response {
    axum::Json(inner.startup_info()).into_response()
}

#[derive(Deserialize)]
struct CreateAccount {
    phone: String,
    #[serde(default)]
    push_name: String,
}

async fn create_account(State(inner): State<AppState>, body: Bytes) -> Response {
    let req: CreateAccount = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match inner.create_account(&req.phone, &req.push_name) {
        Ok(info) => (StatusCode::CREATED, axum::Json(info)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_accounts(State(inner): State<AppState>) -> Response {
    axum::Json(inner.list_accounts()).into_response()
}

async fn get_account(State(inner): State<AppState>, Path(phone): Path<String>) -> Response {
    match inner.account_state(&phone) {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => e.into_response(),
    }
}

fn phone_of(inner: &AppState, phone: &str) -> Phone {
    Phone {
        inner: inner.clone(),
        phone: phone.to_owned(),
    }
}

#[derive(Deserialize)]
struct ScanReq {
    qr: String,
}

async fn scan(State(inner): State<AppState>, Path(phone): Path<String>, body: Bytes) -> Response {
    let req: ScanReq = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match phone_of(&inner, &phone).scan(&req.qr).await {
        Ok(jid) => axum::Json(serde_json::json!({ "device_jid": jid })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct LinkCodeReq {
    code: String,
}

async fn link_code(
    State(inner): State<AppState>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Response {
    let req: LinkCodeReq = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match phone_of(&inner, &phone).enter_link_code(&req.code).await {
        Ok(jid) => axum::Json(serde_json::json!({ "device_jid": jid })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ImageReq {
    base64: String,
    #[serde(default = "default_mimetype")]
    mimetype: String,
}

fn default_mimetype() -> String {
    "image/jpeg".to_owned()
}

#[derive(Deserialize)]
struct SendReq {
    to: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    image: Option<ImageReq>,
    #[serde(default)]
    caption: Option<String>,
}

async fn send(State(inner): State<AppState>, Path(phone): Path<String>, body: Bytes) -> Response {
    let req: SendReq = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let phone = phone_of(&inner, &phone);
    let sent = match (&req.image, &req.text) {
        (Some(img), _) => {
            let bytes = match base64::engine::general_purpose::STANDARD.decode(&img.base64) {
                Ok(b) => b,
                Err(e) => {
                    return EmulatorError::InvalidRequest(format!("image.base64: {e}"))
                        .into_response();
                }
            };
            phone
                .send_image(&req.to, &bytes, &img.mimetype, req.caption.as_deref())
                .await
        }
        (None, Some(text)) => phone.send_text(&req.to, text).await,
        (None, None) => Err(EmulatorError::InvalidRequest(
            "either \"text\" or \"image\" is required".to_owned(),
        )),
    };
    match sent {
        Ok(id) => axum::Json(serde_json::json!({ "id": id })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn inbox(State(inner): State<AppState>, Path(phone): Path<String>) -> Response {
    match phone_of(&inner, &phone).try_inbox() {
        Ok(msgs) => axum::Json(msgs).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn unlink(
    State(inner): State<AppState>,
    Path((phone, device)): Path<(String, String)>,
) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match phone_of(&inner, &phone).unlink(device).await {
        Ok(()) => axum::Json(serde_json::json!({ "removed": device })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct KickReq {
    code: u16,
}

async fn kick(
    State(inner): State<AppState>,
    Path((phone, device)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let req: KickReq = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match phone_of(&inner, &phone).kick(device, req.code).await {
        Ok(()) => {
            axum::Json(serde_json::json!({ "kicked": device, "code": req.code })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct FaultsReq {
    #[serde(default)]
    drop_connections: bool,
    #[serde(default)]
    corrupt_next_message_to: Option<String>,
}

async fn faults(State(inner): State<AppState>, body: Bytes) -> Response {
    let req: FaultsReq = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(jid) = &req.corrupt_next_message_to {
        if let Err(e) = inner.corrupt_next_message_to(jid) {
            return e.into_response();
        }
    }
    let dropped = if req.drop_connections {
        inner.drop_connections()
    } else {
        0
    };
    let mut answer = serde_json::json!({ "dropped_connections": dropped });
    if let Some(jid) = req.corrupt_next_message_to {
        answer["corrupt_next_message_to"] = serde_json::Value::String(jid);
    }
    axum::Json(answer).into_response()
}

async fn tls_cert(State(inner): State<AppState>) -> Response {
    axum::Json(serde_json::json!({ "pem": inner.tls_pem })).into_response()
}

/// Strips base64 padding so that padded (WM) and unpadded (BL, WR) tokens compare equal.
fn unpad(token: &str) -> &str {
    token.trim_end_matches('=').trim_end_matches("%3D")
}

async fn upload(
    State(inner): State<AppState>,
    Path((media_type, token)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return EmulatorError::InvalidRequest(e.to_string()).into_response(),
    };
    if query.get("auth").map(String::as_str) != Some(inner.media_auth.as_str()) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "media_auth",
            "missing or wrong media auth token",
        );
    }
    if query.contains_key("resume") {
        // Resumable-upload probe: we keep nothing partial, so ask for a full upload.
        return error_response(
            StatusCode::NOT_FOUND,
            "no_partial_upload",
            "no partial upload to resume",
        );
    }
    let digest = sha2::Sha256::digest(&body);
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    if unpad(&token) != expected {
        return error_response(
            StatusCode::BAD_REQUEST,
            "hash_mismatch",
            "the token is not the base64url SHA-256 of the body",
        );
    }
    let (url, direct_path, handle) = inner.store_media(&media_type, &digest, body);
    axum::Json(serde_json::json!({
        "url": url,
        "direct_path": direct_path,
        "handle": handle,
        "object_id": handle,
        "ts": crate::state::now_secs(),
    }))
    .into_response()
}

async fn fallback(State(inner): State<AppState>, method: Method, uri: Uri) -> Response {
    if method == Method::GET || method == Method::HEAD {
        if let Some(blob) = inner.get_media(uri.path()) {
            return ([(header::CONTENT_TYPE, "application/octet-stream")], blob).into_response();
        }
    }
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no route or media for {method} {}", uri.path()),
    )
}
