//! Kubernetes mode end to end, against a real HTTP API server stand-in on 127.0.0.1.
//!
//! No real API server can run here, so the agent's real kube-rs client talks to a small
//! HTTP/1.1 server that answers `GET /api/v1/pods` with a `PodList` and `GET /api/v1/services`
//! with a `ServiceList`, in the exact shape the API server returns
//! (`tests/data/podlist-node-1.json` and `servicelist.json`: recorded real-format data,
//! written for this test in the v1 format — `kind`/`apiVersion`/`metadata.resourceVersion`,
//! items with ownerReferences, managedFields, init and ephemeral containers with their own
//! status lists, `containerd://` ids, lastState; Services with and without selectors, an
//! ExternalName and a headless one), split into pages with `metadata.continue` so kube-rs'
//! paging is exercised too. The server records each request so the test checks the field
//! selector and the bearer token the client sent.
//! Everything else is real: log files in the kubelet layout, a cgroup v2 tree on disk with
//! both cgroup-driver path styles, NDJSON output.
#![cfg(feature = "kubernetes")]

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::apiserver::{ApiRequest, ApiServer};
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
    log_lines(&pods, "prod", "web-7d4b9c6f5-x2x9k", WEB, "migrate", &["migrated 12 tables"]);
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
    // A restartable ("sidecar") init container and a `kubectl debug` ephemeral container.
    cgroup(&cg, &format!("kubepods/burstable/pod{WEB}/{}", id("f6")), 1_000, 16 << 20);
    cgroup(&cg, &format!("kubepods/burstable/pod{WEB}/{}", id("a7")), 1_000, 4 << 20);
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

    // The client: the node's pods only, with the bearer token, following `continue`; then
    // one Service list for the round (every page), shared by all pods.
    let reqs = api.requests.lock().unwrap().clone();
    let pod_reqs: Vec<&ApiRequest> = reqs.iter().filter(|r| r.path == "/api/v1/pods").collect();
    assert_eq!(pod_reqs.len(), 2, "4 pods in pages of 2: {reqs:?}");
    for r in &pod_reqs {
        assert_eq!(r.query.get("fieldSelector").map(String::as_str), Some("spec.nodeName=node-1"), "{r:?}");
        assert_eq!(r.auth, "Bearer sa-token-123");
    }
    assert_eq!(pod_reqs[1].query.get("continue").map(String::as_str), Some("page-2"));
    let svc_reqs: Vec<&ApiRequest> = reqs.iter().filter(|r| r.path == "/api/v1/services").collect();
    assert_eq!(svc_reqs.len(), 4, "7 Services in pages of 2, listed once for the round: {reqs:?}");
    for r in &svc_reqs {
        assert_eq!(r.query.get("fieldSelector"), None, "Services of every namespace");
        assert_eq!(r.auth, "Bearer sa-token-123");
    }
    assert_eq!(reqs.len(), pod_reqs.len() + svc_reqs.len(), "{reqs:?}");

    let out = read_output(&t.path().join("out.ndjson"));
    // KubePodInventory: one row per regular and init container of the allowed pods (web: 2
    // regular + 2 init, dev/api-0: 1); the ephemeral debug container gets none (as in
    // Container Insights); the batch pod is excluded by label, kube-proxy by namespace.
    let kpi = &out["KubePodInventory"];
    let want = columns("KubePodInventory");
    for r in kpi {
        assert_eq!(keys(r), want, "KubePodInventory columns must match keelwatch-tables exactly");
    }
    let names: BTreeSet<&str> = kpi.iter().map(|r| r["ContainerName"].as_str().unwrap()).collect();
    let want_names = [
        format!("{WEB}/app"),
        format!("{WEB}/sidecar"),
        format!("{WEB}/migrate"),
        format!("{WEB}/mesh-proxy"),
        format!("{DEV}/api"),
    ];
    assert_eq!(names, want_names.iter().map(String::as_str).collect());
    assert_eq!(kpi.len(), 5);
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
    assert_eq!(app["ContainerStatus"], "running", "the state key as Container Insights reports it");
    assert_eq!(app["ContainerRestartCount"], 2);
    assert_eq!(app["PodRestartCount"], 3, "regular and init containers' restarts: app 2 + migrate 1");
    assert_eq!(app["ServiceName"], "web", "web and web-admin both select app=web: the smallest name");
    assert_eq!(app["ContainerStartTime"], "2026-11-27T08:20:04Z");
    assert_eq!(app["ContainerCreationTimeStamp"], "2026-11-27T08:00:02Z");
    assert_eq!(app["PodCreationTimeStamp"], "2026-11-27T08:00:00Z");
    let labels: Value = serde_json::from_str(app["PodLabel"].as_str().unwrap()).unwrap();
    assert_eq!(labels[0]["app"], "web");
    let last: Value = serde_json::from_str(app["ContainerLastStatus"].as_str().unwrap()).unwrap();
    assert_eq!((last["reason"].as_str(), last["exitCode"].as_i64()), (Some("OOMKilled"), Some(137)));
    assert_eq!(last["lastState"], "terminated");
    let api0 = kpi.iter().find(|r| r["PodUid"] == DEV).unwrap();
    assert_eq!(
        (api0["PodStatus"].as_str(), api0["ContainerStatus"].as_str(), api0["ContainerStatusReason"].as_str()),
        (Some("Pending"), Some("waiting"), Some("ImagePullBackOff"))
    );
    assert_eq!(api0["ControllerKind"], "StatefulSet");
    assert_eq!(api0["ContainerID"], "");
    assert_eq!(api0["ServiceName"], "api", "a headless Service selects too");

    // Init containers: their own status from initContainerStatuses, the pod's columns.
    let migrate = kpi.iter().find(|r| r["ContainerName"] == format!("{WEB}/migrate")).unwrap();
    assert_eq!(migrate["ContainerID"], id("9a"));
    assert_eq!(migrate["InstanceName"], format!("c1/{WEB}/migrate"));
    assert_eq!(
        (migrate["ContainerStatus"].as_str(), migrate["ContainerStatusReason"].as_str()),
        (Some("terminated"), Some("Completed"))
    );
    assert_eq!(migrate["ContainerRestartCount"], 1);
    assert_eq!(migrate["ContainerStartTime"], "2026-11-27T08:00:01Z");
    assert_eq!(migrate["ContainerCreationTimeStamp"], "2026-11-27T08:00:00Z", "the failed first attempt");
    let last: Value = serde_json::from_str(migrate["ContainerLastStatus"].as_str().unwrap()).unwrap();
    assert_eq!((last["reason"].as_str(), last["exitCode"].as_i64()), (Some("Error"), Some(1)));
    for col in [
        "Name",
        "Namespace",
        "PodUid",
        "PodStatus",
        "PodIp",
        "PodLabel",
        "PodRestartCount",
        "ServiceName",
        "ControllerName",
    ] {
        assert_eq!(migrate[col], app[col], "{col} is the pod's");
    }
    let mesh = kpi.iter().find(|r| r["ContainerName"] == format!("{WEB}/mesh-proxy")).unwrap();
    assert_eq!(
        (mesh["ContainerStatus"].as_str(), mesh["ContainerID"].as_str()),
        (Some("running"), Some(id("f6").as_str()))
    );
    assert_eq!(mesh["ContainerLastStatus"], "{}", "no last state is an empty object, as in Container Insights");

    // ContainerInventory.
    let ci = &out["ContainerInventory"];
    let want = columns("ContainerInventory");
    for r in ci {
        assert_eq!(keys(r), want, "ContainerInventory columns must match keelwatch-tables exactly");
    }
    assert_eq!(ci.len(), 5, "app, sidecar, migrate, mesh-proxy, api; no ephemeral container");
    assert!(ci.iter().all(|r| r["Name"] != "debugger-7xq2"));
    let migrate = ci.iter().find(|r| r["Name"] == "migrate").unwrap();
    assert_eq!(
        (migrate["ContainerState"].as_str(), migrate["ExitCode"].as_i64(), migrate["FinishedTime"].as_str()),
        (Some("Terminated"), Some(0), Some("2026-11-27T08:00:01Z"))
    );
    assert_eq!(
        (migrate["Repository"].as_str(), migrate["Image"].as_str(), migrate["ImageTag"].as_str()),
        (Some("docker.io"), Some("example/migrate"), Some("3.4"))
    );
    assert_eq!(migrate["ImageID"], format!("sha256:{}", id("2d")));
    let cmd: Vec<String> = serde_json::from_str(migrate["Command"].as_str().unwrap()).unwrap();
    assert_eq!(cmd, ["/migrate", "up"]);
    let mesh = ci.iter().find(|r| r["Name"] == "mesh-proxy").unwrap();
    assert_eq!(mesh["ContainerState"], "Running");
    let ports: Value = serde_json::from_str(mesh["Ports"].as_str().unwrap()).unwrap();
    assert_eq!(ports[0]["containerPort"], 15001);
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
    assert_eq!(logs.len(), 4);
    let migrate_log = logs.iter().find(|r| r["ContainerName"] == "migrate").unwrap();
    assert_eq!(migrate_log["ContainerId"], id("9a"), "init container ids come from initContainerStatuses");
    assert_eq!(migrate_log["KubernetesMetadata"]["image"], "docker.io/example/migrate:3.4");
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
    // Init and ephemeral containers' cgroups are named too (ids from their status lists).
    assert!(instances.contains(format!("c1/{WEB}/mesh-proxy").as_str()), "{instances:?}");
    assert!(instances.contains(format!("c1/{WEB}/debugger-7xq2").as_str()), "{instances:?}");
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
    assert_eq!(counter("mesh-proxy", "cpuRequestNanoCores"), Some(serde_json::json!(50_000_000.0)));
    assert_eq!(counter("mesh-proxy", "memoryRequestBytes"), Some(serde_json::json!(67_108_864.0)));
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

