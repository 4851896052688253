//! Turns `/proc` and cgroup readings into Container Insights rows: `Perf` (objects `K8SNode`
//! and `K8SContainer`, exact counter names and InstanceName formats) and `InsightsMetrics`
//! (CPU throttling, disk, disk I/O, network).
//!
//! Rates (CPU nanocores, throttling) need two samples: [`MetricsCollector::prime`] takes a
//! first one; every [`MetricsCollector::collect`] emits rates over the time since the previous
//! sample and keeps the new one. CPU nanocores = Δusage_ns / Δwall_s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::cgroup::{CgroupSample, Layout};
use crate::error::Result;
use crate::k8s::{ContainerIndex, NamespaceFilter, ids_from_cgroup_path, is_kube_ancestor};
use crate::procfs::{self, CpuTimes};
use crate::util::rfc3339;

/// Who is reporting: fills Computer, InstanceName prefixes and AgentId.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// Node name (the `Computer` column).
    pub node: String,
    /// Cluster id (first InstanceName segment).
    pub cluster_id: String,
    /// Stable agent id (InsightsMetrics `AgentId`).
    pub agent_id: String,
}

/// Rows produced by one collection round.
#[derive(Debug, Default, Clone)]
pub struct MetricRows {
    /// `Perf` rows.
    pub perf: Vec<Value>,
    /// `InsightsMetrics` rows.
    pub insights: Vec<Value>,
}

#[derive(Debug, Clone)]
struct Prev {
    at: Instant,
    sample: CgroupSample,
}

/// Collects node and container metrics; keeps the previous sample for rates.
#[derive(Debug)]
pub struct MetricsCollector {
    proc_root: PathBuf,
    layout: Option<Layout>,
    disk_path: PathBuf,
    prev_node: Option<(Instant, CpuTimes)>,
    prev: HashMap<String, Prev>,
}

/// How a cgroup is reported.
struct Target {
    instance: String,
    namespace: Option<String>,
    /// Pod labels when known (kubernetes mode), for label filters.
    labels: Option<std::collections::BTreeMap<String, String>>,
    pod_uid: String,
    container: String,
}

fn target_for(path: &str, ident: &Identity, index: &ContainerIndex) -> Option<Target> {
    if is_kube_ancestor(path) {
        return None;
    }
    let (pod_uid, container_id) = ids_from_cgroup_path(path);
    match container_id {
        Some(id) => {
            let known = index.container(&id);
            let pod_uid = pod_uid.or_else(|| known.map(|c| c.pod.uid.clone())).unwrap_or_default();
            let container = known.map(|c| c.name.clone()).unwrap_or_else(|| id.clone());
            let namespace =
                known.map(|c| c.pod.namespace.clone()).or_else(|| index.pod(&pod_uid).map(|p| p.namespace.clone()));
            Some(Target {
                instance: format!("{}/{}/{}", ident.cluster_id, pod_uid, container),
                namespace,
                labels: index.labels(&pod_uid).cloned(),
                pod_uid,
                container,
            })
        }
        None => {
            let name = path.trim_start_matches('/').to_string();
            Some(Target {
                instance: format!("{}/host/{}", ident.cluster_id, name),
                namespace: None,
                labels: None,
                pod_uid: "host".into(),
                container: name,
            })
        }
    }
}

fn perf_row(time: &str, ident: &Identity, object: &str, instance: &str, counter: &str, value: f64) -> Value {
    json!({
        "TimeGenerated": time,
        "Computer": ident.node,
        "ObjectName": object,
        "CounterName": counter,
        "CounterPath": format!("\\\\{}\\{}({})\\{}", ident.node, object, instance, counter),
        "CounterValue": value,
        "InstanceName": instance,
    })
}

fn insights_row(
    time: &str,
    ident: &Identity,
    namespace: &str,
    name: &str,
    value: f64,
    tags: &Map<String, Value>,
) -> Value {
    let mut t = Map::new();
    t.insert("container.azm.ms/clusterId".into(), json!(ident.cluster_id));
    t.insert("hostName".into(), json!(ident.node));
    for (k, v) in tags {
        t.insert(k.clone(), v.clone());
    }
    json!({
        "TimeGenerated": time,
        "AgentId": ident.agent_id,
        "Computer": ident.node,
        "Name": name,
        "Namespace": namespace,
        "Origin": "keelwatch.agent",
        "Tags": Value::Object(t).to_string(),
        "Val": value,
    })
}

