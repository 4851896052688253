//! Host-mode metrics against real cgroups (v1 controllers and the v2 unified hierarchy this
//! machine mounts) and /proc. Needs root: CI runs tests as root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use keelwatch_agent::Output;
use serde_json::Value;

#[test]
#[ignore = "helper: runs the agent when KW_AGENT_CONFIG is set"]
fn child_agent() {
    child_agent_main();
}

/// Helper process: joins the cgroups named in KW_HOG_PROCS, touches KW_HOG_MB of memory and
/// spins on the CPU until killed.
#[test]
#[ignore = "helper: a CPU and memory hog when KW_HOG_PROCS is set"]
fn hog() {
    let Ok(procs) = std::env::var("KW_HOG_PROCS") else {
        return;
    };
    for p in procs.split(':').filter(|p| !p.is_empty()) {
        std::fs::write(p, std::process::id().to_string()).unwrap_or_else(|e| panic!("join {p}: {e}"));
    }
    let mb: usize = std::env::var("KW_HOG_MB").unwrap().parse().unwrap();
    let mut v = vec![0u8; mb << 20];
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
    }
    std::fs::write(std::env::var("KW_HOG_READY").unwrap(), "ready").unwrap();
    let mut x: u64 = 0;
    loop {
        for i in (0..v.len()).step_by(1 << 16) {
            x = x.wrapping_add(v[i] as u64);
        }
        std::hint::black_box(x);
    }
}

