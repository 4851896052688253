//! TLS for the webhook: loading a certificate/key pair, or creating (and reusing) a
//! self-signed CA plus serving certificate in a directory.
//!
//! Directory layout for `--self-signed DIR`: `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (PEM).
//! Existing files are reused so the caBundle in the cluster stays valid across restarts;
//! delete the directory to rotate. Keys are written with mode 0600.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::AdmissionError;

/// Paths of a self-signed set.
#[derive(Debug, Clone)]
pub struct CertPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertPaths {
    pub fn in_dir(dir: &Path) -> Self {
        CertPaths {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }
}

fn tls_err(e: impl std::fmt::Display) -> AdmissionError {
    AdmissionError::Tls(e.to_string())
}

const CA_COMMON_NAME: &str = "keelwatch admission CA";

fn ca_params() -> Result<CertificateParams, AdmissionError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(3600)).into();
    params.not_after = (now + std::time::Duration::from_secs(10 * 365 * 86400)).into();
    Ok(params)
}

/// Creates the CA and serving certificate in `dir` unless present. `dns_names` become the
/// serving certificate's subject alternative names (IP literals become IP SANs).
pub fn ensure_self_signed(dir: &Path, dns_names: &[String]) -> Result<CertPaths, AdmissionError> {
    let paths = CertPaths::in_dir(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| AdmissionError::File { path: dir.display().to_string(), message: e.to_string() })?;
    // The CA key is enough to rebuild an issuer with the same name and key identifier, so a
    // lost serving certificate can be re-issued without invalidating the caBundle.
    let (ca_key, ca_cert_pem) = if paths.ca_key.exists() && paths.ca_cert.exists() {
        let key = KeyPair::from_pem(&read(&paths.ca_key)?).map_err(tls_err)?;
        (key, read(&paths.ca_cert)?)
    } else {
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = ca_params()?.self_signed(&key).map_err(tls_err)?;
        write_secret(&paths.ca_key, &key.serialize_pem())?;
        write(&paths.ca_cert, &cert.pem())?;
        (key, cert.pem())
    };
    let _ = ca_cert_pem;
    if !(paths.cert.exists() && paths.key.exists()) {
        let issuer = ca_params()?.self_signed(&ca_key).map_err(tls_err)?;
        let mut params = CertificateParams::new(dns_names.to_vec()).map_err(tls_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, dns_names.first().map(String::as_str).unwrap_or("keelwatch-admission"));
        let now = std::time::SystemTime::now();
        params.not_before = (now - std::time::Duration::from_secs(3600)).into();
        params.not_after = (now + std::time::Duration::from_secs(2 * 365 * 86400)).into();
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &issuer, &ca_key).map_err(tls_err)?;
        write_secret(&paths.key, &key.serialize_pem())?;
        write(&paths.cert, &cert.pem())?;
    }
    Ok(paths)
}

/// A rustls server configuration from PEM files (HTTP/2 and HTTP/1.1 via ALPN).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, AdmissionError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut read(cert)?.as_bytes()).collect::<Result<_, _>>().map_err(|e| {
        AdmissionError::File { path: cert.display().to_string(), message: format!("bad PEM certificate: {e}") }
    })?;
    if certs.is_empty() {
        return Err(AdmissionError::File {
            path: cert.display().to_string(),
            message: "no certificate found in PEM file".into(),
        });
    }
    let key_der = rustls_pemfile::private_key(&mut read(key)?.as_bytes())
        .map_err(|e| AdmissionError::File { path: key.display().to_string(), message: format!("bad PEM key: {e}") })?
        .ok_or_else(|| AdmissionError::File {
            path: key.display().to_string(),
            message: "no private key found in PEM file".into(),
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            AdmissionError::Tls(format!("certificate {} and key {} do not fit: {e}", cert.display(), key.display()))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<String, AdmissionError> {
    std::fs::read_to_string(path)
        .map_err(|e| AdmissionError::File { path: path.display().to_string(), message: format!("cannot read: {e}") })
}

fn write(path: &Path, text: &str) -> Result<(), AdmissionError> {
    std::fs::write(path, text)
        .map_err(|e| AdmissionError::File { path: path.display().to_string(), message: format!("cannot write: {e}") })
}

fn write_secret(path: &Path, text: &str) -> Result<(), AdmissionError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).map_err(|e| AdmissionError::File {
        path: path.display().to_string(),
        message: format!("cannot write: {e}"),
    })?;
    f.write_all(text.as_bytes())
        .map_err(|e| AdmissionError::File { path: path.display().to_string(), message: format!("cannot write: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reuses_and_reissues() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let p = ensure_self_signed(dir.path(), &names).unwrap();
        let ca1 = std::fs::read_to_string(&p.ca_cert).unwrap();
        let cert1 = std::fs::read_to_string(&p.cert).unwrap();
        server_config(&p.cert, &p.key).unwrap();
        let p = ensure_self_signed(dir.path(), &names).unwrap();
        assert_eq!(ca1, std::fs::read_to_string(&p.ca_cert).unwrap());
        assert_eq!(cert1, std::fs::read_to_string(&p.cert).unwrap());
        std::fs::remove_file(&p.cert).unwrap();
        let p = ensure_self_signed(dir.path(), &names).unwrap();
        assert_eq!(ca1, std::fs::read_to_string(&p.ca_cert).unwrap());
        assert_ne!(cert1, std::fs::read_to_string(&p.cert).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p.key).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn mismatched_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), "not pem").unwrap();
        let err = server_config(&dir.path().join("c.pem"), &dir.path().join("k.pem")).unwrap_err().to_string();
        assert!(err.contains("c.pem"), "{err}");
    }
}
