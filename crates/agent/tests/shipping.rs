//! Shipping to a real HTTP ingestion endpoint on 127.0.0.1: outage with the on-disk buffer
//! (nothing lost, memory bounded), buffer overflow (oldest dropped and counted), 429 with
//! Retry-After, and a rotated bearer token.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use keelwatch_agent::Output;
use serde_json::Value;

#[test]
#[ignore = "helper: runs the agent when KW_AGENT_CONFIG is set"]
fn child_agent() {
    child_agent_main();
}

const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

fn log_file(pods: &Path, container: &str) -> std::fs::File {
    let dir = pods.join(format!("prod_web_{UID}")).join(container);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join("0.log")).unwrap()
}

fn line(n: u32, pad: usize) -> String {
    format!("2026-11-27T09:00:00.{n:09}Z stdout F seq={n} {}\n", "p".repeat(pad))
}

fn seqs(rows: &[Value]) -> BTreeMap<String, Vec<u32>> {
    let mut m: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for r in rows {
        let s = r["LogMessage"].as_str().unwrap();
        let n = s.split_whitespace().next().unwrap().strip_prefix("seq=").unwrap().parse().unwrap();
        m.entry(r["ContainerName"].as_str().unwrap().to_string()).or_default().push(n);
    }
    m
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scrape(port: u16) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    s
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[test]
fn outage_loses_nothing_within_the_buffer_and_memory_stays_bounded() {
    let t = tempfile::tempdir().unwrap();
    let pods = t.path().join("pods");
    let token = t.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let mut server = IngestServer::start("s3cret");
    let mut cfg = base_config(&t.path().join("state"), Output::Http(server.url()));
    cfg.metrics = false;
    cfg.log_dir = Some(pods.clone());
    cfg.log_poll = Duration::from_millis(50);
    cfg.token_file = Some(token);
    cfg.buffer_dir = Some(t.path().join("buffer"));
    cfg.buffer_max_bytes = 64 << 20;
    let mut files = [log_file(&pods, "a"), log_file(&pods, "b")];
    let mut child = spawn_agent(&cfg);
    let total = 6000u32;
    let started = Instant::now();
    for n in 0..total {
        for f in &mut files {
            f.write_all(line(n, 200).as_bytes()).unwrap();
        }
        if n == 1500 {
            server.down();
        }
        if n == 4500 {
            // Keep the endpoint down for a while after the writes stop too: until batches
            // wait on disk (the agent may still be starting on a loaded machine), then 1.5 s.
            let buffer = t.path().join("buffer");
            wait_for("batches buffered on disk during the outage", Duration::from_secs(60), || {
                std::fs::read_dir(&buffer)
                    .map(|d| {
                        d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".seg")).count()
                            >= 2
                    })
                    .unwrap_or(false)
            });
            std::thread::sleep(Duration::from_millis(1500));
            server.up();
        }
        if n.is_multiple_of(100) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    wait_for("all rows delivered after the outage", Duration::from_secs(60), || {
        server.rows_of("ContainerLogV2").len() >= (total as usize) * 2
    });
    let peak = peak_rss(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let got = seqs(&server.rows_of("ContainerLogV2"));
    let expected: Vec<u32> = (0..total).collect();
    for c in ["a", "b"] {
        assert_eq!(got[c], expected, "container {c}: rows lost, repeated or out of order");
    }
    // Every request carried the batch id header; no batch was delivered twice.
    let batches = server.received.lock().unwrap().batches.clone();
    let mut uniq = batches.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), batches.len());
    assert!(batches.iter().all(|b| !b.is_empty()));
    // ~2.6 MB of log text went through; the agent (a debug build) stays far below that
    // plus its baseline, because batches wait on disk, not in memory.
    assert!(peak > 0 && peak < 64 << 20, "peak RSS {peak} bytes");
    assert!(started.elapsed() < Duration::from_secs(90));
    let left: Vec<_> = std::fs::read_dir(t.path().join("buffer")).unwrap().collect();
    assert!(left.is_empty(), "buffer drained after delivery: {left:?}");
}

/// Per-table row counters from one `/metrics` scrape.
struct Counts {
    collected: f64,
    sent: f64,
    dropped: f64,
    buffered: f64,
    buffer_bytes: f64,
}

fn counts(text: &str, table: &str) -> Counts {
    Counts {
        collected: metric(text, &format!("keelwatch_agent_rows_collected_total{{table=\"{table}\"}}")),
        sent: metric(text, &format!("keelwatch_agent_rows_sent_total{{table=\"{table}\"}}")),
        dropped: metric(
            text,
            &format!("keelwatch_agent_rows_dropped_total{{table=\"{table}\",reason=\"buffer_full\"}}"),
        ),
        buffered: metric(text, &format!("keelwatch_agent_buffer_rows{{table=\"{table}\"}}")),
        buffer_bytes: metric(text, "keelwatch_agent_buffer_bytes"),
    }
}

