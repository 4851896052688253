//! The audit webhook receiver over real TLS on 127.0.0.1, and webhook delivery to a real
//! tiny HTTP server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use keelwatch_detect::output::{WebhookFormat, WebhookSink};
use keelwatch_detect::server::{ServerConfig, TlsSource, serve};
use keelwatch_detect::{Aggregator, Detector};
use serde_json::{Value, json};

/// A one-thread HTTP/1.1 server recording (path, headers, body) of every request.
fn tiny_http_server() -> (String, mpsc::Receiver<(String, String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                headers.push_str(&line);
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
            let _ = tx.send((path, headers, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (format!("http://{addr}"), rx)
}

struct Running {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    ca: reqwest::Certificate,
}

impl Running {
    fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .add_root_certificate(self.ca.clone())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

fn start(dir: &std::path::Path, webhook: Option<WebhookSink>, body_limit: usize) -> Running {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsSource::SelfSigned { dir: dir.join("tls"), names: vec![] },
        token: Some("s3cret-token".into()),
        client_ca: None,
        body_limit,
        alerts_out: Some(dir.join("alerts.jsonl")),
        webhook,
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let det = Detector::new(keelwatch_detect::rules::load_rules(true, &[]).unwrap(), "c1");
        rt.block_on(serve(
            config,
            det,
            Aggregator::new(chrono::Duration::seconds(300), true),
            move |a| {
                let _ = ready_tx.send(a);
            },
            async move {
                let _ = stop_rx.await;
            },
        ))
        .unwrap();
    });
    let addr = ready_rx.recv_timeout(Duration::from_secs(20)).expect("server ready");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("tls/ca.crt")).unwrap()).unwrap();
    Running { addr, stop: Some(stop_tx), thread: Some(thread), ca }
}

fn event_list() -> Value {
    let test = audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v();
    let exec = audit("create", "pods", Some("shop"), Some("web-1"))
        .sub("exec", "?command=sh")
        .stage("ResponseStarted")
        .code(101)
        .metadata_level()
        .v();
    let benign = audit("get", "nodes", None, Some("n1")).user("system:node:n1").metadata_level().v();
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [test, exec, benign]})
}

fn wait_for_lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn receives_event_lists_over_tls_with_token_auth_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_url, hook_rx) = tiny_http_server();
    let sink = WebhookSink::new(&hook_url, WebhookFormat::Alertmanager, Some("hook-token".into())).unwrap();
    let srv = start(dir.path(), Some(sink), 64 * 1024);
    let client = srv.client();

    assert_eq!(client.get(srv.url("/healthz")).send().unwrap().text().unwrap(), "ok");
    // No token / wrong token.
    let r = client.post(srv.url("/audit")).json(&event_list()).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(srv.url("/audit")).bearer_auth("nope").json(&event_list()).send().unwrap();
    assert_eq!(r.status(), 401);
    // Too big.
    let big = vec![b' '; 65 * 1024];
    let r = client.post(srv.url("/audit")).bearer_auth("s3cret-token").body(big).send().unwrap();
    assert_eq!(r.status(), 413);
    // A real batch, with one malformed item.
    let mut list = event_list();
    list["items"].as_array_mut().unwrap().push(json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": 7}));
    let r = client.post(srv.url("/audit")).bearer_auth("s3cret-token").json(&list).send().unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body, json!({"accepted": 3, "malformed": 1}));

    let lines = wait_for_lines(&dir.path().join("alerts.jsonl"), 2);
    let types: Vec<&str> = lines.iter().map(|l| l["AlertType"].as_str().unwrap()).collect();
    assert!(types.contains(&"K8S_TestAlert") && types.contains(&"K8S_ExecIntoContainer"), "{types:?}");

    let (path, headers, body) = hook_rx.recv_timeout(Duration::from_secs(10)).expect("webhook call");
    assert_eq!(path, "/api/v2/alerts");
    assert!(headers.to_ascii_lowercase().contains("authorization: bearer hook-token"), "{headers}");
    let arr = body.as_array().expect("alertmanager body is an array");
    assert!(arr.iter().any(|a| a["labels"]["alertname"] == "K8S_TestAlert" && a["labels"]["severity"] == "low"));
    assert!(arr.iter().all(|a| a["startsAt"].is_string() && a["annotations"]["summary"].is_string()));

    let metrics = client.get(srv.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("keelwatch_detect_events_total 3"), "{metrics}");
    assert!(metrics.contains("keelwatch_detect_rejected_total 2"), "{metrics}");
    srv.stop();
}

#[test]
fn repeats_are_aggregated_with_a_count_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), None, 1 << 20);
    let client = srv.client();
    for i in 0..5 {
        let mut e = audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v();
        e["auditID"] = json!(format!("rep-{i}"));
        let r = client.post(srv.url("/audit")).bearer_auth("s3cret-token").json(&e).send().unwrap();
        assert_eq!(r.status(), 200);
    }
    srv.stop();
    let lines = wait_for_lines(&dir.path().join("alerts.jsonl"), 2);
    assert_eq!(lines.len(), 2, "first occurrence, then the aggregate update: {lines:?}");
    assert_eq!(lines[0]["Count"], 1);
    assert_eq!(lines[1]["Count"], 5);
    assert_eq!(lines[0]["SystemAlertId"], lines[1]["SystemAlertId"]);
}

#[test]
fn generic_webhook_body() {
    let (url, rx) = tiny_http_server();
    let sink = WebhookSink::new(&format!("{url}/hooks/keelwatch"), WebhookFormat::Generic, None).unwrap();
    let alerts = alerts(&[audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v()]);
    sink.send(&alerts).unwrap();
    let (path, _, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(path, "/hooks/keelwatch");
    assert_eq!(body["alerts"][0]["AlertType"], "K8S_TestAlert");
    assert_eq!(body["alerts"][0]["ProviderName"], "keelwatch");
}

#[test]
fn workspace_ingest_body() {
    let (url, rx) = tiny_http_server();
    let sink = WebhookSink::new(&url, WebhookFormat::WorkspaceIngest, Some("ws-token".into())).unwrap();
    let alerts = alerts(&[audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v()]);
    sink.send(&alerts).unwrap();
    let (path, headers, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(path, "/api/ingest/SecurityAlert");
    assert!(headers.to_ascii_lowercase().contains("authorization: bearer ws-token"));
    let row = &body.as_array().expect("array of rows")[0];
    for col in ["TimeGenerated", "AlertType", "Entities", "StartTime", "EndTime", "Count", "SystemAlertId"] {
        assert!(row.get(col).is_some(), "{col}");
    }
}
