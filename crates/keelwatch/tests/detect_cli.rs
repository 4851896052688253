//! `keelwatch detect` end to end through the real binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keelwatch"))
}

fn audit_line(id: &str, verb: &str, ns: &str, extra: Value) -> String {
    let mut e = json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": "ResponseComplete", "requestURI": format!("/api/v1/namespaces/{ns}/pods?limit=500"), "verb": verb,
        "user": {"username": "alice@contoso.com", "groups": ["system:authenticated"]}, "sourceIPs": ["20.50.1.7"],
        "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "objectRef": {"resource": "pods", "namespace": ns, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2026-11-27T09:00:00.100000Z", "stageTimestamp": "2026-11-27T09:00:00.120000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}});
    if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            o.insert(k.clone(), v.clone());
        }
    }
    e.to_string()
}

const EICAR: &str = r#"{"time":"2026-11-27T09:00:01Z","node":"aks-nodepool1-0","pid":4242,"ppid":4200,"uid":0,"exe":"/app/asc_alerttest_662jfi039n","argv":["./asc_alerttest_662jfi039n","testing","eicar","pipe"],"cwd":"/app","container_id":"3f4e5d","pod":"web-1","namespace":"shop","image":"busybox:1.36"}"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).expect("one JSON alert per line")).collect()
}

