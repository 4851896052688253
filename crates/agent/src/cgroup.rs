//! cgroup discovery and sampling for cgroup v2 (unified) and v1 (per-controller mounts).
//!
//! [`Layout::detect`] decides which flavour a root holds; [`Layout::groups`] lists every
//! cgroup under it (relative paths such as `/kubepods/burstable/pod…/…`), and
//! [`Layout::sample`] reads one group's counters into a [`CgroupSample`] with the same units
//! for both versions (CPU in nanoseconds, memory in bytes). Missing files give `None`, never
//! an error: a group can vanish between listing and reading.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{AgentError, Result};

/// Values at or above this are "no limit" in cgroup v1 (`memory.limit_in_bytes`).
const V1_UNLIMITED: u64 = 1 << 62;
/// Bounds on discovery so a pathological tree cannot exhaust memory.
const MAX_GROUPS: usize = 20_000;
const MAX_DEPTH: usize = 16;

/// Where the cgroup controllers live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2: one unified hierarchy.
    V2 {
        /// Mount point of the unified hierarchy.
        root: PathBuf,
    },
    /// cgroup v1: one mount per controller.
    V1 {
        /// The `cpuacct` hierarchy (CPU usage).
        cpuacct: PathBuf,
        /// The `memory` hierarchy.
        memory: PathBuf,
        /// The `cpu` hierarchy (quota, throttling), if mounted.
        cpu: Option<PathBuf>,
        /// The `blkio` hierarchy, if mounted.
        blkio: Option<PathBuf>,
    },
}

/// One reading of a cgroup's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupSample {
    /// Cumulative CPU usage in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Current memory usage in bytes (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub memory_usage: Option<u64>,
    /// Inactive file pages (v2 `inactive_file`, v1 `total_inactive_file`).
    pub inactive_file: Option<u64>,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`).
    pub rss: Option<u64>,
    /// Enforcement periods elapsed.
    pub nr_periods: Option<u64>,
    /// Periods in which the group was throttled.
    pub nr_throttled: Option<u64>,
    /// Total throttled time in nanoseconds.
    pub throttled_ns: Option<u64>,
    /// CPU limit in nanocores (quota / period), `None` when unlimited.
    pub cpu_limit_nanocores: Option<f64>,
    /// Memory limit in bytes, `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Bytes read from block devices.
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
}

impl CgroupSample {
    /// Working set: memory usage − inactive file pages, clamped at 0.
    pub fn working_set(&self) -> Option<u64> {
        let usage = self.memory_usage?;
        Some(usage.saturating_sub(self.inactive_file.unwrap_or(0)))
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_i64(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads a flat-keyed file (`key value` per line) and returns the requested keys.
fn read_keyed(path: &Path, keys: &[&str]) -> Vec<Option<u64>> {
    let mut out = vec![None; keys.len()];
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            let mut it = line.split_ascii_whitespace();
            if let (Some(k), Some(v)) = (it.next(), it.next())
                && let Some(i) = keys.iter().position(|x| *x == k)
            {
                out[i] = v.parse().ok();
            }
        }
    }
    out
}

fn join_rel(base: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() { base.to_path_buf() } else { base.join(rel) }
}

fn walk(base: &Path, rel: String, depth: usize, out: &mut BTreeSet<String>) {
    if out.len() >= MAX_GROUPS || depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(join_rel(base, &rel)) else {
        return;
    };
    let mut dirs: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    dirs.sort();
    for d in dirs {
        let child = format!("{rel}/{d}");
        out.insert(child.clone());
        walk(base, child, depth + 1, out);
    }
}

impl Layout {
    /// Detects the cgroup flavour under `root` (typically `/sys/fs/cgroup`).
    ///
    /// v2 when `root/cgroup.controllers` exists; v1 when `root` holds `cpuacct` (or
    /// `cpu,cpuacct`) and `memory` controller directories. In a hybrid setup v1 wins because
    /// the v2 hierarchy then carries no memory controller.
    pub fn detect(root: &Path) -> Result<Layout> {
        if root.join("cgroup.controllers").is_file() {
            return Ok(Layout::V2 { root: root.to_path_buf() });
        }
        let first = |names: &[&str]| {
            names
                .iter()
                .map(|n| root.join(n))
                .find(|p| p.is_dir() && std::fs::read_dir(p).map(|mut d| d.next().is_some()).unwrap_or(false))
        };
        let cpuacct = first(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]);
        let memory = first(&["memory"]);
        match (cpuacct, memory) {
            (Some(cpuacct), Some(memory)) => Ok(Layout::V1 {
                cpu: first(&["cpu", "cpu,cpuacct", "cpuacct,cpu"]),
                blkio: first(&["blkio"]),
                cpuacct,
                memory,
            }),
            _ => {
                if root.join("unified/cgroup.controllers").is_file() {
                    return Ok(Layout::V2 { root: root.join("unified") });
                }
                Err(AgentError::Cgroup {
                    root: root.to_path_buf(),
                    detail: "neither cgroup.controllers (v2) nor cpuacct/ and memory/ (v1) found".into(),
                })
            }
        }
    }

