//! The workspace HTTP server (`keelwatch workspace serve`).
//!
//! - `POST /api/ingest/{Table}`: body a JSON array of row objects or NDJSON (at most
//!   [`MAX_BODY_BYTES`]). 200 `{"accepted": N}` once the rows are durable in the WAL; 400
//!   `{"error": "..."}` naming row and column; 401 bad or missing bearer token; 404 unknown
//!   table; 413 body too large; 429 with `Retry-After` when the buffer is full; 503 on I/O
//!   errors (transient: retry).
//! - `POST /v1/workspaces/{id}/query` (and `GET` with `query` / `timespan` parameters): the
//!   Log Analytics query API. The query itself is run by a [`QueryHandler`] supplied by the
//!   caller (the binary wires the KQL engine in); without one the route answers 501.
//! - `GET /healthz` (no auth) and `GET /metrics` (Prometheus text format, no auth).
//!
//! Every request must complete within [`REQUEST_TIMEOUT`] (else 408); TLS handshakes within
//! 10 s.
//!
//! A background thread calls [`Workspace::maintain`] (due flushes, compaction, retention)
//! every [`ServerConfig::maintain_every`]; on shutdown the buffers are flushed.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use serde_json::{Value, json};

use crate::error::Error;
use crate::store::Workspace;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// Longest time a request (reading the body, ingesting or querying) may take before the
/// server answers 408. Queries also have their own time limit (60 s) inside this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A Log Analytics query request after parsing.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// The KQL text.
    pub query: String,
    /// The request's timespan, already applied to the session's tables.
    pub timespan: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// What a query handler returns on failure: HTTP status and the Log Analytics error body
/// (`{"error": {"code", "message", "innererror"}}`).
#[derive(Debug, Clone)]
pub struct QueryFailure {
    /// HTTP status (400 for bad queries, 504 for time limits, 500 otherwise).
    pub status: u16,
    /// Response body.
    pub body: Value,
}

/// Runs a query against a session with every table registered; returns the Log Analytics
/// response body (`{"tables": [...]}`).
pub type QueryHandler = Arc<
    dyn Fn(QueryRequest, SessionContext) -> Pin<Box<dyn Future<Output = Result<Value, QueryFailure>> + Send>>
        + Send
        + Sync,
>;

/// Builds a Log Analytics error body.
pub fn la_error(code: &str, message: &str, inner: Value) -> Value {
    json!({"error": {"code": code, "message": message, "innererror": inner}})
}

/// Server settings.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token clients must send.
    pub token: String,
    /// PEM certificate chain and private key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The query engine, if any.
    pub query: Option<QueryHandler>,
    /// How often background maintenance runs.
    pub maintain_every: Duration,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Could not bind the listening socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Certificate or key unusable.
    #[error(transparent)]
    Tls(#[from] keelwatch_https::TlsError),
    /// Token file problem.
    #[error("token file {path}: {message}")]
    Token {
        /// File.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Other I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where the bearer token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// Read from the given file.
    File(PathBuf),
    /// Generated now and saved to the given file.
    Generated(PathBuf),
}

/// Loads the bearer token: from `token_file` if given, else from `<workspace>/token`,
/// generating that file (mode 0600, 32 random bytes as hex) on first start.
pub fn load_or_create_token(workspace: &Path, token_file: Option<&Path>) -> Result<(String, TokenOrigin), ServeError> {
    let read = |p: &Path| -> Result<String, ServeError> {
        let t = std::fs::read_to_string(p)
            .map_err(|e| ServeError::Token { path: p.to_path_buf(), message: e.to_string() })?;
        let t = t.trim().to_string();
        if t.len() < 16 {
            return Err(ServeError::Token {
                path: p.to_path_buf(),
                message: "token must be at least 16 characters".to_string(),
            });
        }
        Ok(t)
    };
    if let Some(p) = token_file {
        return Ok((read(p)?, TokenOrigin::File(p.to_path_buf())));
    }
    let p = workspace.join("token");
    if p.exists() {
        return Ok((read(&p)?, TokenOrigin::File(p)));
    }
    let mut bytes = [0u8; 32];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| ServeError::Token { path: "/dev/urandom".into(), message: e.to_string() })?;
    }
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(workspace)?;
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| ServeError::Token { path: p.clone(), message: e.to_string() })?;
        f.write_all(token.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    Ok((token, TokenOrigin::Generated(p)))
}

