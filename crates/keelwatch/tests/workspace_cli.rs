//! `keelwatch workspace` end to end through the real binary: ingest and its errors, stats,
//! demo, and the crash test (kill -9 `serve` during sustained ingest, restart, every
//! acknowledged row present exactly once).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keelwatch_workspace::Workspace;
use keelwatch_workspace::arrow::array::AsArray;
use keelwatch_workspace::arrow::datatypes::Float64Type;
use keelwatch_workspace::datafusion::common::TableReference;

const BIN: &str = env!("CARGO_BIN_EXE_keelwatch");

fn keelwatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).env_remove("KEELWATCH_WORKSPACE").output().expect("run keelwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn perf_line(value: u64) -> String {
    format!(
        r#"{{"TimeGenerated":"2026-11-27T08:{:02}:{:02}Z","Computer":"node-1","ObjectName":"K8SNode","CounterName":"cpuUsageNanoCores","CounterValue":{value},"InstanceName":"c/node-1"}}"#,
        (value / 60) % 60,
        value % 60
    )
}

/// Every Perf CounterValue in the workspace (opened in-process, which runs recovery).
fn perf_values(dir: &Path) -> Vec<u64> {
    let ws = Workspace::open(dir).expect("open workspace");
    let ctx = ws.session_context(None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let batches =
        rt.block_on(async { ctx.table(TableReference::bare("Perf")).await.unwrap().collect().await.unwrap() });
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name("CounterValue").unwrap().as_primitive::<Float64Type>();
        out.extend(c.iter().map(|v| v.unwrap() as u64));
    }
    out.sort();
    out
}