/// Services cannot be listed (here: the API answers 404 for them, as for a missing RBAC
/// grant it would answer 403): the round still ships its inventory, with `ServiceName` empty,
/// rather than losing every row for one column.
#[test]
fn service_list_failure_only_empties_service_name() {
    let podlist: Value = serde_json::from_str(include_str!("data/podlist-node-1.json")).unwrap();
    let api = ApiServer::with_lists(vec![("/api/v1/pods", podlist)], 10);
    let t = tempfile::tempdir().unwrap();
    let mut cfg = setup(t.path(), &api);
    cfg.log_dir = None;
    cfg.cgroup_root = None;
    keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false))).expect("agent run");
    let reqs = api.requests.lock().unwrap().clone();
    assert!(reqs.iter().any(|r| r.path == "/api/v1/services"), "{reqs:?}");
    let out = read_output(&t.path().join("out.ndjson"));
    let kpi = &out["KubePodInventory"];
    assert_eq!(kpi.len(), 5);
    assert!(kpi.iter().all(|r| r["ServiceName"] == ""), "{kpi:?}");
}

// --- `--pods-from kubelet` --------------------------------------------------------------

const STATIC_POD: &str = "5f3c8a0e2b7d4c19a6e8f0b1d2c3a4b5";

/// A kubelet stand-in: `GET /pods` over real TLS (rustls via keelwatch-https, a serving
/// certificate for 127.0.0.1 issued by a CA of its own, as a kubelet with a self-signed
/// serving certificate has) answering with a recorded PodList. Like the kubelet, it wants a
/// bearer token: none is 401 `Unauthorized`, another one 403 `Forbidden (…subresource=proxy)`.
struct KubeletServer {
    url: String,
    ca: std::path::PathBuf,
    auths: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KubeletServer {
    fn start(dir: &Path, podlist: Value, token: &str) -> KubeletServer {
        let paths =
            keelwatch_https::ensure_self_signed(&dir.join("kubelet-tls"), &["127.0.0.1".to_string()], "node-1-ca")
                .expect("kubelet serving certificate");
        let tls = keelwatch_https::server_config(&paths.cert, &paths.key, None).expect("TLS config");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let auths: Arc<Mutex<Vec<String>>> = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (seen, body, want) = (auths.clone(), podlist.to_string(), format!("Bearer {token}"));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let router = axum::Router::new().route(
                    "/pods",
                    axum::routing::get(move |headers: axum::http::HeaderMap| {
                        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        seen.lock().unwrap().push(auth.clone());
                        let (status, ctype, text) = if auth.is_empty() {
                            (401, "text/plain; charset=utf-8", "Unauthorized".to_string())
                        } else if auth != want {
                            (
                                403,
                                "text/plain; charset=utf-8",
                                "Forbidden (user=system:serviceaccount:kube-system:keelwatch, verb=get, resource=nodes, subresource=proxy)"
                                    .to_string(),
                            )
                        } else {
                            (200, "application/json", body.clone())
                        };
                        async move {
                            (
                                axum::http::StatusCode::from_u16(status).unwrap(),
                                [(axum::http::header::CONTENT_TYPE, ctype)],
                                text,
                            )
                        }
                    }),
                );
                keelwatch_https::serve_tls(listener, tls, router, keelwatch_https::ServeLimits::default(), async {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        KubeletServer { url, ca: paths.ca_cert, auths, stop: Some(stop_tx), thread: Some(thread) }
    }
}

impl Drop for KubeletServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn kubelet_podlist() -> Value {
    serde_json::from_str(include_str!("data/kubelet-pods-node-1.json")).expect("the recorded kubelet PodList is JSON")
}

/// `--pods-from kubelet` end to end: the agent reads the node's pods from the kubelet's
/// `/pods` over TLS (verifying the kubelet's certificate against `--kubelet-ca-file`, with
/// the bearer token from `--kubelet-token-file`) and never asks the API server for pods; the
/// API server is asked once for the Services that give `ServiceName`.
///
/// No kubelet exists here, so the response is recorded real-format data:
/// `tests/data/kubelet-pods-node-1.json` is a v1 `PodList` in the shape the kubelet serves
/// (empty list metadata; the kubelet's `kubernetes.io/config.seen` / `config.source`
/// annotations; a static pod with the kubelet's config-hash uid, no owner and a null
/// creationTimestamp; a pod with init, sidecar-init and ephemeral containers).
#[test]
fn pods_from_the_kubelet_over_tls() {
    let t = tempfile::tempdir().unwrap();
    let kubelet = KubeletServer::start(t.path(), kubelet_podlist(), "kubelet-sa-token");
    let services: Value = serde_json::from_str(include_str!("data/servicelist.json")).unwrap();
    let api = ApiServer::with_lists(vec![("/api/v1/services", services)], 100);
    let mut cfg = setup(t.path(), &api);
    cfg.log_dir = None;
    cfg.cgroup_root = None;
    cfg.filter.exclude_labels.clear();
    cfg.pods_from = keelwatch_agent::PodsFrom::Kubelet;
    cfg.kubelet_url = Some(kubelet.url.clone());
    cfg.kubelet_ca_file = Some(kubelet.ca.clone());
    let token = t.path().join("kubelet-token");
    // Projected token files may end with a newline; the header must not.
    std::fs::write(&token, "kubelet-sa-token\n").unwrap();
    cfg.kubelet_token_file = Some(token);
    keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false))).expect("agent run");

