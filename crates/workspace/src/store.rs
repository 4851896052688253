//! The workspace store: open/recover, append, flush, compaction, retention and snapshots.
//!
//! Per table: appends go to the WAL (one record per request) and to an in-memory buffer of
//! Arrow batches under the table mutex; durability (fsync, group commit) happens after the
//! mutex is released. A flush takes the whole buffer, rotates the WAL, writes one Parquet file
//! per UTC hour, commits the manifest (new files + `flushed_lsn`), then swaps buffer → files in
//! memory under the mutex (readers see each row exactly once at every instant) and deletes the
//! WAL segments the manifest now covers. Flush, compaction and retention of a table are
//! serialised by a per-table maintenance mutex.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use keelwatch_tables::TableSchema;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::{self, FileEntry, TableManifest};
use crate::parquet_io;
use crate::rows::{self, ParsedRows, UnknownColumns};
use crate::wal::{self, Segment, WalWriter};

/// When appends are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fdatasync` the WAL before an append returns (group commit shares one fsync between
    /// concurrent appenders). Default: an acknowledged row survives a crash or power loss.
    #[default]
    Always,
    /// Leave writing back to the OS: an acknowledged row survives a process crash (`kill -9`)
    /// but not a power loss. For benchmarks and bulk loads.
    Never,
}

/// Tuning of a workspace. `Default` is what `keelwatch` uses.
#[derive(Debug, Clone)]
pub struct WorkspaceOptions {
    /// When appends are durable.
    pub fsync: FsyncPolicy,
    /// Flush a table's buffer when it holds this many rows ...
    pub flush_rows: usize,
    /// ... or this many bytes of Arrow memory ...
    pub flush_bytes: usize,
    /// ... or its oldest row is this old.
    pub flush_age: Duration,
    /// Appends fail with [`Error::BufferFull`] while all buffers together exceed this.
    pub max_buffer_bytes: usize,
    /// Flush inside `append` when a threshold is reached (CLI ingest). A server sets this to
    /// false and calls [`Workspace::maintain`] from a background thread instead.
    pub inline_flush: bool,
    /// Days of data kept for tables without their own retention; `None` keeps everything.
    pub default_retention_days: Option<u32>,
    /// Files smaller than this are merged by compaction ...
    pub compact_small_file_bytes: u64,
    /// ... into files of up to this size.
    pub compact_target_bytes: u64,
    /// [`Workspace::maintain`] compacts at most this often.
    pub compact_interval: Duration,
    /// WAL segments are rotated past this size.
    pub wal_segment_bytes: u64,
    /// zstd level of Parquet files written by compaction (the files kept long-term).
    pub zstd_level: i32,
    /// zstd level of the files a flush writes. Lower than `zstd_level` because flushing is on
    /// the ingest path (level 3 was 14 % of ingest CPU, perf); compaction rewrites any file
    /// written below `zstd_level`, so long-lived data ends up at `zstd_level`.
    pub flush_zstd_level: i32,
    /// What to do with keys that are not columns.
    pub unknown_columns: UnknownColumns,
    /// Files replaced by compaction or retention are deleted after this delay, so queries
    /// already running on them finish.
    pub file_grace: Duration,
}

impl Default for WorkspaceOptions {
    fn default() -> Self {
        WorkspaceOptions {
            fsync: FsyncPolicy::Always,
            flush_rows: 1_000_000,
            flush_bytes: 128 << 20,
            flush_age: Duration::from_secs(30),
            max_buffer_bytes: 1 << 30,
            inline_flush: true,
            default_retention_days: Some(30),
            compact_small_file_bytes: 32 << 20,
            compact_target_bytes: 256 << 20,
            compact_interval: Duration::from_secs(60),
            wal_segment_bytes: 64 << 20,
            zstd_level: 3,
            flush_zstd_level: 1,
            unknown_columns: UnknownColumns::Reject,
            file_grace: Duration::from_secs(60),
        }
    }
}

/// What an append stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppendReceipt {
    /// Table written.
    pub table: &'static str,
    /// Rows accepted.
    pub rows: usize,
    /// WAL LSN of the record (0 when no rows).
    pub lsn: u64,
    /// True when the record was fsynced before returning.
    pub durable: bool,
}

