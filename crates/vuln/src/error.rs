//! The crate's error type: every variant says what failed, where, and (in its message) what to do.

use std::path::{Path, PathBuf};

/// Errors from the vulnerability scanner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a readable zip archive: {what}")]
    Zip { path: PathBuf, what: String },
    #[error("{path}: invalid OSV record: {what}")]
    Osv { path: String, what: String },
    #[error("vulnerability database at {dir}: {what}")]
    Db { dir: PathBuf, what: String },
    #[error("download {url}: {what}")]
    Download { url: String, what: String },
    #[error("image source {source_desc}: {what}")]
    Source { source_desc: String, what: String },
    #[error("registry {registry}: {what}")]
    Registry { registry: String, what: String },
    #[error("layer {layer}: {what}")]
    Layer { layer: String, what: String },
    #[error("{path}: {what}")]
    Parse { path: String, what: String },
    #[error("{path}: {what}")]
    Input { path: String, what: String },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }
}
