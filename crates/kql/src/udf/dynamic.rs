//! Dynamic (JSON) UDFs. A dynamic value is compact JSON text in a Utf8 column; these functions
//! parse it per row, so they never fail on bad JSON (it is treated as a JSON string).
//!
//! Type codes (a literal string argument telling a UDF the KQL types of its inputs):
//! one character per argument, `d` = dynamic (text is JSON), anything else = plain value.

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, DurationNanosecondBuilder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder, TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DFResult, ScalarValue};
use datafusion::logical_expr::ColumnarValue;
use keelwatch_jsonscan::{Step, Trust, member_text};
use serde_json::Value as Json;

use super::values::{dyn_text_to_json, dyn_text_to_string, json_at, string_at};
use super::{Args, arc};
use crate::timefmt::{parse_datetime, parse_timespan};

/// Walks `path` (object keys / array indexes, negative = from the end) into `v`.
pub fn walk<'a>(mut v: &'a Json, path: &[PathElem]) -> Option<&'a Json> {
    for p in path {
        v = match (p, v) {
            (PathElem::Key(k), Json::Object(m)) => m.get(k)?,
            (PathElem::Index(i), Json::Array(a)) => {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                a.get(usize::try_from(idx).ok()?)?
            }
            // `d["0"]` on an array and `d[0]` on an object are not found in KQL either
            _ => return None,
        };
    }
    Some(v)
}

/// One step of a dynamic path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathElem {
    Key(String),
    Index(i64),
}

fn path_at(a: &Args, row: usize, first: usize) -> DFResult<Option<Vec<PathElem>>> {
    let mut path = Vec::with_capacity(a.len() - first);
    for k in first..a.len() {
        let e = match &a.cols[k] {
            ColumnarValue::Scalar(s) => match s {
                ScalarValue::Utf8(Some(s)) => PathElem::Key(s.clone()),
                ScalarValue::Int64(Some(i)) => PathElem::Index(*i),
                ScalarValue::Int32(Some(i)) => PathElem::Index(i64::from(*i)),
                _ => return Ok(None),
            },
            ColumnarValue::Array(arr) => {
                if arr.is_null(row) {
                    return Ok(None);
                }
                match arr.data_type() {
                    DataType::Int64 | DataType::Int32 => {
                        match string_at(arr.as_ref(), row, false).and_then(|s| s.parse().ok()) {
                            Some(i) => PathElem::Index(i),
                            None => return Ok(None),
                        }
                    }
                    _ => PathElem::Key(string_at(arr.as_ref(), row, true).unwrap_or_default()),
                }
            }
        };
        path.push(e);
    }
    Ok(Some(path))
}

/// `kql_dyn_get(value, path…)` → dynamic text of the member, or null when absent. With a
/// constant path the member is located by [`keelwatch_jsonscan::find`] without building a JSON tree.
pub fn get(a: &Args) -> DFResult<ArrayRef> {
    let base = a.str(0)?;
    let mut out = StringBuilder::new();
    let const_path =
        if a.cols[1..].iter().all(|c| matches!(c, ColumnarValue::Scalar(_))) { path_at(a, 0, 1)? } else { None };
    let steps: Option<Vec<Step<'_>>> = const_path.as_ref().map(|p| {
        p.iter()
            .map(|e| match e {
                PathElem::Key(k) => Step::Key(k),
                PathElem::Index(i) => Step::Index(*i),
            })
            .collect()
    });
    // Text from a workspace table is valid JSON: the scan may stop at the member instead of
    // validating the rest of every value (a third of the join benchmark's time, perf).
    let trust = if a.valid_json(0) { Trust::Valid } else { Trust::Validate };
    for i in 0..a.n {
        let Some(text) = base.get(i) else {
            out.append_null();
            continue;
        };
        if let Some(p) = &steps
            && let Some(m) = member_text(text, p, trust)
        {
            match m {
                Some(t) => out.append_value(t),
                None => out.append_null(),
            }
            continue;
        }
        let path = match &const_path {
            Some(p) => Some(p.clone()),
            None => path_at(a, i, 1)?,
        };
        let Some(path) = path else {
            out.append_null();
            continue;
        };
        let v = dyn_text_to_json(text);
        match walk(&v, &path) {
            Some(Json::Null) | None => out.append_null(),
            Some(m) => out.append_value(m.to_string()),
        }
    }
    Ok(arc(out.finish()))
}

