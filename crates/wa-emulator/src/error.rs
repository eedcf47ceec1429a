//! The emulator's error type and its JSON form for the control API.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the emulator's library API and control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// No account with that phone number exists.
    #[error("no account with phone number {0}")]
    AccountNotFound(String),
    /// An account with that phone number already exists.
    #[error("an account with phone number {0} already exists")]
    AccountExists(String),
    /// The phone number is not 5..=20 ASCII digits.
    #[error("invalid phone number {0:?}: expected 5 to 20 digits")]
    InvalidPhone(String),
    /// The account has no such linked device.
    #[error("account {0} has no device {1}")]
    DeviceNotFound(String, u32),
    /// The QR text is malformed or matches no companion waiting for a scan.
    #[error("bad QR: {0}")]
    BadQr(String),
    /// The pairing flow did not complete.
    #[error("pairing failed: {0}")]
    Pairing(String),
    /// The request body or a parameter is invalid.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A simulated phone could not encrypt, decrypt or send.
    #[error("phone error: {0}")]
    Phone(String),
    /// A listener could not be bound or served.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS certificate of the media host could not be generated.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The state directory could not be read or written.
    #[error("state persistence failed: {0}")]
    Persistence(String),
}

impl EmulatorError {
    /// The stable machine-readable code used in `{"error":{"code":...}}`.
    pub fn code(&self) -> &'static str {
        match self {
            EmulatorError::AccountNotFound(_) => "account_not_found",
            EmulatorError::AccountExists(_) => "account_exists",
            EmulatorError::InvalidPhone(_) => "invalid_phone",
            EmulatorError::DeviceNotFound(..) => "device_not_found",
            EmulatorError::BadQr(_) => "bad_qr",
            EmulatorError::Pairing(_) => "pairing_failed",
            EmulatorError::InvalidRequest(_) => "invalid_request",
            EmulatorError::Phone(_) => "phone_error",
            EmulatorError::Io(_) => "io_error",
            EmulatorError::Tls(_) => "tls_error",
            EmulatorError::Persistence(_) => "persistence_error",
        }
    }

    /// The HTTP status the control API answers with for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            EmulatorError::AccountNotFound(_) | EmulatorError::DeviceNotFound(..) => {
                StatusCode::NOT_FOUND
            }
            EmulatorError::AccountExists(_) => StatusCode::CONFLICT,
            EmulatorError::InvalidPhone(_)
            | EmulatorError::BadQr(_)
            | EmulatorError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            EmulatorError::Pairing(_) | EmulatorError::Phone(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EmulatorError::Io(_) | EmulatorError::Tls(_) | EmulatorError::Persistence(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// Builds the JSON error body of the control API.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for EmulatorError {
    fn into_response(self) -> Response {
        error_response(self.status(), self.code(), &self.to_string())
    }
}