    /// Short name of the flavour (`v1` / `v2`).
    pub fn version(&self) -> &'static str {
        match self {
            Layout::V2 { .. } => "v2",
            Layout::V1 { .. } => "v1",
        }
    }

    /// Every cgroup below the root (not the root itself), as `/`-prefixed relative paths,
    /// sorted. For v1 the union over the cpuacct and memory hierarchies.
    pub fn groups(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        match self {
            Layout::V2 { root } => walk(root, String::new(), 0, &mut out),
            Layout::V1 { cpuacct, memory, .. } => {
                walk(cpuacct, String::new(), 0, &mut out);
                walk(memory, String::new(), 0, &mut out);
            }
        }
        out.into_iter().collect()
    }

    /// The pids directly in a cgroup (`cgroup.procs`), at most `limit` of them.
    pub fn pids(&self, rel: &str, limit: usize) -> Vec<u32> {
        let dir = match self {
            Layout::V2 { root } => join_rel(root, rel),
            Layout::V1 { memory, .. } => join_rel(memory, rel),
        };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).take(limit).collect())
            .unwrap_or_default()
    }

    /// Reads one cgroup's counters.
    pub fn sample(&self, rel: &str) -> CgroupSample {
        match self {
            Layout::V2 { root } => sample_v2(&join_rel(root, rel)),
            Layout::V1 { cpuacct, memory, cpu, blkio } => sample_v1(
                &join_rel(cpuacct, rel),
                &join_rel(memory, rel),
                cpu.as_ref().map(|c| join_rel(c, rel)).as_deref(),
                blkio.as_ref().map(|b| join_rel(b, rel)).as_deref(),
            ),
        }
    }
}

fn sample_v2(dir: &Path) -> CgroupSample {
    let cpu = read_keyed(&dir.join("cpu.stat"), &["usage_usec", "nr_periods", "nr_throttled", "throttled_usec"]);
    let mem = read_keyed(&dir.join("memory.stat"), &["inactive_file", "anon"]);
    let cpu_limit_nanocores = std::fs::read_to_string(dir.join("cpu.max")).ok().and_then(|t| {
        let mut it = t.split_ascii_whitespace();
        let quota: f64 = it.next()?.parse().ok()?; // "max" fails to parse: unlimited
        let period: f64 = it.next()?.parse().ok()?;
        (period > 0.0).then(|| quota / period * 1e9)
    });
    let (mut rb, mut wb, mut any_io) = (0u64, 0u64, false);
    if let Ok(t) = std::fs::read_to_string(dir.join("io.stat")) {
        for tok in t.split_ascii_whitespace() {
            if let Some(v) = tok.strip_prefix("rbytes=") {
                rb = rb.saturating_add(v.parse().unwrap_or(0));
                any_io = true;
            } else if let Some(v) = tok.strip_prefix("wbytes=") {
                wb = wb.saturating_add(v.parse().unwrap_or(0));
                any_io = true;
            }
        }
    }
    CgroupSample {
        cpu_usage_ns: cpu[0].map(|u| u.saturating_mul(1000)),
        nr_periods: cpu[1],
        nr_throttled: cpu[2],
        throttled_ns: cpu[3].map(|u| u.saturating_mul(1000)),
        memory_usage: read_u64(&dir.join("memory.current")),
        inactive_file: mem[0],
        rss: mem[1],
        cpu_limit_nanocores,
        memory_limit: read_u64(&dir.join("memory.max")), // "max" fails to parse: unlimited
        io_read_bytes: any_io.then_some(rb),
        io_write_bytes: any_io.then_some(wb),
    }
}

