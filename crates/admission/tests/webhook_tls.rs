//! End-to-end tests of the webhook over real TLS on 127.0.0.1: the server is started with a
//! self-signed CA, and reqwest (rustls) talks to it trusting only that CA — the same path the
//! Kubernetes API server takes with the caBundle.

use std::path::Path;
use std::time::Duration;

use keelwatch_admission::reload::PolicySource;
use keelwatch_admission::{FailurePolicy, ServerConfig, tls};
use serde_json::{Value, json};

/// The AdmissionReview the API server sends for `kubectl run test-shell --privileged --image ubuntu`
/// (shape as recorded from a real API server: defaulted pod spec, user info, dryRun flag).
fn privileged_pod_review(uid: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "test-shell",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "test-shell", "namespace": "default", "labels": {"run": "test-shell"},
                             "creationTimestamp": null},
                "spec": {
                    "containers": [{
                        "name": "test-shell",
                        "image": "ubuntu",
                        "resources": {},
                        "securityContext": {"privileged": true},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "imagePullPolicy": "Always"
                    }],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "serviceAccountName": "default",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                    "enableServiceLinks": true,
                    "preemptionPolicy": "PreemptLowerPriority"
                },
                "status": {}
            },
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-run"}
        }
    })
}

fn write_assignment(dir: &Path, effect: &str) -> std::path::PathBuf {
    let path = dir.join("baseline.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: policy.keelwatch.dev/v1alpha1\nkind: Assignment\nmetadata:\n  name: baseline\nspec:\n  initiative: pod-security-baseline\n  effect: {effect}\n"
        ),
    )
    .unwrap();
    path
}

struct Harness {
    _dir: tempfile::TempDir,
    assignment: std::path::PathBuf,
    client: reqwest::Client,
    base: String,
    server: keelwatch_admission::server::RunningServer,
}

async fn start(effect: &str, deadline: Duration, failure: FailurePolicy) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let assignment = write_assignment(dir.path(), effect);
    let certs = tls::ensure_self_signed(&dir.path().join("certs"), &["localhost".into(), "127.0.0.1".into()]).unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: tls::server_config(&certs.cert, &certs.key).unwrap(),
        source: PolicySource { assignment_paths: vec![assignment.clone()], ..Default::default() },
        deadline,
        failure_policy: failure,
        threads: 2,
        watch: true,
    };
    let server = keelwatch_admission::serve(config).await.unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca_cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", server.local_addr.port());
    Harness { _dir: dir, assignment, client, base, server }
}

