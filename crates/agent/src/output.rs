//! Sinks for rows: NDJSON on stdout or in a file (each row gets a leading `"Type":<table>`
//! key, as Log Analytics exports do), or the on-disk [`Spool`] in front of the HTTP sender.
//!
//! For a file sink the checkpoint records the file length matching it; on start the file is
//! cut back to that length, so lines written after the last checkpoint (which will be read
//! again) appear exactly once.
//!
//! Rows travel as [`RawRows`]: each row already rendered as the members of a JSON object
//! (`"A":1,"B":"x"`). The hot path (container logs, ~1,000 rows/s) writes them directly,
//! never building a `serde_json::Value`; the sink only adds `{"Type":…,` / `{` and `}`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::error::{AgentError, Result};
use crate::selfmetrics::Stats;
use crate::spool::Spool;

/// A row destination.
pub enum Sink {
    /// Standard output.
    Stdout,
    /// An NDJSON file.
    File {
        /// Its path.
        path: PathBuf,
        /// The open file (append mode).
        file: File,
    },
    /// The disk buffer feeding the HTTP sender.
    Spool(Arc<Spool>),
}

/// Rows of one table, each rendered as JSON object members without the braces
/// (`"A":1,"B":"x"`), stored back to back in one buffer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawRows {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl RawRows {
    /// No rows.
    pub fn new() -> Self {
        RawRows::default()
    }

    /// Adds one row: `f` appends its members (`"A":1,"B":"x"`) to the buffer it is given.
    pub fn push_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.buf);
        self.ends.push(self.buf.len());
    }

    /// Adds a row from a JSON object value (a non-object becomes `{"Value": …}`).
    pub fn push_value(&mut self, row: &Value) {
        self.push_with(|out| match row {
            Value::Object(m) => {
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    let _ = serde_json::to_writer(&mut *out, v);
                }
            }
            other => {
                out.extend_from_slice(b"\"Value\":");
                let _ = serde_json::to_writer(&mut *out, other);
            }
        });
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The members of each row, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.buf[a..b])
    }

    /// The rows as JSON values (for tests and tools; the agent itself never needs this).
    pub fn to_values(&self) -> Vec<Value> {
        self.iter()
            .map(|m| {
                let mut line = Vec::with_capacity(m.len() + 2);
                line.push(b'{');
                line.extend_from_slice(m);
                line.push(b'}');
                serde_json::from_slice(&line).unwrap_or(Value::Null)
            })
            .collect()
    }
}

impl From<&[Value]> for RawRows {
    fn from(rows: &[Value]) -> Self {
        let mut r = RawRows::new();
        for v in rows {
            r.push_value(v);
        }
        r
    }
}

/// One NDJSON line for a row of `table`: the row object with a leading `"Type"` key.
pub fn typed_line(table: &str, row: &Value) -> String {
    let body = row.to_string();
    let ty = Value::String(table.to_string()).to_string();
    match body.strip_prefix('{') {
        Some("}") => format!("{{\"Type\":{ty}}}"),
        Some(rest) => format!("{{\"Type\":{ty},{rest}"),
        None => format!("{{\"Type\":{ty},\"Value\":{body}}}"),
    }
}

