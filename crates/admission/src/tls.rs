//! TLS for the webhook, on the shared `keelwatch-https` crate: a certificate/key pair from
//! files, or a self-signed CA plus serving certificate created (and reused) in a directory.
//!
//! Directory layout for `--self-signed DIR`: `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (PEM).
//! Existing files are reused so the caBundle in the cluster stays valid across restarts;
//! delete the directory to rotate. Keys are written with mode 0600.

use std::path::Path;
use std::sync::Arc;

pub use keelwatch_https::CertPaths;

use crate::AdmissionError;

/// Common name of the webhook's self-signed CA. Fixed: a serving certificate re-issued from a
/// kept CA key must name the same issuer.
pub const CA_COMMON_NAME: &str = "keelwatch admission CA";

/// Creates the CA and serving certificate in `dir` unless present. `names` become the serving
/// certificate's subject alternative names (IP literals become IP SANs).
pub fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<CertPaths, AdmissionError> {
    Ok(keelwatch_https::ensure_self_signed(dir, names, CA_COMMON_NAME)?)
}

/// A rustls server configuration from PEM files (HTTP/2 and HTTP/1.1 via ALPN).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, AdmissionError> {
    Ok(keelwatch_https::server_config(cert, key, None)?)
}
