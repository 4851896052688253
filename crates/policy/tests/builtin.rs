//! The built-in library end to end: every suite passes through `verify`, every definition is
//! embedded and documented, assignments expand as documented, and the workshop scenario.

use std::path::PathBuf;

use keelwatch_policy::verify::{self, Outcome};
use keelwatch_policy::{Action, Assignment, EnforcementPoint, Inventory, Library, PolicySetBuilder};
use serde_json::{Value, json};

fn policies_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
}

#[test]
fn every_builtin_suite_passes() {
    let report = verify::verify_paths(&[policies_dir()]).unwrap();
    let failures: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Fail(why) => Some(format!("{}: {}/{}: {why}", c.suite.display(), c.test, c.case)),
            _ => None,
        })
        .collect();
    assert!(failures.is_empty(), "failing cases:\n{}", failures.join("\n"));
    assert!(report.passed() >= 90, "only {} cases ran", report.passed());
}

#[test]
fn every_definition_is_embedded_documented_and_tested() {
    let lib = Library::builtin().unwrap();
    let dirs: Vec<String> = std::fs::read_dir(policies_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(lib.definitions().len(), dirs.len());
    assert_eq!(lib.definitions().len(), 18);
    let mut lib_source: Option<String> = None;
    for d in lib.definitions() {
        assert!(!d.title.is_empty() && d.description.len() > 80, "{} lacks a doc", d.name);
        assert!(policies_dir().join(&d.name).join("suite.yaml").is_file(), "{} has no suite", d.name);
        let t = d.compile().unwrap_or_else(|e| panic!("{}: {e}", d.name));
        assert_eq!(t.kind, d.template_kind);
        // Every template carries the same shared library text.
        let libs = d.template.pointer("/spec/targets/0/libs/0").and_then(Value::as_str).unwrap().to_string();
        match &lib_source {
            None => lib_source = Some(libs),
            Some(s) => assert_eq!(s, &libs, "{} has a diverging copy of lib.keelwatch.pods", d.name),
        }
        for p in d.parameters() {
            assert!(!p.description.is_empty(), "{}: parameter {} undocumented", d.name, p.name);
        }
    }
    let baseline = lib.initiative("pod-security-baseline").unwrap();
    assert_eq!(baseline.definitions.len(), 5);
    let restricted = lib.initiative("pod-security-restricted").unwrap();
    assert_eq!(restricted.definitions.len(), 8);
    for d in baseline.definitions.iter().chain(&restricted.definitions) {
        assert!(lib.definition(d).is_some(), "initiative member {d} missing");
    }
}

fn assignment(spec: Value) -> Assignment {
    let v = json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "a1"}, "spec": spec});
    Assignment::from_value(&v, "a.yaml:1").unwrap()
}

