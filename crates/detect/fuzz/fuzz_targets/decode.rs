//! Event decoding (JSON lines, EventList, AKS envelopes, process events) followed by the
//! whole built-in catalog, through both entry points (events in evaluation form, as the
//! detector reads them, and owned events): must never panic, hang or grow without bound.
#![no_main]

use std::sync::OnceLock;

use keelwatch_detect::Detector;
use keelwatch_detect::decode::{read_stream, read_stream_views};
use keelwatch_detect::rules::{RuleSet, load_rules};
use libfuzzer_sys::fuzz_target;

static RULES: OnceLock<std::sync::Arc<RuleSet>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rules = RULES.get_or_init(|| std::sync::Arc::new(load_rules(true, &[]).expect("catalog")));
    let mut det = Detector::new(rules.clone(), "fuzz");
    let _ = read_stream_views(
        "fuzz",
        data,
        |e| {
            let _ = det.process(&e);
        },
        |_| {},
    );
    let _ = read_stream(
        "fuzz",
        data,
        |e| {
            let _ = det.process(&e);
        },
        |_| {},
    );
});
