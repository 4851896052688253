//! The agent's main loop: wires collectors (metrics, logs, process events, in kubernetes
//! mode the pod inventory, in cluster mode the cluster-wide tables) to a sink and schedules
//! them. One thread runs metrics
//! and logs; the process collector, the pod lister, the HTTP sender and the `/metrics`
//! responder run on their own threads.
//!
//! Ordering of durability per log batch: rows → sink (file fsync / spool segment rename,
//! with the checkpoint embedded) → checkpoint file → positions committed in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::checkpoint::{Checkpoint, write_atomic};
use crate::config::{AgentConfig, Output};
use crate::error::{AgentError, Result};
use crate::k8s::{ContainerIndex, PodInfo};
use crate::logs::{LogConfig, LogTailer, PollResult};
use crate::metrics::{Identity, MetricsCollector};
use crate::output::Sink;
use crate::process::{self, ProcessConfig, ProcessSource};
use crate::selfmetrics::{self, Stats};
use crate::ship::{HttpTarget, Shipper, spawn_sender};
use crate::spool::Spool;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT stop [`run`] gracefully (state saved, threads joined).
pub fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// Rows written to the sink per table.
    pub rows: BTreeMap<String, u64>,
    /// Rows still in the disk buffer at exit (HTTP output).
    pub buffered_rows: u64,
    /// The process-event source used, if any.
    pub process_source: Option<ProcessSource>,
    /// The bound self-metrics address, if any.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// One inventory round: in kubernetes mode the node's pods (metadata for the index) with