/// Per-table statistics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableStats {
    /// Table name.
    pub table: String,
    /// Rows in committed Parquet files.
    pub file_rows: u64,
    /// Rows in memory, not yet flushed (durable in the WAL).
    pub buffered_rows: u64,
    /// Committed Parquet files.
    pub files: usize,
    /// Their total size in bytes.
    pub file_bytes: u64,
    /// Distinct hour partitions.
    pub partitions: usize,
    /// Smallest TimeGenerated in files (RFC 3339), if any.
    pub min_time: Option<String>,
    /// Largest TimeGenerated in files (RFC 3339), if any.
    pub max_time: Option<String>,
    /// Highest WAL LSN written.
    pub last_lsn: u64,
    /// Highest WAL LSN durable in Parquet.
    pub flushed_lsn: u64,
    /// Retention in days (None: kept forever).
    pub retention_days: Option<u32>,
    /// Rows appended since the process started.
    pub ingested_rows: u64,
}

struct TableInner {
    wal: Option<WalWriter>,
    next_lsn: u64,
    buffer: Vec<(u64, RecordBatch)>,
    buffer_rows: usize,
    buffer_bytes: usize,
    oldest: Option<Instant>,
    flushing: Vec<(u64, RecordBatch)>,
    flushing_bytes: usize,
    manifest: TableManifest,
}

struct TableState {
    schema: &'static TableSchema,
    /// The table's columns (what appends and the WAL carry).
    arrow: SchemaRef,
    /// `arrow` plus the shadow columns (what the buffer and new files hold; [`crate::shadow`]).
    stored: SchemaRef,
    inner: Mutex<TableInner>,
    maint: Mutex<()>,
    ingested_rows: AtomicU64,
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Append requests accepted.
    pub appends: AtomicU64,
    /// Append requests refused because the buffer was full.
    pub rejected_full: AtomicU64,
    /// Flushes that wrote files.
    pub flushes: AtomicU64,
    /// Parquet files written by flushes.
    pub files_written: AtomicU64,
    /// Files merged away by compaction.
    pub files_compacted: AtomicU64,
    /// Files dropped by retention.
    pub files_expired: AtomicU64,
    /// WAL records replayed at start-up.
    pub wal_records_replayed: AtomicU64,
}

struct Inner {
    root: PathBuf,
    opts: WorkspaceOptions,
    read_only: bool,
    _lock: Option<File>,
    tables: Vec<TableState>,
    index: HashMap<&'static str, usize>,
    buffered: AtomicUsize,
    garbage: Mutex<Vec<(PathBuf, Instant)>>,
    last_compact: Mutex<Option<Instant>>,
    counters: Counters,
}

/// An open workspace. Cheap to clone (shared state); safe to use from many threads.
#[derive(Clone)]
pub struct Workspace {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

fn ns_to_rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Writes `batch` as an Arrow IPC stream (the WAL record payload) into `out`.
fn ipc_encode(batch: &RecordBatch, out: &mut dyn std::io::Write) -> Result<()> {
    let mut w = StreamWriter::try_new(out, &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    Ok(())
}

fn ipc_decode(payload: &[u8], schema: &SchemaRef) -> std::result::Result<Vec<RecordBatch>, String> {
    let reader = StreamReader::try_new(Cursor::new(payload), None).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| e.to_string())?;
        out.push(parquet_io::conform(&b, schema)?);
    }
    Ok(out)
}

/// The stored (writable) table named exactly `name`, or an [`Error::UnknownTable`] that
/// explains views and suggests close names.
pub fn writable_table(name: &str) -> Result<&'static TableSchema> {
    match keelwatch_tables::table(name) {
        Some(t) if !t.is_view() => Ok(t),
        _ => Err(unknown_table(name)),
    }
}

fn unknown_table(name: &str) -> Error {
    if let Some(t) = keelwatch_tables::table(name)
        && t.is_view()
    {
        return Error::UnknownTable {
            name: name.to_string(),
            hint: " (it is a read-only compatibility view; write to its source tables)".to_string(),
        };
    }
    let hint = match keelwatch_tables::table_ignore_case(name) {
        Some(t) => format!(", did you mean '{}'? (table names are case-sensitive)", t.name),
        None => match keelwatch_tables::suggest(name, keelwatch_tables::stored().map(|t| t.name)).first() {
            Some(s) => format!(", did you mean '{s}'?"),
            None => String::new(),
        },
    };
    Error::UnknownTable { name: name.to_string(), hint }
}

impl Workspace {
    /// Opens (creating if needed) the workspace in `dir` for reading and writing, with default
    /// options. Takes the directory's lock (one writer process), removes uncommitted files and
    /// replays the WAL.
    pub fn open(dir: impl AsRef<Path>) -> Result<Workspace> {
        Self::open_with(dir, WorkspaceOptions::default())
    }

