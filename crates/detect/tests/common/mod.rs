//! Builders for realistic audit (`audit.k8s.io/v1`) and process events used by the tests.
#![allow(dead_code)]

use keelwatch_detect::audit::AuditEvent;
use keelwatch_detect::decode::Event;
use keelwatch_detect::rules::load_rules;
use keelwatch_detect::{Detector, ProcessEvent, SecurityAlert};
use serde_json::{Value, json};

/// A detector over the built-in catalog (compiled once per test binary).
pub fn detector() -> Detector {
    static RULES: std::sync::OnceLock<std::sync::Arc<keelwatch_detect::rules::RuleSet>> = std::sync::OnceLock::new();
    let rules = RULES.get_or_init(|| std::sync::Arc::new(load_rules(true, &[]).expect("catalog compiles")));
    Detector::new(rules.clone(), "aks-prod-1")
}

/// Alert types raised by a fresh detector for these events.
pub fn fire(events: &[Value]) -> Vec<String> {
    alerts(events).into_iter().map(|a| a.alert_type).collect()
}

pub fn alerts(events: &[Value]) -> Vec<SecurityAlert> {
    let mut d = detector();
    let mut out = Vec::new();
    for e in events {
        let ev = if e.get("pid").is_some() {
            Event::Process(serde_json::from_value::<ProcessEvent>(e.clone()).expect("process event"))
        } else {
            Event::Audit(Box::new(AuditEvent::from_value(e.clone()).expect("audit event")))
        };
        out.extend(d.process(&ev));
    }
    out
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// An audit event builder with sensible defaults (kubectl user, ResponseComplete, 2xx).
#[derive(Clone)]
pub struct Ev(pub Value);

fn api_path(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "deployments" | "daemonsets" | "statefulsets" | "replicasets" => ("/apis/apps/v1", "v1"),
        "jobs" | "cronjobs" => ("/apis/batch/v1", "v1"),
        "clusterroles" | "clusterrolebindings" | "roles" | "rolebindings" => {
            ("/apis/rbac.authorization.k8s.io/v1", "v1")
        }
        "mutatingwebhookconfigurations" | "validatingwebhookconfigurations" => {
            ("/apis/admissionregistration.k8s.io/v1", "v1")
        }
        _ => ("/api/v1", "v1"),
    }
}

pub fn audit(verb: &str, resource: &str, namespace: Option<&str>, name: Option<&str>) -> Ev {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (prefix, version) = api_path(resource);
    let mut uri = prefix.to_string();
    if let Some(ns) = namespace {
        uri.push_str(&format!("/namespaces/{ns}"));
    }
    uri.push_str(&format!("/{resource}"));
    if let Some(name) = name
        && verb != "create"
    {
        uri.push_str(&format!("/{name}"));
    }
    let code = match verb {
        "create" => 201,
        _ => 200,
    };
    let mut object_ref = json!({"resource": resource, "apiVersion": version});
    if let Some(ns) = namespace {
        object_ref["namespace"] = json!(ns);
    }
    if let Some(name) = name {
        object_ref["name"] = json!(name);
    }
    if prefix != "/api/v1" {
        object_ref["apiGroup"] = json!(prefix.trim_start_matches("/apis/").rsplit_once('/').map(|x| x.0).unwrap_or(""));
    }
    let secs = n % 60;
    Ev(json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": format!("6f1f6a2e-{n:04x}-4d3c-9b1e-5d0c8a7f{n:04x}"),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": {"username": "alice@contoso.com", "uid": "7b3c", "groups": ["system:authenticated", "aad:admins"]},
        "sourceIPs": ["20.50.1.7"],
        "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": format!("2026-11-27T09:00:{secs:02}.100000Z"),
        "stageTimestamp": format!("2026-11-27T09:00:{secs:02}.120000Z"),
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"admins\" of ClusterRole \"cluster-admin\" to Group \"aad:admins\""
        }
    }))
}

impl Ev {
    pub fn user(mut self, name: &str) -> Ev {
        self.0["user"]["username"] = json!(name);
        self
    }
    pub fn ua(mut self, ua: &str) -> Ev {
        self.0["userAgent"] = json!(ua);
        self
    }
    pub fn code(mut self, code: i64) -> Ev {
        self.0["responseStatus"]["code"] = json!(code);
        self
    }
    pub fn stage(mut self, stage: &str) -> Ev {
        self.0["stage"] = json!(stage);
        self
    }
    pub fn sub(mut self, sub: &str, query: &str) -> Ev {
        self.0["objectRef"]["subresource"] = json!(sub);
        let uri = format!("{}/{sub}{query}", self.0["requestURI"].as_str().unwrap_or(""));
        self.0["requestURI"] = json!(uri);
        self
    }
    pub fn uri(mut self, uri: &str) -> Ev {
        self.0["requestURI"] = json!(uri);
        self
    }
    pub fn decision(mut self, d: &str) -> Ev {
        self.0["annotations"]["authorization.k8s.io/decision"] = json!(d);
        self
    }
    pub fn req(mut self, obj: Value) -> Ev {
        self.0["requestObject"] = obj.clone();
        self.0["responseObject"] = obj;
        self
    }
    pub fn metadata_level(mut self) -> Ev {
        self.0["level"] = json!("Metadata");
        if let Some(o) = self.0.as_object_mut() {
            o.remove("requestObject");
            o.remove("responseObject");
        }
        self
    }
    pub fn v(self) -> Value {
        self.0
    }
}

/// A Pod object with the given containers `(name, image, privileged)` and extra spec fields.
pub fn pod(name: &str, ns: &str, containers: &[(&str, &str, bool)], extra_spec: Value) -> Value {
    let cs: Vec<Value> = containers
        .iter()
        .map(|(n, i, p)| {
            json!({"name": n, "image": i, "imagePullPolicy": "IfNotPresent",
            "resources": {}, "securityContext": {"privileged": p}})
        })
        .collect();
    let mut spec = json!({"containers": cs, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "terminationGracePeriodSeconds": 30});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}}, "spec": spec})
}

/// A Deployment wrapping the pod spec of [`pod`].
pub fn deployment(name: &str, ns: &str, containers: &[(&str, &str, bool)], extra_spec: Value) -> Value {
    let p = pod(name, ns, containers, extra_spec);
    json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": p["spec"]}}})
}

pub fn service(name: &str, ns: &str, ty: &str, ports: &[i64], annotations: Value, selector: Value) -> Value {
    let ps: Vec<Value> =
        ports.iter().map(|p| json!({"name": format!("p{p}"), "port": p, "protocol": "TCP", "targetPort": p})).collect();
    json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"type": ty, "ports": ps, "selector": selector}})
}

pub fn process(argv: &[&str], exe: &str) -> Value {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"time": "2026-11-27T09:00:00.500Z", "node": "aks-nodepool1-12345678-vmss000000",
        "pid": 4000 + n, "ppid": 3999, "uid": 0, "exe": exe, "argv": argv, "cwd": "/app",
        "container_id": "3f4e5d6c7b8a", "container": "web", "pod": "web-7d9c5b7f4-x2x9z",
        "namespace": "shop", "image": "contoso.azurecr.io/web:1.4.2", "parent_exe": "/bin/bash"})
}
