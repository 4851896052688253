//! HTTPS receiver for the kube-apiserver audit webhook backend (feature `server`).
//!
//! `POST /audit` takes an `EventList` (or a single Event, or JSON lines) as the API server's
//! webhook backend sends them, evaluates every event synchronously under a lock, answers
//! `200 {"accepted": N, "malformed": M}`, and hands alerts to a writer task (JSON lines file
//! or stdout, optional webhook in batches). `GET /healthz` and `GET /metrics` (Prometheus
//! text) are unauthenticated.
//!
//! Limits: bodies over `body_limit` get 413; TLS handshakes time out after 10 s; requests
//! need `Authorization: Bearer <token>` when a token is configured, and a client
//! certificate signed by `client_ca` when one is configured.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::alert::{Aggregator, SecurityAlert};
use crate::decode::decode_body_views;
use crate::engine::Detector;
use crate::output::{WebhookSink, write_json_line};

/// Where TLS material comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM certificate chain and private key files.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed CA and serving certificate kept in this directory (`ca.crt`, `ca.key`,
    /// `tls.crt`, `tls.key`), created on first use for `localhost`, `127.0.0.1` and the given
    /// extra names; clients trust `ca.crt`.
    SelfSigned { dir: PathBuf, names: Vec<String> },
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: TlsSource,
    /// Required bearer token, if any.
    pub token: Option<String>,
    /// PEM CA bundle for client-certificate authentication, if any.
    pub client_ca: Option<PathBuf>,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Alerts file (JSON lines, appended); `None` writes to stdout.
    pub alerts_out: Option<PathBuf>,
    pub webhook: Option<WebhookSink>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Tls(#[from] keelwatch_https::TlsError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Default)]
struct Metrics {
    requests: AtomicU64,
    rejected: AtomicU64,
    events: AtomicU64,
    malformed: AtomicU64,
    alerts: AtomicU64,
    dropped_alerts: AtomicU64,
}

struct AppState {
    detector: Mutex<(Detector, Aggregator)>,
    tx: mpsc::Sender<SecurityAlert>,
    token: Option<String>,
    metrics: Metrics,
}

/// Loads or creates TLS material and builds the rustls server configuration (shared with the
/// other keelwatch servers through `keelwatch-https`).
pub fn tls_config(tls: &TlsSource, client_ca: Option<&Path>) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let (cert, key) = match tls {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir, names } => {
            let mut all = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            all.extend(names.iter().cloned());
            let paths = keelwatch_https::ensure_self_signed(dir, &all, SELF_SIGNED_CA_NAME)?;
            (paths.cert, paths.key)
        }
    };
    Ok(keelwatch_https::server_config(&cert, &key, client_ca)?)
}

/// Common name of the CA `--self-signed` creates; fixed so a kept CA key re-issues under it.
const SELF_SIGNED_CA_NAME: &str = "keelwatch audit receiver CA";

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    match &state.token {
        Some(token) => keelwatch_https::bearer_token_matches(headers, token),
        None => true,
    }
}

async fn audit(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if !authorized(&state, &headers) {
        state.metrics.rejected.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "missing or wrong bearer token"})))
            .into_response();
    }
    // Views borrow the body: decoding copies only what has escapes, outside the lock.
    let (events, malformed, _) = decode_body_views("POST /audit", &body);
    for m in &malformed {
        eprintln!("detect serve: malformed input: {m}");
    }
    let mut emitted = Vec::new();
    {
        let mut guard = match state.detector.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (detector, aggregator) = &mut *guard;
        for ev in &events {
            for alert in detector.process(ev) {
                emitted.extend(aggregator.push(alert));
            }
        }
    }
    state.metrics.events.fetch_add(events.len() as u64, Ordering::Relaxed);
    state.metrics.malformed.fetch_add(malformed.len() as u64, Ordering::Relaxed);
    for a in emitted {
        send(&state, a);
    }
    axum::Json(serde_json::json!({"accepted": events.len(), "malformed": malformed.len()})).into_response()
}

