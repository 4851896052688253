//! Datetime and timespan text: parsing KQL literals / `todatetime` input, and formatting
//! values the way Kusto prints them (`2024-01-02T03:04:05.123Z`, `1.02:03:04.5000000`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use crate::lexer::{NS_PER_DAY, NS_PER_HOUR, NS_PER_MIN, NS_PER_SEC, timespan_unit};

/// Parses a datetime text (ISO 8601 / RFC 3339, `YYYY-MM-DD[ T]hh:mm[:ss[.f]][Z|±hh:mm]`,
/// date only, RFC 2822) into nanoseconds since the Unix epoch, UTC.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return d.with_timezone(&Utc).timestamp_nanos_opt();
    }
    let t = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')).unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, fmt) {
            return d.and_utc().timestamp_nanos_opt();
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f %z"] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return d.with_timezone(&Utc).timestamp_nanos_opt();
        }
    }
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
            return d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt();
        }
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return d.with_timezone(&Utc).timestamp_nanos_opt();
    }
    None
}

/// Formats nanoseconds since the epoch as ISO 8601 UTC with `Z`, fractional digits only when
/// non-zero (3, 6 or 9 digits), e.g. `2024-01-02T03:04:05Z`.
pub fn format_datetime(ns: i64) -> String {
    let d = DateTime::<Utc>::from_timestamp_nanos(ns);
    d.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses a timespan text: `5m`/`1.5h`-style, `[-][d.]hh:mm[:ss[.fffffff]]`, or a plain number
/// of days (`2` = 2 days, as in `timespan(2)`).
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if body.contains(':') {
        let (days, clock) = match body.split_once(':') {
            Some((first, _)) if first.contains('.') => {
                let (d, rest) = body.split_once('.')?;
                (d.parse::<i64>().ok()?, rest)
            }
            _ => (0, body),
        };
        let parts: Vec<&str> = clock.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return None;
        }
        let h: i64 = parts[0].parse().ok()?;
        let m: i64 = parts[1].parse().ok()?;
        let sec_ns = match parts.get(2) {
            Some(p) => {
                let f: f64 = p.parse().ok()?;
                (f * NS_PER_SEC as f64).round() as i64
            }
            None => 0,
        };
        days.checked_mul(NS_PER_DAY)?
            .checked_add(h.checked_mul(NS_PER_HOUR)?)?
            .checked_add(m.checked_mul(NS_PER_MIN)?)?
            .checked_add(sec_ns)?
    } else {
        let split = body.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(body.len());
        let (num, unit) = body.split_at(split);
        let per = if unit.is_empty() { NS_PER_DAY } else { timespan_unit(unit)? };
        let f: f64 = num.parse().ok()?;
        let ns = f * per as f64;
        if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
            return None;
        }
        ns.round() as i64
    };
    Some(if neg { -v } else { v })
}

/// Formats nanoseconds as a Kusto timespan: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(ns: i64) -> String {
    let neg = ns < 0;
    let a = ns.unsigned_abs();
    let ticks = a / 100;
    let frac = ticks % 10_000_000;
    let total_s = ticks / 10_000_000;
    let (d, h, m, s) = (total_s / 86_400, (total_s / 3600) % 24, (total_s / 60) % 60, total_s % 60);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if d > 0 {
        out.push_str(&format!("{d}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        let base = parse_datetime("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(format_datetime(base), "2024-01-02T03:04:05Z");
        assert_eq!(parse_datetime("2024-01-02 03:04:05"), Some(base));
        assert_eq!(parse_datetime("2024-01-02T05:04:05+02:00"), Some(base));
        assert_eq!(parse_datetime("2024-01-02"), Some(base - (3 * 3600 + 4 * 60 + 5) * NS_PER_SEC));
        assert_eq!(format_datetime(base + 123_000_000), "2024-01-02T03:04:05.123Z");
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("1h"), Some(NS_PER_HOUR));
        assert_eq!(parse_timespan("01:30:00"), Some(90 * NS_PER_MIN));
        assert_eq!(parse_timespan("1.02:00:00"), Some(NS_PER_DAY + 2 * NS_PER_HOUR));
        assert_eq!(parse_timespan("2"), Some(2 * NS_PER_DAY));
        assert_eq!(format_timespan(NS_PER_DAY + 2 * NS_PER_HOUR + 500_000_000), "1.02:00:00.5000000");
        assert_eq!(format_timespan(-5 * NS_PER_MIN), "-00:05:00");
    }
}
