//! Process exec events: from the kernel proc connector (netlink `NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`, `PROC_EVENT_EXEC`; needs root or CAP_NET_ADMIN) or, when that is not
//! available, by polling `/proc` for new pids. Each exec is enriched from `/proc/<pid>`
//! (argv, exe, cwd, uid, ppid, cgroup → container id → pod/namespace/container) and emitted
//! as a [`keelwatch_detect::process::ProcessEvent`].
//!
//! Limits: enrichment races with the process — a process that exits before its `/proc`
//! entry is read is reported with `argv = [comm]` (or not at all when already reaped). The
//! connector thread runs at SCHED_FIFO priority 1 (when permitted) to win that race.
//! The connector sees every exec; polling only sees processes alive at a poll.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use keelwatch_detect::process::ProcessEvent;

use crate::error::{AgentError, Result};
use crate::k8s::{ContainerIndex, NamespaceFilter, ids_from_cgroup_path};
use crate::procfs;
use crate::selfmetrics::Stats;

/// Which process-event source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessSource {
    /// No process events.
    Off,
    /// The proc connector, falling back to polling.
    Auto,
    /// The proc connector only (error when unavailable).
    Netlink,
    /// Polling `/proc` only.
    Poll,
}

/// Settings of the process collector.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The proc root (`/proc`).
    pub proc_root: PathBuf,
    /// Node name for the events.
    pub node: String,
    /// Source selection.
    pub source: ProcessSource,
    /// Poll period for the polling source.
    pub poll_interval: Duration,
    /// Namespace filter (host processes always pass).
    pub filter: NamespaceFilter,
}

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;

/// Describes process `pid` from `/proc`. `None` when the process is already gone.
pub fn describe(proc_root: &Path, pid: u32, node: &str, index: &ContainerIndex) -> Option<ProcessEvent> {
    let dir = proc_root.join(pid.to_string());
    // cmdline first: it disappears first when a short-lived process exits.
    let cmdline = std::fs::read(dir.join("cmdline")).ok();
    let exe = std::fs::read_link(dir.join("exe")).map(|p| p.display().to_string()).unwrap_or_default();
    let ids = procfs::read_uid_ppid(proc_root, pid);
    if cmdline.is_none() && ids.is_none() {
        return None;
    }
    let (uid, ppid) = ids.unwrap_or((0, 0));
    let mut argv = procfs::split_cmdline(cmdline.as_deref().unwrap_or_default());
    if argv.is_empty()
        && let Some(st) = procfs::read_pid_stat(proc_root, pid)
    {
        argv.push(st.comm);
    }
    let cwd = std::fs::read_link(dir.join("cwd")).map(|p| p.display().to_string()).unwrap_or_default();
    let container_id = std::fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|t| t.lines().filter_map(|l| l.splitn(3, ':').nth(2)).find_map(|p| ids_from_cgroup_path(p).1));
    let known = container_id.as_deref().and_then(|id| index.container(id));
    let parent_exe = (ppid > 0)
        .then(|| std::fs::read_link(proc_root.join(ppid.to_string()).join("exe")).ok())
        .flatten()
        .map(|p| p.display().to_string());
    Some(ProcessEvent {
        time: crate::util::now_rfc3339(),
        node: node.to_string(),
        pid,
        ppid,
        uid,
        exe,
        argv,
        cwd,
        container: known.map(|c| c.name.clone()),
        pod: known.map(|c| c.pod.name.clone()),
        namespace: known.map(|c| c.pod.namespace.clone()),
        image: known
            .and_then(|c| index.pod_info(&c.pod.uid)?.container(&c.name).map(|ci| ci.image.clone()))
            .filter(|i| !i.is_empty()),
        parent_exe,
        container_id,
    })
}

struct Emitter {
    cfg: ProcessConfig,
    index: Arc<RwLock<ContainerIndex>>,
    tx: SyncSender<ProcessEvent>,
    stats: Arc<Stats>,
}

impl Emitter {
    fn exec(&self, pid: u32) {
        let ev = {
            let idx = self.index.read().unwrap_or_else(|e| e.into_inner());
            describe(&self.cfg.proc_root, pid, &self.cfg.node, &idx)
        };
        let Some(ev) = ev else { return };
        let allowed = {
            let idx = self.index.read().unwrap_or_else(|e| e.into_inner());
            match (ev.namespace.as_deref(), ev.container_id.as_deref().and_then(|id| idx.container(id))) {
                (Some(ns), Some(c)) => self.cfg.filter.allows_pod(ns, idx.labels(&c.pod.uid)),
                (Some(ns), None) => self.cfg.filter.allows_pod(ns, None),
                // Host processes pass; a container process of no known pod fails label rules.
                (None, _) => ev.container_id.is_none() || !self.cfg.filter.has_label_rules(),
            }
        };
        if !allowed {
            return;
        }
        self.stats.add("process_events", 1);
        match self.tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.stats.add("process_events_dropped", 1),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Opens a proc-connector socket subscribed to process events.
pub fn open_connector() -> Result<OwnedFd> {
    let err = |what: &str| {
        AgentError::Config(format!(
            "proc connector: {what}: {} (needs root or CAP_NET_ADMIN; use --process-source poll otherwise)",
            std::io::Error::last_os_error()
        ))
    };
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_CONNECTOR) };
    if fd < 0 {
        return Err(err("socket"));
    }
    // SAFETY: fd is a freshly created, owned descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_nl.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups = CN_IDX_PROC;
    // SAFETY: sa is a valid sockaddr_nl of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if rc < 0 {
        return Err(err("bind"));
    }
    let tv = libc::timeval { tv_sec: 0, tv_usec: 250_000 };
    let rcvbuf: libc::c_int = 4 << 20;
    // SAFETY: option values point to properly sized locals.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &rcvbuf as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
    let mut msg = Vec::with_capacity(40);
    msg.extend_from_slice(&40u32.to_ne_bytes()); // nlmsg_len
    msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // pid (kernel assigns)
    msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
    msg.extend_from_slice(&4u16.to_ne_bytes()); // len
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    // SAFETY: msg is a valid buffer of msg.len() bytes.
    let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr() as *const libc::c_void, msg.len(), 0) };
    if n < 0 {
        return Err(err("subscribe"));
    }
    Ok(fd)
}

