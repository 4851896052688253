//! The kubelet as a pod source (`--pods-from kubelet`): `GET https://<node>:10250/pods`, the
//! node's pods as the kubelet itself runs them, with the service account's bearer token.
//!
//! Why: the API server path costs one paged list per node per interval; the kubelet answers
//! from memory and only ever returns its own node's pods. The response is a v1 `PodList`
//! (the same objects the API server serves, plus the kubelet's `kubernetes.io/config.*`
//! annotations; static pods carry the kubelet's own uid — the one in `/var/log/pods` and the
//! cgroup paths — rather than their mirror pod's).
//!
//! TLS: the kubelet's serving certificate is verified against `--kubelet-ca-file` (default
//! the service account CA). Many clusters give kubelets self-signed serving certificates that
//! no CA file can verify; `--kubelet-insecure-skip-tls-verify` turns verification off, and is
//! never implied. The client is ureq over rustls, the one the shipper already uses, so this
//! adds no dependency. The token file is re-read on every request (projected service account
//! tokens rotate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::error::{AgentError, Result};

/// Where the service account token of a pod is mounted.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Where the service account's CA bundle is mounted.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// The kubelet's authenticated HTTPS port.
pub const KUBELET_PORT: u16 = 10250;

/// A node's PodList is a few MiB at most (110 pods with managed fields); this only stops a
/// runaway response from taking the agent's memory.
const MAX_BODY: u64 = 64 << 20;

/// How to reach and trust the kubelet.
#[derive(Debug, Clone)]
pub struct KubeletSource {
    /// Base URL, `https://<host>:10250` (see [`default_url`]).
    pub url: String,
    /// Bearer token file (default [`SERVICE_ACCOUNT_TOKEN`]).
    pub token_file: PathBuf,
    /// PEM CA bundle for the kubelet's serving certificate (default [`SERVICE_ACCOUNT_CA`]);
    /// not read when verification is off.
    pub ca_file: PathBuf,
    /// Do not verify the kubelet's certificate (explicit opt-in only).
    pub insecure_skip_tls_verify: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// `https://<host>:10250`: the node IP when the pod spec passes one (`NODE_IP` from the
/// downward API `status.hostIP`), else the node name (which must then resolve, as it does on
/// most clusters). IPv6 addresses are bracketed.
pub fn default_url(node_ip: Option<&str>, node_name: &str) -> String {
    let host = node_ip.map(str::trim).filter(|ip| !ip.is_empty()).unwrap_or(node_name);
    if host.contains(':') && !host.starts_with('[') {
        format!("https://[{host}]:{KUBELET_PORT}")
    } else {
        format!("https://{host}:{KUBELET_PORT}")
    }
}

/// A blocking client for the kubelet's `/pods`.
pub struct KubeletClient {
    agent: ureq::Agent,
    pods_url: String,
    token_file: PathBuf,
}

fn cfg_err(msg: String) -> AgentError {
    AgentError::Config(msg)
}

fn read_token(path: &Path) -> Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|e| AgentError::io("read --kubelet-token-file", path, e))?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(cfg_err(format!("--kubelet-token-file {} is empty", path.display())));
    }
    Ok(token.to_string())
}

