//! No Secret value survives into any output: alert JSON, table, webhook bodies — even when
//! a rule interpolates the whole event (`%jevt.obj`) or the request body.

mod common;

use common::*;
use keelwatch_detect::decode::{Event, read_stream, read_stream_views};
use keelwatch_detect::output::{WebhookFormat, table, webhook_body, write_json_line};
use keelwatch_detect::rules::load_rules;
use keelwatch_detect::{Aggregator, Detector};
use serde_json::json;

const SECRETS: &[&str] = &[
    "cGFzc3dvcmQxMjM=",     // data value (base64 of password123)
    "password123",          // stringData value
    "hunter2-applied",      // inside last-applied-configuration
    "c2VydmljZS10b2tlbg==", // SecretList item
    "patched-value-b64",    // JSON patch value
    "list-item-secret",     // kind: List item
    "aks-envelope-secret",  // inside an AKS properties.log string
];

const LEAKY_RULES: &str = r#"
- rule: Leaky everything
  desc: prints whole events
  condition: ka.verb exists
  output: "obj=%jevt.obj req=%jevt.value[/requestObject] resp=%jevt.value[/responseObject] data=%jevt.value[/requestObject/data] cm=%ka.req.configmap.obj"
  priority: ERROR
  source: k8s_audit
"#;

#[test]
fn no_secret_value_survives_in_any_output() {
    let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
        "stringData": {"password": "hunter2-applied"}})
    .to_string();
    let secret = json!({"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
        "metadata": {"name": "db", "namespace": "shop", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
        "data": {"password": "cGFzc3dvcmQxMjM="}, "stringData": {"user": "password123"}});
    let create = audit("create", "secrets", Some("shop"), Some("db")).req(secret).v();
    let mut list = audit("list", "secrets", Some("shop"), None).v();
    list["responseObject"] = json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {},
        "items": [{"metadata": {"name": "sa-token"}, "data": {"token": "c2VydmljZS10b2tlbg=="}}]});
    list.as_object_mut().unwrap().remove("requestObject");
    let patch = audit("patch", "secrets", Some("shop"), Some("db"))
        .req(json!([{"op": "replace", "path": "/data/password", "value": "patched-value-b64"}]))
        .v();
    // `kubectl apply -f list.yaml` of a List holding a Secret, logged on another resource.
    let kind_list = audit("create", "configmaps", Some("shop"), Some("x"))
        .req(json!({"kind": "List", "items": [{"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "list-item-secret"}}]}))
        .v();
    let inner = audit("get", "secrets", Some("asc-alerttest-662jfi039n"), Some("s"))
        .req(json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "aks-envelope-secret"}}))
        .v();
    let envelope = json!({"category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "properties": {"log": inner.to_string(), "pod": "kube-apiserver-7c9d", "stream": "stdout"}, "time": "2026-11-27T09:00:00Z"});

    let mut input = String::new();
    for v in [&create, &list, &patch, &kind_list, &envelope] {
        input.push_str(&v.to_string());
        input.push('\n');
    }
    for s in SECRETS {
        assert!(input.contains(s), "fixture must contain {s}");
    }

    let rules = load_rules(true, &[("leaky.yaml".into(), LEAKY_RULES.into())]).unwrap();
    let mut det = Detector::new(rules, "c1");
    let mut agg = Aggregator::new(chrono::Duration::seconds(300), false);
    let mut raw = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    read_stream("fixture.jsonl", input.as_bytes(), |e| events.push(e), |m| panic!("malformed: {m}")).unwrap();
    assert_eq!(events.len(), 5);
    for e in &events {
        for a in det.process(e) {
            raw.push(a.clone());
            agg.push(a);
        }
    }
    // The detector's own input path: events in evaluation form (bodies as borrowed trees)
    // give the same alerts as owned events.
    let mut det = Detector::new(load_rules(true, &[("leaky.yaml".into(), LEAKY_RULES.into())]).unwrap(), "c1");
    let mut from_views = Vec::new();
    read_stream_views("fixture.jsonl", input.as_bytes(), |e| from_views.extend(det.process(&e)), |m| panic!("{m}"))
        .unwrap();
    let strip = |a: &keelwatch_detect::SecurityAlert| {
        let mut a = a.clone();
        a.time_generated.clear();
        a
    };
    assert_eq!(from_views.iter().map(strip).collect::<Vec<_>>(), raw.iter().map(strip).collect::<Vec<_>>());
    raw.extend(from_views);
    let alerts = agg.flush();
    assert!(alerts.iter().any(|a| a.alert_type == "Custom.Leaky_everything"));
    assert!(alerts.iter().any(|a| a.alert_type == "K8S_TestAlert"), "the envelope event was evaluated");

    let mut outputs: Vec<(&str, String)> = Vec::new();
    let mut jsonl = Vec::new();
    for a in raw.iter().chain(&alerts) {
        write_json_line(&mut jsonl, a).unwrap();
    }
    outputs.push(("alerts JSON", String::from_utf8(jsonl).unwrap()));
    outputs.push(("table", table(&alerts)));
    outputs.push(("generic webhook", webhook_body(WebhookFormat::Generic, &alerts).to_string()));
    outputs.push(("alertmanager webhook", webhook_body(WebhookFormat::Alertmanager, &alerts).to_string()));
    // The decoded events themselves (what a store would persist).
    let persisted: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Audit(a) => serde_json::to_string(a).unwrap(),
            Event::Process(p) => serde_json::to_string(p).unwrap(),
        })
        .collect();
    outputs.push(("decoded events", persisted.join("\n")));

    for (what, text) in &outputs {
        for s in SECRETS {
            assert!(!text.contains(s), "secret {s} leaked into {what}");
        }
    }
    // The leaky rule really did print the bodies (so the check above is meaningful).
    assert!(outputs[0].1.contains("<redacted>"));
    assert!(outputs[0].1.contains("last-applied-configuration"));
}
