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
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::alert::{Aggregator, SecurityAlert};
use crate::decode::decode_body;
use crate::engine::Detector;
use crate::output::{WebhookSink, write_json_line};

/// Where TLS material comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM certificate chain and private key files.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate kept in this directory (`tls.crt`, `tls.key`), created on
    /// first use for `localhost`, `127.0.0.1` and the given extra names.
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
    #[error("TLS: {0}")]
    Tls(String),
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

/// Loads or creates TLS material and builds the rustls server configuration.
pub fn tls_config(tls: &TlsSource, client_ca: Option<&Path>) -> Result<rustls::ServerConfig, ServerError> {
    let (cert_path, key_path) = match tls {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir, names } => ensure_self_signed(dir, names)?,
    };
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ServerError::Io { path: p.display().to_string(), source }
    };
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(&cert_path).map_err(io(&cert_path))?))
            .collect::<Result<_, _>>()
            .map_err(io(&cert_path))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!("{}: no PEM certificate found", cert_path.display())));
    }
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut BufReader::new(std::fs::File::open(&key_path).map_err(io(&key_path))?))
            .map_err(io(&key_path))?
            .ok_or_else(|| ServerError::Tls(format!("{}: no PEM private key found", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(ca).map_err(io(ca))?)) {
                roots.add(c.map_err(io(ca))?).map_err(|e| ServerError::Tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ServerError::Tls(format!("client CA {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(format!("{} / {}: {e}", cert_path.display(), key_path.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Creates `dir/tls.crt` and `dir/tls.key` (self-signed) unless both exist; returns paths.
pub fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), ServerError> {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ServerError::Io { path: p.display().to_string(), source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    sans.extend(names.iter().cloned());
    let ck = rcgen::generate_simple_self_signed(sans).map_err(|e| ServerError::Tls(e.to_string()))?;
    std::fs::write(&cert, ck.cert.pem()).map_err(io(&cert))?;
    write_private(&key, ck.key_pair.serialize_pem().as_bytes()).map_err(io(&key))?;
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else { return true };
    let Some(given) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Constant-time comparison.
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn audit(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if !authorized(&state, &headers) {
        state.metrics.rejected.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "missing or wrong bearer token"})))
            .into_response();
    }
    let (events, malformed, _) = decode_body("POST /audit", &body);
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
    let tls = Arc::new(tls_config(&config.tls, config.client_ca.as_deref())?);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
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
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let router = router.clone();
                        async move { router.oneshot(req.map(Body::new)).await }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
                });
            }
        }
    }
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
