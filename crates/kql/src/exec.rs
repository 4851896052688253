//! Running a query: resolve tables from a DataFusion `SessionContext`, bind, execute under a
//! time limit (tokio timeout) and a memory limit (a `FairSpillPool` in a per-query runtime),
//! and hand back typed batches. Rendering helpers turn results into Log Analytics JSON
//! (`{"tables":[{"name":"PrimaryResult","columns":[…],"rows":[…]}]}`) or text cells.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;
use serde_json::{Value as Json, json};

use crate::bind::bagunpack::{self, BagKeys, BagRequest};
use crate::bind::{BindOptions, BoundQuery, bind_query_or_request};
use crate::catalog::{CatalogTable, MapCatalog};
use crate::error::{ErrorKind, KqlError, Result};
use crate::types::KqlType;
use crate::udf::values::{json_at, string_at};

/// Limits for one query.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Wall-clock limit for planning + execution.
    pub timeout: Duration,
    /// Memory for operators that buffer (sorts, hash aggregates, joins), in bytes.
    pub memory_bytes: usize,
    /// Restrict every table's `TimeGenerated` to `[start, end)` ns (the API's `timespan`).
    pub timespan: Option<(i64, i64)>,
    /// Pin `now()` / `ago()` to this instant (ns since the epoch) for reproducible runs;
    /// `None` = the current time.
    pub now_ns: Option<i64>,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { timeout: Duration::from_secs(60), memory_bytes: 1 << 30, timespan: None, now_ns: None }
    }
}

/// A query result: typed columns and the Arrow batches holding the rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Column names and KQL types, in order.
    pub columns: Vec<(String, KqlType)>,
    pub batches: Vec<RecordBatch>,
    /// Chart kind from `render`, if the query had one.
    pub render: Option<String>,
}

impl QueryResult {
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// Rows as JSON values (datetimes as ISO 8601 strings, timespans as `hh:mm:ss`, dynamic
    /// values as JSON).
    pub fn rows_json(&self) -> Vec<Vec<Json>> {
        let mut rows = Vec::with_capacity(self.row_count());
        for b in &self.batches {
            for r in 0..b.num_rows() {
                rows.push(
                    self.columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, t))| json_at(b.column(i).as_ref(), r, *t == KqlType::Dynamic))
                        .collect(),
                );
            }
        }
        rows
    }

    /// Rows as display text (`tostring` rendering; null → empty).
    pub fn rows_text(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::with_capacity(self.row_count());
        for b in &self.batches {
            for r in 0..b.num_rows() {
                rows.push(
                    self.columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, t))| {
                            let arr = b.column(i);
                            if *t == KqlType::Dynamic {
                                match json_at(arr.as_ref(), r, true) {
                                    Json::Null => String::new(),
                                    v => v.to_string(),
                                }
                            } else {
                                string_at(arr.as_ref(), r, false).unwrap_or_default()
                            }
                        })
                        .collect(),
                );
            }
        }
        rows
    }

    /// The Log Analytics query API response body.
    pub fn to_log_analytics_json(&self) -> Json {
        let columns: Vec<Json> = self.columns.iter().map(|(n, t)| json!({"name": n, "type": t.kql_name()})).collect();
        json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": self.rows_json()}]})
    }
}

/// Resolves every table of the context's default schema into a catalog.
pub async fn catalog_from_context(ctx: &SessionContext) -> Result<MapCatalog> {
    let state = ctx.state();
    let opts = state.config().options();
    let (cat, sch) = (opts.catalog.default_catalog.clone(), opts.catalog.default_schema.clone());
    let mut out = MapCatalog::new();
    let Some(schema) = ctx.catalog(&cat).and_then(|c| c.schema(&sch)) else {
        return Ok(out);
    };
    for name in schema.table_names() {
        let provider = schema.table(&name).await.map_err(|e| exec_error(e, 0))?;
        if let Some(p) = provider {
            // `register_table("KubePodInventory", …)` stores a lower-cased name (SQL
            // normalisation); KQL names are case-sensitive, so map back to the canonical name.
            let kql_name = match keelwatch_tables::table_ignore_case(&name) {
                Some(t) if t.name != name && name.chars().all(|c| !c.is_ascii_uppercase()) => t.name.to_string(),
                _ => name.clone(),
            };
            out.insert(CatalogTable::from_provider(&kql_name, p));
        }
    }
    Ok(out)
}

/// Parses, binds and runs `text` on the tables registered in `ctx`.
pub async fn execute(text: &str, ctx: &SessionContext, limits: &QueryLimits) -> Result<QueryResult> {
    let fut = async {
        let bound = bind_with_data(text, ctx, limits).await?;
        run_bound(bound, ctx, limits).await
    };
    match tokio::time::timeout(limits.timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(KqlError::general(
            ErrorKind::Timeout,
            format!(
                "query exceeded its time limit of {:?}; narrow the time range (e.g. '| where TimeGenerated > ago(1h)') or raise the limit",
                limits.timeout
            ),
        )),
    }
}

