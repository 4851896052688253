//! `keelwatch policy …` end to end: the built binary on the repository's examples and
//! built-in suites, checking output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn keelwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keelwatch")).args(args).current_dir(repo()).output().expect("run keelwatch")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn audit_examples_with_baseline_denies_the_privileged_pod() {
    let o = keelwatch(&["policy", "audit", "examples/manifests", "--assignment", "examples/assignments/baseline.yaml"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    let line = out.lines().find(|l| l.contains("Pod/default/test-shell")).expect("privileged pod reported");
    assert!(line.contains("examples/manifests/debug-pod.yaml:"), "{line}");
    assert!(line.contains("keelwatch-no-privileged-containers-"), "{line}");
    assert!(
        line.contains(r#"Privileged container is not allowed: test-shell, securityContext: {"privileged": true}"#),
        "{line}"
    );
    // Workload pod templates are audited; kube-system is excluded by default.
    assert!(out.contains("DaemonSet/observability/log-collector"));
    assert!(out.contains("CronJob/payments/settlement-report"));
    assert!(!out.contains("node-proxy"));
    // Compliance summary per assignment and per definition.
    assert!(out.lines().any(|l| l.starts_with("baseline ") && l.trim_end().ends_with('%')), "{out}");
    assert!(out.lines().any(|l| l.starts_with("no-privileged-containers ")), "{out}");
}

#[test]
fn audit_effect_audit_reports_but_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("audit.yaml");
    std::fs::write(
        &a,
        "apiVersion: policy.keelwatch.dev/v1alpha1\nkind: Assignment\nmetadata: {name: restricted}\nspec:\n  initiative: pod-security-restricted\n  effect: Audit\n",
    )
    .unwrap();
    let o = keelwatch(&["policy", "audit", "examples/manifests", "--assignment", a.to_str().unwrap(), "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.len() > 5);
    assert!(findings.iter().all(|f| f["action"] == "dryrun"));
    assert!(findings.iter().all(|f| f["source"]["line"].as_u64().unwrap() > 0));
    assert_eq!(v["assignments"][0]["name"], "restricted");
}

#[test]
fn audit_defaults_to_baseline_and_speaks_sarif() {
    let o = keelwatch(&["policy", "audit", "examples/manifests/debug-pod.yaml", "-o", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "no-privileged-containers");
    assert_eq!(results[0]["level"], "error");
}

#[test]
fn audit_input_errors_exit_two() {
    let o = keelwatch(&["policy", "audit", "does/not/exist.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does/not/exist.yaml"));
    let o = keelwatch(&["policy", "audit", "examples/manifests", "--assignment", "examples/manifests/debug-pod.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected an Assignment"));
}

#[test]
fn verify_runs_builtin_suites() {
    let o = keelwatch(&["policy", "verify", "crates/policy/policies"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let last = out.lines().last().unwrap();
    let passed: usize = last.strip_suffix(" passed, 0 failed").expect(last).parse().unwrap();
    assert_eq!(passed, out.lines().filter(|l| l.starts_with("ok ")).count());
    assert!(passed >= 90);
}

#[test]
fn verify_reports_failures_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("crates/policy/policies/no-latest-tag");
    std::fs::copy(src.join("template.yaml"), dir.path().join("template.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("samples")).unwrap();
    for f in ["constraint.yaml", "latest.yaml"] {
        std::fs::copy(src.join("samples").join(f), dir.path().join("samples").join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("suite.yaml"),
        "kind: Suite\napiVersion: test.gatekeeper.sh/v1alpha1\ntests:\n- name: t\n  template: template.yaml\n  constraint: samples/constraint.yaml\n  cases:\n  - name: wrong-expectation\n    object: samples/latest.yaml\n    assertions:\n    - violations: no\n  - name: right\n    object: samples/latest.yaml\n    assertions:\n    - violations: 1\n      message: latest tag\n",
    )
    .unwrap();
    let o = keelwatch(&["policy", "verify", dir.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.lines().any(|l| l.starts_with("FAIL") && l.contains("t/wrong-expectation")), "{out}");
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn list_and_render() {
    let o = keelwatch(&["policy", "list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for name in [
        "no-privileged-containers",
        "allowed-seccomp-profiles",
        "no-default-namespace",
        "pod-security-baseline",
        "pod-security-restricted",
    ] {
        assert!(out.contains(name), "{name} missing from list");
    }
    let o = keelwatch(&["policy", "render", "--assignment", "examples/assignments/baseline.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_eq!(out.matches("kind: ConstraintTemplate").count(), 5);
    assert_eq!(out.matches("apiVersion: constraints.gatekeeper.sh/v1beta1").count(), 5);
    assert!(out.contains("name: keelwatch-no-privileged-containers-"));
    assert!(out.contains("enforcementAction: deny"));
}