/// Extracts the exec'd tgids from one connector datagram.
pub fn parse_exec_events(buf: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut off = 0usize;
    let u32_at = |b: &[u8], o: usize| b.get(o..o + 4).map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
    while off + NLMSG_HDRLEN <= buf.len() {
        let Some(len) = u32_at(buf, off).map(|l| l as usize) else { break };
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            break;
        }
        let msg = &buf[off..off + len];
        let ev = NLMSG_HDRLEN + CN_MSG_LEN;
        if u32_at(msg, NLMSG_HDRLEN) == Some(CN_IDX_PROC)
            && u32_at(msg, NLMSG_HDRLEN + 4) == Some(CN_VAL_PROC)
            && u32_at(msg, ev) == Some(PROC_EVENT_EXEC)
            && let Some(tgid) = u32_at(msg, ev + 20)
        {
            out.push(tgid);
        }
        off += (len + 3) & !3;
    }
    out
}

fn connector_loop(fd: OwnedFd, em: Emitter, stop: Arc<AtomicBool>) {
    // Short-lived processes exit within a millisecond of their exec: run this thread with a
    // low real-time priority so it reads /proc/<pid> before a busy CPU schedules it too late.
    // It blocks in recv between events, so it cannot starve the node. Best effort.
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: pid 0 = the calling thread; param is a valid sched_param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        tracing::debug!("cannot raise the process-event thread's priority; short-lived processes may lack argv");
    }
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    em.stats.add("process_events_dropped", 1);
                    continue;
                }
                _ => {
                    tracing::error!(error = %e, "proc connector failed; switching to /proc polling");
                    poll_loop(em, stop);
                    return;
                }
            }
        }
        for pid in parse_exec_events(&buf[..n as usize]) {
            em.exec(pid);
        }
    }
}

fn list_pids(proc_root: &Path) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    if let Ok(rd) = std::fs::read_dir(proc_root) {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
                && let Some(st) = procfs::read_pid_stat(proc_root, pid)
            {
                out.insert(pid, st.starttime);
            }
        }
    }
    out
}

fn poll_loop(em: Emitter, stop: Arc<AtomicBool>) {
    let mut seen = list_pids(&em.cfg.proc_root);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(em.cfg.poll_interval);
        let now = list_pids(&em.cfg.proc_root);
        for (pid, start) in &now {
            if seen.get(pid) != Some(start) {
                em.exec(*pid);
            }
        }
        seen = now;
    }
}

/// Starts the process collector thread; returns the source actually used.
pub fn start(
    cfg: ProcessConfig,
    index: Arc<RwLock<ContainerIndex>>,
    tx: SyncSender<ProcessEvent>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Result<(std::thread::JoinHandle<()>, ProcessSource)> {
    let connector = match cfg.source {
        ProcessSource::Off => return Err(AgentError::Config("process events are off".into())),
        ProcessSource::Poll => None,
        ProcessSource::Netlink => Some(open_connector()?),
        ProcessSource::Auto => match open_connector() {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::warn!("{e}; falling back to /proc polling (short-lived processes may be missed)");
                None
            }
        },
    };
    let used = if connector.is_some() { ProcessSource::Netlink } else { ProcessSource::Poll };
    let em = Emitter { cfg, index, tx, stats };
    let h = std::thread::Builder::new()
        .name("agent-process".into())
        .spawn(move || match connector {
            Some(fd) => connector_loop(fd, em, stop),
            None => poll_loop(em, stop),
        })
        .map_err(|e| AgentError::Config(format!("cannot start the process thread: {e}")))?;
    Ok((h, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connector_datagram() {
        let mut m = Vec::new();
        let len = (NLMSG_HDRLEN + CN_MSG_LEN + 24) as u32;
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&PROC_EVENT_EXEC.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]); // cpu + timestamp
        m.extend_from_slice(&41u32.to_ne_bytes()); // pid
        m.extend_from_slice(&42u32.to_ne_bytes()); // tgid
        assert_eq!(parse_exec_events(&m), vec![42]);
        assert!(parse_exec_events(&m[..20]).is_empty());
        assert!(parse_exec_events(&[0xff; 3]).is_empty());
    }

    #[test]
    fn describes_self() {
        let me = std::process::id();
        let ev = describe(Path::new("/proc"), me, "n", &ContainerIndex::default()).unwrap();
        assert_eq!(ev.pid, me);
        assert!(!ev.argv.is_empty());
        assert_eq!(ev.exe, std::env::current_exe().unwrap().display().to_string());
        assert!(describe(Path::new("/proc"), u32::MAX - 1, "n", &ContainerIndex::default()).is_none());
    }
}