    assert_eq!(*kubelet.auths.lock().unwrap(), ["Bearer kubelet-sa-token"], "one /pods call, with the token");
    let reqs = api.requests.lock().unwrap().clone();
    assert!(reqs.iter().all(|r| r.path == "/api/v1/services"), "no pod list from the API server: {reqs:?}");
    assert_eq!(reqs.len(), 1, "one Service list for the round: {reqs:?}");

    let out = read_output(&t.path().join("out.ndjson"));
    let kpi = &out["KubePodInventory"];
    let want = columns("KubePodInventory");
    for r in kpi {
        assert_eq!(keys(r), want);
    }
    let names: BTreeSet<&str> = kpi.iter().map(|r| r["ContainerName"].as_str().unwrap()).collect();
    let want_names = [
        format!("{WEB}/app"),
        format!("{WEB}/sidecar"),
        format!("{WEB}/migrate"),
        format!("{WEB}/mesh-proxy"),
        format!("{STATIC_POD}/probe"),
    ];
    assert_eq!(names, want_names.iter().map(String::as_str).collect(), "kube-proxy is excluded by namespace");
    let app = kpi.iter().find(|r| r["ContainerName"] == format!("{WEB}/app")).unwrap();
    assert_eq!(app["ContainerID"], id("a1"));
    assert_eq!(app["ServiceName"], "web");
    assert_eq!(app["PodRestartCount"], 3);
    let probe = kpi.iter().find(|r| r["PodUid"] == STATIC_POD).unwrap();
    assert_eq!(
        (probe["Name"].as_str(), probe["Namespace"].as_str(), probe["ContainerStatus"].as_str()),
        (Some("node-probe-node-1"), Some("monitoring"), Some("running"))
    );
    assert_eq!((probe["ControllerKind"].as_str(), probe["ServiceName"].as_str()), (Some(""), Some("")));
    assert_eq!(probe["ContainerID"], id("6d"));
    let ci = &out["ContainerInventory"];
    assert_eq!(ci.len(), 5);
    let probe = ci.iter().find(|r| r["Name"] == "probe").unwrap();
    assert_eq!(
        (probe["Repository"].as_str(), probe["Image"].as_str(), probe["ImageTag"].as_str()),
        (Some("registry.k8s.io"), Some("example/node-probe"), Some("0.4.1"))
    );
}

