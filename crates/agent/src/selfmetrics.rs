//! The agent's own counters and the `/metrics` endpoint (Prometheus text format 0.0.4)
//! served by a tiny std `TcpListener` responder: rows collected/sent/dropped per table,
//! buffer bytes, segments and rows, log and process-event counters, own CPU seconds and RSS.
//!
//! Accounting invariant for the HTTP output: every change to the buffer updates the row
//! counters and the buffer gauges under one lock ([`Stats::buffered`],
//! [`Stats::unbuffered`]), so any scrape sees, per table,
//! `collected == sent + dropped + buffer_rows` (rows buffered by an earlier run count in
//! `buffer_rows` only).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{AgentError, Result};

#[derive(Debug, Default)]
struct Inner {
    collected: BTreeMap<String, u64>,
    sent: BTreeMap<String, u64>,
    dropped: BTreeMap<(String, String), u64>,
    counters: BTreeMap<&'static str, u64>,
    buffer_bytes: u64,
    buffer_segments: u64,
    buffer_rows: BTreeMap<String, u64>,
}

/// How a buffered batch left the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Accepted by the server.
    Sent,
    /// Dropped for this reason (`rejected_400`, `unreadable`, ...).
    Dropped(&'a str),
}

/// Shared counters (cheap to update from every thread).
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Inner>,
}

/// Help text of the free-form counters.
const COUNTER_HELP: &[(&str, &str)] = &[
    ("log_lines_rate_limited", "Log lines dropped by the per-container rate limit."),
    ("log_lines_unparsed", "Log lines skipped because they are not CRI formatted."),
    ("log_files_lost", "Log files that vanished before they were fully read."),
    ("log_truncations", "Log file truncations detected."),
    ("process_events", "Process exec events observed."),
    ("process_events_dropped", "Process events dropped (queue full or kernel buffer overrun)."),
    ("ship_retries", "Failed delivery attempts that will be retried."),
    ("pod_list_errors", "Failed pod list calls to the Kubernetes API or the kubelet (kubernetes mode)."),
    ("service_list_errors", "Failed Service list calls (kubernetes mode; ServiceName stays empty that round)."),
];

