//! Errors: positions, "did you mean", limits.
mod common;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use keelwatch_kql::{ErrorKind, QueryLimits, SchemaCatalog, explain};

#[test]
fn binder_errors_name_the_column_and_suggest() {
    let e =
        explain("ContainerLogV2\n| where TimeGenerated > ago(1h)\n| where PodNmae == 'x'", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "3:9: column 'PodNmae' not found in ContainerLogV2 (did you mean 'PodName'?)");
    let e = explain("KubePodInventroy | take 1", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:1: table 'KubePodInventroy' not found (did you mean 'KubePodInventory'?)");
    // case-sensitive like KQL
    let e = explain("Perf | where countername == 'x'", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:14: column 'countername' not found in Perf (did you mean 'CounterName'?)");
    let e = explain("print foo(1)", &SchemaCatalog).unwrap_err();
    assert!(e.to_string().starts_with("1:7: unknown or unsupported function 'foo'"), "{e}");
    let e = explain("Perf | extend x = sum(CounterValue)", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:19: aggregate function 'sum' can only be used in summarize");
    let e = explain("Perf | where CounterValue + 'x' > 1", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:14: cannot apply '+' to real and string");
    let e = explain("Perf | where CounterName", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:14: where needs a bool predicate, this is string");
    let e = explain("let x = 1;\nPerf | summarize count() by bin(TimeGenerated, 0m)", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "2:48: bin size must not be zero");
}

#[test]
fn syntax_errors_have_positions() {
    let e = explain("Perf\n| where CounterValue > \n| take 5", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "3:1: expected an expression, found '|'");
    let e = explain("Perf | summarize count( by Computer", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:28: expected ')', found 'Computer'");
    let e = explain("Perf | where x == 'abc", &SchemaCatalog).unwrap_err();
    assert_eq!(e.to_string(), "1:19: unterminated string literal");
    assert_eq!(
        explain("Perf | take 1 |", &SchemaCatalog).unwrap_err().to_string(),
        "1:16: expected a tabular operator, found end of query"
    );
}

#[test]
fn explain_shows_columns_and_plan() {
    let out = explain("KubePodInventory | summarize count() by Namespace", &SchemaCatalog).unwrap();
    assert!(out.starts_with("columns:\n  Namespace: string\n  count_: long\nplan:\n"), "{out}");
    assert!(out.contains("Aggregate"), "{out}");
}

fn big_ctx(rows: i64) -> SessionContext {
    let ctx = SessionContext::new();
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![keelwatch_kql::types::arrow_field(
        "x",
        keelwatch_kql::KqlType::Long,
    )]));
    let batches: Vec<RecordBatch> = (0..rows / 100_000)
        .map(|k| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(k * 100_000..(k + 1) * 100_000))],
            )
            .unwrap()
        })
        .collect();
    ctx.register_table(
        datafusion::common::TableReference::bare("Big"),
        Arc::new(MemTable::try_new(schema, vec![batches]).unwrap()),
    )
    .unwrap();
    ctx
}

#[test]
fn time_limit_is_a_clear_error() {
    let ctx = big_ctx(2_000_000);
    let limits = QueryLimits { timeout: Duration::from_millis(1), ..Default::default() };
    let e = rt()
        .block_on(keelwatch_kql::execute(
            "Big | join kind=inner (Big) on x | summarize count() by x % 7",
            &ctx,
            &limits,
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.to_string().starts_with("query exceeded its time limit of 1ms"), "{e}");
}

#[test]
fn memory_limit_is_a_clear_error() {
    let ctx = big_ctx(1_000_000);
    let limits = QueryLimits { memory_bytes: 1 << 20, ..Default::default() };
    let e = rt()
        .block_on(keelwatch_kql::execute("Big | join kind=inner (Big | extend y = x) on x | count", &ctx, &limits))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::MemoryLimit, "{e}");
    assert!(e.to_string().starts_with("query exceeded its memory limit of 1 MiB"), "{e}");
    // the same query fits in the default limit
    let r = rt()
        .block_on(keelwatch_kql::execute(
            "Big | join kind=inner (Big | extend y = x) on x | count",
            &ctx,
            &QueryLimits::default(),
        ))
        .unwrap();
    assert_eq!(r.rows_text(), vec![vec!["1000000".to_string()]]);
}