impl Harness {
    async fn post(&self, body: Vec<u8>) -> (u16, String) {
        let resp = self
            .client
            .post(format!("{}/validate", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Like `post`, but a transport error is returned instead of failing the test. The
    /// connection is not kept for reuse: the server may close it after refusing the body, and
    /// a pooled dead connection would fail the *next* request with a transport error.
    async fn try_post(&self, body: Vec<u8>) -> Result<u16, reqwest::Error> {
        let resp =
            self.client.post(format!("{}/validate", self.base)).header("connection", "close").body(body).send().await?;
        Ok(resp.status().as_u16())
    }

    async fn get(&self, path: &str) -> String {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap().text().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workshop_privileged_pod_is_denied_with_gatekeeper_message() {
    let h = start("Deny", Duration::from_secs(5), FailurePolicy::Open).await;
    let (status, body) = h.post(serde_json::to_vec(&privileged_pod_review("7f3c-1")).unwrap()).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    let r = &v["response"];
    assert_eq!(r["uid"], "7f3c-1");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let message = r["status"]["message"].as_str().unwrap();
    let re = regex_lite(message);
    assert!(re, "unexpected denial message: {message}");

    let metrics = h.get("/metrics").await;
    assert!(metrics.contains("keelwatch_admission_requests_total{decision=\"denied\"} 1"), "{metrics}");
    assert_eq!(h.get("/healthz").await, "ok");
    assert!(h.get("/readyz").await.starts_with("ready: 5 constraints"));
    h.server.stop();
}

/// `[keelwatch-no-privileged-containers-<hash>] Privileged container is not allowed: test-shell, securityContext: {"privileged":true}`
fn regex_lite(message: &str) -> bool {
    let Some(rest) = message.strip_prefix("[keelwatch-") else { return false };
    let Some((name, msg)) = rest.split_once("] ") else { return false };
    name.starts_with("no-privileged-containers-")
        && msg.replace(' ', "") == "Privilegedcontainerisnotallowed:test-shell,securityContext:{\"privileged\":true}"
        && !message.contains('\n')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_effect_allows_and_counts() {
    let h = start("Audit", Duration::from_secs(5), FailurePolicy::Open).await;
    let (status, body) = h.post(serde_json::to_vec(&privileged_pod_review("u-2")).unwrap()).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["response"]["allowed"], true, "{body}");
    assert!(v["response"].get("status").is_none());
    let metrics = h.get("/metrics").await;
    assert!(metrics.contains("keelwatch_admission_requests_total{decision=\"allowed\"} 1"), "{metrics}");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("keelwatch_admission_violations_total") && l.contains("enforcement_action=\"dryrun\""))
        .unwrap_or_else(|| panic!("no dryrun violation counted:\n{metrics}"));
    assert!(line.contains("no-privileged-containers") && line.ends_with(" 1"), "{line}");
    h.server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_get_clear_http_errors() {
    let h = start("Deny", Duration::from_secs(5), FailurePolicy::Open).await;
    let (status, body) = h.post(b"{\"apiVersion\": ".to_vec()).await;
    assert_eq!(status, 400);
    assert!(body.contains("malformed AdmissionReview: body is not valid JSON"), "{body}");
    let (status, body) = h
        .post(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"}}}"#
                .to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("request.uid"), "{body}");
    // Over HTTP/1.1 the server answers 413 from Content-Length and closes without reading the
    // 4 MiB; a client still sending may see that reset before it reads the answer. Either
    // way the body is refused, and the server must stay healthy (checked below).
    match h.try_post(vec![b' '; 4 * 1024 * 1024]).await {
        Ok(status) => assert_eq!(status, 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "oversized body: unexpected error {e:?}"),
    }
    // The server is still healthy after bad input.
    let (status, _) = h.post(serde_json::to_vec(&privileged_pod_review("u-3")).unwrap()).await;
    assert_eq!(status, 200);
    assert!(h.get("/metrics").await.contains("keelwatch_admission_bad_requests_total 2"));
    h.server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_answers_with_failure_policy() {
    // A 1 µs deadline cannot be met: fail-closed must reject with a clear reason.
    let h = start("Deny", Duration::from_micros(1), FailurePolicy::Closed).await;
    let (status, body) = h.post(serde_json::to_vec(&privileged_pod_review("u-4")).unwrap()).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(v["response"]["status"]["code"], 500);
    assert!(v["response"]["status"]["message"].as_str().unwrap().contains("did not finish within"), "{body}");
    h.server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_assignment_reloads_without_restart() {
    let h = start("Deny", Duration::from_secs(5), FailurePolicy::Open).await;
    let review = serde_json::to_vec(&privileged_pod_review("u-5")).unwrap();
    let (_, body) = h.post(review.clone()).await;
    assert!(body.contains("\"allowed\":false"), "{body}");
    write_assignment(h.assignment.parent().unwrap(), "Disabled");
    let mut allowed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, body) = h.post(review.clone()).await;
        if body.contains("\"allowed\":true") {
            allowed = true;
            break;
        }
    }
    assert!(allowed, "policy change was not picked up within 10 s");
    // A broken edit keeps the previous (working) policies.
    std::fs::write(&h.assignment, "kind: [broken").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, body) = h.post(review).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"allowed\":true"), "{body}");
    assert!(h.get("/metrics").await.contains("keelwatch_admission_policy_reloads_total{result=\"error\"}"));
    h.server.stop();
}