impl MetricsCollector {
    /// A collector reading `/proc` at `proc_root` and cgroups under `cgroup_root` (no
    /// container metrics when `None`). `disk_path` is the file system reported in
    /// `container.azm.ms/disk` rows.
    pub fn new(proc_root: &Path, cgroup_root: Option<&Path>, disk_path: &Path) -> Result<Self> {
        let layout = cgroup_root.map(Layout::detect).transpose()?;
        Ok(MetricsCollector {
            proc_root: proc_root.to_path_buf(),
            layout,
            disk_path: disk_path.to_path_buf(),
            prev_node: None,
            prev: HashMap::new(),
        })
    }

    /// The detected cgroup layout.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// Takes a baseline sample so the next [`collect`](Self::collect) can compute rates.
    pub fn prime(&mut self) {
        if let Ok(s) = procfs::read_stat(&self.proc_root) {
            self.prev_node = Some((Instant::now(), s.cpu));
        }
        if let Some(layout) = &self.layout {
            let now = Instant::now();
            self.prev = layout
                .groups()
                .into_iter()
                .map(|g| {
                    let sample = layout.sample(&g);
                    (g, Prev { at: now, sample })
                })
                .collect();
        }
    }

    /// One collection round.
    pub fn collect(
        &mut self,
        ident: &Identity,
        index: &ContainerIndex,
        filter: &NamespaceFilter,
    ) -> Result<MetricRows> {
        let time = rfc3339(chrono::Utc::now());
        let mut rows = MetricRows::default();
        let stat = procfs::read_stat(&self.proc_root)?;
        let mem = procfs::read_meminfo(&self.proc_root)?;
        let now = Instant::now();
        let node_inst = format!("{}/{}", ident.cluster_id, ident.node);
        let cpu_capacity = f64::from(stat.ncpu) * 1e9;
        let node = |c: &str, v: f64| perf_row(&time, ident, "K8SNode", &node_inst, c, v);
        if let Some((at, prev)) = self.prev_node {
            let dt = now.duration_since(at).as_secs_f64();
            if dt > 0.0 && stat.cpu.busy >= prev.busy {
                let secs = (stat.cpu.busy - prev.busy) as f64 / procfs::clock_ticks() as f64;
                rows.perf.push(node("cpuUsageNanoCores", secs * 1e9 / dt));
            }
        }
        self.prev_node = Some((now, stat.cpu));
        rows.perf.push(node("memoryWorkingSetBytes", mem.working_set() as f64));
        rows.perf.push(node("memoryRssBytes", mem.anon as f64));
        rows.perf.push(node("restartTimeEpoch", stat.boot_time as f64));
        rows.perf.push(node("cpuAllocatableNanoCores", cpu_capacity));
        rows.perf.push(node("memoryAllocatableBytes", mem.total as f64));
        rows.perf.push(node("cpuCapacityNanoCores", cpu_capacity));
        rows.perf.push(node("memoryCapacityBytes", mem.total as f64));

        self.node_extras(&time, ident, &mut rows);

        let Some(layout) = &self.layout else {
            return Ok(rows);
        };
        let ticks = procfs::clock_ticks();
        let mut next_prev = HashMap::new();
        for group in layout.groups() {
            let Some(target) = target_for(&group, ident, index) else {
                continue;
            };
            let allowed = match target.namespace.as_deref() {
                Some(ns) => filter.allows_pod(ns, target.labels.as_ref()),
                // A container of no known pod: namespace rules cannot apply; label rules
                // (which need the pod) exclude it.
                None => target.pod_uid == "host" || !filter.has_label_rules(),
            };
            if !allowed {
                continue;
            }
            let sample = layout.sample(&group);
            let at = Instant::now();
            let inst = &target.instance;
            let c = |name: &str, v: f64| perf_row(&time, ident, "K8SContainer", inst, name, v);
            let mut tags = Map::new();
            tags.insert("podUid".into(), json!(target.pod_uid));
            tags.insert("containerName".into(), json!(target.container));
            if let Some(p) = self.prev.get(&group) {
                let dt = at.duration_since(p.at).as_secs_f64();
                if let (Some(a), Some(b)) = (p.sample.cpu_usage_ns, sample.cpu_usage_ns)
                    && dt > 0.0
                    && b >= a
                {
                    rows.perf.push(c("cpuUsageNanoCores", (b - a) as f64 / dt));
                }
                if let (Some(p0), Some(p1), Some(t0), Some(t1)) =
                    (p.sample.nr_periods, sample.nr_periods, p.sample.nr_throttled, sample.nr_throttled)
                    && p1 >= p0
                    && t1 >= t0
                {
                    let ns = "container.azm.ms/cpu";
                    let periods = (p1 - p0) as f64;
                    let throttled = (t1 - t0) as f64;
                    rows.insights.push(insights_row(&time, ident, ns, "cpuPeriods", periods, &tags));
                    rows.insights.push(insights_row(&time, ident, ns, "cpuThrottledPeriods", throttled, &tags));
                    let pct = if periods > 0.0 { throttled / periods * 100.0 } else { 0.0 };
                    rows.insights.push(insights_row(&time, ident, ns, "cpuThrottledPercent", pct, &tags));
                    if let (Some(a), Some(b)) = (p.sample.throttled_ns, sample.throttled_ns)
                        && b >= a
                    {
                        rows.insights.push(insights_row(
                            &time,
                            ident,
                            ns,
                            "cpuThrottledSeconds",
                            (b - a) as f64 / 1e9,
                            &tags,
                        ));
                    }
                }
            }
            if let Some(ws) = sample.working_set() {
                rows.perf.push(c("memoryWorkingSetBytes", ws as f64));
            }
            if let Some(rss) = sample.rss {
                rows.perf.push(c("memoryRssBytes", rss as f64));
            }
            let start = layout
                .pids(&group, 64)
                .into_iter()
                .filter_map(|pid| procfs::read_pid_stat(&self.proc_root, pid))
                .map(|s| s.starttime)
                .min();
            if let Some(st) = start {
                rows.perf.push(c("restartTimeEpoch", (stat.boot_time + st / ticks) as f64));
            }
            // Requests come from the pod spec (kubernetes mode); none are reported without one.
            if let Some(info) = index.pod_info(&target.pod_uid).and_then(|p| p.container(&target.container)) {
                if let Some(cpu) = info.cpu_request_nanocores {
                    rows.perf.push(c("cpuRequestNanoCores", cpu as f64));
                }
                if let Some(mem) = info.memory_request_bytes {
                    rows.perf.push(c("memoryRequestBytes", mem as f64));
                }
            }
            // Container Insights reports the node's capacity when no limit is set.
            rows.perf.push(c("cpuLimitNanoCores", sample.cpu_limit_nanocores.unwrap_or(cpu_capacity)));
            rows.perf
                .push(c("memoryLimitBytes", sample.memory_limit.map(|v| v.min(mem.total)).unwrap_or(mem.total) as f64));
            if let (Some(r), Some(w)) = (sample.io_read_bytes, sample.io_write_bytes) {
                let ns = "container.azm.ms/diskio";
                rows.insights.push(insights_row(&time, ident, ns, "containerReadBytes", r as f64, &tags));
                rows.insights.push(insights_row(&time, ident, ns, "containerWriteBytes", w as f64, &tags));
            }
            next_prev.insert(group, Prev { at, sample });
        }
        self.prev = next_prev;
        Ok(rows)
    }

