//! keelwatch-tables: the workspace's table schemas as plain data — the one source of truth for
//! table names, column names, column types and their descriptions.
//!
//! - [`all`] lists every table and compatibility view; [`table`] finds one by its exact
//!   (case-sensitive) name, [`table_ignore_case`] finds one regardless of case (for "did you
//!   mean" hints and HTTP paths).
//! - [`TableSchema::column`] / [`TableSchema::column_ignore_case`] look columns up.
//! - [`ColumnType::kql_name`] gives the KQL type name (`string`, `long`, `datetime`, ...);
//!   [`KQL_TYPE_METADATA_KEY`] is the Arrow field-metadata key under which the workspace stores
//!   that name on every column, so a reader of Parquet / Arrow data can tell `dynamic` (stored as
//!   JSON text) and `guid` (stored as text) from plain strings.
//!
//! Invariants (checked by the tests): every table has a `TimeGenerated` column of type
//! `datetime`; names are unique (also case-insensitively) within the catalog and within each
//! table; views ([`TableKind::View`]) are never written to — the workspace crate defines them
//! as plans over the real tables.
//!
//! Start reading at [`all`]; the catalog itself is in the `catalog` module.

mod catalog;

use serde::Serialize;

/// Arrow field-metadata key holding the column's KQL type name (e.g. `"dynamic"`).
pub const KQL_TYPE_METADATA_KEY: &str = "kql.type";

/// A column's KQL type. The Arrow representation chosen by the workspace is documented on
/// each variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ColumnType {
    /// UTF-8 text (Arrow `Utf8`).
    String,
    /// 64-bit signed integer (Arrow `Int64`).
    Long,
    /// 32-bit signed integer (Arrow `Int32`).
    Int,
    /// 64-bit float (Arrow `Float64`).
    Real,
    /// Boolean (Arrow `Boolean`).
    Bool,
    /// UTC instant (Arrow `Timestamp(Nanosecond, "UTC")`).
    DateTime,
    /// Any JSON value: property bag, array or scalar (Arrow `Utf8` holding compact JSON text,
    /// field metadata `kql.type = dynamic`).
    Dynamic,
    /// Duration (Arrow `Duration(Nanosecond)`).
    TimeSpan,
    /// GUID (Arrow `Utf8`, field metadata `kql.type = guid`).
    Guid,
}

impl ColumnType {
    /// The KQL type name, as used in `getschema` and the Log Analytics query API.
    pub fn kql_name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Long => "long",
            ColumnType::Int => "int",
            ColumnType::Real => "real",
            ColumnType::Bool => "bool",
            ColumnType::DateTime => "datetime",
            ColumnType::Dynamic => "dynamic",
            ColumnType::TimeSpan => "timespan",
            ColumnType::Guid => "guid",
        }
    }

    /// Parses a KQL type name (`string`, `long`, `int`, `real`/`double`, `bool`/`boolean`,
    /// `datetime`/`date`, `dynamic`, `timespan`/`time`, `guid`/`uuid`/`uniqueid`),
    /// case-insensitively.
    pub fn from_kql_name(name: &str) -> Option<ColumnType> {
        let t = match name.to_ascii_lowercase().as_str() {
            "string" => ColumnType::String,
            "long" | "int64" => ColumnType::Long,
            "int" | "int32" => ColumnType::Int,
            "real" | "double" => ColumnType::Real,
            "bool" | "boolean" => ColumnType::Bool,
            "datetime" | "date" => ColumnType::DateTime,
            "dynamic" => ColumnType::Dynamic,
            "timespan" | "time" => ColumnType::TimeSpan,
            "guid" | "uuid" | "uniqueid" => ColumnType::Guid,
            _ => return None,
        };
        Some(t)
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kql_name())
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Exact column name (case-sensitive, as in Container Insights).
    pub name: &'static str,
    /// KQL type.
    pub ty: ColumnType,
    /// One-line description.
    pub description: &'static str,
}

