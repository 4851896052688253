//! Audit at scale: 10,000 generated objects in 50 files, every violation reported with the
//! right file:line, exact compliance numbers, deterministic output. One definition is assigned
//! (hostPID objects are generated but not checked) to keep debug builds fast.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use keelwatch_core::LoadOptions;
use keelwatch_policy::{Inventory, PolicySetBuilder};
use serde_json::json;

const FILES: usize = 50;
const PER_FILE: usize = 200;

/// Writes one object; returns the number of lines written.
fn write_object(out: &mut String, i: usize) -> usize {
    let ns = if i.is_multiple_of(13) { "kube-system" } else { "team-a" };
    let privileged = i.is_multiple_of(7);
    let host_pid = i.is_multiple_of(11);
    let start = out.lines().count();
    if i.is_multiple_of(2) {
        writeln!(out, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i}\n  namespace: {ns}\nspec:").unwrap();
        writeln!(out, "  hostPID: {host_pid}\n  containers:\n  - name: c{i}\n    image: registry.example.com/app:{i}")
            .unwrap();
        writeln!(out, "    securityContext:\n      privileged: {privileged}").unwrap();
    } else {
        writeln!(out, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: deploy-{i}\n  namespace: {ns}\nspec:")
            .unwrap();
        writeln!(out, "  selector:\n    matchLabels: {{app: a{i}}}\n  template:\n    metadata:\n      labels: {{app: a{i}}}\n    spec:").unwrap();
        writeln!(out, "      hostPID: {host_pid}\n      containers:\n      - name: c{i}\n        image: registry.example.com/app:{i}").unwrap();
        writeln!(out, "        securityContext:\n          privileged: {privileged}").unwrap();
    }
    out.lines().count() - start
}

/// The Assignment both tests use: `no-privileged-containers` as `baseline`, effect Deny.
fn baseline_privileged() -> serde_json::Value {
    json!({"apiVersion": "policy.keelwatch.dev/v1alpha1", "kind": "Assignment", "metadata": {"name": "baseline"},
           "spec": {"definitions": ["no-privileged-containers"], "effect": "Deny"}})
}

#[test]
fn audit_ten_thousand_objects() {
    let dir = tempfile::tempdir().unwrap();
    // Expected: (file, line) -> number of violations.
    let mut expected: BTreeMap<(String, usize), usize> = BTreeMap::new();
    let mut evaluated = 0;
    let mut non_compliant = 0;
    for f in 0..FILES {
        let path = dir.path().join(format!("batch-{f:02}.yaml"));
        let mut text = String::new();
        let mut line = 1;
        for k in 0..PER_FILE {
            let i = f * PER_FILE + k;
            if k > 0 {
                text.push_str("---\n");
                line += 1;
            }
            let n = write_object(&mut text, i);
            let excluded = i.is_multiple_of(13);
            let violations = usize::from(i.is_multiple_of(7));
            if !excluded {
                evaluated += 1;
                if violations > 0 {
                    non_compliant += 1;
                    expected.insert((path.display().to_string(), line), violations);
                }
            }
            line += n;
        }
        std::fs::write(&path, text).unwrap();
    }
    let loaded = keelwatch_core::load::load_paths(&[dir.path().to_path_buf()], &LoadOptions::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors.first());
    assert_eq!(loaded.objects.len(), FILES * PER_FILE);

    let mut b = PolicySetBuilder::new();
    b.add_object(baseline_privileged(), "test").unwrap();
    let set = b.build().unwrap();
    let inventory = Inventory::from_objects(loaded.objects.iter().map(|o| o.value.clone()));
    let started = std::time::Instant::now();
    let report = set.audit(&loaded.objects, &inventory);
    eprintln!("audited {} objects in {:?}", report.objects, started.elapsed());

    assert!(report.errors.is_empty(), "{:?}", report.errors.first());
    let mut got: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for f in &report.findings {
        *got.entry((f.source.path.clone(), f.source.line)).or_default() += 1;
    }
    assert_eq!(got, expected, "findings must point at the object's file:line");
    assert_eq!(report.deny_count(), expected.values().sum::<usize>());
    let baseline = &report.assignments[0];
    assert_eq!(
        (baseline.name.as_str(), baseline.evaluated, baseline.non_compliant),
        ("baseline", evaluated, non_compliant)
    );
    let privileged = report.definitions.iter().find(|d| d.name == "no-privileged-containers").unwrap();
    let want_priv = (0..FILES * PER_FILE).filter(|i| !i.is_multiple_of(13) && i.is_multiple_of(7)).count();
    assert_eq!(privileged.non_compliant, want_priv);
    assert_eq!(privileged.compliant, evaluated - want_priv);

    // Deterministic: a second run (on a slice, to keep debug builds fast) serialises
    // identically to the first run's findings for that slice.
    let slice = &loaded.objects[..1_000];
    let again = set.audit(slice, &inventory);
    let in_slice = |path: &str| path.rsplit('/').next().unwrap_or("") < "batch-05.yaml";
    let first: Vec<_> = report.findings.iter().filter(|f| in_slice(&f.source.path)).collect();
    assert_eq!(serde_json::to_string(&first).unwrap(), serde_json::to_string(&again.findings).unwrap());
}

/// `audit_paths` (inputs loaded, evaluated and dropped one by one) must give exactly the
/// report of loading everything first, including where it is hardest: Namespaces defined in
/// a later file than their objects (or redefined: the last one wins), a Namespace whose
/// `kind` is spelled with an escape, load errors in input order, and a template reading
/// `input.review.namespaceObject`.
#[test]
fn audit_paths_matches_loading_everything() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let pod = |name: &str, ns: &str, privileged: bool| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n    securityContext: {{privileged: {privileged}}}\n---\n"
        )
    };
    // Objects first (file order a, b, …), their Namespaces later.
    w("a-pods.yaml", &(pod("p1", "prod", true) + &pod("p2", "dev", true) + &pod("p3", "escaped", true)));
    w("b-broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n");
    w("c-more.yaml", &(pod("p4", "prod", false) + &pod("p5", "nowhere", true)));
    w(
        "d-ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {env: dev}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: dev, labels: {env: dev}}\n",
    );
    // Redefined later: prod is env=prod in the end.
    w(
        "e-ns.json",
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}"#,
    );
    w("f-ns.yaml", "apiVersion: v1\nkind: \"Name\\x73pace\"\nmetadata: {name: escaped, labels: {env: prod}}\n");

    let template = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8snamespaceenv}
