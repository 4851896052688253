//! Data sizes: `estimate_data_size(…)` (bytes a row's values take; also the hidden
//! `_BilledSize` column) and `format_bytes(size [, precision [, units]])`.
//!
//! The estimate counts a string or dynamic value as its UTF-8 length, a long, real,
//! datetime or timespan as 8 bytes, an int as 4, a bool as 1, and a null as 0 — the sizes of
//! the values themselves, which is what Kusto documents the function to approximate.

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DFResult;

use super::{Args, StrCol, arc};

fn value_sizes(a: &ArrayRef, out: &mut [i64]) {
    let fixed = match a.data_type() {
        DataType::Boolean => 1,
        DataType::Int8 | DataType::UInt8 => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 | DataType::Float32 => 4,
        DataType::Null => 0,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => -1,
        _ => 8,
    };
    if fixed >= 0 {
        for (i, o) in out.iter_mut().enumerate() {
            if !a.is_null(i) {
                *o += fixed;
            }
        }
        return;
    }
    let s = match a.data_type() {
        DataType::Utf8 => StrCol::Utf8(a.as_any().downcast_ref().expect("utf8")),
        DataType::LargeUtf8 => StrCol::Large(a.as_any().downcast_ref().expect("large utf8")),
        _ => StrCol::View(a.as_any().downcast_ref().expect("utf8 view")),
    };
    for (i, o) in out.iter_mut().enumerate() {
        *o += s.get(i).map_or(0, |v| v.len() as i64);
    }
}

/// `estimate_data_size(c1, c2, …)` per row.
pub fn estimate_data_size(a: &Args) -> DFResult<ArrayRef> {
    let mut sizes = vec![0i64; a.n];
    for i in 0..a.len() {
        value_sizes(&a.array(i)?, &mut sizes);
    }
    Ok(arc(Int64Array::from(sizes)))
}

const UNITS: [&str; 7] = ["Bytes", "KB", "MB", "GB", "TB", "PB", "EB"];

/// Formats `size` bytes (base 1024) with `precision` decimals in `unit` (one of [`UNITS`],
/// case-insensitive) or, when `unit` is empty, the largest unit the size reaches. Trailing
/// zeros are dropped as KQL prints reals (`10.1 KB`, `19 MB`). `None` for an unknown unit.
pub fn format_size(size: f64, precision: i64, unit: &str) -> Option<String> {
    let exp = if unit.is_empty() {
        let mut e = 0;
        let mut v = size.abs();
        while v >= 1024.0 && e < UNITS.len() - 1 {
            v /= 1024.0;
            e += 1;
        }
        e
    } else {
        UNITS.iter().position(|u| u.eq_ignore_ascii_case(unit))?
    };
    let v = size / 1024f64.powi(exp as i32);
    let p = precision.clamp(0, 15) as usize;
    let mut text = format!("{v:.p$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if text == "-0" {
        text = "0".to_string();
    }
    Some(format!("{text} {}", UNITS[exp]))
}

/// `format_bytes(size_real, precision_long, units_string)` (the binder supplies defaults).
pub fn format_bytes(a: &Args) -> DFResult<ArrayRef> {
    let sizes = datafusion::arrow::compute::cast(&a.array(0)?, &DataType::Float64)?;
    let sizes = sizes.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().expect("cast to f64");
    let precision = datafusion::arrow::compute::cast(&a.array(1)?, &DataType::Int64)?;
    let precision = precision.as_any().downcast_ref::<Int64Array>().expect("cast to i64");
    let units = a.str(2)?;
    let out: StringArray = (0..a.n)
        .map(|i| {
            if sizes.is_null(i) {
                return None;
            }
            let p = if precision.is_null(i) { 0 } else { precision.value(i) };
            format_size(sizes.value(i), p, units.get(i).unwrap_or(""))
        })
        .collect();
    Ok(arc(out))
}

#[cfg(test)]
mod tests {
    use super::format_size;

    #[test]
    fn documented_examples() {
        assert_eq!(format_size(564.0, 0, "").unwrap(), "564 Bytes");
        assert_eq!(format_size(10332.0, 1, "").unwrap(), "10.1 KB");
        assert_eq!(format_size(20010332.0, 0, "").unwrap(), "19 MB");
        assert_eq!(format_size(20010332.0, 2, "").unwrap(), "19.08 MB");
        assert_eq!(format_size(20010332.0, 0, "KB").unwrap(), "19541 KB");
        assert_eq!(format_size(1024.0 * 1024.0 * 1024.0 * 3.5, 1, "gb").unwrap(), "3.5 GB");
        assert_eq!(format_size(0.0, 2, "").unwrap(), "0 Bytes");
        assert!(format_size(1.0, 0, "parsecs").is_none());
    }
}
