//! HTTPS serving shared by keelwatch's servers (the admission webhook, the audit receiver and
//! the workspace API), so each of them gets the same TLS handling and the same limits.
//!
//! - [`tls`]: TLS material, either PEM files or a self-signed CA plus serving certificate kept
//!   in a directory, turned into a rustls server configuration (optionally requiring client
//!   certificates).
//! - [`serve`]: the accept loop: TLS handshake and header-read timeouts, a connection cap,
//!   HTTP/1.1 and HTTP/2, graceful stop.
//! - [`auth`]: the bearer-token check, in constant time.
//!
//! Start reading at [`serve::serve_tls`]. Nothing here knows about any route: callers pass an
//! axum `Router` that already carries its body limits.

pub mod auth;
pub mod serve;
pub mod tls;

pub use auth::bearer_token_matches;
pub use serve::{ServeLimits, serve_tls};
pub use tls::{CertPaths, TlsError, ensure_self_signed, server_config};