/// `KubePodInventory` / `ContainerInventory`; in cluster mode `KubeNodeInventory`,
/// `KubeServices` and the listed events (filtered against what was shipped before on the
/// main thread, which owns that state).
#[derive(Debug, Default)]
pub struct InventoryRound {
    /// The node's pods (kubernetes mode).
    pub pods: Vec<Arc<PodInfo>>,
    /// Snapshot rows per table, written as they are.
    pub tables: Vec<(&'static str, Vec<serde_json::Value>)>,
    /// Cluster mode: `KubeEvents` rows with their identities, when the event list succeeded.
    pub events: Option<Vec<(String, serde_json::Value)>>,
}

/// Kubernetes mode's clients: the API server (pods unless the kubelet serves them, and
/// always the Services for `ServiceName`) and, with `--pods-from kubelet`, the kubelet.
#[cfg(feature = "kubernetes")]
struct PodSources {
    api: crate::kubeapi::ApiClient,
    kubelet: Option<crate::kubelet::KubeletClient>,
}

/// One inventory round: the node's pods, then (when any pod has labels a selector could
/// match) one Service list shared by every pod of the round. A failing Service list costs
/// only `ServiceName` for this round: it is counted and logged, the rows still go out.
#[cfg(feature = "kubernetes")]
fn inventory_round(src: &PodSources, ident: &Identity, cfg: &AgentConfig, stats: &Stats) -> Result<InventoryRound> {
    let pods = match &src.kubelet {
        Some(k) => k.pods()?,
        None => src.api.node_pods()?,
    };
    let labelled = pods.iter().any(|p| p.metadata.labels.as_ref().is_some_and(|l| !l.is_empty()));
    let services = if labelled {
        src.api.services().unwrap_or_else(|e| {
            stats.add("service_list_errors", 1);
            tracing::warn!(error = %e, "cannot list Services; ServiceName stays empty this round");
            crate::k8s::ServiceSelectors::default()
        })
    } else {
        crate::k8s::ServiceSelectors::default()
    };
    let time = crate::util::now_rfc3339();
    let (kpi, ci) = crate::kubeapi::inventory_rows(&pods, &services, ident, &cfg.cluster_name, &cfg.filter, &time);
    Ok(InventoryRound {
        pods: crate::kubeapi::pod_infos(&pods),
        tables: vec![("KubePodInventory", kpi), ("ContainerInventory", ci)],
        events: None,
    })
}

/// One cluster-mode round: Nodes, Services and events, each list on its own; one that
/// fails is counted and logged and the others still go out. Fails only when all three do.
#[cfg(feature = "kubernetes")]
fn cluster_round(
    api: &crate::kubeapi::ApiClient,
    ident: &Identity,
    cfg: &AgentConfig,
    stats: &Stats,
) -> Result<InventoryRound> {
    use crate::cluster::{ClusterIdentity, event_rows, node_inventory_rows, service_rows};
    let who = ClusterIdentity {
        cluster_id: ident.cluster_id.clone(),
        cluster_name: cfg.cluster_name.clone(),
        node: ident.node.clone(),
    };
    let time = crate::util::now_rfc3339();
    let mut round = InventoryRound::default();
    let mut last_error = None;
    let mut failed = |what: &'static str, counter: &'static str, e: AgentError| {
        stats.add(counter, 1);
        tracing::warn!(error = %e, "cannot list {what}s; their table is skipped this round");
        last_error = Some(e);
    };
    match api.nodes() {
        Ok(nodes) => round.tables.push(("KubeNodeInventory", node_inventory_rows(&nodes, &who, &time))),
        Err(e) => failed("node", "node_list_errors", e),
    }
    match api.service_list() {
        Ok(mut services) => {
            services.retain(|s| cfg.filter.allows(s.metadata.namespace.as_deref()));
            round.tables.push(("KubeServices", service_rows(&services, &who, &time)));
        }
        Err(e) => failed("service", "service_list_errors", e),
    }
    match api.events(cfg.kube_events_all) {
        Ok(mut events) => {
            events.retain(|e| cfg.filter.allows(e.involved_object.namespace.as_deref()));
            round.events = Some(event_rows(&events, cfg.kube_events_all, &who));
        }
        Err(e) => failed("event", "event_list_errors", e),
    }
    match last_error {
        Some(e) if round.tables.is_empty() && round.events.is_none() => Err(e),
        _ => Ok(round),
    }
}

/// What the inventory thread lists each round.
#[cfg(feature = "kubernetes")]
enum Lister {
    /// Kubernetes mode: the node's pods.
    Node(PodSources),
    /// Cluster mode: Nodes, Services, events.
    Cluster(crate::kubeapi::ApiClient),
}

#[cfg(feature = "kubernetes")]
impl Lister {
    fn round(&self, ident: &Identity, cfg: &AgentConfig, stats: &Stats) -> Result<InventoryRound> {
        match self {
            Lister::Node(src) => inventory_round(src, ident, cfg, stats),
            Lister::Cluster(api) => cluster_round(api, ident, cfg, stats),
        }
    }
}

#[cfg(feature = "kubernetes")]
fn lister(cfg: &AgentConfig, node: &str) -> Result<Option<Lister>> {
    let timeout = Duration::from_secs(30);
    let src = crate::kubeapi::ApiSource {
        url: cfg.kube_api_url.clone(),
        token_file: cfg.kube_token_file.clone(),
        ca_file: cfg.kube_ca_file.clone(),
        timeout,
    };
    match cfg.mode {
        crate::config::Mode::Host => Ok(None),
        crate::config::Mode::Cluster => Ok(Some(Lister::Cluster(crate::kubeapi::ApiClient::new(&src, node)?))),
        crate::config::Mode::Kubernetes => Ok(Some(Lister::Node(pod_sources(cfg, &src, node)?))),
    }
}

#[cfg(feature = "kubernetes")]
fn pod_sources(cfg: &AgentConfig, src: &crate::kubeapi::ApiSource, node: &str) -> Result<PodSources> {
    let timeout = src.timeout;
    let api = crate::kubeapi::ApiClient::new(src, node)?;
    let kubelet = match cfg.pods_from {
        crate::config::PodsFrom::Apiserver => None,
        crate::config::PodsFrom::Kubelet => {
            use crate::kubelet::{
                KubeletClient, KubeletSource, SERVICE_ACCOUNT_CA, SERVICE_ACCOUNT_TOKEN, default_url,
            };
            let node_ip = std::env::var("NODE_IP").ok();
            Some(KubeletClient::new(&KubeletSource {
                url: cfg.kubelet_url.clone().unwrap_or_else(|| default_url(node_ip.as_deref(), node)),
                token_file: cfg.kubelet_token_file.clone().unwrap_or_else(|| SERVICE_ACCOUNT_TOKEN.into()),
                ca_file: cfg.kubelet_ca_file.clone().unwrap_or_else(|| SERVICE_ACCOUNT_CA.into()),
                insecure_skip_tls_verify: cfg.kubelet_insecure_skip_tls_verify,
                timeout,
            })?)
        }
    };
    Ok(PodSources { api, kubelet })
}

/// Lists every interval on its own thread; rounds go to the main loop.
#[cfg(feature = "kubernetes")]
fn spawn_inventory(
    sources: Lister,
    ident: Identity,
    cfg: AgentConfig,
    tx: std::sync::mpsc::SyncSender<InventoryRound>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("agent-pods".into())
        .spawn(move || {
            while !stopping(&stop) {
                match sources.round(&ident, &cfg, &stats) {
                    Ok(r) => {
                        if tx.send(r).is_err() {
                            return;
                        }
                    }
                    Err(e) if matches!(sources, Lister::Cluster(_)) => {
                        tracing::warn!(error = %e, "cannot list anything from the API server; will retry");
                    }
                    Err(e) => {
                        stats.add("pod_list_errors", 1);
                        tracing::warn!(error = %e, "cannot list the node's pods; will retry");
                    }
                }
                sleep_interruptible(cfg.interval, &stop);
            }
        })
        .map_err(|e| AgentError::Config(format!("cannot start the inventory thread: {e}")))
}

fn lock_state_dir(dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let f = File::create(&path).map_err(|e| AgentError::io("create", &path, e))?;
    // SAFETY: flock on an owned, open descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(AgentError::Config(format!(
            "state directory {} is in use by another agent (pass a different --state-dir)",
            dir.display()
        )));
    }
    Ok(f)
}

