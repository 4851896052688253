//! The query corpus (`tests/corpus/queries.kql`, 70+ Container Insights / Sentinel-style
//! queries) runs on a deterministic `workspace demo` cluster; each result is compared with its
//! golden file `tests/corpus/expected/<name>.out` (rows sorted, reals rounded to 4 places, so
//! parallel execution order cannot make it flaky). Every query must also pass `explain` against
//! the schemas. Regenerate the golden files with `KQL_CORPUS_UPDATE=1 cargo test -p
//! keelwatch-kql --test corpus` and review the diff.
mod common;

use std::path::PathBuf;

use keelwatch_kql::{KqlType, QueryLimits, SchemaCatalog, explain};
use keelwatch_workspace::demo::{DemoOptions, generate};
use keelwatch_workspace::{FsyncPolicy, Workspace, WorkspaceOptions};

fn corpus() -> Vec<(String, String)> {
    let text = include_str!("corpus/queries.kql");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("// name: ") {
            out.push((name.trim().to_string(), String::new()));
        } else if let Some((_, q)) = out.last_mut() {
            q.push_str(line);
            q.push('\n');
        }
    }
    out
}

fn normalize(r: &keelwatch_kql::QueryResult) -> String {
    let mut rows: Vec<String> = r
        .rows_text()
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(&r.columns)
                .map(|(c, (_, t))| match (t, c.parse::<f64>()) {
                    (KqlType::Real, Ok(v)) => {
                        let s = format!("{v:.4}");
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    }
                    _ => c.clone(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    rows.sort();
    let header: Vec<String> = r.columns.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    let mut s = format!("{}\n", header.join(" | "));
    for row in &rows {
        s.push_str(row);
        s.push('\n');
    }
    s.push_str(&format!("({} rows)\n", rows.len()));
    s
}

#[test]
fn corpus_runs_on_demo_workspace_with_golden_results() {
    let queries = corpus();
    assert!(queries.len() >= 60, "corpus has {} queries", queries.len());
    let dir = tempfile::tempdir().unwrap();
    let end = chrono::DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().to_utc();
    let opts = DemoOptions { nodes: 3, pods: 12, hours: 3, end, seed: 42, log_rate: 30, ..Default::default() };
    {
        let ws = Workspace::open_with(dir.path(), WorkspaceOptions { fsync: FsyncPolicy::Never, ..Default::default() })
            .unwrap();
        generate(&opts, &mut |table, rows| ws.append(table, &rows).map(|_| ())).unwrap();
        ws.flush().unwrap();
    }
    let ws = Workspace::open_read_only(dir.path()).unwrap();
    let ctx = ws.session_context(None).unwrap();
    let limits = QueryLimits { now_ns: end.timestamp_nanos_opt(), ..Default::default() };
    let rt = common::rt();
    let update = std::env::var_os("KQL_CORPUS_UPDATE").is_some();
    let expected_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/expected"));
    let mut failures = Vec::new();
    let mut empty = 0;
    for (name, q) in &queries {
        if let Err(e) = explain(q, &SchemaCatalog) {
            failures.push(format!("{name}: explain failed: {e}"));
            continue;
        }
        let r = match rt.block_on(keelwatch_kql::execute(q, &ctx, &limits)) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: execute failed: {e}"));
                continue;
            }
        };
        if r.row_count() == 0 {
            empty += 1;
        }
        let got = normalize(&r);
        let path = expected_dir.join(format!("{name}.out"));
        if update {
            std::fs::create_dir_all(&expected_dir).unwrap();
            std::fs::write(&path, &got).unwrap();
        } else {
            match std::fs::read_to_string(&path) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!("{name}: result differs\n--- expected\n{want}--- got\n{got}")),
                Err(e) => failures.push(format!("{name}: missing golden file {}: {e}", path.display())),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus queries failed:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );
    // the demo story makes almost every query return rows; a few look for things that must not exist
    assert!(empty <= 4, "{empty} corpus queries returned no rows");
}
