//! keelwatch-admission: the validating admission webhook over `keelwatch-policy`.
//!
//! Data flow: HTTPS POST `/validate` → [`review::decide`] decodes the AdmissionReview
//! (`admission.k8s.io/v1` or `v1beta1`), evaluates it on a bounded CPU pool with a deadline
//! ([`evaluator`]), and builds the response Gatekeeper would send: deny → `allowed: false`,
//! code 403, message `[<constraint>] <msg>` lines; warn → `warnings`; dryrun → allowed and
//! only counted. [`server`] wires it into axum + rustls with `/healthz`, `/readyz` and
//! `/metrics`; [`reload`] swaps in a new policy set on file change or SIGHUP without dropping
//! requests; [`tls`] creates or reuses a self-signed CA; [`manifest`] prints the
//! ValidatingWebhookConfiguration.
//!
//! Invariants: a request never panics the server; bodies are capped at 3 MiB; every request
//! gets an answer within its deadline (fail-open or fail-closed by configuration); policy
//! evaluation never runs on the async runtime's threads. Start reading at [`server::serve`].

pub mod evaluator;
pub mod manifest;
pub mod metrics;
pub mod reload;
pub mod review;
pub mod server;
pub mod tls;

pub use evaluator::{Evaluator, FailurePolicy};
pub use server::{ServerConfig, serve};

/// Errors of the admission server's setup (requests never produce these: they get responses).
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    TlsMaterial(#[from] keelwatch_https::TlsError),
    #[error("policies: {0}")]
    Policy(#[from] keelwatch_policy::PolicyError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("listening on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}
