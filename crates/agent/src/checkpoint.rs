//! Log checkpoints: for every tailed log stream, which file (device + inode + a hash of its
//! first bytes) and which byte offset has been shipped.
//!
//! Invariant: a checkpoint is written only after the rows up to its offsets are durable in
//! the output (file/stdout written, or the spool segment renamed into place). It is replaced
//! atomically (write temp, fsync, rename, fsync directory), so a crash leaves either the old
//! or the new checkpoint, never a torn one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{AgentError, Result};

/// How many leading bytes of a file identify it (with device and inode).
pub const HEAD_BYTES: usize = 256;
/// Current checkpoint format version.
pub const VERSION: u32 = 1;
/// Largest checkpoint file accepted (guards against a corrupt or hostile file).
pub const MAX_CHECKPOINT_BYTES: usize = 64 << 20;

/// Identity of one log file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// How many leading bytes `head_hash` covers (≤ [`HEAD_BYTES`]).
    pub head_len: u32,
    /// FNV-1a hash of the first `head_len` bytes (of the decompressed content for `.gz`).
    pub head_hash: u64,
}

/// Position in one log stream (one `<container>/<n>.log` and its rotated predecessors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPos {
    /// The file being read (the live file, or a rotated one still being drained).
    pub file: FileId,
    /// Bytes of `file` consumed (always at a line boundary).
    pub offset: u64,
    /// True while dropping the rest of an over-long message (until its `F` line).
    #[serde(default)]
    pub skipping: bool,
    /// Rotation suffixes up to and including this one are older than `file` (already read).
    #[serde(default)]
    pub rotated_floor: String,
}

/// The whole checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Sequence number of the batch this checkpoint belongs to.
    pub seq: u64,
    /// For `file:` output: the output file length that matches this checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_len: Option<u64>,
    /// Streams keyed by the path of their live file.
    pub streams: BTreeMap<String, StreamPos>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { version: VERSION, seq: 0, output_len: None, streams: BTreeMap::new() }
    }
}

impl Checkpoint {
    /// Decodes checkpoint bytes; `path` only names the source in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let err = |detail: String| AgentError::Checkpoint { path: path.into(), detail };
        if bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(err(format!("{} bytes is larger than the {MAX_CHECKPOINT_BYTES} byte limit", bytes.len())));
        }
        let cp: Checkpoint = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("invalid JSON at line {} column {}: {e}", e.line(), e.column())))?;
        if cp.version != VERSION {
            return Err(err(format!("version {} is not supported (expected {VERSION})", cp.version)));
        }
        for (k, s) in &cp.streams {
            if s.file.head_len as usize > HEAD_BYTES {
                return Err(err(format!("streams.{k:?}.file.head_len {} exceeds {HEAD_BYTES}", s.file.head_len)));
            }
        }
        Ok(cp)
    }

    /// Encodes as JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Loads a checkpoint file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        match std::fs::read(path) {
            Ok(bytes) => Checkpoint::decode(&bytes, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AgentError::io("read", path, e)),
        }
    }

    /// Atomically replaces the checkpoint file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.encode())
    }
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| AgentError::io("create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| AgentError::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| AgentError::io("fsync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| AgentError::io("rename into place", path, e))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("cp.json");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        let mut cp = Checkpoint { seq: 7, ..Default::default() };
        cp.streams.insert(
            "/var/log/pods/a_b_c/app/0.log".into(),
            StreamPos {
                file: FileId { dev: 1, ino: 2, head_len: 10, head_hash: 3 },
                offset: 99,
                skipping: false,
                rotated_floor: "20261127-090000".into(),
            },
        );
        cp.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(cp));
        assert!(!t.path().join("cp.tmp").exists());
        for bad in [&b"{"[..], br#"{"version":2,"seq":0,"streams":{}}"#, br#"{"version":1,"seq":0,"streams":{"x":{"file":{"dev":0,"ino":0,"head_len":9999,"head_hash":0},"offset":0}}}"#] {
            let e = Checkpoint::decode(bad, Path::new("cp.json")).unwrap_err().to_string();
            assert!(e.contains("cp.json"), "{e}");
        }
    }
}
