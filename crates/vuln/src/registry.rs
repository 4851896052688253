//! Registry references through the OCI distribution API (blocking reqwest, rustls).
//!
//! Auth: anonymous; HTTP basic; the bearer-token flow (401 + `WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…` → token endpoint, with basic credentials if known). Credentials
//! come from `--username/--password` or the docker config (`credHelpers`, `auths`,
//! `credsStore`; see [`crate::credentials`]), resolved only when the registry answers 401.
//! Multi-arch indexes are resolved with
//! `--platform`. `--insecure` uses plain HTTP (meant for localhost registries).
//!
//! Layer blobs are streamed straight into the walker (never written to disk); their sha256 is
//! computed on the way and checked against the manifest digest before the result is cached.

use std::io::{self, Read};

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::source::{
    LayerCache, LoadOptions, LoadStats, LoadedImage, ProgressEvent, ProgressReader, ProgressSink, is_index,
    pick_platform,
};
use crate::walker;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_MANIFEST: u64 = 8 << 20;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host[:port] (`registry-1.docker.io` for Docker Hub).
    pub registry: String,
    pub repository: String,
    /// Tag or digest.
    pub reference: String,
}

/// Parse `[registry/]repo[:tag][@digest]` with Docker Hub defaults.
pub fn parse_reference(s: &str) -> Result<Reference, Error> {
    let bad = |what: &str| Error::Input { path: s.to_string(), what: format!("invalid image reference: {what}") };
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(bad("empty or contains spaces"));
    }
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (s, None),
    };
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => ("registry-1.docker.io".to_string(), name.to_string()),
    };
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
        _ => (rest.clone(), None),
    };
    let repo = if registry == "registry-1.docker.io" && !repo.contains('/') { format!("library/{repo}") } else { repo };
    if repo.is_empty() || repo.split('/').any(|p| p.is_empty() || p == "..") {
        return Err(bad("bad repository name"));
    }
    let registry = if registry == "docker.io" || registry == "index.docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        registry
    };
    Ok(Reference { registry, repository: repo, reference: digest.or(tag).unwrap_or_else(|| "latest".into()) })
}

/// Credentials for `registry` from a docker config file's `auths`.
pub fn docker_credentials(config: &Value, registry: &str) -> Option<(String, String)> {
    let auths = config.get("auths")?.as_object()?;
    let host_of = |k: &str| {
        let k = k.trim_start_matches("https://").trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_string()
    };
    let want = if registry == "registry-1.docker.io" { "index.docker.io".to_string() } else { registry.to_string() };
    for (k, v) in auths {
        if host_of(k) == want || host_of(k) == registry {
            if let Some(a) = v.get("auth").and_then(|a| a.as_str()) {
                let dec = base64::engine::general_purpose::STANDARD.decode(a.trim()).ok()?;
                let s = String::from_utf8(dec).ok()?;
                let (u, p) = s.split_once(':')?;
                return Some((u.to_string(), p.to_string()));
            }
            if let (Some(u), Some(p)) =
                (v.get("username").and_then(|x| x.as_str()), v.get("password").and_then(|x| x.as_str()))
            {
                return Some((u.to_string(), p.to_string()));
            }
        }
    }
    None
}

fn auth_params(h: &str) -> (String, Vec<(String, String)>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut out = vec![];
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, r)) = rest.split_once('=') else { break };
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let r = r.trim_start();
        let (v, r2) = if let Some(r) = r.strip_prefix('"') {
            match r.find('"') {
                Some(i) => (r[..i].to_string(), &r[i + 1..]),
                None => (r.to_string(), ""),
            }
        } else {
            match r.find(',') {
                Some(i) => (r[..i].trim().to_string(), &r[i..]),
                None => (r.trim().to_string(), ""),
            }
        };
        out.push((k, v));
        rest = r2.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), out)
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
    r: Reference,
    creds: Option<(String, String)>,
    /// Docker config still to consult (credentials resolved on the first 401).
    creds_pending: Option<std::path::PathBuf>,
    helper_timeout: std::time::Duration,
    auth: Option<String>,
}

impl Client {
    fn err(&self, what: String) -> Error {
        Error::Registry { registry: self.r.registry.clone(), what }
    }

    fn send(&self, url: &str, accept: &str) -> Result<reqwest::blocking::Response, Error> {
        let mut req = self.http.get(url).header("Accept", accept);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        req.send().map_err(|e| self.err(format!("GET {url}: {e}")))
    }

    fn credentials(&mut self) -> Result<Option<(String, String)>, Error> {
        if let Some(p) = self.creds_pending.take() {
            self.creds = crate::credentials::from_file(&p, &self.r.registry, self.helper_timeout)?;
        }
        Ok(self.creds.clone())
    }

