//! Kubernetes mode: the node's pods from the API server through kube-rs, and what the agent
//! makes of them — [`PodInfo`] metadata for the other collectors (labels, annotations,
//! images, container ids → names) and the `KubePodInventory` / `ContainerInventory` rows.
//!
//! The list is `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>` (paged with `limit` and
//! `continue`), so each agent only sees its own node's pods. kube-rs is async; the agent is
//! not, so a [`PodLister`] owns a current-thread tokio runtime and blocks on each call (one
//! call per metrics interval, on the inventory thread).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::error::{AgentError, Result};
use crate::k8s::{ContainerInfo, NamespaceFilter, PodInfo, image_digest, split_image};
use crate::metrics::Identity;

/// Where the API server is and how to authenticate.
#[derive(Debug, Clone, Default)]
pub struct ApiSource {
    /// API server URL; `None` = in-cluster (service account, `KUBERNETES_SERVICE_HOST`).
    pub url: Option<String>,
    /// Bearer token file (re-read by kube-rs when it changes).
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Per-request read timeout.
    pub timeout: Duration,
}

/// Lists the pods of one node.
pub struct PodLister {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    node: String,
    target: String,
}

fn api_err(target: &str, detail: impl std::fmt::Display) -> AgentError {
    AgentError::Config(format!("Kubernetes API {target}: {detail}"))
}

impl PodLister {
    /// Builds the kube-rs client for `src`, listing pods of `node`.
    pub fn new(src: &ApiSource, node: &str) -> Result<PodLister> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AgentError::Config(format!("cannot start the Kubernetes client runtime: {e}")))?;
        let (mut config, target) = match &src.url {
            Some(url) => {
                let uri: http::Uri =
                    url.parse().map_err(|e| AgentError::Config(format!("--kube-api-url `{url}` is not a URL: {e}")))?;
                (kube::Config::new(uri), url.clone())
            }
            None => {
                let c = kube::Config::incluster().map_err(|e| {
                    AgentError::Config(format!(
                        "no --kube-api-url and not running in a pod ({e}); pass --kube-api-url with --kube-token-file/--kube-ca-file"
                    ))
                })?;
                let t = c.cluster_url.to_string();
                (c, t)
            }
        };
        if let Some(tf) = &src.token_file {
            let raw = std::fs::read_to_string(tf).map_err(|e| AgentError::io("read --kube-token-file", tf, e))?;
            let token = raw.trim();
            if token.is_empty() {
                return Err(AgentError::Config(format!("--kube-token-file {} is empty", tf.display())));
            }
            if token.len() == raw.len() {
                // kube-rs re-reads the file as it changes (projected service account tokens).
                config.auth_info.token_file = Some(tf.display().to_string());
            } else {
                // kube-rs sends a token file's bytes as they are; a trailing newline would
                // make an invalid header, so use the trimmed value (read once).
                tracing::warn!(file = %tf.display(), "token file ends with whitespace: using it trimmed, without reloading");
                config.auth_info.token = Some(token.to_string().into());
            }
        }
        if let Some(ca) = &src.ca_file {
            let pem = std::fs::read(ca).map_err(|e| AgentError::io("read --kube-ca-file", ca, e))?;
            let mut ders = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                    ders.push(c.der().to_vec());
                }
            }
            if ders.is_empty() {
                return Err(AgentError::Config(format!("--kube-ca-file {}: no PEM certificate found", ca.display())));
            }
            config.root_cert = Some(ders);
        }
        if !src.timeout.is_zero() {
            config.read_timeout = Some(src.timeout);
            config.connect_timeout = Some(src.timeout);
        }
        let client = {
            let _guard = rt.enter();
            kube::Client::try_from(config).map_err(|e| api_err(&target, e))?
        };
        Ok(PodLister { rt, client, node: node.to_string(), target })
    }

    /// All pods scheduled on the node (every page).
    pub fn list(&self) -> Result<Vec<Pod>> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let selector = format!("spec.nodeName={}", self.node);
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            // A node runs at most a few hundred pods; 100 pages is a generous bound.
            for _ in 0..100 {
                let mut lp = ListParams::default().fields(&selector).limit(500);
                if let Some(t) = &token {
                    lp = lp.continue_token(t);
                }
                let page = api.list(&lp).await.map_err(|e| api_err(&self.target, e))?;
                out.extend(page.items);
                token = page.metadata.continue_.filter(|t| !t.is_empty());
                if token.is_none() {
                    break;
                }
            }
            Ok(out)
        })
    }
}

