//! Small hand-built tables (Container Insights shapes) in a DataFusion `SessionContext`, and
//! helpers that run KQL and return the result as text cells.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, DurationNanosecondArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use keelwatch_kql::timefmt::parse_datetime;
use keelwatch_kql::types::arrow_field;
use keelwatch_kql::{KqlType, QueryLimits, QueryResult};

pub fn ts(s: &str) -> i64 {
    parse_datetime(s).unwrap()
}

fn strs(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.iter().map(|s| if *s == "<null>" { None } else { Some(*s) }).collect::<Vec<_>>()))
}

fn table(ctx: &SessionContext, name: &str, cols: Vec<(&str, KqlType, ArrayRef)>) {
    let fields: Vec<Field> = cols.iter().map(|(n, t, _)| arrow_field(n, *t)).collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, HashMap::new()));
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, _, a)| a).collect()).unwrap();
    ctx.register_table(
        datafusion::common::TableReference::bare(name),
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
}

fn times(v: &[&str]) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(v.iter().map(|s| ts(s)).collect::<Vec<_>>()).with_timezone("UTC"))
}

/// Tables: Pods (KubePodInventory-like), Logs (ContainerLogV2-like), Nodes, N (numbers).
pub fn ctx() -> SessionContext {
    let ctx = SessionContext::new();
    table(
        &ctx,
        "Pods",
        vec![
            (
                "TimeGenerated",
                KqlType::DateTime,
                times(&[
                    "2024-01-01T00:00:00Z",
                    "2024-01-01T00:05:00Z",
                    "2024-01-01T00:10:00Z",
                    "2024-01-01T01:00:00Z",
                    "2024-01-01T01:30:00Z",
                ]),
            ),
            ("Name", KqlType::String, strs(&["web-1", "web-2", "db-1", "web-1", "dns-1"])),
            ("Namespace", KqlType::String, strs(&["default", "default", "data", "default", "kube-system"])),
            ("PodStatus", KqlType::String, strs(&["Running", "Running", "Failed", "Running", "Pending"])),
            ("ContainerRestartCount", KqlType::Int, Arc::new(Int32Array::from(vec![0, 3, 5, 1, 0]))),
            ("Computer", KqlType::String, strs(&["node-a", "node-b", "node-a", "node-a", "node-b"])),
            (
                "PodLabel",
                KqlType::String,
                strs(&[r#"[{"app":"web"}]"#, r#"[{"app":"web"}]"#, r#"[{"app":"db"}]"#, r#"[{"app":"web"}]"#, "[]"]),
            ),
        ],
    );
    table(
        &ctx,
        "Logs",
        vec![
            (
                "TimeGenerated",
                KqlType::DateTime,
                times(&[
                    "2024-01-01T00:01:00Z",
                    "2024-01-01T00:02:00Z",
                    "2024-01-01T00:03:00Z",
                    "2024-01-01T00:07:00Z",
                    "2024-01-01T01:10:00Z",
                ]),
            ),
            ("PodName", KqlType::String, strs(&["web-1", "web-1", "web-2", "db-1", "dns-1"])),
            ("PodNamespace", KqlType::String, strs(&["default", "default", "default", "data", "kube-system"])),
            (
                "LogMessage",
                KqlType::Dynamic,
                strs(&[
                    r#"{"level":"error","msg":"db timeout","code":500}"#,
                    r#""GET /healthz 200""#,
                    r#""An Error occurred in handler""#,
                    r#"{"level":"info","msg":"checkpoint","tags":["a","b"]}"#,
                    r#""errors=0 ok""#,
                ]),
            ),
            ("LogLevel", KqlType::String, strs(&["ERROR", "INFO", "ERROR", "INFO", "INFO"])),
        ],
    );
    table(
        &ctx,
        "Nodes",
        vec![
            (
                "TimeGenerated",
                KqlType::DateTime,
                times(&["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]),
            ),
            ("Computer", KqlType::String, strs(&["node-a", "node-b", "node-c"])),
            ("Status", KqlType::String, strs(&["Ready", "NotReady", "Ready"])),
            ("Name", KqlType::String, strs(&["a", "b", "c"])),
        ],
    );
    table(
        &ctx,
        "N",
        vec![
            ("x", KqlType::Long, Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), Some(4), None]))),
            ("y", KqlType::Real, Arc::new(Float64Array::from(vec![1.5, 2.5, -0.5, 10.0, 0.0]))),
            ("s", KqlType::String, strs(&["a", "B", "a", "c", "<null>"])),
            ("b", KqlType::Bool, Arc::new(BooleanArray::from(vec![true, false, true, false, true]))),
            (
                "d",
                KqlType::Dynamic,
                strs(&[r#"{"k":1,"arr":[10,20]}"#, r#"{"k":2}"#, "[1,2,3]", r#""text""#, "<null>"]),
            ),
            (
                "t",
                KqlType::TimeSpan,
                Arc::new(DurationNanosecondArray::from(vec![
                    60_000_000_000i64,
                    3_600_000_000_000,
                    0,
                    1,
                    86_400_000_000_000,
                ])),
            ),
        ],
    );
    ctx
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

pub fn exec(q: &str) -> Result<QueryResult, keelwatch_kql::KqlError> {
    let c = ctx();
    rt().block_on(keelwatch_kql::execute(q, &c, &QueryLimits::default()))
}

/// Runs `q`; returns header (name:type) and rows as text.
pub fn run(q: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let r = exec(q).unwrap_or_else(|e| panic!("query failed: {q}\n{e}"));
    let header = r.columns.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    (header, r.rows_text())
}

/// Rows joined as `a|b|c` lines, for compact assertions.
pub fn lines(q: &str) -> Vec<String> {
    run(q).1.into_iter().map(|r| r.join("|")).collect()
}

pub fn header(q: &str) -> String {
    run(q).0.join(",")
}

pub fn err(q: &str) -> String {
    match exec(q) {
        Ok(_) => panic!("expected an error for {q}"),
        Err(e) => e.to_string(),
    }
}