    fn authenticate(&mut self, challenge: &str) -> Result<(), Error> {
        let creds = self.credentials()?;
        let (scheme, params) = auth_params(challenge);
        let get = |k: &str| params.iter().find(|(x, _)| x.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        if scheme == "basic" {
            let (u, p) = creds.ok_or_else(|| self.err("registry requires credentials: pass --username/--password or log in (docker login) so ~/.docker/config.json has them (auths, credHelpers or credsStore)".into()))?;
            self.auth = Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))));
            return Ok(());
        }
        if scheme != "bearer" {
            return Err(self.err(format!("unsupported auth scheme in WWW-Authenticate: {challenge}")));
        }
        let realm = get("realm").ok_or_else(|| self.err("bearer challenge without realm".into()))?;
        let mut q: Vec<(String, String)> = vec![];
        if let Some(s) = get("service") {
            q.push(("service".into(), s));
        }
        q.push(("scope".into(), get("scope").unwrap_or_else(|| format!("repository:{}:pull", self.r.repository))));
        let mut req = self.http.get(&realm).query(&q);
        if let Some((u, p)) = &creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().map_err(|e| self.err(format!("token request to {realm}: {e}")))?;
        if !resp.status().is_success() {
            return Err(self.err(format!(
                "token request to {realm}: HTTP {} (check credentials and repository name)",
                resp.status()
            )));
        }
        let mut body = vec![];
        resp.take(1 << 20).read_to_end(&mut body).map_err(|e| self.err(format!("token response: {e}")))?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| self.err(format!("token response is not JSON: {e}")))?;
        let tok = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| self.err("token response has no token".into()))?;
        self.auth = Some(format!("Bearer {tok}"));
        Ok(())
    }

    /// GET with one authentication retry.
    fn get(&mut self, path: &str, accept: &str) -> Result<reqwest::blocking::Response, Error> {
        let url = format!("{}/v2/{}/{}", self.base, self.r.repository, path);
        let resp = self.send(&url, accept)?;
        let resp = if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            let ch = resp.headers().get("www-authenticate").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
            if ch.is_empty() {
                return Err(self.err(format!("GET {url}: 401 without WWW-Authenticate")));
            }
            self.authenticate(&ch)?;
            self.send(&url, accept)?
        } else {
            resp
        };
        if !resp.status().is_success() {
            let st = resp.status();
            let hint = match st.as_u16() {
                401 | 403 => " (not authorised: check credentials)",
                404 => " (no such repository, tag or blob)",
                _ => "",
            };
            return Err(self.err(format!("GET {url}: HTTP {st}{hint}")));
        }
        Ok(resp)
    }

    fn get_json(&mut self, path: &str, accept: &str) -> Result<(Value, String, Vec<u8>), Error> {
        let resp = self.get(path, accept)?;
        let ct = resp.headers().get("content-type").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
        let mut body = vec![];
        resp.take(MAX_MANIFEST + 1).read_to_end(&mut body).map_err(|e| self.err(format!("{path}: {e}")))?;
        if body.len() as u64 > MAX_MANIFEST {
            return Err(self.err(format!("{path}: larger than {MAX_MANIFEST} bytes")));
        }
        let v = serde_json::from_slice(&body).map_err(|e| self.err(format!("{path}: invalid JSON: {e}")))?;
        Ok((v, ct, body))
    }
}