fn strip_runtime(id: &str) -> String {
    id.rsplit_once("://").map(|(_, i)| i).unwrap_or(id).to_string()
}

fn time_of(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Value {
    t.map(|t| Value::String(t.0.to_string())).unwrap_or(Value::Null)
}

/// `resources.requests[resource]` of a container, in base units.
fn request(c: &k8s_openapi::api::core::v1::Container, resource: &str) -> Option<f64> {
    let q = c.resources.as_ref()?.requests.as_ref()?.get(resource)?;
    crate::k8s::parse_quantity(&q.0)
}

/// The metadata the other collectors need from one pod.
pub fn pod_info(pod: &Pod) -> Option<PodInfo> {
    let m = &pod.metadata;
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    let containers = pod
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| {
                    let st = statuses.and_then(|v| v.iter().find(|st| st.name == c.name));
                    ContainerInfo {
                        name: c.name.clone(),
                        id: st.and_then(|s| s.container_id.as_deref()).map(strip_runtime).unwrap_or_default(),
                        image: st
                            .map(|s| s.image.clone())
                            .filter(|i| !i.is_empty())
                            .or_else(|| c.image.clone())
                            .unwrap_or_default(),
                        image_id: st.map(|s| s.image_id.clone()).unwrap_or_default(),
                        cpu_request_nanocores: request(c, "cpu").map(|cores| (cores * 1e9).round() as u64),
                        memory_request_bytes: request(c, "memory").map(|bytes| bytes.ceil() as u64),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PodInfo {
        namespace: m.namespace.clone()?,
        name: m.name.clone()?,
        uid: m.uid.clone()?,
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        containers,
    })
}

/// `ContainerStatus`/`ContainerStatusReason` and the start/finish times of a state.
struct StateView {
    status: &'static str,
    reason: String,
    started: Value,
    finished: Value,
    exit_code: i32,
}

fn state_view(s: Option<&ContainerState>) -> StateView {
    let mut v =
        StateView { status: "", reason: String::new(), started: Value::Null, finished: Value::Null, exit_code: 0 };
    let Some(s) = s else { return v };
    if let Some(r) = &s.running {
        v.status = "Running";
        v.started = time_of(r.started_at.as_ref());
    } else if let Some(t) = &s.terminated {
        v.status = "Terminated";
        v.reason = t.reason.clone().unwrap_or_default();
        v.started = time_of(t.started_at.as_ref());
        v.finished = time_of(t.finished_at.as_ref());
        v.exit_code = t.exit_code;
    } else if let Some(w) = &s.waiting {
        v.status = "Waiting";
        v.reason = w.reason.clone().unwrap_or_default();
    }
    v
}

/// `ContainerLastStatus`: the last terminated state as a JSON string, `""` when none.
fn last_status(st: Option<&ContainerStatus>) -> String {
    let Some(t) = st.and_then(|s| s.last_state.as_ref()).and_then(|l| l.terminated.as_ref()) else {
        return String::new();
    };
    json!({
        "reason": t.reason.clone().unwrap_or_default(),
        "exitCode": t.exit_code,
        "startedAt": time_of(t.started_at.as_ref()),
        "finishedAt": time_of(t.finished_at.as_ref()),
    })
    .to_string()
}

/// `KubePodInventory` (one row per container) and `ContainerInventory` rows for the pods
/// the filter allows. `time` is the collection time (RFC 3339).
pub fn inventory_rows(
    pods: &[Pod],
    ident: &Identity,
    cluster_name: &str,
    filter: &NamespaceFilter,
    time: &str,
) -> (Vec<Value>, Vec<Value>) {
    let mut kpi = Vec::new();
    let mut ci = Vec::new();
    for pod in pods {
        let Some(info) = pod_info(pod) else { continue };
        if !filter.allows_pod(&info.namespace, Some(&info.labels)) {
            continue;
        }
        let m = &pod.metadata;
        let status = pod.status.as_ref();
        let spec = pod.spec.as_ref();
        let statuses: &[ContainerStatus] = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or(&[]);
        let phase = if m.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into())
        };
        let pod_restarts: i64 = statuses.iter().map(|s| i64::from(s.restart_count)).sum();
        let owner =
            m.owner_references.as_ref().and_then(|o| o.iter().find(|r| r.controller == Some(true)).or(o.first()));
        let labels: BTreeMap<&str, &str> = info.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let pod_label = if labels.is_empty() { "[]".to_string() } else { json!([labels]).to_string() };
        let hostname = spec.and_then(|s| s.hostname.clone()).unwrap_or_else(|| info.name.clone());
        for c in spec.map(|s| s.containers.as_slice()).unwrap_or(&[]) {
            let st = statuses.iter().find(|s| s.name == c.name);
            let now = state_view(st.and_then(|s| s.state.as_ref()));
            let first_start = st
                .and_then(|s| s.last_state.as_ref())
                .and_then(|l| l.terminated.as_ref())
                .map(|t| time_of(t.started_at.as_ref()))
                .filter(|v| !v.is_null())
                .unwrap_or_else(|| now.started.clone());
            let id = st.and_then(|s| s.container_id.as_deref()).map(strip_runtime).unwrap_or_default();
            kpi.push(json!({
                "TimeGenerated": time,
                "ClusterId": ident.cluster_id,
                "ClusterName": cluster_name,
                "Computer": ident.node,
                "ContainerCreationTimeStamp": first_start,
                "ContainerID": id,
                "ContainerLastStatus": last_status(st),
                "ContainerName": format!("{}/{}", info.uid, c.name),
                "ContainerRestartCount": st.map(|s| s.restart_count).unwrap_or(0),
                "ContainerStartTime": now.started,
                "ContainerStatus": now.status,
                "ContainerStatusReason": now.reason,
                "ControllerKind": owner.map(|o| o.kind.clone()).unwrap_or_default(),
                "ControllerName": owner.map(|o| o.name.clone()).unwrap_or_default(),
                "InstanceName": format!("{}/{}/{}", ident.cluster_id, info.uid, c.name),
                "Name": info.name,
                "Namespace": info.namespace,
                "PodCreationTimeStamp": time_of(m.creation_timestamp.as_ref()),
                "PodIp": status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
                "PodLabel": pod_label,
                "PodRestartCount": pod_restarts,
                "PodStartTime": time_of(status.and_then(|s| s.start_time.as_ref())),
                "PodStatus": phase,
                "PodUid": info.uid,
                "ServiceName": "",
            }));
            let image_ref = st.map(|s| s.image.as_str()).filter(|i| !i.is_empty()).or(c.image.as_deref()).unwrap_or("");
            let (repository, image, tag) = split_image(image_ref);
            let command: Vec<&str> =
                c.command.iter().flatten().chain(c.args.iter().flatten()).map(String::as_str).collect();
            // Only literal values: valueFrom (secrets, config maps) is never resolved or shipped.
            let env: Vec<String> =
                c.env.iter().flatten().filter_map(|e| e.value.as_ref().map(|v| format!("{}={v}", e.name))).collect();
            let ports: Vec<Value> = c
                .ports
                .iter()
                .flatten()
                .map(|p| json!({"containerPort": p.container_port, "protocol": p.protocol.clone().unwrap_or_else(|| "TCP".into()), "name": p.name}))
                .collect();
            let state = if now.status.is_empty() { "Waiting" } else { now.status };
            ci.push(json!({
                "TimeGenerated": time,
                "Command": serde_json::to_string(&command).unwrap_or_default(),
                "Computer": ident.node,
                "ContainerHostname": hostname,
                "ContainerID": id,
                "ContainerState": state,
                "CreatedTime": first_start,
                "EnvironmentVar": serde_json::to_string(&env).unwrap_or_default(),
                "ExitCode": now.exit_code,
                "FinishedTime": now.finished,
                "Image": image,
                "ImageID": st.map(|s| image_digest(&s.image_id).to_string()).unwrap_or_default(),
                "ImageTag": tag,
                "Name": c.name,
                "Ports": Value::Array(ports).to_string(),
                "Repository": repository,
                "StartedTime": now.started,
            }));
        }
    }
    (kpi, ci)
}

/// Pod metadata for the index.
pub fn pod_infos(pods: &[Pod]) -> Vec<Arc<PodInfo>> {
    pods.iter().filter_map(pod_info).map(Arc::new).collect()
}
