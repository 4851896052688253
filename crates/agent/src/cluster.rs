//! Cluster mode (`--mode cluster`, one replica per cluster): the cluster-wide Container
//! Insights tables that no node agent can see alone — `KubeNodeInventory`, `KubeServices`
//! and `KubeEvents` — built from the API server's Node, Service and Event lists.
//!
//! Column rules follow what Container Insights writes:
//! - `KubeNodeInventory`: `Status` = the types of the node's conditions whose status is
//!   `True`, comma-joined (`Ready`, or `MemoryPressure,Ready`); `LastTransitionTimeReady`
//!   from the `Ready` condition whatever its status; `KubernetesProviderID` = the provider
//!   ID's scheme (`azure:///subscriptions/…` → `azure`), `onprem` when the node has none;
//!   `Labels` = a JSON array holding the labels object; `DockerVersion` = the container
//!   runtime version with a `docker://` prefix removed (others kept as they are);
//!   `OperatingSystem` = the OS image.
//! - `KubeServices`: `SelectorLabels` = a JSON array holding the selector object (`[]`
//!   without a selector), `ClusterIp` as the API reports it (`None` for headless).
//! - `KubeEvents`: one row per event the first time it is seen with a given count
//!   (identity `uid/count`, so a repeat that bumps `count` is a new row, exactly as
//!   Container Insights does; `series` stands in for `count`/`lastTimestamp` on events
//!   written through `events.k8s.io`); `TimeGenerated` = the event's creation time; `Computer` = the
//!   reporting host, else the collector's node; only `Warning` events unless all are asked
//!   for (`--kube-events all`).
//!
//! Which events were already shipped is kept in [`EventsSeen`] (a file in the state
//! directory, replaced atomically after the rows are in the sink), so restarts do not repeat
//! events and the set stays as small as the API server's event list (events expire there).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Node, Service};
use serde_json::{Value, json};

use crate::checkpoint::write_atomic;
use crate::error::{AgentError, Result};
use crate::kubeapi::time_of;

/// Who is collecting: `ClusterId`, `ClusterName`, and the node the collector runs on (the
/// `Computer` of events no host reported).
#[derive(Debug, Clone, Default)]
pub struct ClusterIdentity {
    /// `ClusterId` column.
    pub cluster_id: String,
    /// `ClusterName` column.
    pub cluster_name: String,
    /// The collector's own node.
    pub node: String,
}

/// The scheme of a node's `spec.providerID` (`aws:///eu-west-1a/i-…` → `aws`), `onprem`
/// when the node has none.
pub fn provider_of(provider_id: Option<&str>) -> String {
    match provider_id.filter(|p| !p.is_empty()) {
        None => "onprem".to_string(),
        Some(p) => match p.split(':').next() {
            Some(scheme) if !scheme.is_empty() => scheme.to_string(),
            _ => p.to_string(),
        },
    }
}

/// `KubeNodeInventory` rows, one per node.
pub fn node_inventory_rows(nodes: &[Node], who: &ClusterIdentity, time: &str) -> Vec<Value> {
    nodes
        .iter()
        .map(|n| {
            let status = n.status.as_ref();
            let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
            let up: Vec<&str> = conditions.iter().filter(|c| c.status == "True").map(|c| c.type_.as_str()).collect();
            let ready_since =
                conditions.iter().find(|c| c.type_ == "Ready").and_then(|c| c.last_transition_time.as_ref());
            let info = status.and_then(|s| s.node_info.as_ref());
            let runtime = info.map(|i| i.container_runtime_version.as_str()).unwrap_or("");
            let runtime = match runtime.get(..9) {
                Some(p) if p.eq_ignore_ascii_case("docker://") => &runtime[9..],
                _ => runtime,
            };
            json!({
                "TimeGenerated": time,
                "ClusterId": who.cluster_id,
                "ClusterName": who.cluster_name,
                "Computer": n.metadata.name.clone().unwrap_or_default(),
                "CreationTimeStamp": time_of(n.metadata.creation_timestamp.as_ref()),
                "DockerVersion": runtime,
                "KubeletVersion": info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
                "KubeProxyVersion": info.map(|i| i.kube_proxy_version.clone()).unwrap_or_default(),
                "KubernetesProviderID": provider_of(n.spec.as_ref().and_then(|s| s.provider_id.as_deref())),
                "Labels": json!([n.metadata.labels.clone().unwrap_or_default()]).to_string(),
                "LastTransitionTimeReady": time_of(ready_since),
                "OperatingSystem": info.map(|i| i.os_image.clone()).unwrap_or_default(),
                "Status": up.join(","),
            })
        })
        .collect()
}

/// `KubeServices` rows, one per Service.
pub fn service_rows(services: &[Service], who: &ClusterIdentity, time: &str) -> Vec<Value> {
    services
        .iter()
        .map(|s| {
            let spec = s.spec.as_ref();
            let selector = match spec.and_then(|sp| sp.selector.as_ref()) {
                Some(sel) => json!([sel]).to_string(),
                None => "[]".to_string(),
            };
            json!({
                "TimeGenerated": time,
                "ClusterId": who.cluster_id,
                "ClusterName": who.cluster_name,
                "ClusterIp": spec.and_then(|sp| sp.cluster_ip.clone()).unwrap_or_default(),
                "Namespace": s.metadata.namespace.clone().unwrap_or_default(),
                "SelectorLabels": selector,
                "ServiceName": s.metadata.name.clone().unwrap_or_default(),
                "ServiceType": spec.and_then(|sp| sp.type_.clone()).unwrap_or_else(|| "ClusterIP".to_string()),
            })
        })
        .collect()
}

