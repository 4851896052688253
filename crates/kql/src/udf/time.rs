//! Datetime UDFs that need calendar logic: `datetime_add`, `datetime_diff`, `format_datetime`,
//! `make_datetime`, `startofweek`/`startofmonth`/`startofyear` (KQL weeks start on Sunday).
//! Inputs are Timestamp(ns) arrays (the binder casts), outputs Timestamp(ns, UTC) or Int64.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Timelike, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampNanosecondType};
use datafusion::common::{DataFusionError, Result as DFResult};

use super::{Args, arc};
use crate::lexer::{NS_PER_DAY, NS_PER_HOUR, NS_PER_MIN, NS_PER_MS, NS_PER_SEC};

fn ts_arg(a: &Args, i: usize) -> DFResult<ArrayRef> {
    let arr = a.array(i)?;
    Ok(datafusion::arrow::compute::cast(&arr, &DataType::Timestamp(TimeUnit::Nanosecond, None))?)
}
fn i64_arg(a: &Args, i: usize) -> DFResult<ArrayRef> {
    let arr = a.array(i)?;
    Ok(datafusion::arrow::compute::cast(&arr, &DataType::Int64)?)
}

fn dt(ns: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_nanos(ns)
}

/// Valid KQL datetime parts, normalised (`"Year"`, `"years"` → `year`).
pub fn norm_part(p: &str) -> Option<&'static str> {
    Some(match p.to_ascii_lowercase().trim_end_matches('s') {
        "year" => "year",
        "quarter" => "quarter",
        "month" => "month",
        "week" => "week",
        "day" => "day",
        "hour" => "hour",
        "minute" => "minute",
        "second" => "second",
        "millisecond" => "millisecond",
        "microsecond" => "microsecond",
        "nanosecond" => "nanosecond",
        _ => return None,
    })
}

fn add(ns: i64, part: &str, n: i64) -> Option<i64> {
    let fixed = |unit: i64| ns.checked_add(n.checked_mul(unit)?);
    match part {
        "year" | "quarter" | "month" => {
            let months = n.checked_mul(match part {
                "year" => 12,
                "quarter" => 3,
                _ => 1,
            })?;
            let d = dt(ns);
            let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
            let r = if months >= 0 { d.checked_add_months(m)? } else { d.checked_sub_months(m)? };
            r.timestamp_nanos_opt()
        }
        "week" => fixed(7 * NS_PER_DAY),
        "day" => fixed(NS_PER_DAY),
        "hour" => fixed(NS_PER_HOUR),
        "minute" => fixed(NS_PER_MIN),
        "second" => fixed(NS_PER_SEC),
        "millisecond" => fixed(NS_PER_MS),
        "microsecond" => fixed(1_000),
        "nanosecond" => fixed(1),
        _ => None,
    }
}

