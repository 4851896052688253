//! Container log collection end to end: CRI files with partial lines, rotation (rename and
//! gzip), truncation, kill -9 and restart of the agent — every line exactly once, in order.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use keelwatch_agent::Output;
use keelwatch_agent::k8s::{ContainerIndex, NamespaceFilter};
use keelwatch_agent::logs::{LogConfig, LogTailer};
use serde_json::Value;

#[test]
#[ignore = "helper: runs the agent when KW_AGENT_CONFIG is set"]
fn child_agent() {
    child_agent_main();
}

const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// Writes CRI lines for one container and rotates like the kubelet.
struct Writer {
    dir: PathBuf,
    tag: String,
    file: std::fs::File,
    rotations: u32,
}

impl Writer {
    fn new(pods: &Path, ns: &str, pod: &str, container: &str) -> Writer {
        let dir = pods.join(format!("{ns}_{pod}_{UID}")).join(container);
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("0.log")).unwrap();
        Writer { dir, tag: format!("{pod}/{container}"), file, rotations: 0 }
    }

    /// Message `n`: every 5th is split into P,P,F parts, every 3rd is JSON, odd go to stderr.
    fn write(&mut self, n: u32) {
        let stream = if n % 2 == 1 { "stderr" } else { "stdout" };
        let ts = format!("2026-11-27T09:{:02}:{:02}.{:09}Z", (n / 60) % 60, n % 60, n);
        let msg = if n.is_multiple_of(3) {
            format!(r#"{{"level":"info","tag":"{}","seq":{n}}}"#, self.tag)
        } else {
            format!("INFO tag={} seq={n} payload", self.tag)
        };
        let mut out = String::new();
        if n.is_multiple_of(5) {
            let (a, rest) = msg.split_at(msg.len() / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            out.push_str(&format!("{ts} {stream} P {a}\n{ts} {stream} P {b}\n{ts} {stream} F {c}\n"));
        } else {
            out.push_str(&format!("{ts} {stream} F {msg}\n"));
        }
        // Write in two syscalls so the agent may see a torn last line.
        let (x, y) = out.split_at(out.len() / 2);
        self.file.write_all(x.as_bytes()).unwrap();
        self.file.flush().unwrap();
        self.file.write_all(y.as_bytes()).unwrap();
    }

    /// kubelet-style rotation: rename to 0.log.<ts>, reopen, gzip the older rotated files.
    fn rotate(&mut self) {
        self.rotations += 1;
        let rotated = self.dir.join(format!("0.log.20261127-0900{:02}", self.rotations));
        std::fs::rename(self.dir.join("0.log"), &rotated).unwrap();
        self.file = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("0.log")).unwrap();
        // Compress every rotated file except the newest (as the kubelet does).
        for r in 1..self.rotations {
            let plain = self.dir.join(format!("0.log.20261127-0900{r:02}"));
            if plain.exists() {
                let data = std::fs::read(&plain).unwrap();
                let tmp = self.dir.join(format!("0.log.20261127-0900{r:02}.gz.tmp"));
                let mut enc =
                    flate2::write::GzEncoder::new(std::fs::File::create(&tmp).unwrap(), flate2::Compression::fast());
                enc.write_all(&data).unwrap();
                enc.finish().unwrap();
                std::fs::rename(&tmp, self.dir.join(format!("0.log.20261127-0900{r:02}.gz"))).unwrap();
                std::fs::remove_file(&plain).unwrap();
            }
        }
    }
}

fn seq_of(row: &Value) -> u32 {
    match &row["LogMessage"] {
        Value::Object(o) => o["seq"].as_u64().unwrap() as u32,
        Value::String(s) => s.split_whitespace().find_map(|w| w.strip_prefix("seq=")).unwrap().parse().unwrap(),
        other => panic!("unexpected LogMessage {other}"),
    }
}

fn per_container(rows: &[Value]) -> BTreeMap<String, Vec<u32>> {
    let mut m: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for r in rows {
        m.entry(format!("{}/{}", r["PodName"].as_str().unwrap(), r["ContainerName"].as_str().unwrap()))
            .or_default()
            .push(seq_of(r));
    }
    m
}

