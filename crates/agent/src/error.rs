//! The agent's error type: every variant says what failed, where (path, line, field) and,
//! where it helps, what to do about it.

use std::path::PathBuf;

/// Errors returned by the agent library.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// A kernel or log file had unexpected content.
    #[error("{path}:{line}: cannot parse {what}: {detail}")]
    Parse {
        /// The file being parsed.
        path: PathBuf,
        /// 1-based line number (0 when not line oriented).
        line: usize,
        /// What was expected (e.g. "cpu line", "CRI log line").
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The agent configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// No usable cgroup hierarchy was found.
    #[error(
        "cgroup root {root}: {detail} (pass --cgroup-root pointing at a cgroup v2 mount or a directory holding v1 controller mounts such as cpuacct/ and memory/)"
    )]
    Cgroup {
        /// The configured cgroup root.
        root: PathBuf,
        /// What was missing.
        detail: String,
    },
    /// The checkpoint file could not be decoded.
    #[error(
        "checkpoint file {path}: {detail} (move it away to start over; log lines already shipped would then be sent again)"
    )]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// Writing to the configured output failed.
    #[error("output {target}: {detail}")]
    Output {
        /// The output (stdout, file path, URL).
        target: String,
        /// What was wrong.
        detail: String,
    },
}

impl AgentError {
    /// Shorthand for [`AgentError::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io { action, path: path.into(), source }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;
