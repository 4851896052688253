//! Cluster mode end to end: the agent's real kube-rs client lists Nodes, Services and
//! events from an API server stand-in on 127.0.0.1 (`common::apiserver`) and writes
//! `KubeNodeInventory`, `KubeServices` and `KubeEvents` rows as Container Insights does.
//!
//! No real API server can run here. The stand-in serves recorded real-format v1 lists
//! written for these tests (`tests/data/nodelist.json`: an AKS node with its provider ID
//! and pressure conditions, an on-prem docker node under memory pressure, a kind node whose
//! kubelet stopped reporting; `eventlist.json`: a kubelet BackOff with a count, a Normal
//! Scheduled event and a FailedScheduling written through events.k8s.io — eventTime and
//! series instead of timestamps and count — and a node-controller NodeNotReady;
//! `servicelist.json` shared with the kubernetes-mode test), paged two items at a time.
//! The stand-in does not evaluate field selectors; the test checks the one the client sent.
#![cfg(feature = "kubernetes")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::apiserver::ApiServer;
use common::*;
use keelwatch_agent::{AgentConfig, Output};
use serde_json::Value;

fn lists(events: Value) -> Vec<(&'static str, Value)> {
    vec![
        ("/api/v1/nodes", serde_json::from_str(include_str!("data/nodelist.json")).unwrap()),
        ("/api/v1/services", serde_json::from_str(include_str!("data/servicelist.json")).unwrap()),
        ("/api/v1/events", events),
    ]
}

fn recorded_events() -> Value {
    serde_json::from_str(include_str!("data/eventlist.json")).unwrap()
}

fn config(state: &Path, out: &Path, api: &ApiServer) -> AgentConfig {
    let mut cfg = AgentConfig::cluster(Output::File(out.to_path_buf()));
    cfg.state_dir = state.to_path_buf();
    cfg.node_name = Some("collector-node".into());
    cfg.cluster_id = "c-1".into();
    cfg.cluster_name = "prod-eu".into();
    cfg.once = true;
    cfg.kube_api_url = Some(api.url.clone());
    cfg
}

/// One `--once` round into a fresh output file; the rows per table.
fn round(cfg: &AgentConfig, out: &Path) -> std::collections::BTreeMap<String, Vec<Value>> {
    let _ = std::fs::remove_file(out);
    keelwatch_agent::run(cfg, Arc::new(AtomicBool::new(false))).expect("agent run");
    read_output(out)
}

fn columns(table: &str) -> BTreeSet<String> {
    keelwatch_tables::table(table).unwrap().columns.iter().map(|c| c.name.to_string()).collect()
}

fn keys(row: &Value) -> BTreeSet<String> {
    row.as_object().unwrap().keys().filter(|k| *k != "Type").cloned().collect()
}

fn by<'a>(rows: &'a [Value], col: &str, value: &str) -> &'a Value {
    rows.iter().find(|r| r[col] == value).unwrap_or_else(|| panic!("no row with {col} = {value}: {rows:#?}"))
}

