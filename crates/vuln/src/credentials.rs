//! Registry credentials from a docker config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), the way the docker CLI finds them:
//!
//! 1. `credHelpers` — a helper named for this registry host: `docker-credential-<name> get`
//!    is run with the server address on stdin and answers `{"ServerURL", "Username",
//!    "Secret"}` on stdout;
//! 2. `auths` — inline `auth` (base64 `user:password`) or `username`/`password`;
//! 3. `credsStore` — the default helper for every registry.
//!
//! The server address sent to a helper is the host (`127.0.0.1:5000`, `ghcr.io`), or
//! `https://index.docker.io/v1/` for Docker Hub, as `docker login` stores them. A helper that
//! answers "credentials not found" means anonymous access. A helper that is missing, fails, or
//! does not answer within the timeout is an error naming the helper, the registry and what to
//! do. Helpers run only when the registry asks for authentication.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Error;

/// Default time a credential helper may take.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(20);

/// The docker config file to read: `explicit`, else `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("DOCKER_CONFIG")
            .map(|d| PathBuf::from(d).join("config.json"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")))
    })
}

fn host_of(k: &str) -> &str {
    let k = k.trim_start_matches("https://").trim_start_matches("http://");
    k.split('/').next().unwrap_or(k)
}

/// The host name docker uses for `registry` in its config (`index.docker.io` for Docker Hub).
fn config_host(registry: &str) -> &str {
    if registry == "registry-1.docker.io" { "index.docker.io" } else { registry }
}

/// The helper configured for `registry`: `credHelpers[host]`, else `credsStore`. Inline
/// `auths` credentials take precedence over `credsStore` (but not over `credHelpers`).
pub fn helper_for(config: &Value, registry: &str) -> Option<String> {
    let want = config_host(registry);
    let by_host = config.get("credHelpers").and_then(|h| h.as_object()).and_then(|h| {
        h.iter().find(|(k, _)| host_of(k) == want || host_of(k) == registry).and_then(|(_, v)| v.as_str())
    });
    by_host.or_else(|| config.get("credsStore").and_then(|s| s.as_str())).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Credentials for `registry` from a parsed docker config (helpers are run).
pub fn from_config(config: &Value, registry: &str, timeout: Duration) -> Result<Option<(String, String)>, Error> {
    let has_host_helper = config
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .is_some_and(|h| h.keys().any(|k| host_of(k) == config_host(registry) || host_of(k) == registry));
    if !has_host_helper && let Some(c) = crate::registry::docker_credentials(config, registry) {
        return Ok(Some(c));
    }
    match helper_for(config, registry) {
        Some(h) => run_helper(&h, registry, timeout),
        None => Ok(None),
    }
}

/// Read the docker config at `path` (missing file → no credentials) and resolve.
pub fn from_file(path: &Path, registry: &str, timeout: Duration) -> Result<Option<(String, String)>, Error> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let v: Value = serde_json::from_slice(&data).map_err(|e| Error::Input {
        path: path.display().to_string(),
        what: format!("docker config is not valid JSON: {e}"),
    })?;
    from_config(&v, registry, timeout)
}

/// Run `docker-credential-<helper> get` for `registry`.
pub fn run_helper(helper: &str, registry: &str, timeout: Duration) -> Result<Option<(String, String)>, Error> {
    let prog = format!("docker-credential-{helper}");
    let err = |what: String| Error::Registry { registry: registry.to_string(), what };
    if helper.is_empty() || helper.contains(['/', '\\']) {
        return Err(err(format!("invalid credential helper name {helper:?} in the docker config")));
    }
    let server = if registry == "registry-1.docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            err(format!(
                "credential helper {prog} (configured in the docker config) could not be run: {e}; install it on PATH or remove it from credHelpers/credsStore"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is not an error here; its exit status tells.
        let _ = stdin.write_all(server.as_bytes());
    }
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut b = vec![];
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(1 << 20).read_to_end(&mut b);
        }
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = vec![];
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 << 10).read_to_end(&mut b);
        }
        b
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "credential helper {prog} did not answer within {} s (is it waiting for a keychain unlock or a prompt?)",
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(err(format!("credential helper {prog}: {e}"))),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let errb = err_reader.join().unwrap_or_default();
    let out_s = String::from_utf8_lossy(&out);
    if !status.success() {
        let msg = format!("{} {}", out_s.trim(), String::from_utf8_lossy(&errb).trim());
        if msg.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(err(format!("credential helper {prog} failed ({status}): {}", msg.trim())));
    }
    let v: Value = serde_json::from_slice(&out).map_err(|e| {
        err(format!("credential helper {prog} answered something that is not JSON {{Username, Secret}}: {e}"))
    })?;
    let user = v.get("Username").and_then(|u| u.as_str()).unwrap_or("");
    let secret = v.get("Secret").and_then(|s| s.as_str()).unwrap_or("");
    if secret.is_empty() {
        return Err(err(format!("credential helper {prog} answered without a Secret")));
    }
    Ok(Some((user.to_string(), secret.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_selection() {
        let cfg = serde_json::json!({"credsStore": "desktop", "credHelpers": {"ghcr.io": "gh", "https://index.docker.io/v1/": "hub"}});
        assert_eq!(helper_for(&cfg, "ghcr.io").as_deref(), Some("gh"));
        assert_eq!(helper_for(&cfg, "registry-1.docker.io").as_deref(), Some("hub"));
        assert_eq!(helper_for(&cfg, "quay.io").as_deref(), Some("desktop"));
        assert_eq!(helper_for(&serde_json::json!({"auths": {}}), "quay.io"), None);
        let err = run_helper("../x", "r", DEFAULT_HELPER_TIMEOUT).expect_err("bad name").to_string();
        assert!(err.contains("invalid credential helper name"), "{err}");
        let err = run_helper("keelwatch-no-such-helper", "r", DEFAULT_HELPER_TIMEOUT).expect_err("missing").to_string();
        assert!(err.contains("docker-credential-keelwatch-no-such-helper") && err.contains("PATH"), "{err}");
    }
}