impl KubeletClient {
    /// Builds the client; the CA file (unless verification is off) and the token file must
    /// be readable now, so a wrong path fails at start rather than every interval.
    pub fn new(src: &KubeletSource) -> Result<KubeletClient> {
        let base = src.url.trim_end_matches('/');
        if !base.starts_with("https://") {
            return Err(cfg_err(format!(
                "--kubelet-url `{}` must be https:// (the kubelet's authenticated port {KUBELET_PORT} speaks only TLS)",
                src.url
            )));
        }
        base.parse::<http::Uri>().map_err(|e| cfg_err(format!("--kubelet-url `{}` is not a URL: {e}", src.url)))?;
        read_token(&src.token_file)?;
        let tls = if src.insecure_skip_tls_verify {
            tracing::warn!(url = base, "--kubelet-insecure-skip-tls-verify: the kubelet's certificate is not verified");
            ureq::tls::TlsConfig::builder().disable_verification(true).build()
        } else {
            let pem =
                std::fs::read(&src.ca_file).map_err(|e| AgentError::io("read --kubelet-ca-file", &src.ca_file, e))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(cfg_err(format!("--kubelet-ca-file {}: no PEM certificate found", src.ca_file.display())));
            }
            ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build()
        };
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(1)
            .tls_config(tls)
            .user_agent(concat!("keelwatch-agent/", env!("CARGO_PKG_VERSION")));
        if !src.timeout.is_zero() {
            cfg = cfg.timeout_global(Some(src.timeout));
        }
        Ok(KubeletClient {
            agent: cfg.build().into(),
            pods_url: format!("{base}/pods"),
            token_file: src.token_file.clone(),
        })
    }

    /// The URL this client reads.
    pub fn url(&self) -> &str {
        &self.pods_url
    }

    /// The node's pods.
    pub fn pods(&self) -> Result<Vec<Pod>> {
        let url = &self.pods_url;
        let token = read_token(&self.token_file)?;
        let mut resp = self
            .agent
            .get(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json")
            .call()
            .map_err(|e| {
                let hint = if is_tls_error(&e) {
                    " (if its serving certificate is self-signed, pass --kubelet-ca-file with the CA that signed it, or --kubelet-insecure-skip-tls-verify)"
                } else {
                    ""
                };
                cfg_err(format!("kubelet {url}: {e}{hint}"))
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| cfg_err(format!("kubelet {url}: reading the response: {e}")))?;
        match status {
            200..=299 => parse_pod_list(&body).map_err(|e| cfg_err(format!("kubelet {url}: {e}"))),
            401 | 403 => Err(cfg_err(format!(
                "kubelet {url}: HTTP {status}: the service account may not read the kubelet's pods (grant `get` on `nodes/proxy`): {}",
                snippet(&body)
            ))),
            _ => Err(cfg_err(format!("kubelet {url}: HTTP {status}: {}", snippet(&body)))),
        }
    }
}

/// Whether a request failed in the TLS layer (rustls reports a rejected certificate during
/// the handshake as an `InvalidData` I/O error), where a CA hint helps; a refused connection
/// or a timeout is not.
fn is_tls_error(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.trim().to_string()
}

#[derive(serde::Deserialize)]
struct PodListDoc {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    items: Option<Vec<Pod>>,
}

/// Decodes a v1 `PodList` as the kubelet serves it.
pub fn parse_pod_list(body: &[u8]) -> std::result::Result<Vec<Pod>, String> {
    let doc: PodListDoc = serde_json::from_slice(body).map_err(|e| format!("not a PodList: {e}"))?;
    match doc.kind.as_deref() {
        Some("PodList") | None => {}
        Some(other) => return Err(format!("expected a PodList, got a {other}")),
    }
    // `"items": null` is how Go encodes an empty slice in some versions.
    Ok(doc.items.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(default_url(Some("10.0.0.4"), "node-1"), "https://10.0.0.4:10250");
        assert_eq!(default_url(None, "node-1"), "https://node-1:10250");
        assert_eq!(default_url(Some(" "), "node-1"), "https://node-1:10250");
        assert_eq!(default_url(Some("fd00::4"), "node-1"), "https://[fd00::4]:10250");
    }

    #[test]
    fn pod_lists() {
        let pods = parse_pod_list(br#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":null}"#).unwrap();
        assert!(pods.is_empty());
        let pods = parse_pod_list(
            br#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a","namespace":"n","uid":"u"},"spec":{"containers":[{"name":"c","image":"i"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(pods[0].metadata.name.as_deref(), Some("a"));
        let err = parse_pod_list(br#"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#).unwrap_err();
        assert!(err.contains("Status"), "{err}");
        assert!(parse_pod_list(b"<html>").unwrap_err().contains("not a PodList"));
    }

    #[test]
    fn bad_settings_fail_at_start() {
        let t = tempfile::tempdir().unwrap();
        let token = t.path().join("token");
        std::fs::write(&token, "t\n").unwrap();
        let src = KubeletSource {
            url: "http://node-1:10250".into(),
            token_file: token.clone(),
            ca_file: t.path().join("missing-ca.crt"),
            insecure_skip_tls_verify: false,
            timeout: Duration::from_secs(1),
        };
        let err = |s: &KubeletSource| KubeletClient::new(s).err().expect("must fail").to_string();
        assert!(err(&src).contains("must be https://"), "{}", err(&src));
        let src = KubeletSource { url: "https://node-1:10250".into(), ..src };
        assert!(err(&src).contains("missing-ca.crt"), "{}", err(&src));
        std::fs::write(t.path().join("missing-ca.crt"), "not pem").unwrap();
        assert!(err(&src).contains("no PEM certificate"), "{}", err(&src));
        let insecure = KubeletSource { insecure_skip_tls_verify: true, ..src.clone() };
        assert_eq!(KubeletClient::new(&insecure).unwrap().url(), "https://node-1:10250/pods");
        let no_token = KubeletSource { token_file: t.path().join("nope"), ..insecure.clone() };
        assert!(err(&no_token).contains("--kubelet-token-file"), "{}", err(&no_token));
        std::fs::write(&token, " \n").unwrap();
        assert!(err(&insecure).contains("is empty"), "{}", err(&insecure));
    }
}
