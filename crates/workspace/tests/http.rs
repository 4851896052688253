//! The HTTP contract over real sockets on 127.0.0.1: auth, status codes, body limit,
//! back-pressure, metrics, the query route's request/response plumbing, and TLS.

use std::sync::Arc;
use std::time::Duration;

use keelwatch_workspace::datafusion::common::TableReference;
use keelwatch_workspace::http::{self, QueryFailure, QueryHandler, ServerConfig};
use keelwatch_workspace::{Workspace, WorkspaceOptions};
use serde_json::{Value, json};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Running {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A handler that treats the query text as a table name and returns its row count in the
/// Log Analytics response shape: enough to check the route's plumbing (timespan applied,
/// errors mapped) without the KQL engine.
fn count_handler() -> QueryHandler {
    Arc::new(|req, ctx| {
        Box::pin(async move {
            let table = req.query.trim().to_string();
            let df = ctx.table(TableReference::bare(table.as_str())).await.map_err(|e| QueryFailure {
                status: 400,
                body: http::la_error("BadArgumentError", &e.to_string(), Value::Null),
            })?;
            let n = df.count().await.map_err(|e| QueryFailure {
                status: 500,
                body: http::la_error("InternalServerError", &e.to_string(), Value::Null),
            })?;
            Ok(
                json!({"tables": [{"name": "PrimaryResult", "columns": [{"name": "count_", "type": "long"}], "rows": [[n]]}]}),
            )
        })
    })
}

async fn start(
    opts: WorkspaceOptions,
    query: Option<QueryHandler>,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open_with(dir.path().join("ws"), opts).unwrap();
    let is_tls = tls.is_some();
    let scheme = if is_tls { "https" } else { "http" };
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.to_string(),
        tls,
        query,
        maintain_every: Duration::from_millis(100),
    };
    let server = http::Server::bind(ws, cfg).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        server
            .run(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    let host = if is_tls { format!("localhost:{}", addr.port()) } else { addr.to_string() };
    Running { base: format!("{scheme}://{host}"), stop, done, _dir: dir }
}

fn perf(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"TimeGenerated": "2026-11-27T08:00:00Z", "Computer": "n", "CounterName": "c", "CounterValue": i}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_contract() {
    let s = start(WorkspaceOptions { default_retention_days: None, ..Default::default() }, None, None).await;
    let c = reqwest::Client::new();
    let url = format!("{}/api/ingest/Perf", s.base);

    let r = c.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = c.post(&url).json(&perf(1)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = c.post(&url).bearer_auth("wrong-token-wrong-token-wrong-tok").json(&perf(1)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let r = c.post(format!("{}/api/ingest/perf", s.base)).bearer_auth(TOKEN).json(&perf(1)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("did you mean 'Perf'"), "{body}");

    let mut bad = perf(2);
    bad[1]["CounterValue"] = json!("x");
    let r = c.post(&url).bearer_auth(TOKEN).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "Perf: row 2: column 'CounterValue': expected real, got a string \"x\"");

    let r = c.post(&url).bearer_auth(TOKEN).json(&perf(3)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 3}));
    let nd: String = perf(2).iter().map(|v| format!("{v}\n")).collect();
    let r =
        c.post(&url).bearer_auth(TOKEN).header("content-type", "application/x-ndjson").body(nd).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"accepted": 2}));

    let big = vec![b' '; http::MAX_BODY_BYTES + 1];
    let r = c.post(&url).bearer_auth(TOKEN).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);

    let m = c.get(format!("{}/metrics", s.base)).send().await.unwrap();
    assert!(m.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = m.text().await.unwrap();
    assert!(text.contains("keelwatch_workspace_rows_ingested_total{table=\"Perf\"} 5\n"), "{text}");
    assert!(text.contains("keelwatch_http_unauthorized_total 2\n"), "{text}");

    let r = c
        .post(format!("{}/v1/workspaces/any/query", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"query": "Perf"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501, "no query engine wired in this test");

    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_full_answers_429_with_retry_after() {
    let opts = WorkspaceOptions {
        max_buffer_bytes: 32 * 1024,
        flush_age: Duration::from_secs(3600),
        flush_rows: usize::MAX,
        flush_bytes: usize::MAX,
        ..Default::default()
    };
    let s = start(opts, None, None).await;
    let c = reqwest::Client::new();
    let url = format!("{}/api/ingest/Perf", s.base);
    assert_eq!(c.post(&url).bearer_auth(TOKEN).json(&perf(400)).send().await.unwrap().status(), 200);
    let r = c.post(&url).bearer_auth(TOKEN).json(&perf(400)).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_route_shapes_and_errors() {
    let s = start(WorkspaceOptions { default_retention_days: None, ..Default::default() }, Some(count_handler()), None)
        .await;
    let c = reqwest::Client::new();
    let q = format!("{}/v1/workspaces/00000000-0000-0000-0000-000000000000/query", s.base);
    let r = c.post(format!("{}/api/ingest/Perf", s.base)).bearer_auth(TOKEN).json(&perf(4)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = c.post(&q).bearer_auth(TOKEN).json(&json!({"query": "Perf"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["tables"][0]["rows"], json!([[4]]));
    // The timespan is applied to the tables before the handler runs: rows are from 2026-11-27T08:00.
    let r = c
        .post(&q)
        .bearer_auth(TOKEN)
        .json(&json!({"query": "Perf", "timespan": "2026-11-27T09:00:00Z/PT1H"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["tables"][0]["rows"], json!([[0]]));
    let r = c
        .get(&q)
        .bearer_auth(TOKEN)
        .query(&[("query", "Perf"), ("timespan", "2026-11-27T07:00:00Z/2026-11-27T09:00:00Z")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["tables"][0]["rows"], json!([[4]]));

    let r = c.post(&q).bearer_auth(TOKEN).json(&json!({"timespan": "PT1H"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "BadArgumentError");
    let r = c.post(&q).bearer_auth(TOKEN).json(&json!({"query": "Perf", "timespan": "1 hour"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["innererror"]["code"], "InvalidTimespan");
    let r = c.post(&q).bearer_auth(TOKEN).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c.post(&q).json(&json!({"query": "Perf"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let s = start(WorkspaceOptions::default(), None, Some((cert.clone(), key.clone()))).await;
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = c.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(format!("{}/api/ingest/Perf", s.base)).bearer_auth(TOKEN).json(&perf(1)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop.send(()).unwrap();
    s.done.await.unwrap();

    // Bad key file: a clear error naming the file.
    let ws = Workspace::open(dir.path().join("ws2")).unwrap();
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        tls: Some((cert.clone(), cert.clone())),
        query: None,
        maintain_every: Duration::from_millis(100),
    };
    let e = http::Server::bind(ws, cfg).await.err().unwrap();
    assert!(e.to_string().contains("no PEM private key found"), "{e}");

    // Tokens: generated once (0600), then reused; or read from a file.
    let wsdir = dir.path().join("ws3");
    let (t1, o1) = http::load_or_create_token(&wsdir, None).unwrap();
    assert!(matches!(o1, http::TokenOrigin::Generated(_)));
    assert_eq!(t1.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(wsdir.join("token")).unwrap().permissions().mode() & 0o777, 0o600);
    let (t2, o2) = http::load_or_create_token(&wsdir, None).unwrap();
    assert_eq!((t1.clone(), o2), (t2, http::TokenOrigin::File(wsdir.join("token"))));
    let tf = dir.path().join("tok");
    std::fs::write(&tf, "short\n").unwrap();
    assert!(http::load_or_create_token(&wsdir, Some(&tf)).is_err());
    std::fs::write(&tf, format!("{TOKEN}\n")).unwrap();
    assert_eq!(http::load_or_create_token(&wsdir, Some(&tf)).unwrap().0, TOKEN);
}
