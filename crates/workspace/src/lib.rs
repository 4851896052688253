//! keelwatch-workspace: the embedded store behind the Log Analytics-style workspace.
//!
//! Owns the data directory of a workspace and everything that writes or reads it:
//! - write path ([`Workspace::append`] / [`Workspace::append_body`]): JSON rows are checked
//!   against the table schema ([`rows`]), converted to an Arrow batch, framed into the table's
//!   write-ahead log ([`wal`]) and kept in an in-memory buffer; the call returns once the WAL
//!   record is fsynced ([`FsyncPolicy`]).
//! - [`Workspace::flush`] writes buffered rows to zstd Parquet files, one per table and UTC hour
//!   ([`parquet_io`]), and commits them in the table's manifest ([`manifest`]), which also
//!   records the highest WAL LSN now covered; only then are WAL segments deleted.
//! - [`Workspace::compact`] merges small files of a partition, [`Workspace::apply_retention`]
//!   drops files older than the table's retention, [`Workspace::maintain`] does both plus
//!   due flushes (for servers).
//! - read side ([`Workspace::session_context`]): a DataFusion `SessionContext` with every table
//!   registered under its exact name over a consistent snapshot (committed Parquet files +
//!   buffered rows) plus the compatibility views ([`views`]).
//! - [`demo`] generates a realistic synthetic cluster; [`http`] is the ingestion / query server.
//!
//! Invariants: a row acknowledged by `append` is in exactly one of {WAL records newer than the
//! manifest's `flushed_lsn`, committed Parquet files} and therefore appears exactly once after
//! any crash; the manifest is the only commit point (files it does not list are deleted at
//! start-up); a snapshot never shows a row twice or misses an acknowledged one.
//!
//! Directory layout (see docs/workspace.md):
//! ```text
//! <root>/LOCK                                   held by the writing process
//! <root>/manifest/<Table>.json                  committed files, flushed_lsn, retention
//! <root>/wal/<Table>/<first-lsn>.wal            WAL segments
//! <root>/<Table>/date=YYYY-MM-DD/hour=HH/<ulid>.parquet
//! <root>/token                                  bearer token of `workspace serve`
//! ```
//!
//! Start reading at [`store`] (the `Workspace` type), then [`wal`] and [`query`].

pub mod demo;
mod error;
pub mod http;

pub mod manifest;
pub mod parquet_io;
pub mod query;
pub mod rows;
pub mod schema;
mod shadow;
pub mod store;
pub mod views;
pub mod wal;

pub use error::{Error, Result, RowError};
pub use query::Timespan;
pub use rows::UnknownColumns;
pub use schema::{arrow_schema, arrow_type, kql_type_of};
pub use store::{AppendReceipt, FsyncPolicy, TableSnapshot, TableStats, Workspace, WorkspaceOptions, writable_table};

/// Re-exported so users build against the same DataFusion/Arrow versions.
pub use arrow;
pub use datafusion;