/// Whether a schema is a stored table or a read-only compatibility view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TableKind {
    /// Rows are ingested and stored.
    Table,
    /// Defined by the workspace as a plan over other tables; never written to.
    View,
}

/// A table (or view) schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    /// Exact table name (case-sensitive).
    pub name: &'static str,
    /// What the table holds and who writes it.
    pub description: &'static str,
    /// Stored table or compatibility view.
    pub kind: TableKind,
    /// Columns in their canonical order.
    pub columns: &'static [Column],
}

impl TableSchema {
    /// The column with exactly this name.
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column with this name compared case-insensitively.
    pub fn column_ignore_case(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Index of the column with exactly this name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// True for compatibility views.
    pub fn is_view(&self) -> bool {
        self.kind == TableKind::View
    }
}

/// Every table and compatibility view, stored tables first.
pub fn all() -> &'static [TableSchema] {
    catalog::ALL
}

/// Stored tables only (no views).
pub fn stored() -> impl Iterator<Item = &'static TableSchema> {
    all().iter().filter(|t| t.kind == TableKind::Table)
}

/// The table or view with exactly this name (case-sensitive, as KQL requires).
pub fn table(name: &str) -> Option<&'static TableSchema> {
    all().iter().find(|t| t.name == name)
}

/// The table or view whose name equals `name` ignoring ASCII case.
pub fn table_ignore_case(name: &str) -> Option<&'static TableSchema> {
    all().iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

/// Names that are close to `name` (case-insensitive edit distance ≤ 2, or same lowercase
/// form), best first — for "did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &'a str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let d = edit_distance(&lower, &c.to_ascii_lowercase());
            (d <= 2.max(lower.len() / 4)).then_some((d, c))
        })
        .collect();
    scored.sort_by_key(|(d, c)| (*d, *c));
    scored.into_iter().map(|(_, c)| c).collect()
}

