//! The REST handlers of design.md §3.2, their OpenAPI description, SSE streams, `/health`
//! and `/metrics`.

#![allow(unused_qualifications)] // the utoipa macro expansions qualify paths

use crate::AppState;
use crate::backend::{ImageToSend, Sent};
use crate::error::{ApiError, ErrorBody, json_config};
use crate::manager::{GatewayEvent, NewSession, SessionView};
use crate::media;
use crate::registry::WebhookConfig;
use crate::status::{SessionStatus, rfc3339};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Body of `POST /api/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Session name, `^[A-Za-z0-9_-]{1,64}$`.
    pub name: String,
    /// Start the session right away (default `true`).
    #[serde(default = "default_true")]
    pub start: bool,
    /// Webhook targets.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

fn default_true() -> bool {
    true
}

/// Body of `POST /api/sessions/{name}/messages/text`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendTextRequest {
    /// Recipient: phone number in any common format (`+55 11 91234-5678`) or a JID.
    pub to: Option<String>,
    /// The text.
    pub text: Option<String>,
}

/// An image given inline in a JSON request: exactly one of `base64` and `url`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImageSource {
    /// The image bytes in base64 (a `data:` URL is accepted too).
    pub base64: Option<String>,
    /// An `http(s)` URL the gateway downloads the image from.
    pub url: Option<String>,
    /// Declared mimetype (checked against the content).
    pub mimetype: Option<String>,
}

/// JSON body of `POST /api/sessions/{name}/messages/image`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendImageJson {
    /// Recipient.
    pub to: Option<String>,
    /// Optional caption.
    pub caption: Option<String>,
    /// The image.
    pub image: Option<ImageSource>,
}

/// Multipart body of `POST /api/sessions/{name}/messages/image` (for documentation).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SendImageMultipart {
    /// Recipient.
    to: String,
    /// Optional caption.
    caption: Option<String>,
    /// The image file (JPEG, PNG or WebP).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Result of a send.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendResponse {
    /// Message id.
    pub id: String,
    /// Server timestamp, Unix seconds.
    pub timestamp: u64,
    /// Recipient JID.
    pub to: String,
}

impl From<Sent> for SendResponse {
    fn from(s: Sent) -> Self {
        SendResponse {
            id: s.id,
            timestamp: s.timestamp,
            to: s.to,
        }
    }
}

/// The QR code as JSON (`?format=json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct QrJson {
    /// The QR text.
    pub qr: String,
    /// The QR code as a PNG, base64.
    pub png_base64: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
}

/// Query of `GET /api/sessions/{name}/qr`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QrQuery {
    /// `png` (default), `svg`, `raw` or `json`.
    pub format: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the server answers.
    pub status: &'static str,
    /// Number of sessions.
    pub sessions: usize,
    /// Whether this is a demo gateway (embedded emulator).
    pub demo: bool,
}

/// Session name in the path.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SessionPath {
    /// Session name.
    pub name: String,
}

#[utoipa::path(post, path = "/api/sessions", tag = "sessions",
    request_body = CreateSessionRequest,
    responses((status = 201, body = SessionView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_session(
    st: web::Data<AppState>,
    body: web::Json<CreateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let v = st
        .manager
        .create(NewSession {
            name: body.name,
            start: body.start,
            webhooks: body.webhooks,
        })
        .await?;
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(get, path = "/api/sessions", tag = "sessions",
    responses((status = 200, body = Vec<SessionView>)))]
pub(crate) async fn list_sessions(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(st.manager.list())
}

#[utoipa::path(get, path = "/api/sessions/{name}", tag = "sessions", params(SessionPath),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_session(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(st.manager.view(&path.name)?))
}

#[utoipa::path(delete, path = "/api/sessions/{name}", tag = "sessions", params(SessionPath),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_session(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    st.manager.delete(&path.name).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/sessions/{name}/start", tag = "sessions", params(SessionPath),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn start_session(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(st.manager.start(&path.name).await?))
}

#[utoipa::path(post, path = "/api/sessions/{name}/stop", tag = "sessions", params(SessionPath),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn stop_session(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(st.manager.stop(&path.name).await?))
}

#[utoipa::path(post, path = "/api/sessions/{name}/restart", tag = "sessions", params(SessionPath),
    description = "Stops and starts the session, keeping its login.",
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn restart_session(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(st.manager.restart(&path.name).await?))
}

