//! The HTTPS server: routes, limits, TLS accept loop, per-decision logging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keelwatch_policy::Action;
use tokio::net::TcpListener;

use crate::AdmissionError;
use crate::evaluator::{Evaluator, FailurePolicy};
use crate::metrics::{DecisionLabels, Metrics, ViolationLabels};
use crate::reload::{PolicySource, spawn_watcher};
use crate::review;

/// AdmissionReview bodies above this are refused with 413 (the API server caps objects
/// at ~3 MiB too).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Everything `serve` needs.
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: Arc<rustls::ServerConfig>,
    pub source: PolicySource,
    /// Evaluation deadline per request.
    pub deadline: Duration,
    pub failure_policy: FailurePolicy,
    /// Evaluation threads; 0 = one per core.
    pub threads: usize,
    /// Reload on file change and SIGHUP.
    pub watch: bool,
}

struct App {
    evaluator: Arc<Evaluator>,
    metrics: Arc<Metrics>,
}

/// A started server.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub evaluator: Arc<Evaluator>,
    pub metrics: Arc<Metrics>,
    task: tokio::task::JoinHandle<()>,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections and the watcher.
    pub fn stop(self) {
        self.task.abort();
        if let Some(w) = self.watcher {
            w.abort();
        }
    }

    /// Waits until the accept loop ends (it only ends on abort or a listener failure).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Loads policies, binds and starts serving; returns once the socket is listening.
pub async fn serve(config: ServerConfig) -> Result<RunningServer, AdmissionError> {
    let src = config.source.clone();
    let policies = tokio::task::spawn_blocking(move || src.load())
        .await
        .map_err(|e| AdmissionError::Tls(format!("loading task failed: {e}")))?
        .map_err(|message| AdmissionError::File { path: "policies".into(), message })?;
    let metrics = Arc::new(Metrics::new());
    metrics.constraints.set(policies.set.constraints().count() as i64);
    let evaluator = Arc::new(
        Evaluator::new(policies, config.threads, config.deadline, config.failure_policy)
            .map_err(|e| AdmissionError::Tls(format!("evaluation pool: {e}")))?,
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| AdmissionError::Listen { addr: config.listen.to_string(), source })?;
    let local_addr =
        listener.local_addr().map_err(|source| AdmissionError::Listen { addr: config.listen.to_string(), source })?;
    let app = Arc::new(App { evaluator: evaluator.clone(), metrics: metrics.clone() });
    let router = router(app);
    // The loop runs until `RunningServer` aborts it, hence the shutdown that never completes.
    let task = tokio::spawn(keelwatch_https::serve_tls(
        listener,
        config.tls.clone(),
        router,
        keelwatch_https::ServeLimits::default(),
        std::future::pending(),
    ));
    let watcher = config.watch.then(|| spawn_watcher(config.source.clone(), evaluator.clone(), metrics.clone()));
    tracing::info!(addr = %local_addr, "admission webhook listening (TLS)");
    Ok(RunningServer { local_addr, evaluator, metrics, task, watcher })
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let n = app.evaluator.policies().set.constraints().count();
    (StatusCode::OK, format!("ready: {n} constraints\n")).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.encode())
        .into_response()
}

async fn validate(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let started = Instant::now();
    let incoming = match review::decode(&body) {
        Ok(i) => i,
        Err(message) => {
            app.metrics.bad_requests.inc();
            tracing::warn!(error = %message, "malformed AdmissionReview");
            let body = serde_json::json!({"error": format!("malformed AdmissionReview: {message}")});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    let outcome = match app.evaluator.review(incoming.request.clone()).await {
        Ok(violations) => {
            for v in &violations {
                app.metrics
                    .violations
                    .get_or_create(&ViolationLabels {
                        constraint: v.constraint_name.clone(),
                        enforcement_action: v.action.as_str().to_string(),
                    })
                    .inc();
                if v.action == Action::Dryrun {
                    tracing::info!(uid = %incoming.uid, constraint = %v.constraint_name, msg = %v.msg, "dryrun violation (allowed)");
                }
            }
            review::respond(&incoming, &violations)
        }
        Err(failure) => {
            tracing::error!(uid = %incoming.uid, error = %failure, policy = ?app.evaluator.failure_policy(), "no verdict");
            review::respond_failure(&incoming, &failure, app.evaluator.failure_policy())
        }
    };
    let elapsed = started.elapsed();
    app.metrics.latency.observe(elapsed.as_secs_f64());
    app.metrics.requests.get_or_create(&DecisionLabels { decision: outcome.decision.as_str().into() }).inc();
    tracing::info!(
        target: "keelwatch_admission::decision",
        uid = %incoming.uid,
        kind = %incoming.kind(),
        namespace = %incoming.namespace(),
        name = %incoming.name(),
        operation = %incoming.operation(),
        decision = outcome.decision.as_str(),
        constraints = %outcome.constraints.join(","),
        latency_us = elapsed.as_micros() as u64,
        "admission decision"
    );
    axum::Json(outcome.response).into_response()
}