#[test]
fn replay_json_reports_malformed_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\nnot json at all\n{}\n{}\n",
        audit_line("a1", "list", "asc-alerttest-662jfi039n", json!({})),
        EICAR,
        audit_line("a2", "list", "default", json!({}))
    );
    let f = write(&dir, "audit.log", &text);
    let out = bin().args(["detect", "replay", "-o", "json"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts = json_lines(&out.stdout);
    let types: Vec<&str> = alerts.iter().map(|a| a["AlertType"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["K8S_TestAlert", "K8S.NODE_EICAR"]);
    for a in &alerts {
        for col in [
            "TimeGenerated",
            "AlertName",
            "AlertSeverity",
            "Description",
            "Tactics",
            "Techniques",
            "Entities",
            "ExtendedProperties",
            "CompromisedEntity",
            "RemediationSteps",
            "Status",
            "ProviderName",
            "SystemAlertId",
            "StartTime",
            "EndTime",
            "Count",
            "ProductName",
        ] {
            assert!(a.get(col).is_some(), "missing column {col}");
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:2:", f.display())), "malformed line reported with file:line: {stderr}");
}

#[test]
fn replay_unreadable_input_exits_2_but_processes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "ok.jsonl", &format!("{EICAR}\n"));
    let out =
        bin().args(["detect", "replay", "-o", "json"]).arg(&f).arg(dir.path().join("missing.jsonl")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out.stdout).len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl"));
}

#[test]
fn replay_aks_envelopes_stdin_table_and_fail_on() {
    let inner = audit_line("z1", "get", "asc-alerttest-662jfi039n", json!({}));
    let records = json!({"records": [
        {"category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
         "properties": {"log": inner, "pod": "kube-apiserver-1", "stream": "stdout"}, "time": "2026-11-27T09:00:00Z"},
        {"category": "kube-audit-admin", "properties": {"log": serde_json::from_str::<Value>(&audit_line("z2", "delete", "prod", json!({
            "objectRef": {"resource": "events", "namespace": "prod", "name": "x.17a"}, "requestURI": "/api/v1/namespaces/prod/events/x.17a"}))).unwrap()}}
    ]});
    let mut child = bin()
        .args(["detect", "replay", "-", "--fail-on", "Low"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(records.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "--fail-on Low with Low alerts exits 1");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("TIME"), "{table}");
    assert!(table.contains("K8S_TestAlert") && table.contains("K8S_DeleteEvents"), "{table}");
}

#[test]
fn replay_with_user_rules_tuning_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        &dir,
        "mine.yaml",
        r#"
- rule: Secret listed by a human
  desc: someone listed secrets
  condition: ka.verb = list and ka.target.resource = secrets and not ka.user.name startswith "system:"
  output: "secrets listed by %ka.user.name in %ka.target.namespace"
  priority: WARNING
  source: k8s_audit
  alert:
    type: Custom_SecretList
    severity: Medium
    tactics: [CredentialAccess]
    techniques: [T1552]
- macro: kw_known_exec_users
  condition: ka.user.name = alice@contoso.com
"#,
    );
    let ev1 = audit_line("s1", "list", "prod", json!({"objectRef": {"resource": "secrets", "namespace": "prod"}}));
    let ev2 = audit_line(
        "s2",
        "create",
        "prod",
        json!({"objectRef": {"resource": "pods", "namespace": "prod", "name": "w", "subresource": "exec"}}),
    );
    let f = write(&dir, "a.jsonl", &format!("{ev1}\n{ev2}\n"));
    let out = bin().args(["detect", "replay", "-o", "json", "--rules"]).arg(&rules).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts = json_lines(&out.stdout);
    assert_eq!(alerts.len(), 1, "exec by the allow-listed user is tuned away: {alerts:?}");
    assert_eq!(alerts[0]["AlertType"], "Custom_SecretList");
    assert_eq!(alerts[0]["ExtendedProperties"]["Message"], "secrets listed by alice@contoso.com in prod");
}

#[test]
fn rules_check_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        &dir,
        "good.yaml",
        "- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    );
    let out = bin().args(["detect", "rules", "check"]).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = write(
        &dir,
        "bad.yaml",
        "- list: l\n  items: [a]\n- rule: broken\n  desc: d\n  condition: ka.verb = get and (ka.nope = 1\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    );
    let out = bin().args(["detect", "rules", "check"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3", bad.display())) && err.contains("rule 'broken'") && err.contains("column"),
        "{err}"
    );

    let out = bin().args(["detect", "rules", "list", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rules = json_lines(&out.stdout);
    let types: Vec<&str> = rules.iter().map(|r| r["alertType"].as_str().unwrap()).collect();
    for t in [
        "K8S_TestAlert",
        "K8S_PrivilegedContainer",
        "K8S_SensitiveMount",
        "K8S_KubeSystemContainer",
        "K8S_ClusterAdminBinding",
        "K8S_HighPrivilegesRole",
        "K8S_AdmissionController",
        "K8S_DeleteEvents",
        "K8S_CoreDnsModification",
        "K8S_ExposedDashboard",
        "K8S_ExposedService",
        "K8S_MaliciousContainerImage",
        "K8S_PenTestToolsKubeHunter",
        "K8S_ExecIntoContainer",
        "K8S_PortForward",
        "K8S_AnonymousAccess",
        "K8S_NodePortService",
        "K8S_HostNamespaces",
        "K8S_ConfigMapCredentials",
        "K8S.NODE_EICAR",
    ] {
        assert!(types.contains(&t), "{t} missing from rules list");
    }
}

#[test]
fn serve_starts_with_self_signed_tls_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(&dir, "token", "abc123\n");
    let mut child = bin()
        .args(["detect", "serve", "--listen", "127.0.0.1:0", "--self-signed"])
        .arg(dir.path().join("tls"))
        .arg("--token-file")
        .arg(&token)
        .arg("--alerts-out")
        .arg(dir.path().join("alerts.jsonl"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut line = String::new();
    while !line.contains("listening on https://127.0.0.1:") {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            let _ = child.kill();
            panic!("server did not start: {line}");
        }
    }
    assert!(dir.path().join("tls/tls.crt").exists() && dir.path().join("tls/tls.key").exists());
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill(1) is available");
    assert!(status.success());
    let code = child.wait().unwrap();
    assert_eq!(code.code(), Some(0));

    let out = bin().args(["detect", "serve", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no TLS source is a usage error");
}

#[test]
fn tail_follows_appends_rotations_and_partial_lines() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let alert_line = |id: &str, user: &str| {
        audit_line(id, "list", "asc-alerttest-662jfi039n", json!({"user": {"username": user}})) + "\n"
    };
    let append = |p: &std::path::Path, text: &str| {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    // Existing content is not replayed (tail semantics).
    append(&path, &alert_line("old", "u0"));
    let mut child = bin()
        .args(["detect", "tail", "--poll-ms", "40"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("following 1 file") {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            let _ = child.kill();
            panic!("tail did not start: {line}");
        }
    }
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            let _ = tx.send(serde_json::from_str(&l).expect("one JSON alert per line"));
        }
    });
    let next = |what: &str| rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no alert for {what}"));
    let user_of = |a: &Value| a["ExtendedProperties"]["User"].as_str().unwrap().to_string();

    append(&path, &alert_line("a1", "u1"));
    assert_eq!(user_of(&next("append")), "u1");

    // Rename rotation: the old file is moved away and a new one created at the path.
    std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
    append(&path, &(audit_line("b0", "get", "default", json!({})) + "\n" + &alert_line("a2", "u2")));
    assert_eq!(user_of(&next("rename rotation")), "u2");

    // copytruncate: copied away, truncated in place, the writer goes on in the same file.
    std::fs::copy(&path, dir.path().join("audit.log.2")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    append(&path, &alert_line("a3", "u3"));
    assert_eq!(user_of(&next("copytruncate")), "u3");

    // A process event written in two pieces is read once its line is complete.
    let eicar = format!("{EICAR}\n");
    append(&path, &eicar[..40]);
    std::thread::sleep(Duration::from_millis(200));
    append(&path, &eicar[40..]);
    let a = next("partial line");
    assert_eq!(a["AlertType"], "K8S.NODE_EICAR");

    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill(1) is available");
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(rest.contains("rotated"), "rotation noted on stderr: {rest}");
    assert!(!rest.contains("malformed"), "no torn line: {rest}");
    assert!(rx.try_recv().is_err(), "no duplicate or replayed alert");
}
