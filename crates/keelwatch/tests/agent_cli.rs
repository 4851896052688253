//! `keelwatch agent run` through the real binary: one host-mode round to stdout, log
//! collection to a file with a namespace filter, process events, and usage errors.

use std::process::Command;

fn keelwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keelwatch"))
}

fn parse_rows(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn once_to_stdout_emits_node_perf_rows() {
    let t = tempfile::tempdir().unwrap();
    let out = keelwatch()
        .args(["agent", "run", "--mode", "host", "--once", "--once-window", "300ms", "--no-cgroups"])
        .args(["--node-name", "cli-node", "--cluster-id", "c1", "--output", "stdout"])
        .arg("--state-dir")
        .arg(t.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = parse_rows(&out.stdout);
    let counters: Vec<&str> =
        rows.iter().filter(|r| r["Type"] == "Perf").map(|r| r["CounterName"].as_str().unwrap()).collect();
    for c in [
        "cpuUsageNanoCores",
        "memoryWorkingSetBytes",
        "memoryRssBytes",
        "restartTimeEpoch",
        "cpuAllocatableNanoCores",
        "memoryAllocatableBytes",
        "cpuCapacityNanoCores",
        "memoryCapacityBytes",
    ] {
        assert!(counters.contains(&c), "missing K8SNode counter {c}: {counters:?}");
    }
    let r = rows.iter().find(|r| r["Type"] == "Perf").unwrap();
    assert_eq!(r["ObjectName"], "K8SNode");
    assert_eq!(r["InstanceName"], "c1/cli-node");
    assert_eq!(r["Computer"], "cli-node");
    assert!(rows.iter().any(|r| r["Type"] == "InsightsMetrics" && r["Namespace"] == "container.azm.ms/disk"));
}

#[test]
fn logs_to_file_with_namespace_filter() {
    let t = tempfile::tempdir().unwrap();
    let pods = t.path().join("pods");
    for (ns, msg) in [("prod", r#"{"level":"error","msg":"boom"}"#), ("kube-system", "hidden")] {
        let d = pods.join(format!("{ns}_p_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/c"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("0.log"), format!("2026-11-27T09:00:00Z stdout F {msg}\n")).unwrap();
    }
    let out_file = t.path().join("out.ndjson");
    let out = keelwatch()
        .args(["agent", "run", "--once", "--no-metrics", "--exclude-namespace", "kube-*"])
        .arg("--log-dir")
        .arg(&pods)
        .arg("--output")
        .arg(format!("file:{}", out_file.display()))
        .arg("--state-dir")
        .arg(t.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = parse_rows(&std::fs::read(&out_file).unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Type"], "ContainerLogV2");
    assert_eq!(rows[0]["PodNamespace"], "prod");
    assert_eq!(rows[0]["LogMessage"]["msg"], "boom");
    assert_eq!(rows[0]["LogLevel"], "ERROR");
    // A second run resumes from the checkpoint: nothing is repeated.
    let again = keelwatch()
        .args(["agent", "run", "--once", "--no-metrics"])
        .arg("--log-dir")
        .arg(&pods)
        .arg("--output")
        .arg(format!("file:{}", out_file.display()))
        .arg("--state-dir")
        .arg(t.path().join("state"))
        .output()
        .unwrap();
    assert!(again.status.success());
    let rows = parse_rows(&std::fs::read(&out_file).unwrap());
    assert_eq!(rows.len(), 2, "only the newly included kube-system line is added: {rows:?}");
}

#[test]
fn usage_errors_exit_2() {
    let t = tempfile::tempdir().unwrap();
    for args in [
        vec!["--interval", "10ms"],
        vec!["--output", "kafka://x"],
        // No node name: NODE_NAME (downward API) unset and no --node-name.
        vec!["--mode", "kubernetes"],
        // Label rules need pod metadata (kubernetes mode).
        vec!["--include-label", "app=web"],
        vec!["--buffer-max-bytes", "12XB"],
        // The kubelet pod source is a kubernetes-mode source, and its flags need it.
        vec!["--pods-from", "kubelet"],
        vec!["--mode", "kubernetes", "--node-name", "n1", "--kubelet-insecure-skip-tls-verify"],
        vec![
            "--mode",
            "kubernetes",
            "--node-name",
            "n1",
            "--pods-from",
            "kubelet",
            "--kubelet-ca-file",
            "/ca.crt",
            "--kubelet-insecure-skip-tls-verify",
        ],
    ] {
        let out = keelwatch()
            .env_remove("NODE_NAME")
            .env_remove("KEELWATCH_NODE_NAME")
            .args(["agent", "run", "--once", "--no-metrics"])
            .args(&args)
            .arg("--state-dir")
            .arg(t.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty());
    }
    let out = keelwatch()
        .args(["agent", "run", "--once", "--cgroup-root"])
        .arg(t.path().join("nope"))
        .arg("--state-dir")
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cgroup-root"), "{}", String::from_utf8_lossy(&out.stderr));
}
