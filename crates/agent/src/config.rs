//! Agent configuration ([`AgentConfig`]) and the output selector ([`Output`]). The CLI
//! fills this struct; it is also serde-serialisable so tests can start an agent in a child
//! process from JSON.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::k8s::NamespaceFilter;
use crate::process::ProcessSource;

/// Where rows go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// NDJSON on standard output, one row per line with a `Type` key naming the table.
    Stdout,
    /// NDJSON appended to a file (same line format as stdout).
    File(PathBuf),
    /// The workspace ingestion API at this base URL.
    Http(String),
}

impl FromStr for Output {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "stdout" || s == "-" {
            Ok(Output::Stdout)
        } else if let Some(p) = s.strip_prefix("file:") {
            if p.is_empty() {
                return Err("file: needs a path, e.g. file:/var/log/keelwatch.ndjson".into());
            }
            Ok(Output::File(PathBuf::from(p)))
        } else if s.starts_with("http://") || s.starts_with("https://") {
            Ok(Output::Http(s.to_string()))
        } else {
            Err(format!("`{s}` is not an output: use stdout, file:PATH or an http(s):// URL of the workspace"))
        }
    }
}

/// The agent mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Any Linux machine: node metrics, every cgroup under a root, logs from a directory,
    /// processes.
    Host,
    /// A Kubernetes node (DaemonSet): everything host mode does, plus the node's pods from
    /// the API server or the kubelet ([`PodsFrom`]) — pod metadata on rows, label filters, KubePodInventory and
    /// ContainerInventory. Needs the `kubernetes` cargo feature (on by default).
    Kubernetes,
    /// The cluster-wide collector (one replica per cluster, a Deployment): KubeNodeInventory,
    /// KubeServices and KubeEvents from the API server; no node metrics, logs or processes.
    /// Needs the `kubernetes` cargo feature.
    Cluster,
}

/// Where kubernetes mode reads the node's pods from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodsFrom {
    /// The API server: `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>` (paged).
    #[default]
    Apiserver,
    /// The kubelet's `GET https://<node>:10250/pods` (no API server load per node for pods;
    /// Services for `ServiceName` still come from the API server).
    Kubelet,
}

/// Everything the agent needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Mode.
    pub mode: Mode,
    /// The proc file system root.
    pub proc_root: PathBuf,
    /// cgroup root (`/sys/fs/cgroup`); `None` disables container metrics.
    pub cgroup_root: Option<PathBuf>,
    /// Pods log directory (`/var/log/pods`); `None` disables log collection.
    pub log_dir: Option<PathBuf>,
    /// Metrics collection interval.
    pub interval: Duration,
    /// How often log files are checked for new lines.
    pub log_poll: Duration,
    /// Collect one round and exit.
    pub once: bool,
    /// With `once`: the window over which CPU rates are measured.
    pub once_window: Duration,
    /// Where rows go.
    pub output: Output,
    /// Bearer token file for HTTP output.
    pub token_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) for HTTPS output.
    pub ca_file: Option<PathBuf>,
    /// State directory (checkpoint, agent id, default buffer).
    pub state_dir: PathBuf,
    /// Buffer directory (default `<state_dir>/buffer`).
    pub buffer_dir: Option<PathBuf>,
    /// Buffer size bound in bytes.
    pub buffer_max_bytes: u64,
    /// Node name (default: host name).
    pub node_name: Option<String>,
    /// Cluster id (first InstanceName segment).
    pub cluster_id: String,
    /// Namespace include/exclude.
    pub filter: NamespaceFilter,
    /// Log lines per second per container (0 = unlimited).
    pub log_rate_limit: u32,
    /// Collect metrics.
    pub metrics: bool,
    /// Process-event source.
    pub process_source: ProcessSource,
    /// Poll period for the polling process source.
    pub process_poll: Duration,
    /// Where process events go (default: the main output when it is stdout or a file).
    pub process_output: Option<Output>,
    /// Address for the self-metrics endpoint.
    pub metrics_listen: Option<String>,
    /// Longest retry backoff for HTTP delivery.
    pub max_backoff: Duration,
    /// With `once` and HTTP output: how long to wait for the buffer to drain.
    pub drain_timeout: Duration,
    /// Kubernetes mode: API server URL (default: in-cluster, from `KUBERNETES_SERVICE_HOST`
    /// / `_PORT` and the service account files).
    #[serde(default)]
    pub kube_api_url: Option<String>,
    /// Kubernetes mode: bearer token file for the API server (default: the service account
    /// token when in-cluster).
    #[serde(default)]
    pub kube_token_file: Option<PathBuf>,
    /// Kubernetes mode: CA bundle (PEM) for the API server (default: the service account CA
    /// when in-cluster).
    #[serde(default)]
    pub kube_ca_file: Option<PathBuf>,
    /// Cluster name (`ClusterName` column of the inventory tables).
    #[serde(default)]
    pub cluster_name: String,
    /// Kubernetes mode: where the node's pods come from.
    #[serde(default)]
    pub pods_from: PodsFrom,
    /// `--pods-from kubelet`: the kubelet's base URL (default `https://$NODE_IP:10250`, else
    /// `https://<node name>:10250`).
    #[serde(default)]
    pub kubelet_url: Option<String>,
    /// `--pods-from kubelet`: bearer token file (default the service account token).
    #[serde(default)]
    pub kubelet_token_file: Option<PathBuf>,
    /// `--pods-from kubelet`: PEM CA bundle for the kubelet's serving certificate (default
    /// the service account CA).
    #[serde(default)]
    pub kubelet_ca_file: Option<PathBuf>,
    /// `--pods-from kubelet`: do not verify the kubelet's certificate (explicit only).
    #[serde(default)]
    pub kubelet_insecure_skip_tls_verify: bool,
    /// Cluster mode: ship every event, not only `Warning` ones (`--kube-events all`).
    #[serde(default)]
    pub kube_events_all: bool,
}

