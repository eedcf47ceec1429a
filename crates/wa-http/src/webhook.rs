//! Webhook delivery: one task per webhook target with a bounded queue, so a slow or dead
//! receiver never blocks the session. Each event is POSTed as JSON, signed with HMAC-SHA256
//! when the webhook has a secret, and retried with exponential backoff.

use crate::metrics::{global, inc};
use crate::registry::WebhookConfig;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Wa-Signature";
/// Header carrying the event name.
pub const EVENT_HEADER: &str = "X-Wa-Event";
/// Header carrying the session name.
pub const SESSION_HEADER: &str = "X-Wa-Session";
/// Header carrying a unique delivery id (the same across retries).
pub const DELIVERY_HEADER: &str = "X-Wa-Delivery";

/// How webhook deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubles after each failure.
    pub initial_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
    /// Timeout of one POST.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Events waiting per webhook before new ones are dropped.
const QUEUE: usize = 1024;

/// One event ready to deliver.
pub(crate) struct Delivery {
    pub(crate) event: String,
    pub(crate) session: String,
    pub(crate) body: Arc<Vec<u8>>,
}

/// The sending side of one webhook's queue; dropping it ends the delivery task.
pub(crate) struct WebhookSender {
    config: WebhookConfig,
    tx: mpsc::Sender<Delivery>,
}

impl WebhookSender {
    /// Starts the delivery task of `config` on `rt`.
    pub(crate) fn spawn(
        rt: &tokio::runtime::Handle,
        http: reqwest::Client,
        config: WebhookConfig,
        policy: RetryPolicy,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        rt.spawn(deliver_loop(rx, http, config.clone(), policy));
        WebhookSender { config, tx }
    }

    /// Queues an event if this webhook wants it; never waits.
    pub(crate) fn offer(&self, event: &str, session: &str, body: &Arc<Vec<u8>>) {
        if !self.config.wants(event) {
            return;
        }
        let d = Delivery {
            event: event.to_string(),
            session: session.to_string(),
            body: body.clone(),
        };
        if self.tx.try_send(d).is_err() {
            inc(&global().webhook_dropped);
            tracing::warn!(url = %self.config.url, session, "webhook queue full, event dropped");
        }
    }
}

/// `sha256=<hex>` signature of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver_loop(
    mut rx: mpsc::Receiver<Delivery>,
    http: reqwest::Client,
    config: WebhookConfig,
    policy: RetryPolicy,
) {
    while let Some(d) = rx.recv().await {
        let delivery_id = hex::encode(rand::random::<[u8; 12]>());
        let signature = config.secret.as_deref().map(|s| sign(s, &d.body));
        let mut backoff = policy.initial_backoff;
        let attempts = policy.attempts.max(1);
        for attempt in 1..=attempts {
            let mut req = http
                .post(&config.url)
                .timeout(policy.timeout)
                .header("Content-Type", "application/json")
                .header(EVENT_HEADER, &d.event)
                .header(SESSION_HEADER, &d.session)
                .header(DELIVERY_HEADER, &delivery_id)
                .body(d.body.as_ref().clone());
            if let Some(sig) = &signature {
                req = req.header(SIGNATURE_HEADER, sig);
            }
            let outcome = match req.send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("HTTP {}", resp.status())),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => {
                    inc(&global().webhook_ok);
                    break;
                }
                Err(e) if attempt < attempts => {
                    tracing::debug!(url = %config.url, attempt, error = %e, "webhook delivery failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(policy.max_backoff);
                }
                Err(e) => {
                    inc(&global().webhook_failed);
                    tracing::warn!(url = %config.url, attempts, error = %e, "webhook delivery gave up");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
