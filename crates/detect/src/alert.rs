//! `SecurityAlert` records (the workspace's SecurityAlert table row) and their construction
//! from rule matches, plus aggregation of repeats.
//!
//! Invariants: alerts are built only from redacted events and carry no request/response
//! bodies; `SystemAlertId` is a stable hash of (type, entity key, first event time) so a
//! replay of the same input yields the same ids; an aggregate re-emitted with a higher count
//! keeps its id (consumers upsert on it).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::audit::rfc3339;
use crate::node::Node;
use crate::process::ProcessEvent;
use crate::rules::CompiledRule;
use crate::view::AuditView;

/// One SecurityAlert row (PascalCase JSON keys, as the table's columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityAlert {
    pub time_generated: String,
    pub alert_name: String,
    pub alert_type: String,
    pub alert_severity: String,
    pub description: String,
    pub tactics: String,
    pub techniques: String,
    pub entities: Vec<Value>,
    pub extended_properties: Map<String, Value>,
    pub compromised_entity: String,
    pub remediation_steps: Vec<String>,
    pub status: String,
    pub provider_name: String,
    pub system_alert_id: String,
    pub start_time: String,
    pub end_time: String,
    pub count: u64,
    /// Sentinel's `ProductName`; absent in alerts written before the column existed.
    #[serde(default)]
    pub product_name: String,
}

/// The `ProductName` of every alert keelwatch raises.
pub const PRODUCT_NAME: &str = "keelwatch threat detection";

/// Severity rank for filtering (`Informational` < `Low` < `Medium` < `High`).
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "High" => 3,
        "Medium" => 2,
        "Low" => 1,
        _ => 0,
    }
}

/// The alert type for a rule: its `alert.type`, else `Custom.<rule name>` with every
/// character outside `[A-Za-z0-9_.-]` replaced by `_`.
pub fn alert_type_of(rule: &CompiledRule) -> String {
    if let Some(t) = rule.alert.as_ref().and_then(|a| a.alert_type.clone()) {
        return t;
    }
    let clean: String =
        rule.name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
    format!("Custom.{clean}")
}

struct Common<'a> {
    rule: &'a CompiledRule,
    message: &'a str,
    time: DateTime<Utc>,
    cluster: &'a str,
}

fn base(
    c: &Common<'_>,
    entities: Vec<Value>,
    compromised: String,
    mut ext: Map<String, Value>,
    entity_key: &str,
) -> SecurityAlert {
    let meta = c.rule.alert.clone().unwrap_or_default();
    let alert_type = alert_type_of(c.rule);
    let time = rfc3339(c.time);
    ext.insert("RuleName".into(), json!(c.rule.name));
    ext.insert("RuleOrigin".into(), json!(c.rule.origin));
    ext.insert("Priority".into(), json!(c.rule.priority.as_str()));
    ext.insert("Source".into(), json!(c.rule.source.as_str()));
    ext.insert("Message".into(), json!(c.message));
    if !c.cluster.is_empty() {
        ext.insert("Cluster".into(), json!(c.cluster));
    }
    SecurityAlert {
        time_generated: time.clone(),
        alert_name: meta.name.unwrap_or_else(|| c.rule.name.clone()),
        alert_severity: meta.severity.unwrap_or_else(|| c.rule.priority.severity().to_string()),
        description: c.rule.desc.clone(),
        tactics: meta.tactics.join(","),
        techniques: meta.techniques.join(","),
        entities,
        extended_properties: ext,
        compromised_entity: compromised,
        remediation_steps: meta.remediation,
        status: "New".into(),
        provider_name: "keelwatch".into(),
        system_alert_id: alert_id(&alert_type, entity_key, &time),
        alert_type,
        start_time: time.clone(),
        end_time: time,
        count: 1,
        product_name: PRODUCT_NAME.into(),
    }
}