impl Stats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows produced for `table`.
    pub fn collected(&self, table: &str, n: u64) {
        *self.lock().collected.entry(table.to_string()).or_default() += n;
    }

    /// Rows delivered for `table`.
    pub fn sent(&self, table: &str, n: u64) {
        *self.lock().sent.entry(table.to_string()).or_default() += n;
    }

    /// Rows dropped for `table` with a reason (`buffer_full`, `rejected`, `rate_limited`, …).
    pub fn dropped(&self, table: &str, reason: &str, n: u64) {
        *self.lock().dropped.entry((table.to_string(), reason.to_string())).or_default() += n;
    }

    /// Adds to a named counter (see `COUNTER_HELP` for the names).
    pub fn add(&self, name: &'static str, n: u64) {
        if n > 0 {
            *self.lock().counters.entry(name).or_default() += n;
        }
    }

    /// Rows written straight to a stdout or file output: collected and sent at once.
    pub fn written(&self, table: &str, n: u64) {
        let mut g = self.lock();
        *g.collected.entry(table.to_string()).or_default() += n;
        *g.sent.entry(table.to_string()).or_default() += n;
    }

    /// Sets the buffer gauges from what an opened buffer directory holds (rows from an
    /// earlier run: not counted as collected by this one).
    pub fn set_buffer(&self, bytes: u64, segments: u64, rows: BTreeMap<String, u64>) {
        let mut g = self.lock();
        g.buffer_bytes = bytes;
        g.buffer_segments = segments;
        g.buffer_rows = rows;
    }

    /// A batch of `rows` rows of `table` entered the buffer and the `evicted` (table, rows)
    /// batches were deleted to make room; `bytes`/`segments` are the new buffer totals.
    /// One lock: a scrape never sees the new rows without the drops they caused.
    pub fn buffered(&self, table: &str, rows: u64, evicted: &[(String, u64)], bytes: u64, segments: u64) {
        let mut g = self.lock();
        *g.collected.entry(table.to_string()).or_default() += rows;
        *g.buffer_rows.entry(table.to_string()).or_default() += rows;
        for (t, n) in evicted {
            *g.dropped.entry((t.clone(), "buffer_full".to_string())).or_default() += n;
            let b = g.buffer_rows.entry(t.clone()).or_default();
            *b = b.saturating_sub(*n);
        }
        g.buffer_bytes = bytes;
        g.buffer_segments = segments;
    }

    /// A batch left the buffer (delivered or dropped); `bytes`/`segments` are the new totals.
    pub fn unbuffered(&self, table: &str, rows: u64, outcome: Outcome<'_>, bytes: u64, segments: u64) {
        let mut g = self.lock();
        let b = g.buffer_rows.entry(table.to_string()).or_default();
        *b = b.saturating_sub(rows);
        match outcome {
            Outcome::Sent => *g.sent.entry(table.to_string()).or_default() += rows,
            Outcome::Dropped(reason) => {
                *g.dropped.entry((table.to_string(), reason.to_string())).or_default() += rows;
            }
        }
        g.buffer_bytes = bytes;
        g.buffer_segments = segments;
    }

    /// Rows collected for a table.
    pub fn collected_total(&self, table: &str) -> u64 {
        self.lock().collected.get(table).copied().unwrap_or(0)
    }

    /// Rows waiting in the buffer for a table.
    pub fn buffer_rows(&self, table: &str) -> u64 {
        self.lock().buffer_rows.get(table).copied().unwrap_or(0)
    }

    /// Rows dropped for a table, all reasons.
    pub fn dropped_total(&self, table: &str) -> u64 {
        self.lock().dropped.iter().filter(|((t, _), _)| t == table).map(|(_, v)| *v).sum()
    }

    /// Rows sent for a table.
    pub fn sent_total(&self, table: &str) -> u64 {
        self.lock().sent.get(table).copied().unwrap_or(0)
    }

    /// A named counter's value.
    pub fn counter(&self, name: &str) -> u64 {
        self.lock().counters.get(name).copied().unwrap_or(0)
    }

    /// Renders everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let g = self.lock();
        let mut s = String::new();
        let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = writeln!(s, "# HELP keelwatch_agent_rows_collected_total Rows produced by the collectors.");
        let _ = writeln!(s, "# TYPE keelwatch_agent_rows_collected_total counter");
        for (t, v) in &g.collected {
            let _ = writeln!(s, "keelwatch_agent_rows_collected_total{{table=\"{}\"}} {v}", esc(t));
        }
        let _ = writeln!(s, "# HELP keelwatch_agent_rows_sent_total Rows delivered to the output.");
        let _ = writeln!(s, "# TYPE keelwatch_agent_rows_sent_total counter");
        for (t, v) in &g.sent {
            let _ = writeln!(s, "keelwatch_agent_rows_sent_total{{table=\"{}\"}} {v}", esc(t));
        }
        let _ = writeln!(s, "# HELP keelwatch_agent_rows_dropped_total Rows dropped, by reason.");
        let _ = writeln!(s, "# TYPE keelwatch_agent_rows_dropped_total counter");
        for ((t, r), v) in &g.dropped {
            let _ = writeln!(s, "keelwatch_agent_rows_dropped_total{{table=\"{}\",reason=\"{}\"}} {v}", esc(t), esc(r));
        }
        for (name, help) in COUNTER_HELP {
            let _ = writeln!(s, "# HELP keelwatch_agent_{name}_total {help}");
            let _ = writeln!(s, "# TYPE keelwatch_agent_{name}_total counter");
            let _ = writeln!(s, "keelwatch_agent_{name}_total {}", g.counters.get(name).copied().unwrap_or(0));
        }
        let _ = writeln!(s, "# HELP keelwatch_agent_buffer_bytes Bytes in the on-disk buffer.");
        let _ = writeln!(s, "# TYPE keelwatch_agent_buffer_bytes gauge");
        let _ = writeln!(s, "keelwatch_agent_buffer_bytes {}", g.buffer_bytes);
        let _ = writeln!(s, "# HELP keelwatch_agent_buffer_segments Batches in the on-disk buffer.");
        let _ = writeln!(s, "# TYPE keelwatch_agent_buffer_segments gauge");
        let _ = writeln!(s, "keelwatch_agent_buffer_segments {}", g.buffer_segments);
        let _ = writeln!(s, "# HELP keelwatch_agent_buffer_rows Rows in the on-disk buffer, by table.");
        let _ = writeln!(s, "# TYPE keelwatch_agent_buffer_rows gauge");
        for (t, v) in &g.buffer_rows {
            let _ = writeln!(s, "keelwatch_agent_buffer_rows{{table=\"{}\"}} {v}", esc(t));
        }
        drop(g);
        let (cpu, rss) = crate::procfs::self_usage();
        let _ = writeln!(s, "# HELP process_cpu_seconds_total Agent user and system CPU time.");
        let _ = writeln!(s, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(s, "process_cpu_seconds_total {cpu}");
        let _ = writeln!(s, "# HELP process_resident_memory_bytes Agent resident set size.");
        let _ = writeln!(s, "# TYPE process_resident_memory_bytes gauge");
        let _ = writeln!(s, "process_resident_memory_bytes {rss}");
        s
    }
}

