//! A realistic synthetic cluster, for trying queries, tests and benchmarks.
//!
//! Deterministic: the same [`DemoOptions`] (including `end` and `seed`) always produce the same
//! rows. Time runs minute by minute over `hours` hours ending at `end`:
//! - every minute: Perf counters (`K8SNode` and `K8SContainer`, the exact Container Insights
//!   counter names), InsightsMetrics (disk used percent, throttling), ContainerLogV2 lines
//!   (JSON lines with a `level` key and plain lines with a guessed level; `log_rate` per
//!   container per hour on average), AKSAudit events (system watches/gets, user changes,
//!   `pods/exec`, secret reads) with AKSAuditAdmin receiving the non-get/list ones, and
//!   AKSControlPlane lines;
//! - every 5 minutes: KubeNodeInventory, KubePodInventory, KubeServices, ContainerInventory;
//! - KubeEvents for scheduling, pulls, back-offs, OOM kills and failed scheduling;
//! - a few PolicyResults, ContainerImageVulnerability and SecurityAlert rows.
//!
//! The story: one node runs hot (CPU > 95 % of allocatable), `payments/payments-worker-*`
//! crash-loops (restart counts grow, BackOff events, ERROR logs), one `batch` pod is
//! OOMKilled, one `web` pod stays Pending (FailedScheduling), and someone execs into a pod
//! and reads secrets.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::error::Result;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Nodes in the cluster (≥ 1).
    pub nodes: usize,
    /// Pods (≥ 1); about a third have a sidecar container.
    pub pods: usize,
    /// Hours of history (≥ 1).
    pub hours: u32,
    /// End of the generated period (exclusive).
    pub end: DateTime<Utc>,
    /// Random seed.
    pub seed: u64,
    /// Average ContainerLogV2 lines per container per hour.
    pub log_rate: u32,
    /// Cluster name.
    pub cluster: String,
    /// Generate only these tables (all when empty). Rows of the tables kept are the same
    /// as without the filter only for inventory-derived names; random values may differ.
    pub only: Vec<String>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        let now = Utc::now();
        let end = DateTime::from_timestamp(now.timestamp() - now.timestamp() % 60, 0).unwrap_or(now);
        DemoOptions {
            nodes: 3,
            pods: 30,
            hours: 6,
            end,
            seed: 42,
            log_rate: 120,
            cluster: "demo-aks".to_string(),
            only: Vec::new(),
        }
    }
}

/// Rows generated per table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoSummary {
    /// `(table, rows)` in generation order.
    pub tables: Vec<(String, u64)>,
}

impl DemoSummary {
    /// Total rows.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|t| t.1).sum()
    }
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(n);
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Node {
    name: String,
    cpu_capacity: f64,
    mem_capacity: f64,
    created: DateTime<Utc>,
    hot: bool,
}

struct Container {
    name: String,
    id: String,
    image_repo: String,
    image: String,
    tag: String,
    image_id: String,
    cpu_request: f64,
    cpu_limit: f64,
    mem_request: f64,
    mem_limit: f64,
    log_style: LogStyle,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LogStyle {
    Json,
    Plain,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Healthy,
    CrashLoop,
    OomKilled,
    Pending,
}

struct Pod {
    name: String,
    namespace: &'static str,
    app: String,
    uid: String,
    node: usize,
    ip: String,
    controller_kind: &'static str,
    controller_name: String,
    service: Option<String>,
    created: DateTime<Utc>,
    containers: Vec<Container>,
    fate: Fate,
}

const APPS: &[(&str, &str, &str, &str, LogStyle)] = &[
    // (namespace, app, image repo, tag, log style)
    ("web", "frontend", "docker.io/library/nginx", "1.25.3", LogStyle::Plain),
    ("web", "storefront", "ghcr.io/acme/storefront", "3.2.0", LogStyle::Json),
    ("payments", "payments-api", "ghcr.io/acme/payments-api", "2.4.1", LogStyle::Json),
    ("payments", "payments-worker", "ghcr.io/acme/payments-worker", "2.4.1", LogStyle::Json),
    ("batch", "report-builder", "ghcr.io/acme/report-builder", "1.0.7", LogStyle::Plain),
    ("monitoring", "prometheus", "quay.io/prometheus/prometheus", "v2.53.0", LogStyle::Plain),
    ("kube-system", "coredns", "mcr.microsoft.com/oss/kubernetes/coredns", "v1.11.1", LogStyle::Plain),
    ("kube-system", "metrics-server", "registry.k8s.io/metrics-server/metrics-server", "v0.7.1", LogStyle::Plain),
    ("default", "redis", "docker.io/library/redis", "7.2.4", LogStyle::Plain),
    ("web", "checkout", "ghcr.io/acme/checkout", "5.0.2", LogStyle::Json),
];

const USERS: &[&str] = &["alice@example.com", "bob@example.com", "ci-deployer"];

struct Gen<'a> {
    o: &'a DemoOptions,
    rng: Rng,
    cluster_id: String,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    restarts: Vec<u32>,
}

