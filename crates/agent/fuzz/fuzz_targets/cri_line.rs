//! Fuzzes the CRI line parser, the P/F joiner and the LogMessage / LogLevel derivation, and
//! checks that the allocation-free `classify_message` the tailer uses agrees with the
//! value-based definition.
#![no_main]

use keelwatch_agent::cri::{Joiner, MAX_MESSAGE, classify_message, log_level, log_message, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut j = Joiner::default();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(l) = parse_line(line) {
            if let Some(rec) = j.push(&l) {
                assert!(rec.message.len() <= MAX_MESSAGE);
                let v = log_message(&rec.message);
                let (json, level) = classify_message(&rec.message);
                assert_eq!(level, log_level(&v));
                if let Some(text) = json {
                    assert_eq!(serde_json::from_str::<serde_json::Value>(text).ok().as_ref(), Some(&v));
                }
            }
        }
    }
    if let Some(rec) = j.flush() {
        let _ = log_level(&log_message(&rec.message));
    }
});
