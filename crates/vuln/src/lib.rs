//! keelwatch-vuln: container image vulnerability scanning, fully offline.
//!
//! Owns: version comparators ([`version`]), the OSV advisory database and its on-disk index
//! ([`db`]), image sources and the streaming layer walker ([`source`], [`walker`]), package
//! catalogers ([`catalog`]), the matcher ([`matcher`]) and report writers ([`report`]).
//!
//! Data flow: source → layers (each streamed once; interesting files kept, bounded) → per-layer
//! results cached by diffID → merged with OCI whiteouts → catalogers → packages → matcher
//! against the db → findings → suppression (VEX / ignore file) → report.
//!
//! Invariants: engines are synchronous and deterministic (sorted outputs); no input can make
//! the scanner panic, write outside its cache/scratch dirs, or use unbounded memory (every read
//! of image content is size-limited, see [`walker::Limits`]).
//!
//! Start reading at [`scan::scan`] for the whole pipeline, or [`version::Family`] for ordering.

pub mod catalog;
pub mod credentials;
pub mod cvss;
pub mod cvss4;
pub mod db;
mod error;
pub mod matcher;
pub mod osv;
pub mod registry;
pub mod report;
pub mod scan;
pub mod source;
pub mod suppress;
pub mod version;
pub mod walker;
mod zipread;

pub use error::Error;
