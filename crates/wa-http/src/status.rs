//! Session status as the REST API reports it, and RFC 3339 timestamps.

use crate::backend::LinkStatus;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use utoipa::ToSchema;

/// The status of a gateway session (the names users of existing gateways know).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    /// Not running (never started, stopped, or the gateway was asked to stop it).
    Stopped,
    /// Running and connecting (or reconnecting) to WhatsApp.
    Starting,
    /// Running, not linked yet: a QR code is available to scan.
    ScanQrCode,
    /// Logged in and connected: messages can be sent.
    Working,
    /// Gave up: logged out by the phone, QR never scanned, or an unrecoverable error.
    Failed,
}

impl SessionStatus {
    /// Every status, in display order.
    pub const ALL: [SessionStatus; 5] = [
        SessionStatus::Stopped,
        SessionStatus::Starting,
        SessionStatus::ScanQrCode,
        SessionStatus::Working,
        SessionStatus::Failed,
    ];

    /// The wire name, e.g. `SCAN_QR_CODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Stopped => "STOPPED",
            SessionStatus::Starting => "STARTING",
            SessionStatus::ScanQrCode => "SCAN_QR_CODE",
            SessionStatus::Working => "WORKING",
            SessionStatus::Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LinkStatus {
    /// The gateway status of a session that is meant to be running.
    pub(crate) fn to_session_status(self) -> SessionStatus {
        match self {
            LinkStatus::Disconnected | LinkStatus::Connecting => SessionStatus::Starting,
            LinkStatus::WaitingForQr => SessionStatus::ScanQrCode,
            LinkStatus::Connected => SessionStatus::Working,
            LinkStatus::LoggedOut => SessionStatus::Failed,
        }
    }
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Formats a time as RFC 3339 in UTC with millisecond precision, e.g. `2026-12-04T21:11:53.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = unix_millis(t);
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// The current time as RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_456);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.456Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn status_names() {
        let names: Vec<_> = SessionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            ["STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED"]
        );
        for s in SessionStatus::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
        }
        assert_eq!(
            LinkStatus::WaitingForQr.to_session_status(),
            SessionStatus::ScanQrCode
        );
        assert_eq!(
            LinkStatus::Connected.to_session_status(),
            SessionStatus::Working
        );
    }
}
