//! `make-series` helpers: dense series arrays built from sparse `(bin index, value)` pairs,
//! and the axis array. Both return dynamic values (JSON array text).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result as DFResult};
use serde_json::Value as Json;

use super::values::json_at;
use super::{Args, arc};
use crate::timefmt::{format_datetime, format_timespan};

/// Largest series KQL builds (2^20 points).
pub const MAX_POINTS: i64 = 1 << 20;

fn i64_arg(a: &Args, i: usize) -> DFResult<Int64Array> {
    let arr = a.array(i)?;
    let arr = datafusion::arrow::compute::cast(&arr, &DataType::Int64)?;
    Ok(arr.as_primitive::<Int64Type>().clone())
}

fn points(n: &Int64Array, r: usize) -> DFResult<usize> {
    let k = if n.is_null(r) { 0 } else { n.value(r).max(0) };
    if k > MAX_POINTS {
        return Err(DataFusionError::Execution(format!(
            "make-series would build {k} points per series, more than the limit of {MAX_POINTS}; use a larger step"
        )));
    }
    Ok(k as usize)
}

/// `kql_series_fill(pairs, n, default, dynamic)`: `pairs` is a list of structs `{i, v}`; the
/// result is a JSON array of `n` values, `default` where no pair has that index. `dynamic`
/// (literal 1) when the values are dynamic text.
pub fn fill(a: &Args) -> DFResult<ArrayRef> {
    let pairs = a.array(0)?;
    let n = i64_arg(a, 1)?;
    let default = a.array(2)?;
    let dynamic = a.lit_i64(3) == Some(1);
    let mut out = StringBuilder::new();
    for r in 0..a.n {
        let k = points(&n, r)?;
        let d = json_at(default.as_ref(), r, dynamic);
        let mut series = vec![d; k];
        if let Some(list) = pairs.as_list_opt::<i32>()
            && list.is_valid(r)
        {
            let items = list.value(r);
            let Some(st) = items.as_struct_opt() else {
                return Err(DataFusionError::Execution("make-series: internal value list is not a struct".into()));
            };
            let idx = datafusion::arrow::compute::cast(st.column(0), &DataType::Int64)?;
            let idx = idx.as_primitive::<Int64Type>();
            let vals = st.column(1);
            for j in 0..st.len() {
                if idx.is_null(j) {
                    continue;
                }
                let i = idx.value(j);
                if i >= 0 && (i as usize) < k {
                    series[i as usize] = json_at(vals.as_ref(), j, dynamic);
                }
            }
        }
        out.append_value(Json::Array(series).to_string());
    }
    Ok(arc(out.finish()))
}

/// `kql_series_axis(start, step, n, kind)`: JSON array `start + i*step` for `i < n`; `kind` 0 =
/// datetime, 1 = timespan, 2 = long (values are ns for the first two).
pub fn axis(a: &Args) -> DFResult<ArrayRef> {
    let start = i64_arg(a, 0)?;
    let step = i64_arg(a, 1)?;
    let n = i64_arg(a, 2)?;
    let kind = a.lit_i64(3).unwrap_or(0);
    let mut out = StringBuilder::new();
    for r in 0..a.n {
        let k = points(&n, r)?;
        let (s, st) = (start.value(r), step.value(r));
        let items: Vec<Json> = (0..k as i64)
            .map(|i| {
                let v = s.saturating_add(st.saturating_mul(i));
                match kind {
                    0 => Json::String(format_datetime(v)),
                    1 => Json::String(format_timespan(v)),
                    _ => Json::from(v),
                }
            })
            .collect();
        out.append_value(Json::Array(items).to_string());
    }
    Ok(arc(out.finish()))
}
