//! Criterion benches: parse+bind of the corpus, and execution of the three query
//! shapes on an in-memory ContainerLogV2-like table (1 M rows by default;
//! `KQL_BENCH_ROWS` overrides). Run: `cargo bench -p keelwatch-kql`.
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{RecordBatch, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use keelwatch_kql::types::arrow_field;
use keelwatch_kql::{KqlType, QueryLimits, SchemaCatalog};

fn corpus() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in include_str!("../tests/corpus/queries.kql").lines() {
        if line.starts_with("// name: ") {
            out.push(String::new());
        } else if let Some(q) = out.last_mut() {
            q.push_str(line);
            q.push('\n');
        }
    }
    out
}

fn logs_ctx(rows: usize) -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        arrow_field("TimeGenerated", KqlType::DateTime),
        arrow_field("PodNamespace", KqlType::String),
        arrow_field("PodName", KqlType::String),
        arrow_field("LogMessage", KqlType::Dynamic),
    ]));
    let namespaces = ["default", "kube-system", "payments", "web", "batch", "monitoring"];
    let messages = [
        "\"GET /healthz 200\"",
        "\"connection refused: error dialing backend\"",
        "{\"level\":\"info\",\"msg\":\"ok\"}",
        "\"request served in 12ms\"",
    ];
    let start = 1_767_225_600_000_000_000i64;
    let mut batches = Vec::new();
    let chunk = 65_536;
    let mut i = 0;
    while i < rows {
        let n = chunk.min(rows - i);
        let ts: Vec<i64> = (i..i + n).map(|k| start + (k as i64) * 21_600_000_000_000 / rows as i64).collect();
        let ns: Vec<&str> = (i..i + n).map(|k| namespaces[k % namespaces.len()]).collect();
        let pods: Vec<String> = (i..i + n).map(|k| format!("pod-{}", k % 300)).collect();
        let msgs: Vec<&str> = (i..i + n).map(|k| messages[(k * 7) % messages.len()]).collect();
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
                    Arc::new(StringArray::from(ns)),
                    Arc::new(StringArray::from(pods)),
                    Arc::new(StringArray::from(msgs)),
                ],
            )
            .unwrap(),
        );
        i += n;
    }
    let ctx = SessionContext::new();
    ctx.register_table(
        TableReference::bare("ContainerLogV2"),
        Arc::new(MemTable::try_new(schema, vec![batches]).unwrap()),
    )
    .unwrap();
    ctx
}

fn benches(c: &mut Criterion) {
    let qs = corpus();
    c.bench_function("parse_bind_corpus", |b| {
        b.iter(|| {
            for q in &qs {
                let parsed = keelwatch_kql::parse(q).unwrap();
                keelwatch_kql::bind(&parsed, &SchemaCatalog).unwrap();
            }
        })
    });
    let rows: usize = std::env::var("KQL_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let ctx = logs_ctx(rows);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut g = c.benchmark_group(format!("exec_{rows}_rows"));
    g.sample_size(10);
    for (name, q) in [
        ("summarize_bin_5m_namespace", "ContainerLogV2 | summarize count() by bin(TimeGenerated, 5m), PodNamespace"),
        ("has_error_count", "ContainerLogV2 | where LogMessage has \"error\" | count"),
        ("contains_error_count", "ContainerLogV2 | where LogMessage contains \"error\" | count"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| rt.block_on(keelwatch_kql::execute(q, &ctx, &QueryLimits::default())).unwrap())
        });
    }
    g.finish();
}

criterion_group!(kql, benches);
criterion_main!(kql);