/// Parses and binds `text` against the tables of `ctx`, reading data only where binding needs
/// it: the keys of each schemaless `evaluate bag_unpack` (its input runs once for that).
pub async fn bind_with_data(text: &str, ctx: &SessionContext, limits: &QueryLimits) -> Result<BoundQuery> {
    let query = crate::parse(text)?;
    let catalog = catalog_from_context(ctx).await?;
    let mut opts =
        BindOptions { now_ns: limits.now_ns.unwrap_or_else(now_ns), timespan: limits.timespan, bag_keys: None };
    let mut keys = BagKeys::new();
    loop {
        match bind_query_or_request(&query, &catalog, &opts) {
            Ok(b) => return Ok(b),
            Err((e, Some(req))) if !keys.contains_key(&(req.span.start, req.span.end)) => {
                drop(e);
                let found = bag_keys_of(&req, ctx, limits)
                    .await
                    .map_err(|m| KqlError::binding(req.span, m).locate(&query.text))?;
                keys.insert((req.span.start, req.span.end), found);
                opts.bag_keys = Some(Arc::new(keys.clone()));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Like [`crate::explain`], but binds with [`bind_with_data`] (so a schemaless `bag_unpack`
/// gets the columns the stored data gives it).
pub async fn explain_with_data(text: &str, ctx: &SessionContext) -> Result<String> {
    let limits = QueryLimits::default();
    let fut = async {
        let b = bind_with_data(text, ctx, &limits).await?;
        crate::explain_bound(&b)
    };
    tokio::time::timeout(limits.timeout, fut).await.unwrap_or_else(|_| {
        Err(KqlError::general(ErrorKind::Timeout, "explain exceeded its time limit while reading bag_unpack keys"))
    })
}

/// Runs a [`BagRequest`]'s plan and folds the keys of its bag values.
async fn bag_keys_of(
    req: &BagRequest,
    ctx: &SessionContext,
    limits: &QueryLimits,
) -> std::result::Result<bagunpack::BagColumns, String> {
    use datafusion::arrow::array::{Array, AsArray};
    let state = query_state(ctx, limits, false).map_err(|e| e.to_string())?;
    let batches = DataFrame::new(state, req.plan.clone())
        .collect()
        .await
        .map_err(|e| format!("reading the bag_unpack input: {}", e.strip_backtrace()))?;
    let mut pairs = Vec::new();
    for b in &batches {
        let col = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)
            .map_err(|e| e.to_string())?;
        let col = col.as_string::<i32>();
        pairs.extend((0..col.len()).filter(|r| col.is_valid(*r)).map(|r| col.value(r).to_string()));
    }
    bagunpack::fold_keys(pairs.iter().map(String::as_str), &req.ignored)
}

/// A session state for one query: the caller's tables and config, a per-query memory pool.
fn query_state(
    ctx: &SessionContext,
    limits: &QueryLimits,
    ordered: bool,
) -> Result<datafusion::execution::SessionState> {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(ctx.runtime_env().object_store_registry.clone())
        .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
        .build_arc()
        .map_err(|e| exec_error(e, limits.memory_bytes))?;
    // never re-create the default catalog: that would replace the caller's tables
    let mut config = ctx.copied_config().with_create_default_catalog_and_schema(false);
    if ordered {
        config = config.with_target_partitions(1);
    }
    // union inputs from different tables carry different schema metadata
    // (`keelwatch.table`); DataFusion's strict aggregate-input check would reject them
    config.options_mut().execution.skip_physical_aggregate_schema_check = true;
    Ok(SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rule(Arc::new(crate::shadow::ShadowColumns))
        .build())
}

/// Runs an already bound query under the limits (no timeout here; `execute` adds it).
pub async fn run_bound(bound: BoundQuery, ctx: &SessionContext, limits: &QueryLimits) -> Result<QueryResult> {
    let state = query_state(ctx, limits, bound.ordered)?;
    let df = DataFrame::new(state, bound.plan);
    let batches = df.collect().await.map_err(|e| exec_error(e, limits.memory_bytes))?;
    Ok(QueryResult { columns: bound.columns, batches, render: bound.render })
}

/// Current time in ns since the epoch.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

fn exec_error(e: DataFusionError, limit: usize) -> KqlError {
    let root = e.find_root();
    if matches!(root, DataFusionError::ResourcesExhausted(_)) {
        return KqlError::general(
            ErrorKind::MemoryLimit,
            format!(
                "query exceeded its memory limit of {} MiB ({}); add filters, summarize earlier or raise the limit",
                limit >> 20,
                root.to_string().lines().next().unwrap_or_default()
            ),
        );
    }
    KqlError::general(ErrorKind::Execution, format!("query failed while running: {}", e.strip_backtrace()))
}