/// `datetime_add(part, amount, dt)`.
pub fn datetime_add(a: &Args) -> DFResult<ArrayRef> {
    let part = a
        .lit_str(0)
        .and_then(|p| norm_part(&p))
        .ok_or_else(|| DataFusionError::Execution("datetime_add: invalid part".into()))?;
    let amount = i64_arg(a, 1)?;
    let amount = amount.as_primitive::<Int64Type>();
    let t = ts_arg(a, 2)?;
    let t = t.as_primitive::<TimestampNanosecondType>();
    let mut out = TimestampNanosecondBuilder::with_capacity(a.n).with_timezone(crate::types::UTC);
    for i in 0..a.n {
        if t.is_null(i) || amount.is_null(i) {
            out.append_null();
        } else {
            out.append_option(add(t.value(i), part, amount.value(i)));
        }
    }
    Ok(arc(out.finish()))
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// Number of `part` boundaries between b and a (a − b), as KQL's `datetime_diff`.
fn diff(part: &str, a: i64, b: i64) -> i64 {
    let (da, db) = (dt(a), dt(b));
    match part {
        "year" => i64::from(da.year() - db.year()),
        "quarter" => i64::from((da.year() * 4 + da.month0() as i32 / 3) - (db.year() * 4 + db.month0() as i32 / 3)),
        "month" => i64::from((da.year() * 12 + da.month0() as i32) - (db.year() * 12 + db.month0() as i32)),
        // weeks start on Sunday (epoch 1970-01-01 was a Thursday: shift by 4 days)
        "week" => floor_div(a + 4 * NS_PER_DAY, 7 * NS_PER_DAY) - floor_div(b + 4 * NS_PER_DAY, 7 * NS_PER_DAY),
        "day" => floor_div(a, NS_PER_DAY) - floor_div(b, NS_PER_DAY),
        "hour" => floor_div(a, NS_PER_HOUR) - floor_div(b, NS_PER_HOUR),
        "minute" => floor_div(a, NS_PER_MIN) - floor_div(b, NS_PER_MIN),
        "second" => floor_div(a, NS_PER_SEC) - floor_div(b, NS_PER_SEC),
        "millisecond" => floor_div(a, NS_PER_MS) - floor_div(b, NS_PER_MS),
        "microsecond" => floor_div(a, 1000) - floor_div(b, 1000),
        _ => a - b,
    }
}

/// `datetime_diff(part, dt1, dt2)` → long.
pub fn datetime_diff(a: &Args) -> DFResult<ArrayRef> {
    let part = a
        .lit_str(0)
        .and_then(|p| norm_part(&p))
        .ok_or_else(|| DataFusionError::Execution("datetime_diff: invalid part".into()))?;
    let x = ts_arg(a, 1)?;
    let y = ts_arg(a, 2)?;
    let (x, y) = (x.as_primitive::<TimestampNanosecondType>(), y.as_primitive::<TimestampNanosecondType>());
    let mut out = Int64Builder::with_capacity(a.n);
    for i in 0..a.n {
        if x.is_null(i) || y.is_null(i) {
            out.append_null();
        } else {
            out.append_value(diff(part, x.value(i), y.value(i)));
        }
    }
    Ok(arc(out.finish()))
}

/// Start of the period containing `ns`: `week` (Sunday), `month`, `year`; with an offset of
/// whole periods (`startofmonth(dt, -1)`).
fn start_of(part: &str, ns: i64, offset: i64) -> Option<i64> {
    let d = dt(ns);
    let date = d.date_naive();
    let start = match part {
        "week" => {
            let back = i64::from(date.weekday().num_days_from_sunday());
            let day = floor_div(ns, NS_PER_DAY) - back + offset * 7;
            return day.checked_mul(NS_PER_DAY);
        }
        "month" => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?,
        "year" => NaiveDate::from_ymd_opt(date.year(), 1, 1)?,
        _ => return None,
    };
    let s = Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0)?).timestamp_nanos_opt()?;
    add(s, part, offset)
}

/// `kql_startof(part, dt, offset)`.
pub fn startof(a: &Args) -> DFResult<ArrayRef> {
    let part = a.lit_str(0).unwrap_or_default();
    let t = ts_arg(a, 1)?;
    let t = t.as_primitive::<TimestampNanosecondType>();
    let off = i64_arg(a, 2)?;
    let off = off.as_primitive::<Int64Type>();
    let mut out = TimestampNanosecondBuilder::with_capacity(a.n).with_timezone(crate::types::UTC);
    for i in 0..a.n {
        if t.is_null(i) {
            out.append_null();
        } else {
            let o = if off.is_null(i) { 0 } else { off.value(i) };
            out.append_option(start_of(&part, t.value(i), o));
        }
    }
    Ok(arc(out.finish()))
}

/// Translates a .NET-style format (`yyyy-MM-dd HH:mm:ss.fff`) to text for one instant.
pub fn format_with(ns: i64, fmt: &str) -> String {
    let d = dt(ns);
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let frac = |digits: usize| {
            let s = format!("{:09}", d.nanosecond() % 1_000_000_000);
            s[..digits.min(9)].to_string()
        };
        match c {
            'y' => out.push_str(&if run <= 2 { format!("{:02}", d.year() % 100) } else { format!("{:04}", d.year()) }),
            'M' => out.push_str(&if run == 1 { d.month().to_string() } else { format!("{:02}", d.month()) }),
            'd' => out.push_str(&if run == 1 { d.day().to_string() } else { format!("{:02}", d.day()) }),
            'H' => out.push_str(&if run == 1 { d.hour().to_string() } else { format!("{:02}", d.hour()) }),
            'h' => {
                let h = if d.hour().is_multiple_of(12) { 12 } else { d.hour() % 12 };
                out.push_str(&if run == 1 { h.to_string() } else { format!("{h:02}") })
            }
            'm' => out.push_str(&if run == 1 { d.minute().to_string() } else { format!("{:02}", d.minute()) }),
            's' => out.push_str(&if run == 1 { d.second().to_string() } else { format!("{:02}", d.second()) }),
            'f' | 'F' => out.push_str(&frac(run)),
            't' => out.push_str(if d.hour() < 12 {
                if run == 1 { "A" } else { "AM" }
            } else if run == 1 {
                "P"
            } else {
                "PM"
            }),
            _ => {
                for _ in 0..run {
                    out.push(c);
                }
            }
        }
        i += run;
    }
    out
}