    /// [`Workspace::open`] with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, opts: WorkspaceOptions) -> Result<Workspace> {
        Self::open_impl(dir.as_ref(), opts, false)
    }

    /// Opens an existing workspace for reading only, without taking the lock: it sees the
    /// committed files and the rows still in the WAL at the time of opening (for example while
    /// `keelwatch workspace serve` owns the directory). Appends fail with [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Workspace> {
        Self::open_impl(dir.as_ref(), WorkspaceOptions::default(), true)
    }

    fn open_impl(root: &Path, opts: WorkspaceOptions, read_only: bool) -> Result<Workspace> {
        let lock_file = if read_only {
            if !root.is_dir() {
                return Err(Error::Io {
                    op: "open workspace",
                    path: root.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
                });
            }
            None
        } else {
            std::fs::create_dir_all(root).map_err(Error::io("create workspace", root))?;
            let lp = root.join("LOCK");
            let f = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lp)
                .map_err(Error::io("open lock file", &lp))?;
            match f.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(root.to_path_buf())),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::Io { op: "lock", path: lp, source: e });
                }
            }
            Some(f)
        };
        let mut tables = Vec::new();
        let mut index = HashMap::new();
        let mut buffered = 0usize;
        let mut replayed = 0u64;
        for schema in keelwatch_tables::stored() {
            let arrow = crate::schema::arrow_schema(schema.name).ok_or_else(|| unknown_table(schema.name))?;
            let stored = crate::shadow::stored_schema(schema.name, &arrow);
            // A reader races the writer: a WAL segment may be deleted by a flush between
            // loading the manifest and reading the segment. Then reload and retry.
            let mut attempt = 0;
            let (inner, n) = loop {
                let manifest = manifest::load(root, schema.name)?.unwrap_or_else(|| TableManifest {
                    version: 1,
                    table: schema.name.to_string(),
                    ..Default::default()
                });
                if !read_only {
                    remove_orphans(root, schema.name, &manifest)?;
                }
                match recover_table(root, schema, &arrow, &stored, manifest, &opts, read_only) {
                    Err(Error::Io { source, .. })
                        if read_only && attempt < 5 && source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        attempt += 1;
                    }
                    other => break other?,
                }
            };
            buffered += inner.buffer_bytes;
            replayed += n;
            index.insert(schema.name, tables.len());
            tables.push(TableState {
                schema,
                arrow,
                stored,
                inner: Mutex::new(inner),
                maint: Mutex::new(()),
                ingested_rows: AtomicU64::new(0),
            });
        }
        let counters = Counters::default();
        counters.wal_records_replayed.store(replayed, Ordering::Relaxed);
        if replayed > 0 {
            tracing::info!(records = replayed, "replayed WAL records into the buffer");
        }
        Ok(Workspace {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                opts,
                read_only,
                _lock: lock_file,
                tables,
                index,
                buffered: AtomicUsize::new(buffered),
                garbage: Mutex::new(Vec::new()),
                last_compact: Mutex::new(None),
                counters,
            }),
        })
    }

    /// The workspace directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The options in force.
    pub fn options(&self) -> &WorkspaceOptions {
        &self.inner.opts
    }

    /// Counters for metrics.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Bytes of rows held in memory (buffered + being flushed).
    pub fn buffered_bytes(&self) -> usize {
        self.inner.buffered.load(Ordering::Relaxed)
    }

    fn state(&self, table: &str) -> Result<&TableState> {
        self.inner.index.get(table).map(|&i| &self.inner.tables[i]).ok_or_else(|| unknown_table(table))
    }

    /// The schema of a stored table (exact name), or an error naming close matches.
    pub fn table_schema(&self, table: &str) -> Result<&'static TableSchema> {
        Ok(self.state(table)?.schema)
    }

    /// Appends JSON rows (objects keyed by column names). All rows are checked first; any error
    /// rejects the whole call. Returns once the rows are in the WAL (fsynced under
    /// [`FsyncPolicy::Always`]).
    pub fn append(&self, table: &str, rows: &[serde_json::Value]) -> Result<AppendReceipt> {
        let mut parsed = ParsedRows::default();
        for (i, v) in rows.iter().enumerate() {
            match v {
                serde_json::Value::Object(m) => parsed.rows.push((i + 1, m.clone())),
                other => {
                    return Err(Error::Json {
                        line: i + 1,
                        column: 1,
                        message: format!("row {} is not a JSON object: {other}", i + 1),
                    });
                }
            }
        }
        self.append_parsed(table, &parsed)
    }

    /// Appends a request body: a JSON array of objects or NDJSON (NDJSON takes the fast,
    /// tree-free path of [`Workspace::append_ndjson`]).
    pub fn append_body(&self, table: &str, body: &[u8]) -> Result<AppendReceipt> {
        let st = self.state(table)?;
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
            return self.append_ndjson(st.schema.name, body, 1);
        }
        let parsed = rows::parse_body(body)?;
        self.append_parsed(st.schema.name, &parsed)
    }

    /// Appends NDJSON lines (one object per line; blank lines skipped) without building JSON
    /// trees ([`rows::ndjson_to_batch`]); errors name lines counted from `first_line`.
    pub fn append_ndjson(&self, table: &str, body: &[u8], first_line: usize) -> Result<AppendReceipt> {
        let st = self.state(table)?;
        let batch = rows::ndjson_to_batch(st.schema, body, first_line, self.inner.opts.unknown_columns, now_ns())?;
        self.append_converted(st, batch)
    }

    /// Appends already parsed rows.
    pub fn append_parsed(&self, table: &str, rows: &ParsedRows) -> Result<AppendReceipt> {
        let st = self.state(table)?;
        if rows.is_empty() {
            return Ok(AppendReceipt { table: st.schema.name, rows: 0, lsn: 0, durable: true });
        }
        let batch = rows::rows_to_batch(st.schema, rows, self.inner.opts.unknown_columns, now_ns())?;
        self.append_converted(st, batch)
    }

    /// Appends a record batch that already has the table's Arrow schema
    /// ([`crate::schema::arrow_schema`]). Every dynamic value must be valid JSON text (the
    /// workspace promises queries that it stores nothing else; see [`crate::query`]).
    pub fn append_batch(&self, table: &str, batch: RecordBatch) -> Result<AppendReceipt> {
        let st = self.state(table)?;
        if batch.schema().fields() == st.arrow.fields() {
            for (c, col) in st.schema.columns.iter().zip(batch.columns()) {
                if c.ty != keelwatch_tables::ColumnType::Dynamic {
                    continue;
                }
                let Some(text) = col.as_string_opt::<i32>() else { continue };
                if let Some(row) = (0..text.len())
                    .find(|&r| text.is_valid(r) && !keelwatch_jsonscan::is_valid(text.value(r).as_bytes()))
                {
                    return Err(Error::Row {
                        table: st.schema.name.to_string(),
                        source: crate::error::RowError {
                            row: row + 1,
                            column: c.name.to_string(),
                            message: "dynamic value is not valid JSON text".to_string(),
                        },
                    });
                }
            }
        }
        self.append_converted(st, batch)
    }

    /// [`Workspace::append_batch`] for batches built by [`rows`], whose dynamic values are
    /// valid JSON by construction (scanned, or written by serde_json).
    fn append_converted(&self, st: &TableState, batch: RecordBatch) -> Result<AppendReceipt> {
        if self.inner.read_only {
            return Err(Error::ReadOnly(self.inner.root.clone()));
        }
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(AppendReceipt { table: st.schema.name, rows: 0, lsn: 0, durable: true });
        }
        if batch.schema().fields() != st.arrow.fields() {
            return Err(Error::Arrow(arrow::error::ArrowError::SchemaError(format!(
                "batch schema does not match table {}",
                st.schema.name
            ))));
        }
        let batch = RecordBatch::try_new(st.arrow.clone(), batch.columns().to_vec())?;
        let full = crate::shadow::add(st.schema.name, &st.stored, batch.clone())?;
        let bytes = full.get_array_memory_size();
        let cur = self.inner.buffered.load(Ordering::Relaxed);
        let limit = self.inner.opts.max_buffer_bytes;
        if cur > 0 && cur + bytes > limit {
            self.inner.counters.rejected_full.fetch_add(1, Ordering::Relaxed);
            return Err(Error::BufferFull { buffered_bytes: cur, limit_bytes: limit, retry_after_secs: 1 });
        }
        let (seg, lsn): (Arc<Segment>, u64) = {
            let mut g = lock(&st.inner);
            let lsn = g.next_lsn;
            let wal = g.wal.as_mut().ok_or_else(|| Error::ReadOnly(self.inner.root.clone()))?;
            let seg = wal.append_with(st.schema.name, lsn, rows as u32, |out| ipc_encode(&batch, out))?;
            g.next_lsn += 1;
            g.buffer.push((lsn, full.clone()));
            g.buffer_rows += rows;
            g.buffer_bytes += bytes;
            g.oldest.get_or_insert_with(Instant::now);
            self.inner.buffered.fetch_add(bytes, Ordering::Relaxed);
            (seg, lsn)
        };
        let durable = self.inner.opts.fsync == FsyncPolicy::Always;
        if durable {
            seg.sync_upto(lsn)?;
        }
        st.ingested_rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.inner.counters.appends.fetch_add(1, Ordering::Relaxed);
        if self.inner.opts.inline_flush && self.flush_due(st) {
            self.flush_state(st)?;
        }
        Ok(AppendReceipt { table: st.schema.name, rows, lsn, durable })
    }

    fn flush_due(&self, st: &TableState) -> bool {
        let g = lock(&st.inner);
        let o = &self.inner.opts;
        g.buffer_rows > 0
            && (g.buffer_rows >= o.flush_rows
                || g.buffer_bytes >= o.flush_bytes
                || g.oldest.is_some_and(|t| t.elapsed() >= o.flush_age))
    }

    /// Flushes every table's buffer to Parquet. Returns the number of files written.
    pub fn flush(&self) -> Result<usize> {
        let mut n = 0;
        for st in &self.inner.tables {
            n += self.flush_state(st)?;
        }
        Ok(n)
    }

    /// Flushes one table's buffer. Returns the number of files written.
    pub fn flush_table(&self, table: &str) -> Result<usize> {
        self.flush_state(self.state(table)?)
    }

    fn flush_state(&self, st: &TableState) -> Result<usize> {
        if self.inner.read_only {
            return Err(Error::ReadOnly(self.inner.root.clone()));
        }
        let _m = lock(&st.maint);
        let (batches, last_lsn, bytes, base) = {
            let mut g = lock(&st.inner);
            if g.buffer.is_empty() {
                return Ok(0);
            }
            let next = g.next_lsn;
            if let Some(w) = g.wal.as_mut() {
                w.rotate(next)?;
            }
            let batches = std::mem::take(&mut g.buffer);
            let bytes = std::mem::take(&mut g.buffer_bytes);
            g.buffer_rows = 0;
            g.oldest = None;
            g.flushing = batches.clone();
            g.flushing_bytes = bytes;
            let last = batches.last().map(|b| b.0).unwrap_or(0);
            (batches, last, bytes, g.manifest.clone())
        };
        let first_lsn = batches.first().map(|b| b.0).unwrap_or(0);
        let mut written: Vec<FileEntry> = Vec::new();
        let result = (|| -> Result<TableManifest> {
            let only: Vec<RecordBatch> = batches.iter().map(|b| b.1.clone()).collect();
            parquet_io::for_each_hour(&st.stored, &only, |hour, rows| {
                let e = parquet_io::write_partition(
                    &self.inner.root,
                    st.schema.name,
                    hour,
                    rows,
                    (first_lsn, last_lsn),
                    self.inner.opts.flush_zstd_level,
                )?;
                written.push(e);
                Ok(())
            })?;
            let mut m = base;
            m.files.extend(written.iter().cloned());
            m.flushed_lsn = m.flushed_lsn.max(last_lsn);
            manifest::store(&self.inner.root, &m)?;
            Ok(m)
        })();
        match result {
            Ok(m) => {
                let done = {
                    let mut g = lock(&st.inner);
                    g.manifest = m;
                    g.flushing.clear();
                    g.flushing_bytes = 0;
                    g.wal.as_mut().map(|w| w.take_sealed_upto(last_lsn)).unwrap_or_default()
                };
                self.inner.buffered.fetch_sub(bytes, Ordering::Relaxed);
                for p in done {
                    if let Err(e) = std::fs::remove_file(&p) {
                        tracing::warn!(path = %p.display(), error = %e, "could not delete flushed WAL segment");
                    }
                }
                let n = written.len();
                self.inner.counters.flushes.fetch_add(1, Ordering::Relaxed);
                self.inner.counters.files_written.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                {
                    let mut g = lock(&st.inner);
                    let mut back = std::mem::take(&mut g.flushing);
                    g.flushing_bytes = 0;
                    back.append(&mut g.buffer);
                    g.buffer_rows = back.iter().map(|b| b.1.num_rows()).sum();
                    g.buffer_bytes += bytes;
                    g.buffer = back;
                    g.oldest.get_or_insert_with(Instant::now);
                }
                for f in &written {
                    let _ = std::fs::remove_file(self.inner.root.join(&f.path));
                }
                Err(e)
            }
        }
    }

    /// Merges small files of the same table and hour. Returns the number of files replaced.
    pub fn compact(&self) -> Result<usize> {
        let mut n = 0;
        for st in &self.inner.tables {
            n += self.compact_state(st)?;
        }
        *lock(&self.inner.last_compact) = Some(Instant::now());
        Ok(n)
    }

    fn compact_state(&self, st: &TableState) -> Result<usize> {
        if self.inner.read_only {
            return Err(Error::ReadOnly(self.inner.root.clone()));
        }
        let _m = lock(&st.maint);
        let base = lock(&st.inner).manifest.clone();
        let o = &self.inner.opts;
        let mut by_hour: std::collections::BTreeMap<i64, Vec<&FileEntry>> = Default::default();
        // Small files are merged; a file compressed below `zstd_level` (a flush file) is
        // rewritten even when alone in its hour.
        // Files without the table's shadow columns (older files) are rewritten with them.
        let shadows = crate::shadow::shadow_columns(&st.stored);
        let recompress = |f: &FileEntry| f.zstd_level < o.zstd_level || f.shadow_columns != shadows;
        for f in &base.files {
            if f.bytes < o.compact_small_file_bytes || recompress(f) {
                by_hour.entry(f.hour).or_default().push(f);
            }
        }
        let mut groups: Vec<Vec<FileEntry>> = Vec::new();
        for (_, files) in by_hour {
            let mut cur: Vec<FileEntry> = Vec::new();
            let mut size = 0u64;
            for f in files {
                if !cur.is_empty() && size + f.bytes > o.compact_target_bytes {
                    if cur.len() >= 2 || cur.iter().any(recompress) {
                        groups.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    size = 0;
                }
                size += f.bytes;
                cur.push(f.clone());
            }
            if cur.len() >= 2 || cur.iter().any(recompress) {
                groups.push(cur);
            }
        }
        if groups.is_empty() {
            return Ok(0);
        }
        let mut m = base;
        let mut replaced = Vec::new();
        let mut new_files = Vec::new();
        for g in &groups {
            let mut batches = Vec::new();
            for f in g {
                for b in parquet_io::read_file(&self.inner.root.join(&f.path), &st.arrow, &st.stored)? {
                    // files from before a shadow column existed get it now
                    batches.push(crate::shadow::add(st.schema.name, &st.stored, b)?);
                }
            }
            let sorted = parquet_io::sort_by_time(&st.stored, &batches)?;
            let first = g.iter().map(|f| f.first_lsn).min().unwrap_or(0);
            let last = g.iter().map(|f| f.last_lsn).max().unwrap_or(0);
            let e = parquet_io::write_partition(
                &self.inner.root,
                st.schema.name,
                g[0].hour,
                std::slice::from_ref(&sorted),
                (first, last),
                o.zstd_level,
            )?;
            new_files.push(e);
            replaced.extend(g.iter().map(|f| f.path.clone()));
        }
        let gone: HashSet<&String> = replaced.iter().collect();
        m.files.retain(|f| !gone.contains(&f.path));
        m.files.extend(new_files.iter().cloned());
        if let Err(e) = manifest::store(&self.inner.root, &m) {
            for f in &new_files {
                let _ = std::fs::remove_file(self.inner.root.join(&f.path));
            }
            return Err(e);
        }
        lock(&st.inner).manifest = m;
        let now = Instant::now();
        lock(&self.inner.garbage).extend(replaced.iter().map(|p| (self.inner.root.join(p), now)));
        self.inner.counters.files_compacted.fetch_add(replaced.len() as u64, Ordering::Relaxed);
        Ok(replaced.len())
    }

    /// Sets a table's retention in days (`None`: use the workspace default). Persisted in the
    /// table's manifest.
    pub fn set_retention(&self, table: &str, days: Option<u32>) -> Result<()> {
        let st = self.state(table)?;
        if self.inner.read_only {
            return Err(Error::ReadOnly(self.inner.root.clone()));
        }
        let _m = lock(&st.maint);
        let mut m = lock(&st.inner).manifest.clone();
        m.retention_days = days;
        manifest::store(&self.inner.root, &m)?;
        lock(&st.inner).manifest = m;
        Ok(())
    }

    /// Drops committed files whose newest row is older than the table's retention, measured
    /// from `now`. Returns the number of files dropped.
    pub fn apply_retention(&self, now: chrono::DateTime<chrono::Utc>) -> Result<usize> {
        if self.inner.read_only {
            return Err(Error::ReadOnly(self.inner.root.clone()));
        }
        let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let mut dropped = 0;
        for st in &self.inner.tables {
            let _m = lock(&st.maint);
            let mut m = lock(&st.inner).manifest.clone();
            let Some(days) = m.retention_days.or(self.inner.opts.default_retention_days) else {
                continue;
            };
            let cutoff = now_ns.saturating_sub(i64::from(days) * 86_400 * 1_000_000_000);
            let (old, keep): (Vec<FileEntry>, Vec<FileEntry>) = m.files.drain(..).partition(|f| f.max_time < cutoff);
            if old.is_empty() {
                continue;
            }
            m.files = keep;
            manifest::store(&self.inner.root, &m)?;
            lock(&st.inner).manifest = m;
            let t = Instant::now();
            lock(&self.inner.garbage).extend(old.iter().map(|f| (self.inner.root.join(&f.path), t)));
            dropped += old.len();
        }
        self.inner.counters.files_expired.fetch_add(dropped as u64, Ordering::Relaxed);
        Ok(dropped)
    }

    /// One round of background work: flush buffers that are due, compact (at most every
    /// `compact_interval`), apply retention, delete replaced files past their grace period.
    pub fn maintain(&self) -> Result<()> {
        for st in &self.inner.tables {
            if self.flush_due(st) {
                self.flush_state(st)?;
            }
        }
        let due = lock(&self.inner.last_compact).is_none_or(|t| t.elapsed() >= self.inner.opts.compact_interval);
        if due {
            self.compact()?;
            self.apply_retention(chrono::Utc::now())?;
        }
        self.collect_garbage(false);
        Ok(())
    }

    /// Deletes replaced files whose grace period is over (all of them when `all`), and empty
    /// partition directories.
    pub fn collect_garbage(&self, all: bool) {
        let grace = self.inner.opts.file_grace;
        let ready: Vec<PathBuf> = {
            let mut g = lock(&self.inner.garbage);
            let (ready, keep): (Vec<_>, Vec<_>) = g.drain(..).partition(|(_, t)| all || t.elapsed() >= grace);
            *g = keep;
            ready.into_iter().map(|(p, _)| p).collect()
        };
        for p in ready {
            if let Err(e) = std::fs::remove_file(&p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %p.display(), error = %e, "could not delete replaced file");
            }
            // Remove the hour and date directories when empty (errors mean "not empty").
            if let Some(hour_dir) = p.parent()
                && std::fs::remove_dir(hour_dir).is_ok()
                && let Some(date_dir) = hour_dir.parent()
            {
                let _ = std::fs::remove_dir(date_dir);
            }
        }
    }

    /// A consistent snapshot of one table: committed files (absolute paths, with their entries)
    /// overlapping `range` (ns, inclusive) and the rows still in memory.
    pub fn snapshot(&self, table: &str, range: Option<(i64, i64)>) -> Result<TableSnapshot> {
        let st = self.state(table)?;
        let g = lock(&st.inner);
        let files = g
            .manifest
            .files
            .iter()
            .filter(|f| range.is_none_or(|(lo, hi)| f.max_time >= lo && f.min_time <= hi))
            .map(|f| (self.inner.root.join(&f.path), f.clone()))
            .collect();
        let batches = g.flushing.iter().chain(g.buffer.iter()).map(|(_, b)| b.clone()).collect();
        Ok(TableSnapshot { table: st.schema, schema: st.stored.clone(), files, batches })
    }

    /// Statistics of every stored table.
    pub fn stats(&self) -> Vec<TableStats> {
        self.inner
            .tables
            .iter()
            .map(|st| {
                let g = lock(&st.inner);
                let files = &g.manifest.files;
                let min = files.iter().map(|f| f.min_time).min();
                let max = files.iter().map(|f| f.max_time).max();
                TableStats {
                    table: st.schema.name.to_string(),
                    file_rows: files.iter().map(|f| f.rows).sum(),
                    buffered_rows: (g.buffer.iter().chain(g.flushing.iter())).map(|b| b.1.num_rows() as u64).sum(),
                    files: files.len(),
                    file_bytes: files.iter().map(|f| f.bytes).sum(),
                    partitions: files.iter().map(|f| f.hour).collect::<HashSet<_>>().len(),
                    min_time: min.map(ns_to_rfc3339),
                    max_time: max.map(ns_to_rfc3339),
                    last_lsn: g.next_lsn.saturating_sub(1),
                    flushed_lsn: g.manifest.flushed_lsn,
                    retention_days: g.manifest.retention_days.or(self.inner.opts.default_retention_days),
                    ingested_rows: st.ingested_rows.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

/// A consistent view of one table at one instant.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    /// The table.
    pub table: &'static TableSchema,
    /// Its Arrow schema.
    pub schema: SchemaRef,
    /// Committed files: absolute path and manifest entry.
    pub files: Vec<(PathBuf, FileEntry)>,
    /// Rows not yet in committed files.
    pub batches: Vec<RecordBatch>,
}

/// Deletes partition files that the manifest does not list (left by a crash between writing
/// a file and committing it) and temporary files.
fn remove_orphans(root: &Path, table: &str, m: &TableManifest) -> Result<()> {
    let listed: HashSet<PathBuf> = m.files.iter().map(|f| root.join(&f.path)).collect();
    let tdir = root.join(table);
    if !tdir.is_dir() {
        return Ok(());
    }
    let mut stack = vec![tdir];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(Error::io("list partition directory", &d))?;
        for e in rd {
            let e = e.map_err(Error::io("list partition directory", &d))?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = e.file_name().to_string_lossy().into_owned();
                let orphan = name.ends_with(".tmp") || (name.ends_with(".parquet") && !listed.contains(&p));
                if orphan {
                    tracing::info!(path = %p.display(), "removing uncommitted file");
                    std::fs::remove_file(&p).map_err(Error::io("remove uncommitted file", &p))?;
                }
            }
        }
    }
    Ok(())
}

/// Rebuilds a table's in-memory state: replays WAL records newer than the manifest's
/// `flushed_lsn` into the buffer, repairs a torn tail and starts a fresh segment.
fn recover_table(
    root: &Path,
    schema: &'static TableSchema,
    arrow: &SchemaRef,
    stored: &SchemaRef,
    manifest: TableManifest,
    opts: &WorkspaceOptions,
    read_only: bool,
) -> Result<(TableInner, u64)> {
    let dir = root.join("wal").join(schema.name);
    let segs = wal::list_segments(&dir)?;
    let mut buffer = Vec::new();
    let mut last_lsn = manifest.flushed_lsn;
    let mut sealed = Vec::new();
    let mut replayed = 0u64;
    let nsegs = segs.len();
    for (i, (_, path)) in segs.into_iter().enumerate() {
        let r = wal::read_segment(&path, manifest.flushed_lsn)?;
        if let Some(msg) = &r.damage {
            let is_last = i + 1 == nsegs;
            if !is_last && !read_only {
                return Err(Error::CorruptWal { path, offset: r.valid_len, message: msg.clone() });
            }
            if !read_only {
                tracing::warn!(path = %path.display(), offset = r.valid_len, reason = %msg,
                    "cutting off the torn tail of the write-ahead log");
                wal::truncate_segment(&path, r.valid_len)?;
            }
        }
        for rec in r.records {
            if rec.lsn <= last_lsn && rec.lsn <= manifest.flushed_lsn {
                continue;
            }
            let batches = ipc_decode(&rec.payload, arrow).map_err(|message| Error::CorruptWal {
                path: path.clone(),
                offset: 0,
                message: format!("record {}: {message}", rec.lsn),
            })?;
            for b in batches {
                buffer.push((rec.lsn, crate::shadow::add(schema.name, stored, b)?));
            }
            replayed += 1;
        }
        last_lsn = last_lsn.max(r.last_lsn);
        if read_only {
            continue;
        }
        if r.valid_len == 0 || r.last_lsn <= manifest.flushed_lsn {
            std::fs::remove_file(&path).map_err(Error::io("remove flushed WAL segment", &path))?;
        } else {
            sealed.push((path, r.last_lsn));
        }
    }
    let wal =
        if read_only { None } else { Some(WalWriter::create(&dir, last_lsn + 1, sealed, opts.wal_segment_bytes)?) };
    let buffer_rows = buffer.iter().map(|b: &(u64, RecordBatch)| b.1.num_rows()).sum();
    let buffer_bytes = buffer.iter().map(|b| b.1.get_array_memory_size()).sum();
    let oldest = (!buffer.is_empty()).then(Instant::now);
    Ok((
        TableInner {
            wal,
            next_lsn: last_lsn + 1,
            buffer,
            buffer_rows,
            buffer_bytes,
            oldest,
            flushing: Vec::new(),
            flushing_bytes: 0,
            manifest,
        },
        replayed,
    ))
}