fn sample_v1(cpuacct: &Path, memory: &Path, cpu: Option<&Path>, blkio: Option<&Path>) -> CgroupSample {
    let mem = read_keyed(&memory.join("memory.stat"), &["total_inactive_file", "total_rss"]);
    let (periods, throttled, throttled_ns, limit) = match cpu {
        Some(c) => {
            let s = read_keyed(&c.join("cpu.stat"), &["nr_periods", "nr_throttled", "throttled_time"]);
            let quota = read_i64(&c.join("cpu.cfs_quota_us"));
            let period = read_i64(&c.join("cpu.cfs_period_us"));
            let limit = match (quota, period) {
                (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64 * 1e9),
                _ => None,
            };
            (s[0], s[1], s[2], limit)
        }
        None => (None, None, None, None),
    };
    let (mut rb, mut wb, mut any_io) = (0u64, 0u64, false);
    if let Some(b) = blkio
        && let Ok(t) = std::fs::read_to_string(b.join("blkio.throttle.io_service_bytes"))
    {
        for line in t.lines() {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() == 3 {
                let v: u64 = f[2].parse().unwrap_or(0);
                match f[1] {
                    "Read" => {
                        rb = rb.saturating_add(v);
                        any_io = true;
                    }
                    "Write" => {
                        wb = wb.saturating_add(v);
                        any_io = true;
                    }
                    _ => {}
                }
            }
        }
    }
    CgroupSample {
        cpu_usage_ns: read_u64(&cpuacct.join("cpuacct.usage")),
        memory_usage: read_u64(&memory.join("memory.usage_in_bytes")),
        inactive_file: mem[0],
        rss: mem[1],
        nr_periods: periods,
        nr_throttled: throttled,
        throttled_ns,
        cpu_limit_nanocores: limit,
        memory_limit: read_u64(&memory.join("memory.limit_in_bytes")).filter(|v| *v < V1_UNLIMITED),
        io_read_bytes: any_io.then_some(rb),
        io_write_bytes: any_io.then_some(wb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, name: &str, content: &str) {
        std::fs::create_dir_all(p).unwrap();
        std::fs::write(p.join(name), content).unwrap();
    }

    #[test]
    fn v2_fixture() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(root, "cgroup.controllers", "cpu memory io\n");
        let g = root.join("kubepods.slice/app");
        write(
            &g,
            "cpu.stat",
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 300\n",
        );
        write(&g, "memory.current", "1000000\n");
        write(&g, "memory.stat", "anon 400000\nfile 500000\ninactive_file 300000\n");
        write(&g, "cpu.max", "50000 100000\n");
        write(&g, "memory.max", "max\n");
        write(&g, "io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n");
        let l = Layout::detect(root).unwrap();
        assert_eq!(l.version(), "v2");
        assert_eq!(l.groups(), vec!["/kubepods.slice", "/kubepods.slice/app"]);
        let s = l.sample("/kubepods.slice/app");
        assert_eq!(s.cpu_usage_ns, Some(2_500_000));
        assert_eq!(s.working_set(), Some(700_000));
        assert_eq!(s.rss, Some(400_000));
        assert_eq!((s.nr_periods, s.nr_throttled, s.throttled_ns), (Some(10), Some(4), Some(300_000)));
        assert_eq!(s.cpu_limit_nanocores, Some(0.5e9));
        assert_eq!(s.memory_limit, None);
        assert_eq!((s.io_read_bytes, s.io_write_bytes), (Some(101), Some(202)));
        // A vanished group reads as empty, not as an error.
        assert_eq!(l.sample("/gone"), CgroupSample::default());
    }

    #[test]
    fn v1_fixture() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(&root.join("cpuacct/g"), "cpuacct.usage", "123456789\n");
        write(&root.join("cpu/g"), "cpu.stat", "nr_periods 7\nnr_throttled 3\nthrottled_time 999\n");
        write(&root.join("cpu/g"), "cpu.cfs_quota_us", "-1\n");
        write(&root.join("cpu/g"), "cpu.cfs_period_us", "100000\n");
        write(&root.join("memory/g"), "memory.usage_in_bytes", "5000\n");
        write(&root.join("memory/g"), "memory.stat", "cache 10\nrss 1\ntotal_rss 2000\ntotal_inactive_file 1500\n");
        write(&root.join("memory/g"), "memory.limit_in_bytes", "9223372036854771712\n");
        write(&root.join("memory/h"), "memory.usage_in_bytes", "1\n");
        let l = Layout::detect(root).unwrap();
        assert_eq!(l.version(), "v1");
        assert_eq!(l.groups(), vec!["/g", "/h"]);
        let s = l.sample("/g");
        assert_eq!(s.cpu_usage_ns, Some(123_456_789));
        assert_eq!(s.working_set(), Some(3500));
        assert_eq!(s.rss, Some(2000));
        assert_eq!(s.throttled_ns, Some(999));
        assert_eq!(s.cpu_limit_nanocores, None);
        assert_eq!(s.memory_limit, None);
        assert!(Layout::detect(&root.join("cpuacct")).is_err());
    }
}
