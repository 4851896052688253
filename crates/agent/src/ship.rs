//! Delivery of buffered batches to the workspace ingestion API:
//! `POST {base}/api/ingest/{Table}` with `Authorization: Bearer <token>` and an NDJSON body.
//!
//! 2xx → the segment is deleted (rows are durable on the server). 429 → wait `Retry-After`
//! seconds. 5xx, 401/403 and transport errors → exponential backoff with jitter (the token
//! file is re-read on every attempt, so a rotated token is picked up). 400/404/413 are
//! permanent: the batch is dropped and counted (`rejected_<status>`) so one bad batch cannot
//! block the queue. Each request carries `X-Keelwatch-Batch: <agent-id>-<seq>` so a server
//! can drop a batch redelivered after a crash between its 200 and the segment deletion.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{AgentError, Result};
use crate::selfmetrics::{Outcome, Stats};
use crate::spool::{Segment, Spool};
use crate::util::Jitter;

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// Base URL (`https://host:port`); `/api/ingest/<Table>` is appended.
    pub base_url: String,
    /// File holding the bearer token (re-read on every attempt).
    pub token_file: Option<PathBuf>,
    /// PEM file with extra CA certificates to trust (for a private workspace CA).
    pub ca_file: Option<PathBuf>,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Agent id used in the batch id header.
    pub agent_id: String,
}

/// Outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted.
    Delivered,
    /// Try again after at least this long (429 Retry-After), or after the backoff.
    Retry(Option<Duration>, String),
    /// Permanently rejected with this HTTP status.
    Rejected(u16, String),
}

/// A blocking HTTP client for the ingestion API.
pub struct Shipper {
    agent: ureq::Agent,
    target: HttpTarget,
}

fn normalize_base(url: &str) -> String {
    let u = url.trim_end_matches('/');
    u.strip_suffix("/api/ingest").unwrap_or(u).to_string()
}

impl Shipper {
    /// Builds the client (loads the CA file if given).
    pub fn new(mut target: HttpTarget) -> Result<Shipper> {
        target.base_url = normalize_base(&target.base_url);
        if !(target.base_url.starts_with("http://") || target.base_url.starts_with("https://")) {
            return Err(AgentError::Config(format!(
                "output URL `{}` must start with http:// or https://",
                target.base_url
            )));
        }
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(target.timeout))
            .max_idle_connections(2)
            .user_agent(concat!("keelwatch-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &target.ca_file {
            let pem = std::fs::read(ca).map_err(|e| AgentError::io("read CA file", ca, e))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                    certs.push(c);
                }
            }
            if certs.is_empty() {
                return Err(AgentError::Config(format!("--ca-file {}: no PEM certificate found", ca.display())));
            }
            cfg = cfg.tls_config(
                ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build(),
            );
        }
        Ok(Shipper { agent: cfg.build().into(), target })
    }

    fn token(&self) -> Result<Option<String>> {
        match &self.target.token_file {
            None => Ok(None),
            Some(p) => std::fs::read_to_string(p)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| AgentError::io("read token file", p, e)),
        }
    }

    /// Posts one NDJSON body to a table.
    pub fn send(&self, table: &str, batch_id: &str, body: &[u8]) -> Attempt {
        let url = format!("{}/api/ingest/{}", self.target.base_url, table);
        let token = match self.token() {
            Ok(t) => t,
            Err(e) => return Attempt::Retry(None, e.to_string()),
        };
        let mut req =
            self.agent.post(&url).header("Content-Type", "application/x-ndjson").header("X-Keelwatch-Batch", batch_id);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(None, format!("POST {url}: {e}")),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut text = String::new();
        let _ = resp.into_body().into_reader().take(4096).read_to_string(&mut text);
        match status {
            200..=299 => Attempt::Delivered,
            429 => Attempt::Retry(retry_after.or(Some(Duration::from_secs(1))), format!("429 from {url}: {text}")),
            400 | 404 | 413 => Attempt::Rejected(status, format!("{status} from {url}: {text}")),
            _ => Attempt::Retry(retry_after, format!("{status} from {url}: {text}")),
        }
    }
}

fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep((deadline - Instant::now()).min(Duration::from_millis(50)));
    }
}

/// Runs the delivery loop on a thread until `stop` is set.
pub fn spawn_sender(
    spool: Arc<Spool>,
    shipper: Shipper,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("agent-sender".into())
        .spawn(move || sender_loop(&spool, &shipper, &stats, &stop))
        .expect("spawning a thread only fails when the OS is out of resources")
}

fn sender_loop(spool: &Spool, shipper: &Shipper, stats: &Stats, stop: &AtomicBool) {
    let mut jitter = Jitter::new();
    let mut failures: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some(seg) = spool.next(Duration::from_millis(500), stop) else {
            continue;
        };
        let wait = deliver(spool, shipper, &seg);
        match wait {
            None => failures = 0,
            Some(retry_after) => {
                stats.add("ship_retries", 1);
                failures = failures.saturating_add(1);
                let backoff =
                    Duration::from_millis(250).saturating_mul(1u32 << failures.min(16)).min(shipper.target.max_backoff);
                let jittered = backoff.mul_f64(0.5 + 0.5 * jitter.next_f64());
                let d = match retry_after {
                    Some(ra) => ra.min(Duration::from_secs(300)),
                    None => jittered,
                };
                sleep_until(Instant::now() + d, stop);
            }
        }
    }
}

/// Delivers one segment; `None` on success or permanent rejection, `Some(wait)` to retry.
fn deliver(spool: &Spool, shipper: &Shipper, seg: &Segment) -> Option<Option<Duration>> {
    let body = match spool.body(seg) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "dropping unreadable buffer segment");
            spool.complete(seg.seq, Outcome::Dropped("unreadable"));
            return None;
        }
    };
    let batch_id = format!("{}-{}", shipper.target.agent_id, seg.seq);
    match shipper.send(&seg.table, &batch_id, &body) {
        Attempt::Delivered => {
            spool.complete(seg.seq, Outcome::Sent);
            None
        }
        Attempt::Rejected(status, msg) => {
            tracing::error!(table = %seg.table, rows = seg.rows, "batch rejected, dropping it: {msg}");
            spool.complete(seg.seq, Outcome::Dropped(&format!("rejected_{status}")));
            None
        }
        Attempt::Retry(after, msg) => {
            tracing::warn!(table = %seg.table, "delivery failed, will retry: {msg}");
            spool.release(seg.seq);
            Some(after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        assert_eq!(normalize_base("http://h:1/"), "http://h:1");
        assert_eq!(normalize_base("http://h:1/api/ingest/"), "http://h:1");
        let t = HttpTarget {
            base_url: "ftp://x".into(),
            token_file: None,
            ca_file: None,
            max_backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            agent_id: "a".into(),
        };
        assert!(Shipper::new(t).is_err());
    }
}