    fn node_extras(&self, time: &str, ident: &Identity, rows: &mut MetricRows) {
        if let Some((total, free, used)) = procfs::fs_usage(&self.disk_path) {
            let mut tags = Map::new();
            tags.insert("path".into(), json!(self.disk_path.display().to_string()));
            let ns = "container.azm.ms/disk";
            rows.insights.push(insights_row(time, ident, ns, "total", total as f64, &tags));
            rows.insights.push(insights_row(time, ident, ns, "free", free as f64, &tags));
            rows.insights.push(insights_row(time, ident, ns, "used", used as f64, &tags));
            let denom = (used + free) as f64;
            let pct = if denom > 0.0 { used as f64 / denom * 100.0 } else { 0.0 };
            rows.insights.push(insights_row(time, ident, ns, "used_percent", pct, &tags));
        }
        if let Ok(text) = std::fs::read_to_string(self.proc_root.join("diskstats")) {
            for d in procfs::parse_diskstats(&text).into_iter().take(64) {
                let mut tags = Map::new();
                tags.insert("name".into(), json!(d.name));
                let ns = "container.azm.ms/diskio";
                for (n, v) in [
                    ("reads", d.reads),
                    ("writes", d.writes),
                    ("read_bytes", d.read_bytes),
                    ("write_bytes", d.write_bytes),
                    ("io_time", d.io_time_ms),
                ] {
                    rows.insights.push(insights_row(time, ident, ns, n, v as f64, &tags));
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(self.proc_root.join("net/dev")) {
            for d in procfs::parse_net_dev(&text).into_iter().take(64) {
                let mut tags = Map::new();
                tags.insert("interface".into(), json!(d.iface));
                let ns = "container.azm.ms/net";
                for (n, v) in [
                    ("bytes_recv", d.rx_bytes),
                    ("bytes_sent", d.tx_bytes),
                    ("packets_recv", d.rx_packets),
                    ("packets_sent", d.tx_packets),
                    ("err_in", d.rx_errs),
                    ("err_out", d.tx_errs),
                ] {
                    rows.insights.push(insights_row(time, ident, ns, n, v as f64, &tags));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> Identity {
        Identity { node: "n1".into(), cluster_id: "c1".into(), agent_id: "a".into() }
    }

    #[test]
    fn instance_names() {
        let idx = ContainerIndex::default();
        let id = "ab".repeat(32);
        let uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let t = target_for(&format!("/kubepods/pod{uid}/{id}"), &ident(), &idx).unwrap();
        assert_eq!(t.instance, format!("c1/{uid}/{id}"));
        let t = target_for("/system.slice/cron.service", &ident(), &idx).unwrap();
        assert_eq!(t.instance, "c1/host/system.slice/cron.service");
        assert!(target_for(&format!("/kubepods/pod{uid}"), &ident(), &idx).is_none());
    }

    #[test]
    fn node_rows_from_fixture_proc() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::write(
            p.join("stat"),
            "cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\nbtime 1700000000\n",
        )
        .unwrap();
        std::fs::write(
            p.join("meminfo"),
            "MemTotal: 1000 kB\nMemFree: 100 kB\nInactive(file): 200 kB\nAnonPages: 300 kB\n",
        )
        .unwrap();
        let mut m = MetricsCollector::new(p, None, Path::new("/")).unwrap();
        m.prime();
        std::fs::write(
            p.join("stat"),
            "cpu  200 0 200 1000 0 0 0 0 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\nbtime 1700000000\n",
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let rows = m.collect(&ident(), &ContainerIndex::default(), &NamespaceFilter::default()).unwrap();
        let get = |name: &str| {
            rows.perf.iter().find(|r| r["CounterName"] == name).unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(get("memoryWorkingSetBytes")["CounterValue"], json!((1000.0 - 100.0 - 200.0) * 1024.0));
        assert_eq!(get("memoryRssBytes")["CounterValue"], json!(300.0 * 1024.0));
        assert_eq!(get("restartTimeEpoch")["CounterValue"], json!(1_700_000_000.0));
        assert_eq!(get("cpuCapacityNanoCores")["CounterValue"], json!(2e9));
        assert_eq!(get("cpuUsageNanoCores")["InstanceName"], "c1/n1");
        assert_eq!(get("cpuUsageNanoCores")["ObjectName"], "K8SNode");
        // 200 busy ticks = 2 s of CPU over ~50 ms: a large but positive rate.
        assert!(get("cpuUsageNanoCores")["CounterValue"].as_f64().unwrap() > 1e9);
    }
}