fn alert_id(alert_type: &str, entity_key: &str, start: &str) -> String {
    let mut h = Sha256::new();
    h.update(alert_type.as_bytes());
    h.update([0]);
    h.update(entity_key.as_bytes());
    h.update([0]);
    h.update(start.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Builds the alert for an audit-rule match (for an owned event, pass
/// [`AuditView::from_event`]).
pub fn from_audit(
    rule: &CompiledRule,
    message: &str,
    ev: &AuditView<'_>,
    cluster: &str,
    now: DateTime<Utc>,
) -> SecurityAlert {
    let time = ev.time().unwrap_or(now);
    let cluster_name = ev.annotation("cluster_name").unwrap_or(cluster);
    let mut entities = Vec::new();
    if !cluster_name.is_empty() {
        entities.push(json!({"Type": "K8s-cluster", "Name": cluster_name}));
    }
    let ns = ev.namespace();
    if let Some(ns) = ns {
        entities.push(json!({"Type": "K8s-namespace", "Name": ns}));
    }
    let resource = ev.resource().unwrap_or("");
    let name = ev.target_name();
    if resource == "pods"
        && let Some(pod) = name
    {
        entities.push(json!({"Type": "K8s-pod", "Name": pod, "Namespace": ns}));
    }
    if let Some(spec) = ev.request_pod_spec() {
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec.get(list).and_then(Node::as_array).into_iter().flatten() {
                let cname = c.get("name").and_then(Node::as_str);
                let image = c.get("image").and_then(Node::as_str);
                if let Some(cname) = cname {
                    entities.push(json!({"Type": "container", "Name": cname, "Image": image}));
                }
                if let Some(image) = image {
                    entities.push(json!({"Type": "container-image", "ImageId": image}));
                }
            }
        }
    }
    if !ev.user.username.is_empty() {
        entities.push(json!({"Type": "account", "Name": ev.user.username, "Groups": &ev.user.groups[..]}));
    }
    if let Some(ip) = ev.source_ip() {
        entities.push(json!({"Type": "ip", "Address": ip}));
    }
    let mut ext = Map::new();
    ext.insert("AuditId".into(), json!(ev.audit_id));
    ext.insert("Verb".into(), json!(ev.verb));
    ext.insert("RequestURI".into(), json!(ev.request_uri));
    ext.insert("User".into(), json!(ev.user.username));
    if let Some(ua) = &ev.user_agent {
        ext.insert("UserAgent".into(), json!(ua));
    }
    if let Some(ip) = ev.source_ip() {
        ext.insert("SourceIP".into(), json!(ip));
    }
    if !resource.is_empty() {
        let full = match ev.subresource() {
            Some(s) => format!("{resource}/{s}"),
            None => resource.to_string(),
        };
        ext.insert("Resource".into(), json!(full));
    }
    if let Some(n) = name {
        ext.insert("ObjectName".into(), json!(n));
    }
    if let Some(ns) = ns {
        ext.insert("Namespace".into(), json!(ns));
    }
    let compromised = match (ns, name) {
        (Some(ns), Some(n)) if !resource.is_empty() => format!("{ns}/{resource}/{n}"),
        (None, Some(n)) if !resource.is_empty() => format!("{resource}/{n}"),
        (Some(ns), None) => format!("namespace/{ns}"),
        _ if !cluster_name.is_empty() => cluster_name.to_string(),
        _ => "cluster".to_string(),
    };
    let key = format!("{compromised}|{}", ev.user.username);
    base(&Common { rule, message, time, cluster: cluster_name }, entities, compromised, ext, &key)
}

/// Builds the alert for a process-rule match.
pub fn from_process(
    rule: &CompiledRule,
    message: &str,
    ev: &ProcessEvent,
    cluster: &str,
    now: DateTime<Utc>,
) -> SecurityAlert {
    let time = DateTime::parse_from_rfc3339(&ev.time).map(|t| t.with_timezone(&Utc)).unwrap_or(now);
    let mut entities = Vec::new();
    if !cluster.is_empty() {
        entities.push(json!({"Type": "K8s-cluster", "Name": cluster}));
    }
    if !ev.node.is_empty() {
        entities.push(json!({"Type": "host", "HostName": ev.node}));
    }
    if let Some(ns) = &ev.namespace {
        entities.push(json!({"Type": "K8s-namespace", "Name": ns}));
    }
    if let Some(pod) = &ev.pod {
        entities.push(json!({"Type": "K8s-pod", "Name": pod, "Namespace": ev.namespace}));
    }
    if ev.container_id.is_some() || ev.container.is_some() {
        entities.push(
            json!({"Type": "container", "Name": ev.container, "ContainerId": ev.container_id, "Image": ev.image}),
        );
    }
    if let Some(image) = &ev.image {
        entities.push(json!({"Type": "container-image", "ImageId": image}));
    }
    entities.push(json!({"Type": "process", "ProcessId": ev.pid, "ParentProcessId": ev.ppid,
        "ImageFile": ev.exe, "CommandLine": ev.argv.join(" ")}));
    entities.push(json!({"Type": "account", "UserId": ev.uid}));
    let mut ext = Map::new();
    ext.insert("CommandLine".into(), json!(ev.argv.join(" ")));
    ext.insert("Executable".into(), json!(ev.exe));
    ext.insert("ProcessId".into(), json!(ev.pid));
    ext.insert("Cwd".into(), json!(ev.cwd));
    ext.insert("Node".into(), json!(ev.node));
    let compromised = match (&ev.namespace, &ev.pod) {
        (Some(ns), Some(pod)) => format!("{ns}/pods/{pod}"),
        _ => ev.node.clone(),
    };
    let key = format!("{compromised}|{}", ev.container_id.as_deref().unwrap_or(""));
    base(&Common { rule, message, time, cluster }, entities, compromised, ext, &key)
}

/// Aggregates repeats: alerts with the same type and compromised entity (and account) whose
/// events fall within `window` of the aggregate's first event become one alert with a
/// `Count`, `StartTime` (first) and `EndTime` (last).
///
/// Two modes: [`Aggregator::push`] returns the first occurrence immediately (streaming:
/// `serve`), and [`Aggregator::expire`]/[`Aggregator::flush`] return updated aggregates whose
/// count grew (same `SystemAlertId`); in batch mode (`replay`) `push` returns nothing and
/// every aggregate comes out of `expire`/`flush` exactly once.
#[derive(Debug)]
pub struct Aggregator {
    window: Duration,
    eager: bool,
    open: HashMap<String, Open>,
    /// Bound on simultaneously open aggregates; the oldest is closed when exceeded.
    max_open: usize,
}

#[derive(Debug)]
struct Open {
    alert: SecurityAlert,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    emitted_count: u64,
}

fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|_| Utc::now())
}

