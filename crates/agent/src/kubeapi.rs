//! Kubernetes mode: the API server through kube-rs — the node's pods and the cluster's
//! Services — and what the agent makes of pods from either source (the API server or the
//! kubelet, see `kubelet`): [`PodInfo`] metadata for the other collectors (labels,
//! annotations, images, container ids → names) and the `KubePodInventory` /
//! `ContainerInventory` rows, with `ServiceName` from the Services' selectors.
//!
//! The pod list is `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>` and the Service
//! list `GET /api/v1/services`, both paged with `limit` and `continue`, once per inventory
//! round. kube-rs is async; the agent is not, so an [`ApiClient`] owns a current-thread tokio
//! runtime and blocks on each call (on the inventory thread).
//!
//! Rows per pod follow Container Insights: regular containers, then init containers
//! (including restartable "sidecar" init containers), each with its own status from
//! `containerStatuses` / `initContainerStatuses`; `PodRestartCount` sums both. Ephemeral
//! (`kubectl debug`) containers get no inventory rows — Container Insights reports none —
//! but are in [`PodInfo`], so their metrics, logs and processes are still attributed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStatus, Event, Node, Pod, Service};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::error::{AgentError, Result};
use crate::k8s::{ContainerInfo, ContainerKind, NamespaceFilter, PodInfo, ServiceSelectors, image_digest, split_image};
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

/// A blocking kube-rs client: the pods of one node, the cluster's Services, and (cluster
/// mode) its Nodes and events.
pub struct ApiClient {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    node: String,
    target: String,
}

fn api_err(target: &str, detail: impl std::fmt::Display) -> AgentError {
    AgentError::Config(format!("Kubernetes API {target}: {detail}"))
}

impl ApiClient {
    /// Builds the kube-rs client for `src`, listing pods of `node`.
    pub fn new(src: &ApiSource, node: &str) -> Result<ApiClient> {
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
        Ok(ApiClient { rt, client, node: node.to_string(), target })
    }

    /// Every page of a cluster-wide list.
    fn list_all<K>(&self, base: ListParams) -> Result<Vec<K>>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::all(self.client.clone());
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            // 100 pages of 500 (50,000 items) is far beyond a node's pods and any cluster's
            // Services and Nodes; a cluster keeping more events than that loses the rest (it
            // would need a watch rather than a list).
            for _ in 0..100 {
                let mut lp = base.clone().limit(500);
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

    /// All pods scheduled on the node (every page).
    pub fn node_pods(&self) -> Result<Vec<Pod>> {
        self.list_all(ListParams::default().fields(&format!("spec.nodeName={}", self.node)))
    }

    /// The cluster's Services (every page), as the selector index `ServiceName` needs.
    pub fn services(&self) -> Result<ServiceSelectors> {
        Ok(service_selectors(&self.service_list()?))
    }

    /// The cluster's Services (every page).
    pub fn service_list(&self) -> Result<Vec<Service>> {
        self.list_all(ListParams::default())
    }

    /// The cluster's Nodes (every page).
    pub fn nodes(&self) -> Result<Vec<Node>> {
        self.list_all(ListParams::default())
    }

    /// The cluster's events (every page): all of them, or only those that are not
    /// `Normal` (`fieldSelector=type!=Normal`, as Container Insights lists them by default).
    pub fn events(&self, all: bool) -> Result<Vec<Event>> {
        let lp = if all { ListParams::default() } else { ListParams::default().fields("type!=Normal") };
        self.list_all(lp)
    }
}

/// The selector index of a Service list (Services without a namespace, name or selector
/// select nothing and are left out).
pub fn service_selectors(services: &[Service]) -> ServiceSelectors {
    ServiceSelectors::new(services.iter().filter_map(|s| {
        let selector = s.spec.as_ref()?.selector.clone()?;
        Some((s.metadata.namespace.clone()?, s.metadata.name.clone()?, selector))
    }))
}

fn strip_runtime(id: &str) -> String {
    id.rsplit_once("://").map(|(_, i)| i).unwrap_or(id).to_string()
}

/// An API timestamp as its RFC 3339 text, `null` when absent.
pub(crate) fn time_of(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Value {
    t.map(|t| Value::String(t.0.to_string())).unwrap_or(Value::Null)
}

/// `resources.requests[resource]` of a container, in base units.
fn request(c: &Container, resource: &str) -> Option<f64> {
    let q = c.resources.as_ref()?.requests.as_ref()?.get(resource)?;
    crate::k8s::parse_quantity(&q.0)
}

/// A container of the pod spec with the status the kubelet reports for it.
struct Member<'a> {
    kind: ContainerKind,
    name: &'a str,
    image: Option<&'a str>,
    /// The spec of a regular or init container (ephemeral containers have their own type and
    /// get no inventory rows).
    spec: Option<&'a Container>,
    status: Option<&'a ContainerStatus>,
}

fn status_of<'a>(list: Option<&'a Vec<ContainerStatus>>, name: &str) -> Option<&'a ContainerStatus> {
    list.and_then(|v| v.iter().find(|s| s.name == name))
}

/// Every container of a pod: regular (spec order), then init, then ephemeral; each status is
/// looked up in its own status list (names are unique across the three within a pod).
fn members(pod: &Pod) -> Vec<Member<'_>> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let status = pod.status.as_ref();
    let regular = status.and_then(|s| s.container_statuses.as_ref());
    let init = status.and_then(|s| s.init_container_statuses.as_ref());
    let ephemeral = status.and_then(|s| s.ephemeral_container_statuses.as_ref());
    let mut out = Vec::new();
    for (kind, list, statuses) in [
        (ContainerKind::Regular, Some(&spec.containers), regular),
        (ContainerKind::Init, spec.init_containers.as_ref(), init),
    ] {
        for c in list.into_iter().flatten() {
            out.push(Member {
                kind,
                name: &c.name,
                image: c.image.as_deref(),
                spec: Some(c),
                status: status_of(statuses, &c.name),
            });
        }
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        out.push(Member {
            kind: ContainerKind::Ephemeral,
            name: &c.name,
            image: c.image.as_deref(),
            spec: None,
            status: status_of(ephemeral, &c.name),
        });
    }
    out
}

