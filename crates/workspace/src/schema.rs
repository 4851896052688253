//! Arrow schemas of the workspace tables, derived from `keelwatch-tables`.
//!
//! Mapping (KQL → Arrow): string → Utf8, long → Int64, int → Int32, real → Float64,
//! bool → Boolean, datetime → Timestamp(Nanosecond, "UTC"), dynamic → Utf8 (compact JSON text),
//! timespan → Duration(Nanosecond), guid → Utf8. Every field is nullable and carries the
//! metadata `kql.type = <kql name>`; the schema carries `keelwatch.table = <name>`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use keelwatch_tables::{ColumnType, KQL_TYPE_METADATA_KEY, TableSchema};

/// Schema-level metadata key holding the table name.
pub const TABLE_METADATA_KEY: &str = "keelwatch.table";

/// The Arrow type used to store a KQL column type.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String | ColumnType::Dynamic | ColumnType::Guid => DataType::Utf8,
        ColumnType::Long => DataType::Int64,
        ColumnType::Int => DataType::Int32,
        ColumnType::Real => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::DateTime => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        ColumnType::TimeSpan => DataType::Duration(TimeUnit::Nanosecond),
    }
}

/// The KQL type of an Arrow field: from its `kql.type` metadata when present, else inferred
/// from the Arrow type (Utf8 → string, Int64 → long, ...). `None` for Arrow types KQL lacks.
pub fn kql_type_of(field: &Field) -> Option<ColumnType> {
    if let Some(t) = field.metadata().get(KQL_TYPE_METADATA_KEY) {
        return ColumnType::from_kql_name(t);
    }
    Some(match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ColumnType::Long,
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt8 | DataType::UInt16 => ColumnType::Int,
        DataType::Float64 | DataType::Float32 | DataType::Decimal128(_, _) => ColumnType::Real,
        DataType::Boolean => ColumnType::Bool,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => ColumnType::DateTime,
        DataType::Duration(_) => ColumnType::TimeSpan,
        _ => return None,
    })
}

/// Builds the Arrow schema of a table (or view).
pub fn build_arrow_schema(table: &TableSchema) -> Schema {
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|c| {
            Field::new(c.name, arrow_type(c.ty), true)
                .with_metadata(HashMap::from([(KQL_TYPE_METADATA_KEY.to_string(), c.ty.kql_name().to_string())]))
        })
        .collect();
    Schema::new(fields).with_metadata(HashMap::from([(TABLE_METADATA_KEY.to_string(), table.name.to_string())]))
}

/// The cached Arrow schema of the table or view named exactly `name`.
pub fn arrow_schema(name: &str) -> Option<SchemaRef> {
    static CACHE: OnceLock<HashMap<&'static str, SchemaRef>> = OnceLock::new();
    CACHE
        .get_or_init(|| keelwatch_tables::all().iter().map(|t| (t.name, Arc::new(build_arrow_schema(t)))).collect())
        .get(name)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_carry_kql_types() {
        let s = arrow_schema("ContainerLogV2").unwrap();
        let f = s.field_with_name("LogMessage").unwrap();
        assert_eq!(f.data_type(), &DataType::Utf8);
        assert_eq!(kql_type_of(f), Some(ColumnType::Dynamic));
        let tg = s.field_with_name("TimeGenerated").unwrap();
        assert_eq!(kql_type_of(tg), Some(ColumnType::DateTime));
        assert_eq!(s.metadata().get(TABLE_METADATA_KEY).unwrap(), "ContainerLogV2");
        let kpi = arrow_schema("KubePodInventory").unwrap();
        assert_eq!(kpi.field_with_name("ContainerRestartCount").unwrap().data_type(), &DataType::Int32);
        assert!(arrow_schema("Nope").is_none());
    }
}
