//! Per-table manifests: the commit point of the store.
//!
//! `<root>/manifest/<Table>.json` lists the table's committed Parquet files (with the WAL LSN
//! range and time range each covers) and `flushed_lsn`, the highest WAL LSN whose rows are in
//! committed files. A Parquet file not listed is uncommitted (a crash between writing it and
//! committing) and is deleted at start-up; WAL records with LSN ≤ `flushed_lsn` are never
//! replayed. Manifests are replaced atomically: write `<Table>.json.tmp`, fsync, rename,
//! fsync the directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One committed Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Hour bucket (hours since the Unix epoch) of the partition.
    pub hour: i64,
    /// Smallest TimeGenerated (ns since epoch).
    pub min_time: i64,
    /// Largest TimeGenerated (ns since epoch).
    pub max_time: i64,
    /// Lowest WAL LSN whose rows are in the file.
    pub first_lsn: u64,
    /// Highest WAL LSN whose rows are in the file.
    pub last_lsn: u64,
    /// zstd level the file was written with (3 for files from before this was recorded, the
    /// only level used then). Compaction rewrites files below the workspace's level.
    #[serde(default = "level_before_recorded")]
    pub zstd_level: i32,
    /// The shadow columns the file has ([`crate::shadow`]; none in files from before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadow_columns: Vec<String>,
}

fn level_before_recorded() -> i32 {
    3
}

/// A table's manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Format version (1).
    pub version: u32,
    /// Table name.
    pub table: String,
    /// Highest WAL LSN durable in committed files.
    pub flushed_lsn: u64,
    /// Retention in days, when set for this table (else the workspace default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Committed files.
    pub files: Vec<FileEntry>,
}

pub(crate) fn manifest_path(root: &Path, table: &str) -> PathBuf {
    root.join("manifest").join(format!("{table}.json"))
}

/// Loads a table's manifest, `None` when the table has none yet.
pub(crate) fn load(root: &Path, table: &str) -> Result<Option<TableManifest>> {
    let path = manifest_path(root, table);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io { op: "read manifest", path, source: e }),
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| Error::CorruptManifest { path, message: e.to_string() })
}

/// Replaces a table's manifest atomically and durably.
pub(crate) fn store(root: &Path, m: &TableManifest) -> Result<()> {
    let path = manifest_path(root, &m.table);
    let dir = root.join("manifest");
    std::fs::create_dir_all(&dir).map_err(Error::io("create manifest directory", &dir))?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::CorruptManifest { path: path.clone(), message: e.to_string() })?;
    let mut f = std::fs::File::create(&tmp).map_err(Error::io("create manifest", &tmp))?;
    f.write_all(&text).map_err(Error::io("write manifest", &tmp))?;
    f.sync_all().map_err(Error::io("fsync manifest", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(Error::io("rename manifest", &path))?;
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(Error::io("fsync directory", &dir))
}
