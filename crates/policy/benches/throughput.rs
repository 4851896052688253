//! Plain timing harness (no criterion): decision latency percentiles and audit throughput.
//! Run: `cargo bench -p keelwatch-policy --bench throughput` (add `-- 100000` to set the
//! number of pods audited, default 100,000, and a second number for decision samples, default
//! 20,000).

use std::time::{Duration, Instant};

use keelwatch_core::{Source, SourcedObject};
use keelwatch_policy::{EnforcementPoint, Inventory};

#[path = "support/mod.rs"]
mod common;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let pods = numbers.first().copied().unwrap_or(100_000);
    let decisions = numbers.get(1).copied().unwrap_or(20_000).max(10);
    let set = common::restricted_set();
    let inventory = Inventory::empty();

    // Decision latency, single thread, after warm-up.
    let requests: Vec<_> = (0..decisions.min(2_000)).map(common::create_request).collect();
    for r in requests.iter().take(200) {
        set.review(r, &inventory, EnforcementPoint::Validation).unwrap();
    }
    let mut samples = Vec::with_capacity(decisions);
    for r in requests.iter().cycle().take(decisions) {
        let t = Instant::now();
        let v = set.review(r, &inventory, EnforcementPoint::Validation).unwrap();
        samples.push(t.elapsed());
        assert!(v.is_empty(), "the typical pod is compliant: {v:?}");
    }
    samples.sort();
    println!(
        "decision (restricted, typical pod, {} samples): p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    // Audit throughput on all cores; every 10th pod violates (privileged).
    let objects: Vec<SourcedObject> = (0..pods)
        .map(|i| {
            let mut v = common::typical_pod(i);
            if i.is_multiple_of(10) {
                v["spec"]["containers"][0]["securityContext"]["privileged"] = true.into();
            }
            SourcedObject { value: v, source: Source { path: "generated.yaml".into(), line: i + 1, template: None } }
        })
        .collect();
    let t = Instant::now();
    let report = set.audit(&objects, &inventory);
    let elapsed = t.elapsed();
    assert_eq!(report.objects, pods);
    println!(
        "audit (restricted, {} pods, {} threads): {:?}, {:.0} objects/s, {} findings",
        pods,
        rayon::current_num_threads(),
        elapsed,
        pods as f64 / elapsed.as_secs_f64(),
        report.findings.len()
    );
}