/// The endpoint is down while 8,000 rows (~4 MB) go through a 1 MiB buffer, then comes back.
/// Checks the accounting exactly: at every scrape collected = sent + dropped + buffered; at
/// the end written = delivered + dropped with the dropped rows being exactly the oldest ones
/// and every other row delivered once, in order; the buffer stays within its bound and is
/// filled up to it (nothing that fits in the buffer is lost).
#[test]
fn overflow_drops_oldest_and_counts_them() {
    let t = tempfile::tempdir().unwrap();
    let pods = t.path().join("pods");
    let token = t.path().join("token");
    std::fs::write(&token, "tok").unwrap();
    let mut server = IngestServer::start("tok");
    server.down();
    let port = free_port();
    let max = 1u64 << 20;
    let mut cfg = base_config(&t.path().join("state"), Output::Http(server.url()));
    cfg.metrics = false;
    cfg.log_dir = Some(pods.clone());
    cfg.log_poll = Duration::from_millis(50);
    cfg.token_file = Some(token);
    cfg.buffer_max_bytes = max;
    cfg.metrics_listen = Some(format!("127.0.0.1:{port}"));
    let mut f = log_file(&pods, "a");
    let total = 8000u32;
    for n in 0..total {
        f.write_all(line(n, 400).as_bytes()).unwrap();
    }
    let mut child = spawn_agent(&cfg);
    let table = "ContainerLogV2";
    let mut c = counts("", table);
    let mut scrapes = 0;
    wait_for("rows read and buffered", Duration::from_secs(120), || {
        let Ok(text) = std::panic::catch_unwind(|| scrape(port)) else { return false };
        c = counts(&text, table);
        scrapes += 1;
        assert_eq!(c.collected, c.sent + c.dropped + c.buffered, "accounting during the outage: {text}");
        assert!(c.buffer_bytes <= max as f64, "buffer over its bound: {text}");
        c.collected >= f64::from(total)
    });
    assert!(scrapes > 1);
    assert_eq!(c.collected, f64::from(total));
    assert_eq!(c.sent, 0.0, "the endpoint was down");
    assert!(c.dropped > 0.0, "4 MB through a 1 MiB buffer must drop");
    // Full up to the bound: at most one segment (max/8) short of it.
    assert!(c.buffer_bytes > (max - max / 8 - 4096) as f64, "buffer only {} bytes", c.buffer_bytes);
    let on_disk: u64 =
        std::fs::read_dir(t.path().join("state/buffer")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert_eq!(on_disk as f64, c.buffer_bytes);
    let dropped = c.dropped;
    server.up();
    wait_for("the buffer drained", Duration::from_secs(120), || {
        let Ok(text) = std::panic::catch_unwind(|| scrape(port)) else { return false };
        c = counts(&text, table);
        assert_eq!(c.collected, c.sent + c.dropped + c.buffered, "accounting while draining: {text}");
        c.buffered == 0.0 && c.buffer_bytes == 0.0
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = server.rows_of(table);
    assert_eq!(c.dropped, dropped, "nothing dropped after the endpoint came back");
    assert_eq!(rows.len() as f64, c.sent, "the agent's sent counter matches the server");
    assert_eq!(rows.len() as f64 + c.dropped, f64::from(total), "delivered + dropped = written");
    // The dropped rows are exactly the oldest ones; every other row arrived once, in order.
    let s = &seqs(&rows)["a"];
    let expected: Vec<u32> = (dropped as u32..total).collect();
    assert_eq!(s, &expected);
}

#[test]
fn retry_after_and_token_rotation() {
    let t = tempfile::tempdir().unwrap();
    let token = t.path().join("token");
    std::fs::write(&token, "old-token").unwrap();
    let server = IngestServer::start("new-token");
    server.set(Behaviour::Throttle);
    server.throttle_left.store(2, std::sync::atomic::Ordering::SeqCst);
    let mut cfg = base_config(&t.path().join("state"), Output::Http(server.url()));
    cfg.once = true;
    cfg.once_window = Duration::from_millis(200);
    cfg.token_file = Some(token.clone());
    cfg.drain_timeout = Duration::from_secs(20);
    // The token is rotated only once the server has refused the old one, however slowly the
    // agent's first round runs on a loaded machine; the agent re-reads the file per request.
    let fix = {
        let token = token.clone();
        let received = server.received.clone();
        std::thread::spawn(move || {
            let refused =
                wait_until(Duration::from_secs(30), || received.lock().unwrap().requests.iter().any(|r| r.1 == 401));
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(&token, "new-token\n").unwrap();
            refused.then(Instant::now)
        })
    };
    let summary = keelwatch_agent::run(&cfg, Default::default()).unwrap();
    let rotated = fix.join().unwrap().expect("the old token was refused with 401");
    assert_eq!(summary.buffered_rows, 0, "everything delivered before --once returned");
    let perf = server.rows_of("Perf");
    assert!(perf.iter().any(|r| r["CounterName"] == "memoryWorkingSetBytes"));
    assert!(!server.rows_of("InsightsMetrics").is_empty());
    let reqs = server.received.lock().unwrap().requests.clone();
    let statuses: Vec<u16> = reqs.iter().map(|r| r.1).collect();
    assert!(statuses.contains(&401), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
    // Retry-After: 1 was honoured between the two 429s and the next attempt.
    let first_429 = reqs.iter().position(|r| r.1 == 429).unwrap();
    assert!(reqs[first_429 + 1].0 - reqs[first_429].0 >= Duration::from_millis(950));
    // Nothing was accepted before the new token was in the file.
    let first_ok = reqs.iter().find(|r| r.1 == 200).expect("an accepted request");
    assert!(first_ok.0 >= rotated, "a request was accepted before the token was rotated");
}
