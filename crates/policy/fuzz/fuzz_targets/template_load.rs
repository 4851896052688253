//! Arbitrary text as policy YAML: documents go through the shared loader, then the policy-set
//! builder (template parsing, Rego preprocessing and compilation, constraint and parameter
//! validation, assignment expansion); when a set builds, one object is reviewed. Nothing may
//! panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = keelwatch_core::load::load_str(text, "fuzz", &Default::default());
    let mut b = keelwatch_policy::PolicySetBuilder::new();
    for o in loaded.objects {
        if b.add_object(o.value, "fuzz").is_err() {
            return;
        }
    }
    // The Rego rewrites alone must never panic either.
    let _ = keelwatch_policy::regorus_compat::preprocess(text);
    if let Ok(set) = b.build() {
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": true}}]}});
        let _ = set.review_object(&pod, &keelwatch_policy::Inventory::empty(), keelwatch_policy::EnforcementPoint::Audit);
    }
});
