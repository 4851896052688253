//! Process exec events: the kernel proc connector catches even a short-lived process (the
//! node EICAR test binary) and the detection catalog raises K8S.NODE_EICAR on the event;
//! the /proc polling fallback sees longer-lived processes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use keelwatch_agent::{Output, ProcessSource};
use keelwatch_detect::{Detector, Event, ProcessEvent};

struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<keelwatch_agent::RunSummary>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(source: ProcessSource, out: &std::path::Path, state: &std::path::Path) -> Running {
    let mut cfg = base_config(state, Output::File(out.to_path_buf()));
    cfg.metrics = false;
    cfg.process_source = source;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || keelwatch_agent::run(&cfg, s).expect("agent run"));
    // Give the collector time to subscribe / take its first /proc snapshot.
    std::thread::sleep(Duration::from_millis(500));
    Running { stop, thread: Some(thread) }
}

fn events(out: &std::path::Path) -> Vec<ProcessEvent> {
    read_output(out)
        .remove("process")
        .unwrap_or_default()
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a ProcessEvent line"))
        .collect()
}

/// A child stopped right after its `execve`: it asked to be traced (`PTRACE_TRACEME`), so
/// the kernel stops it with SIGTRAP once the exec succeeded, which is the moment the proc
/// connector reports it. While held, its `/proc/<pid>` (argv, exe, cwd) stays readable, so
/// the test does not depend on winning the enrichment race against a process that exits
/// within a millisecond (that race, and why the connector thread runs SCHED_FIFO, is
/// documented in `process.rs`). It is the real binary with the real arguments.
struct HeldExec {
    pid: i32,
}

impl HeldExec {
    fn spawn(bin: &std::path::Path, args: &[&str], cwd: &std::path::Path) -> HeldExec {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args).current_dir(cwd).stdout(std::process::Stdio::null());
        // SAFETY: the hook only makes one async-signal-safe system call.
        unsafe {
            cmd.pre_exec(|| {
                let null = std::ptr::null_mut::<libc::c_void>();
                if libc::ptrace(libc::PTRACE_TRACEME, 0, null, null) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // The std Child is not kept: this struct waits for (reaps) the process itself.
        let pid = cmd.spawn().expect("spawn the traced child").id() as i32;
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(rc, pid, "waitpid: {}", std::io::Error::last_os_error());
        assert!(
            libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGTRAP,
            "the child did not stop at its exec (status {status:#x})"
        );
        HeldExec { pid }
    }

    /// Lets the child run to its end; returns its exit code.
    fn release(mut self) -> i32 {
        let pid = std::mem::replace(&mut self.pid, 0);
        let null = std::ptr::null_mut::<libc::c_void>();
        // SAFETY: detaching from our own stopped tracee, then reaping it.
        unsafe {
            assert_eq!(libc::ptrace(libc::PTRACE_DETACH, pid, null, null), 0, "PTRACE_DETACH");
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            assert!(libc::WIFEXITED(status), "status {status:#x}");
            libc::WEXITSTATUS(status)
        }
    }
}

impl Drop for HeldExec {
    fn drop(&mut self) {
        if self.pid > 0 {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

#[test]
fn connector_catches_the_eicar_test_binary_and_the_catalog_alerts() {
    must_be_root("the kernel proc connector (CAP_NET_ADMIN)");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let bin = t.path().join("asc_alerttest_662jfi039n");
    std::fs::copy("/bin/echo", &bin).unwrap();
    let agent = start(ProcessSource::Netlink, &out, &t.path().join("state"));
    // The agent subscribes on its own thread; an exec before that is never reported. Prove
    // the subscription with probes until one is seen, however slow the machine is.
    let probe = t.path().join("kw_connector_probe");
    std::fs::copy("/bin/true", &probe).unwrap();
    let mut probes = Vec::new();
    let subscribed = (0..30).any(|_| {
        let held = HeldExec::spawn(&probe, &[], t.path());
        probes.push(held.pid as u32);
        let seen = wait_until(Duration::from_secs(1), || events(&out).iter().any(|e| probes.contains(&e.pid)));
        assert_eq!(held.release(), 0);
        seen
    });
    assert!(subscribed, "the agent never reported an exec of the probe within 30 s");

    let held = HeldExec::spawn(&bin, &["testing", "eicar", "pipe"], t.path());
    let mut found = None;
    let ok = wait_until(Duration::from_secs(10), || {
        found = events(&out).into_iter().find(|e| e.exe_name() == "asc_alerttest_662jfi039n");
        found.is_some()
    });
    if !ok {
        let all = events(&out);
        let near: Vec<_> = all.iter().filter(|e| e.ppid == std::process::id()).collect();
        panic!("no exec event for asc_alerttest_662jfi039n; {} events, from this process: {near:?}", all.len());
    }
    assert_eq!(held.release(), 0, "echo exits 0");
    drop(agent);
    let ev = found.unwrap();
    assert_eq!(ev.argv, vec![bin.display().to_string(), "testing".into(), "eicar".into(), "pipe".into()], "{ev:?}");
    assert_eq!(ev.exe, bin.display().to_string());
    assert_eq!(ev.cwd, t.path().display().to_string());
    assert_eq!(ev.uid, 0);
    assert_eq!(ev.ppid, std::process::id());
    assert_eq!(ev.node, "test-node");
    assert!(ev.parent_exe.as_deref().unwrap_or("").contains("process-"), "{:?}", ev.parent_exe);
    assert!(chrono::DateTime::parse_from_rfc3339(&ev.time).is_ok());

    let rules = keelwatch_detect::rules::load_rules(true, &[]).expect("built-in catalog");
    let mut d = Detector::new(rules, "local");
    let alerts = d.process(&Event::Process(ev));
    assert!(
        alerts.iter().any(|a| a.alert_type == "K8S.NODE_EICAR"),
        "no K8S.NODE_EICAR alert: {:?}",
        alerts.iter().map(|a| &a.alert_type).collect::<Vec<_>>()
    );
}

#[test]
fn polling_fallback_sees_longer_lived_processes() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let bin = t.path().join("kw_poll_probe");
    std::fs::copy("/bin/sleep", &bin).unwrap();
    let agent = start(ProcessSource::Poll, &out, &t.path().join("state"));
    let mut child = std::process::Command::new(&bin).arg("1.5").spawn().unwrap();
    let mut found = None;
    wait_for("a polled exec event", Duration::from_secs(10), || {
        found = events(&out).into_iter().find(|e| e.pid == child.id());
        found.is_some()
    });
    child.wait().unwrap();
    drop(agent);
    let ev = found.unwrap();
    assert_eq!(ev.argv, vec![bin.display().to_string(), "1.5".to_string()]);
    assert_eq!(ev.exe_name(), "kw_poll_probe");
}