fn send(state: &AppState, alert: SecurityAlert) {
    if state.tx.try_send(alert).is_ok() {
        state.metrics.alerts.fetch_add(1, Ordering::Relaxed);
    } else {
        state.metrics.dropped_alerts.fetch_add(1, Ordering::Relaxed);
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    let mut s = String::new();
    for (name, help, v) in [
        ("keelwatch_detect_requests_total", "Audit webhook requests received.", &m.requests),
        ("keelwatch_detect_rejected_total", "Requests rejected for authentication.", &m.rejected),
        ("keelwatch_detect_events_total", "Events evaluated.", &m.events),
        ("keelwatch_detect_malformed_total", "Malformed values received.", &m.malformed),
        ("keelwatch_detect_alerts_total", "Alerts emitted (including aggregate updates).", &m.alerts),
        (
            "keelwatch_detect_alerts_dropped_total",
            "Alerts dropped because the output queue was full.",
            &m.dropped_alerts,
        ),
    ] {
        s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n", v.load(Ordering::Relaxed)));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], s).into_response()
}

/// Runs the server until `shutdown` resolves, then flushes open aggregates and outputs.
/// `on_ready` is called with the bound address once listening.
pub async fn serve(
    config: ServerConfig,
    detector: Detector,
    aggregator: Aggregator,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let tls = tls_config(&config.tls, config.client_ca.as_deref())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Io { path: config.listen.to_string(), source })?;
    let local = listener.local_addr().map_err(|source| ServerError::Io { path: config.listen.to_string(), source })?;
    let (tx, rx) = mpsc::channel::<SecurityAlert>(100_000);
    let state = Arc::new(AppState {
        detector: Mutex::new((detector, aggregator)),
        tx,
        token: config.token.clone(),
        metrics: Metrics::default(),
    });
    let (stop_writer, writer_stop) = tokio::sync::oneshot::channel();
    let writer = tokio::spawn(write_alerts(rx, writer_stop, config.alerts_out.clone(), config.webhook.clone()));
    let ticker_state = state.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            let expired = {
                let mut g = match ticker_state.detector.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                g.1.expire(chrono::Utc::now())
            };
            for a in expired {
                send(&ticker_state, a);
            }
        }
    });
    let router = Router::new()
        .route("/audit", post(audit))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state.clone());
    on_ready(local);
    keelwatch_https::serve_tls(listener, tls, router.clone(), keelwatch_https::ServeLimits::default(), shutdown).await;
    ticker.abort();
    let rest = {
        let mut g = match state.detector.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.1.flush()
    };
    for a in rest {
        send(&state, a);
    }
    drop(router);
    drop(state);
    // Open keep-alive connections may still hold senders: tell the writer to drain and stop.
    let _ = stop_writer.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
    Ok(())
}

async fn write_alerts(
    mut rx: mpsc::Receiver<SecurityAlert>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    out: Option<PathBuf>,
    webhook: Option<WebhookSink>,
) {
    let mut file = match &out {
        Some(p) => match std::fs::OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("detect serve: cannot open {}: {e}; writing alerts to stdout", p.display());
                None
            }
        },
        None => None,
    };
    loop {
        let mut batch = Vec::new();
        let stopping = tokio::select! {
            biased;
            first = rx.recv() => match first {
                Some(a) => {
                    batch.push(a);
                    false
                }
                None => true,
            },
            _ = &mut stop => true,
        };
        // Gather what is already queued (everything when stopping) for one write/one call.
        while stopping || batch.len() < 500 {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        deliver(&batch, file.as_mut(), webhook.as_ref()).await;
        if stopping {
            break;
        }
    }
}

async fn deliver(batch: &[SecurityAlert], file: Option<&mut std::fs::File>, webhook: Option<&WebhookSink>) {
    if batch.is_empty() {
        return;
    }
    let mut buf = Vec::new();
    for a in batch {
        let _ = write_json_line(&mut buf, a);
    }
    let written = match file {
        Some(f) => f.write_all(&buf).and_then(|_| f.flush()),
        None => {
            let mut so = std::io::stdout().lock();
            so.write_all(&buf).and_then(|_| so.flush())
        }
    };
    if let Err(e) = written {
        eprintln!("detect serve: writing alerts: {e}");
    }
    if let Some(hook) = webhook {
        let hook = hook.clone();
        let alerts = batch.to_vec();
        let result = tokio::task::spawn_blocking(move || {
            let mut last = Ok(());
            for attempt in 0..3 {
                last = hook.send(&alerts);
                if last.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200 << attempt));
            }
            last
        })
        .await;
        if let Ok(Err(e)) = result {
            eprintln!("detect serve: {e}");
        }
    }
}
