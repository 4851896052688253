//! keelwatch-kql: the Kusto Query Language (KQL) engine of the keelwatch workspace.
//!
//! Pipeline: text → [`lexer`] (tokens with spans) → [`parser`] ([`ast::Query`]) → [`bind`]
//! (names resolved against a [`Catalog`], KQL types tracked per column, KQL naming rules
//! applied, DataFusion `LogicalPlan` built) → DataFusion executes it ([`exec`]). There is no
//! executor of our own: KQL semantics that DataFusion lacks (case-insensitive and term
//! matching, dynamic JSON values, timespans, calendar math) are scalar UDFs in [`udf`].
//!
//! Invariants: every parse/bind error carries a span and renders as `line:col: message`;
//! binding never touches data (so [`explain`] works on schemas alone; a schemaless
//! `evaluate bag_unpack` stops binding with a request that [`exec`] runs to learn its keys
//! before binding again); a frame's plan fields
//! are exactly its KQL columns, in order; dynamic values are compact JSON text; datetimes are
//! `Timestamp(ns, "UTC")`, timespans `Duration(ns)`; `now()` is fixed per query.
//!
//! Start reading at [`execute`] and [`bind::bind_query`]; the operator planning is in
//! `bind/ops.rs`, functions in `bind/funcs.rs` and `bind/aggs.rs`.

pub mod ast;
pub mod bind;
pub mod catalog;
pub mod error;
pub mod exec;
pub mod lexer;
pub mod parser;
pub mod shadow;
pub mod timefmt;
pub mod types;
pub mod udf;

pub use bind::{BindOptions, BoundQuery};
pub use catalog::{Catalog, CatalogTable, MapCatalog, SchemaCatalog};
pub use error::{ErrorKind, KqlError, Span};
pub use exec::{QueryLimits, QueryResult, bind_with_data, catalog_from_context, execute, explain_with_data, now_ns};
pub use types::KqlType;

/// Parses KQL text into a query AST.
pub fn parse(text: &str) -> Result<ast::Query, KqlError> {
    parser::parse_query(text)
}

/// Binds a parsed query against a catalog (with `now()` = the current time).
pub fn bind(query: &ast::Query, catalog: &dyn Catalog) -> Result<BoundQuery, KqlError> {
    bind::bind_query(query, catalog, &BindOptions { now_ns: now_ns(), ..BindOptions::default() })
}

/// Parses and binds `text` without running it; returns the output columns and the
/// DataFusion logical plan as text. Type errors DataFusion finds while analysing the plan are
/// reported too.
pub fn explain(text: &str, catalog: &dyn Catalog) -> Result<String, KqlError> {
    let q = parse(text)?;
    let b = bind(&q, catalog)?;
    explain_bound(&b)
}

/// The `explain` text of a bound query.
pub fn explain_bound(b: &BoundQuery) -> Result<String, KqlError> {
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.state()
        .optimize(&b.plan)
        .map_err(|e| KqlError::general(ErrorKind::Binding, format!("plan check failed: {}", e.strip_backtrace())))?;
    let mut out = String::from("columns:\n");
    for (n, t) in &b.columns {
        out.push_str(&format!("  {n}: {t}\n"));
    }
    if let Some(r) = &b.render {
        out.push_str(&format!("render: {r}\n"));
    }
    out.push_str("plan:\n");
    for line in b.plan.display_indent().to_string().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}