#[test]
fn ingest_stats_and_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let ws_s = ws.to_str().unwrap();
    let file = dir.path().join("perf.ndjson");
    let body: String = (0..500).map(|v| perf_line(v) + "\n").collect();
    std::fs::write(&file, body).unwrap();
    let (code, out, err) =
        keelwatch(&["workspace", "ingest", "Perf", file.to_str().unwrap(), "--workspace", ws_s, "--batch-rows", "200"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ingested 500 rows into Perf"), "{out}");
    assert_eq!(perf_values(&ws), (0..500).collect::<Vec<_>>());

    // A bad value on line 3: exit 2, the message names file, row and column; nothing stored.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, format!("{}\n\n{}\n", perf_line(1000), perf_line(1001).replace("1001,", "\"high\",")))
        .unwrap();
    let (code, _, err) = keelwatch(&["workspace", "ingest", "Perf", bad.to_str().unwrap(), "--workspace", ws_s]);
    assert_eq!(code, 2);
    assert!(err.contains("Perf: row 3: column 'CounterValue': expected real, got a string \"high\""), "{err}");
    let (code, _, err) = keelwatch(&["workspace", "ingest", "perf", bad.to_str().unwrap(), "--workspace", ws_s]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown table 'perf', did you mean 'Perf'?"), "{err}");
    assert_eq!(perf_values(&ws).len(), 500);

    // Chunks cut after blank lines keep the file's line numbers; a last line without a newline
    // is a row; rows of chunks before the failing one stay stored.
    let ws2 = dir.path().join("ws2");
    let bad2 = dir.path().join("bad2.ndjson");
    let last = perf_line(2003).replace("2003,", "\"x\",");
    std::fs::write(&bad2, format!("{}\n\n{}\n{}\n{last}", perf_line(2000), perf_line(2001), perf_line(2002))).unwrap();
    let args = ["workspace", "ingest", "Perf", bad2.to_str().unwrap(), "--workspace", ws2.to_str().unwrap()];
    let (code, _, err) = keelwatch(&[&args[..], &["--batch-rows", "2"]].concat());
    assert_eq!(code, 2);
    assert!(err.contains("Perf: row 5: column 'CounterValue': expected real"), "{err}");
    assert!(err.contains("note: 2 rows before the failing batch were stored"), "{err}");
    assert_eq!(perf_values(&ws2), [2000, 2001]);

    // stdin and JSON arrays work too.
    let mut child = Command::new(BIN)
        .args(["workspace", "ingest", "KubeEvents", "-", "--workspace", ws_s])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"[{"TimeGenerated":"2026-11-27T08:00:00Z","Reason":"BackOff","Count":3}]"#)
        .unwrap();
    assert!(child.wait().unwrap().success());

    let (code, out, err) = keelwatch(&["workspace", "stats", "--workspace", ws_s, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    let by_table: BTreeMap<String, u64> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["table"].as_str().unwrap().to_string(), s["file_rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_table["Perf"], 500);
    assert_eq!(by_table["KubeEvents"], 1);
    let (code, out, _) = keelwatch(&["workspace", "stats", "--workspace", ws_s]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("Perf ") && l.contains(" 500 ")), "{out}");
}

#[test]
fn demo_fills_a_workspace_and_exports_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let args = ["--nodes", "2", "--pods", "8", "--hours", "1", "--log-rate", "20", "--end", "2026-11-27T10:00:00Z"];
    let mut a = vec!["workspace", "demo", "--workspace", ws.to_str().unwrap()];
    a.extend(args);
    let (code, out, err) = keelwatch(&a);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("generated "), "{out}");
    let (_, out, _) = keelwatch(&["workspace", "stats", "--workspace", ws.to_str().unwrap(), "-o", "json"]);
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    for s in stats.as_array().unwrap() {
        assert!(s["file_rows"].as_u64().unwrap() > 0, "empty table {}", s["table"]);
    }
    // --export writes the same rows as NDJSON, which ingest accepts unchanged.
    let exp = dir.path().join("export");
    let mut a = vec!["workspace", "demo", "--export", exp.to_str().unwrap()];
    a.extend(args);
    assert_eq!(keelwatch(&a).0, 0);
    let ws2 = dir.path().join("ws2");
    let (code, out, err) = keelwatch(&[
        "workspace",
        "ingest",
        "Perf",
        exp.join("Perf.ndjson").to_str().unwrap(),
        "--workspace",
        ws2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let perf = stats.as_array().unwrap().iter().find(|s| s["table"] == "Perf").unwrap();
    assert!(out.starts_with(&format!("ingested {} rows", perf["file_rows"])), "{out}");
}

struct Server {
    child: Child,
    addr: SocketAddr,
    token: String,
}

fn start_server(ws: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["workspace", "serve", "--listen", "127.0.0.1:0", "--workspace", ws.to_str().unwrap()])
        .args(["--flush-rows", "700", "--flush-age-secs", "0.3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let token = std::fs::read_to_string(ws.join("token")).unwrap().trim().to_string();
    Server { child, addr, token }
}

/// Minimal HTTP/1.1 POST; returns the status code.
fn post(addr: SocketAddr, path: &str, token: &str, body: &[u8]) -> std::io::Result<u16> {
    post_full(addr, path, token, body).map(|(c, _)| c)
}

/// Minimal HTTP/1.1 POST; returns the status code and the body.
fn post_full(addr: SocketAddr, path: &str, token: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad response {resp:?}")))?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((code, body))
}

const BATCH: u64 = 50;

/// Sends batches from `clients` threads until the server dies or `max_batches` each;
/// returns the acknowledged batch ids.
fn ingest_until_dead(
    srv: &Server,
    clients: u64,
    first_batch: u64,
    max_batches: u64,
    acked: &Arc<Mutex<HashSet<u64>>>,
    count: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|k| {
            let (addr, token) = (srv.addr, srv.token.clone());
            let acked = acked.clone();
            let count = count.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for b in 0..max_batches {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let batch_id = first_batch + k * 100_000 + b;
                    let body: String = (0..BATCH).map(|i| perf_line(batch_id * BATCH + i) + "\n").collect();
                    match post(addr, "/api/ingest/Perf", &token, body.as_bytes()) {
                        Ok(200) => {
                            acked.lock().unwrap().insert(batch_id);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(429) => std::thread::sleep(Duration::from_millis(50)),
                        Ok(code) => panic!("unexpected status {code}"),
                        Err(_) => return, // server gone
                    }
                }
            })
        })
        .collect()
}

#[test]
fn kill_9_during_ingest_keeps_every_acknowledged_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut first_batch = 0;
    for round in 0..3 {
        let mut srv = start_server(&ws);
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = ingest_until_dead(&srv, 3, first_batch, 100_000, &acked, &count, &stop);
        // Let ingestion (and several flushes) run, then kill -9 mid-stream.
        let t = Instant::now();
        let target = 30 + round * 10;
        while count.load(Ordering::Relaxed) < target && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        srv.child.kill().unwrap(); // SIGKILL
        srv.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for th in threads {
            th.join().unwrap();
        }
        assert!(count.load(Ordering::Relaxed) >= target, "round {round}: too few acknowledged batches");
        first_batch += 1_000_000;
    }
    let values = perf_values(&ws);
    // No row twice.
    let mut seen = HashSet::new();
    for v in &values {
        assert!(seen.insert(*v), "value {v} stored twice");
    }
    // Every acknowledged batch complete; every stored batch complete (requests are atomic).
    let acked = acked.lock().unwrap();
    let mut per_batch: BTreeMap<u64, u64> = BTreeMap::new();
    for v in &values {
        *per_batch.entry(v / BATCH).or_default() += 1;
    }
    for b in acked.iter() {
        assert_eq!(per_batch.get(b).copied(), Some(BATCH), "acknowledged batch {b} incomplete");
    }
    for (b, n) in &per_batch {
        assert_eq!(*n, BATCH, "batch {b} partially stored");
    }
    assert!(acked.len() >= 90);
}

#[test]
fn serve_answers_log_analytics_queries_with_kql() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let (code, _, err) = keelwatch(&[
        "workspace",
        "demo",
        "--workspace",
        ws.to_str().unwrap(),
        "--nodes",
        "2",
        "--pods",
        "6",
        "--hours",
        "1",
        "--log-rate",
        "10",
        "--end",
        "2026-11-27T10:00:00Z",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut srv = start_server(&ws);
    let q = "/v1/workspaces/00000000-0000-0000-0000-000000000000/query";
    let body = serde_json::json!({
        "query": "Perf | where ObjectName == 'K8SNode' and CounterName == 'cpuUsageNanoCores' | summarize count() by Computer",
        "timespan": "2026-11-27T09:00:00Z/2026-11-27T10:00:00Z"
    });
    let (code, resp) = post_full(srv.addr, q, &srv.token, body.to_string().as_bytes()).unwrap();
    assert_eq!(code, 200, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let t = &v["tables"][0];
    assert_eq!(t["name"], "PrimaryResult");
    assert_eq!(
        t["columns"],
        serde_json::json!([{"name": "Computer", "type": "string"}, {"name": "count_", "type": "long"}])
    );
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r[1] == 60), "{resp}");

    let bad = serde_json::json!({"query": "KubePodInventory | where PodNmae == 'x'"});
    let (code, resp) = post_full(srv.addr, q, &srv.token, bad.to_string().as_bytes()).unwrap();
    assert_eq!(code, 400, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["error"]["code"], "BadArgumentError");
    assert_eq!(v["error"]["innererror"]["code"], "SemanticError");
    assert!(v["error"]["message"].as_str().unwrap().contains("PodNmae"), "{resp}");
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
}
