//! Log Analytics' standard columns: every workspace table answers to `Type`, `_ResourceId`,
//! `_SubscriptionId`, `TenantId`, `_IsBillable`, `_BilledSize` and `_TimeReceived` although
//! none is stored, so saved queries that group or filter by them run unchanged. They are
//! hidden (not part of `*` or `take`), derived from the frame when referenced by name:
//! - `Type`: the table's name (when the frame is a catalog table);
//! - `_ResourceId`: the cluster (`ClusterId`) on tables that carry it, else empty — one
//!   keelwatch workspace watches clusters, not Azure resources;
//! - `_SubscriptionId`, `TenantId`: empty; `_IsBillable`: `"True"`;
//! - `_BilledSize`: `estimate_data_size` of the row's columns (bytes);
//! - `_TimeReceived`: `TimeGenerated` — the workspace does not keep a separate ingestion time,
//!   so `ingestion_time()` is the same and an ingestion-latency query reports zero.
//!
//! A real column of the same name always wins (this is only consulted after lookup fails).

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Expr, lit};

use super::{Binder, Frame, Typed};
use crate::types::KqlType;
use crate::udf;

fn null_datetime() -> Expr {
    Expr::Literal(datafusion::common::ScalarValue::TimestampNanosecond(None, Some(crate::types::UTC.into())), None)
}

impl Binder<'_> {
    /// The standard column `name` of `fr`, when `name` is one.
    pub(crate) fn standard_column(&self, name: &str, fr: &Frame) -> Option<Typed> {
        let t = match name {
            "Type" => {
                self.catalog.table(&fr.source)?;
                Typed::new(lit(fr.source.clone()), KqlType::String)
            }
            "_ResourceId" => match fr.find("ClusterId") {
                Some(i) => Typed::new(fr.col_expr(i), KqlType::String),
                None => Typed::new(lit(""), KqlType::String),
            },
            "_SubscriptionId" | "TenantId" => Typed::new(lit(""), KqlType::String),
            "_IsBillable" => Typed::new(lit("True"), KqlType::String),
            "_BilledSize" => self.row_size(fr),
            "_TimeReceived" => self.time_received(fr),
            _ => return None,
        };
        Some(t.named(Some(name.to_string())))
    }

    /// `estimate_data_size` over every column of the frame.
    pub(crate) fn row_size(&self, fr: &Frame) -> Typed {
        data_size((0..fr.cols.len()).map(|i| fr.col_expr(i)).collect())
    }

    /// `ingestion_time()` / `_TimeReceived`: the row's `TimeGenerated` (see the module doc).
    pub(crate) fn time_received(&self, fr: &Frame) -> Typed {
        match fr.find("TimeGenerated") {
            Some(i) if fr.cols[i].ty == KqlType::DateTime => Typed::new(fr.col_expr(i), KqlType::DateTime),
            _ => Typed::new(null_datetime(), KqlType::DateTime),
        }
    }
}

/// `estimate_data_size(args…)`: bytes of the values per row (0 without arguments).
pub(crate) fn data_size(args: Vec<Expr>) -> Typed {
    if args.is_empty() {
        return Typed::new(lit(0i64), KqlType::Long);
    }
    Typed::new(udf::call("kql_estimate_data_size", DataType::Int64, udf::size::estimate_data_size, args), KqlType::Long)
}
