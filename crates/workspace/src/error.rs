//! Errors of the workspace store. Each says what failed, where (table, row, column, file and
//! offset) and, where it helps, what to do.

use std::path::PathBuf;

/// A row that failed the schema check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: column '{column}': {message}")]
pub struct RowError {
    /// 1-based position of the row in the request (line number for NDJSON).
    pub row: usize,
    /// Column name as written by the client.
    pub column: String,
    /// What was wrong, e.g. `expected long, got string "abc"`.
    pub message: String,
}

/// Errors returned by [`crate::Workspace`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The table does not exist (or is a read-only view).
    #[error("unknown table '{name}'{hint}")]
    UnknownTable {
        /// Name as given.
        name: String,
        /// ", did you mean 'X'?" or a note that the name is a view.
        hint: String,
    },
    /// A row failed the schema check; nothing of the request was stored.
    #[error("{table}: {source}")]
    Row {
        /// Table being written.
        table: String,
        /// The failing row and column.
        #[source]
        source: RowError,
    },
    /// The request body is not a JSON array of objects nor NDJSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// The in-memory buffer is full: retry after the given delay.
    #[error(
        "ingestion buffer full ({buffered_bytes} bytes buffered, limit {limit_bytes}); retry in {retry_after_secs} s"
    )]
    BufferFull {
        /// Bytes currently buffered.
        buffered_bytes: usize,
        /// Configured limit.
        limit_bytes: usize,
        /// Suggested delay.
        retry_after_secs: u64,
    },
    /// The workspace was opened read-only.
    #[error("workspace {0} is opened read-only; open it with Workspace::open to write")]
    ReadOnly(PathBuf),
    /// Another process holds the workspace lock.
    #[error(
        "workspace {0} is in use by another keelwatch process (lock file LOCK is held); stop it or open the workspace read-only"
    )]
    Locked(PathBuf),
    /// The write-ahead log is damaged before its tail (a torn tail is repaired silently).
    #[error(
        "write-ahead log {path} is corrupt at byte {offset}: {message}; move the file away to start without its rows"
    )]
    CorruptWal {
        /// Segment file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// The manifest cannot be read.
    #[error("manifest {path} is unreadable: {message}")]
    CorruptManifest {
        /// Manifest file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// An earlier WAL write failed half-way and could not be rolled back; the table refuses
    /// writes until the process restarts (recovery then repairs the log).
    #[error("write-ahead log of {0} is unusable after an earlier I/O error; restart to recover")]
    WalPoisoned(String),
    /// File system error.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// File or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Arrow error (encoding batches, IPC).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet error (writing or reading a partition file).
    #[error("parquet {path}: {source}")]
    Parquet {
        /// File.
        path: PathBuf,
        /// The error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// DataFusion error (registering tables, building views).
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
