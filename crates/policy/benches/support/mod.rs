//! Shared inputs for the policy benchmarks: the restricted initiative and a typical pod.

use keelwatch_policy::{PolicySet, PolicySetBuilder};
use serde_json::{Value, json};

/// The `pod-security-restricted` initiative assigned with effect Deny.
pub fn restricted_set() -> PolicySet {
    let mut b = PolicySetBuilder::new();
    b.add_object(
        json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "restricted"},
               "spec": {"initiative": "pod-security-restricted", "effect": "Deny"}}),
        "bench",
    )
    .expect("assignment");
    b.build().expect("policy set")
}

/// The given built-in definitions assigned with effect Deny (default parameters).
#[allow(dead_code)]
pub fn definitions_set(definitions: &[&str]) -> PolicySet {
    let mut b = PolicySetBuilder::new();
    b.add_object(
        json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "some"},
               "spec": {"definitions": definitions, "effect": "Deny"}}),
        "bench",
    )
    .expect("assignment");
    b.build().expect("policy set")
}

/// A typical Deployment's pod: two containers and an init container, security context,
/// probes, env, volumes — what a ReplicaSet sends at admission.
pub fn typical_pod(i: usize) -> Value {
    let container = |name: &str, image: &str| {
        json!({
            "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "config", "mountPath": "/etc/app"}]
        })
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-7d9f8c6b5-{i:05}"), "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5", "uid": "0e2c", "controller": true}]},
        "spec": {
            "serviceAccountName": "web", "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [container("migrate", "registry.example.com/shop/migrate:2.4.1")],
            "containers": [container("web", "registry.example.com/shop/web:2.4.1"), container("sidecar", "registry.example.com/platform/proxy:1.8.0")],
            "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "web-config"}}]
        }
    })
}

/// The AdmissionRequest for creating `typical_pod(i)`.
pub fn create_request(i: usize) -> Value {
    let pod = typical_pod(i);
    json!({
        "uid": format!("00000000-0000-4000-8000-{i:012}"),
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": pod["metadata"]["name"], "namespace": "shop", "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": pod
    })
}
