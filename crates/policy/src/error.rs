//! The one error type of the policy engine. Every variant says what was wrong, where (file,
//! object, field path) and, where it helps, what to do.

use std::path::PathBuf;

/// Errors raised while loading policies or evaluating them.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read or parsed.
    #[error("{path}: {message}")]
    Load { path: String, message: String },

    /// A ConstraintTemplate is malformed or its Rego does not compile.
    #[error("ConstraintTemplate {name} ({origin}): {message}")]
    Template { name: String, origin: String, message: String },

    /// A Constraint is malformed (unknown kind, bad match, bad enforcementAction).
    #[error("constraint {kind}/{name} ({origin}): {message}")]
    Constraint { kind: String, name: String, origin: String, message: String },

    /// Constraint parameters do not satisfy the template's openAPIV3Schema.
    #[error("constraint {kind}/{name} ({origin}): invalid parameters at {path}: {message}")]
    Parameters { kind: String, name: String, origin: String, path: String, message: String },

    /// An Assignment is malformed or names an unknown definition/initiative.
    #[error("Assignment {name} ({origin}): {message}")]
    Assignment { name: String, origin: String, message: String },

    /// A review request is not an AdmissionRequest we can evaluate.
    #[error("invalid review request: {0}")]
    Request(String),

    /// Rego evaluation failed for one template.
    #[error("evaluating {template} for constraint {constraint}: {message}")]
    Eval { template: String, constraint: String, message: String },

    /// A gator Suite file is malformed.
    #[error("suite {path}: {message}")]
    Suite { path: PathBuf, message: String },
}

impl PolicyError {
    pub(crate) fn load(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError::Load { path: path.into(), message: message.into() }
    }
}
