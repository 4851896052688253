//! The read side: every table registered in a DataFusion [`SessionContext`].
//!
//! Each stored table is registered under its exact, case-sensitive name
//! (`TableReference::bare`) as a provider over a consistent snapshot: the committed Parquet
//! files (a `ListingTable` over exactly those files, with the canonical schema) unioned with the
//! rows still in memory (a `MemTable`). With a timespan, files outside it are skipped and a
//! filter `TimeGenerated between (start .. end)` (inclusive) is applied. The compatibility views
//! `ContainerLog` and `AzureDiagnostics` are registered as DataFusion views over those
//! providers (see [`crate::views`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{MemTable, ViewTable, provider_as_source};
use datafusion::logical_expr::{LogicalPlanBuilder, ident, lit};
use datafusion::prelude::{SessionConfig, SessionContext};

use keelwatch_jsonscan::{VALID_JSON_METADATA_KEY, VALID_JSON_METADATA_VALUE};
use keelwatch_tables::ColumnType;

use crate::error::Result;
use crate::store::{TableSnapshot, Workspace};

/// A closed time range `[start, end]` applied to TimeGenerated.
pub type Timespan = (DateTime<Utc>, DateTime<Utc>);

fn ts_lit(t: DateTime<Utc>) -> ScalarValue {
    ScalarValue::TimestampNanosecond(Some(t.timestamp_nanos_opt().unwrap_or(i64::MAX)), Some("UTC".into()))
}

/// The schema queries see: the table's, with every dynamic field marked as holding only valid
/// JSON text ([`keelwatch_jsonscan::VALID_JSON_METADATA_KEY`]). That is true of everything the
/// workspace stores: ingestion writes dynamic values that the scanner validated or that
/// serde_json rendered, and [`crate::Workspace::append_batch`] checks batches built elsewhere.
/// KQL member access relies on it to stop scanning at the member it looks for.
fn read_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if crate::schema::kql_type_of(&f) != Some(ColumnType::Dynamic) {
                return f;
            }
            let mut md = f.metadata().clone();
            md.insert(VALID_JSON_METADATA_KEY.to_string(), VALID_JSON_METADATA_VALUE.to_string());
            f.with_metadata(md)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Builds a table provider over a snapshot.
pub fn snapshot_provider(snap: &TableSnapshot, timespan: Option<Timespan>) -> Result<Arc<dyn TableProvider>> {
    let name = snap.table.name;
    // A shadow column is offered only when every file has it (older files lack it; a reader
    // must then extract the member from the JSON text); buffered rows always have it.
    let keep: Vec<usize> = (0..snap.schema.fields().len())
        .filter(|&i| {
            let f = snap.schema.field(i);
            !keelwatch_jsonscan::is_shadow(f.metadata())
                || snap.files.iter().all(|(_, e)| e.shadow_columns.contains(f.name()))
        })
        .collect();
    let (schema, batches) = if keep.len() == snap.schema.fields().len() {
        (read_schema(&snap.schema), snap.batches.clone())
    } else {
        let batches = snap.batches.iter().map(|b| b.project(&keep)).collect::<std::result::Result<Vec<_>, _>>()?;
        (read_schema(&Arc::new(snap.schema.project(&keep)?)), batches)
    };
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mem: Arc<dyn TableProvider> = Arc::new(MemTable::try_new(schema.clone(), vec![batches])?);
    let files: Option<Arc<dyn TableProvider>> = if snap.files.is_empty() {
        None
    } else {
        let urls = snap
            .files
            .iter()
            .map(|(p, _)| ListingTableUrl::parse(p.to_string_lossy()))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let cfg = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(opts).with_schema(schema);
        Some(Arc::new(ListingTable::try_new(cfg)?))
    };
    if files.is_none() && snap.batches.is_empty() && timespan.is_none() {
        return Ok(mem);
    }
    let mut b = LogicalPlanBuilder::scan(TableReference::bare(name), provider_as_source(mem), None)?;
    if let Some(f) = files {
        if snap.batches.is_empty() {
            b = LogicalPlanBuilder::scan(TableReference::bare(name), provider_as_source(f), None)?;
        } else {
            let fp = LogicalPlanBuilder::scan(TableReference::bare(name), provider_as_source(f), None)?.build()?;
            b = b.union(fp)?;
        }
    }
    if let Some((start, end)) = timespan {
        b = b.filter(
            ident("TimeGenerated").gt_eq(lit(ts_lit(start))).and(ident("TimeGenerated").lt_eq(lit(ts_lit(end)))),
        )?;
    }
    Ok(Arc::new(ViewTable::new(b.build()?, None)))
}

impl Workspace {
    /// A new DataFusion session with every table and view of this workspace registered under
    /// its exact name. `timespan` restricts every table to `TimeGenerated` in `[start, end]`.
    /// The session holds a snapshot: rows appended later are not visible to it.
    pub fn session_context(&self, timespan: Option<Timespan>) -> Result<SessionContext> {
        let cfg = SessionConfig::new().with_information_schema(false);
        let ctx = SessionContext::new_with_config(cfg);
        self.register_tables(&ctx, timespan)?;
        Ok(ctx)
    }

    /// Registers (or replaces) every stored table and compatibility view in `ctx`.
    pub fn register_tables(&self, ctx: &SessionContext, timespan: Option<Timespan>) -> Result<()> {
        let range = timespan
            .map(|(s, e)| (s.timestamp_nanos_opt().unwrap_or(i64::MIN), e.timestamp_nanos_opt().unwrap_or(i64::MAX)));
        let mut providers = std::collections::HashMap::new();
        for t in keelwatch_tables::stored() {
            let snap = self.snapshot(t.name, range)?;
            let p = snapshot_provider(&snap, timespan)?;
            ctx.register_table(TableReference::bare(t.name), p.clone())?;
            providers.insert(t.name, p);
        }
        for (name, view) in crate::views::build(&providers)? {
            ctx.register_table(TableReference::bare(name), view)?;
        }
        Ok(())
    }
}