impl AgentConfig {
    /// Host-mode defaults writing to `output`.
    pub fn host(output: Output) -> Self {
        AgentConfig {
            mode: Mode::Host,
            proc_root: PathBuf::from("/proc"),
            cgroup_root: Some(PathBuf::from("/sys/fs/cgroup")),
            log_dir: None,
            interval: Duration::from_secs(60),
            log_poll: Duration::from_secs(1),
            once: false,
            once_window: Duration::from_secs(1),
            output,
            token_file: None,
            ca_file: None,
            state_dir: PathBuf::from("/var/lib/keelwatch/agent"),
            buffer_dir: None,
            buffer_max_bytes: 256 << 20,
            node_name: None,
            cluster_id: "local".into(),
            filter: NamespaceFilter::default(),
            log_rate_limit: 0,
            metrics: true,
            process_source: ProcessSource::Off,
            process_poll: Duration::from_millis(100),
            process_output: None,
            metrics_listen: None,
            max_backoff: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            kube_api_url: None,
            kube_token_file: None,
            kube_ca_file: None,
            cluster_name: String::new(),
            pods_from: PodsFrom::Apiserver,
            kubelet_url: None,
            kubelet_token_file: None,
            kubelet_ca_file: None,
            kubelet_insecure_skip_tls_verify: false,
            kube_events_all: false,
        }
    }