struct Hashing<R> {
    inner: R,
    h: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Pull manifest, config and (uncached) layers of `reference` and walk them.
pub fn load(reference: &str, opts: &LoadOptions) -> Result<LoadedImage, Error> {
    let r = parse_reference(reference)?;
    let scheme = if opts.insecure { "http" } else { "https" };
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .connect_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("keelwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Registry { registry: r.registry.clone(), what: e.to_string() })?;
    let (creds, creds_pending) = match (&opts.username, &opts.password) {
        (Some(u), Some(p)) => (Some((u.clone(), p.clone())), None),
        _ => (None, crate::credentials::config_path(opts.docker_config.as_deref())),
    };
    let mut c = Client {
        http,
        base: format!("{scheme}://{}", r.registry),
        r: r.clone(),
        creds,
        creds_pending,
        helper_timeout: opts.cred_helper_timeout.unwrap_or(crate::credentials::DEFAULT_HELPER_TIMEOUT),
        auth: None,
    };
    let (mut manifest, mut media, mut raw) = c.get_json(&format!("manifests/{}", r.reference), MANIFEST_ACCEPT)?;
    let mut digest = format!("sha256:{}", sha256_hex(&raw));
    if is_index(&media, &manifest) {
        let d = pick_platform(&manifest, opts.platform.as_deref(), reference).map_err(|w| c.err(w))?;
        let dg = d
            .get("digest")
            .and_then(|x| x.as_str())
            .ok_or_else(|| c.err("index entry without digest".into()))?
            .to_string();
        (manifest, media, raw) = c.get_json(&format!("manifests/{dg}"), MANIFEST_ACCEPT)?;
        digest = format!("sha256:{}", sha256_hex(&raw));
        if digest != dg {
            return Err(c.err(format!("manifest digest mismatch: expected {dg}, got {digest}")));
        }
    }
    let _ = media;
    let config_digest = manifest
        .get("config")
        .and_then(|x| x.get("digest"))
        .and_then(|x| x.as_str())
        .ok_or_else(|| c.err("manifest has no config (schema 1 manifests are not supported)".into()))?
        .to_string();
    let (config, _, craw) = c.get_json(&format!("blobs/{config_digest}"), "application/json, */*")?;
    if format!("sha256:{}", sha256_hex(&craw)) != config_digest {
        return Err(c.err(format!("config blob digest mismatch for {config_digest}")));
    }
    let ids: Vec<String> = config
        .get("rootfs")
        .and_then(|x| x.get("diff_ids"))
        .and_then(|x| x.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let layers: Vec<String> = manifest
        .get("layers")
        .and_then(|x| x.as_array())
        .map(|a| a.iter().filter_map(|l| l.get("digest").and_then(|d| d.as_str()).map(str::to_string)).collect())
        .unwrap_or_default();
    let sizes: Vec<Option<u64>> = manifest
        .get("layers")
        .and_then(|x| x.as_array())
        .map(|a| a.iter().map(|l| l.get("size").and_then(|s| s.as_u64())).collect())
        .unwrap_or_default();
    if ids.len() != layers.len() {
        return Err(c.err(format!(
            "config lists {} diff_ids but the manifest lists {} layers",
            ids.len(),
            layers.len()
        )));
    }
    let cache = opts.cache_dir.clone().map(LayerCache::new);
    let mut stats = LoadStats::default();
    let mut results = vec![];
    for (index, (blob, diff)) in layers.iter().zip(ids.iter()).enumerate() {
        stats.layers += 1;
        let size = sizes.get(index).copied().flatten();
        ProgressSink::emit(
            &opts.progress,
            ProgressEvent::LayerStart { index, total: layers.len(), layer: diff.clone(), size },
        );
        if let Some(hit) = cache.as_ref().and_then(|c| c.get(diff)) {
            stats.layers_from_cache += 1;
            ProgressSink::emit(&opts.progress, ProgressEvent::LayerDone { index, cached: true });
            results.push(hit);
            continue;
        }
        let resp = c.get(&format!("blobs/{blob}"), "*/*")?;
        let resp = ProgressReader { inner: resp, sink: &opts.progress, index, read: 0, reported: 0 };
        let mut hr = Hashing { inner: resp, h: Sha256::new() };
        let res = walker::walk_layer(&mut hr, diff, &opts.limits)?;
        // Read what the tar reader left (end-of-archive padding), bounded, then check the digest.
        io::copy(&mut (&mut hr).take(64 << 20), &mut io::sink()).map_err(|e| c.err(format!("blob {blob}: {e}")))?;
        let got = format!("sha256:{}", hex::encode(hr.h.finalize()));
        if blob.starts_with("sha256:") && &got != blob {
            return Err(c.err(format!("layer blob digest mismatch: expected {blob}, got {got}")));
        }
        ProgressSink::emit(&opts.progress, ProgressEvent::LayerDone { index, cached: false });
        stats.layers_walked += 1;
        stats.entries_walked += res.stats.entries;
        stats.bytes_walked += res.stats.bytes;
        for (k, v) in &res.stats.skipped {
            *stats.skipped.entry(k.clone()).or_default() += v;
        }
        if let Some(cache) = &cache {
            cache.put(diff, &res)?;
        }
        results.push(res);
    }
    Ok(LoadedImage {
        name: reference.to_string(),
        kind: "registry",
        digest: Some(digest),
        layer_ids: ids.into_iter().map(Some).collect(),
        layers: results,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = parse_reference("nginx:1.25").expect("ok");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("registry-1.docker.io", "library/nginx", "1.25")
        );
        let r = parse_reference("127.0.0.1:5000/test/deb12").expect("ok");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("127.0.0.1:5000", "test/deb12", "latest")
        );
        let r = parse_reference("ghcr.io/org/app@sha256:abcd").expect("ok");
        assert_eq!(r.reference, "sha256:abcd");
        assert!(parse_reference("a b").is_err());
        assert!(parse_reference("localhost/../x").is_err());
    }

    #[test]
    fn challenge_and_creds() {
        let (s, p) = auth_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".to_string(), "https://auth.docker.io/token".to_string()));
        assert_eq!(p[2].1, "repository:library/alpine:pull");
        let cfg: Value = serde_json::json!({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}, "localhost:5000": {"auth": "YWxpY2U6czNjcjN0"}}});
        assert_eq!(docker_credentials(&cfg, "localhost:5000"), Some(("alice".into(), "s3cr3t".into())));
        assert_eq!(docker_credentials(&cfg, "registry-1.docker.io"), Some(("u".into(), "p".into())));
        assert_eq!(docker_credentials(&cfg, "ghcr.io"), None);
    }
}
