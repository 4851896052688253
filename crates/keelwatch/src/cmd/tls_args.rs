//! The TLS flags every serving command takes, declared once.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

/// `--tls-cert/--tls-key` or `--self-signed DIR` (plus extra names for the latter).
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// PEM serving certificate (with --tls-key).
    #[arg(long, requires = "tls_key", conflicts_with = "self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Create (or reuse) a CA and serving certificate in this directory (clients trust ca.crt).
    #[arg(long, value_name = "DIR")]
    pub self_signed: Option<PathBuf>,
    /// Names for the self-signed serving certificate (besides localhost and 127.0.0.1).
    #[arg(long = "dns-name", value_name = "NAME")]
    pub dns_names: Vec<String>,
}

/// Where the serving certificate comes from, once the flags are checked.
pub enum TlsChoice<'a> {
    Files { cert: &'a PathBuf, key: &'a PathBuf },
    SelfSigned { dir: &'a PathBuf },
}

impl TlsArgs {
    /// The one valid combination of the flags, or a usage error saying what to give.
    pub fn choice(&self) -> anyhow::Result<TlsChoice<'_>> {
        match (&self.tls_cert, &self.tls_key, &self.self_signed) {
            (Some(cert), Some(key), None) => Ok(TlsChoice::Files { cert, key }),
            (None, None, Some(dir)) => Ok(TlsChoice::SelfSigned { dir }),
            _ => bail!("give either --tls-cert and --tls-key, or --self-signed DIR"),
        }
    }
}
