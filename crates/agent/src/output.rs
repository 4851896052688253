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

/// Largest body a batch may reach before it is split (the ingestion API limit is 8 MiB).
pub const MAX_BATCH_BYTES: usize = 6 << 20;

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

    /// Writes one table's rows. For the spool, `checkpoint` (if any) gets the batch's
    /// sequence number and travels with the last segment of the batch.
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
        stats.collected(table, rows.len() as u64);
        match self {
            Sink::Spool(spool) => {
                // Split into bodies below MAX_BATCH_BYTES.
                let mut chunks: Vec<&[Value]> = Vec::new();
                let (mut start, mut size) = (0usize, 0usize);
                for (i, r) in rows.iter().enumerate() {
                    let n = serde_json::to_string(r).map(|s| s.len() + 1).unwrap_or(0);
                    if size + n > MAX_BATCH_BYTES && i > start {
                        chunks.push(&rows[start..i]);
                        start = i;
                        size = 0;
                    }
                    size += n;
                }
                chunks.push(&rows[start..]);
                let last = chunks.len() - 1;
                let mut cp = checkpoint;
                for (i, chunk) in chunks.into_iter().enumerate() {
                    let seq = spool.reserve_seq();
                    let attach = if i == last {
                        cp.as_deref_mut().map(|c| {
                            c.seq = seq;
                            &*c
                        })
                    } else {
                        None
                    };
                    spool.append(seq, table, chunk, attach)?;
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
                stats.sent(table, rows.len() as u64);
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