#[utoipa::path(post, path = "/api/sessions/{name}/logout", tag = "sessions", params(SessionPath),
    description = "Unlinks the session and wipes its keys; a running session comes back in SCAN_QR_CODE with a new QR code.",
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn logout_session(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(st.manager.logout(&path.name).await?))
}

#[utoipa::path(get, path = "/api/sessions/{name}/qr", tag = "sessions", params(SessionPath, QrQuery),
    responses(
        (status = 200, description = "The QR code: PNG (default), SVG, raw text or JSON", content(
            (Vec<u8> = "image/png"), (String = "image/svg+xml"), (String = "text/plain"), (QrJson = "application/json"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The session is not in SCAN_QR_CODE", body = ErrorBody)))]
pub(crate) async fn get_qr(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.format.as_deref().unwrap_or("png");
    if !matches!(format, "png" | "svg" | "raw" | "json") {
        return Err(ApiError::bad_request(
            "invalid_format",
            "format is one of png, svg, raw, json",
        ));
    }
    let qr = st.manager.qr(&path.name)?;
    let render_err = |e: wa_client::qr::QrError| {
        ApiError::internal(format!("could not render the QR code: {e}"))
    };
    let resp = match format {
        "svg" => HttpResponse::Ok()
            .content_type("image/svg+xml")
            .body(wa_client::qr::try_to_svg(&qr.code).map_err(render_err)?),
        "raw" => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(qr.code),
        "json" => {
            let png = wa_client::qr::try_to_png(&qr.code).map_err(render_err)?;
            HttpResponse::Ok().json(QrJson {
                png_base64: base64::engine::general_purpose::STANDARD.encode(png),
                qr: qr.code,
                expires_at: rfc3339(qr.expires_at),
            })
        }
        _ => HttpResponse::Ok()
            .content_type("image/png")
            .body(wa_client::qr::try_to_png(&qr.code).map_err(render_err)?),
    };
    Ok(resp)
}

fn require_to(to: Option<&str>) -> Result<&str, ApiError> {
    match to.map(str::trim) {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(ApiError::bad_request(
            "missing_to",
            "`to` (the recipient) is required",
        )),
    }
}

#[utoipa::path(post, path = "/api/sessions/{name}/messages/text", tag = "messages", params(SessionPath),
    request_body = SendTextRequest,
    responses((status = 200, body = SendResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The session is not WORKING", body = ErrorBody),
        (status = 422, description = "Invalid phone number", body = ErrorBody)))]
pub(crate) async fn send_text(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
    body: web::Json<SendTextRequest>,
) -> Result<HttpResponse, ApiError> {
    st.manager.get(&path.name)?;
    let to = require_to(body.to.as_deref())?;
    let text = match body.text.as_deref() {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "missing_text",
                "`text` is required and must not be empty",
            ));
        }
    };
    let jid = st.manager.parse_recipient(to)?;
    let sent = st.manager.send_text(&path.name, jid, text).await?;
    Ok(HttpResponse::Ok().json(SendResponse::from(sent)))
}

#[utoipa::path(post, path = "/api/sessions/{name}/messages/image", tag = "messages", params(SessionPath),
    request_body(content((SendImageMultipart = "multipart/form-data"), (SendImageJson = "application/json"))),
    responses((status = 200, body = SendResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The session is not WORKING", body = ErrorBody),
        (status = 413, description = "The image is too large", body = ErrorBody),
        (status = 415, description = "Not an image, or an unsupported request type", body = ErrorBody),
        (status = 422, description = "Invalid phone number or the image URL could not be fetched", body = ErrorBody)))]
