//! The bounded on-disk buffer between the collectors and the HTTP sender.
//!
//! One batch = one segment file `<seq:020>.seg` in the buffer directory: a JSON header line
//! (`{"keelwatch_segment":1,"table":…,"rows":…,"checkpoint":…}`) followed by the rows as
//! NDJSON — exactly the request body the sender posts. Segments are written to a temp file,
//! fsynced and renamed, so a crash leaves whole segments only. A log batch carries the log
//! checkpoint that covers it: after a crash the newest such checkpoint wins over the
//! checkpoint file, so lines are neither lost nor read twice.
//!
//! Invariants:
//! - a segment holds at most [`Spool::max_segment_bytes`] of rows (an eighth of the bound,
//!   at most 6 MiB), so eviction is fine-grained and the bound is strict: after every append
//!   the total is ≤ max_bytes (the in-flight segment and the new one are never evicted, and
//!   together they are at most a quarter of the bound);
//! - when over, the oldest segments not in flight are deleted and their rows counted as
//!   dropped (`buffer_full`) — in the same [`Stats`] update that counts the new rows as
//!   collected, so `collected == sent + dropped + buffered` holds at every scrape;
//! - segments are handed to the sender oldest first, one at a time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::checkpoint::Checkpoint;
use crate::error::{AgentError, Result};
use crate::selfmetrics::{Outcome, Stats};

/// Largest segment body (the ingestion API refuses bodies over 8 MiB).
pub const MAX_SEGMENT_BYTES: usize = 6 << 20;

/// Metadata of one buffered batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number (also the file name).
    pub seq: u64,
    /// Destination table.
    pub table: String,
    /// Number of rows.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    segs: BTreeMap<u64, Segment>,
    total: u64,
    next_seq: u64,
    in_flight: Option<u64>,
}

/// The on-disk buffer.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    cond: Condvar,
    stats: Arc<Stats>,
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn read_header(path: &Path) -> Option<Value> {
    // Headers are small; cap at 64 MiB (a checkpoint for very many streams).
    let f = std::fs::File::open(path).ok()?;
    let mut line = String::new();
    BufReader::new(std::io::Read::take(f, 64 << 20)).read_line(&mut line).ok().filter(|n| *n > 0)?;
    serde_json::from_str(&line).ok()
}

