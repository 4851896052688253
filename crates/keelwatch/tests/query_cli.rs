//! `keelwatch query`: runs the real binary on a small demo workspace and checks output formats
//! and exit codes (0 ok, 2 query errors).

use std::path::Path;
use std::process::{Command, Output};

fn keelwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keelwatch"))
        .args(args)
        .env_remove("KEELWATCH_WORKSPACE")
        .output()
        .expect("run keelwatch")
}

fn demo(dir: &Path) {
    let d = dir.to_str().unwrap();
    let out = keelwatch(&[
        "workspace",
        "demo",
        "--workspace",
        d,
        "--nodes",
        "2",
        "--pods",
        "4",
        "--hours",
        "1",
        "--log-rate",
        "30",
        "--end",
        "2026-01-01T12:00:00Z",
    ]);
    assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn query_formats_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    demo(&ws);
    let w = ws.to_str().unwrap();

    // table output
    let out = keelwatch(&["query", "--workspace", w, "KubeNodeInventory | distinct Computer | sort by Computer asc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].trim(), "Computer");
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[3], "(2 rows)");

    // json: the Log Analytics response shape
    let out = keelwatch(&[
        "query",
        "--workspace",
        w,
        "-o",
        "json",
        "KubePodInventory | summarize n = dcount(Name) | extend k = 'x'",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["tables"][0];
    assert_eq!(t["name"], "PrimaryResult");
    assert_eq!(t["columns"], serde_json::json!([{"name": "n", "type": "long"}, {"name": "k", "type": "string"}]));
    assert_eq!(t["rows"], serde_json::json!([[4, "x"]]));

    // csv, query from a file
    let qf = tmp.path().join("q.kql");
    std::fs::write(&qf, "// pods per node\nKubePodInventory\n| summarize Pods = dcount(Name) by Computer\n| sort by Computer asc\n| extend Note = 'a,b'").unwrap();
    let out = keelwatch(&["query", "--workspace", w, "-o", "csv", "-f", qf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "Computer,Pods,Note");
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[1].ends_with(",\"a,b\""), "{csv}");

    // --timespan restricts TimeGenerated (the demo ended in the past, so PT1H sees nothing)
    let out = keelwatch(&["query", "--workspace", w, "--timespan", "PT1H", "KubePodInventory | count"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().lines().any(|l| l.trim() == "0"));

    // a binding error: exit 2 with line:col
    let out = keelwatch(&["query", "--workspace", w, "ContainerLogV2\n| where PodNmae == 'x'"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap().trim(),
        "error: 2:9: column 'PodNmae' not found in ContainerLogV2 (did you mean 'PodName'?)"
    );
}

#[test]
fn explain_needs_no_workspace() {
    let out =
        keelwatch(&["query", "--explain", "KubePodInventory | summarize count() by bin(TimeGenerated, 5m), Namespace"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("columns:\n  TimeGenerated: datetime\n  Namespace: string\n  count_: long\nplan:\n"),
        "{text}"
    );
    let out = keelwatch(&["query", "--explain", "KubePodInventory | where"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap().trim(),
        "error: 1:25: expected an expression, found end of query"
    );
    let out = keelwatch(&["query", "--workspace", "/nonexistent/ws", "KubePodInventory | count"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_reads_schemaless_bag_unpack_keys_from_the_workspace() {
    let q = "ContainerLogV2 | evaluate bag_unpack(LogMessage) | project PodName, level";
    // no workspace: the columns cannot be known; the error says why and where
    let out = keelwatch(&["query", "--workspace", "/nonexistent/ws", "--explain", q]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: 1:18: evaluate bag_unpack without an output schema"), "{err}");
    // with one: the keys of the stored JSON log lines become columns
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    demo(&ws);
    let out = keelwatch(&["query", "--workspace", ws.to_str().unwrap(), "--explain", q]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("columns:\n  PodName: string\n  level: string\nplan:\n"), "{text}");
    // and the query runs
    let out =
        keelwatch(&["query", "--workspace", ws.to_str().unwrap(), &format!("{q} | where isnotempty(level) | count")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
