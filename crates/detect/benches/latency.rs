//! Webhook-to-alert latency of `detect serve` under load (not a test; run with
//! `cargo bench -p keelwatch-detect --bench latency`).
//!
//! Starts the real server (`keelwatch_detect::server::serve`, what `keelwatch detect serve`
//! runs) on 127.0.0.1 with TLS and a bearer token, writing alerts to a named pipe. Load
//! clients post EventLists of 50 benign audit events as fast as they can; one probe client
//! posts, every few milliseconds, an EventList of 49 benign events plus one event that raises
//! `K8S_TestAlert` on a new pod (so aggregation never hides it). The figure is the time from
//! the start of the probe's POST to the moment its alert line is read from the pipe, i.e.
//! the alert was emitted by the server's writer. Bounded: `PROBES` probes, then everything
//! stops.
//!
//! Environment: `KEELWATCH_LATENCY_LOAD_CLIENTS` (default 4), `KEELWATCH_LATENCY_PROBES`
//! (default 1000), `KEELWATCH_LATENCY_PROBE_EVERY_MS` (default 5).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::*;
use keelwatch_detect::rules::load_rules;
use keelwatch_detect::server::{ServerConfig, TlsSource, serve};
use keelwatch_detect::{Aggregator, Detector};
use serde_json::{Value, json};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn benign(n: usize, tag: &str) -> Vec<Value> {
    let node = "aks-nodepool1-12345678-vmss000000";
    let kubelet = format!("system:node:{node}");
    (0..n)
        .map(|i| {
            let e = match i % 5 {
                0 => audit("update", "leases", Some("kube-node-lease"), Some(node)).user(&kubelet),
                1 => audit("get", "configmaps", Some("kube-system"), Some("kube-proxy")).user(&kubelet),
                2 => audit("watch", "pods", None, None).user(&kubelet),
                3 => audit("list", "pods", Some("shop"), None),
                _ => audit("create", "events", Some("shop"), None).user(&kubelet),
            };
            let mut e = e.metadata_level().v();
            e["auditID"] = json!(format!("{tag}-{i}"));
            e
        })
        .collect()
}

fn event_list(items: Vec<Value>) -> String {
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility: nothing to list.
    }
    let load_clients = env("KEELWATCH_LATENCY_LOAD_CLIENTS", 4) as usize;
    let probes = env("KEELWATCH_LATENCY_PROBES", 1000) as usize;
    let probe_every = Duration::from_millis(env("KEELWATCH_LATENCY_PROBE_EVERY_MS", 5));

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("alerts.pipe");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");

    // Alert reader: records when each probe's alert line arrives.
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = {
        let arrived = arrived.clone();
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&fifo).unwrap();
            for line in std::io::BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                let now = Instant::now();
                let v: Value = serde_json::from_str(&line).unwrap();
                if let Some(name) = v["ExtendedProperties"]["ObjectName"].as_str() {
                    arrived.lock().unwrap().insert(name.to_string(), now);
                }
            }
        })
    };

    let rules = Arc::new(load_rules(true, &[]).unwrap());
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsSource::SelfSigned { dir: dir.path().join("tls"), names: vec![] },
        token: Some("t".into()),
        client_ca: None,
        body_limit: 16 << 20,
        alerts_out: Some(fifo.clone()),
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
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("tls/ca.crt")).unwrap()).unwrap();
    let url = format!("https://localhost:{}/audit", addr.port());
    let client = |ca: reqwest::Certificate| {
        reqwest::blocking::Client::builder().add_root_certificate(ca).timeout(Duration::from_secs(30)).build().unwrap()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let load_events = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..load_clients)
        .map(|c| {
            let (stop, load_events, url, http) = (stop.clone(), load_events.clone(), url.clone(), client(ca.clone()));
            std::thread::spawn(move || {
                let mut r = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let body = event_list(benign(50, &format!("load-{c}-{r}")));
                    let resp = http.post(&url).bearer_auth("t").body(body).send().unwrap();
                    assert!(resp.status().is_success());
                    load_events.fetch_add(50, Ordering::Relaxed);
                    r += 1;
                }
            })
        })
        .collect();

    let http = client(ca);
    let started = Instant::now();
    let mut sent: Vec<(String, Instant, Duration)> = Vec::with_capacity(probes);
    for i in 0..probes {
        let name = format!("probe-{i}");
        let mut items = benign(49, &format!("probe-{i}"));
        let mut alerting = audit("get", "pods", Some("asc-alerttest-662jfi039n"), Some(&name)).metadata_level().v();
        alerting["auditID"] = json!(format!("probe-alert-{i}"));
        items.insert(25, alerting);
        let body = event_list(items);
        let t = Instant::now();
        let resp = http.post(&url).bearer_auth("t").body(body).send().unwrap();
        assert!(resp.status().is_success());
        let _ = resp.bytes();
        sent.push((name, t, t.elapsed()));
        std::thread::sleep(probe_every);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.join().unwrap();
    }
    // Let the writer drain, then stop the server (which closes the pipe).
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived.lock().unwrap().len() < probes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = stop_tx.send(());
    server.join().unwrap();
    reader.join().unwrap();

    let arrived = arrived.lock().unwrap();
    let mut to_alert: Vec<Duration> =
        sent.iter().filter_map(|(name, t, _)| arrived.get(name).map(|a| a.duration_since(*t))).collect();
    let mut round_trip: Vec<Duration> = sent.iter().map(|(_, _, rt)| *rt).collect();
    to_alert.sort();
    round_trip.sort();
    if to_alert.is_empty() {
        println!("no probe alert arrived");
        return;
    }
    let load_rate = load_events.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    println!(
        "load: {load_clients} clients posting EventLists of 50 events, {load_rate:.0} events/s accepted; load average {}",
        load_average()
    );
    println!(
        "POST -> alert emitted: n={} (missing {}) p50={:.2?} p90={:.2?} p99={:.2?} max={:.2?}",
        to_alert.len(),
        probes - to_alert.len(),
        percentile(&to_alert, 0.50),
        percentile(&to_alert, 0.90),
        percentile(&to_alert, 0.99),
        to_alert[to_alert.len() - 1]
    );
    println!(
        "POST round trip:       n={} p50={:.2?} p90={:.2?} p99={:.2?} max={:.2?}",
        round_trip.len(),
        percentile(&round_trip, 0.50),
        percentile(&round_trip, 0.90),
        percentile(&round_trip, 0.99),
        round_trip[round_trip.len() - 1]
    );
}
