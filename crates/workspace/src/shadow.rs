//! Shadow columns: hidden, typed copies of members of dynamic columns whose structure the agent
//! defines (as Parquet Variant shredding or ClickHouse's JSON type do).
//!
//! `ContainerLogV2.KubernetesMetadata` is JSON text, so `tostring(KubernetesMetadata.podUid)`
//! scans the text of every row; that extraction was most of the time of the benchmark's
//! KubePodInventory ↔ ContainerLogV2 join (perf). At ingest the workspace therefore also stores
//! the member in a hidden column (after the table's own columns), holding per row exactly what
//! KQL member access gives (`keelwatch_jsonscan::member_text`, or the tree walk where the
//! scanner cannot answer): normalised dynamic text, null when the member or the value is
//! missing or null. The field carries `keelwatch.shadow_of` / `keelwatch.shadow_path`; KQL
//! hides such fields and reads one instead of extracting the member when a query asks for it.
//!
//! Shadow values are derived data: the WAL holds rows without them (they are recomputed at
//! recovery), files written before a shadow existed lack it (the manifest lists each file's
//! shadows; a snapshot exposes a shadow only when every file has it, and compaction adds it).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use keelwatch_jsonscan::{SHADOW_OF_METADATA_KEY, SHADOW_PATH_METADATA_KEY, Step, Trust, member_text};
use keelwatch_tables::KQL_TYPE_METADATA_KEY;

use crate::error::Result;

/// `(table, dynamic column, member)` of every shadow column.
const SHADOWS: &[(&str, &str, &str)] = &[("ContainerLogV2", "KubernetesMetadata", "podUid")];

/// Name of the shadow column of `column.member`.
pub(crate) fn shadow_name(column: &str, member: &str) -> String {
    format!("__shadow__{column}__{member}")
}

/// The shadow fields of a table, `(field, index of the dynamic column)`.
fn shadow_fields(table: &str, visible: &Schema) -> Vec<(Field, usize)> {
    SHADOWS
        .iter()
        .filter(|(t, _, _)| *t == table)
        .filter_map(|(_, col, member)| {
            let i = visible.index_of(col).ok()?;
            let md = HashMap::from([
                (KQL_TYPE_METADATA_KEY.to_string(), "dynamic".to_string()),
                (SHADOW_OF_METADATA_KEY.to_string(), col.to_string()),
                (SHADOW_PATH_METADATA_KEY.to_string(), member.to_string()),
            ]);
            Some((Field::new(shadow_name(col, member), DataType::Utf8, true).with_metadata(md), i))
        })
        .collect()
}

/// The schema a table's rows are buffered and written with: its own columns, then its shadow
/// columns. The same `Arc` as `visible` when the table has none.
pub(crate) fn stored_schema(table: &str, visible: &SchemaRef) -> SchemaRef {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, SchemaRef>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut g = cache.lock().unwrap_or_else(|e| e.into_inner());
    g.entry(table.to_string())
        .or_insert_with(|| {
            let extra = shadow_fields(table, visible);
            if extra.is_empty() {
                return visible.clone();
            }
            let mut fields: Vec<Field> = visible.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.extend(extra.into_iter().map(|(f, _)| f));
            Arc::new(Schema::new_with_metadata(fields, visible.metadata().clone()))
        })
        .clone()
}

/// Names of the shadow columns in `schema`.
pub(crate) fn shadow_columns(schema: &Schema) -> Vec<String> {
    schema.fields().iter().filter(|f| keelwatch_jsonscan::is_shadow(f.metadata())).map(|f| f.name().clone()).collect()
}

/// Extends a batch with the table's own columns (`visible` schema) to the `stored` schema by
/// computing the shadow columns. Returns it unchanged when it already has them.
pub(crate) fn add(table: &str, stored: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    let n = batch.num_columns();
    if n == stored.fields().len() {
        return Ok(RecordBatch::try_new(stored.clone(), batch.columns().to_vec())?);
    }
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    for (f, base) in shadow_fields(table, &batch.schema()) {
        let member = f.metadata().get(SHADOW_PATH_METADATA_KEY).cloned().unwrap_or_default();
        cols.push(member_column(batch.column(base).as_ref(), &member));
    }
    Ok(RecordBatch::try_new(stored.clone(), cols)?)
}

/// `column.member` for every row of a dynamic (valid JSON text) column.
fn member_column(column: &dyn Array, member: &str) -> ArrayRef {
    let Some(text) = column.as_string_opt::<i32>() else {
        return arrow::array::new_null_array(&DataType::Utf8, column.len());
    };
    let path = [Step::Key(member)];
    let mut out = StringBuilder::with_capacity(text.len(), text.len() * 16);
    for t in text.iter() {
        let Some(t) = t else {
            out.append_null();
            continue;
        };
        match member_text(t, &path, Trust::Valid) {
            Some(Some(v)) => out.append_value(v),
            Some(None) => out.append_null(),
            // what KQL does where the scanner cannot answer: walk the parsed value
            None => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(serde_json::Value::Object(m)) => match m.get(member) {
                    None | Some(serde_json::Value::Null) => out.append_null(),
                    Some(v) => out.append_value(v.to_string()),
                },
                _ => out.append_null(),
            },
        }
    }
    Arc::new(out.finish())
}