/// Generates the demo data, handing rows to `sink` table by table in chunks of at most
/// 20,000 rows, in time order within each table.
pub fn generate(o: &DemoOptions, sink: &mut dyn FnMut(&'static str, Vec<Value>) -> Result<()>) -> Result<DemoSummary> {
    let mut g = Gen::new(o);
    let mut out = Out { bufs: Vec::new(), sink, summary: DemoSummary::default(), only: o.only.clone() };
    let start = o.end - Duration::hours(i64::from(o.hours.max(1)));
    let minutes = i64::from(o.hours.max(1)) * 60;
    g.static_rows(start, &mut out)?;
    for m in 0..minutes {
        let t = start + Duration::minutes(m);
        g.minute(t, m, &mut out)?;
    }
    out.finish()?;
    Ok(out.summary)
}

struct Out<'s> {
    only: Vec<String>,
    bufs: Vec<(&'static str, Vec<Value>)>,
    sink: &'s mut dyn FnMut(&'static str, Vec<Value>) -> Result<()>,
    summary: DemoSummary,
}

impl Out<'_> {
    fn wants(&self, table: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|t| t == table)
    }

    fn push(&mut self, table: &'static str, row: Value) -> Result<()> {
        if !self.wants(table) {
            return Ok(());
        }
        let i = match self.bufs.iter().position(|b| b.0 == table) {
            Some(i) => i,
            None => {
                self.bufs.push((table, Vec::new()));
                self.summary.tables.push((table.to_string(), 0));
                self.bufs.len() - 1
            }
        };
        self.bufs[i].1.push(row);
        self.summary.tables[i].1 += 1;
        if self.bufs[i].1.len() >= 20_000 {
            let rows = std::mem::take(&mut self.bufs[i].1);
            (self.sink)(table, rows)?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        for (t, rows) in std::mem::take(&mut self.bufs) {
            if !rows.is_empty() {
                (self.sink)(t, rows)?;
            }
        }
        Ok(())
    }
}