#[test]
fn nodes_services_and_warning_events_with_container_insights_columns() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let api = ApiServer::with_lists(lists(recorded_events()), 2);
    let cfg = config(&t.path().join("state"), &out, &api);
    let rows = round(&cfg, &out);
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        ["KubeEvents", "KubeNodeInventory", "KubeServices"],
        "cluster mode writes the cluster-wide tables only"
    );

    // Requests: every page of each list, the Warning-only field selector for events.
    let reqs = api.requests.lock().unwrap().clone();
    let pages = |p: &str| reqs.iter().filter(|r| r.path == p).count();
    assert_eq!((pages("/api/v1/nodes"), pages("/api/v1/services"), pages("/api/v1/events")), (2, 4, 2));
    let ev = reqs.iter().find(|r| r.path == "/api/v1/events").unwrap();
    assert_eq!(ev.query.get("fieldSelector").map(String::as_str), Some("type!=Normal"));

    let nodes = &rows["KubeNodeInventory"];
    assert_eq!(nodes.len(), 3);
    for r in nodes {
        assert_eq!(keys(r), columns("KubeNodeInventory"), "{r}");
        assert_eq!((r["ClusterId"].as_str(), r["ClusterName"].as_str()), (Some("c-1"), Some("prod-eu")));
    }
    let aks = by(nodes, "Computer", "aks-nodepool1-31718369-vmss000000");
    assert_eq!(aks["Status"], "Ready");
    assert_eq!(aks["KubernetesProviderID"], "azure");
    assert_eq!(aks["DockerVersion"], "containerd://1.7.22-1");
    assert_eq!(aks["KubeletVersion"], "v1.30.6");
    assert_eq!(aks["KubeProxyVersion"], "v1.30.6");
    assert_eq!(aks["OperatingSystem"], "Ubuntu 22.04.5 LTS");
    assert_eq!(aks["CreationTimeStamp"], "2026-11-20T08:14:03Z");
    assert_eq!(aks["LastTransitionTimeReady"], "2026-11-20T08:14:35Z");
    let labels: Value = serde_json::from_str(aks["Labels"].as_str().unwrap()).unwrap();
    assert_eq!(labels[0]["agentpool"], "nodepool1");
    assert_eq!(labels.as_array().unwrap().len(), 1, "Labels is an array holding one object");
    let edge = by(nodes, "Computer", "edge-worker-2");
    assert_eq!(edge["Status"], "MemoryPressure,Ready", "every true condition, in the node's order");
    assert_eq!(edge["KubernetesProviderID"], "onprem");
    assert_eq!(edge["DockerVersion"], "24.0.7", "docker:// is dropped, as Container Insights does");
    let kind = by(nodes, "Computer", "kind-worker");
    assert_eq!(kind["Status"], "", "no condition is true");
    assert_eq!(kind["LastTransitionTimeReady"], "2026-11-27T08:51:40Z");
    assert_eq!(kind["KubernetesProviderID"], "kind");
    assert_eq!(kind["Labels"], "[{}]");

    let services = &rows["KubeServices"];
    assert_eq!(services.len(), 7);
    for r in services {
        assert_eq!(keys(r), columns("KubeServices"), "{r}");
    }
    let canary = by(services, "ServiceName", "web-canary");
    assert_eq!((canary["Namespace"].as_str(), canary["ClusterIp"].as_str()), (Some("prod"), Some("10.0.57.9")));
    let sel: Value = serde_json::from_str(canary["SelectorLabels"].as_str().unwrap()).unwrap();
    assert_eq!(sel, serde_json::json!([{"app": "web", "track": "canary"}]));
    assert_eq!(canary["ServiceType"], "ClusterIP");
    assert_eq!(by(services, "ServiceName", "kubernetes")["SelectorLabels"], "[]");
    assert_eq!(by(services, "ServiceName", "api")["ClusterIp"], "None", "headless as the API reports it");
    assert_eq!(by(services, "ServiceName", "db")["ServiceType"], "ExternalName");

    let events = &rows["KubeEvents"];
    assert_eq!(events.len(), 3, "Warning events only: {events:#?}");
    for r in events {
        assert_eq!(keys(r), columns("KubeEvents"), "{r}");
        assert_eq!(r["KubeEventType"], "Warning");
    }
    let backoff = by(events, "Reason", "BackOff");
    assert_eq!(backoff["Count"], 5.0);
    assert_eq!(backoff["Computer"], "aks-nodepool1-31718369-vmss000000", "the reporting host");
    assert_eq!(backoff["SourceComponent"], "kubelet");
    assert_eq!((backoff["ObjectKind"].as_str(), backoff["Namespace"].as_str()), (Some("Pod"), Some("prod")));
    assert_eq!(backoff["Name"], "web-7d4b9c6f5-x2x9k");
    assert_eq!(backoff["TimeGenerated"], "2026-11-27T08:41:02Z", "the event's creation time");
    assert_eq!(
        (backoff["FirstSeen"].as_str(), backoff["LastSeen"].as_str()),
        (Some("2026-11-27T08:41:02Z"), Some("2026-11-27T08:58:47Z"))
    );
    assert!(backoff["Message"].as_str().unwrap().starts_with("Back-off restarting failed container app"));
    let sched = by(events, "Reason", "FailedScheduling");
    assert_eq!(sched["Count"], 3.0, "series.count stands in for count");
    assert_eq!(sched["SourceComponent"], "default-scheduler", "reportingComponent when source is empty");
    assert_eq!(sched["Computer"], "collector-node", "no reporting host: the collector's node");
    assert_eq!(sched["FirstSeen"], "2026-11-27T08:55:10.12Z");
    assert_eq!(sched["LastSeen"], "2026-11-27T08:59:10.12Z");
    let not_ready = by(events, "Reason", "NodeNotReady");
    assert_eq!((not_ready["ObjectKind"].as_str(), not_ready["Namespace"].as_str()), (Some("Node"), Some("")));

    // A restart on the same state: the same events are not shipped again, snapshots are.
    let again = round(&cfg, &out);
    assert!(!again.contains_key("KubeEvents"), "events repeated after a restart: {:?}", again.get("KubeEvents"));
    assert_eq!(again["KubeNodeInventory"].len(), 3);
    assert_eq!(again["KubeServices"].len(), 7);
    drop(api);

    // The BackOff happens again (count 6): exactly that event is shipped, once.
    let mut bumped = recorded_events();
    bumped["items"][0]["count"] = Value::from(6);
    bumped["items"][0]["lastTimestamp"] = Value::from("2026-11-27T09:03:51Z");
    let api = ApiServer::with_lists(lists(bumped), 2);
    let cfg = config(&t.path().join("state"), &out, &api);
    let third = round(&cfg, &out);
    let ev = &third["KubeEvents"];
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!((ev[0]["Reason"].as_str(), ev[0]["Count"].as_f64()), (Some("BackOff"), Some(6.0)));
    assert_eq!(ev[0]["LastSeen"], "2026-11-27T09:03:51Z");
}

