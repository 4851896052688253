//! KQL scalar types and their Arrow representation.
//!
//! The KQL type vocabulary is `keelwatch_tables::ColumnType` (one source of truth). Arrow
//! mapping, identical to the workspace's storage: string/dynamic/guid → Utf8 (dynamic holds
//! compact JSON text, guid the canonical text), long → Int64, int → Int32, real → Float64,
//! bool → Boolean, datetime → Timestamp(ns, "UTC"), timespan → Duration(ns). Fields carry the
//! metadata `kql.type = <name>` so dynamic and guid can be told from strings.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
pub use keelwatch_tables::{ColumnType as KqlType, KQL_TYPE_METADATA_KEY};

/// The timezone string used on every datetime.
pub const UTC: &str = "UTC";

/// Arrow type of a KQL type.
pub fn arrow_type(ty: KqlType) -> DataType {
    match ty {
        KqlType::String | KqlType::Dynamic | KqlType::Guid => DataType::Utf8,
        KqlType::Long => DataType::Int64,
        KqlType::Int => DataType::Int32,
        KqlType::Real => DataType::Float64,
        KqlType::Bool => DataType::Boolean,
        KqlType::DateTime => DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into())),
        KqlType::TimeSpan => DataType::Duration(TimeUnit::Nanosecond),
    }
}

/// An Arrow field for a KQL column (nullable, with the `kql.type` marker).
pub fn arrow_field(name: &str, ty: KqlType) -> Field {
    Field::new(name, arrow_type(ty), true)
        .with_metadata(HashMap::from([(KQL_TYPE_METADATA_KEY.to_string(), ty.kql_name().to_string())]))
}

/// KQL type of an Arrow field: the `kql.type` marker when present, else by Arrow type.
pub fn kql_type_of_field(field: &Field) -> Option<KqlType> {
    if let Some(t) = field.metadata().get(KQL_TYPE_METADATA_KEY)
        && let Some(t) = KqlType::from_kql_name(t)
    {
        return Some(t);
    }
    kql_type_of_arrow(field.data_type())
}

/// KQL type of a bare Arrow type (strings are `string`; no dynamic detection).
pub fn kql_type_of_arrow(dt: &DataType) -> Option<KqlType> {
    Some(match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => KqlType::String,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => KqlType::Long,
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt8 | DataType::UInt16 => KqlType::Int,
        DataType::Float64 | DataType::Float32 | DataType::Decimal128(_, _) => KqlType::Real,
        DataType::Boolean => KqlType::Bool,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => KqlType::DateTime,
        DataType::Duration(_) => KqlType::TimeSpan,
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(_, _) => KqlType::Dynamic,
        DataType::Null => KqlType::String,
        _ => return None,
    })
}

/// True for long, int and real.
pub fn is_numeric(t: KqlType) -> bool {
    matches!(t, KqlType::Long | KqlType::Int | KqlType::Real)
}

/// True for types held as Utf8 text.
pub fn is_textual(t: KqlType) -> bool {
    matches!(t, KqlType::String | KqlType::Dynamic | KqlType::Guid)
}

/// Result type of arithmetic on two numeric types (int+int → long as in KQL? no: int stays
/// int only when both are int; any real makes real; else long).
pub fn numeric_result(a: KqlType, b: KqlType) -> KqlType {
    if a == KqlType::Real || b == KqlType::Real {
        KqlType::Real
    } else if a == KqlType::Int && b == KqlType::Int {
        KqlType::Int
    } else {
        KqlType::Long
    }
}