impl Spool {
    /// Opens (creating) the buffer directory, indexes existing segments and returns the
    /// newest checkpoint embedded in them, if any.
    pub fn open(dir: &Path, max_bytes: u64, stats: Arc<Stats>) -> Result<(Arc<Spool>, Option<Checkpoint>)> {
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io("create directory", dir, e))?;
        let mut st = State::default();
        let rd = std::fs::read_dir(dir).map_err(|e| AgentError::io("list", dir, e))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(seq) = name.strip_suffix(".seg").and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let Some(h) = read_header(&e.path()) else {
                tracing::warn!(file = %e.path().display(), "removing unreadable buffer segment");
                let _ = std::fs::remove_file(e.path());
                continue;
            };
            let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
            st.total += bytes;
            st.segs.insert(
                seq,
                Segment {
                    seq,
                    table: h["table"].as_str().unwrap_or("").to_string(),
                    rows: h["rows"].as_u64().unwrap_or(0),
                    bytes,
                },
            );
        }
        st.next_seq = st.segs.keys().next_back().map(|s| s + 1).unwrap_or(1);
        let mut newest_cp = None;
        for seq in st.segs.keys().rev() {
            if let Some(h) = read_header(&seg_path(dir, *seq))
                && !h["checkpoint"].is_null()
            {
                let path = seg_path(dir, *seq);
                let bytes = serde_json::to_vec(&h["checkpoint"]).unwrap_or_default();
                newest_cp = Some(Checkpoint::decode(&bytes, &path)?);
                break;
            }
        }
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        for seg in st.segs.values() {
            *rows.entry(seg.table.clone()).or_default() += seg.rows;
        }
        stats.set_buffer(st.total, st.segs.len() as u64, rows);
        Ok((
            Arc::new(Spool { dir: dir.to_path_buf(), max_bytes, state: Mutex::new(st), cond: Condvar::new(), stats }),
            newest_cp,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The buffer directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reserves the next sequence number.
    pub fn reserve_seq(&self) -> u64 {
        let mut st = self.lock();
        let s = st.next_seq;
        st.next_seq += 1;
        s
    }

    /// The largest NDJSON body one segment may hold: an eighth of the buffer bound, at
    /// least 4 KiB and at most [`MAX_SEGMENT_BYTES`].
    pub fn max_segment_bytes(&self) -> usize {
        usize::try_from(self.max_bytes / 8).unwrap_or(usize::MAX).clamp(4 << 10, MAX_SEGMENT_BYTES)
    }

    /// Durably appends a batch under a reserved `seq`: `body` is `rows` NDJSON lines (each
    /// ending in `\n`). Then enforces the size bound, deleting the oldest segments.
    pub fn append(&self, seq: u64, table: &str, body: &[u8], rows: u64, checkpoint: Option<&Checkpoint>) -> Result<()> {
        let path = seg_path(&self.dir, seq);
        let tmp = path.with_extension("tmp");
        let header = json!({
            "keelwatch_segment": 1,
            "table": table,
            "rows": rows,
            "checkpoint": checkpoint,
        });
        let mut head = serde_json::to_vec(&header)
            .map_err(|e| AgentError::Output { target: self.dir.display().to_string(), detail: e.to_string() })?;
        head.push(b'\n');
        let mut f = std::fs::File::create(&tmp).map_err(|e| AgentError::io("create", &tmp, e))?;
        f.write_all(&head).and_then(|_| f.write_all(body)).map_err(|e| AgentError::io("write", &tmp, e))?;
        f.sync_data().map_err(|e| AgentError::io("fsync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| AgentError::io("rename into place", &path, e))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        let bytes = (head.len() + body.len()) as u64;
        let mut st = self.lock();
        st.total += bytes;
        st.segs.insert(seq, Segment { seq, table: table.to_string(), rows, bytes });
        let mut evicted = Vec::new();
        while st.total > self.max_bytes {
            let victim = st.segs.keys().copied().find(|s| Some(*s) != st.in_flight && *s != seq);
            let Some(v) = victim else { break };
            if let Some(seg) = st.segs.remove(&v) {
                st.total -= seg.bytes;
                let _ = std::fs::remove_file(seg_path(&self.dir, v));
                tracing::warn!(table = %seg.table, rows = seg.rows, "buffer full: dropped the oldest batch");
                evicted.push((seg.table, seg.rows));
            }
        }
        self.stats.buffered(table, rows, &evicted, st.total, st.segs.len() as u64);
        drop(st);
        self.cond.notify_all();
        Ok(())
    }

    /// Waits up to `wait` for the oldest segment and marks it in flight.
    pub fn next(&self, wait: Duration, stop: &AtomicBool) -> Option<Segment> {
        let mut st = self.lock();
        if st.in_flight.is_none() && st.segs.is_empty() && !stop.load(Ordering::Relaxed) {
            st = self.cond.wait_timeout(st, wait).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
        if st.in_flight.is_some() {
            return None;
        }
        let seg = st.segs.values().next().cloned()?;
        st.in_flight = Some(seg.seq);
        Some(seg)
    }

    /// The request body of a segment (the NDJSON rows after the header line).
    pub fn body(&self, seg: &Segment) -> Result<Vec<u8>> {
        let path = seg_path(&self.dir, seg.seq);
        let bytes = std::fs::read(&path).map_err(|e| AgentError::io("read", &path, e))?;
        let start = bytes.iter().position(|b| *b == b'\n').map(|p| p + 1).unwrap_or(bytes.len());
        Ok(bytes[start..].to_vec())
    }

    /// Removes a delivered (or permanently rejected) segment and accounts for its rows.
    pub fn complete(&self, seq: u64, outcome: Outcome<'_>) {
        let mut st = self.lock();
        if st.in_flight == Some(seq) {
            st.in_flight = None;
        }
        if let Some(seg) = st.segs.remove(&seq) {
            st.total -= seg.bytes;
            let _ = std::fs::remove_file(seg_path(&self.dir, seq));
            self.stats.unbuffered(&seg.table, seg.rows, outcome, st.total, st.segs.len() as u64);
        }
        drop(st);
        self.cond.notify_all();
    }

    /// Returns an in-flight segment to the queue after a failed attempt.
    pub fn release(&self, seq: u64) {
        let mut st = self.lock();
        if st.in_flight == Some(seq) {
            st.in_flight = None;
        }
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> u64 {
        self.lock().total
    }

    /// Batches buffered (including one in flight).
    pub fn len(&self) -> usize {
        self.lock().segs.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows buffered per table.
    pub fn rows_by_table(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in self.lock().segs.values() {
            *out.entry(s.table.clone()).or_default() += s.rows;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndjson(rows: &[Value]) -> Vec<u8> {
        let mut b = Vec::new();
        for r in rows {
            serde_json::to_writer(&mut b, r).unwrap();
            b.push(b'\n');
        }
        b
    }

    #[test]
    fn bounded_and_recovers_checkpoint() {
        let t = tempfile::tempdir().unwrap();
        let stats = Arc::new(Stats::default());
        let (sp, cp) = Spool::open(t.path(), 2000, stats.clone()).unwrap();
        assert!(cp.is_none());
        let rows: Vec<Value> = (0..5).map(|i| json!({"i": i, "pad": "x".repeat(100)})).collect();
        let body = ndjson(&rows);
        for _ in 0..6 {
            let seq = sp.reserve_seq();
            sp.append(seq, "Perf", &body, 5, None).unwrap();
        }
        assert!(sp.bytes() <= 2000, "{}", sp.bytes());
        assert!(stats.dropped_total("Perf") >= 5);
        let kept = sp.len() as u64;
        assert_eq!(stats.dropped_total("Perf") + kept * 5, 30);
        assert_eq!(stats.buffer_rows("Perf"), kept * 5);
        let mut c = Checkpoint::default();
        let seq = sp.reserve_seq();
        c.seq = seq;
        sp.append(seq, "ContainerLogV2", &ndjson(&rows[..1]), 1, Some(&c)).unwrap();
        let stop = AtomicBool::new(false);
        let first = sp.next(Duration::from_millis(10), &stop).unwrap();
        assert!(sp.next(Duration::from_millis(10), &stop).is_none(), "one in flight at a time");
        let body = sp.body(&first).unwrap();
        assert_eq!(body.iter().filter(|b| **b == b'\n').count(), 5);
        sp.complete(first.seq, Outcome::Sent);
        assert_eq!(stats.sent_total("Perf"), 5);
        drop(sp);
        let (sp2, cp2) = Spool::open(t.path(), 2000, stats).unwrap();
        assert_eq!(cp2.unwrap().seq, seq);
        assert_eq!(sp2.reserve_seq(), seq + 1);
        assert_eq!(sp2.rows_by_table()["ContainerLogV2"], 1);
    }

    /// Overflow while the oldest segment is in flight (the endpoint is down): the bound is
    /// strict, the in-flight segment survives, and after it and the rest are delivered every
    /// row is either sent or counted as dropped — and the counters agree at every step.
    #[test]
    fn overflow_accounting_is_exact_with_a_segment_in_flight() {
        let t = tempfile::tempdir().unwrap();
        let stats = Arc::new(Stats::default());
        let max = 64 << 10;
        let (sp, _) = Spool::open(t.path(), max, stats.clone()).unwrap();
        assert_eq!(sp.max_segment_bytes(), 8 << 10);
        let row = |i: u64| json!({"i": i, "pad": "y".repeat(200)});
        let invariant = |stats: &Stats| {
            let t = "ContainerLogV2";
            assert_eq!(
                stats.collected_total(t),
                stats.sent_total(t) + stats.dropped_total(t) + stats.buffer_rows(t),
                "collected = sent + dropped + buffered"
            );
        };
        let stop = AtomicBool::new(false);
        let mut written = 0u64;
        let mut in_flight = None;
        for batch in 0..100u64 {
            let rows: Vec<Value> = (0..20).map(|i| row(batch * 20 + i)).collect();
            let body = ndjson(&rows);
            assert!(body.len() <= sp.max_segment_bytes());
            let seq = sp.reserve_seq();
            sp.append(seq, "ContainerLogV2", &body, 20, None).unwrap();
            written += 20;
            assert!(sp.bytes() <= max, "bound is strict: {} > {max}", sp.bytes());
            invariant(&stats);
            if batch == 3 {
                in_flight = sp.next(Duration::from_millis(1), &stop);
            }
        }
        let held = in_flight.expect("a segment in flight");
        assert!(sp.body(&held).is_ok(), "the in-flight segment is never evicted");
        assert!(stats.dropped_total("ContainerLogV2") > 0);
        sp.complete(held.seq, Outcome::Sent);
        while let Some(seg) = sp.next(Duration::from_millis(1), &stop) {
            sp.complete(seg.seq, Outcome::Sent);
            invariant(&stats);
        }
        assert!(sp.is_empty());
        assert_eq!(stats.sent_total("ContainerLogV2") + stats.dropped_total("ContainerLogV2"), written);
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0, "no segment file left behind");
    }
}
