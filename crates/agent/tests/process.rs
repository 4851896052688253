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

#[test]
fn connector_catches_the_eicar_test_binary_and_the_catalog_alerts() {
    must_be_root("the kernel proc connector (CAP_NET_ADMIN)");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.ndjson");
    let bin = t.path().join("asc_alerttest_662jfi039n");
    std::fs::copy("/bin/echo", &bin).unwrap();
    let agent = start(ProcessSource::Netlink, &out, &t.path().join("state"));
    let status = std::process::Command::new(&bin)
        .args(["testing", "eicar", "pipe"])
        .current_dir(t.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
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
