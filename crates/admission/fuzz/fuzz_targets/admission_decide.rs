//! The whole decision path from arbitrary bytes: decode, then evaluate the restricted
//! initiative (every built-in Pod Security control) against whatever request survived decoding.
//! Evaluation may return an error for nonsense input, but must never panic or hang.
#![no_main]

use std::sync::OnceLock;

use keelwatch_admission::review::{decode, respond};
use keelwatch_policy::{EnforcementPoint, Inventory, PolicySet};
use libfuzzer_sys::fuzz_target;

fn policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kw-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("restricted.yaml");
        std::fs::write(
            &path,
            "apiVersion: policy.keelwatch.dev/v1alpha1\nkind: Assignment\nmetadata: {name: r}\nspec: {initiative: pod-security-restricted, effect: Deny, excludedNamespaces: []}\n",
        )
        .expect("write assignment");
        PolicySet::load(&[], &[path]).expect("built-in library loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(incoming) = decode(data) else { return };
    if let Ok(violations) = policies().review(&incoming.request, &Inventory::empty(), EnforcementPoint::Validation) {
        let out = respond(&incoming, &violations);
        assert_eq!(out.response["response"]["uid"].as_str(), Some(incoming.uid.as_str()));
    }
});
