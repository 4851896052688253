//! Shadow columns (`ContainerLogV2.KubernetesMetadata.podUid` stored by the workspace as a
//! hidden column): queries give exactly what extracting the member from the JSON text gives —
//! for strings, missing members, null, numbers, objects, escaped strings and keys, duplicate
//! keys, non-object values; with rows still buffered; and for files written before the shadow
//! column existed (until compaction adds it) — while tables never show the column.
mod common;

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use keelwatch_kql::QueryLimits;
use keelwatch_workspace::{FsyncPolicy, Workspace, WorkspaceOptions};

const SHADOW: &str = "__shadow__KubernetesMetadata__podUid";

/// (row key, KubernetesMetadata as sent, or None to leave it out)
const ROWS: [(i64, Option<&str>); 12] = [
    (1, Some(r#"{"podUid":"u1","podName":"a"}"#)),
    (2, Some(r#"{"podName":"b","podUid":"u2","podLabels":{"app":"x"}}"#)),
    (3, Some(r#"{"podName":"c"}"#)),
    (4, Some(r#"{"podUid":null}"#)),
    (5, Some(r#"{"podUid":42}"#)),
    (6, Some(r#"{"podUid":{"x":[1,2]},"y":1}"#)),
    (7, Some(r#"{"podUid":"tab\there \u00e9"}"#)),
    (8, Some(r#"{"pod\u0055id":"escaped-key"}"#)),
    (9, Some(r#"{"podUid":"first","podUid":"second"}"#)),
    (10, Some(r#""just a string""#)),
    (11, Some(r#"[1,2]"#)),
    (12, None),
];

/// What `tostring(KubernetesMetadata.podUid)` is for each row, extracted from the JSON text.
const EXPECTED: [&str; 12] = [
    "1|u1",
    "2|u2",
    "3|",
    "4|",
    "5|42",
    "6|{\"x\":[1,2]}",
    "7|tab\there é",
    "8|escaped-key",
    "9|first",
    "10|",
    "11|",
    "12|",
];

fn ndjson() -> String {
    let mut out = String::new();
    for (k, km) in ROWS {
        let t = format!("2026-11-27T10:{:02}:00Z", k);
        match km {
            Some(km) => {
                out.push_str(&format!(r#"{{"TimeGenerated":"{t}","PodName":"p{k}","KubernetesMetadata":{km}}}"#))
            }
            None => out.push_str(&format!(r#"{{"TimeGenerated":"{t}","PodName":"p{k}"}}"#)),
        }
        out.push('\n');
    }
    out
}

fn open(dir: &std::path::Path) -> Workspace {
    Workspace::open_with(dir, WorkspaceOptions { fsync: FsyncPolicy::Never, ..Default::default() }).unwrap()
}

fn rows(ws: &Workspace, q: &str) -> Vec<String> {
    let ctx = ws.session_context(None).unwrap();
    let r = common::rt().block_on(keelwatch_kql::execute(q, &ctx, &QueryLimits::default())).unwrap();
    let mut out: Vec<String> = r.rows_text().into_iter().map(|r| r.join("|")).collect();
    out.sort_by_key(|r| r.split('|').next().unwrap().trim_start_matches('p').parse::<i64>().unwrap_or(0));
    out
}

/// The optimised plan of `q` as KQL runs it.
fn plan(ws: &Workspace, q: &str) -> String {
    let ctx = ws.session_context(None).unwrap();
    let catalog = common::rt().block_on(keelwatch_kql::catalog_from_context(&ctx)).unwrap();
    let bound = keelwatch_kql::bind(&keelwatch_kql::parse(q).unwrap(), &catalog).unwrap();
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_optimizer_rule(Arc::new(keelwatch_kql::shadow::ShadowColumns))
        .build();
    state.optimize(&bound.plan).unwrap().display_indent().to_string()
}

const PROJECT: &str = "ContainerLogV2 | project PodName, u = tostring(KubernetesMetadata.podUid)";
const SUMMARIZE: &str =
    "ContainerLogV2 | summarize n = count() by u = tostring(KubernetesMetadata.podUid) | order by u asc";

fn expected_project() -> Vec<String> {
    EXPECTED.iter().map(|e| format!("p{e}")).collect()
}

fn expected_summarize() -> Vec<String> {
    // "" for rows 3, 4, 10, 11, 12; every other value once
    let mut v = vec!["|5".to_string()];
    for e in ["42", "escaped-key", "first", "tab\there é", "u1", "u2", "{\"x\":[1,2]}"] {
        v.push(format!("{e}|1"));
    }
    v
}

fn summarize_rows(ws: &Workspace) -> Vec<String> {
    let ctx = ws.session_context(None).unwrap();
    let r = common::rt().block_on(keelwatch_kql::execute(SUMMARIZE, &ctx, &QueryLimits::default())).unwrap();
    r.rows_text().into_iter().map(|r| r.join("|")).collect()
}

#[test]
fn shadow_column_gives_what_extraction_gives_and_stays_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let ws = open(dir.path());
    ws.append_ndjson("ContainerLogV2", ndjson().as_bytes(), 1).unwrap();
    // buffered rows (a union of files and memory: the rule leaves that to extraction)
    assert_eq!(rows(&ws, PROJECT), expected_project());
    assert_eq!(summarize_rows(&ws), expected_summarize());
    ws.flush().unwrap();
    // files only: the shadow column is read instead of the JSON text
    let p = plan(&ws, SUMMARIZE);
    assert!(p.contains(SHADOW) && !p.contains("kql_dyn_get"), "{p}");
    assert_eq!(rows(&ws, PROJECT), expected_project());
    assert_eq!(summarize_rows(&ws), expected_summarize());
    // through a filter, a renaming extend and a projection
    let q = "ContainerLogV2 | where PodName != 'p1' | extend M = KubernetesMetadata | project PodName, u = tostring(M.podUid)";
    let p = plan(&ws, q);
    assert!(p.contains(SHADOW) && !p.contains("kql_dyn_get"), "{p}");
    assert_eq!(rows(&ws, q), expected_project()[1..].to_vec());
    // in a filter (whose output must not gain the shadow column)
    let q = "ContainerLogV2 | where tostring(KubernetesMetadata.podUid) in ('u2', '42', 'first')";
    let p = plan(&ws, q);
    assert!(p.contains(SHADOW) && !p.contains("kql_dyn_get"), "{p}");
    let ctx = ws.session_context(None).unwrap();
    let r = common::rt().block_on(keelwatch_kql::execute(q, &ctx, &QueryLimits::default())).unwrap();
    assert_eq!(r.columns.len(), keelwatch_tables::table("ContainerLogV2").unwrap().columns.len());
    assert!(r.batches.iter().all(|b| b.num_columns() == r.columns.len()));
    let pods = rows(&ws, &format!("{q} | project PodName"));
    assert_eq!(pods, ["p2", "p5", "p9"]);
    // a computed dynamic value is extracted from its text, not taken from the shadow
    let q = "ContainerLogV2 | extend KubernetesMetadata = bag_pack('podUid', PodName) | project PodName, u = tostring(KubernetesMetadata.podUid)";
    assert!(plan(&ws, q).contains("kql_dyn_get"));
    assert_eq!(rows(&ws, q)[0], "p1|p1");
    // hidden from the table
    let ctx = ws.session_context(None).unwrap();
    let r = common::rt()
        .block_on(keelwatch_kql::execute("ContainerLogV2 | take 1", &ctx, &QueryLimits::default()))
        .unwrap();
    assert!(r.columns.iter().all(|(n, _)| !n.contains("shadow")));
    assert_eq!(r.columns.len(), keelwatch_tables::table("ContainerLogV2").unwrap().columns.len());
    let r = common::rt()
        .block_on(keelwatch_kql::execute("ContainerLogV2 | getschema", &ctx, &QueryLimits::default()))
        .unwrap();
    assert!(r.rows_text().iter().all(|row| row.iter().all(|c| !c.contains("shadow"))));
}

#[test]
fn files_without_the_shadow_column_are_read_by_extraction_until_compacted() {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    {
        let ws = open(dir.path());
        ws.append_ndjson("ContainerLogV2", ndjson().as_bytes(), 1).unwrap();
        ws.flush().unwrap();
    }
    // turn the file into one written before shadow columns existed: no column, no manifest note
    let mpath = dir.path().join("manifest/ContainerLogV2.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let files = m["files"].as_array_mut().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["shadow_columns"], serde_json::json!([SHADOW]));
    files[0].as_object_mut().unwrap().remove("shadow_columns");
    files[0].as_object_mut().unwrap().remove("zstd_level");
    let fpath = dir.path().join(files[0]["path"].as_str().unwrap());
    let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&fpath).unwrap()).unwrap();
    let keep: Vec<usize> = (0..r.schema().fields().len()).filter(|&i| r.schema().field(i).name() != SHADOW).collect();
    assert_eq!(keep.len() + 1, r.schema().fields().len());
    let schema = Arc::new(r.schema().project(&keep).unwrap());
    let batches: Vec<_> = r.build().unwrap().map(|b| b.unwrap().project(&keep).unwrap()).collect();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&fpath).unwrap(), schema, None).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    files[0]["bytes"] = serde_json::json!(std::fs::metadata(&fpath).unwrap().len());
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();

    let ws = open(dir.path());
    let p = plan(&ws, SUMMARIZE);
    assert!(!p.contains(SHADOW) && p.contains("kql_dyn_get"), "{p}");
    assert_eq!(rows(&ws, PROJECT), expected_project());
    assert_eq!(summarize_rows(&ws), expected_summarize());
    // compaction rewrites the old file (level 3 but no shadow column) with it
    assert_eq!(ws.compact().unwrap(), 1);
    let p = plan(&ws, SUMMARIZE);
    assert!(p.contains(SHADOW) && !p.contains("kql_dyn_get"), "{p}");
    assert_eq!(rows(&ws, PROJECT), expected_project());
    assert_eq!(summarize_rows(&ws), expected_summarize());
}