pub(crate) async fn send_image(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    st.manager.get(&path.name)?;
    let limit = st.max_image_bytes;
    let ctype = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (to, caption, bytes, declared) = if ctype.starts_with("multipart/form-data") {
        read_multipart(&req, payload, limit).await?
    } else if ctype.starts_with("application/json") || ctype.contains("+json") {
        // base64 takes 4/3 of the bytes; leave room for the other fields.
        let body = read_body(payload, limit / 3 * 4 + 64 * 1024).await?;
        let parsed: SendImageJson = serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                ApiError::bad_request("invalid_request", format!("invalid request body: {e}"))
            } else {
                ApiError::bad_request("malformed_json", format!("malformed JSON: {e}"))
            }
        })?;
        let Some(src) = parsed.image else {
            return Err(ApiError::bad_request(
                "missing_file",
                "`image` ({\"base64\"|\"url\", \"mimetype\"}) is required",
            ));
        };
        let (bytes, declared) = match (src.base64, src.url) {
            (Some(b), None) => {
                let (bytes, from_data_url) = media::decode_base64(&b, limit)?;
                (bytes, src.mimetype.or(from_data_url))
            }
            (None, Some(url)) => {
                let to_check = parsed.to.as_deref();
                require_to(to_check)?;
                st.manager.parse_recipient(to_check.unwrap_or_default())?;
                let (bytes, served) = media::fetch_url(&st.http, &url, limit).await?;
                (bytes, src.mimetype.or(served))
            }
            _ => {
                return Err(ApiError::bad_request(
                    "missing_file",
                    "give exactly one of `image.base64` and `image.url`",
                ));
            }
        };
        (parsed.to, parsed.caption, Some(bytes), declared)
    } else {
        return Err(ApiError::unsupported_media(
            "send multipart/form-data (to, caption, file) or application/json",
        ));
    };
    let to = require_to(to.as_deref())?.to_string();
    let Some(bytes) = bytes else {
        return Err(ApiError::bad_request(
            "missing_file",
            "the `file` part is required",
        ));
    };
    let jid = st.manager.parse_recipient(&to)?;
    let image = media::check_image(bytes, declared.as_deref(), limit)?;
    let sent = st
        .manager
        .send_image(
            &path.name,
            jid,
            ImageToSend {
                bytes: image.bytes,
                mimetype: image.mimetype.to_string(),
                caption: caption.filter(|c| !c.is_empty()),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(SendResponse::from(sent)))
}

type ImageParts = (
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    Option<String>,
);

/// After a body turned out too large, this much more is read and discarded so that the
/// client finishes sending and sees the 413 (instead of a reset connection).
const DRAIN_CAP: usize = 64 * 1024 * 1024;

async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<ImageParts, ApiError> {
    const FIELD_LIMIT: usize = 64 * 1024;
    let mp_err = |e: actix_multipart::MultipartError| {
        ApiError::bad_request("invalid_multipart", format!("invalid multipart body: {e}"))
    };
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let (mut to, mut caption, mut file, mut declared) = (None, None, None, None);
    let mut too_large: Option<ApiError> = None;
    let mut drained = 0usize;
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(mp_err)?;
        let name = field
            .content_disposition()
            .and_then(|cd| cd.get_name())
            .unwrap_or("")
            .to_string();
        let max = if name == "file" { limit } else { FIELD_LIMIT };
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(mp_err)?;
            if too_large.is_some() {
                drained += chunk.len();
                if drained > DRAIN_CAP {
                    break;
                }
                continue;
            }
            if data.len() + chunk.len() > max {
                too_large = Some(if name == "file" {
                    ApiError::too_large(format!(
                        "the image is larger than the limit of {limit} bytes"
                    ))
                } else {
                    ApiError::too_large(format!(
                        "field {name:?} is larger than {FIELD_LIMIT} bytes"
                    ))
                });
                continue;
            }
            data.extend_from_slice(&chunk);
        }
        if let Some(e) = too_large.take() {
            if drained > DRAIN_CAP {
                return Err(e);
            }
            too_large = Some(e);
            continue;
        }
        let text = || {
            String::from_utf8(data.clone()).map_err(|_| {
                ApiError::bad_request("invalid_multipart", format!("field {name:?} is not UTF-8"))
            })
        };
        match name.as_str() {
            "to" => to = Some(text()?),
            "caption" => caption = Some(text()?),
            "file" => {
                declared = field.content_type().map(|m| m.essence_str().to_string());
                file = Some(data);
            }
            _ => {}
        }
    }
    if let Some(e) = too_large {
        return Err(e);
    }
    Ok((to, caption, file, declared))
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        total += chunk.len();
        if total > limit {
            out = Vec::new();
            if total > limit.saturating_add(DRAIN_CAP) {
                break;
            }
            continue;
        }
        out.extend_from_slice(&chunk);
    }
    if total > limit {
        return Err(ApiError::too_large(format!(
            "request body larger than {limit} bytes"
        )));
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/sessions/{name}/events", tag = "events", params(SessionPath),
    description = "Server-sent events of one session: first the current status (and QR code), then `status`, `qr`, `paired`, `message`, `receipt`, `disconnected`, `logged_out`, `session_deleted` as they happen. Each `data:` is a GatewayEvent.",
    responses((status = 200, description = "text/event-stream of GatewayEvent", content_type = "text/event-stream", body = GatewayEvent),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn session_events(
    st: web::Data<AppState>,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    let (rx, first) = st.manager.subscribe(&path.name)?;
    Ok(sse_response(rx, first, true))
}

#[utoipa::path(get, path = "/api/events", tag = "events",
    description = "Server-sent events of every session (same events as the per-session stream).",
    responses((status = 200, description = "text/event-stream of GatewayEvent", content_type = "text/event-stream", body = GatewayEvent)))]
