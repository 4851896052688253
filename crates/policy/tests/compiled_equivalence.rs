//! The compiled fast path (regorus's bytecode VM, see `src/compiled.rs`) must give exactly the
//! interpreter's answers for every built-in definition. Checked differentially: every suite
//! case object under its suite's constraint, and a generated matrix of pods and workloads
//! (container / init container / pod security contexts, seccomp annotations, host settings,
//! volumes, images, malformed fields) under every definition with its default parameters.
//! A template that used a construct the VM gets wrong (e.g. a function `else` chain) fails here.

use std::path::{Path, PathBuf};

use keelwatch_policy::{EnforcementPoint, Inventory, PolicySet, PolicySetBuilder, Template, Violation};
use serde_json::{Value, json};

fn policies_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
}

fn load(path: &Path) -> Vec<Value> {
    let opts = keelwatch_core::LoadOptions { fail_fast: true, ..Default::default() };
    let loaded = keelwatch_core::load::load_paths(&[path.to_path_buf()], &opts);
    assert!(loaded.errors.is_empty(), "{}: {:?}", path.display(), loaded.errors.first().map(|e| &e.message));
    loaded.objects.into_iter().map(|o| o.value).collect()
}

/// Reviews `object` with the fast path on and off; both must agree exactly.
fn assert_same(set: &mut PolicySet, object: &Value, what: &str) -> usize {
    let inventory = Inventory::empty();
    let mut run = |compiled: bool| -> Result<Vec<Violation>, String> {
        set.set_compiled(compiled);
        set.review_object(object, &inventory, EnforcementPoint::Audit).map_err(|e| e.to_string())
    };
    let fast = run(true);
    let reference = run(false);
    assert_eq!(fast, reference, "compiled and interpreted results differ for {what}");
    fast.map(|v| v.len()).unwrap_or(0)
}

#[test]
fn every_builtin_template_is_compiled() {
    let lib = keelwatch_policy::Library::builtin().unwrap();
    for d in lib.definitions() {
        let t = d.compile().unwrap();
        assert!(t.is_compiled(), "{} does not compile for the VM: it would run on the slow path", d.name);
    }
    // The same text loaded from its file is recognised too (`policy verify` runs it compiled).
    let path = policies_dir().join("no-privileged-containers/template.yaml");
    let t = Template::from_value(load(&path).remove(0), "file").unwrap();
    assert!(t.is_compiled());
    // A well-formed pod runs on the VM without falling back to the interpreter.
    let set = all_definitions_set(json!({"excludedImages": ["busybox*"], "excludedContainers": ["init"]}));
    let before = keelwatch_policy::compiled::fallbacks();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
        "spec": pod_spec(3, &json!({"runAsNonRoot": true}), &json!({"seccompProfile": {"type": "RuntimeDefault"}}))});
    let found = set.review_object(&pod, &Inventory::empty(), EnforcementPoint::Audit).unwrap();
    assert!(!found.is_empty());
    assert_eq!(keelwatch_policy::compiled::fallbacks(), before, "the VM failed on a well-formed pod");
    // Any other template runs on the interpreter.
    let mut other = load(&path).remove(0);
    let rego = other.pointer("/spec/targets/0/rego").and_then(Value::as_str).unwrap().to_string();
    other["spec"]["targets"][0]["rego"] = Value::from(format!("{rego}\n# edited\n"));
    assert!(!Template::from_value(other, "file").unwrap().is_compiled());
}

#[test]
fn suite_cases_agree() {
    let mut compared = 0;
    let mut violations = 0;
    for entry in std::fs::read_dir(policies_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let suite = load(&dir.join("suite.yaml")).remove(0);
        for t in suite["tests"].as_array().unwrap() {
            if t.get("invalid").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let mut b = PolicySetBuilder::new();
            let template = load(&dir.join(t["template"].as_str().unwrap())).remove(0);
            b.add_template(Template::from_value(template, "suite").unwrap()).unwrap();
            let cpath = dir.join(t["constraint"].as_str().unwrap());
            b.add_constraint(load(&cpath).remove(0), "suite", None);
            let mut set = b.build().unwrap();
            for c in t["cases"].as_array().into_iter().flatten() {
                let opath = dir.join(c["object"].as_str().unwrap());
                for object in load(&opath) {
                    if object["kind"] == "AdmissionReview" {
                        continue;
                    }
                    violations += assert_same(&mut set, &object, &opath.display().to_string());
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 80, "only {compared} suite objects compared");
    assert!(violations >= 40, "the suites should produce violations: {violations}");
}

/// Every built-in definition, default parameters (plus exclusions on a second set).
fn all_definitions_set(extra: Value) -> PolicySet {
    let lib = keelwatch_policy::Library::builtin().unwrap();
    let names: Vec<&str> = lib.definitions().iter().map(|d| d.name.as_str()).collect();
    let mut b = PolicySetBuilder::new();
    b.add_object(
        json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "all"},
               "spec": {"definitions": names, "effect": "Audit", "excludedNamespaces": [], "excludedImages": extra["excludedImages"].clone(),
                        "excludedContainers": extra["excludedContainers"].clone()}}),
        "test",
    )
    .unwrap();
    b.build().unwrap()
}