impl<'a> Gen<'a> {
    fn new(o: &'a DemoOptions) -> Gen<'a> {
        let mut rng = Rng(o.seed ^ 0x6B65_656C_7761_7463);
        let sub = rng.uuid();
        let cluster_id = format!(
            "/subscriptions/{sub}/resourceGroups/rg-{c}/providers/Microsoft.ContainerService/managedClusters/{c}",
            c = o.cluster
        );
        let start = o.end - Duration::hours(i64::from(o.hours.max(1)));
        let nodes: Vec<Node> = (0..o.nodes.max(1))
            .map(|i| Node {
                name: format!("aks-nodepool1-{:08}-vmss{:06x}", 31_415_926 + i, i),
                cpu_capacity: 4.0e9,
                mem_capacity: 16.0 * 1024.0 * 1024.0 * 1024.0,
                created: start - Duration::days(20 + i as i64),
                hot: i == 0,
            })
            .collect();
        let mut pods = Vec::new();
        for i in 0..o.pods.max(1) {
            let (ns, app, repo, tag, style) = APPS[i % APPS.len()];
            let replica = i / APPS.len();
            let hash = rng.hex(10);
            let (kind, cname, name) = match ns {
                "kube-system" if app == "coredns" => {
                    ("ReplicaSet", format!("{app}-{}", &hash[..10]), format!("{app}-{}-{}", &hash[..10], rng.hex(5)))
                }
                "monitoring" => ("StatefulSet", app.to_string(), format!("{app}-{replica}")),
                "batch" => (
                    "Job",
                    format!("{app}-{}", 28_000_000 + replica),
                    format!("{app}-{}-{}", 28_000_000 + replica, rng.hex(5)),
                ),
                _ => ("ReplicaSet", format!("{app}-{}", &hash[..9]), format!("{app}-{}-{}", &hash[..9], rng.hex(5))),
            };
            let fate = match (app, replica) {
                ("payments-worker", 0) => Fate::CrashLoop,
                ("report-builder", 0) => Fate::OomKilled,
                ("checkout", 0) => Fate::Pending,
                _ => Fate::Healthy,
            };
            let image_name = repo.rsplit('/').next().unwrap_or(repo).to_string();
            let mut containers = vec![Container {
                name: app.to_string(),
                id: rng.hex(64),
                image_repo: repo.to_string(),
                image: image_name,
                tag: tag.to_string(),
                image_id: format!("sha256:{}", rng.hex(64)),
                cpu_request: 0.1e9 * (1 + rng.below(5)) as f64,
                cpu_limit: 1.0e9,
                mem_request: 128.0 * 1024.0 * 1024.0,
                mem_limit: 512.0 * 1024.0 * 1024.0,
                log_style: style,
            }];
            if i % 3 == 1 {
                containers.push(Container {
                    name: "istio-proxy".to_string(),
                    id: rng.hex(64),
                    image_repo: "docker.io/istio/proxyv2".to_string(),
                    image: "proxyv2".to_string(),
                    tag: "1.22.1".to_string(),
                    image_id: format!("sha256:{}", rng.hex(64)),
                    cpu_request: 0.1e9,
                    cpu_limit: 2.0e9,
                    mem_request: 128.0 * 1024.0 * 1024.0,
                    mem_limit: 1024.0 * 1024.0 * 1024.0,
                    log_style: LogStyle::Json,
                });
            }
            pods.push(Pod {
                name,
                namespace: ns,
                app: app.to_string(),
                uid: rng.uuid(),
                node: i % nodes.len(),
                ip: format!("10.244.{}.{}", i / 250, 2 + i % 250),
                controller_kind: kind,
                controller_name: cname,
                service: (kind != "Job").then(|| app.to_string()),
                created: start - Duration::hours(1 + rng.below(48) as i64),
                containers,
                fate,
            });
        }
        let restarts = vec![0; pods.len()];
        Gen { o, rng, cluster_id, nodes, pods, restarts }
    }

    fn static_rows(&mut self, start: DateTime<Utc>, out: &mut Out<'_>) -> Result<()> {
        // Vulnerabilities of the images in use, policy results, a couple of alerts.
        // (image, package, type, installed, fixed, id, cvss, severity)
        type Vuln<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str, f64, &'a str);
        let vulns: &[Vuln<'_>] = &[
            ("nginx", "libssl3", "deb", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "CVE-2024-0727", 5.5, "Medium"),
            ("nginx", "zlib1g", "deb", "1:1.2.13.dfsg-1", "", "CVE-2023-45853", 9.8, "Critical"),
            ("payments-api", "golang.org/x/net", "go", "v0.17.0", "v0.23.0", "CVE-2023-45288", 7.5, "High"),
            ("payments-worker", "golang.org/x/net", "go", "v0.17.0", "v0.23.0", "CVE-2023-45288", 7.5, "High"),
            ("storefront", "express", "npm", "4.18.2", "4.19.2", "CVE-2024-29041", 6.1, "Medium"),
            ("redis", "libc6", "deb", "2.36-9+deb12u3", "2.36-9+deb12u4", "CVE-2023-6246", 7.8, "High"),
            ("report-builder", "jinja2", "pypi", "3.1.2", "3.1.3", "CVE-2024-22195", 5.4, "Medium"),
        ];
        for (image, pkg, ptype, installed, fixed, id, score, sev) in vulns {
            let Some(c) = self.pods.iter().flat_map(|p| &p.containers).find(|c| c.image == *image) else {
                continue;
            };
            let (registry, repository) = c.image_repo.split_once('/').unwrap_or(("docker.io", &c.image_repo));
            let os = if *ptype == "deb" { ("debian", "12.5") } else { ("alpine", "3.19.1") };
            out.push(
                "ContainerImageVulnerability",
                json!({
                    "TimeGenerated": ts(start + Duration::minutes(5)),
                    "Image": format!("{}:{}", c.image_repo, c.tag), "ImageDigest": c.image_id,
                    "Registry": registry, "Repository": repository, "Tag": c.tag,
                    "OSFamily": os.0, "OSVersion": os.1, "PackageName": pkg, "PackageType": ptype,
                    "InstalledVersion": installed, "FixedVersion": fixed, "VulnerabilityId": id,
                    "Aliases": [format!("GHSA-{}", &self.rng.hex(12))], "Severity": sev, "CvssScore": score,
                    "Status": if fixed.is_empty() { "affected" } else { "fixed" },
                    "Title": format!("{pkg}: vulnerability {id}"), "Layer": format!("sha256:{}", self.rng.hex(64)),
                    "Target": if *ptype == "deb" { "var/lib/dpkg/status".to_string() } else { format!("app/{pkg}") },
                }),
            )?;
        }
        for (i, p) in self.pods.iter().enumerate() {
            let privileged = p.app == "report-builder" || p.namespace == "kube-system";
            let latest = p.app == "storefront";
            for (def, kind, bad, msg) in [
                (
                    "k8spspprivilegedcontainer",
                    "K8sPSPPrivilegedContainer",
                    privileged,
                    "Privileged container is not allowed",
                ),
                ("k8sdisallowedtags", "K8sDisallowedTags", latest, "container uses a disallowed tag"),
                ("k8scontainerlimits", "K8sContainerLimits", i % 7 == 3, "container has no memory limit"),
            ] {
                out.push(
                    "PolicyResults",
                    json!({
                        "TimeGenerated": ts(start + Duration::minutes(10)),
                        "PolicyAssignment": "pod-security-baseline", "PolicyDefinition": def,
                        "ConstraintKind": kind, "ConstraintName": format!("{def}-audit"),
                        "EnforcementAction": "dryrun",
                        "ComplianceState": if bad { "NonCompliant" } else { "Compliant" },
                        "ResourceKind": "Pod", "ResourceApiVersion": "v1",
                        "ResourceNamespace": p.namespace, "ResourceName": p.name,
                        "ResourceId": format!("v1/Pod/{}/{}", p.namespace, p.name),
                        "Message": if bad { format!("[{def}-audit] {msg}: {}", p.containers[0].name) } else { String::new() },
                        "Source": "audit",
                    }),
                )?;
            }
        }
        Ok(())
    }

    fn minute(&mut self, t: DateTime<Utc>, m: i64, out: &mut Out<'_>) -> Result<()> {
        let any = |out: &Out<'_>, tables: &[&str]| tables.iter().any(|t| out.wants(t));
        if m % 5 == 0 && any(out, &["KubeNodeInventory", "KubePodInventory", "ContainerInventory", "KubeServices"]) {
            self.inventory(t, out)?;
        }
        if any(out, &["Perf", "InsightsMetrics"]) {
            self.perf(t, m, out)?;
        }
        if out.wants("ContainerLogV2") {
            self.logs(t, m, out)?;
        }
        if any(out, &["AKSAudit", "AKSAuditAdmin", "AKSControlPlane"]) {
            self.audit(t, m, out)?;
        }
        // Events also advance restart counters used by the inventory.
        self.events(t, m, out)?;
        Ok(())
    }

    fn inventory(&mut self, t: DateTime<Utc>, out: &mut Out<'_>) -> Result<()> {
        let o = self.o;
        for n in &self.nodes {
            out.push(
                "KubeNodeInventory",
                json!({
                    "TimeGenerated": ts(t), "ClusterId": self.cluster_id, "ClusterName": o.cluster,
                    "Computer": n.name, "CreationTimeStamp": ts(n.created),
                    "DockerVersion": "containerd://1.7.15-1", "KubeletVersion": "v1.29.4",
                    "KubeProxyVersion": "v1.29.4", "KubernetesProviderID": "azure",
                    "Labels": json!([{"kubernetes.io/hostname": n.name, "kubernetes.azure.com/agentpool": "nodepool1",
                        "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "Standard_D4s_v3"}]).to_string(),
                    "LastTransitionTimeReady": ts(n.created + Duration::minutes(2)),
                    "OperatingSystem": "Ubuntu 22.04.4 LTS", "Status": "Ready",
                }),
            )?;
        }
        let mut services = std::collections::BTreeSet::new();
        for (pi, p) in self.pods.iter().enumerate() {
            let node = &self.nodes[p.node];
            let restarts = self.restarts[pi];
            let (pod_status, cstatus, reason, last) = match p.fate {
                Fate::Pending => ("Pending", "waiting", "ContainerCreating", "{}".to_string()),
                Fate::CrashLoop if restarts > 0 => (
                    "Running",
                    "waiting",
                    "CrashLoopBackOff",
                    json!({"lastState": "terminated", "reason": "Error", "exitCode": 1, "finishedAt": ts(t - Duration::seconds(20))}).to_string(),
                ),
                Fate::OomKilled if restarts > 0 => (
                    "Running",
                    "running",
                    "",
                    json!({"lastState": "terminated", "reason": "OOMKilled", "exitCode": 137, "finishedAt": ts(t - Duration::minutes(3))}).to_string(),
                ),
                _ => ("Running", "running", "", "{}".to_string()),
            };
            let computer = if p.fate == Fate::Pending { "" } else { node.name.as_str() };
            for c in &p.containers {
                let crestarts = if c.name == p.app { restarts } else { 0 };
                out.push(
                    "KubePodInventory",
                    json!({
                        "TimeGenerated": ts(t), "ClusterId": self.cluster_id, "ClusterName": o.cluster,
                        "Computer": computer, "ContainerCreationTimeStamp": ts(p.created + Duration::seconds(5)),
                        "ContainerID": if p.fate == Fate::Pending { String::new() } else { c.id.clone() },
                        "ContainerLastStatus": last, "ContainerName": format!("{}/{}", p.uid, c.name),
                        "ContainerRestartCount": crestarts, "ContainerStartTime": ts(p.created + Duration::seconds(8)),
                        "ContainerStatus": cstatus, "ContainerStatusReason": reason,
                        "ControllerKind": p.controller_kind, "ControllerName": p.controller_name,
                        "InstanceName": format!("{}/{}/{}", self.cluster_id, p.uid, c.name),
                        "Name": p.name, "Namespace": p.namespace,
                        "PodCreationTimeStamp": ts(p.created), "PodIp": if p.fate == Fate::Pending { "" } else { p.ip.as_str() },
                        "PodLabel": json!([{"app": p.app, "pod-template-hash": p.controller_name.rsplit('-').next().unwrap_or("")}]).to_string(),
                        "PodRestartCount": restarts, "PodStartTime": ts(p.created + Duration::seconds(2)),
                        "PodStatus": pod_status, "PodUid": p.uid, "ServiceName": p.service.clone().unwrap_or_default(),
                    }),
                )?;
                if p.fate != Fate::Pending {
                    let (image_repo, _) = c.image_repo.rsplit_once('/').unwrap_or(("", ""));
                    out.push(
                        "ContainerInventory",
                        json!({
                            "TimeGenerated": ts(t), "Command": json!([format!("/usr/bin/{}", c.name)]).to_string(),
                            "Computer": node.name, "ContainerHostname": p.name, "ContainerID": c.id,
                            "ContainerState": if cstatus == "waiting" { "Waiting" } else { "Running" },
                            "CreatedTime": ts(p.created + Duration::seconds(5)),
                            "EnvironmentVar": json!([format!("POD_NAMESPACE={}", p.namespace), "LOG_FORMAT=json"]).to_string(),
                            "ExitCode": if p.fate == Fate::CrashLoop && restarts > 0 { 1 } else { 0 },
                            "FinishedTime": Value::Null, "Image": c.image, "ImageID": c.image_id, "ImageTag": c.tag,
                            "Name": format!("k8s_{}_{}_{}_{}_0", c.name, p.name, p.namespace, p.uid),
                            "Ports": "[]", "Repository": image_repo, "StartedTime": ts(p.created + Duration::seconds(8)),
                        }),
                    )?;
                }
            }
            if let Some(s) = &p.service {
                services.insert((p.namespace, s.clone()));
            }
        }
        for (i, (ns, s)) in services.into_iter().enumerate() {
            out.push(
                "KubeServices",
                json!({
                    "TimeGenerated": ts(t), "ClusterId": self.cluster_id, "ClusterIp": format!("10.0.{}.{}", i / 200, 10 + i % 200),
                    "ClusterName": o.cluster, "Namespace": ns, "SelectorLabels": json!([{"app": s}]).to_string(),
                    "ServiceName": s, "ServiceType": if s == "frontend" { "LoadBalancer" } else { "ClusterIP" },
                }),
            )?;
        }
        Ok(())
    }

    fn perf(&mut self, t: DateTime<Utc>, m: i64, out: &mut Out<'_>) -> Result<()> {
        let phase = (m as f64 / 60.0 * std::f64::consts::PI).sin();
        let n_nodes = self.nodes.len();
        for ni in 0..n_nodes {
            let (name, cap, mem, hot) = {
                let n = &self.nodes[ni];
                (n.name.clone(), n.cpu_capacity, n.mem_capacity, n.hot)
            };
            let alloc_cpu = cap * 0.95;
            let alloc_mem = mem * 0.8;
            let base = if hot { 0.97 } else { 0.35 + 0.15 * phase };
            let cpu = alloc_cpu * (base + 0.02 * self.rng.unit()).min(0.999);
            let ws = alloc_mem * (0.55 + 0.1 * phase + 0.05 * self.rng.unit());
            let inst = format!("{}/{}", self.cluster_id, name);
            for (counter, value) in [
                ("cpuUsageNanoCores", cpu),
                ("memoryWorkingSetBytes", ws),
                ("memoryRssBytes", ws * 0.8),
                ("restartTimeEpoch", self.nodes[ni].created.timestamp() as f64),
                ("cpuAllocatableNanoCores", alloc_cpu),
                ("memoryAllocatableBytes", alloc_mem),
                ("cpuCapacityNanoCores", cap),
                ("memoryCapacityBytes", mem),
            ] {
                out.push(
                    "Perf",
                    json!({"TimeGenerated": ts(t), "Computer": name, "ObjectName": "K8SNode", "CounterName": counter,
                        "CounterPath": format!("\\\\{name}\\K8SNode({inst})\\{counter}"),
                        "CounterValue": value.round(), "InstanceName": inst}),
                )?;
            }
            out.push(
                "InsightsMetrics",
                json!({"TimeGenerated": ts(t), "AgentId": format!("agent-{ni}"), "Computer": name, "Name": "used_percent",
                    "Namespace": "container.azm.ms/disk", "Origin": "container.azm.ms/telegraf",
                    "Tags": json!({"container.azm.ms/clusterId": self.cluster_id, "hostName": name, "device": "sda1",
                        "container.azm.ms/clusterName": self.o.cluster}).to_string(),
                    "Val": (40.0 + 10.0 * ni as f64 + phase * 3.0).round()}),
            )?;
        }
        for pi in 0..self.pods.len() {
            if self.pods[pi].fate == Fate::Pending {
                continue;
            }
            let node = self.nodes[self.pods[pi].node].name.clone();
            for ci in 0..self.pods[pi].containers.len() {
                let (cname, req, lim, mreq, mlim, uid) = {
                    let p = &self.pods[pi];
                    let c = &p.containers[ci];
                    (c.name.clone(), c.cpu_request, c.cpu_limit, c.mem_request, c.mem_limit, p.uid.clone())
                };
                let fate = self.pods[pi].fate;
                let cpu = lim * (0.1 + 0.3 * self.rng.unit() + if fate == Fate::CrashLoop { 0.5 } else { 0.0 });
                let ws = if fate == Fate::OomKilled {
                    mlim * (0.9 + 0.1 * self.rng.unit())
                } else {
                    mlim * (0.2 + 0.2 * self.rng.unit())
                };
                let inst = format!("{}/{}/{}", self.cluster_id, uid, cname);
                for (counter, value) in [
                    ("cpuUsageNanoCores", cpu),
                    ("memoryWorkingSetBytes", ws),
                    ("memoryRssBytes", ws * 0.85),
                    ("restartTimeEpoch", (t.timestamp() - 3600) as f64),
                    ("cpuRequestNanoCores", req),
                    ("cpuLimitNanoCores", lim),
                    ("memoryRequestBytes", mreq),
                    ("memoryLimitBytes", mlim),
                ] {
                    out.push(
                        "Perf",
                        json!({"TimeGenerated": ts(t), "Computer": node, "ObjectName": "K8SContainer", "CounterName": counter,
                            "CounterPath": format!("\\\\{node}\\K8SContainer({inst})\\{counter}"),
                            "CounterValue": value.round(), "InstanceName": inst}),
                    )?;
                }
                if ci == 0 && m % 5 == 0 {
                    out.push(
                        "InsightsMetrics",
                        json!({"TimeGenerated": ts(t), "AgentId": "agent-0", "Computer": node, "Name": "cpuThrottledNanoCores",
                            "Namespace": "container.azm.ms/cpu", "Origin": "container.azm.ms/telegraf",
                            "Tags": json!({"container.azm.ms/clusterId": self.cluster_id, "podName": self.pods[pi].name,
                                "containerName": cname, "namespace": self.pods[pi].namespace}).to_string(),
                            "Val": (cpu * 0.05 * self.rng.unit()).round()}),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn logs(&mut self, t: DateTime<Utc>, m: i64, out: &mut Out<'_>) -> Result<()> {
        let per_minute = f64::from(self.o.log_rate) / 60.0;
        for pi in 0..self.pods.len() {
            if self.pods[pi].fate == Fate::Pending {
                continue;
            }
            for ci in 0..self.pods[pi].containers.len() {
                // Poisson-ish count: floor + Bernoulli remainder.
                let mut n = per_minute.floor() as u64;
                if self.rng.unit() < per_minute.fract() {
                    n += 1;
                }
                let crash = self.pods[pi].fate == Fate::CrashLoop && ci == 0;
                for k in 0..n {
                    let at = t + Duration::milliseconds(((k as f64 + self.rng.unit()) * 60_000.0 / n as f64) as i64);
                    let row = self.log_row(pi, ci, at, crash, m);
                    out.push("ContainerLogV2", row)?;
                }
            }
        }
        Ok(())
    }

    fn log_row(&mut self, pi: usize, ci: usize, at: DateTime<Utc>, crash: bool, m: i64) -> Value {
        let p = &self.pods[pi];
        let c = &p.containers[ci];
        let r = self.rng.unit();
        let level = if (crash && r < 0.4) || r < 0.02 {
            "error"
        } else if r < 0.07 {
            "warn"
        } else if r < 0.15 {
            "debug"
        } else {
            "info"
        };
        let paths = ["/api/orders", "/api/cart", "/healthz", "/api/payments", "/metrics", "/"];
        let path = *self.rng.pick(&paths);
        let status = match level {
            "error" => 500,
            "warn" => 429,
            _ => 200,
        };
        let dur = 1 + self.rng.below(250);
        let trace = self.rng.hex(16);
        let (msg, source, lvl): (Value, &str, &str) = match c.log_style {
            LogStyle::Json => {
                let text = match level {
                    "error" if crash => {
                        "failed to connect to database: connection refused (postgres.payments.svc:5432)"
                    }
                    "error" => "request failed: upstream timeout",
                    "warn" => "rate limit exceeded, retrying",
                    "debug" => "cache lookup",
                    _ => "request completed",
                };
                (
                    json!({"level": level, "ts": ts(at), "msg": text, "path": path, "status": status,
                        "duration_ms": dur, "trace_id": trace, "minute": m}),
                    if level == "error" { "stderr" } else { "stdout" },
                    match level {
                        "error" => "ERROR",
                        "warn" => "WARNING",
                        "debug" => "DEBUG",
                        _ => "INFO",
                    },
                )
            }
            LogStyle::Plain => {
                let line = match (level, c.name.as_str()) {
                    (_, "nginx") | (_, "frontend") => format!(
                        "10.244.0.{} - - [{}] \"GET {path} HTTP/1.1\" {status} {} \"-\" \"kube-probe/1.29\"",
                        self.rng.below(250),
                        at.format("%d/%b/%Y:%H:%M:%S +0000"),
                        100 + dur * 10
                    ),
                    ("error", _) => format!(
                        "{} ERROR job failed: out of memory while building report {trace}",
                        at.format("%Y-%m-%d %H:%M:%S")
                    ),
                    ("warn", _) => format!("{} WARN slow query took {dur}ms", at.format("%Y-%m-%d %H:%M:%S")),
                    ("debug", _) => format!("{} DEBUG tick {m}", at.format("%Y-%m-%d %H:%M:%S")),
                    _ => format!("{} INFO processed batch {trace} in {dur}ms", at.format("%Y-%m-%d %H:%M:%S")),
                };
                let guessed = if line.contains("ERROR") {
                    "ERROR"
                } else if line.contains("WARN") {
                    "WARNING"
                } else if line.contains("DEBUG") {
                    "DEBUG"
                } else if line.contains("INFO") {
                    "INFO"
                } else {
                    "UNKNOWN"
                };
                (Value::String(line), if level == "error" { "stderr" } else { "stdout" }, guessed)
            }
        };
        json!({
            "TimeGenerated": ts(at), "Computer": self.nodes[p.node].name, "ContainerId": c.id,
            "ContainerName": c.name, "PodName": p.name, "PodNamespace": p.namespace,
            "LogMessage": msg, "LogSource": source, "LogLevel": lvl,
            "KubernetesMetadata": {"podLabels": {"app": p.app}, "podAnnotations": {}, "podUid": p.uid,
                "image": format!("{}:{}", c.image_repo, c.tag), "imageID": c.image_id,
                "imageRepo": c.image_repo, "imageTag": c.tag},
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn audit_row(
        &mut self,
        at: DateTime<Utc>,
        verb: &str,
        user: Value,
        resource: &str,
        subresource: Option<&str>,
        namespace: &str,
        name: &str,
        code: u16,
        agent: &str,
        request: Value,
    ) -> Value {
        let mut uri = format!("/api/v1/namespaces/{namespace}/{resource}");
        if !name.is_empty() {
            uri.push('/');
            uri.push_str(name);
        }
        if let Some(s) = subresource {
            uri.push('/');
            uri.push_str(s);
        }
        let mut obj = json!({"resource": resource, "namespace": namespace, "apiVersion": "v1"});
        if !name.is_empty() {
            obj["name"] = json!(name);
        }
        if let Some(s) = subresource {
            obj["subresource"] = json!(s);
        }
        let received = at - Duration::milliseconds(3 + self.rng.below(40) as i64);
        json!({
            "TimeGenerated": ts(at), "Verb": verb, "RequestUri": uri, "Stage": "ResponseComplete",
            "Level": if request.is_null() { "Metadata" } else { "Request" }, "AuditId": self.rng.uuid(),
            "UserAgent": agent, "User": user, "ObjectRef": obj,
            "SourceIps": [format!("10.224.0.{}", 100 + self.rng.below(20))],
            "ResponseStatus": {"metadata": {}, "code": code},
            "RequestObject": request, "ResponseObject": Value::Null,
            "Annotations": {"authorization.k8s.io/decision": if code == 403 { "forbid" } else { "allow" },
                "authorization.k8s.io/reason": ""},
            "RequestReceivedTime": ts(received), "StageReceivedTime": ts(at),
            "PodName": format!("kube-apiserver-{}", self.rng.hex(10)),
        })
    }

    fn audit(&mut self, t: DateTime<Utc>, m: i64, out: &mut Out<'_>) -> Result<()> {
        let sys = |u: &str| json!({"username": u, "groups": ["system:authenticated"]});
        let pods = self.pods.len();
        for k in 0..6 {
            let at = t + Duration::seconds(k * 10);
            let pi = self.rng.below(pods as u64) as usize;
            let (ns, name) = (self.pods[pi].namespace, self.pods[pi].name.clone());
            let (verb, user, agent) = match k % 3 {
                0 => ("get", sys("system:serviceaccount:kube-system:coredns"), "coredns/v1.11.1"),
                1 => ("list", sys("system:kube-controller-manager"), "kube-controller-manager/v1.29.4"),
                _ => ("watch", sys("system:kube-scheduler"), "kube-scheduler/v1.29.4"),
            };
            let row = self.audit_row(
                at,
                verb,
                user,
                "pods",
                None,
                ns,
                if verb == "get" { &name } else { "" },
                200,
                agent,
                Value::Null,
            );
            out.push("AKSAudit", row.clone())?;
            if verb == "watch" {
                out.push("AKSAuditAdmin", row)?;
            }
        }
        if m % 3 == 0 {
            let at = t + Duration::seconds(33);
            let pi = self.rng.below(pods as u64) as usize;
            let user = *self.rng.pick(USERS);
            let u = json!({"username": user, "groups": ["system:authenticated", "devs"]});
            let (ns, name) = (self.pods[pi].namespace, self.pods[pi].name.clone());
            let row = self.audit_row(
                at,
                "patch",
                u,
                "configmaps",
                None,
                ns,
                &format!("{}-config", self.pods[pi].app),
                200,
                "kubectl/v1.29.4 (linux/amd64)",
                json!({"data": {"LOG_LEVEL": "debug"}}),
            );
            out.push("AKSAudit", row.clone())?;
            out.push("AKSAuditAdmin", row)?;
            if m % 45 == 0 {
                // Someone execs into a pod, then reads secrets.
                let u = json!({"username": "bob@example.com", "groups": ["system:authenticated"]});
                let row = self.audit_row(
                    at + Duration::seconds(5),
                    "create",
                    u.clone(),
                    "pods",
                    Some("exec"),
                    ns,
                    &name,
                    101,
                    "kubectl/v1.29.4 (linux/amd64)",
                    Value::Null,
                );
                out.push("AKSAudit", row.clone())?;
                out.push("AKSAuditAdmin", row)?;
                let row = self.audit_row(
                    at + Duration::seconds(9),
                    "get",
                    u.clone(),
                    "secrets",
                    None,
                    ns,
                    "db-credentials",
                    200,
                    "kubectl/v1.29.4 (linux/amd64)",
                    Value::Null,
                );
                out.push("AKSAudit", row)?;
                let row = self.audit_row(
                    at + Duration::seconds(11),
                    "list",
                    u,
                    "secrets",
                    None,
                    "kube-system",
                    "",
                    403,
                    "kubectl/v1.29.4 (linux/amd64)",
                    Value::Null,
                );
                out.push("AKSAudit", row)?;
            }
        }
        for (cat, msg, lvl) in [
            ("kube-apiserver", "I1127 Handler: GET /readyz 200", "info"),
            ("kube-scheduler", "Successfully bound pod to node", "info"),
            ("kube-controller-manager", "Too many pods of ReplicaSet; scaling down", "info"),
        ] {
            if self.rng.unit() < 0.5 {
                out.push(
                    "AKSControlPlane",
                    json!({"TimeGenerated": ts(t + Duration::seconds(self.rng.below(60) as i64)), "Category": cat,
                        "Level": lvl, "Message": msg, "PodName": format!("{cat}-{}", self.rng.hex(8)), "Stream": "stderr"}),
                )?;
            }
        }
        if m % 20 == 7 {
            out.push(
                "AKSControlPlane",
                json!({"TimeGenerated": ts(t + Duration::seconds(42)), "Category": "cluster-autoscaler", "Level": "warning",
                    "Message": "Pod web/checkout is unschedulable: 0/3 nodes are available: insufficient cpu",
                    "PodName": "cluster-autoscaler-0", "Stream": "stderr"}),
            )?;
        }
        Ok(())
    }

    fn events(&mut self, t: DateTime<Utc>, m: i64, out: &mut Out<'_>) -> Result<()> {
        let o = self.o;
        for pi in 0..self.pods.len() {
            let fate = self.pods[pi].fate;
            let (ev, reason, msg, comp) = match fate {
                Fate::CrashLoop if m % 5 == 2 => {
                    self.restarts[pi] += 1;
                    ("Warning", "BackOff", "Back-off restarting failed container", "kubelet")
                }
                Fate::OomKilled if m % 60 == 30 => {
                    self.restarts[pi] += 1;
                    (
                        "Warning",
                        "OOMKilling",
                        "Memory cgroup out of memory: Killed process (report-builder)",
                        "kernel-monitor",
                    )
                }
                Fate::Pending if m % 10 == 0 => (
                    "Warning",
                    "FailedScheduling",
                    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available",
                    "default-scheduler",
                ),
                Fate::Healthy if m == pi as i64 % 60 => {
                    ("Normal", "Pulled", "Container image already present on machine", "kubelet")
                }
                _ => continue,
            };
            let p = &self.pods[pi];
            out.push(
                "KubeEvents",
                json!({"TimeGenerated": ts(t), "ClusterId": self.cluster_id, "ClusterName": o.cluster,
                    "Computer": if fate == Fate::Pending { "" } else { self.nodes[p.node].name.as_str() },
                    "Count": f64::from(self.restarts[pi].max(1)), "FirstSeen": ts(p.created), "LastSeen": ts(t),
                    "KubeEventType": ev, "Message": msg, "Name": p.name, "Namespace": p.namespace,
                    "ObjectKind": "Pod", "Reason": reason, "SourceComponent": comp}),
            )?;
            if fate == Fate::CrashLoop && m % 60 == 2 {
                let c = &p.containers[0];
                out.push(
                    "SecurityAlert",
                    json!({
                        "TimeGenerated": ts(t), "AlertName": "Exec into a pod followed by secret access",
                        "AlertType": "K8S_ExecAndSecretRead", "AlertSeverity": "Medium",
                        "Description": "A user ran a command inside a pod and then read secrets of its namespace.",
                        "Tactics": "Execution,CredentialAccess", "Techniques": "T1609,T1552",
                        "Entities": [{"Type": "K8s-cluster", "Name": o.cluster}, {"Type": "K8s-namespace", "Name": p.namespace},
                            {"Type": "K8s-pod", "Name": p.name, "Namespace": p.namespace},
                            {"Type": "container-image", "ImageId": c.image_id}, {"Type": "account", "Name": "bob@example.com"}],
                        "ExtendedProperties": {"pod": p.name, "namespace": p.namespace, "user": "bob@example.com"},
                        "CompromisedEntity": p.name,
                        "RemediationSteps": ["Review the exec session.", "Rotate the secrets that were read."],
                        "Status": "New", "ProviderName": "keelwatch",
                        "SystemAlertId": format!("{:016x}", self.rng.next()),
                        "StartTime": ts(t - Duration::minutes(2)), "EndTime": ts(t), "Count": 3,
                        "ProductName": "keelwatch threat detection",
                    }),
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_covers_tables() {
        let o = DemoOptions {
            nodes: 2,
            pods: 12,
            hours: 1,
            end: DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().to_utc(),
            ..DemoOptions::default()
        };
        let collect = || {
            let mut rows: Vec<(&'static str, Value)> = Vec::new();
            let s = generate(&o, &mut |t, r| {
                rows.extend(r.into_iter().map(|v| (t, v)));
                Ok(())
            })
            .unwrap();
            (s, rows)
        };
        let (s1, r1) = collect();
        let (_, r2) = collect();
        assert_eq!(r1, r2);
        let names: Vec<&str> = s1.tables.iter().map(|t| t.0.as_str()).collect();
        for t in keelwatch_tables::stored() {
            assert!(names.contains(&t.name), "demo lacks {}", t.name);
        }
        // Every row passes the schema check of its table.
        for t in keelwatch_tables::stored() {
            let rows: Vec<_> = r1.iter().filter(|r| r.0 == t.name).map(|r| r.1.clone()).collect();
            let parsed = crate::rows::ParsedRows {
                rows: rows.iter().enumerate().map(|(i, v)| (i + 1, v.as_object().unwrap().clone())).collect(),
            };
            crate::rows::rows_to_batch(t, &parsed, crate::UnknownColumns::Reject, 0).unwrap_or_else(|e| panic!("{e}"));
        }
        let perf_counters: std::collections::BTreeSet<&str> =
            r1.iter().filter(|r| r.0 == "Perf").map(|r| r.1["CounterName"].as_str().unwrap()).collect();
        assert!(perf_counters.contains("cpuUsageNanoCores") && perf_counters.contains("memoryLimitBytes"));
        assert!(r1.iter().any(|r| r.0 == "ContainerLogV2" && r.1["LogMessage"].is_object()));
        assert!(r1.iter().any(|r| r.0 == "ContainerLogV2" && r.1["LogMessage"].is_string()));
    }
}