spec:
  crd: {spec: {names: {kind: K8sNamespaceEnv}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8snamespaceenv
      violation[{"msg": msg}] {
        env := input.review.namespaceObject.metadata.labels.env
        msg := sprintf("%v runs in an env=%v namespace", [input.review.object.metadata.name, env])
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNamespaceEnv
metadata: {name: env-label}
spec: {match: {kinds: [{apiGroups: [""], kinds: [Pod]}]}}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNamespaceEnv
metadata: {name: prod-only}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    namespaceSelector: {matchLabels: {env: prod}}
"#;
    let mut b = PolicySetBuilder::new();
    for doc in keelwatch_core::load::load_str(template, "policy.yaml", &LoadOptions::default()).objects {
        b.add_object(doc.value, "policy.yaml").unwrap();
    }
    b.add_object(baseline_privileged(), "test").unwrap();
    let set = b.build().unwrap();
    assert!(!set.uses_inventory(), "this test is about the streaming path");

    let paths = [dir.path().to_path_buf()];
    let loaded = keelwatch_core::load::load_paths(&paths, &LoadOptions::default());
    let inventory = Inventory::namespaces_only(loaded.objects.iter().map(|o| &o.value));
    let whole = set.audit(&loaded.objects, &inventory);
    let (streamed, errors) = keelwatch_policy::audit::audit_paths(
        &set,
        &paths,
        &LoadOptions::default(),
        keelwatch_policy::EnforcementPoint::Audit,
    );
    assert_eq!(serde_json::to_value(&streamed).unwrap(), serde_json::to_value(&whole).unwrap());
    assert_eq!(errors, loaded.errors);
    assert_eq!(errors.len(), 1, "the broken document is reported once: {errors:?}");

    // And the answers themselves: the last definition of `prod` counts, the escaped
    // Namespace is found, `nowhere` has no Namespace object.
    let msgs: Vec<String> = streamed
        .findings
        .iter()
        .filter(|f| f.violation.constraint_kind == "K8sNamespaceEnv")
        .map(|f| format!("{}: {}", f.violation.constraint_name, f.violation.msg))
        .collect();
    assert_eq!(
        msgs,
        [
            "env-label: p1 runs in an env=prod namespace",
            "prod-only: p1 runs in an env=prod namespace",
            "env-label: p2 runs in an env=dev namespace",
            "env-label: p3 runs in an env=prod namespace",
            "prod-only: p3 runs in an env=prod namespace",
            "env-label: p4 runs in an env=prod namespace",
            "prod-only: p4 runs in an env=prod namespace",
        ]
    );
    assert_eq!(streamed.objects, 5 + 4);
}