fn container_contexts() -> Vec<Value> {
    vec![
        Value::Null,
        json!({}),
        json!({"runAsNonRoot": true}),
        json!({"runAsNonRoot": false}),
        json!({"runAsUser": 0}),
        json!({"runAsUser": 1000, "runAsGroup": 0}),
        json!({"seccompProfile": {"type": "RuntimeDefault"}}),
        json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "prof.json"}}),
        json!({"seccompProfile": {"type": "Unconfined"}}),
        json!({"privileged": true, "allowPrivilegeEscalation": true}),
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}),
        json!({"capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"], "drop": ["ALL"]}}),
        json!("not-an-object"),
    ]
}

fn pod_contexts() -> Vec<Value> {
    vec![
        Value::Null,
        json!({"runAsNonRoot": true, "runAsUser": 10001}),
        json!({"runAsUser": 0, "fsGroup": 0, "supplementalGroups": [0, 5]}),
        json!({"seccompProfile": {"type": "RuntimeDefault"}, "runAsGroup": 7}),
    ]
}

fn annotations() -> Vec<Value> {
    vec![
        Value::Null,
        json!({"container.seccomp.security.alpha.kubernetes.io/app": "runtime/default"}),
        json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
    ]
}

fn pod_spec(i: usize, csc: &Value, psc: &Value) -> Value {
    let images = ["nginx", "nginx:latest", "registry.example.com/app:1.2@sha256:ab", "docker.io/library/redis:7"];
    let mut app = json!({"name": "app", "image": images[i % 4]});
    if !csc.is_null() {
        app["securityContext"] = csc.clone();
    }
    if i.is_multiple_of(3) {
        app["resources"] = json!({"limits": {"cpu": "500m", "memory": "256Mi"}});
    }
    if i.is_multiple_of(5) {
        app["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]);
    }
    let mut spec = json!({"containers": [app, {"name": "side", "image": "busybox:1.36"}]});
    if i.is_multiple_of(2) {
        spec["initContainers"] = json!([{"name": "init", "image": "alpine", "securityContext": csc.clone()}]);
    }
    if i.is_multiple_of(7) {
        spec["ephemeralContainers"] =
            json!([{"name": "debug", "image": "busybox", "securityContext": {"privileged": true}}]);
    }
    if !psc.is_null() {
        spec["securityContext"] = psc.clone();
    }
    match i % 4 {
        0 => spec["hostNetwork"] = json!(true),
        1 => spec["volumes"] = json!([{"name": "h", "hostPath": {"path": "/var/run"}}, {"name": "e", "emptyDir": {}}]),
        2 => spec["automountServiceAccountToken"] = json!(false),
        _ => spec["hostPID"] = json!(true),
    }
    spec
}

#[test]
fn generated_pods_and_workloads_agree() {
    let mut plain = all_definitions_set(json!({"excludedImages": [], "excludedContainers": []}));
    let mut excluding =
        all_definitions_set(json!({"excludedImages": ["busybox*", "^alp.*$"], "excludedContainers": ["init"]}));
    let mut compared = 0;
    let mut violations = 0;
    let mut i = 0;
    for csc in container_contexts() {
        for psc in pod_contexts() {
            for ann in annotations() {
                i += 1;
                let spec = pod_spec(i, &csc, &psc);
                let mut meta =
                    json!({"name": format!("p{i}"), "namespace": if i.is_multiple_of(6) { "default" } else { "shop" }});
                if !ann.is_null() {
                    meta["annotations"] = ann.clone();
                }
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
                let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("d{i}"), "namespace": "shop"},
                    "spec": {"template": {"metadata": meta, "spec": spec}}});
                let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": format!("c{i}"), "namespace": "shop"},
                    "spec": {"jobTemplate": {"spec": {"template": {"metadata": meta, "spec": spec}}}}});
                for obj in [&pod, &deploy, &cron] {
                    violations += assert_same(&mut plain, obj, &obj.to_string());
                    violations += assert_same(&mut excluding, obj, &obj.to_string());
                    compared += 2;
                }
            }
        }
    }
    assert_eq!(compared, 13 * 4 * 3 * 3 * 2);
    assert!(violations > 1000, "the matrix should violate a lot: {violations}");
}