#[derive(Default)]
struct HttpCounters {
    requests: AtomicU64,
    unauthorized: AtomicU64,
    bad_requests: AtomicU64,
    throttled: AtomicU64,
    queries: AtomicU64,
    query_errors: AtomicU64,
}

struct AppState {
    ws: Workspace,
    token: String,
    query: Option<QueryHandler>,
    http: HttpCounters,
}

type Shared = Arc<AppState>;

fn authorized(st: &AppState, headers: &HeaderMap) -> bool {
    keelwatch_https::bearer_token_matches(headers, &st.token)
}

/// Counts the request and checks its bearer token; the 401 response when it is missing or wrong.
fn admit(st: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    st.http.requests.fetch_add(1, Ordering::Relaxed);
    if authorized(st, headers) {
        return Ok(());
    }
    st.http.unauthorized.fetch_add(1, Ordering::Relaxed);
    let mut r = json_error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token (Authorization: Bearer <token>)");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Err(Box::new(r))
}

/// `{"error": message}` with a status.
fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// Builds the router (exposed for tests that drive it without a socket).
fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/ingest/{table}", post(ingest))
        .route("/v1/workspaces/{id}/query", post(query_post).get(query_get))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .with_state(state)
}

async fn ingest(
    State(st): State<Shared>,
    UrlPath(table): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(denied) = admit(&st, &headers) {
        return *denied;
    }
    if let Err(e) = st.ws.table_schema(&table) {
        return json_error(StatusCode::NOT_FOUND, &e.to_string());
    }
    let ws = st.ws.clone();
    let res = tokio::task::spawn_blocking(move || ws.append_body(&table, &body)).await;
    match res {
        Ok(Ok(r)) => (StatusCode::OK, axum::Json(json!({"accepted": r.rows}))).into_response(),
        Ok(Err(e)) => error_response(&st, e),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error_response(st: &AppState, e: Error) -> Response {
    let msg = e.to_string();
    match e {
        Error::Row { .. } | Error::Json { .. } => {
            st.http.bad_requests.fetch_add(1, Ordering::Relaxed);
            json_error(StatusCode::BAD_REQUEST, &msg)
        }
        Error::UnknownTable { .. } => json_error(StatusCode::NOT_FOUND, &msg),
        Error::BufferFull { retry_after_secs, .. } => {
            st.http.throttled.fetch_add(1, Ordering::Relaxed);
            let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, &msg);
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        _ => {
            tracing::error!(error = %msg, "ingest failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, &msg)
        }
    }
}

/// Parses a Log Analytics timespan: an ISO 8601 duration ending now (`PT1H`, `P1D`,
/// `P1DT12H`, `PT30M`, `PT10S`), `start/end` (RFC 3339) or `start/duration`.
pub fn parse_timespan(s: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let s = s.trim();
    let rfc = |x: &str| DateTime::parse_from_rfc3339(x).ok().map(|d| d.to_utc());
    if let Some((a, b)) = s.split_once('/') {
        let start = rfc(a)?;
        let end = match rfc(b) {
            Some(e) => e,
            None => start + iso_duration(b)?,
        };
        return (start <= end).then_some((start, end));
    }
    Some((now - iso_duration(s)?, now))
}

fn iso_duration(s: &str) -> Option<chrono::Duration> {
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    let (date, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0f64;
    let mut any = false;
    let mut eat = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() || ch == '.' {
                num.push(ch);
            } else {
                let mult = units.iter().find(|(u, _)| u.eq_ignore_ascii_case(&ch))?.1;
                total += num.parse::<f64>().ok()? * mult;
                num.clear();
                any = true;
            }
        }
        num.is_empty().then_some(())
    };
    eat(date, &[('Y', 365.0 * 86400.0), ('M', 30.0 * 86400.0), ('W', 7.0 * 86400.0), ('D', 86400.0)])?;
    eat(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    if !any || !total.is_finite() {
        return None;
    }
    chrono::Duration::try_milliseconds((total * 1000.0).round() as i64)
}

#[derive(serde::Deserialize)]
struct QueryBody {
    query: Option<String>,
    timespan: Option<String>,
}

async fn query_post(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(denied) = admit(&st, &headers) {
        return *denied;
    }
    let parsed: QueryBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return query_error(
                &st,
                400,
                la_error(
                    "BadArgumentError",
                    "The request body is not valid JSON.",
                    json!({"code": "InvalidJson", "message": e.to_string()}),
                ),
            );
        }
    };
    run_query(st, parsed).await
}

async fn query_get(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(denied) = admit(&st, &headers) {
        return *denied;
    }
    run_query(st, QueryBody { query: q.get("query").cloned(), timespan: q.get("timespan").cloned() }).await
}

fn query_error(st: &AppState, status: u16, body: Value) -> Response {
    st.http.query_errors.fetch_add(1, Ordering::Relaxed);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

async fn run_query(st: Shared, body: QueryBody) -> Response {
    st.http.queries.fetch_add(1, Ordering::Relaxed);
    let Some(handler) = st.query.clone() else {
        return query_error(
            &st,
            501,
            la_error("NotImplemented", "this server was started without a query engine", Value::Null),
        );
    };
    let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
        return query_error(
            &st,
            400,
            la_error(
                "BadArgumentError",
                "The request had some invalid properties",
                json!({"code": "MissingQuery", "message": "'query' is required"}),
            ),
        );
    };
    let timespan = match body.timespan.as_deref() {
        None | Some("") => None,
        Some(t) => match parse_timespan(t, Utc::now()) {
            Some(ts) => Some(ts),
            None => {
                return query_error(
                    &st,
                    400,
                    la_error(
                        "BadArgumentError",
                        "The request had some invalid properties",
                        json!({"code": "InvalidTimespan", "message": format!("timespan '{t}' is not an ISO 8601 duration (PT1H) or start/end interval")}),
                    ),
                );
            }
        },
    };
    let ws = st.ws.clone();
    let ctx = match tokio::task::spawn_blocking(move || ws.session_context(timespan)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return query_error(&st, 500, la_error("InternalServerError", &e.to_string(), Value::Null)),
        Err(e) => return query_error(&st, 500, la_error("InternalServerError", &e.to_string(), Value::Null)),
    };
    match handler(QueryRequest { query, timespan }, ctx).await {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(f) => query_error(&st, f.status, f.body),
    }
}

async fn metrics(State(st): State<Shared>) -> Response {
    let ws = st.ws.clone();
    let stats = tokio::task::spawn_blocking(move || ws.stats()).await.unwrap_or_default();
    let c = st.ws.counters();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, kind: &str, samples: Vec<(String, u64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    let per_table = |f: &dyn Fn(&crate::TableStats) -> u64| -> Vec<(String, u64)> {
        stats.iter().map(|s| (format!("{{table=\"{}\"}}", s.table), f(s))).collect()
    };
    counter(
        "keelwatch_workspace_rows_ingested_total",
        "Rows appended since start.",
        "counter",
        per_table(&|s| s.ingested_rows),
    );
    counter(
        "keelwatch_workspace_buffered_rows",
        "Rows in memory not yet in Parquet.",
        "gauge",
        per_table(&|s| s.buffered_rows),
    );
    counter("keelwatch_workspace_file_rows", "Rows in committed Parquet files.", "gauge", per_table(&|s| s.file_rows));
    counter("keelwatch_workspace_files", "Committed Parquet files.", "gauge", per_table(&|s| s.files as u64));
    counter(
        "keelwatch_workspace_file_bytes",
        "Bytes of committed Parquet files.",
        "gauge",
        per_table(&|s| s.file_bytes),
    );
    let one = |v: u64| vec![(String::new(), v)];
    counter(
        "keelwatch_workspace_buffered_bytes",
        "Arrow bytes held in memory.",
        "gauge",
        one(st.ws.buffered_bytes() as u64),
    );
    counter(
        "keelwatch_workspace_appends_total",
        "Accepted append requests.",
        "counter",
        one(c.appends.load(Ordering::Relaxed)),
    );
    counter("keelwatch_workspace_flushes_total", "Buffer flushes.", "counter", one(c.flushes.load(Ordering::Relaxed)));
    counter(
        "keelwatch_workspace_files_compacted_total",
        "Files merged away by compaction.",
        "counter",
        one(c.files_compacted.load(Ordering::Relaxed)),
    );
    counter(
        "keelwatch_workspace_files_expired_total",
        "Files dropped by retention.",
        "counter",
        one(c.files_expired.load(Ordering::Relaxed)),
    );
    counter(
        "keelwatch_workspace_wal_records_replayed",
        "WAL records replayed at start-up.",
        "gauge",
        one(c.wal_records_replayed.load(Ordering::Relaxed)),
    );
    let h = &st.http;
    counter(
        "keelwatch_http_requests_total",
        "API requests (ingest and query).",
        "counter",
        one(h.requests.load(Ordering::Relaxed)),
    );
    counter(
        "keelwatch_http_unauthorized_total",
        "Requests refused for a bad token.",
        "counter",
        one(h.unauthorized.load(Ordering::Relaxed)),
    );
    counter(
        "keelwatch_http_ingest_rejected_total",
        "Ingest requests refused by the schema check.",
        "counter",
        one(h.bad_requests.load(Ordering::Relaxed)),
    );
    counter(
        "keelwatch_http_throttled_total",
        "Ingest requests answered 429.",
        "counter",
        one(h.throttled.load(Ordering::Relaxed)),
    );
    counter("keelwatch_http_queries_total", "Query requests.", "counter", one(h.queries.load(Ordering::Relaxed)));
    counter(
        "keelwatch_http_query_errors_total",
        "Query requests that failed.",
        "counter",
        one(h.query_errors.load(Ordering::Relaxed)),
    );
    let mut r = out.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

/// A bound server, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Shared,
    maintain_every: Duration,
}

impl Server {
    /// Binds the socket and loads TLS material. Must be called inside a tokio runtime.
    pub async fn bind(ws: Workspace, cfg: ServerConfig) -> Result<Server, ServeError> {
        let tls = match &cfg.tls {
            Some((c, k)) => Some(keelwatch_https::server_config(c, k, None)?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ServeError::Bind { addr: cfg.listen, source })?;
        Ok(Server {
            listener,
            tls,
            state: Arc::new(AppState { ws, token: cfg.token, query: cfg.query, http: HttpCounters::default() }),
            maintain_every: cfg.maintain_every,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then flushes the workspace.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let maint = {
            let ws = self.state.ws.clone();
            let stop = stop.clone();
            let every = self.maintain_every;
            std::thread::Builder::new().name("workspace-maintain".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = ws.maintain() {
                        tracing::error!(error = %e, "workspace maintenance failed");
                    }
                    std::thread::sleep(every);
                }
            })?
        };
        let app = router(self.state.clone());
        match self.tls {
            None => {
                axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await?;
            }
            Some(tls) => {
                keelwatch_https::serve_tls(self.listener, tls, app, keelwatch_https::ServeLimits::default(), shutdown)
                    .await;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let _ = maint.join();
        let ws = self.state.ws.clone();
        match tokio::task::spawn_blocking(move || ws.flush()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "final flush failed; rows stay in the WAL"),
            Err(e) => tracing::error!(error = %e, "final flush panicked; rows stay in the WAL"),
            Ok(Ok(_)) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc();
        let (s, e) = parse_timespan("PT1H", now).unwrap();
        assert_eq!((e - s).num_seconds(), 3600);
        assert_eq!(e, now);
        let (s, _) = parse_timespan("P1DT12H", now).unwrap();
        assert_eq!((now - s).num_hours(), 36);
        let (s, e) = parse_timespan("2026-11-27T00:00:00Z/2026-11-27T06:00:00Z", now).unwrap();
        assert_eq!((e - s).num_hours(), 6);
        let (s, e) = parse_timespan("2026-11-27T00:00:00Z/PT30M", now).unwrap();
        assert_eq!((e - s).num_minutes(), 30);
        assert!(parse_timespan("1h", now).is_none());
        assert!(parse_timespan("P", now).is_none());
        assert!(parse_timespan("2026-11-27T06:00:00Z/2026-11-27T00:00:00Z", now).is_none());
    }
}