pub(crate) async fn all_events(st: web::Data<AppState>) -> HttpResponse {
    let (rx, first) = st.manager.subscribe_all();
    sse_response(rx, first, false)
}

fn sse_frame(id: u64, ev: &GatewayEvent) -> Bytes {
    let data = serde_json::to_string(ev).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("id: {id}\nevent: {}\ndata: {data}\n\n", ev.event))
}

struct SseState {
    rx: broadcast::Receiver<GatewayEvent>,
    first: std::vec::IntoIter<GatewayEvent>,
    next_id: u64,
    end_on_delete: bool,
    done: bool,
}

fn sse_response(
    rx: broadcast::Receiver<GatewayEvent>,
    first: Vec<GatewayEvent>,
    end_on_delete: bool,
) -> HttpResponse {
    let state = SseState {
        rx,
        first: first.into_iter(),
        next_id: 0,
        end_on_delete,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let frame = if let Some(ev) = s.first.next() {
            s.next_id += 1;
            sse_frame(s.next_id, &ev)
        } else {
            match tokio::time::timeout(Duration::from_secs(15), s.rx.recv()).await {
                Err(_) => Bytes::from_static(b": keepalive\n\n"),
                Ok(Ok(ev)) => {
                    s.next_id += 1;
                    if s.end_on_delete && ev.event == "session_deleted" {
                        s.done = true;
                    }
                    sse_frame(s.next_id, &ev)
                }
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                    Bytes::from(format!(": skipped {n} events\n\n"))
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            }
        };
        Some((Ok::<_, actix_web::Error>(frame), s))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}

#[utoipa::path(get, path = "/health", tag = "meta", security(()),
    responses((status = 200, body = Health)))]
pub(crate) async fn health(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        sessions: st.manager.list().len(),
        demo: st.demo.is_some(),
    })
}

#[utoipa::path(get, path = "/metrics", tag = "meta", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    let body = crate::metrics::global().render(&st.manager.count_by_status());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// 405 for a known path with another method.
pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

/// A resource whose other methods answer 405 in our JSON shape.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Registers the API routes (under `/api`, auth applied by the caller).
pub(crate) fn api_routes(cfg: &mut web::ServiceConfig, max_image_bytes: usize) {
    let _ = max_image_bytes;
    cfg.service(
        resource("/sessions")
            .app_data(json_config(16 * 1024))
            .route(web::get().to(list_sessions))
            .route(web::post().to(create_session)),
    )
    .service(
        resource("/sessions/{name}")
            .route(web::get().to(get_session))
            .route(web::delete().to(delete_session)),
    )
    .service(resource("/sessions/{name}/start").route(web::post().to(start_session)))
    .service(resource("/sessions/{name}/stop").route(web::post().to(stop_session)))
    .service(resource("/sessions/{name}/restart").route(web::post().to(restart_session)))
    .service(resource("/sessions/{name}/logout").route(web::post().to(logout_session)))
    .service(resource("/sessions/{name}/qr").route(web::get().to(get_qr)))
    .service(
        resource("/sessions/{name}/messages/text")
            .app_data(json_config(256 * 1024))
            .route(web::post().to(send_text)),
    )
    .service(resource("/sessions/{name}/messages/image").route(web::post().to(send_image)))
    .service(resource("/sessions/{name}/events").route(web::get().to(session_events)))
    .service(resource("/events").route(web::get().to(all_events)))
    .service(resource("/openapi.json").route(web::get().to(openapi_json)));
}

struct ApiKeySecurity;

impl utoipa::Modify for ApiKeySecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}

/// The OpenAPI document of the gateway, generated from the handlers and types above.
#[derive(OpenApi)]
#[openapi(
    info(title = "wa-http", description = "Multi-session WhatsApp gateway. With an API key configured, every /api route requires the X-Api-Key header."),
    paths(create_session, list_sessions, get_session, delete_session, start_session, stop_session,
        restart_session, logout_session, get_qr, send_text, send_image, session_events, all_events,
        openapi_json, health, metrics),
    components(schemas(SessionStatus, GatewayEvent)),
    modifiers(&ApiKeySecurity),
    tags((name = "sessions"), (name = "messages"), (name = "events"), (name = "meta"))
)]
pub struct ApiDoc;
