//! Shared test helpers: run the agent library in a child process (so it can be killed with
//! SIGKILL), a small real HTTP ingestion server on 127.0.0.1 implementing the workspace
//! contract, and output readers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keelwatch_agent::AgentConfig;
use serde_json::Value;

pub mod apiserver;

pub const CHILD_ENV: &str = "KW_AGENT_CONFIG";

/// Body of the `child_agent` test in each test binary: runs the agent when asked to.
pub fn child_agent_main() {
    let Ok(json) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cfg: AgentConfig = serde_json::from_str(&json).expect("child config");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("KEELWATCH_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .with_writer(std::io::stderr)
        .try_init();
    keelwatch_agent::install_signal_handlers();
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = keelwatch_agent::run(&cfg, stop) {
        eprintln!("child agent failed: {e}");
        std::process::exit(3);
    }
    std::process::exit(0);
}

/// Starts the agent in a child process (this test binary re-executed).
pub fn spawn_agent(cfg: &AgentConfig) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_agent", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, serde_json::to_string(cfg).unwrap())
        .env("KEELWATCH_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child agent")
}

/// Rows of an NDJSON output file grouped by their `Type` (process events under "process").
pub fn read_output(path: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let Ok(f) = std::fs::File::open(path) else {
        return out;
    };
    for line in BufReader::new(f).lines() {
        let line = line.unwrap();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad output line {line:?}: {e}"));
        let t = v.get("Type").and_then(|t| t.as_str()).unwrap_or("process").to_string();
        out.entry(t).or_default().push(v);
    }
    out
}

pub fn wait_for(what: &str, timeout: Duration, f: impl FnMut() -> bool) {
    if !wait_until(timeout, f) {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// Polls `f` until it is true or `timeout` passes; returns whether it became true.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// What the test server does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// 503 Service Unavailable.
    Fail,
    /// 429 with Retry-After: 1.
    Throttle,
}

#[derive(Default)]
pub struct Received {
    /// (table, row) in arrival order.
    pub rows: Vec<(String, Value)>,
    /// Batch ids seen (duplicates allowed).
    pub batches: Vec<String>,
    /// Times of each request and its status.
    pub requests: Vec<(Instant, u16)>,
}

/// A real HTTP/1.1 server implementing the ingestion contract on 127.0.0.1.
pub struct IngestServer {
    pub port: u16,
    pub token: String,
    pub received: Arc<Mutex<Received>>,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Remaining 429 responses before accepting (with Throttle).
    pub throttle_left: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IngestServer {
    pub fn start(token: &str) -> IngestServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut s = IngestServer {
            port,
            token: token.to_string(),
            received: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour::Accept)),
            throttle_left: Arc::new(AtomicU32::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        s.serve(l);
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    fn serve(&mut self, l: TcpListener) {
        l.set_nonblocking(true).unwrap();
        self.stop.store(false, Ordering::SeqCst);
        let stop = self.stop.clone();
        let received = self.received.clone();
        let behaviour = self.behaviour.clone();
        let throttle = self.throttle_left.clone();
        let token = self.token.clone();
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let b = *behaviour.lock().unwrap();
                        let _ = handle(c, &token, b, &throttle, &received);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }

    /// Closes the listening socket: connections are refused until [`up`](Self::up).
    pub fn down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Listens again on the same port.
    pub fn up(&mut self) {
        let mut tries = 0;
        let l = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot re-bind port {}: {e}", self.port),
            }
        };
        self.serve(l);
    }

    pub fn rows_of(&self, table: &str) -> Vec<Value> {
        self.received.lock().unwrap().rows.iter().filter(|(t, _)| t == table).map(|(_, r)| r.clone()).collect()
    }
}

impl Drop for IngestServer {
    fn drop(&mut self) {
        self.down();
    }
}

fn handle(
    mut c: TcpStream,
    token: &str,
    b: Behaviour,
    throttle: &AtomicU32,
    received: &Mutex<Received>,
) -> std::io::Result<()> {
    let head = read_head(&mut c)?;
    let (len, auth, batch) = (head.content_length(), head.header("authorization"), head.header("x-keelwatch-batch"));
    let (mut r, request_line) = (head.reader, head.request_line);
    let mut body = vec![0u8; len.min(9 << 20)];
    r.read_exact(&mut body)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let reply = |c: &mut TcpStream, status: &str, extra: &str, body: &str| {
        write!(
            c,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let code = |s: &str| s[..3].parse::<u16>().unwrap();
    let status;
    if len > 8 << 20 {
        status = "413 Payload Too Large";
        reply(&mut c, status, "", "{\"error\":\"body too large\"}")?;
    } else if auth != format!("Bearer {token}") {
        status = "401 Unauthorized";
        reply(&mut c, status, "", "{\"error\":\"bad token\"}")?;
    } else if b == Behaviour::Fail {
        status = "503 Service Unavailable";
        reply(&mut c, status, "", "{\"error\":\"down\"}")?;
    } else if b == Behaviour::Throttle && throttle.load(Ordering::SeqCst) > 0 {
        throttle.fetch_sub(1, Ordering::SeqCst);
        status = "429 Too Many Requests";
        reply(&mut c, status, "Retry-After: 1\r\n", "{\"error\":\"busy\"}")?;
    } else if let Some(table) = path.strip_prefix("/api/ingest/") {
        let mut rows = Vec::new();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => rows.push(v),
                Err(e) => {
                    reply(&mut c, "400 Bad Request", "", &format!("{{\"error\":\"{e}\"}}"))?;
                    return Ok(());
                }
            }
        }
        let n = rows.len();
        {
            let mut g = received.lock().unwrap();
            g.batches.push(batch);
            for row in rows {
                g.rows.push((table.to_string(), row));
            }
            g.requests.push((Instant::now(), 200));
        }
        reply(&mut c, "200 OK", "", &format!("{{\"accepted\":{n}}}"))?;
        return Ok(());
    } else {
        status = "404 Not Found";
        reply(&mut c, status, "", "{\"error\":\"unknown table\"}")?;
    }
    received.lock().unwrap().requests.push((Instant::now(), code(status)));
    Ok(())
}

/// The request line and headers of one HTTP/1.1 request (names lower-cased), with the
/// reader positioned at the body. Shared by the test servers on 127.0.0.1.
pub struct RequestHead {
    pub reader: BufReader<TcpStream>,
    pub request_line: String,
    pub headers: BTreeMap<String, String>,
}

impl RequestHead {
    /// A header's value, `""` when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).cloned().unwrap_or_default()
    }
    /// `Content-Length`, 0 when absent or malformed.
    pub fn content_length(&self) -> usize {
        self.headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// Reads a request's head from `c` (blocking, 5 s read timeout).
pub fn read_head(c: &mut TcpStream) -> std::io::Result<RequestHead> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(c.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
    }
    Ok(RequestHead { reader, request_line, headers })
}

/// A fresh AgentConfig for tests: no cgroups, no logs, given state dir and output.
pub fn base_config(state: &Path, output: keelwatch_agent::Output) -> AgentConfig {
    let mut c = AgentConfig::host(output);
    c.state_dir = state.to_path_buf();
    c.cgroup_root = None;
    c.node_name = Some("test-node".into());
    c.max_backoff = Duration::from_millis(500);
    c
}

/// Peak RSS (VmHWM) of a process in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

pub fn must_be_root(what: &str) {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(uid, 0, "{what} needs root (CI runs tests as root); run `sudo -E cargo test -p keelwatch-agent`");
}

pub fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