struct Group {
    dirs: Vec<PathBuf>,
    hog: Option<Child>,
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(h) = &mut self.hog {
            let _ = h.kill();
            let _ = h.wait();
        }
        std::thread::sleep(Duration::from_millis(100));
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn read_u64(p: &Path) -> u64 {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().parse().unwrap()
}

fn keyed(p: &Path, key: &str) -> u64 {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("{key} missing in {}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Creates `name` in the v1 cpu, cpuacct and memory hierarchies (cpu quota `quota_us` per
/// 100 ms) and optionally in the v2 unified hierarchy, and starts a hog inside.
fn hog_group(name: &str, quota_us: u64, mb: usize, unified: bool) -> Group {
    must_be_root("creating cgroups");
    let root = Path::new("/sys/fs/cgroup");
    for c in ["cpu", "cpuacct", "memory"] {
        assert!(
            root.join(c).join("cgroup.procs").exists(),
            "cgroup v1 controller {c} is not mounted at /sys/fs/cgroup/{c}; these tests need a cgroup v1 (or hybrid) host"
        );
    }
    let mut dirs = vec![];
    for c in ["cpu", "cpuacct", "memory"] {
        let d = root.join(c).join(name);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        dirs.push(d);
    }
    if unified {
        let d = root.join("unified").join(name);
        assert!(root.join("unified/cgroup.procs").exists(), "no cgroup v2 hierarchy at /sys/fs/cgroup/unified");
        std::fs::create_dir_all(&d).unwrap();
        dirs.push(d);
    }
    std::fs::write(root.join("cpu").join(name).join("cpu.cfs_quota_us"), quota_us.to_string()).unwrap();
    let procs: Vec<String> = dirs.iter().map(|d| d.join("cgroup.procs").display().to_string()).collect();
    let ready = std::env::temp_dir().join(format!("{name}.ready"));
    let _ = std::fs::remove_file(&ready);
    let hog = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hog", "--ignored", "--nocapture"])
        .env("KW_HOG_PROCS", procs.join(":"))
        .env("KW_HOG_MB", mb.to_string())
        .env("KW_HOG_READY", &ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let g = Group { dirs, hog: Some(hog) };
    wait_for("the hog to allocate", Duration::from_secs(20), || ready.exists());
    // Let the CPU rate settle under the quota.
    std::thread::sleep(Duration::from_millis(500));
    g
}

fn perf(rows: &[Value], instance: &str, counter: &str) -> f64 {
    rows.iter()
        .find(|r| r["InstanceName"] == instance && r["CounterName"] == counter)
        .unwrap_or_else(|| panic!("no Perf row {instance} {counter}"))["CounterValue"]
        .as_f64()
        .unwrap()
}

fn within(what: &str, got: f64, want: f64, pct: f64) {
    let diff = (got - want).abs() / want.abs().max(1.0);
    assert!(diff <= pct / 100.0, "{what}: agent {got} vs cgroup {want} ({:.2}% off, limit {pct}%)", diff * 100.0);
}

#[test]
fn cgroup_v1_container_counters_match_cgroup_files() {
    let name = format!("kw-test-v1-{}", std::process::id());
    let _g = hog_group(&name, 30_000, 64, false);
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let mut cfg = base_config(&t.path().join("state"), Output::File(out.clone()));
    cfg.cgroup_root = Some("/sys/fs/cgroup".into());
    cfg.once = true;
    cfg.once_window = Duration::from_secs(2);
    let acct = PathBuf::from("/sys/fs/cgroup/cpuacct").join(&name).join("cpuacct.usage");
    let cpu_stat = PathBuf::from("/sys/fs/cgroup/cpu").join(&name).join("cpu.stat");
    let (p0, th0) = (keyed(&cpu_stat, "nr_periods"), keyed(&cpu_stat, "nr_throttled"));
    let (u0, t0) = (read_u64(&acct), Instant::now());
    keelwatch_agent::run(&cfg, Default::default()).unwrap();
    let (u1, t1) = (read_u64(&acct), Instant::now());
    let (p1, th1) = (keyed(&cpu_stat, "nr_periods"), keyed(&cpu_stat, "nr_throttled"));
    let mem = PathBuf::from("/sys/fs/cgroup/memory").join(&name);
    let usage = read_u64(&mem.join("memory.usage_in_bytes"));
    let inactive = keyed(&mem.join("memory.stat"), "total_inactive_file");
    let rss = keyed(&mem.join("memory.stat"), "total_rss");

    let all = read_output(&out);
    let rows = &all["Perf"];
    let inst = format!("local/host/{name}");
    let cpu_rate = (u1 - u0) as f64 / (t1 - t0).as_secs_f64();
    within("cpuUsageNanoCores", perf(rows, &inst, "cpuUsageNanoCores"), cpu_rate, 5.0);
    assert!(cpu_rate > 0.2e9 && cpu_rate < 0.35e9, "quota keeps the hog near 0.3 cores, measured {cpu_rate}");
    within("memoryWorkingSetBytes", perf(rows, &inst, "memoryWorkingSetBytes"), (usage - inactive) as f64, 5.0);
    within("memoryRssBytes", perf(rows, &inst, "memoryRssBytes"), rss as f64, 5.0);
    assert!(rss > 60 << 20, "the hog's 64 MiB are charged to its cgroup: {rss}");
    within("cpuLimitNanoCores", perf(rows, &inst, "cpuLimitNanoCores"), 0.3e9, 0.1);
    assert!(perf(rows, &inst, "restartTimeEpoch") > 1.7e9);
    for r in rows.iter().filter(|r| r["InstanceName"] == inst) {
        assert_eq!(r["ObjectName"], "K8SContainer");
        assert_eq!(r["Computer"], "test-node");
        assert!(r["CounterPath"].as_str().unwrap().contains(&format!("K8SContainer({inst})")));
    }
    // Throttling extras: deltas of cpu.stat over the agent's window, which lies inside ours
    // (whether the quota actually throttles depends on how loaded the machine is).
    let ins = &all["InsightsMetrics"];
    let extra = |n: &str| {
        ins.iter()
            .find(|r| r["Name"] == n && r["Tags"].as_str().unwrap().contains(&name))
            .unwrap_or_else(|| panic!("no {n} row"))
    };
    let throttled = extra("cpuThrottledPeriods");
    let periods = extra("cpuPeriods")["Val"].as_f64().unwrap();
    let th = throttled["Val"].as_f64().unwrap();
    assert!(periods > 0.0 && periods <= (p1 - p0) as f64, "cpuPeriods {periods} vs cpu.stat delta {}", p1 - p0);
    // The 2 s window holds ~20 periods; ours adds the agent's start and exit.
    assert!(periods >= 10.0, "cpuPeriods {periods} over a 2 s window of 100 ms periods");
    assert!(th <= (th1 - th0) as f64, "cpuThrottledPeriods {th} vs cpu.stat delta {}", th1 - th0);
    let pct = extra("cpuThrottledPercent")["Val"].as_f64().unwrap();
    assert!((pct - th / periods * 100.0).abs() < 1e-6, "cpuThrottledPercent {pct}");
    assert_eq!(throttled["Namespace"], "container.azm.ms/cpu");
    let tags: Value = serde_json::from_str(throttled["Tags"].as_str().unwrap()).unwrap();
    assert_eq!(tags["container.azm.ms/clusterId"], "local");
}

#[test]
fn cgroup_v2_cpu_matches_cpu_stat() {
    let name = format!("kw-test-v2-{}", std::process::id());
    let _g = hog_group(&name, 25_000, 8, true);
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let mut cfg = base_config(&t.path().join("state"), Output::File(out.clone()));
    cfg.cgroup_root = Some("/sys/fs/cgroup/unified".into());
    cfg.once = true;
    cfg.once_window = Duration::from_secs(2);
    let stat = PathBuf::from("/sys/fs/cgroup/unified").join(&name).join("cpu.stat");
    let (u0, t0) = (keyed(&stat, "usage_usec"), Instant::now());
    keelwatch_agent::run(&cfg, Default::default()).unwrap();
    let (u1, t1) = (keyed(&stat, "usage_usec"), Instant::now());
    let rows = &read_output(&out)["Perf"];
    let rate = (u1 - u0) as f64 * 1000.0 / (t1 - t0).as_secs_f64();
    within("v2 cpuUsageNanoCores", perf(rows, &format!("local/host/{name}"), "cpuUsageNanoCores"), rate, 5.0);
}

fn meminfo(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// `got` lies between `a` and `b`, widened by `pct` percent on each side.
fn within_envelope(what: &str, got: f64, a: f64, b: f64, pct: f64) {
    let (lo, hi) = (a.min(b) * (1.0 - pct / 100.0), a.max(b) * (1.0 + pct / 100.0));
    assert!((lo..=hi).contains(&got), "{what}: agent {got} outside [{lo}, {hi}] (readings before/after: {a}, {b})");
}

#[test]
fn node_counters_match_proc() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let mut cfg = base_config(&t.path().join("state"), Output::File(out.clone()));
    cfg.once = true;
    cfg.once_window = Duration::from_millis(1500);
    cfg.cluster_id = "c9".into();
    let busy = || {
        let s = std::fs::read_to_string("/proc/stat").unwrap();
        let v: Vec<u64> = s.lines().next().unwrap().split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
        v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    };
    // Node memory moves while other tests run: the agent's sample is checked against the
    // envelope of readings taken just before and just after its run.
    let mem = || {
        let ws = (meminfo("MemTotal") - meminfo("MemFree") - meminfo("Inactive(file)")) as f64;
        (ws, meminfo("AnonPages") as f64)
    };
    let m0 = mem();
    let (b0, t0) = (busy(), Instant::now());
    keelwatch_agent::run(&cfg, Default::default()).unwrap();
    let (b1, t1) = (busy(), Instant::now());
    let m1 = mem();
    let rows = &read_output(&out)["Perf"];
    let inst = "c9/test-node";
    let ncpu = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count() as f64;
    let btime: f64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(perf(rows, inst, "cpuCapacityNanoCores"), ncpu * 1e9);
    assert_eq!(perf(rows, inst, "cpuAllocatableNanoCores"), ncpu * 1e9);
    assert_eq!(perf(rows, inst, "memoryCapacityBytes"), meminfo("MemTotal") as f64);
    assert_eq!(perf(rows, inst, "memoryAllocatableBytes"), meminfo("MemTotal") as f64);
    assert_eq!(perf(rows, inst, "restartTimeEpoch"), btime);
    within_envelope("node memoryWorkingSetBytes", perf(rows, inst, "memoryWorkingSetBytes"), m0.0, m1.0, 5.0);
    within_envelope("node memoryRssBytes", perf(rows, inst, "memoryRssBytes"), m0.1, m1.1, 5.0);
    // CPU: the agent's window lies inside ours; the node is shared, so compare against the
    // enclosing window with a tolerance of 10% of one core.
    let rate = (b1 - b0) as f64 / 100.0 * 1e9 / (t1 - t0).as_secs_f64();
    let got = perf(rows, inst, "cpuUsageNanoCores");
    assert!((got - rate).abs() <= 0.1e9 * ncpu.max(1.0), "node cpu {got} vs /proc {rate}");
    for r in rows.iter().filter(|r| r["ObjectName"] == "K8SNode") {
        assert_eq!(r["InstanceName"], inst);
    }
}