fn agg_key(a: &SecurityAlert) -> String {
    let user = a.extended_properties.get("User").and_then(Value::as_str).unwrap_or("");
    format!("{}\u{0}{}\u{0}{user}", a.alert_type, a.compromised_entity)
}

impl Aggregator {
    /// `eager`: emit first occurrences at once (streaming) instead of at window close.
    pub fn new(window: Duration, eager: bool) -> Aggregator {
        Aggregator { window, eager, open: HashMap::new(), max_open: 100_000 }
    }

    /// Adds an alert. Returns alerts to emit now (eager first occurrences, or aggregates
    /// evicted because the same key started a new window).
    pub fn push(&mut self, alert: SecurityAlert) -> Vec<SecurityAlert> {
        let mut out = Vec::new();
        let t = parse_time(&alert.start_time);
        let key = agg_key(&alert);
        if let Some(open) = self.open.get_mut(&key) {
            if t >= open.start && t - open.start <= self.window {
                open.alert.count += 1;
                if t > open.end {
                    open.end = t;
                    open.alert.end_time = alert.end_time.clone();
                    open.alert.time_generated = alert.end_time;
                }
                return out;
            }
            if let Some(closed) = self.open.remove(&key) {
                out.extend(self.close(closed));
            }
        }
        if self.open.len() >= self.max_open
            && let Some(oldest) = self.open.iter().min_by_key(|(_, o)| o.end).map(|(k, _)| k.clone())
            && let Some(closed) = self.open.remove(&oldest)
        {
            out.extend(self.close(closed));
        }
        let emitted_count = if self.eager {
            out.push(alert.clone());
            1
        } else {
            0
        };
        self.open.insert(key, Open { alert, start: t, end: t, emitted_count });
        out
    }

    fn close(&self, open: Open) -> Option<SecurityAlert> {
        (open.alert.count > open.emitted_count).then_some(open.alert)
    }

    /// Closes aggregates whose window ended before `now` (event time or wall clock).
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<SecurityAlert> {
        let window = self.window;
        let done: Vec<String> =
            self.open.iter().filter(|(_, o)| now - o.start > window).map(|(k, _)| k.clone()).collect();
        let closed: Vec<Open> = done.into_iter().filter_map(|k| self.open.remove(&k)).collect();
        let mut out: Vec<SecurityAlert> = closed.into_iter().filter_map(|o| self.close(o)).collect();
        out.sort_by(|a, b| a.start_time.cmp(&b.start_time).then(a.alert_type.cmp(&b.alert_type)));
        out
    }

    /// Closes every aggregate (end of input), in start-time order.
    pub fn flush(&mut self) -> Vec<SecurityAlert> {
        let mut out: Vec<SecurityAlert> =
            self.open.drain().filter_map(|(_, o)| (o.alert.count > o.emitted_count).then_some(o.alert)).collect();
        out.sort_by(|a, b| a.start_time.cmp(&b.start_time).then(a.alert_type.cmp(&b.alert_type)));
        out
    }
}
