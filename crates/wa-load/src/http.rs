//! Mode (c): text sends through wa-http's REST API (design.md §3.2), a second process, with a
//! bounded request count; requests/s and latency of `POST /api/sessions/{name}/messages/text`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::emu::{ensure_loopback, http_client};
use crate::stats::Samples;

/// Options of mode (c).
pub(crate) struct HttpOpts {
    pub(crate) url: String,
    pub(crate) session: String,
    pub(crate) requests: usize,
    pub(crate) concurrency: usize,
    pub(crate) to: String,
    pub(crate) api_key: Option<String>,
    pub(crate) ready_timeout: Duration,
}

struct Api {
    base: String,
    http: reqwest::Client,
    key: Option<String>,
}

impl Api {
    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.base));
        match &self.key {
            Some(k) => r.header("X-Api-Key", k),
            None => r,
        }
    }

    async fn json(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut r = self.req(m, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.with_context(|| format!("request {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, v))
    }

    async fn status(&self, session: &str) -> Result<Option<String>> {
        let (code, v) = self
            .json(
                reqwest::Method::GET,
                &format!("/api/sessions/{session}"),
                None,
            )
            .await?;
        match code {
            404 => Ok(None),
            200 => Ok(v["status"].as_str().map(str::to_string)),
            _ => bail!("GET session: {code} {v}"),
        }
    }
}

/// Make sure the session exists and is WORKING: create and start it if needed, and when it
/// shows a QR code let the demo phone of `wa-http --demo` scan it.
async fn ensure_working(api: &Api, o: &HttpOpts) -> Result<()> {
    let deadline = Instant::now() + o.ready_timeout;
    if api.status(&o.session).await?.is_none() {
        let (code, v) = api
            .json(
                reqwest::Method::POST,
                "/api/sessions",
                Some(json!({"name": o.session, "start": true})),
            )
            .await?;
        if code != 201 && code != 409 {
            bail!("create session: {code} {v}");
        }
    }
    let mut scanned = false;
    loop {
        let st = api.status(&o.session).await?.unwrap_or_default();
        match st.as_str() {
            "WORKING" => return Ok(()),
            "STOPPED" | "FAILED" => {
                let (code, v) = api
                    .json(
                        reqwest::Method::POST,
                        &format!("/api/sessions/{}/start", o.session),
                        None,
                    )
                    .await?;
                if code >= 300 {
                    bail!("start session: {code} {v}");
                }
            }
            "SCAN_QR_CODE" if !scanned => {
                let (code, v) = api
                    .json(
                        reqwest::Method::POST,
                        &format!("/api/demo/sessions/{}/scan", o.session),
                        None,
                    )
                    .await?;
                if code >= 300 {
                    bail!(
                        "session shows a QR code and the demo scan failed ({code} {v}); run wa-http --demo or link it first"
                    );
                }
                scanned = true;
            }
            _ => {}
        }
        if Instant::now() > deadline {
            bail!(
                "session {} is {st}, not WORKING, after {:?}",
                o.session,
                o.ready_timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send_one(api: &Api, session: &str, to: &str, text: String) -> Result<Duration> {
    let t0 = Instant::now();
    let (code, v) = api
        .json(
            reqwest::Method::POST,
            &format!("/api/sessions/{session}/messages/text"),
            Some(json!({"to": to, "text": text})),
        )
        .await?;
    let took = t0.elapsed();
    if !(200..300).contains(&code) || v["id"].as_str().is_none() {
        bail!("send: {code} {v}");
    }
    Ok(took)
}

/// Run mode (c) and print the figures.
pub(crate) async fn run(o: HttpOpts) -> Result<()> {
    ensure_loopback(&o.url)?;
    let api = Arc::new(Api {
        base: o.url.trim_end_matches('/').to_string(),
        http: http_client()?,
        key: o.api_key.clone(),
    });
    ensure_working(&api, &o).await?;
    // Warm-up: the first send sets up the Signal sessions with the recipient's devices.
    let first = send_one(&api, &o.session, &o.to, "wa-load warm-up".into()).await?;
    println!(
        "session {} WORKING; first send (session setup): {:.2}ms",
        o.session,
        first.as_secs_f64() * 1e3
    );

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..o.concurrency.max(1) {
        let (api, next) = (api.clone(), next.clone());
        let (session, to, total) = (o.session.clone(), o.to.clone(), o.requests);
        set.spawn(async move {
            let mut lat = Samples::default();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                lat.push(send_one(&api, &session, &to, format!("wa-load http #{i}")).await?);
            }
            anyhow::Ok(lat)
        });
    }
    let mut all = Samples::default();
    while let Some(r) = set.join_next().await {
        all.extend(r.map_err(|e| anyhow!(e))??);
    }
    let wall = t0.elapsed();
    println!(
        "REST: {} requests ({} concurrent) in {:.2}s = {:.0} req/s; latency: {}",
        all.len(),
        o.concurrency,
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        all.summary()
    );
    println!("ok: {} requests", all.len());
    Ok(())
}