/// The image reference as the status reports it, else as the spec asks for it.
fn image_of<'a>(m: &Member<'a>) -> &'a str {
    m.status.map(|s| s.image.as_str()).filter(|i| !i.is_empty()).or(m.image).unwrap_or("")
}

/// The metadata the other collectors need from one pod.
pub fn pod_info(pod: &Pod) -> Option<PodInfo> {
    let m = &pod.metadata;
    let containers = members(pod)
        .iter()
        .map(|c| ContainerInfo {
            name: c.name.to_string(),
            kind: c.kind,
            id: c.status.and_then(|s| s.container_id.as_deref()).map(strip_runtime).unwrap_or_default(),
            image: image_of(c).to_string(),
            image_id: c.status.map(|s| s.image_id.clone()).unwrap_or_default(),
            cpu_request_nanocores: c.spec.and_then(|s| request(s, "cpu")).map(|cores| (cores * 1e9).round() as u64),
            memory_request_bytes: c.spec.and_then(|s| request(s, "memory")).map(|bytes| bytes.ceil() as u64),
        })
        .collect();
    Some(PodInfo {
        namespace: m.namespace.clone()?,
        name: m.name.clone()?,
        uid: m.uid.clone()?,
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        containers,
    })
}

/// The state of a container: `KubePodInventory.ContainerStatus` (the state's key as the API
/// spells it — `running`, `waiting`, `terminated` — as Container Insights reports it),
/// `ContainerInventory.ContainerState` (capitalised there), the reason and start/finish times.
struct StateView {
    status: &'static str,
    state: &'static str,
    reason: String,
    started: Value,
    finished: Value,
    exit_code: i32,
}

fn state_view(s: Option<&ContainerState>) -> StateView {
    let mut v = StateView {
        status: "",
        state: "Waiting",
        reason: String::new(),
        started: Value::Null,
        finished: Value::Null,
        exit_code: 0,
    };
    let Some(s) = s else { return v };
    if let Some(r) = &s.running {
        (v.status, v.state) = ("running", "Running");
        v.started = time_of(r.started_at.as_ref());
    } else if let Some(t) = &s.terminated {
        (v.status, v.state) = ("terminated", "Terminated");
        v.reason = t.reason.clone().unwrap_or_default();
        v.started = time_of(t.started_at.as_ref());
        v.finished = time_of(t.finished_at.as_ref());
        v.exit_code = t.exit_code;
    } else if let Some(w) = &s.waiting {
        (v.status, v.state) = ("waiting", "Waiting");
        v.reason = w.reason.clone().unwrap_or_default();
    }
    v
}

/// `ContainerLastStatus`: the last terminated state as a JSON string with Container
/// Insights' keys (`lastState`, `reason`, `startedAt`, `finishedAt`, plus keelwatch's
/// `exitCode`). Like ama-logs it is `"{}"` (not empty) when the container never terminated,
/// so `parse_json(ContainerLastStatus).reason` is empty rather than a parse of `""`.
fn last_status(st: Option<&ContainerStatus>) -> String {
    let Some(t) = st.and_then(|s| s.last_state.as_ref()).and_then(|l| l.terminated.as_ref()) else {
        return "{}".to_string();
    };
    json!({
        "lastState": "terminated",
        "reason": t.reason.clone().unwrap_or_default(),
        "exitCode": t.exit_code,
        "startedAt": time_of(t.started_at.as_ref()),
        "finishedAt": time_of(t.finished_at.as_ref()),
    })
    .to_string()
}

/// `KubePodInventory` (one row per regular and init container) and `ContainerInventory` rows
/// for the pods the filter allows. `services` gives `ServiceName`. `time` is the collection
/// time (RFC 3339).
pub fn inventory_rows(
    pods: &[Pod],
    services: &ServiceSelectors,
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
        let containers: Vec<Member<'_>> =
            members(pod).into_iter().filter(|c| c.kind != ContainerKind::Ephemeral).collect();
        let phase = if m.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into())
        };
        // Container Insights sums regular and init containers' restarts (not ephemeral ones).
        let pod_restarts: i64 = containers.iter().filter_map(|c| c.status).map(|s| i64::from(s.restart_count)).sum();
        let service_name = services.service_for(&info.namespace, &info.labels);
        let owner =
            m.owner_references.as_ref().and_then(|o| o.iter().find(|r| r.controller == Some(true)).or(o.first()));
        let labels: BTreeMap<&str, &str> = info.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let pod_label = if labels.is_empty() { "[]".to_string() } else { json!([labels]).to_string() };
        let hostname = spec.and_then(|s| s.hostname.clone()).unwrap_or_else(|| info.name.clone());
        for member in &containers {
            let Some(c) = member.spec else { continue };
            let st = member.status;
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
                "ServiceName": service_name,
            }));
            let (repository, image, tag) = split_image(image_of(member));
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
            ci.push(json!({
                "TimeGenerated": time,
                "Command": serde_json::to_string(&command).unwrap_or_default(),
                "Computer": ident.node,
                "ContainerHostname": hostname,
                "ContainerID": id,
                "ContainerState": now.state,
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
