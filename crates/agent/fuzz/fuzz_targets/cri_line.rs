//! Fuzzes the CRI line parser, the P/F joiner and the LogMessage / LogLevel derivation.
#![no_main]

use keelwatch_agent::cri::{Joiner, MAX_MESSAGE, log_level, log_message, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut j = Joiner::default();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(l) = parse_line(line) {
            if let Some(rec) = j.push(&l) {
                assert!(rec.message.len() <= MAX_MESSAGE);
                let v = log_message(&rec.message);
                let _ = log_level(&v);
            }
        }
    }
    if let Some(rec) = j.flush() {
        let _ = log_level(&log_message(&rec.message));
    }
});
