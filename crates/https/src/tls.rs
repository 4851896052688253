//! TLS material: PEM files, or a self-signed CA plus serving certificate kept in a directory,
//! and the rustls server configuration built from them.
//!
//! Directory layout for a self-signed set: `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (PEM).
//! Existing files are reused so a caBundle handed to a cluster stays valid across restarts;
//! delete the directory to rotate. Keys are written with mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What went wrong with TLS material, naming the file when there is one.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS: {0}")]
    Config(String),
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.display().to_string(), message: message.to_string() }
}

fn config_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Config(e.to_string())
}

/// Paths of a self-signed set inside its directory.
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

fn ca_params(common_name: &str) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(config_err)?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(3600)).into();
    params.not_after = (now + Duration::from_secs(10 * 365 * 86400)).into();
    Ok(params)
}

/// Creates a CA (`ca_common_name`) and a serving certificate for `names` in `dir` unless they
/// exist. Names that parse as IP addresses become IP subject alternative names.
///
/// `ca_common_name` must stay the same for a directory: a lost serving certificate is
/// re-issued from the kept CA key under that name, so the caBundle stays valid.
pub fn ensure_self_signed(dir: &Path, names: &[String], ca_common_name: &str) -> Result<CertPaths, TlsError> {
    if names.is_empty() {
        return Err(config_err("a self-signed certificate needs at least one DNS name or IP address"));
    }
    let paths = CertPaths::in_dir(dir);
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, format!("cannot create directory: {e}")))?;
    let ca_key = if paths.ca_key.exists() && paths.ca_cert.exists() {
        KeyPair::from_pem(&read(&paths.ca_key)?).map_err(|e| file_err(&paths.ca_key, format!("bad CA key: {e}")))?
    } else {
        let key = KeyPair::generate().map_err(config_err)?;
        let cert = ca_params(ca_common_name)?.self_signed(&key).map_err(config_err)?;
        write_secret(&paths.ca_key, &key.serialize_pem())?;
        write(&paths.ca_cert, &cert.pem())?;
        // The serving certificate of an older CA would no longer verify.
        let _ = std::fs::remove_file(&paths.cert);
        key
    };
    if !(paths.cert.exists() && paths.key.exists()) {
        // The CA key is enough to rebuild an issuer with the same name and key identifier.
        let issuer = ca_params(ca_common_name)?.self_signed(&ca_key).map_err(config_err)?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(config_err)?;
        params.distinguished_name.push(DnType::CommonName, names[0].as_str());
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + Duration::from_secs(2 * 365 * 86400)).into();
        let key = KeyPair::generate().map_err(config_err)?;
        let cert = params.signed_by(&key, &issuer, &ca_key).map_err(config_err)?;
        write_secret(&paths.key, &key.serialize_pem())?;
        write(&paths.cert, &cert.pem())?;
    }
    Ok(paths)
}

/// Reads every certificate of a PEM file; an empty file is an error.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut read(path)?.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(path, "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut read(path)?.as_bytes())
        .map_err(|e| file_err(path, format!("bad PEM private key: {e}")))?
        .ok_or_else(|| file_err(path, "no PEM private key found (expected -----BEGIN ... PRIVATE KEY-----)"))
}

/// A rustls server configuration from a PEM certificate chain and key, offering HTTP/2 and
/// HTTP/1.1 via ALPN. With `client_ca`, clients must present a certificate it signed.
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = read_certificates(cert)?;
    let key_der = read_private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(config_err)?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certificates(ca)? {
                roots.add(c).map_err(|e| file_err(ca, format!("unusable CA certificate: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| file_err(ca, format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key_der).map_err(|e| {
        TlsError::Config(format!("certificate {} and key {} do not fit together: {e}", cert.display(), key.display()))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| file_err(path, format!("cannot read: {e}")))
}

fn write(path: &Path, text: &str) -> Result<(), TlsError> {
    std::fs::write(path, text).map_err(|e| file_err(path, format!("cannot write: {e}")))
}

fn write_secret(path: &Path, text: &str) -> Result<(), TlsError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| file_err(path, format!("cannot write: {e}")))?;
    f.write_all(text.as_bytes()).map_err(|e| file_err(path, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "keelwatch test CA";

    #[test]
    fn creates_then_reuses_and_reissues() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let p = ensure_self_signed(dir.path(), &names, CA).unwrap();
        let ca1 = std::fs::read_to_string(&p.ca_cert).unwrap();
        let cert1 = std::fs::read_to_string(&p.cert).unwrap();
        server_config(&p.cert, &p.key, None).unwrap();
        let p = ensure_self_signed(dir.path(), &names, CA).unwrap();
        assert_eq!(ca1, std::fs::read_to_string(&p.ca_cert).unwrap());
        assert_eq!(cert1, std::fs::read_to_string(&p.cert).unwrap());
        std::fs::remove_file(&p.cert).unwrap();
        let p = ensure_self_signed(dir.path(), &names, CA).unwrap();
        assert_eq!(ca1, std::fs::read_to_string(&p.ca_cert).unwrap());
        assert_ne!(cert1, std::fs::read_to_string(&p.cert).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [&p.key, &p.ca_key] {
                assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
            }
        }
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), "not pem").unwrap();
        let err = server_config(&dir.path().join("c.pem"), &dir.path().join("k.pem"), None).unwrap_err().to_string();
        assert!(err.contains("c.pem") && err.contains("no PEM certificate"), "{err}");
        let p = ensure_self_signed(dir.path(), &["localhost".into()], CA).unwrap();
        let err = server_config(&p.cert, &dir.path().join("missing.pem"), None).unwrap_err().to_string();
        assert!(err.contains("missing.pem") && err.contains("cannot read"), "{err}");
        // A key that is not the certificate's.
        let err = server_config(&p.cert, &p.ca_key, None).unwrap_err().to_string();
        assert!(err.contains("do not fit"), "{err}");
        assert!(ensure_self_signed(dir.path(), &[], CA).is_err());
    }
}