/// The kubelet client against the same TLS stand-in (recorded real-format PodList; no
/// kubelet exists here): the certificate is verified unless verification is explicitly
/// turned off, and refusals and outages are errors that say what to do.
#[test]
fn kubelet_tls_is_verified_unless_explicitly_skipped() {
    use keelwatch_agent::kubelet::{KubeletClient, KubeletSource};
    let t = tempfile::tempdir().unwrap();
    let kubelet = KubeletServer::start(t.path(), kubelet_podlist(), "good");
    let other =
        keelwatch_https::ensure_self_signed(&t.path().join("other"), &["127.0.0.1".to_string()], "other-ca").unwrap();
    let token = t.path().join("token");
    std::fs::write(&token, "good").unwrap();
    let src = KubeletSource {
        url: kubelet.url.clone(),
        token_file: token.clone(),
        ca_file: kubelet.ca.clone(),
        insecure_skip_tls_verify: false,
        timeout: Duration::from_secs(10),
    };
    let pods = KubeletClient::new(&src).unwrap().pods().expect("verified against the kubelet's CA");
    assert_eq!(pods.len(), 3);

    let wrong_ca = KubeletSource { ca_file: other.ca_cert.clone(), ..src.clone() };
    let err = KubeletClient::new(&wrong_ca).unwrap().pods().unwrap_err().to_string();
    assert!(err.contains(&kubelet.url), "{err}");
    assert!(err.contains("--kubelet-insecure-skip-tls-verify"), "the error says how to proceed: {err}");

    let insecure = KubeletSource { insecure_skip_tls_verify: true, ..wrong_ca };
    assert_eq!(KubeletClient::new(&insecure).unwrap().pods().expect("verification explicitly off").len(), 3);

    let bad_token = t.path().join("bad-token");
    std::fs::write(&bad_token, "stolen").unwrap();
    let forbidden = KubeletSource { token_file: bad_token, ..src.clone() };
    let err = KubeletClient::new(&forbidden).unwrap().pods().unwrap_err().to_string();
    assert!(err.contains("HTTP 403") && err.contains("nodes/proxy"), "{err}");

    let url = kubelet.url.clone();
    drop(kubelet);
    let err = KubeletClient::new(&src).unwrap().pods().unwrap_err().to_string();
    assert!(err.contains(&url), "an unreachable kubelet is named: {err}");
    assert!(!err.contains("--kubelet-ca-file"), "no certificate hint for a refused connection: {err}");
}