/// `parse_json(text)` → dynamic: valid JSON is normalised, other text becomes a JSON string.
/// The second argument is the input's type code (`d` when already dynamic).
pub fn parse_json(a: &Args) -> DFResult<ArrayRef> {
    let arr = a.array(0)?;
    let is_dyn = a.lit_str(1).as_deref() == Some("d");
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        if arr.is_null(i) {
            out.append_null();
            continue;
        }
        match arr.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let s = string_at(arr.as_ref(), i, false).unwrap_or_default();
                let v = if is_dyn {
                    // a dynamic string holding JSON text is parsed again, as in KQL
                    match dyn_text_to_json(&s) {
                        Json::String(inner) => serde_json::from_str(&inner).unwrap_or(Json::String(inner)),
                        other => other,
                    }
                } else {
                    serde_json::from_str(&s).unwrap_or(Json::String(s))
                };
                out.append_value(v.to_string());
            }
            _ => out.append_value(json_at(arr.as_ref(), i, false).to_string()),
        }
    }
    Ok(arc(out.finish()))
}

/// `kql_to_dynamic(value, code)` → dynamic text of any value (lists become arrays).
pub fn to_dynamic(a: &Args) -> DFResult<ArrayRef> {
    let arr = a.array(0)?;
    let is_dyn = a.lit_str(1).as_deref() == Some("d");
    let max = a.lit_i64(2).filter(|m| *m >= 0).map(|m| m as usize);
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        match json_at(arr.as_ref(), i, is_dyn) {
            Json::Null => out.append_null(),
            Json::Array(mut items) => {
                if let Some(m) = max {
                    items.truncate(m);
                }
                out.append_value(Json::Array(items).to_string())
            }
            v => out.append_value(v.to_string()),
        }
    }
    Ok(arc(out.finish()))
}

/// `kql_tostring(value, code)` → string, never null (`tostring(null)` is `""`).
pub fn tostring(a: &Args) -> DFResult<ArrayRef> {
    let arr = a.array(0)?;
    let is_dyn = a.lit_str(1).as_deref() == Some("d");
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        out.append_value(string_at(arr.as_ref(), i, is_dyn).unwrap_or_default());
    }
    Ok(arc(out.finish()))
}

/// Text of a value for conversion: dynamic strings unquoted.
fn text_for_convert(arr: &dyn Array, i: usize, is_dyn: bool) -> Option<String> {
    let s = string_at(arr, i, false)?;
    Some(if is_dyn { dyn_text_to_string(&s).into_owned() } else { s })
}

fn parse_long(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>()
        .ok()
        .or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite() && f.abs() < 9.2e18).map(|f| f.trunc() as i64))
}

/// `kql_convert(value, code, target)` → the target type (`long`, `int`, `real`, `bool`,
/// `datetime`, `timespan`, `guid`), null when the text does not parse.
pub fn convert(a: &Args) -> DFResult<ArrayRef> {
    let arr = a.array(0)?;
    let is_dyn = a.lit_str(1).as_deref() == Some("d");
    let target = a.lit_str(2).unwrap_or_default();
    let n = a.n;
    let texts = (0..n).map(|i| text_for_convert(arr.as_ref(), i, is_dyn));
    Ok(match target.as_str() {
        "long" => {
            let mut b = Int64Builder::with_capacity(n);
            texts.for_each(|t| b.append_option(t.as_deref().and_then(parse_long)));
            arc(b.finish())
        }
        "int" => {
            let mut b = Int32Builder::with_capacity(n);
            texts.for_each(|t| b.append_option(t.as_deref().and_then(parse_long).and_then(|v| i32::try_from(v).ok())));
            arc(b.finish())
        }
        "real" => {
            let mut b = Float64Builder::with_capacity(n);
            texts.for_each(|t| b.append_option(t.as_deref().and_then(|s| s.trim().parse::<f64>().ok())));
            arc(b.finish())
        }
        "bool" => {
            let mut b = BooleanBuilder::with_capacity(n);
            texts.for_each(|t| {
                b.append_option(t.as_deref().and_then(|s| match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => None,
                }))
            });
            arc(b.finish())
        }
        "datetime" => {
            let mut b = TimestampNanosecondBuilder::with_capacity(n).with_timezone(crate::types::UTC);
            texts.for_each(|t| b.append_option(t.as_deref().and_then(parse_datetime)));
            arc(b.finish())
        }
        "timespan" => {
            let mut b = DurationNanosecondBuilder::with_capacity(n);
            texts.for_each(|t| b.append_option(t.as_deref().and_then(parse_timespan)));
            arc(b.finish())
        }
        "guid" | "string" => {
            let mut b = StringBuilder::new();
            texts.for_each(|t| b.append_option(t));
            arc(b.finish())
        }
        other => return Err(DataFusionError::Execution(format!("unknown conversion target {other}"))),
    })
}

