//! Readers for the node-wide `/proc` files the agent needs: CPU times and boot time
//! (`/proc/stat`), memory (`/proc/meminfo`), per-process facts (`/proc/<pid>/stat`,
//! `status`, `cmdline`), network (`/proc/net/dev`) and disk I/O (`/proc/diskstats`), plus
//! the agent's own CPU and RSS. All functions take the proc root so tests can point them at
//! fixture trees.

use std::path::Path;

use crate::error::{AgentError, Result};

/// Kernel clock ticks per second (`USER_HZ`, almost always 100).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as u64 } else { 100 }
}

/// Page size in bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

/// Aggregate CPU time from the first line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq + steal (guest time is already inside user).
    pub busy: u64,
    /// busy + idle + iowait.
    pub total: u64,
}

/// What the agent reads from `/proc/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatInfo {
    /// Aggregate CPU times.
    pub cpu: CpuTimes,
    /// Number of `cpuN` lines (online CPUs).
    pub ncpu: u32,
    /// Boot time, seconds since the epoch (`btime`).
    pub boot_time: u64,
}

/// Parses `/proc/stat` content.
pub fn parse_stat(text: &str, path: &Path) -> Result<StatInfo> {
    let mut cpu = None;
    let mut ncpu = 0;
    let mut boot_time = None;
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        match fields.next() {
            Some("cpu") => {
                let v: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
                if v.len() < 4 {
                    return Err(AgentError::Parse {
                        path: path.into(),
                        line: i + 1,
                        what: "aggregate cpu line",
                        detail: format!("expected at least 4 numbers, found {}", v.len()),
                    });
                }
                let get = |n: usize| v.get(n).copied().unwrap_or(0);
                let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
                cpu = Some(CpuTimes { busy, total: busy + get(3) + get(4) });
            }
            Some(name) if name.starts_with("cpu") => ncpu += 1,
            Some("btime") => boot_time = fields.next().and_then(|f| f.parse().ok()),
            _ => {}
        }
    }
    let missing = |what| AgentError::Parse { path: path.into(), line: 0, what, detail: "line not found".into() };
    Ok(StatInfo {
        cpu: cpu.ok_or_else(|| missing("aggregate cpu line"))?,
        ncpu: ncpu.max(1),
        boot_time: boot_time.ok_or_else(|| missing("btime line"))?,
    })
}

/// Reads `<proc>/stat`.
pub fn read_stat(proc_root: &Path) -> Result<StatInfo> {
    let path = proc_root.join("stat");
    let text = std::fs::read_to_string(&path).map_err(|e| AgentError::io("read", &path, e))?;
    parse_stat(&text, &path)
}

/// Node memory figures from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// MemTotal.
    pub total: u64,
    /// MemFree.
    pub free: u64,
    /// MemAvailable.
    pub available: u64,
    /// Inactive(file).
    pub inactive_file: u64,
    /// AnonPages.
    pub anon: u64,
}

impl MemInfo {
    /// Working set as cAdvisor computes it for the root cgroup: used − inactive file pages,
    /// where used = MemTotal − MemFree. Clamped at 0.
    pub fn working_set(&self) -> u64 {
        self.total.saturating_sub(self.free).saturating_sub(self.inactive_file)
    }
}

/// Parses `/proc/meminfo` content.
pub fn parse_meminfo(text: &str, path: &Path) -> Result<MemInfo> {
    let mut m = MemInfo::default();
    let mut have_total = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut it = rest.split_ascii_whitespace();
        let Some(v) = it.next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let bytes = if it.next() == Some("kB") { v.saturating_mul(1024) } else { v };
        match key {
            "MemTotal" => {
                m.total = bytes;
                have_total = true;
            }
            "MemFree" => m.free = bytes,
            "MemAvailable" => m.available = bytes,
            "Inactive(file)" => m.inactive_file = bytes,
            "AnonPages" => m.anon = bytes,
            _ => {}
        }
    }
    if !have_total {
        return Err(AgentError::Parse {
            path: path.into(),
            line: 0,
            what: "MemTotal",
            detail: "line not found".into(),
        });
    }
    Ok(m)
}

/// Reads `<proc>/meminfo`.
pub fn read_meminfo(proc_root: &Path) -> Result<MemInfo> {
    let path = proc_root.join("meminfo");
    let text = std::fs::read_to_string(&path).map_err(|e| AgentError::io("read", &path, e))?;
    parse_meminfo(&text, &path)
}

/// The fields of `/proc/<pid>/stat` the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    /// Command name (`comm`, at most 15 bytes).
    pub comm: String,
    /// Parent pid.
    pub ppid: u32,
    /// User CPU time in ticks.
    pub utime: u64,
    /// System CPU time in ticks.
    pub stime: u64,
    /// Start time in ticks since boot.
    pub starttime: u64,
}

/// Parses one `/proc/<pid>/stat` line (the command name may contain spaces and parentheses).
pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(PidStat { comm, ppid: field(4)? as u32, utime: field(14)?, stime: field(15)?, starttime: field(22)? })
}

/// Reads `/proc/<pid>/stat`.
pub fn read_pid_stat(proc_root: &Path, pid: u32) -> Option<PidStat> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_pid_stat(&text)
}

