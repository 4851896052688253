//! The condition parser, and compilation of the parsed condition inside a rule (fields,
//! lists, macros, regexes): errors are fine, panics are not.
#![no_main]

use keelwatch_detect::rules::condition::parse;
use keelwatch_detect::rules::{Definitions, RuleSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if parse(text).is_err() {
        return;
    }
    let mut defs = Definitions::default();
    let yaml = format!(
        "- list: l\n  items: [a, b]\n- macro: m\n  condition: ka.verb = get\n- rule: r\n  desc: d\n  condition: {}\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
        serde_json_string(text)
    );
    if defs.add_file("fuzz.yaml", &yaml).is_ok() {
        let _ = RuleSet::compile(&defs);
    }
});

/// A YAML double-quoted scalar for `s` (JSON string syntax is valid YAML).
fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
