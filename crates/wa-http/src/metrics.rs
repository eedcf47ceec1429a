//! Process-wide counters and their Prometheus text rendering.

use crate::status::SessionStatus;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Counters of the gateway (one set per process).
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) sent_text: AtomicU64,
    pub(crate) sent_image: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) webhook_ok: AtomicU64,
    pub(crate) webhook_failed: AtomicU64,
    pub(crate) webhook_dropped: AtomicU64,
    pub(crate) session_errors: AtomicU64,
    api_errors: Mutex<BTreeMap<u16, u64>>,
}

/// The process-wide metrics.
pub(crate) fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::default)
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub(crate) fn record_api_error(&self, status: u16) {
        if let Ok(mut m) = self.api_errors.lock() {
            *m.entry(status).or_insert(0) += 1;
        }
    }

    /// Renders everything in the Prometheus text exposition format.
    pub(crate) fn render(&self, by_status: &BTreeMap<SessionStatus, usize>) -> String {
        let mut s = String::new();
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.push_str("# HELP wa_http_sessions Sessions by status.\n# TYPE wa_http_sessions gauge\n");
        for st in SessionStatus::ALL {
            let n = by_status.get(&st).copied().unwrap_or(0);
            let _ = writeln!(s, "wa_http_sessions{{status=\"{st}\"}} {n}");
        }
        s.push_str("# HELP wa_http_messages_sent_total Messages sent.\n# TYPE wa_http_messages_sent_total counter\n");
        let _ = writeln!(
            s,
            "wa_http_messages_sent_total{{type=\"text\"}} {}",
            g(&self.sent_text)
        );
        let _ = writeln!(
            s,
            "wa_http_messages_sent_total{{type=\"image\"}} {}",
            g(&self.sent_image)
        );
        s.push_str("# HELP wa_http_messages_received_total Messages received.\n# TYPE wa_http_messages_received_total counter\n");
        let _ = writeln!(s, "wa_http_messages_received_total {}", g(&self.received));
        s.push_str("# HELP wa_http_send_failures_total Sends that failed after validation.\n# TYPE wa_http_send_failures_total counter\n");
        let _ = writeln!(s, "wa_http_send_failures_total {}", g(&self.send_failures));
        s.push_str("# HELP wa_http_session_errors_total Session-level errors (failed starts, logouts by the phone).\n# TYPE wa_http_session_errors_total counter\n");
        let _ = writeln!(
            s,
            "wa_http_session_errors_total {}",
            g(&self.session_errors)
        );
        s.push_str("# HELP wa_http_webhook_deliveries_total Webhook deliveries by result.\n# TYPE wa_http_webhook_deliveries_total counter\n");
        let _ = writeln!(
            s,
            "wa_http_webhook_deliveries_total{{result=\"ok\"}} {}",
            g(&self.webhook_ok)
        );
        let _ = writeln!(
            s,
            "wa_http_webhook_deliveries_total{{result=\"failed\"}} {}",
            g(&self.webhook_failed)
        );
        let _ = writeln!(
            s,
            "wa_http_webhook_deliveries_total{{result=\"dropped\"}} {}",
            g(&self.webhook_dropped)
        );
        s.push_str("# HELP wa_http_api_errors_total API error responses by HTTP status.\n# TYPE wa_http_api_errors_total counter\n");
        if let Ok(m) = self.api_errors.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(s, "wa_http_api_errors_total{{status=\"{code}\"}} {n}");
            }
        }
        s
    }
}