/// Real uid and parent pid from `/proc/<pid>/status`.
pub fn read_uid_ppid(proc_root: &Path, pid: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("status")).ok()?;
    let mut uid = None;
    let mut ppid = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Uid:") {
            uid = v.split_ascii_whitespace().next().and_then(|v| v.parse().ok());
        } else if let Some(v) = line.strip_prefix("PPid:") {
            ppid = v.trim().parse().ok();
        }
    }
    Some((uid?, ppid?))
}

/// Splits a NUL-separated `cmdline` into arguments (a trailing NUL does not add one).
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// One interface line of `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name.
    pub iface: String,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Received packets.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errs: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errs: u64,
}

/// Parses `/proc/net/dev` (the loopback interface is skipped).
pub fn parse_net_dev(text: &str) -> Vec<NetDev> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest.split_ascii_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        if v.len() < 11 {
            continue;
        }
        out.push(NetDev {
            iface: name.to_string(),
            rx_bytes: v[0],
            rx_packets: v[1],
            rx_errs: v[2],
            tx_bytes: v[8],
            tx_packets: v[9],
            tx_errs: v[10],
        });
    }
    out
}

/// One block device line of `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStat {
    /// Device name (e.g. `sda`, `vda`, `nvme0n1`).
    pub name: String,
    /// Completed reads.
    pub reads: u64,
    /// Bytes read (sectors × 512).
    pub read_bytes: u64,
    /// Completed writes.
    pub writes: u64,
    /// Bytes written (sectors × 512).
    pub write_bytes: u64,
    /// Milliseconds spent doing I/O.
    pub io_time_ms: u64,
}

/// Parses `/proc/diskstats`, skipping loop, ram and device-mapper-less zero-activity devices.
pub fn parse_diskstats(text: &str) -> Vec<DiskStat> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let name = f[2];
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        let d = DiskStat {
            name: name.to_string(),
            reads: n(3),
            read_bytes: n(5).saturating_mul(512),
            writes: n(7),
            write_bytes: n(9).saturating_mul(512),
            io_time_ms: n(12),
        };
        if d.reads == 0 && d.writes == 0 {
            continue;
        }
        out.push(d);
    }
    out
}

/// Total/free/used bytes of the file system holding `path` (`statvfs`).
pub fn fs_usage(path: &Path) -> Option<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid out-parameter; `c` is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    let total = (st.f_blocks as u64).saturating_mul(frsize);
    let free = (st.f_bavail as u64).saturating_mul(frsize);
    let used = total.saturating_sub((st.f_bfree as u64).saturating_mul(frsize));
    Some((total, free, used))
}

/// The agent's own CPU seconds (user + system) and resident set size in bytes.
pub fn self_usage() -> (f64, u64) {
    let ticks = clock_ticks() as f64;
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_pid_stat(&t))
        .map(|s| (s.utime + s.stime) as f64 / ticks)
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_ascii_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page_size())
        .unwrap_or(0);
    (cpu, rss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_meminfo() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 1 1 1 0 0\ncpu1 50 3 25 500 10 0 1 2 0 0\nintr 1\nbtime 1764000000\n";
        let s = parse_stat(stat, Path::new("stat")).unwrap();
        assert_eq!(s.cpu.busy, 100 + 5 + 50 + 1 + 2 + 3);
        assert_eq!(s.cpu.total, s.cpu.busy + 1000 + 20);
        assert_eq!(s.ncpu, 2);
        assert_eq!(s.boot_time, 1_764_000_000);
        assert!(parse_stat("cpu 1 2\n", Path::new("stat")).is_err());
        assert!(parse_stat("cpu 1 2 3 4\n", Path::new("stat")).is_err()); // no btime

        let mi = "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\nInactive(file):  100 kB\nAnonPages:       300 kB\n";
        let m = parse_meminfo(mi, Path::new("meminfo")).unwrap();
        assert_eq!(m.total, 1_024_000);
        assert_eq!(m.working_set(), (1000 - 200 - 100) * 1024);
        assert_eq!(m.anon, 300 * 1024);
        assert!(parse_meminfo("junk", Path::new("meminfo")).is_err());
    }

    #[test]
    fn pid_stat_with_odd_comm() {
        let line = "42 (a b) c)) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 0 0 20 0 1 0 5555 1000 10 18446744073709551615";
        let s = parse_pid_stat(line).unwrap();
        assert_eq!(s.comm, "a b) c)");
        assert_eq!((s.ppid, s.utime, s.stime, s.starttime), (7, 11, 22, 5555));
        assert!(parse_pid_stat("garbage").is_none());
        assert_eq!(split_cmdline(b"a\0b c\0"), vec!["a", "b c"]);
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn net_and_disk() {
        let net = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0\n";
        let v = parse_net_dev(net);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].rx_bytes, v[0].tx_bytes, v[0].tx_errs), (1000, 2000, 2));
        let disk = " 254 0 vda 100 0 800 50 200 0 1600 70 0 90 120 0 0 0 0\n 7 0 loop0 1 0 2 0 0 0 0 0 0 0 0\n";
        let d = parse_diskstats(disk);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].read_bytes, d[0].write_bytes, d[0].io_time_ms), (800 * 512, 1600 * 512, 90));
    }

    #[test]
    fn self_usage_is_positive() {
        let (_cpu, rss) = self_usage();
        assert!(rss > 1 << 20);
    }
}
