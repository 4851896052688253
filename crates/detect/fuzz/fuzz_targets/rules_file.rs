//! Whole rules files (YAML items, appends, overrides, exceptions) on top of the catalog.
#![no_main]

use keelwatch_detect::rules::load_rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = load_rules(false, &[("fuzz.yaml".to_string(), text.to_string())]);
});