fn agent_id(dir: &Path) -> Result<String> {
    let path = dir.join("agent-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let mut j = crate::util::Jitter::new();
    let a = (j.next_f64() * u64::MAX as f64) as u64 ^ crate::util::fnv1a64(crate::util::hostname().as_bytes());
    let b = (j.next_f64() * u64::MAX as f64) as u64;
    let hex = format!("{a:016x}{b:016x}");
    let id = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
    write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

struct Runner<'a> {
    cfg: &'a AgentConfig,
    ident: Identity,
    stats: Arc<Stats>,
    sink: Sink,
    process_sink: Option<Sink>,
    cp: Checkpoint,
    cp_path: PathBuf,
    tailer: Option<LogTailer>,
    collector: Option<MetricsCollector>,
    index: Arc<RwLock<ContainerIndex>>,
    /// The latest pod list (kubernetes mode), re-applied after each log-layout rescan.
    pods: Vec<Arc<PodInfo>>,
    /// Cluster mode: the events already shipped.
    #[cfg(feature = "kubernetes")]
    events_seen: Option<crate::cluster::EventsSeen>,
}

impl Runner<'_> {
    fn persist(&mut self) -> Result<()> {
        if let Some(t) = &self.tailer {
            self.cp.streams = t.positions().clone();
        }
        self.cp.output_len = self.sink.output_len();
        self.cp.save(&self.cp_path)
    }

    fn collect_metrics(&mut self) -> Result<()> {
        let Some(c) = self.collector.as_mut() else {
            return Ok(());
        };
        let rows = {
            let idx = self.index.read().unwrap_or_else(|e| e.into_inner());
            c.collect(&self.ident, &idx, &self.cfg.filter)?
        };
        self.sink.write_rows("Perf", &rows.perf, None, &self.stats)?;
        self.sink.write_rows("InsightsMetrics", &rows.insights, None, &self.stats)?;
        if matches!(self.sink, Sink::File { .. }) {
            self.persist()?;
        }
        Ok(())
    }

    /// Polls logs once; returns true when more is waiting.
    fn poll_logs(&mut self) -> Result<bool> {
        let Some(t) = self.tailer.as_mut() else {
            return Ok(false);
        };
        let res: PollResult = {
            let idx = self.index.read().unwrap_or_else(|e| e.into_inner());
            t.poll(&self.ident.node, &idx)
        };
        let table = "ContainerLogV2";
        self.stats.add("log_lines_rate_limited", res.rate_limited);
        if res.rate_limited > 0 {
            self.stats.dropped(table, "rate_limited", res.rate_limited);
        }
        self.stats.add("log_lines_unparsed", res.parse_errors);
        self.stats.add("log_files_lost", res.lost_files);
        self.stats.add("log_truncations", res.truncations);
        if res.positions == *t.positions() && res.rows.is_empty() {
            return Ok(res.more);
        }
        let mut next = self.cp.clone();
        next.streams = res.positions.clone();
        match self.sink.write_raw(table, &res.rows, Some(&mut next), &self.stats) {
            Ok(()) => {}
            Err(e) if matches!(self.sink, Sink::Spool(_)) => {
                // Disk trouble: keep the old positions, the lines are read again later.
                tracing::error!(error = %e, "cannot buffer log rows; will retry");
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        let t = self.tailer.as_mut().expect("checked above");
        t.commit(res.positions);
        self.cp = next;
        self.persist()?;
        Ok(res.more)
    }

    /// Rebuilds the container index from the log layout plus the latest pod list.
    fn rescan_index(&mut self) {
        let mut idx = self.cfg.log_dir.as_deref().map(ContainerIndex::scan).unwrap_or_default();
        idx.add_pods(&self.pods);
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = idx;
    }

    fn apply_inventory(&mut self, round: InventoryRound) -> Result<()> {
        if self.cfg.mode == crate::config::Mode::Kubernetes {
            self.pods = round.pods;
            self.rescan_index();
        }
        for (table, rows) in &round.tables {
            self.sink.write_rows(table, rows, None, &self.stats)?;
        }
        #[cfg(feature = "kubernetes")]
        let shipped = match (round.events, self.events_seen.as_ref()) {
            (Some(events), Some(seen)) => {
                let keys: std::collections::BTreeSet<String> = events.iter().map(|(k, _)| k.clone()).collect();
                let fresh = seen.fresh(events);
                self.sink.write_rows("KubeEvents", &fresh, None, &self.stats)?;
                Some(keys)
            }
            _ => None,
        };
        if matches!(self.sink, Sink::File { .. }) {
            self.persist()?;
        }
        // Only once the rows are in the sink (file synced or spool segment written), so a
        // crash in between ships an event twice rather than never.
        #[cfg(feature = "kubernetes")]
        if let (Some(keys), Some(seen)) = (shipped, self.events_seen.as_mut()) {
            seen.commit(keys)?;
        }
        Ok(())
    }

    fn write_process_events(&mut self, events: Vec<keelwatch_detect::process::ProcessEvent>) -> Result<()> {
        let lines: Vec<String> = events.iter().filter_map(|e| serde_json::to_string(e).ok()).collect();
        let n = lines.len() as u64;
        match self.process_sink.as_mut() {
            Some(s) => s.write_lines(&lines)?,
            None => {
                self.sink.write_lines(&lines)?;
                if matches!(self.sink, Sink::File { .. }) {
                    self.persist()?;
                }
            }
        }
        self.stats.sent("ProcessEvents", n);
        Ok(())
    }
}

fn sleep_interruptible(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stopping(stop) {
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
}

fn stopping(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed) || SIGNALLED.load(Ordering::Relaxed)
}

/// Runs the agent until `stop` is set or a signal arrives (or one round with `once`).
pub fn run(cfg: &AgentConfig, stop: Arc<AtomicBool>) -> Result<RunSummary> {
    cfg.validate().map_err(AgentError::Config)?;
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| AgentError::io("create directory", &cfg.state_dir, e))?;
    let _lock = lock_state_dir(&cfg.state_dir)?;
    let ident = Identity {
        node: cfg.node_name.clone().unwrap_or_else(crate::util::hostname),
        cluster_id: cfg.cluster_id.clone(),
        agent_id: agent_id(&cfg.state_dir)?,
    };
    let stats = Arc::new(Stats::default());
    let threads_stop = Arc::new(AtomicBool::new(false));
    let cp_path = cfg.state_dir.join("checkpoint.json");
    let file_cp = Checkpoint::load(&cp_path)?;
    let mut summary = RunSummary::default();

    let mut sender = None;
    let mut spool: Option<Arc<Spool>> = None;
    let (sink, cp) = match &cfg.output {
        Output::Http(url) => {
            let dir = cfg.buffer_dir.clone().unwrap_or_else(|| cfg.state_dir.join("buffer"));
            let (sp, seg_cp) = Spool::open(&dir, cfg.buffer_max_bytes, stats.clone())?;
            let cp = match (file_cp, seg_cp) {
                (Some(f), Some(s)) if s.seq > f.seq => Some(s),
                (None, Some(s)) => Some(s),
                (f, _) => f,
            };
            let shipper = Shipper::new(HttpTarget {
                base_url: url.clone(),
                token_file: cfg.token_file.clone(),
                ca_file: cfg.ca_file.clone(),
                max_backoff: cfg.max_backoff,
                timeout: Duration::from_secs(30),
                agent_id: ident.agent_id.clone(),
            })?;
            sender = Some(spawn_sender(sp.clone(), shipper, stats.clone(), threads_stop.clone()));
            spool = Some(sp.clone());
            (Sink::Spool(sp), cp)
        }
        Output::File(p) => (Sink::open_file(p, file_cp.as_ref().and_then(|c| c.output_len))?, file_cp),
        Output::Stdout => (Sink::Stdout, file_cp),
    };
    let cp = cp.unwrap_or_default();
    let index = Arc::new(RwLock::new(cfg.log_dir.as_deref().map(ContainerIndex::scan).unwrap_or_default()));
    let tailer = cfg.log_dir.as_ref().map(|d| {
        let mut lc = LogConfig::new(d.clone());
        lc.rate_limit = cfg.log_rate_limit;
        lc.filter = cfg.filter.clone();
        LogTailer::new(lc, cp.streams.clone())
    });
    let collector = if cfg.metrics {
        Some(MetricsCollector::new(&cfg.proc_root, cfg.cgroup_root.as_deref(), &cfg.state_dir)?)
    } else {
        None
    };
    let process_sink = match &cfg.process_output {
        Some(Output::Stdout) => Some(Sink::Stdout),
        Some(Output::File(p)) => Some(Sink::open_file(p, None)?),
        _ => None,
    };
    let mut runner = Runner {
        cfg,
        ident,
        stats: stats.clone(),
        sink,
        process_sink,
        cp,
        cp_path,
        tailer,
        collector,
        index: index.clone(),
        pods: Vec::new(),
        #[cfg(feature = "kubernetes")]
        events_seen: (cfg.mode == crate::config::Mode::Cluster)
            .then(|| crate::cluster::EventsSeen::load(&cfg.state_dir)),
    };
    #[cfg(feature = "kubernetes")]
    let lister = lister(cfg, &runner.ident.node)?;
    if let Some(addr) = &cfg.metrics_listen {
        summary.metrics_addr = Some(selfmetrics::serve(addr, stats.clone(), threads_stop.clone())?);
    }

    let result = if cfg.once {
        #[cfg(feature = "kubernetes")]
        if let Some(l) = &lister {
            let round = l.round(&runner.ident, cfg, &stats)?;
            runner.apply_inventory(round)?;
        }
        run_once(&mut runner, &stop, spool.as_deref())
    } else {
        let (inv_tx, inv_rx) = sync_channel::<InventoryRound>(1);
        #[allow(unused_mut)]
        let mut inv_thread: Option<std::thread::JoinHandle<()>> = None;
        #[cfg(feature = "kubernetes")]
        if let Some(l) = lister {
            inv_thread = Some(spawn_inventory(
                l,
                runner.ident.clone(),
                cfg.clone(),
                inv_tx,
                stats.clone(),
                threads_stop.clone(),
            )?);
        }
        #[cfg(not(feature = "kubernetes"))]
        drop(inv_tx);
        let (tx, rx) = sync_channel(10_000);
        let mut proc_thread = None;
        let can_write_events = runner.process_sink.is_some() || !matches!(cfg.output, Output::Http(_));
        if cfg.process_source != ProcessSource::Off {
            if can_write_events {
                let (h, used) = process::start(
                    ProcessConfig {
                        proc_root: cfg.proc_root.clone(),
                        node: runner.ident.node.clone(),
                        source: cfg.process_source,
                        poll_interval: cfg.process_poll,
                        filter: cfg.filter.clone(),
                    },
                    index.clone(),
                    tx.clone(),
                    stats.clone(),
                    threads_stop.clone(),
                )?;
                summary.process_source = Some(used);
                proc_thread = Some(h);
            } else {
                tracing::warn!(
                    "process events need --process-output (stdout or file:PATH) with HTTP output; not collecting them"
                );
            }
        }
        let r = run_loop(&mut runner, &stop, &rx, &inv_rx);
        threads_stop.store(true, Ordering::Relaxed);
        drop(inv_rx);
        if let Some(h) = proc_thread {
            let _ = h.join();
        }
        if let Some(h) = inv_thread {
            let _ = h.join();
        }
        r
    };
    threads_stop.store(true, Ordering::Relaxed);
    if let Some(h) = sender {
        let _ = h.join();
    }
    let persisted = runner.persist();
    result?;
    persisted?;
    for table in [
        "Perf",
        "InsightsMetrics",
        "ContainerLogV2",
        "KubePodInventory",
        "ContainerInventory",
        "KubeNodeInventory",
        "KubeServices",
        "KubeEvents",
        "ProcessEvents",
    ] {
        let n = stats.sent_total(table);
        if n > 0 {
            summary.rows.insert(table.to_string(), n);
        }
    }
    if let Some(sp) = &spool {
        summary.buffered_rows = sp.rows_by_table().values().sum();
    }
    Ok(summary)
}

fn run_once(runner: &mut Runner<'_>, stop: &AtomicBool, spool: Option<&Spool>) -> Result<()> {
    if let Some(c) = runner.collector.as_mut() {
        c.prime();
        sleep_interruptible(runner.cfg.once_window, stop);
        runner.collect_metrics()?;
    }
    while runner.poll_logs()? && !stopping(stop) {}
    runner.persist()?;
    if let Some(sp) = spool {
        let end = Instant::now() + runner.cfg.drain_timeout;
        while !sp.is_empty() && Instant::now() < end && !stopping(stop) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

fn run_loop(
    runner: &mut Runner<'_>,
    stop: &AtomicBool,
    rx: &std::sync::mpsc::Receiver<keelwatch_detect::process::ProcessEvent>,
    inventory: &std::sync::mpsc::Receiver<InventoryRound>,
) -> Result<()> {
    let cfg = runner.cfg;
    let start = Instant::now();
    if let Some(c) = runner.collector.as_mut() {
        c.prime();
    }
    let mut next_metrics = start + cfg.interval.min(cfg.once_window);
    let mut next_logs = start;
    let index_every = Duration::from_secs(10);
    let mut next_index = start + index_every;
    while !stopping(stop) {
        let now = Instant::now();
        if runner.collector.is_some() && now >= next_metrics {
            if let Err(e) = runner.collect_metrics() {
                if matches!(e, AgentError::Output { .. } | AgentError::Io { .. })
                    && !matches!(runner.sink, Sink::Spool(_))
                {
                    return Err(e);
                }
                tracing::error!(error = %e, "metrics round failed");
            }
            next_metrics += cfg.interval;
            if next_metrics <= now {
                next_metrics = now + cfg.interval;
            }
        }
        if runner.tailer.is_some() && now >= next_logs {
            let more = runner.poll_logs()?;
            next_logs = if more { Instant::now() } else { Instant::now() + cfg.log_poll };
        }
        if let Ok(round) = inventory.try_recv() {
            if let Err(e) = runner.apply_inventory(round) {
                if !matches!(runner.sink, Sink::Spool(_)) {
                    return Err(e);
                }
                tracing::error!(error = %e, "cannot write the pod inventory");
            }
            next_index = now + index_every;
        }
        if now >= next_index {
            if cfg.log_dir.is_some() {
                runner.rescan_index();
            }
            next_index = now + index_every;
        }
        let mut deadline = next_index.min(Instant::now() + Duration::from_millis(500));
        if runner.collector.is_some() {
            deadline = deadline.min(next_metrics);
        }
        if runner.tailer.is_some() {
            deadline = deadline.min(next_logs);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(ev) => {
                let mut batch = vec![ev];
                while batch.len() < 1000 {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                runner.write_process_events(batch)?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
    }
    Ok(())
}
