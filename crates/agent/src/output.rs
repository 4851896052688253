//! Sinks for rows: NDJSON on stdout or in a file (each row gets a leading `"Type":<table>`
//! key, as Log Analytics exports do), or the on-disk [`Spool`] in front of the HTTP sender.
//!
//! For a file sink the checkpoint records the file length matching it; on start the file is
//! cut back to that length, so lines written after the last checkpoint (which will be read
//! again) appear exactly once.

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

    /// Writes one table's rows. For the spool the rows are split into segments of at most
    /// [`Spool::max_segment_bytes`], and `checkpoint` (if any) gets the batch's sequence
    /// number and travels with the last segment of the batch. Row counters are updated by
    /// the spool (or here for stdout/file) only once the rows are written.
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
        match self {
            Sink::Spool(spool) => {
                let limit = spool.max_segment_bytes();
                let mut cp = checkpoint;
                let mut body: Vec<u8> = Vec::with_capacity(limit.min(rows.len() * 512));
                let mut n = 0u64;
                let mut line = Vec::with_capacity(1024);
                for (i, r) in rows.iter().enumerate() {
                    line.clear();
                    serde_json::to_writer(&mut line, r)
                        .map_err(|e| AgentError::Output { target: "buffer".into(), detail: e.to_string() })?;
                    line.push(b'\n');
                    if n > 0 && body.len() + line.len() > limit {
                        spool.append(spool.reserve_seq(), table, &body, n, None)?;
                        body.clear();
                        n = 0;
                    }
                    body.extend_from_slice(&line);
                    n += 1;
                    if i + 1 == rows.len() {
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
                let mut buf = String::with_capacity(rows.len() * 256);
                for r in rows {
                    buf.push_str(&typed_line(table, r));
                    buf.push('\n');
                }
                self.write_bytes(buf.as_bytes())?;
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
    fn typed_lines() {
        let l = typed_line("Perf", &serde_json::json!({"a": 1, "b": "x"}));
        assert_eq!(l, r#"{"Type":"Perf","a":1,"b":"x"}"#);
        assert_eq!(typed_line("T", &serde_json::json!({})), r#"{"Type":"T"}"#);
        let v: Value = serde_json::from_str(&typed_line("T", &serde_json::json!([1]))).unwrap();
        assert_eq!(v["Value"][0], 1);
    }
}