/// How many times an event occurred: `count`, else (events written through
/// `events.k8s.io`) `series.count`, else 1.
fn occurrences(e: &Event) -> i32 {
    e.count.filter(|c| *c > 0).or_else(|| e.series.as_ref().and_then(|s| s.count)).unwrap_or(1)
}

/// An event's identity for de-duplication: `uid/count`.
pub fn event_key(e: &Event) -> Option<String> {
    let uid = e.metadata.uid.as_deref().filter(|u| !u.is_empty())?;
    Some(format!("{uid}/{}", occurrences(e)))
}

/// `KubeEvents` rows with their identities, for the events the filter keeps (`all`, or
/// only `Warning`). Events without a uid cannot be de-duplicated and are left out.
pub fn event_rows(events: &[Event], all: bool, who: &ClusterIdentity) -> Vec<(String, Value)> {
    events
        .iter()
        .filter(|e| all || e.type_.as_deref() == Some("Warning"))
        .filter_map(|e| {
            let key = event_key(e)?;
            let obj = &e.involved_object;
            // New-style events (events.k8s.io) carry eventTime/series instead of the
            // first/last timestamps; the core/v1 view may leave those empty.
            let first = time_of(e.first_timestamp.as_ref());
            let first = if first.is_null() {
                e.event_time.as_ref().map(|t| Value::String(t.0.to_string())).unwrap_or(Value::Null)
            } else {
                first
            };
            let last = time_of(e.last_timestamp.as_ref());
            let observed = e.series.as_ref().and_then(|s| s.last_observed_time.as_ref());
            let last = match (last.is_null(), observed) {
                (false, _) => last,
                (true, Some(t)) => Value::String(t.0.to_string()),
                (true, None) => first.clone(),
            };
            let created = time_of(e.metadata.creation_timestamp.as_ref());
            let time = if created.is_null() { last.clone() } else { created };
            let host = e.source.as_ref().and_then(|s| s.host.clone()).filter(|h| !h.is_empty());
            let component = e
                .source
                .as_ref()
                .and_then(|s| s.component.clone())
                .or_else(|| e.reporting_component.clone())
                .unwrap_or_default();
            let row = json!({
                "TimeGenerated": time,
                "ClusterId": who.cluster_id,
                "ClusterName": who.cluster_name,
                "Computer": host.unwrap_or_else(|| who.node.clone()),
                "Count": occurrences(e) as f64,
                "FirstSeen": first,
                "LastSeen": last,
                "KubeEventType": e.type_.clone().unwrap_or_default(),
                "Message": e.message.clone().unwrap_or_default(),
                "Name": obj.name.clone().unwrap_or_default(),
                "Namespace": obj.namespace.clone().unwrap_or_default(),
                "ObjectKind": obj.kind.clone().unwrap_or_default(),
                "Reason": e.reason.clone().unwrap_or_default(),
                "SourceComponent": component,
            });
            Some((key, row))
        })
        .collect()
}

/// The event identities shipped in the last round, persisted in the state directory.
#[derive(Debug)]
pub struct EventsSeen {
    path: PathBuf,
    keys: BTreeSet<String>,
}

impl EventsSeen {
    /// Loads `<state>/kube-events-seen.json`; a missing file is an empty set, a damaged
    /// one is reported and treated as empty (events may then be shipped twice, never lost).
    pub fn load(state_dir: &Path) -> EventsSeen {
        let path = state_dir.join("kube-events-seen.json");
        let keys = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<BTreeSet<String>>(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "damaged event state; events may be shipped again");
                BTreeSet::new()
            }),
            Err(_) => BTreeSet::new(),
        };
        EventsSeen { path, keys }
    }

    /// The rows not shipped before, in list order.
    pub fn fresh(&self, rows: Vec<(String, Value)>) -> Vec<Value> {
        rows.into_iter().filter(|(k, _)| !self.keys.contains(k)).map(|(_, r)| r).collect()
    }

    /// Records that every event of this round's list is shipped. Only the current list is
    /// kept: an event that expired from the API server cannot come back.
    pub fn commit(&mut self, keys: BTreeSet<String>) -> Result<()> {
        let bytes = serde_json::to_vec(&keys).map_err(|e| AgentError::Config(format!("event state: {e}")))?;
        write_atomic(&self.path, &bytes)?;
        self.keys = keys;
        Ok(())
    }

    /// How many identities are remembered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_scheme_or_onprem() {
        assert_eq!(provider_of(Some("azure:///subscriptions/x/resourceGroups/y")), "azure");
        assert_eq!(provider_of(Some("kind://docker/kind/kind-control-plane")), "kind");
        assert_eq!(provider_of(Some("")), "onprem");
        assert_eq!(provider_of(None), "onprem");
        assert_eq!(provider_of(Some(":odd")), ":odd");
    }

    #[test]
    fn seen_events_survive_a_restart_and_only_the_last_list_is_kept() {
        let t = tempfile::tempdir().unwrap();
        let mut seen = EventsSeen::load(t.path());
        assert!(seen.is_empty());
        let rows = vec![("a/1".to_string(), json!({"n": 1})), ("b/1".to_string(), json!({"n": 2}))];
        assert_eq!(seen.fresh(rows.clone()).len(), 2);
        seen.commit(rows.iter().map(|(k, _)| k.clone()).collect()).unwrap();
        let again = EventsSeen::load(t.path());
        assert_eq!(again.len(), 2);
        let next = vec![("a/1".to_string(), json!({"n": 1})), ("a/2".to_string(), json!({"n": 3}))];
        assert_eq!(again.fresh(next), vec![json!({"n": 3})]);
        std::fs::write(t.path().join("kube-events-seen.json"), b"{not json").unwrap();
        assert!(EventsSeen::load(t.path()).is_empty());
    }
}
