//! Plain timing harness (no criterion): decision latency percentiles and audit throughput.
//! Run: `cargo bench -p keelwatch-policy --bench throughput` (add `-- 100000` to set the
//! number of pods audited, default 100,000, and a second number for decision samples, default
//! 20,000; add `breakdown` for the cost of each member definition on its own, followed by definition
//! names to time only those). With `KW_DUMP=<file>` in the environment, the thread-CPU time of
//! every timed decision is also written to the file, in the order taken (nanoseconds, one a
//! line), to see whether slow decisions are spread evenly or come in bursts.
//!
//! Latency is reported twice: wall-clock (what a caller waits, inflated when the machine is
//! busy) and the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`: the work one decision costs,
//! largely independent of other load on the machine).

/// The allocator the `keelwatch` binary uses, so the figures describe it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use keelwatch_core::{Source, SourcedObject};
use keelwatch_policy::{EnforcementPoint, Inventory, PolicySet};
use serde_json::Value;

#[path = "support/mod.rs"]
mod common;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `samples` single-threaded reviews of `requests` (cycled) after a warm-up; returns
/// sorted (wall, cpu) durations.
fn time_decisions(set: &PolicySet, requests: &[Value], samples: usize) -> (Vec<Duration>, Vec<Duration>) {
    let inventory = Inventory::empty();
    for r in requests.iter().take(200) {
        set.review(r, &inventory, EnforcementPoint::Validation).unwrap();
    }
    let mut wall = Vec::with_capacity(samples);
    let mut cpu = Vec::with_capacity(samples);
    for r in requests.iter().cycle().take(samples) {
        let (t, c) = (Instant::now(), thread_cpu());
        let v = set.review(r, &inventory, EnforcementPoint::Validation).unwrap();
        cpu.push(thread_cpu() - c);
        wall.push(t.elapsed());
        assert!(v.is_empty(), "the typical pod is compliant: {v:?}");
    }
    // Unsorted, for the time pattern of slow samples (see the module comment).
    if let Ok(path) = std::env::var("KW_DUMP") {
        let text: Vec<String> = cpu.iter().map(|d| d.as_nanos().to_string()).collect();
        std::fs::write(path, text.join("\n")).unwrap();
    }
    wall.sort();
    cpu.sort();
    (wall, cpu)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let pods = numbers.first().copied().unwrap_or(100_000);
    let decisions = numbers.get(1).copied().unwrap_or(20_000).max(10);
    let set = common::restricted_set();
    let inventory = Inventory::empty();
    let requests: Vec<_> = (0..decisions.min(2_000)).map(common::create_request).collect();

    if args.iter().any(|a| a == "breakdown") {
        let lib = keelwatch_policy::Library::builtin().unwrap();
        // Definition names among the arguments restrict the breakdown to them.
        let only: Vec<&String> = args.iter().filter(|a| lib.definition(a).is_some()).collect();
        for d in &lib.initiative("pod-security-restricted").unwrap().definitions {
            if !only.is_empty() && !only.contains(&d) {
                continue;
            }
            let one = common::definitions_set(&[d.as_str()]);
            let (wall, cpu) = time_decisions(&one, &requests, decisions);
            println!(
                "{d:28} cpu p50 {:?} p99 {:?}  wall p50 {:?} p99 {:?}",
                percentile(&cpu, 0.5),
                percentile(&cpu, 0.99),
                percentile(&wall, 0.5),
                percentile(&wall, 0.99)
            );
        }
        return;
    }

    // Decision latency, single thread, after warm-up.
    let (wall, cpu) = time_decisions(&set, &requests, decisions);
    println!(
        "decision (restricted, typical pod, {} samples): wall p50 {:?}  p90 {:?}  p99 {:?}  max {:?}; \
         thread CPU p50 {:?}  p90 {:?}  p99 {:?}",
        wall.len(),
        percentile(&wall, 0.50),
        percentile(&wall, 0.90),
        percentile(&wall, 0.99),
        wall[wall.len() - 1],
        percentile(&cpu, 0.50),
        percentile(&cpu, 0.90),
        percentile(&cpu, 0.99),
    );
    if pods == 0 {
        return;
    }

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
    assert_eq!(report.findings.len(), pods.div_ceil(10), "one finding per privileged pod");
    println!(
        "audit (restricted, {} pods, {} threads): {:?}, {:.0} objects/s, {} findings",
        pods,
        rayon::current_num_threads(),
        elapsed,
        pods as f64 / elapsed.as_secs_f64(),
        report.findings.len()
    );
}