/// `pack(k1, v1, k2, v2, …, codes)` → dynamic property bag (null values are kept as null).
pub fn pack(a: &Args) -> DFResult<ArrayRef> {
    let codes = a.lit_str(a.len() - 1).unwrap_or_default();
    let codes: Vec<char> = codes.chars().collect();
    let arrays: Vec<ArrayRef> = (0..a.len() - 1).map(|k| a.array(k)).collect::<DFResult<_>>()?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let mut m = serde_json::Map::new();
        for pair in (0..arrays.len()).step_by(2) {
            let Some(k) = string_at(arrays[pair].as_ref(), i, false) else { continue };
            let v = arrays
                .get(pair + 1)
                .map(|v| json_at(v.as_ref(), i, codes.get(pair + 1) == Some(&'d')))
                .unwrap_or(Json::Null);
            m.insert(k, v);
        }
        out.append_value(Json::Object(m).to_string());
    }
    Ok(arc(out.finish()))
}

/// `pack_array(v1, v2, …, codes)` → dynamic array.
pub fn pack_array(a: &Args) -> DFResult<ArrayRef> {
    let codes: Vec<char> = a.lit_str(a.len() - 1).unwrap_or_default().chars().collect();
    let arrays: Vec<ArrayRef> = (0..a.len() - 1).map(|k| a.array(k)).collect::<DFResult<_>>()?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let items: Vec<Json> =
            arrays.iter().enumerate().map(|(k, arr)| json_at(arr.as_ref(), i, codes.get(k) == Some(&'d'))).collect();
        out.append_value(Json::Array(items).to_string());
    }
    Ok(arc(out.finish()))
}

/// `array_length(d)` → long; null when not an array.
pub fn array_length(a: &Args) -> DFResult<ArrayRef> {
    let s = a.str(0)?;
    let mut out = Int64Builder::with_capacity(a.n);
    for i in 0..a.n {
        out.append_option(s.get(i).and_then(|t| match dyn_text_to_json(t) {
            Json::Array(v) => Some(v.len() as i64),
            _ => None,
        }));
    }
    Ok(arc(out.finish()))
}

/// `strcat_array(d, delimiter)` → string.
pub fn strcat_array(a: &Args) -> DFResult<ArrayRef> {
    let s = a.str(0)?;
    let d = a.str(1)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let items = match s.get(i).map(dyn_text_to_json) {
            Some(Json::Array(v)) => v,
            _ => Vec::new(),
        };
        let parts: Vec<String> = items
            .iter()
            .map(|v| match v {
                Json::String(s) => s.clone(),
                Json::Null => String::new(),
                other => other.to_string(),
            })
            .collect();
        out.append_value(parts.join(d.get(i).unwrap_or("")));
    }
    Ok(arc(out.finish()))
}

/// `bag_keys(d)` → dynamic array of the property names.
pub fn bag_keys(a: &Args) -> DFResult<ArrayRef> {
    let s = a.str(0)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        match s.get(i).map(dyn_text_to_json) {
            Some(Json::Object(m)) => {
                out.append_value(Json::Array(m.keys().map(|k| Json::String(k.clone())).collect()).to_string())
            }
            _ => out.append_null(),
        }
    }
    Ok(arc(out.finish()))
}

