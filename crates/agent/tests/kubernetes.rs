//! Kubernetes mode end to end, against a real HTTP API server stand-in on 127.0.0.1.
//!
//! No real API server can run here, so the agent's real kube-rs client talks to a small
//! HTTP/1.1 server that answers `GET /api/v1/pods` with a `PodList` in the exact shape the
//! API server returns (`tests/data/podlist-node-1.json`: written for this test in the real
//! v1 format — `kind`/`apiVersion`/`metadata.resourceVersion`, items with ownerReferences,
//! managedFields, containerStatuses with `containerd://` ids, lastState, etc.), split into
//! pages with `metadata.continue` so kube-rs' paging is exercised too. The server records each
//! request so the test checks the field selector and the bearer token the client sent.
//! Everything else is real: log files in the kubelet layout, a cgroup v2 tree on disk with
//! both cgroup-driver path styles, NDJSON output.
#![cfg(feature = "kubernetes")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use keelwatch_agent::{AgentConfig, Output};
use serde_json::Value;

#[test]
#[ignore = "helper: runs the agent when KW_AGENT_CONFIG is set"]
fn child_agent() {
    child_agent_main();
}

const WEB: &str = "3f6c2a1e-8b7d-4c5e-9a0f-1b2c3d4e5f60";
const BATCH: &str = "5a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
const DEV: &str = "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f";
const KUBE_PROXY: &str = "9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b";

fn id(pair: &str) -> String {
    pair.repeat(32)
}

/// One request the API stand-in received: path, decoded query pairs, Authorization header.
#[derive(Debug, Clone)]
struct ApiRequest {
    path: String,
    query: BTreeMap<String, String>,
    auth: String,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves the recorded PodList, `page` items per response.
struct ApiServer {
    url: String,
    requests: Arc<Mutex<Vec<ApiRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    fn start(podlist: Value, page: usize) -> ApiServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let requests: Arc<Mutex<Vec<ApiRequest>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r2, s2) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = serve_one(c, &podlist, page, &r2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ApiServer { url, requests, stop, thread: Some(thread) }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(
    mut c: std::net::TcpStream,
    podlist: &Value,
    page: usize,
    requests: &Mutex<Vec<ApiRequest>>,
) -> std::io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut request_line = String::new();
    r.read_line(&mut request_line)?;
    let mut auth = String::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "authorization" => auth = v.trim().to_string(),
            "content-length" => len = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    r.read_exact(&mut body)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (path, qs) = target.split_once('?').unwrap_or((&target, ""));
    let query: BTreeMap<String, String> = qs
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    requests.lock().unwrap().push(ApiRequest { path: path.to_string(), query: query.clone(), auth });
    let (status, body) = if path == "/api/v1/pods" {
        let items = podlist["items"].as_array().cloned().unwrap_or_default();
        let start: usize = query.get("continue").and_then(|c| c.strip_prefix("page-")?.parse().ok()).unwrap_or(0);
        let end = (start + page).min(items.len());
        let mut doc = podlist.clone();
        doc["items"] = Value::Array(items[start..end].to_vec());
        if end < items.len() {
            doc["metadata"]["continue"] = Value::String(format!("page-{end}"));
            doc["metadata"]["remainingItemCount"] = Value::from(items.len() - end);
        }
        ("200 OK", doc.to_string())
    } else {
        (
            "404 Not Found",
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#
                .to_string(),
        )
    };
    write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nAudit-Id: 0c4e1f9a-test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    c.flush()
}

fn write_file(dir: &Path, name: &str, content: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), content).unwrap();
}

/// A cgroup v2 container group with fixed counters.
fn cgroup(root: &Path, rel: &str, usage_usec: u64, memory: u64) {
    let d = root.join(rel);
    write_file(&d, "cpu.stat", &format!("usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 1\n"));
    write_file(&d, "memory.current", &format!("{memory}\n"));
    write_file(&d, "memory.stat", "anon 1000\ninactive_file 0\n");
}

