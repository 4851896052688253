//! `keelwatch agent`: the node agent (metrics, container logs, process events, shipping).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use keelwatch_agent::k8s::NamespaceFilter;
use keelwatch_agent::util::{parse_duration, parse_size};
use keelwatch_agent::{AgentConfig, Output, PodsFrom, ProcessSource};

/// Agent commands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the agent: collect metrics, logs and process events and ship them.
    ///
    /// Example: keelwatch agent run --mode host --once --output stdout
    Run(Box<RunArgs>),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Any Linux machine: node metrics, every cgroup under --cgroup-root, logs from
    /// --log-dir, processes.
    Host,
    /// A Kubernetes node (DaemonSet): host mode plus the node's pods from the API server
    /// or the kubelet (--pods-from; node name from NODE_NAME), pod metadata, label filters, KubePodInventory and
    /// ContainerInventory; --log-dir defaults to /var/log/pods.
    Kubernetes,
    /// The cluster-wide collector, one replica per cluster: KubeNodeInventory, KubeServices
    /// and KubeEvents from the API server (no node metrics, logs or processes).
    Cluster,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KubeEventsArg {
    /// Only Warning events (Container Insights' default).
    Warning,
    /// Normal and Warning events.
    All,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PodsFromArg {
    /// The API server (GET /api/v1/pods?fieldSelector=spec.nodeName=<node>).
    Apiserver,
    /// The kubelet's https://<node>:10250/pods (Services still come from the API server).
    Kubelet,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ProcessArg {
    /// No process events.
    Off,
    /// Kernel proc connector, falling back to /proc polling.
    Auto,
    /// Kernel proc connector only (root / CAP_NET_ADMIN).
    Netlink,
    /// Poll /proc (misses processes shorter than the poll period).
    Poll,
}

/// Options of `keelwatch agent run`.
#[derive(Args)]
pub struct RunArgs {
    /// Agent mode.
    #[arg(long, value_enum, default_value = "host")]
    mode: ModeArg,
    /// cgroup root (v2 mount, or directory of v1 controller mounts).
    #[arg(long, default_value = "/sys/fs/cgroup")]
    cgroup_root: PathBuf,
    /// Do not collect container (cgroup) metrics.
    #[arg(long)]
    no_cgroups: bool,
    /// Do not collect node or container metrics at all.
    #[arg(long)]
    no_metrics: bool,
    /// Pods log directory (kubelet layout <ns>_<pod>_<uid>/<container>/<n>.log); logs are
    /// not collected without it.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Metrics interval (1s minimum), e.g. 60s, 10s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    interval: Duration,
    /// How often log files are checked for new lines.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    log_poll: Duration,
    /// Collect one round and exit (CPU rates are measured over --once-window).
    #[arg(long)]
    once: bool,
    /// With --once: the window over which CPU rates are measured.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    once_window: Duration,
    /// stdout, file:PATH or the workspace URL (http(s)://host:port).
    #[arg(long, default_value = "stdout")]
    output: Output,
    /// Bearer token file for HTTP output (re-read on every request).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// PEM CA certificates to trust for HTTPS output.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// State directory (checkpoint, agent id, default buffer).
    #[arg(long, default_value = "/var/lib/keelwatch/agent")]
    state_dir: PathBuf,
    /// On-disk buffer directory for HTTP output (default <state-dir>/buffer).
    #[arg(long)]
    buffer_dir: Option<PathBuf>,
    /// Buffer bound; beyond it the oldest batches are dropped and counted (e.g. 256MiB).
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    buffer_max_bytes: u64,
    /// Node name (default: host name; in kubernetes mode NODE_NAME from the downward API).
    #[arg(long, env = "KEELWATCH_NODE_NAME")]
    node_name: Option<String>,
    /// Kubernetes mode: API server URL (default: in-cluster service account config).
    #[arg(long)]
    kube_api_url: Option<String>,
    /// Kubernetes mode: bearer token file for the API server.
    #[arg(long)]
    kube_token_file: Option<PathBuf>,
    /// Kubernetes mode: PEM CA bundle for the API server.
    #[arg(long)]
    kube_ca_file: Option<PathBuf>,
    /// Kubernetes mode: where the node's pods come from.
    #[arg(long, value_enum, default_value = "apiserver")]
    pods_from: PodsFromArg,
    /// --pods-from kubelet: the kubelet's base URL (default https://$NODE_IP:10250, else
    /// https://<node name>:10250).
    #[arg(long)]
    kubelet_url: Option<String>,
    /// --pods-from kubelet: bearer token file (default: the service account token).
    #[arg(long)]
    kubelet_token_file: Option<PathBuf>,
    /// --pods-from kubelet: PEM CA bundle for the kubelet's serving certificate (default: the
    /// service account CA).
    #[arg(long)]
    kubelet_ca_file: Option<PathBuf>,
    /// --pods-from kubelet: do not verify the kubelet's certificate (for self-signed kubelet
    /// serving certificates; never implied).
    #[arg(long)]
    kubelet_insecure_skip_tls_verify: bool,
    /// Cluster name (ClusterName column of the inventory tables).
    #[arg(long, default_value = "")]
    cluster_name: String,
    /// Kubernetes mode: only collect pods with this label (key=value or key; repeatable).
    #[arg(long = "include-label", value_delimiter = ',')]
    include_label: Vec<String>,
    /// Kubernetes mode: never collect pods with this label (key=value or key; repeatable).
    #[arg(long = "exclude-label", value_delimiter = ',')]
    exclude_label: Vec<String>,
    /// Cluster id (first segment of InstanceName).
    #[arg(long, default_value = "local")]
    cluster_id: String,
    /// Only collect these namespaces (repeatable; `prefix*` allowed).
    #[arg(long = "include-namespace", value_delimiter = ',')]
    include_namespace: Vec<String>,
    /// Never collect these namespaces (repeatable; `prefix*` allowed).
    #[arg(long = "exclude-namespace", value_delimiter = ',')]
    exclude_namespace: Vec<String>,
    /// Log lines per second per container (0 = unlimited); excess lines are counted and dropped.
    #[arg(long, default_value_t = 0)]
    log_rate_limit: u32,
    /// Process exec events source.
    #[arg(long, value_enum, default_value = "off")]
    process_events: ProcessArg,
    /// Poll period for --process-events poll.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    process_poll: Duration,
    /// Where process events go (stdout or file:PATH; default: the main output unless HTTP).
    #[arg(long)]
    process_output: Option<Output>,
    /// Serve Prometheus self-metrics on this address (e.g. 127.0.0.1:9102).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Longest backoff between HTTP delivery attempts.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    max_backoff: Duration,
    /// With --once and HTTP output: how long to wait for the buffer to drain.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Cluster mode: which events go to KubeEvents.
    #[arg(long, value_enum)]
    kube_events: Option<KubeEventsArg>,
    /// Check the flags, print the effective configuration as JSON and exit without
    /// collecting anything (exit 2 on a usage error). For reviewing a DaemonSet's args.
    #[arg(long)]
    print_config: bool,
}

/// Runs an agent command.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Run(a) => run_agent(*a),
    }
}

