//! Object loading from arbitrary bytes: YAML/JSON/multi-doc/List must never panic, hang or
//! blow up memory; every error must carry a position.
#![no_main]

use keelwatch_core::load::{load_str, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let result = load_str(text, "fuzz.yaml", &LoadOptions::default());
    for e in &result.errors {
        assert_eq!(e.at.path, "fuzz.yaml");
    }
    for o in &result.objects {
        assert!(o.value.is_object());
    }
});