    /// Kubernetes-mode defaults (`/var/log/pods`, node name from `NODE_NAME`, the
    /// downward-API variable a DaemonSet sets) writing to `output`.
    pub fn kubernetes(output: Output) -> Self {
        AgentConfig {
            mode: Mode::Kubernetes,
            log_dir: Some(PathBuf::from("/var/log/pods")),
            node_name: std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()),
            ..AgentConfig::host(output)
        }
    }

    /// Cluster-mode defaults: the cluster-wide tables only (no metrics, logs or process
    /// events), writing to `output`; the collector's node from `NODE_NAME` when set.
    pub fn cluster(output: Output) -> Self {
        AgentConfig {
            mode: Mode::Cluster,
            cgroup_root: None,
            metrics: false,
            node_name: std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()),
            ..AgentConfig::host(output)
        }
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < Duration::from_secs(1) {
            return Err(format!("--interval {:?} is below the 1s minimum", self.interval));
        }
        if self.log_poll < Duration::from_millis(10) {
            return Err("--log-poll must be at least 10ms".into());
        }
        if self.buffer_max_bytes < 1 << 20 && matches!(self.output, Output::Http(_)) {
            return Err("--buffer-max-bytes must be at least 1MiB".into());
        }
        self.filter.validate()?;
        if self.filter.has_label_rules() && self.mode != Mode::Kubernetes {
            return Err("--include-label/--exclude-label need pod metadata: use --mode kubernetes".into());
        }
        if self.mode == Mode::Cluster {
            if !cfg!(feature = "kubernetes") {
                return Err("--mode cluster: this build lacks the `kubernetes` feature".into());
            }
            if self.metrics || self.log_dir.is_some() || self.process_source != ProcessSource::Off {
                return Err(
                    "--mode cluster collects the cluster-wide tables only: node metrics, logs and process events belong to the node agents (--mode kubernetes)"
                        .into(),
                );
            }
        } else if self.kube_events_all {
            return Err("--kube-events only applies to --mode cluster".into());
        }
        if self.mode == Mode::Kubernetes {
            if !cfg!(feature = "kubernetes") {
                return Err("--mode kubernetes: this build lacks the `kubernetes` feature".into());
            }
            if self.node_name.as_deref().unwrap_or("").is_empty() {
                return Err(
                    "--mode kubernetes needs the node name: set NODE_NAME from the downward API (fieldRef spec.nodeName) or pass --node-name"
                        .into(),
                );
            }
        }
        let kubelet_flags = self.kubelet_url.is_some()
            || self.kubelet_token_file.is_some()
            || self.kubelet_ca_file.is_some()
            || self.kubelet_insecure_skip_tls_verify;
        if self.pods_from == PodsFrom::Kubelet && self.mode != Mode::Kubernetes {
            return Err("--pods-from kubelet: use --mode kubernetes".into());
        }
        if kubelet_flags && self.pods_from != PodsFrom::Kubelet {
            return Err("--kubelet-* flags only apply with --pods-from kubelet".into());
        }
        if self.kubelet_insecure_skip_tls_verify && self.kubelet_ca_file.is_some() {
            return Err(
                "--kubelet-ca-file and --kubelet-insecure-skip-tls-verify contradict each other: verify with the CA, or do not verify"
                    .into(),
            );
        }
        if matches!(self.process_output, Some(Output::Http(_))) {
            return Err(
                "--process-output takes stdout or file:PATH (process events are JSON lines for `keelwatch detect`)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs() {
        assert_eq!("stdout".parse::<Output>().unwrap(), Output::Stdout);
        assert_eq!("file:/x".parse::<Output>().unwrap(), Output::File("/x".into()));
        assert!(matches!("https://w:8443".parse::<Output>().unwrap(), Output::Http(_)));
        assert!("file:".parse::<Output>().is_err());
        assert!("kafka://x".parse::<Output>().is_err());
        let mut c = AgentConfig::host(Output::Stdout);
        assert!(c.validate().is_ok());
        c.interval = Duration::from_millis(10);
        assert!(c.validate().is_err());
        let mut h = AgentConfig::host(Output::Stdout);
        h.filter.include_labels = vec!["app=web".into()];
        assert!(h.validate().unwrap_err().contains("--mode kubernetes"));
        let mut k = AgentConfig::kubernetes(Output::Stdout);
        k.node_name = None;
        assert!(k.validate().unwrap_err().contains("NODE_NAME"));
        k.node_name = Some("node-1".into());
        k.filter.include_labels = vec!["app=web".into()];
        assert!(k.validate().is_ok());
        assert_eq!(k.log_dir.as_deref(), Some(std::path::Path::new("/var/log/pods")));
    }

    #[test]
    fn kubelet_source_settings() {
        let mut k = AgentConfig::kubernetes(Output::Stdout);
        k.node_name = Some("node-1".into());
        k.kubelet_insecure_skip_tls_verify = true;
        assert!(k.validate().unwrap_err().contains("--pods-from kubelet"), "kubelet flags without the kubelet source");
        k.pods_from = PodsFrom::Kubelet;
        assert!(k.validate().is_ok());
        k.kubelet_ca_file = Some("/ca.crt".into());
        assert!(k.validate().unwrap_err().contains("contradict"));
        let mut h = AgentConfig::host(Output::Stdout);
        h.pods_from = PodsFrom::Kubelet;
        assert!(h.validate().unwrap_err().contains("--mode kubernetes"));
        // Configs written before the field existed still load, with the API server default.
        let mut v = serde_json::to_value(AgentConfig::host(Output::Stdout)).unwrap();
        v.as_object_mut().unwrap().remove("pods_from");
        let back: AgentConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back.pods_from, PodsFrom::Apiserver);
    }
}