#[test]
fn assignments_expand_to_named_constraints() {
    let lib = Library::builtin().unwrap();
    let a = assignment(json!({"initiative": "pod-security-baseline", "effect": "Deny"}));
    let out = a.expand(&lib).unwrap();
    assert_eq!(out.len(), 5);
    let priv_c = out.iter().find(|e| e.definition == "no-privileged-containers").unwrap();
    let name = priv_c.constraint.pointer("/metadata/name").and_then(Value::as_str).unwrap();
    // Stable: same inputs, same name, across runs and releases.
    assert_eq!(name, "keelwatch-no-privileged-containers-700adc12f9a6");
    assert_eq!(priv_c.constraint.pointer("/spec/enforcementAction"), Some(&json!("deny")));
    assert_eq!(
        priv_c.constraint.pointer("/spec/match/excludedNamespaces"),
        Some(&json!(["kube-system", "gatekeeper-system", "keelwatch-system"]))
    );
    // Effects.
    let audit = assignment(json!({"initiative": "pod-security-baseline"})).expand(&lib).unwrap();
    assert!(audit.iter().all(|e| e.constraint.pointer("/spec/enforcementAction") == Some(&json!("dryrun"))));
    let warn = assignment(json!({"definitions": ["no-latest-tag"], "effect": "Warn"})).expand(&lib).unwrap();
    assert_eq!(warn[0].constraint.pointer("/spec/enforcementAction"), Some(&json!("warn")));
    assert!(
        assignment(json!({"initiative": "pod-security-baseline", "effect": "Disabled"}))
            .expand(&lib)
            .unwrap()
            .is_empty()
    );
    // Parameters: initiative members, flat, per definition; names change with parameters.
    let r = assignment(json!({"initiative": "pod-security-restricted", "excludedImages": ["mcr.microsoft.com/*"],
        "parameters": {"allowed-volume-types": {"volumes": ["*"]}}}))
    .expand(&lib)
    .unwrap();
    let caps = r.iter().find(|e| e.definition == "allowed-capabilities").unwrap();
    assert_eq!(caps.constraint.pointer("/spec/parameters/requiredDropCapabilities"), Some(&json!(["ALL"])));
    assert_eq!(caps.constraint.pointer("/spec/parameters/excludedImages"), Some(&json!(["mcr.microsoft.com/*"])));
    let vol = r.iter().find(|e| e.definition == "allowed-volume-types").unwrap();
    assert_eq!(vol.constraint.pointer("/spec/parameters/volumes"), Some(&json!(["*"])));
    // Errors say what to do.
    let bad = assignment(json!({"definitions": ["no-such-thing"]})).expand(&lib).unwrap_err().to_string();
    assert!(bad.contains("unknown definition `no-such-thing`") && bad.contains("a.yaml:1"), "{bad}");
    let bad = assignment(json!({"definitions": ["no-latest-tag"], "parameters": {"cpuLimit": "1"}}))
        .expand(&lib)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("spec.parameters.cpuLimit"), "{bad}");
    let v = json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "x"}, "spec": {"initiative": "pod-security-baseline", "effect": "Block"}});
    assert!(Assignment::from_value(&v, "f").unwrap_err().to_string().contains("Audit, Deny, Warn or Disabled"));
}

/// What `kubectl run test-shell --privileged --image ubuntu` sends to the webhook.
fn kubectl_run_privileged() -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "test-shell", "namespace": "default", "operation": "CREATE",
        "userInfo": {"username": "admin", "groups": ["system:masters", "system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "test-shell", "namespace": "default", "labels": {"run": "test-shell"}},
            "spec": {"containers": [{"name": "test-shell", "image": "ubuntu", "securityContext": {"privileged": true},
                "resources": {}, "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "Always"}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}},
        "oldObject": null, "dryRun": false,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-run"}
    })
}

fn baseline_set(effect: &str) -> keelwatch_policy::PolicySet {
    let mut b = PolicySetBuilder::new();
    b.add_object(
        json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "baseline"},
               "spec": {"initiative": "pod-security-baseline", "effect": effect}}),
        "test",
    )
    .unwrap();
    b.build().unwrap()
}

#[test]
fn workshop_scenario_privileged_pod() {
    let set = baseline_set("Deny");
    let v = set.review(&kubectl_run_privileged(), &Inventory::empty(), EnforcementPoint::Validation).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].action, Action::Deny);
    assert!(v[0].constraint_name.starts_with("keelwatch-no-privileged-containers-"));
    assert_eq!(v[0].msg, r#"Privileged container is not allowed: test-shell, securityContext: {"privileged": true}"#);
    let audit = baseline_set("Audit");
    let v = audit.review(&kubectl_run_privileged(), &Inventory::empty(), EnforcementPoint::Validation).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].action, Action::Dryrun);
    // kube-system is excluded by default.
    let mut req = kubectl_run_privileged();
    req["namespace"] = json!("kube-system");
    req["object"]["metadata"]["namespace"] = json!("kube-system");
    assert!(set.review(&req, &Inventory::empty(), EnforcementPoint::Validation).unwrap().is_empty());
}

#[test]
fn rendered_yaml_reloads_into_the_same_set() {
    let set = baseline_set("Deny");
    let text = keelwatch_policy::render::render_yaml(&set);
    let loaded = keelwatch_core::load::load_str(&text, "render", &Default::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.objects.len(), 10);
    let mut b = PolicySetBuilder::new();
    for o in loaded.objects {
        assert!(b.add_object(o.value, "render").unwrap());
    }
    let again = b.build().unwrap();
    let names = |s: &keelwatch_policy::PolicySet| s.constraints().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&set), names(&again));
    let v = again.review(&kubectl_run_privileged(), &Inventory::empty(), EnforcementPoint::Validation).unwrap();
    assert_eq!(v.len(), 1);
}