/// `format_datetime(dt, format)`.
pub fn format_datetime(a: &Args) -> DFResult<ArrayRef> {
    let t = ts_arg(a, 0)?;
    let t = t.as_primitive::<TimestampNanosecondType>();
    let f = a.str(1)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        match (t.is_null(i), f.get(i)) {
            (false, Some(fmt)) => out.append_value(format_with(t.value(i), fmt)),
            _ => out.append_null(),
        }
    }
    Ok(arc(out.finish()))
}

/// `make_datetime(year, month, day[, hour, minute, second])` (second may be fractional).
pub fn make_datetime(a: &Args) -> DFResult<ArrayRef> {
    let cols: Vec<ArrayRef> = (0..a.len())
        .map(|k| a.array(k).and_then(|arr| Ok(datafusion::arrow::compute::cast(&arr, &DataType::Float64)?)))
        .collect::<DFResult<_>>()?;
    let mut out = TimestampNanosecondBuilder::with_capacity(a.n).with_timezone(crate::types::UTC);
    for i in 0..a.n {
        let vals: Option<Vec<f64>> = cols
            .iter()
            .map(|c| {
                let p = c.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                (!p.is_null(i)).then(|| p.value(i))
            })
            .collect();
        let r = vals.and_then(|v| {
            let date = NaiveDate::from_ymd_opt(v[0] as i32, v[1] as u32, v[2] as u32)?;
            let h = v.get(3).copied().unwrap_or(0.0) as u32;
            let mi = v.get(4).copied().unwrap_or(0.0) as u32;
            let s = v.get(5).copied().unwrap_or(0.0);
            let base = Utc.from_utc_datetime(&date.and_hms_opt(h, mi, 0)?).timestamp_nanos_opt()?;
            base.checked_add((s * NS_PER_SEC as f64).round() as i64)
        });
        out.append_option(r);
    }
    Ok(arc(out.finish()))
}

/// Formats a timespan (ns) with a .NET-style custom format: `d`, `h`/`hh`, `H`/`HH`, `m`/`mm`,
/// `s`/`ss`, `f…`/`F…` (fraction digits); other characters are copied, `'…'` quotes literal text.
pub fn format_span_with(ns: i64, fmt: &str) -> String {
    let a = ns.unsigned_abs();
    let frac_ns = a % 1_000_000_000;
    let total_s = a / 1_000_000_000;
    let (d, h, m, s) = (total_s / 86_400, (total_s / 3600) % 24, (total_s / 60) % 60, total_s % 60);
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '\\' && i + 1 < chars.len() {
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let pad = |v: u64| if run >= 2 { format!("{v:0width$}", width = run) } else { v.to_string() };
        match c {
            'd' => out.push_str(&pad(d)),
            'h' | 'H' => out.push_str(&pad(h)),
            'm' => out.push_str(&pad(m)),
            's' => out.push_str(&pad(s)),
            'f' | 'F' => out.push_str(&format!("{frac_ns:09}")[..run.min(9)]),
            _ => (0..run).for_each(|_| out.push(c)),
        }
        i += run;
    }
    out
}

/// `format_timespan(ts, format)` (first argument as Int64 ns).
pub fn format_timespan(a: &Args) -> DFResult<ArrayRef> {
    let t = i64_arg(a, 0)?;
    let t = t.as_primitive::<Int64Type>();
    let f = a.str(1)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        match (t.is_null(i), f.get(i)) {
            (false, Some(fmt)) => out.append_value(format_span_with(t.value(i), fmt)),
            _ => out.append_null(),
        }
    }
    Ok(arc(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::parse_datetime;

    #[test]
    fn calendar_math() {
        let a = parse_datetime("2017-10-31T01:00:00Z").unwrap();
        let b = parse_datetime("2017-10-30T23:59:00Z").unwrap();
        assert_eq!(diff("hour", a, b), 2);
        assert_eq!(diff("day", a, b), 1);
        assert_eq!(diff("year", parse_datetime("2017-01-01").unwrap(), parse_datetime("2000-12-31").unwrap()), 17);
        let jan31 = parse_datetime("2024-01-31").unwrap();
        assert_eq!(add(jan31, "month", 1), parse_datetime("2024-02-29"));
        // 2024-05-15 is a Wednesday; the week starts Sunday 2024-05-12
        assert_eq!(start_of("week", parse_datetime("2024-05-15T10:00:00Z").unwrap(), 0), parse_datetime("2024-05-12"));
        assert_eq!(
            format_with(parse_datetime("2024-05-15T10:04:05.123Z").unwrap(), "yyyy-MM-dd HH:mm:ss.fff"),
            "2024-05-15 10:04:05.123"
        );
    }
}