fn log_lines(pods: &Path, ns: &str, pod: &str, uid: &str, container: &str, lines: &[&str]) {
    let mut text = String::new();
    for l in lines {
        text.push_str(&format!("2026-11-27T09:00:00.000000001Z stdout F {l}\n"));
    }
    write_file(&pods.join(format!("{ns}_{pod}_{uid}")).join(container), "0.log", &text);
}

fn columns(table: &str) -> BTreeSet<String> {
    let t = keelwatch_tables::table(table).unwrap_or_else(|| panic!("{table} is not in keelwatch-tables"));
    t.columns.iter().map(|c| c.name.to_string()).collect()
}

fn keys(row: &Value) -> BTreeSet<String> {
    row.as_object().unwrap().keys().filter(|k| *k != "Type").cloned().collect()
}

fn setup(t: &Path, api: &ApiServer) -> AgentConfig {
    let pods = t.join("pods");
    log_lines(
        &pods,
        "prod",
        "web-7d4b9c6f5-x2x9k",
        WEB,
        "app",
        &["GET / 200", r#"{"level":"error","msg":"upstream down"}"#],
    );
    log_lines(&pods, "prod", "web-7d4b9c6f5-x2x9k", WEB, "sidecar", &["proxy ready"]);
    log_lines(&pods, "prod", "report-28871234-q8z7w", BATCH, "worker", &["report done"]);
    log_lines(&pods, "kube-system", "kube-proxy-7hx2m", KUBE_PROXY, "kube-proxy", &["synced"]);
    let cg = t.join("cgroup");
    write_file(&cg, "cgroup.controllers", "cpu memory io\n");
    // systemd driver
    let web_slice =
        format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice", WEB.replace('-', "_"));
    cgroup(&cg, &format!("{web_slice}/cri-containerd-{}.scope", id("a1")), 1_000, 64 << 20);
    // cgroupfs driver
    cgroup(&cg, &format!("kubepods/burstable/pod{WEB}/{}", id("b2")), 1_000, 16 << 20);
    cgroup(&cg, &format!("kubepods/besteffort/pod{BATCH}/{}", id("c3")), 1_000, 8 << 20);
    cgroup(&cg, &format!("kubepods/besteffort/pod{KUBE_PROXY}/{}", id("d4")), 1_000, 8 << 20);
    let token = t.join("token");
    // Service account token files end without a newline; the agent copes with one too.
    std::fs::write(&token, "sa-token-123").unwrap();
    let mut cfg = AgentConfig::kubernetes(Output::File(t.join("out.ndjson")));
    cfg.node_name = Some("node-1".into());
    cfg.cluster_id = "c1".into();
    cfg.cluster_name = "prod-eu".into();
    cfg.kube_api_url = Some(api.url.clone());
    cfg.kube_token_file = Some(token);
    cfg.state_dir = t.join("state");
    cfg.log_dir = Some(pods);
    cfg.cgroup_root = Some(cg);
    cfg.proc_root = "/proc".into();
    cfg.once = true;
    cfg.once_window = Duration::from_millis(100);
    cfg.filter.exclude = vec!["kube-*".into()];
    cfg.filter.exclude_labels = vec!["app=batch".into()];
    cfg
}

#[test]
fn pods_from_the_api_server_drive_inventory_metadata_and_filters() {
    let podlist: Value =
        serde_json::from_str(include_str!("data/podlist-node-1.json")).expect("the recorded PodList is JSON");
    let api = ApiServer::start(podlist, 2);
    let t = tempfile::tempdir().unwrap();
    let cfg = setup(t.path(), &api);
    keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false))).expect("agent run");

    // The client: the node's pods only, with the bearer token, following `continue`.
    let reqs = api.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "4 pods in pages of 2: {reqs:?}");
    for r in &reqs {
        assert_eq!(r.path, "/api/v1/pods");
        assert_eq!(r.query.get("fieldSelector").map(String::as_str), Some("spec.nodeName=node-1"), "{r:?}");
        assert_eq!(r.auth, "Bearer sa-token-123");
    }
    assert_eq!(reqs[1].query.get("continue").map(String::as_str), Some("page-2"));

    let out = read_output(&t.path().join("out.ndjson"));
    // KubePodInventory: one row per container of the allowed pods (web: 2, dev/api-0: 1);
    // the batch pod is excluded by label, kube-proxy by namespace.
    let kpi = &out["KubePodInventory"];
    let want = columns("KubePodInventory");
    for r in kpi {
        assert_eq!(keys(r), want, "KubePodInventory columns must match keelwatch-tables exactly");
    }
    let names: BTreeSet<&str> = kpi.iter().map(|r| r["ContainerName"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [format!("{WEB}/app"), format!("{WEB}/sidecar"), format!("{DEV}/api")].iter().map(String::as_str).collect()
    );
    let app = kpi.iter().find(|r| r["ContainerName"] == format!("{WEB}/app")).unwrap();
    assert_eq!(app["ContainerID"], id("a1"));
    assert_eq!(app["InstanceName"], format!("c1/{WEB}/app"));
    assert_eq!((app["ClusterId"].as_str(), app["ClusterName"].as_str()), (Some("c1"), Some("prod-eu")));
    assert_eq!(app["Computer"], "node-1");
    assert_eq!(app["Name"], "web-7d4b9c6f5-x2x9k");
    assert_eq!(app["Namespace"], "prod");
    assert_eq!(app["PodUid"], WEB);
    assert_eq!(app["PodStatus"], "Running");
    assert_eq!(app["PodIp"], "10.244.1.17");
    assert_eq!(
        (app["ControllerKind"].as_str(), app["ControllerName"].as_str()),
        (Some("ReplicaSet"), Some("web-7d4b9c6f5"))
    );
    assert_eq!(app["ContainerStatus"], "Running");
    assert_eq!(app["ContainerRestartCount"], 2);
    assert_eq!(app["PodRestartCount"], 2);
    assert_eq!(app["ContainerStartTime"], "2026-11-27T08:20:04Z");
    assert_eq!(app["ContainerCreationTimeStamp"], "2026-11-27T08:00:02Z");
    assert_eq!(app["PodCreationTimeStamp"], "2026-11-27T08:00:00Z");
    let labels: Value = serde_json::from_str(app["PodLabel"].as_str().unwrap()).unwrap();
    assert_eq!(labels[0]["app"], "web");
    let last: Value = serde_json::from_str(app["ContainerLastStatus"].as_str().unwrap()).unwrap();
    assert_eq!((last["reason"].as_str(), last["exitCode"].as_i64()), (Some("OOMKilled"), Some(137)));
    let api0 = kpi.iter().find(|r| r["PodUid"] == DEV).unwrap();
    assert_eq!(
        (api0["PodStatus"].as_str(), api0["ContainerStatus"].as_str(), api0["ContainerStatusReason"].as_str()),
        (Some("Pending"), Some("Waiting"), Some("ImagePullBackOff"))
    );
    assert_eq!(api0["ControllerKind"], "StatefulSet");
    assert_eq!(api0["ContainerID"], "");

    // ContainerInventory.
    let ci = &out["ContainerInventory"];
    let want = columns("ContainerInventory");
    for r in ci {
        assert_eq!(keys(r), want, "ContainerInventory columns must match keelwatch-tables exactly");
    }
    assert_eq!(ci.len(), 3);
    let app = ci.iter().find(|r| r["ContainerID"] == id("a1")).unwrap();
    assert_eq!(
        (app["Repository"].as_str(), app["Image"].as_str(), app["ImageTag"].as_str()),
        (Some("docker.io"), Some("library/nginx"), Some("1.27"))
    );
    assert_eq!(app["ImageID"], format!("sha256:{}", id("0f")));
    assert_eq!(app["ContainerState"], "Running");
    assert_eq!(app["Name"], "app");
    assert_eq!(app["ContainerHostname"], "web-7d4b9c6f5-x2x9k");
    let cmd: Vec<String> = serde_json::from_str(app["Command"].as_str().unwrap()).unwrap();
    assert_eq!(cmd, ["nginx", "-g", "daemon off;"]);
    let env: Vec<String> = serde_json::from_str(app["EnvironmentVar"].as_str().unwrap()).unwrap();
    assert_eq!(env, ["MODE=prod"], "secret references are never resolved or shipped");
    let ports: Value = serde_json::from_str(app["Ports"].as_str().unwrap()).unwrap();
    assert_eq!(ports[0]["containerPort"], 8080);

    // ContainerLogV2: excluded pods' logs are not read; the rest carry pod metadata.
    let logs = &out["ContainerLogV2"];
    let pods: BTreeSet<&str> = logs.iter().map(|r| r["PodName"].as_str().unwrap()).collect();
    assert_eq!(pods, ["web-7d4b9c6f5-x2x9k"].into());
    assert_eq!(logs.len(), 3);
    let err = logs.iter().find(|r| r["LogLevel"] == "ERROR").unwrap();
    assert_eq!(err["ContainerId"], id("a1"), "container id from the API (no /var/log/containers links here)");
    let km = &err["KubernetesMetadata"];
    assert_eq!(km["podUid"], WEB);
    assert_eq!(km["podLabels"]["app"], "web");
    assert_eq!(km["podAnnotations"]["kubectl.kubernetes.io/restartedAt"], "2026-11-27T07:59:58Z");
    assert_eq!(km["image"], "docker.io/library/nginx:1.27");
    assert_eq!(km["imageRepo"], "docker.io");
    assert_eq!(km["imageTag"], "1.27");

    // Perf: cgroups of both drivers map to pod uid / container name via the API's ids; the
    // batch container (label) and kube-proxy (namespace) are filtered out.
    let instances: BTreeSet<&str> = out["Perf"]
        .iter()
        .filter(|r| r["ObjectName"] == "K8SContainer")
        .map(|r| r["InstanceName"].as_str().unwrap())
        .collect();
    assert!(instances.contains(format!("c1/{WEB}/app").as_str()), "{instances:?}");
    assert!(instances.contains(format!("c1/{WEB}/sidecar").as_str()), "{instances:?}");
    assert!(!instances.iter().any(|i| i.contains(BATCH) || i.contains(KUBE_PROXY)), "{instances:?}");
    let ws = out["Perf"]
        .iter()
        .find(|r| r["InstanceName"] == format!("c1/{WEB}/app") && r["CounterName"] == "memoryWorkingSetBytes")
        .unwrap();
    assert_eq!(ws["CounterValue"], 67108864.0);
    // Requests from the pod spec (app: cpu 250m, memory 128Mi; the sidecar sets none).
    let counter = |container: &str, name: &str| {
        out["Perf"]
            .iter()
            .find(|r| r["InstanceName"] == format!("c1/{WEB}/{container}") && r["CounterName"] == name)
            .map(|r| r["CounterValue"].clone())
    };
    assert_eq!(counter("app", "cpuRequestNanoCores"), Some(serde_json::json!(250_000_000.0)));
    assert_eq!(counter("app", "memoryRequestBytes"), Some(serde_json::json!(134_217_728.0)));
    assert_eq!(counter("sidecar", "cpuRequestNanoCores"), None);
}

/// The API server is unreachable: `--once` fails with an error naming it, rather than
/// shipping pods whose labels it cannot check against the label rules.
#[test]
fn api_server_unreachable_is_an_error_that_names_it() {
    let t = tempfile::tempdir().unwrap();
    let api = ApiServer::start(serde_json::json!({}), 1);
    let mut cfg = setup(t.path(), &api);
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", dead.local_addr().unwrap().port());
    drop(dead);
    cfg.kube_api_url = Some(url.clone());
    let err = keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false))).unwrap_err().to_string();
    assert!(err.contains(&url), "{err}");
    assert!(
        !t.path().join("out.ndjson").exists()
            || !read_output(&t.path().join("out.ndjson")).contains_key("ContainerLogV2")
    );
}