/// Serves `GET /metrics` on `addr` until `stop` is set. Returns the bound address.
pub fn serve(addr: &str, stats: Arc<Stats>, stop: Arc<AtomicBool>) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| AgentError::Config(format!("--metrics-listen {addr}: cannot bind: {e}")))?;
    let local = listener.local_addr().map_err(|e| AgentError::Config(format!("--metrics-listen {addr}: {e}")))?;
    listener.set_nonblocking(true).map_err(|e| AgentError::Config(format!("--metrics-listen {addr}: {e}")))?;
    std::thread::Builder::new()
        .name("agent-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = respond(conn, &stats);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })
        .map_err(|e| AgentError::Config(format!("cannot start the metrics thread: {e}")))?;
    Ok(local)
}

fn respond(mut conn: TcpStream, stats: &Stats) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 8192];
    let mut n = 0;
    while n < buf.len() {
        let k = conn.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let req = String::from_utf8_lossy(&buf[..n]);
    let first = req.lines().next().unwrap_or("");
    let (status, ctype, body) = if first.starts_with("GET /metrics ") || first.starts_with("GET /metrics?") {
        ("200 OK", "text/plain; version=0.0.4", stats.render())
    } else if first.starts_with("GET /healthz ") {
        ("200 OK", "text/plain", "ok\n".to_string())
    } else {
        ("404 Not Found", "text/plain", "not found: try GET /metrics\n".to_string())
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_metrics() {
        let stats = Arc::new(Stats::default());
        stats.buffered("Perf", 5, &[], 100, 1);
        stats.buffered("Perf", 2, &[("Perf".to_string(), 1)], 123, 2);
        stats.unbuffered("Perf", 4, Outcome::Sent, 50, 1);
        assert_eq!(stats.collected_total("Perf"), 7);
        assert_eq!(stats.buffer_rows("Perf"), 2);
        assert_eq!(stats.collected_total("Perf"), stats.sent_total("Perf") + stats.dropped_total("Perf") + 2);
        let stop = Arc::new(AtomicBool::new(false));
        let addr = serve("127.0.0.1:0", stats.clone(), stop.clone()).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("keelwatch_agent_rows_collected_total{table=\"Perf\"} 7"));
        assert!(out.contains("keelwatch_agent_rows_dropped_total{table=\"Perf\",reason=\"buffer_full\"} 1"));
        assert!(out.contains("keelwatch_agent_buffer_bytes 50"));
        assert!(out.contains("keelwatch_agent_buffer_rows{table=\"Perf\"} 2"));
        assert!(out.contains("process_resident_memory_bytes "));
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 404"));
        stop.store(true, Ordering::Relaxed);
    }
}
