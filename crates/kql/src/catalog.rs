//! Catalogs: where the binder finds tables. A table is its KQL columns plus a DataFusion
//! `TableSource` to scan. [`SchemaCatalog`] serves the workspace schemas from
//! `keelwatch-tables` with empty sources (for `explain`); [`MapCatalog`] holds resolved tables
//! (built by `execute` from a `SessionContext`, or by hand in tests).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::{MemTable, TableProvider, provider_as_source};
use datafusion::logical_expr::TableSource;

use crate::types::{KqlType, arrow_field, kql_type_of_field};

/// A table the binder can scan.
#[derive(Clone)]
pub struct CatalogTable {
    pub name: String,
    pub columns: Vec<(String, KqlType)>,
    pub source: Arc<dyn TableSource>,
}

impl std::fmt::Debug for CatalogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogTable").field("name", &self.name).field("columns", &self.columns).finish()
    }
}

impl CatalogTable {
    /// From a DataFusion provider; column KQL types come from the `kql.type` field metadata or
    /// the Arrow types. Columns of Arrow types KQL lacks are left out of the KQL view.
    pub fn from_provider(name: &str, provider: Arc<dyn TableProvider>) -> Self {
        let schema = provider.schema();
        let columns = schema
            .fields()
            .iter()
            .filter(|f| !keelwatch_jsonscan::is_shadow(f.metadata()))
            .map(|f| (f.name().clone(), kql_type_of_field(f).unwrap_or(KqlType::String)))
            .collect();
        CatalogTable { name: name.to_string(), columns, source: provider_as_source(provider) }
    }

    /// An empty in-memory table with these columns (for binding without data).
    pub fn empty(name: &str, columns: &[(String, KqlType)]) -> Self {
        let schema: SchemaRef =
            Arc::new(Schema::new(columns.iter().map(|(n, t)| arrow_field(n, *t)).collect::<Vec<_>>()));
        let mem = MemTable::try_new(schema, vec![vec![]]).expect("an empty MemTable always builds");
        CatalogTable { name: name.to_string(), columns: columns.to_vec(), source: provider_as_source(Arc::new(mem)) }
    }
}

/// Table lookup for the binder. Names are case-sensitive, as in KQL.
pub trait Catalog {
    /// The table named exactly `name`.
    fn table(&self, name: &str) -> Option<CatalogTable>;
    /// Every table name (for "did you mean" and `union *` / wildcards).
    fn table_names(&self) -> Vec<String>;
}

/// The workspace schemas from `keelwatch-tables`, with empty data: binds and plans any query
/// without touching storage.
#[derive(Debug, Default, Clone, Copy)]
pub struct SchemaCatalog;

impl Catalog for SchemaCatalog {
    fn table(&self, name: &str) -> Option<CatalogTable> {
        let t = keelwatch_tables::table(name)?;
        let cols: Vec<(String, KqlType)> = t.columns.iter().map(|c| (c.name.to_string(), c.ty)).collect();
        Some(CatalogTable::empty(t.name, &cols))
    }
    fn table_names(&self) -> Vec<String> {
        keelwatch_tables::all().iter().map(|t| t.name.to_string()).collect()
    }
}

/// A fixed set of resolved tables.
#[derive(Debug, Default, Clone)]
pub struct MapCatalog {
    pub tables: BTreeMap<String, CatalogTable>,
}

impl MapCatalog {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, t: CatalogTable) {
        self.tables.insert(t.name.clone(), t);
    }
}

impl Catalog for MapCatalog {
    fn table(&self, name: &str) -> Option<CatalogTable> {
        self.tables.get(name).cloned()
    }
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }
}
