#[path = "../tests/common/mod.rs"]
mod common;
use common::*;
use keelwatch_detect::Detector;
use keelwatch_detect::decode::read_stream_views;
use keelwatch_detect::rules::load_rules;
use serde_json::{Value, json};
/// One cycle of the realistic audit mix (45 events).
fn audit_mix() -> Vec<Value> {
    let node = "aks-nodepool1-12345678-vmss000000";
    let kubelet = format!("system:node:{node}");
    let kcm = "system:kube-controller-manager";
    let mut v = Vec::new();
    for _ in 0..4 {
        v.push(
            audit("update", "leases", Some("kube-node-lease"), Some(node))
                .user(&kubelet)
                .ua("kubelet/v1.29.2")
                .metadata_level()
                .v(),
        );
    }
    for _ in 0..2 {
        v.push(
            audit("patch", "nodes", None, Some(node)).sub("status", "?timeout=10s").user(&kubelet).metadata_level().v(),
        );
        v.push(audit("get", "configmaps", Some("kube-system"), Some("kube-proxy")).user(&kubelet).metadata_level().v());
        v.push(
            audit("patch", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
                .sub("status", "")
                .user(&kubelet)
                .metadata_level()
                .v(),
        );
    }
    for _ in 0..3 {
        v.push(
            audit("watch", "pods", None, None)
                .uri(&format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&watch=true"))
                .user(&kubelet)
                .metadata_level()
                .v(),
        );
        v.push(
            audit("update", "leases", Some("kube-system"), Some("kube-controller-manager"))
                .user(kcm)
                .metadata_level()
                .v(),
        );
    }
    v.push(audit("get", "secrets", Some("shop"), Some("web-tls")).user(&kubelet).metadata_level().v());
    v.push(audit("list", "services", None, None).user(&kubelet).metadata_level().v());
    for sa in ["endpointslice-controller", "replicaset-controller", "deployment-controller"] {
        v.push(
            audit("list", "pods", None, None)
                .user(&format!("system:serviceaccount:kube-system:{sa}"))
                .metadata_level()
                .v(),
        );
    }
    for _ in 0..2 {
        v.push(audit("watch", "endpoints", None, None).user("system:kube-proxy").metadata_level().v());
        v.push(audit("get", "deployments", Some("shop"), Some("web")).user(kcm).metadata_level().v());
    }
    for _ in 0..3 {
        v.push(
            audit("list", "pods", Some("shop"), None)
                .uri("/api/v1/namespaces/shop/pods?limit=500")
                .metadata_level()
                .v(),
        );
        v.push(audit("create", "events", Some("shop"), None).user(&kubelet).metadata_level().v());
    }
    for _ in 0..2 {
        v.push(audit("get", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z")).metadata_level().v());
    }
    v.push(audit("get", "pods", Some("shop"), Some("web-1")).sub("log", "?container=web").metadata_level().v());
    v.push(audit("watch", "configmaps", Some("shop"), None).metadata_level().v());
    v.push(audit("create", "tokenreviews", None, None).user("system:kube-apiserver").metadata_level().v());
    // Creates with bodies.
    v.push(
        audit("create", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
            .user("system:serviceaccount:kube-system:replicaset-controller")
            .req(pod("web-7d9c5b7f4-x2x9z", "shop", &[("web", "contoso.azurecr.io/web:1.4.2", false)], json!({})))
            .v(),
    );
    v.push(
        audit("create", "deployments", Some("shop"), Some("web"))
            .user("system:serviceaccount:ci:deployer")
            .req(deployment("web", "shop", &[("web", "contoso.azurecr.io/web:1.4.2", false)], json!({})))
            .v(),
    );
    v.push(
        audit("create", "configmaps", Some("shop"), Some("web"))
            .req(json!({"kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"LOG_LEVEL": "info"}}))
            .v(),
    );
    v.push(
        audit("create", "services", Some("shop"), Some("web"))
            .req(service("web", "shop", "ClusterIP", &[80], json!({}), json!({"app": "web"})))
            .v(),
    );
    // Alerting: the test alert.
    v.push(audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v());
    v
}

/// `n` JSON lines cycling through `base` with unique auditIDs.
fn lines(base: &[Value], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut e = base[i % base.len()].clone();
        if e.get("auditID").is_some() {
            e["auditID"] = json!(format!("bench-{i}"));
        }
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}


fn main() {
    let iters: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let rules = std::sync::Arc::new(load_rules(true, &[]).unwrap());
    let input = lines(&audit_mix(), 9000);
    let t = std::time::Instant::now();
    let mut alerts = 0;
    for _ in 0..iters {
        let mut det = Detector::new(rules.clone(), "bench");
        read_stream_views("bench", &input[..], |e| alerts += det.process(&e).len(), |m| panic!("{m}")).unwrap();
    }
    let el = t.elapsed();
    eprintln!("{alerts} alerts, {:.0} ev/s wall", (iters * 9000) as f64 / el.as_secs_f64());
}