#[test]
fn kill_dash_nine_rotation_gzip_exactly_once_in_order() {
    let t = tempfile::tempdir().unwrap();
    let pods = t.path().join("pods");
    std::fs::create_dir_all(&pods).unwrap();
    let out = t.path().join("out.ndjson");
    let mut cfg = base_config(&t.path().join("state"), Output::File(out.clone()));
    cfg.metrics = false;
    cfg.log_dir = Some(pods.clone());
    cfg.log_poll = Duration::from_millis(20);

    let mut writers = vec![
        Writer::new(&pods, "prod", "web-1", "app"),
        Writer::new(&pods, "prod", "web-1", "sidecar"),
        Writer::new(&pods, "batch", "job-7", "main"),
    ];
    // Some lines exist before the agent first starts.
    let total = 1500u32;
    let mut n = 0u32;
    for _ in 0..40 {
        for w in &mut writers {
            w.write(n);
        }
        n += 1;
    }
    let mut child = spawn_agent(&cfg);
    let mut kills = 0;
    while n < total {
        for w in &mut writers {
            w.write(n);
        }
        n += 1;
        if n.is_multiple_of(150) {
            for w in &mut writers {
                w.rotate();
            }
        }
        if n.is_multiple_of(7) {
            std::thread::sleep(Duration::from_millis(2));
        }
        if n.is_multiple_of(400) {
            // kill -9 at an arbitrary moment, restart at once.
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            child = spawn_agent(&cfg);
        }
    }
    assert_eq!(kills, 3);
    let expected: Vec<u32> = (0..total).collect();
    wait_until(Duration::from_secs(30), || {
        let rows = read_output(&out).remove("ContainerLogV2").unwrap_or_default();
        rows.len() >= expected.len() * writers.len()
    });
    // Give a duplicate (if any) the chance to show up, then stop the agent.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = read_output(&out).remove("ContainerLogV2").unwrap();
    let got = per_container(&rows);

    assert_eq!(got.len(), 3, "{:?}", got.keys());
    for (k, seqs) in &got {
        let mut dups = BTreeMap::new();
        for s in seqs {
            *dups.entry(*s).or_insert(0) += 1;
        }
        let dups: Vec<_> = dups.into_iter().filter(|(_, c)| *c > 1).collect();
        let missing: Vec<_> = expected.iter().filter(|e| !seqs.contains(e)).collect();
        assert!(dups.is_empty() && missing.is_empty(), "{k}: repeated {dups:?} missing {missing:?}");
        assert_eq!(seqs.len(), expected.len(), "{k}: {} lines instead of {}", seqs.len(), expected.len());
        assert_eq!(seqs, &expected, "{k}: lines lost, repeated or out of order");
    }
    // Columns and parsing.
    let r = rows.iter().find(|r| seq_of(r) == 3).unwrap();
    assert_eq!(r["LogMessage"]["level"], "info");
    assert_eq!(r["LogLevel"], "INFO");
    assert_eq!(r["LogSource"], "stderr");
    assert_eq!(r["PodNamespace"], if r["PodName"] == "job-7" { "batch" } else { "prod" });
    assert_eq!(r["KubernetesMetadata"]["podUid"], UID);
    assert_eq!(r["Computer"], "test-node");
    let joined = rows.iter().find(|r| seq_of(r) == 10 && r["PodName"] == "web-1").unwrap();
    assert!(joined["LogMessage"].as_str().unwrap().ends_with("seq=10 payload"));
    assert_eq!(joined["TimeGenerated"], "2026-11-27T09:00:10.000000010Z");
}

fn tail_once(t: &mut LogTailer) -> Vec<Value> {
    let r = t.poll("n", &ContainerIndex::default());
    let rows = r.rows.to_values();
    t.commit(r.positions);
    rows
}

#[test]
fn truncation_cut_rate_limit_and_namespace_filter() {
    let t = tempfile::tempdir().unwrap();
    let pods = t.path().join("pods");
    let dir = pods.join(format!("prod_web_{UID}/app"));
    let skip = pods.join(format!("kube-system_dns_{UID}/dns"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&skip).unwrap();
    let f = dir.join("0.log");
    std::fs::write(&f, "2026-11-27T09:00:00Z stdout F one\n2026-11-27T09:00:01Z stdout F two\n").unwrap();
    std::fs::write(skip.join("0.log"), "2026-11-27T09:00:00Z stdout F hidden\n").unwrap();
    let mut cfg = LogConfig::new(pods.clone());
    cfg.filter = NamespaceFilter { exclude: vec!["kube-*".into()], ..Default::default() };
    let mut tailer = LogTailer::new(cfg.clone(), Default::default());
    let rows = tail_once(&mut tailer);
    assert_eq!(rows.len(), 2, "excluded namespace must not be read: {rows:?}");
    // copytruncate: same inode, shorter content.
    std::fs::write(&f, "2026-11-27T09:00:02Z stderr F ERROR three\n").unwrap();
    let rows = tail_once(&mut tailer);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["LogMessage"], "ERROR three");
    assert_eq!(rows[0]["LogLevel"], "ERROR");
    // A message over 16 KiB split in P lines is cut at 16 KiB; the next line is intact.
    let mut big = String::new();
    for _ in 0..10 {
        big.push_str(&format!("2026-11-27T09:00:03Z stdout P {}\n", "x".repeat(4000)));
    }
    big.push_str("2026-11-27T09:00:03Z stdout F end\n2026-11-27T09:00:04Z stdout F after\n");
    std::fs::OpenOptions::new().append(true).open(&f).unwrap().write_all(big.as_bytes()).unwrap();
    let rows = tail_once(&mut tailer);
    assert_eq!(rows.len(), 2, "{}", rows.len());
    assert_eq!(rows[0]["LogMessage"].as_str().unwrap().len(), 16 * 1024);
    assert_eq!(rows[1]["LogMessage"], "after");
    // Rate limit: 5 lines/s per container, 50 written → 5 kept, 45 counted.
    let mut cfg2 = cfg.clone();
    cfg2.rate_limit = 5;
    let mut limited = LogTailer::new(cfg2, tailer.positions().clone());
    let mut lines = String::new();
    for i in 0..50 {
        lines.push_str(&format!("2026-11-27T09:01:00Z stdout F line {i}\n"));
    }
    std::fs::OpenOptions::new().append(true).open(&f).unwrap().write_all(lines.as_bytes()).unwrap();
    let r = limited.poll("n", &ContainerIndex::default());
    assert_eq!(r.rows.len(), 5);
    assert_eq!(r.rate_limited, 45);
    // Garbage lines are skipped and counted.
    std::fs::OpenOptions::new().append(true).open(&f).unwrap().write_all(b"not a cri line\n").unwrap();
    limited.commit(r.positions);
    std::thread::sleep(Duration::from_millis(1100));
    let r = limited.poll("n", &ContainerIndex::default());
    assert_eq!((r.rows.len(), r.parse_errors), (0, 1));
}
