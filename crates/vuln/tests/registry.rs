//! Registry pulls over real HTTP on 127.0.0.1 against a minimal distribution-API server that
//! demands the bearer-token flow (token endpoint checks basic credentials taken from a docker
//! config file), serves a multi-arch index, and can corrupt a blob to prove digest checking.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine;
use keelwatch_vuln::source::{LoadOptions, Target};
use sha2::{Digest, Sha256};

fn sha(d: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(d)))
}

fn layer_gz(files: &[(&str, &[u8])]) -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, p, *d).expect("append");
    }
    let raw = b.into_inner().expect("tar");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&raw).expect("gz");
    (raw, e.finish().expect("gz"))
}

struct Registry {
    /// path after /v2/<repo>/ → (content type, body)
    objects: HashMap<String, (String, Vec<u8>)>,
    log: Vec<String>,
}

fn serve(state: Arc<Mutex<Registry>>, user: &'static str, pass: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let realm = format!("http://{addr}/token");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.strip_prefix("authorization: ").or_else(|| h.strip_prefix("Authorization: ")) {
                    auth = v.trim().to_string();
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let mut st = state.lock().expect("lock");
            st.log.push(path.clone());
            let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")));
            let (status, ctype, body, extra): (&str, String, Vec<u8>, String) = if path.starts_with("/token") {
                if auth == basic && path.contains("scope=repository%3Ateam%2Fapp%3Apull") {
                    ("200 OK", "application/json".into(), br#"{"token":"t0k3n"}"#.to_vec(), String::new())
                } else {
                    ("401 Unauthorized", "application/json".into(), b"{}".to_vec(), String::new())
                }
            } else if auth != "Bearer t0k3n" {
                (
                    "401 Unauthorized",
                    "application/json".into(),
                    b"{}".to_vec(),
                    format!(
                        "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"test\",scope=\"repository:team/app:pull\"\r\n"
                    ),
                )
            } else if let Some((ct, b)) = path.strip_prefix("/v2/team/app/").and_then(|k| st.objects.get(k)) {
                ("200 OK", ct.clone(), b.clone(), String::new())
            } else {
                ("404 Not Found", "application/json".into(), b"{}".to_vec(), String::new())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    addr
}

fn image() -> (HashMap<String, (String, Vec<u8>)>, String) {
    let mut objects = HashMap::new();
    let mut manifests = vec![];
    let mut amd_layer = String::new();
    for (arch, osr) in
        [("amd64", &b"ID=debian\nVERSION_ID=12\n"[..]), ("arm64", &b"ID=alpine\nVERSION_ID=3.19.0\n"[..])]
    {
        let status = b"Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n";
        let (raw, gz) = layer_gz(&[("etc/os-release", osr), ("var/lib/dpkg/status", status)]);
        let ld = sha(&gz);
        if arch == "amd64" {
            amd_layer = ld.clone();
        }
        objects.insert(format!("blobs/{ld}"), ("application/octet-stream".into(), gz.clone()));
        let cfg = serde_json::to_vec(&serde_json::json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(&raw)]}})).expect("json");
        objects.insert(format!("blobs/{}", sha(&cfg)), ("application/json".into(), cfg.clone()));
        let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha(&cfg), "size": cfg.len()},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": ld, "size": gz.len()}]})).expect("json");
        objects.insert(
            format!("manifests/{}", sha(&m)),
            ("application/vnd.docker.distribution.manifest.v2+json".into(), m.clone()),
        );
        manifests.push(serde_json::json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": sha(&m), "size": m.len(), "platform": {"os": "linux", "architecture": arch}}));
    }
    let idx = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": manifests})).expect("json");
    objects.insert("manifests/1.0".into(), ("application/vnd.docker.distribution.manifest.list.v2+json".into(), idx));
    (objects, amd_layer)
}

#[test]
fn bearer_flow_docker_config_platforms_and_digest_check() {
    let (objects, amd_layer) = image();
    let state = Arc::new(Mutex::new(Registry { objects, log: vec![] }));
    let addr = serve(state.clone(), "alice", "s3cr3t");
    let t = tempfile::tempdir().expect("tempdir");
    let cfg = t.path().join("config.json");
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr3t");
    std::fs::write(
        &cfg,
        serde_json::to_vec(&serde_json::json!({"auths": {addr.clone(): {"auth": auth}}})).expect("json"),
    )
    .expect("write");
    let reference = format!("{addr}/team/app:1.0");
    let opts = |platform: &str, cache: bool| LoadOptions {
        insecure: true,
        platform: Some(platform.into()),
        docker_config: Some(cfg.clone()),
        cache_dir: cache.then(|| t.path().join("cache")),
        ..Default::default()
    };
    let (img, inv) = keelwatch_vuln::scan::inventory(&Target::Registry(reference.clone()), &opts("linux/amd64", true))
        .expect("pull amd64");
    assert_eq!(img.kind, "registry");
    assert_eq!(inv.os.as_ref().map(|o| o.id.as_str()), Some("debian"));
    assert_eq!(inv.packages.len(), 1);
    assert_eq!(inv.packages[0].source_name.as_deref(), Some("zlib"));
    let log = state.lock().expect("lock").log.clone();
    assert!(log.iter().any(|p| p.starts_with("/token?")), "{log:?}");
    let (_, inv) = keelwatch_vuln::scan::inventory(&Target::Registry(reference.clone()), &opts("linux/arm64", false))
        .expect("pull arm64");
    assert_eq!(inv.os.map(|o| o.id), Some("alpine".to_string()));
    // Cached rescan: the layer blob is not fetched again.
    state.lock().expect("lock").log.clear();
    let (img, _) = keelwatch_vuln::scan::inventory(&Target::Registry(reference.clone()), &opts("linux/amd64", true))
        .expect("cached");
    assert_eq!(img.stats.layers_from_cache, 1);
    assert!(!state.lock().expect("lock").log.iter().any(|p| p.contains(&amd_layer)));
    // Wrong credentials: a clear error.
    std::fs::write(&cfg, serde_json::to_vec(&serde_json::json!({"auths": {addr.clone(): {"auth": base64::engine::general_purpose::STANDARD.encode("alice:wrong")}}})).expect("json")).expect("write");
    let err = keelwatch_vuln::scan::inventory(&Target::Registry(reference.clone()), &opts("linux/amd64", false))
        .expect_err("bad creds")
        .to_string();
    assert!(err.contains("token request") && err.contains("401"), "{err}");
    // Corrupted layer blob: digest mismatch, nothing cached.
    std::fs::write(
        &cfg,
        serde_json::to_vec(&serde_json::json!({"auths": {addr.clone(): {"auth": auth}}})).expect("json"),
    )
    .expect("write");
    {
        let mut st = state.lock().expect("lock");
        let (_, (_, body)) = st.objects.iter_mut().find(|(k, _)| k.contains(&amd_layer)).expect("layer");
        let (_, evil) = layer_gz(&[("etc/os-release", b"ID=evil\n")]);
        *body = evil;
    }
    let err = keelwatch_vuln::scan::inventory(&Target::Registry(reference), &opts("linux/amd64", false))
        .expect_err("digest")
        .to_string();
    assert!(err.contains("digest mismatch"), "{err}");
}
