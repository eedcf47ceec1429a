//! The one error type of the REST API: every failure becomes
//! `{"error":{"code":"...","message":"..."}}` with a fitting HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, error, web};
use serde::Serialize;
use utoipa::ToSchema;

/// An API error: a machine-readable code, a human-readable message and an HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status sent with the error.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `session_not_found`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// Code and message of an error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `session_not_found`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// A new error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `session_not_found`.
    pub fn session_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            format!("no session named {name:?}"),
        )
    }

    /// 409 with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500 `internal_error` (storage failures and the like, never bad input).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 422 `invalid_phone_number`.
    pub fn invalid_number(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone_number",
            message,
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        crate::metrics::global().record_api_error(self.status.as_u16());
        HttpResponse::build(self.status).json(self.body())
    }
}

/// `JsonConfig` for every JSON body: a size limit and errors in our JSON shape.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| {
            let api = match &err {
                error::JsonPayloadError::OverflowKnownLength { .. }
                | error::JsonPayloadError::Overflow { .. } => {
                    ApiError::too_large(format!("request body too large: {err}"))
                }
                error::JsonPayloadError::ContentType => ApiError::unsupported_media(
                    "expected a JSON body with Content-Type: application/json",
                ),
                error::JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::bad_request("invalid_request", format!("invalid request body: {e}"))
                }
                _ => ApiError::bad_request("malformed_json", format!("malformed JSON: {err}")),
            };
            api.into()
        })
}

/// `PathConfig` whose errors use our JSON shape.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        ApiError::bad_request("invalid_path", format!("invalid path: {err}")).into()
    })
}

/// `QueryConfig` whose errors use our JSON shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
    })
}

/// `PayloadConfig` (raw bodies) with a limit; overflow becomes 413 in our shape.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::default().limit(limit)
}

/// Fallback for unknown routes: 404 `not_found` in our JSON shape.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}
