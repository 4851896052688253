//! Member access on dynamic columns marked as valid JSON (`keelwatch.json = valid`, as the
//! workspace marks its tables) stops at the member; unmarked columns keep full validation, so
//! invalid text stays "not a property bag". The marker must reach the UDF through joins and
//! aggregations, where the workspace benchmark uses it.
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use keelwatch_jsonscan::{VALID_JSON_METADATA_KEY, VALID_JSON_METADATA_VALUE};
use keelwatch_kql::types::arrow_field;
use keelwatch_kql::{KqlType, QueryLimits};

const DOCS: [&str; 5] = [
    r#"{"podUid":"u1","image":"a"}"#,
    r#"{"image":"b","podUid":"u2","x":[1,{"y":2}]}"#,
    r#"{"image":"c"}"#,
    // damaged after the member: only a trusting scan finds the member
    r#"{"podUid":"u3","image":"#,
    r#"{"podUid":"u1","labels":{"app":"web"}}"#,
];

fn register(ctx: &SessionContext, name: &str, marked: bool) {
    let mut d = arrow_field("d", KqlType::Dynamic);
    if marked {
        let mut md = d.metadata().clone();
        md.insert(VALID_JSON_METADATA_KEY.to_string(), VALID_JSON_METADATA_VALUE.to_string());
        d = d.with_metadata(md);
    }
    let fields: Vec<Field> = vec![arrow_field("k", KqlType::Long), d];
    let schema = Arc::new(Schema::new_with_metadata(fields, HashMap::new()));
    let k: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from((1..=DOCS.len() as i64).collect::<Vec<_>>()));
    let d: ArrayRef = Arc::new(StringArray::from(DOCS.to_vec()));
    let batch = RecordBatch::try_new(schema.clone(), vec![k, d]).unwrap();
    ctx.register_table(TableReference::bare(name), Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()))
        .unwrap();
}

fn rows(q: &str) -> Vec<String> {
    let ctx = SessionContext::new();
    register(&ctx, "Plain", false);
    register(&ctx, "Marked", true);
    let r = common::rt().block_on(keelwatch_kql::execute(q, &ctx, &QueryLimits::default())).unwrap();
    let mut out: Vec<String> = r.rows_text().into_iter().map(|r| r.join("|")).collect();
    out.sort();
    out
}

#[test]
fn unmarked_text_is_validated_whole() {
    assert_eq!(rows("Plain | project k, u = tostring(d.podUid)"), ["1|u1", "2|u2", "3|", "4|", "5|u1"]);
}

#[test]
fn marked_text_gives_the_same_members_and_stops_at_them() {
    // rows 1, 2, 3 and 5 are valid: identical answers; row 4 shows the scan stopped early
    assert_eq!(rows("Marked | project k, u = tostring(d.podUid)"), ["1|u1", "2|u2", "3|", "4|u3", "5|u1"]);
    assert_eq!(rows("Marked | project k, y = tostring(d.x[1].y) | where k < 4"), ["1|", "2|2", "3|"]);
    assert_eq!(rows("Marked | project k, a = tostring(d.labels.app) | where k == 5"), ["5|web"]);
}

#[test]
fn the_marker_survives_joins_and_aggregations() {
    let q = "Marked | distinct k | join kind=inner (Marked | summarize n = count() by k, u = tostring(d.podUid)) on k \
             | summarize sum(n) by u";
    assert_eq!(rows(q), ["u1|2", "u2|1", "u3|1", "|1"]);
    let q = "Plain | join kind=inner (Marked | project k, m = d) on k | project k, u = tostring(m.podUid)";
    assert_eq!(rows(q), ["1|u1", "2|u2", "3|", "4|u3", "5|u1"]);
}
