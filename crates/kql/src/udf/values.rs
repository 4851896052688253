//! Rendering Arrow values as KQL text (`tostring`) and as JSON (dynamic values, API rows).

use std::borrow::Cow;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use serde_json::Value as Json;

use crate::timefmt::{format_datetime, format_timespan};

/// The text of a dynamic value as `tostring` gives it: a JSON string is unquoted, anything
/// else is its JSON text. Text that is not JSON at all is returned unchanged.
pub fn dyn_text_to_string(s: &str) -> Cow<'_, str> {
    // fast path: a JSON string without escapes is its inner text
    if let Some(inner) = plain_json_string(s) {
        return Cow::Borrowed(inner);
    }
    if s.starts_with('"')
        && let Ok(Json::String(v)) = serde_json::from_str::<Json>(s)
    {
        return Cow::Owned(v);
    }
    Cow::Borrowed(s)
}

/// The content of `s` when it is a JSON string that needs no unescaping (no `\\`, `"` or
/// control characters inside).
#[inline]
pub fn plain_json_string(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        let inner = &b[1..b.len() - 1];
        if !inner.iter().any(|c| *c == b'\\' || *c == b'"' || *c < 0x20) {
            return Some(&s[1..s.len() - 1]);
        }
    }
    None
}

/// Parses dynamic text into JSON; text that is not JSON is a JSON string.
pub fn dyn_text_to_json(s: &str) -> Json {
    serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.to_string()))
}

fn ts_to_ns(unit: &TimeUnit, v: i64) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000_000),
        TimeUnit::Microsecond => v.saturating_mul(1_000),
        TimeUnit::Nanosecond => v,
    }
}

/// Formats a real the way Kusto prints it (`2`, `1.5`, `NaN`, `Infinity`).
pub fn format_real(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        format!("{v}")
    }
}

fn real_json(v: f64) -> Json {
    serde_json::Number::from_f64(v).map(Json::Number).unwrap_or_else(|| Json::String(format_real(v)))
}

/// Value at row `i` as JSON. `dynamic_text`: Utf8 values hold JSON text (dynamic columns) and
/// are embedded parsed rather than as strings.
pub fn json_at(arr: &dyn Array, i: usize, dynamic_text: bool) -> Json {
    if arr.is_null(i) {
        return Json::Null;
    }
    match arr.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = str_value(arr, i);
            if dynamic_text { dyn_text_to_json(s) } else { Json::String(s.to_string()) }
        }
        DataType::Boolean => Json::Bool(arr.as_boolean().value(i)),
        DataType::Int8 => Json::from(arr.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Json::from(arr.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Json::from(arr.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Json::from(arr.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Json::from(arr.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Json::from(arr.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Json::from(arr.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Json::from(arr.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => real_json(arr.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => real_json(arr.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(_, _) | DataType::Duration(_) => Json::String(string_at(arr, i, false).unwrap_or_default()),
        DataType::List(_) => {
            let l = arr.as_list::<i32>().value(i);
            Json::Array((0..l.len()).map(|j| json_at(l.as_ref(), j, dynamic_text)).collect())
        }
        DataType::LargeList(_) => {
            let l = arr.as_list::<i64>().value(i);
            Json::Array((0..l.len()).map(|j| json_at(l.as_ref(), j, dynamic_text)).collect())
        }
        DataType::Struct(fields) => {
            let s = arr.as_struct();
            let mut m = serde_json::Map::new();
            for (k, f) in fields.iter().enumerate() {
                m.insert(f.name().clone(), json_at(s.column(k).as_ref(), i, dynamic_text));
            }
            Json::Object(m)
        }
        _ => Json::String(string_at(arr, i, false).unwrap_or_default()),
    }
}

fn str_value(arr: &dyn Array, i: usize) -> &str {
    match arr.data_type() {
        DataType::Utf8 => arr.as_string::<i32>().value(i),
        DataType::LargeUtf8 => arr.as_string::<i64>().value(i),
        DataType::Utf8View => arr.as_string_view().value(i),
        _ => "",
    }
}

/// Value at row `i` as KQL `tostring` text; `None` for null. `dynamic_text` as in [`json_at`].
pub fn string_at(arr: &dyn Array, i: usize, dynamic_text: bool) -> Option<String> {
    if arr.is_null(i) {
        return None;
    }
    Some(match arr.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = str_value(arr, i);
            if dynamic_text { dyn_text_to_string(s).into_owned() } else { s.to_string() }
        }
        DataType::Boolean => arr.as_boolean().value(i).to_string(),
        DataType::Float32 => format_real(arr.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => format_real(arr.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => arr.as_primitive::<datafusion::arrow::datatypes::TimestampSecondType>().value(i),
                TimeUnit::Millisecond => {
                    arr.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>().value(i)
                }
                TimeUnit::Microsecond => {
                    arr.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>().value(i)
                }
                TimeUnit::Nanosecond => {
                    arr.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>().value(i)
                }
            };
            format_datetime(ts_to_ns(unit, v))
        }
        DataType::Duration(unit) => {
            let v = match unit {
                TimeUnit::Second => arr.as_primitive::<datafusion::arrow::datatypes::DurationSecondType>().value(i),
                TimeUnit::Millisecond => {
                    arr.as_primitive::<datafusion::arrow::datatypes::DurationMillisecondType>().value(i)
                }
                TimeUnit::Microsecond => {
                    arr.as_primitive::<datafusion::arrow::datatypes::DurationMicrosecondType>().value(i)
                }
                TimeUnit::Nanosecond => {
                    arr.as_primitive::<datafusion::arrow::datatypes::DurationNanosecondType>().value(i)
                }
            };
            format_timespan(ts_to_ns(unit, v))
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) => json_at(arr, i, dynamic_text).to_string(),
        _ => {
            let opts = datafusion::arrow::util::display::FormatOptions::default();
            let f = datafusion::arrow::util::display::ArrayFormatter::try_new(arr, &opts).ok()?;
            f.value(i).to_string()
        }
    })
}