#[test]
fn all_events_namespace_filter_and_a_failing_list() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let api = ApiServer::with_lists(lists(recorded_events()), 10);
    let mut cfg = config(&t.path().join("state"), &out, &api);
    cfg.kube_events_all = true;
    cfg.filter.exclude = vec!["dev".into()];
    let rows = round(&cfg, &out);
    let ev = api.requests.lock().unwrap().iter().find(|r| r.path == "/api/v1/events").cloned().unwrap();
    assert!(!ev.query.contains_key("fieldSelector"), "all events: no selector ({:?})", ev.query);
    let reasons: BTreeSet<&str> = rows["KubeEvents"].iter().map(|r| r["Reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, BTreeSet::from(["BackOff", "NodeNotReady", "Scheduled"]), "Normal included, dev excluded");
    let scheduled = by(&rows["KubeEvents"], "Reason", "Scheduled");
    assert_eq!(scheduled["KubeEventType"], "Normal");
    assert_eq!(scheduled["FirstSeen"], "2026-11-27T08:50:00.412331Z", "eventTime when firstTimestamp is null");
    assert_eq!(scheduled["LastSeen"], scheduled["FirstSeen"]);
    assert!(rows["KubeServices"].iter().all(|r| r["Namespace"] != "dev"));
    assert_eq!(rows["KubeNodeInventory"].len(), 3, "nodes are cluster-scoped: never filtered");
    drop(api);

    // The event list fails (404): nodes and services still go out, and the events seen so
    // far stay remembered — the next good round ships nothing twice.
    let api = ApiServer::with_lists(
        lists(recorded_events()).into_iter().filter(|(p, _)| *p != "/api/v1/events").collect(),
        10,
    );
    let cfg2 = AgentConfig { kube_api_url: Some(api.url.clone()), ..cfg.clone() };
    let rows = round(&cfg2, &out);
    assert!(!rows.contains_key("KubeEvents"));
    assert_eq!((rows["KubeNodeInventory"].len(), rows["KubeServices"].len()), (3, 6));
    drop(api);
    let api = ApiServer::with_lists(lists(recorded_events()), 10);
    let cfg3 = AgentConfig { kube_api_url: Some(api.url.clone()), ..cfg };
    assert!(!round(&cfg3, &out).contains_key("KubeEvents"));
}

#[test]
fn cluster_mode_refuses_node_collectors_and_an_unreachable_api_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let mut cfg = AgentConfig::cluster(Output::Stdout);
    cfg.state_dir = t.path().to_path_buf();
    cfg.log_dir = Some(t.path().join("pods"));
    let err = cfg.validate().unwrap_err();
    assert!(err.contains("--mode cluster"), "{err}");
    let mut host = AgentConfig::host(Output::Stdout);
    host.kube_events_all = true;
    assert!(host.validate().unwrap_err().contains("--kube-events"));

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut cfg = AgentConfig::cluster(Output::Stdout);
    cfg.state_dir = t.path().to_path_buf();
    cfg.node_name = Some("n".into());
    cfg.once = true;
    cfg.kube_api_url = Some(url.clone());
    let err = keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false))).unwrap_err().to_string();
    assert!(err.contains(&url), "the error names the API server: {err}");
}