impl Sink {
    /// Opens a file sink, cutting it back to `keep_len` when it is longer.
    pub fn open_file(path: &Path, keep_len: Option<u64>) -> Result<Sink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| AgentError::io("create directory", dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| AgentError::io("open output", path, e))?;
        if let Some(n) = keep_len {
            let len = file.metadata().map_err(|e| AgentError::io("stat", path, e))?.len();
            if len > n {
                file.set_len(n).map_err(|e| AgentError::io("truncate output", path, e))?;
                tracing::info!(file = %path.display(), removed = len - n, "removed lines written after the last checkpoint");
            }
        }
        Ok(Sink::File { path: path.to_path_buf(), file })
    }

    /// Current length of a file sink.
    pub fn output_len(&self) -> Option<u64> {
        match self {
            Sink::File { file, .. } => file.metadata().ok().map(|m| m.len()),
            _ => None,
        }
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|_| out.flush())
                    .map_err(|e| AgentError::Output { target: "stdout".into(), detail: e.to_string() })
            }
            Sink::File { path, file } => file
                .write_all(bytes)
                .and_then(|_| file.sync_data())
                .map_err(|e| AgentError::io("write output", path.as_path(), e)),
            Sink::Spool(_) => Ok(()),
        }
    }

    /// Writes one table's rows given as values (metrics, inventory); see [`write_raw`](Self::write_raw).
    pub fn write_rows(
        &mut self,
        table: &str,
        rows: &[Value],
        checkpoint: Option<&mut Checkpoint>,
        stats: &Stats,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write_raw(table, &RawRows::from(rows), checkpoint, stats)
    }

    /// Writes one table's rows. For the spool the rows are split into segments of at most
    /// [`Spool::max_segment_bytes`], and `checkpoint` (if any) gets the batch's sequence
    /// number and travels with the last segment of the batch. Row counters are updated by
    /// the spool (or here for stdout/file) only once the rows are written.
    pub fn write_raw(
        &mut self,
        table: &str,
        rows: &RawRows,
        checkpoint: Option<&mut Checkpoint>,
        stats: &Stats,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Sink::Spool(spool) => {
                let limit = spool.max_segment_bytes();
                let mut cp = checkpoint;
                let mut body: Vec<u8> = Vec::with_capacity(limit.min(rows.buf.len() + 2 * rows.len()));
                let mut n = 0u64;
                let last = rows.len() - 1;
                for (i, members) in rows.iter().enumerate() {
                    let line_len = members.len() + 3;
                    if n > 0 && body.len() + line_len > limit {
                        spool.append(spool.reserve_seq(), table, &body, n, None)?;
                        body.clear();
                        n = 0;
                    }
                    body.push(b'{');
                    body.extend_from_slice(members);
                    body.extend_from_slice(b"}\n");
                    n += 1;
                    if i == last {
                        let seq = spool.reserve_seq();
                        let attach = cp.as_deref_mut().map(|c| {
                            c.seq = seq;
                            &*c
                        });
                        spool.append(seq, table, &body, n, attach)?;
                    }
                }
                Ok(())
            }
            _ => {
                let mut prefix = b"{\"Type\":".to_vec();
                let _ = serde_json::to_writer(&mut prefix, table);
                let mut buf = Vec::with_capacity(rows.buf.len() + rows.len() * (prefix.len() + 3));
                for members in rows.iter() {
                    buf.extend_from_slice(&prefix);
                    if !members.is_empty() {
                        buf.push(b',');
                        buf.extend_from_slice(members);
                    }
                    buf.extend_from_slice(b"}\n");
                }
                self.write_bytes(&buf)?;
                stats.written(table, rows.len() as u64);
                Ok(())
            }
        }
    }

    /// Writes pre-rendered lines (process events) to a stdout or file sink.
    pub fn write_lines(&mut self, lines: &[String]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        self.write_bytes(buf.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_rows_render_like_typed_lines() {
        let values = vec![serde_json::json!({"a": 1, "b": "x\"y"}), serde_json::json!({}), serde_json::json!([1])];
        let raw = RawRows::from(values.as_slice());
        assert_eq!(raw.len(), 3);
        assert_eq!(raw.to_values()[0], values[0]);
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("out.ndjson");
        let mut sink = Sink::open_file(&path, None).unwrap();
        let stats = Stats::default();
        sink.write_raw("Perf", &raw, None, &stats).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let want: Vec<String> = values.iter().map(|v| typed_line("Perf", v)).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), want);
        assert_eq!(stats.sent_total("Perf"), 3);
    }

    #[test]
    fn typed_lines() {
        let l = typed_line("Perf", &serde_json::json!({"a": 1, "b": "x"}));
        assert_eq!(l, r#"{"Type":"Perf","a":1,"b":"x"}"#);
        assert_eq!(typed_line("T", &serde_json::json!({})), r#"{"Type":"T"}"#);
        let v: Value = serde_json::from_str(&typed_line("T", &serde_json::json!([1]))).unwrap();
        assert_eq!(v["Value"][0], 1);
    }
}
