//! A column added to a table's schema after data was stored: partition files written without
//! it stay readable (the column reads as null) through queries and compaction.

mod common;
use common::parquet_files;

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use keelwatch_workspace::{Workspace, arrow, datafusion};
use serde_json::json;

fn alert(i: usize, product: Option<&str>) -> serde_json::Value {
    let mut v = json!({
        "TimeGenerated": format!("2026-11-27T08:{i:02}:00Z"),
        "AlertName": format!("alert-{i}"),
        "AlertType": "K8S_Test",
        "AlertSeverity": "High",
        "ProviderName": "keelwatch",
        "Count": i,
    });
    if let Some(p) = product {
        v["ProductName"] = json!(p);
    }
    v
}

/// Rewrites a partition file as an older keelwatch wrote it: without `column`.
fn drop_column(path: &std::path::Path, column: &str) {
    let f = std::fs::File::open(path).unwrap();
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    let keep: Vec<usize> = (0..schema.fields().len()).filter(|i| schema.field(*i).name() != column).collect();
    assert_eq!(keep.len() + 1, schema.fields().len(), "{column} is in the current schema");
    let old = Arc::new(Schema::new_with_metadata(
        keep.iter().map(|i| schema.field(*i).clone()).collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    let out = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(out, old.clone(), None).unwrap();
    for b in &batches {
        w.write(&RecordBatch::try_new(old.clone(), keep.iter().map(|i| b.column(*i).clone()).collect()).unwrap())
            .unwrap();
    }
    w.close().unwrap();
}

async fn product_names(ws: &Workspace) -> Vec<(String, Option<String>)> {
    let ctx = ws.session_context(None).unwrap();
    let df = ctx.table(TableReference::bare("SecurityAlert")).await.unwrap();
    let mut out = Vec::new();
    for b in df.collect().await.unwrap() {
        let names = b.column_by_name("AlertName").unwrap().as_string::<i32>();
        let products = b.column_by_name("ProductName").unwrap().as_string::<i32>();
        for r in 0..b.num_rows() {
            out.push((names.value(r).to_string(), products.is_valid(r).then(|| products.value(r).to_string())));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn security_alert_files_without_product_name_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ws = Workspace::open(dir.path()).unwrap();
        ws.append("SecurityAlert", &[alert(1, None), alert(2, None)]).unwrap();
        ws.flush().unwrap();
    }
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 1);
    drop_column(&files[0], "ProductName");
    let ws = Workspace::open(dir.path()).unwrap();
    assert_eq!(product_names(&ws).await, [("alert-1".to_string(), None), ("alert-2".to_string(), None)]);
    // new rows with the column, in the same hour: compaction merges the old file with the new one
    ws.append("SecurityAlert", &[alert(3, Some("keelwatch threat detection"))]).unwrap();
    ws.flush().unwrap();
    assert_eq!(parquet_files(dir.path()).len(), 2);
    let want = [
        ("alert-1".to_string(), None),
        ("alert-2".to_string(), None),
        ("alert-3".to_string(), Some("keelwatch threat detection".to_string())),
    ];
    assert_eq!(product_names(&ws).await, want);
    ws.compact().unwrap();
    ws.collect_garbage(true);
    assert_eq!(parquet_files(dir.path()).len(), 1, "compaction merged the old and the new file");
    assert_eq!(product_names(&ws).await, want);
}