fn run_agent(a: RunArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = match a.mode {
        ModeArg::Host => AgentConfig::host(a.output),
        ModeArg::Kubernetes => AgentConfig::kubernetes(a.output),
        ModeArg::Cluster => AgentConfig::cluster(a.output),
    };
    let default_log_dir = cfg.log_dir.take();
    if matches!(a.mode, ModeArg::Cluster) {
        // Nothing node-level runs in cluster mode; the defaults for it are off.
        cfg.cgroup_root = None;
        cfg.metrics = false;
    } else {
        cfg.cgroup_root = (!a.no_cgroups).then_some(a.cgroup_root);
        cfg.metrics = !a.no_metrics;
    }
    if a.kube_events.is_some() && !matches!(a.mode, ModeArg::Cluster) {
        eprintln!("error: --kube-events only applies to --mode cluster");
        return Ok(ExitCode::from(2));
    }
    cfg.kube_events_all = matches!(a.kube_events, Some(KubeEventsArg::All));
    cfg.log_dir = a.log_dir.or(default_log_dir);
    cfg.interval = a.interval;
    cfg.log_poll = a.log_poll;
    cfg.once = a.once;
    cfg.once_window = a.once_window;
    cfg.token_file = a.token_file;
    cfg.ca_file = a.ca_file;
    cfg.state_dir = a.state_dir;
    cfg.buffer_dir = a.buffer_dir;
    cfg.buffer_max_bytes = a.buffer_max_bytes;
    cfg.node_name = a.node_name.or(cfg.node_name);
    cfg.cluster_id = a.cluster_id;
    cfg.filter = NamespaceFilter {
        include: a.include_namespace,
        exclude: a.exclude_namespace,
        include_labels: a.include_label,
        exclude_labels: a.exclude_label,
    };
    cfg.kube_api_url = a.kube_api_url;
    cfg.kube_token_file = a.kube_token_file;
    cfg.kube_ca_file = a.kube_ca_file;
    cfg.cluster_name = a.cluster_name;
    cfg.pods_from = match a.pods_from {
        PodsFromArg::Apiserver => PodsFrom::Apiserver,
        PodsFromArg::Kubelet => PodsFrom::Kubelet,
    };
    cfg.kubelet_url = a.kubelet_url;
    cfg.kubelet_token_file = a.kubelet_token_file;
    cfg.kubelet_ca_file = a.kubelet_ca_file;
    cfg.kubelet_insecure_skip_tls_verify = a.kubelet_insecure_skip_tls_verify;
    cfg.log_rate_limit = a.log_rate_limit;
    cfg.process_source = match a.process_events {
        ProcessArg::Off => ProcessSource::Off,
        ProcessArg::Auto => ProcessSource::Auto,
        ProcessArg::Netlink => ProcessSource::Netlink,
        ProcessArg::Poll => ProcessSource::Poll,
    };
    cfg.process_poll = a.process_poll;
    cfg.process_output = a.process_output;
    cfg.metrics_listen = a.metrics_listen;
    cfg.max_backoff = a.max_backoff;
    cfg.drain_timeout = a.drain_timeout;
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    if a.print_config {
        println!("{}", serde_json::to_string_pretty(&cfg)?);
        return Ok(ExitCode::SUCCESS);
    }
    keelwatch_agent::install_signal_handlers();
    let summary = keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false)))?;
    if summary.buffered_rows > 0 {
        eprintln!("warning: {} row(s) are still in the buffer; the next run delivers them", summary.buffered_rows);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