/// `set_has_element(d, value)` / `array_index_of(d, value)` (mode literal 0 / 1).
pub fn array_find(a: &Args) -> DFResult<ArrayRef> {
    let s = a.str(0)?;
    let v = a.array(1)?;
    let mode = a.lit_i64(2).unwrap_or(0);
    let needle_dyn = a.lit_str(3).as_deref() == Some("d");
    let mut bools = BooleanBuilder::with_capacity(a.n);
    let mut idxs = Int64Builder::with_capacity(a.n);
    for i in 0..a.n {
        let needle = json_at(v.as_ref(), i, needle_dyn);
        let pos = match s.get(i).map(dyn_text_to_json) {
            Some(Json::Array(items)) => Some(items.iter().position(|x| *x == needle).map(|p| p as i64).unwrap_or(-1)),
            _ => None,
        };
        bools.append_value(pos.is_some_and(|p| p >= 0));
        idxs.append_option(pos);
    }
    Ok(if mode == 0 { arc(bools.finish()) } else { arc(idxs.finish()) })
}

/// `kql_array_items(d)` → List<Utf8> of element texts, for `mv-expand`: arrays give their
/// elements, property bags give one `{"key": value}` bag per property, scalars themselves.
pub fn array_items(a: &Args) -> DFResult<ArrayRef> {
    let s = a.str(0)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..a.n {
        match s.get(i).map(dyn_text_to_json) {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for it in items {
                    match it {
                        Json::Null => out.values().append_null(),
                        v => out.values().append_value(v.to_string()),
                    }
                }
            }
            Some(Json::Object(m)) => {
                for (k, v) in m {
                    let mut one = serde_json::Map::new();
                    one.insert(k, v);
                    out.values().append_value(Json::Object(one).to_string());
                }
            }
            Some(v) => out.values().append_value(v.to_string()),
        }
        out.append(true);
    }
    Ok(arc(out.finish()))
}

/// `gettype(value, code)`: KQL type name of each value; for dynamic the JSON kind
/// (`string`, `long`, `real`, `bool`, `array`, `dictionary`, `null`).
pub fn gettype(a: &Args) -> DFResult<ArrayRef> {
    let arr = a.array(0)?;
    let code = a.lit_str(1).unwrap_or_default();
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        if code == "d" {
            let t = match json_at(arr.as_ref(), i, true) {
                Json::Null => "null",
                Json::Bool(_) => "bool",
                Json::Number(n) if n.is_i64() || n.is_u64() => "long",
                Json::Number(_) => "real",
                Json::String(_) => "string",
                Json::Array(_) => "array",
                Json::Object(_) => "dictionary",
            };
            out.append_value(t);
        } else {
            out.append_value(&code);
        }
    }
    Ok(arc(out.finish()))
}

/// `kql_merge_bags(list)` → one property bag merging the bags of a list (later keys win;
/// non-bag elements are ignored). Used by `make_bag`.
pub fn merge_bags(a: &Args) -> DFResult<ArrayRef> {
    let arr = a.array(0)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let mut m = serde_json::Map::new();
        if let Json::Array(items) = json_at(arr.as_ref(), i, true) {
            for it in items {
                if let Json::Object(o) = it {
                    m.extend(o);
                }
            }
        }
        out.append_value(Json::Object(m).to_string());
    }
    Ok(arc(out.finish()))
}

/// `base64_encode_tostring(s)` (mode 0) / `base64_decode_tostring(s)` (mode 1; invalid input
/// or non-UTF-8 output gives an empty string, as in Kusto).
pub fn base64(a: &Args) -> DFResult<ArrayRef> {
    use base64::Engine as _;
    let s = a.str(0)?;
    let decode = a.lit_i64(1).unwrap_or(0) == 1;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let Some(t) = s.get(i) else {
            out.append_null();
            continue;
        };
        if decode {
            let v = base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            out.append_value(v);
        } else {
            out.append_value(base64::engine::general_purpose::STANDARD.encode(t.as_bytes()));
        }
    }
    Ok(arc(out.finish()))
}