/// The catalog as Markdown (the body of `docs/tables.md`, which a test keeps in sync).
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# Workspace tables\n\n");
    out.push_str(
        "Generated from `crates/tables` (`keelwatch_tables::markdown()`); a test fails when this file\n\
         drifts. Regenerate with `UPDATE_DOCS=1 cargo test -p keelwatch-tables`.\n\n\
         Names are case-sensitive, as in Azure Monitor. Types are KQL types; the Arrow/Parquet\n\
         storage of each is: string, guid → Utf8; dynamic → Utf8 holding compact JSON text (field\n\
         metadata `kql.type = dynamic`); long → Int64; int → Int32; real → Float64; bool → Boolean;\n\
         datetime → Timestamp(ns, UTC); timespan → Duration(ns). Every column carries its KQL type\n\
         in the field metadata `kql.type`.\n\n",
    );
    out.push_str("| Table | Kind | Description |\n| --- | --- | --- |\n");
    for t in all() {
        let kind = if t.is_view() { "view" } else { "table" };
        out.push_str(&format!(
            "| [{n}](#{l}) | {kind} | {d} |\n",
            n = t.name,
            l = t.name.to_ascii_lowercase(),
            d = t.description
        ));
    }
    for t in all() {
        out.push_str(&format!("\n## {}\n\n{}", t.name, t.description));
        if t.is_view() {
            out.push_str(" Read-only: defined by the workspace over its source tables.");
        }
        out.push_str("\n\n| Column | Type | Description |\n| --- | --- | --- |\n");
        for c in t.columns {
            out.push_str(&format!("| {} | {} | {} |\n", c.name, c.ty, c.description.replace('|', "\\|")));
        }
    }
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_table_has_time_generated_datetime() {
        for t in all() {
            let c = t.column("TimeGenerated").unwrap_or_else(|| panic!("{} lacks TimeGenerated", t.name));
            assert_eq!(c.ty, ColumnType::DateTime, "{}", t.name);
        }
    }

    #[test]
    fn names_unique_case_insensitively() {
        let mut seen = HashSet::new();
        for t in all() {
            assert!(seen.insert(t.name.to_ascii_lowercase()), "duplicate table {}", t.name);
            let mut cols = HashSet::new();
            for c in t.columns {
                assert!(cols.insert(c.name.to_ascii_lowercase()), "duplicate column {}.{}", t.name, c.name);
                assert!(!c.description.is_empty(), "{}.{} lacks a description", t.name, c.name);
            }
        }
    }

    #[test]
    fn expected_catalog() {
        let names: Vec<&str> = all().iter().map(|t| t.name).collect();
        for n in [
            "ContainerLogV2",
            "KubePodInventory",
            "KubeNodeInventory",
            "KubeEvents",
            "KubeServices",
            "ContainerInventory",
            "Perf",
            "InsightsMetrics",
            "AKSAudit",
            "AKSAuditAdmin",
            "AKSControlPlane",
            "SecurityAlert",
            "PolicyResults",
            "ContainerImageVulnerability",
            "AzureDiagnostics",
            "ContainerLog",
        ] {
            assert!(names.contains(&n), "missing {n}");
        }
        assert!(table("AzureDiagnostics").unwrap().is_view());
        assert!(table("ContainerLog").unwrap().is_view());
        assert!(!table("Perf").unwrap().is_view());
        assert_eq!(stored().count(), 14);
    }

    #[test]
    fn lookups() {
        assert!(table("perf").is_none());
        assert_eq!(table_ignore_case("perf").unwrap().name, "Perf");
        let kpi = table("KubePodInventory").unwrap();
        assert_eq!(kpi.column("ContainerRestartCount").unwrap().ty, ColumnType::Int);
        assert!(kpi.column("podname").is_none());
        assert_eq!(kpi.column_ignore_case("podstatus").unwrap().name, "PodStatus");
        let log = table("ContainerLogV2").unwrap();
        assert_eq!(log.column("LogMessage").unwrap().ty, ColumnType::Dynamic);
        assert_eq!(table("KubeEvents").unwrap().column("Count").unwrap().ty, ColumnType::Real);
        let sa = table("SecurityAlert").unwrap();
        assert_eq!(sa.column("Count").unwrap().ty, ColumnType::Long);
        assert_eq!(sa.column("Entities").unwrap().ty, ColumnType::Dynamic);
        assert_eq!(sa.column_index("TimeGenerated"), Some(0));
    }

    #[test]
    fn kql_names_round_trip() {
        for t in [
            ColumnType::String,
            ColumnType::Long,
            ColumnType::Int,
            ColumnType::Real,
            ColumnType::Bool,
            ColumnType::DateTime,
            ColumnType::Dynamic,
            ColumnType::TimeSpan,
            ColumnType::Guid,
        ] {
            assert_eq!(ColumnType::from_kql_name(t.kql_name()), Some(t));
        }
        assert_eq!(ColumnType::from_kql_name("DOUBLE"), Some(ColumnType::Real));
        assert_eq!(ColumnType::from_kql_name("decimalish"), None);
    }

    #[test]
    fn docs_are_in_sync() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/tables.md");
        let want = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/tables.md is stale: run UPDATE_DOCS=1 cargo test -p keelwatch-tables");
    }

    #[test]
    fn suggestions() {
        let kpi = table("KubePodInventory").unwrap();
        let s = suggest("Namespce", kpi.columns.iter().map(|c| c.name));
        assert_eq!(s, vec!["Namespace"]);
        assert!(suggest("Zzzzzzzz", kpi.columns.iter().map(|c| c.name)).is_empty());
        let t = suggest("KubePodInventroy", all().iter().map(|t| t.name));
        assert_eq!(t.first(), Some(&"KubePodInventory"));
        assert!(!t.contains(&"Perf"));
    }
}
