//! JSON rows → Arrow record batches, with the schema check.
//!
//! Input rows are JSON objects keyed by column names (exact case). Accepted values per type:
//! - string: any JSON string; numbers and booleans are written as their JSON text; objects and
//!   arrays as compact JSON text (so `PodLabel` may be sent as a real array).
//! - long / int: JSON integers (or floats with no fraction, or strings holding an integer);
//!   int must fit in 32 bits.
//! - real: any JSON number, or a string holding one.
//! - bool: `true`/`false`, the strings "true"/"false" (any case), or 0/1.
//! - datetime: an RFC 3339 string (`2026-11-27T09:00:00.123Z`, offsets allowed, stored as UTC).
//! - dynamic: any JSON value, stored as compact JSON text (a string value keeps its quotes).
//! - timespan: a string `[-][d.]hh:mm:ss[.fffffffff]`.
//! - guid: a string `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex).
//!
//! `null` or a missing key gives a null cell, except `TimeGenerated`, which defaults to the
//! ingestion time (as in Log Analytics). Unknown keys are an error unless the caller asks to
//! ignore them. Any error rejects the whole request and names the row (1-based; the line number
//! for NDJSON) and the column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, DurationNanosecondBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use keelwatch_tables::{ColumnType, TableSchema};
use serde_json::{Map, Value};

use crate::error::{Error, Result, RowError};

/// What to do with keys that are not columns of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownColumns {
    /// Reject the request (default).
    #[default]
    Reject,
    /// Drop the key silently.
    Ignore,
}

/// A parsed request body: objects with their 1-based row numbers.
#[derive(Debug, Default)]
pub struct ParsedRows {
    /// `(row number, object)`; row number is the NDJSON line or the array position.
    pub rows: Vec<(usize, Map<String, Value>)>,
}

impl ParsedRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Parses a body that is either a JSON array of objects or NDJSON (one object per line; blank
/// lines skipped). A single JSON object is accepted as one row.
pub fn parse_body(body: &[u8]) -> Result<ParsedRows> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Ok(ParsedRows::default());
    };
    if body[first] == b'[' {
        let values: Vec<Value> = serde_json::from_slice(body).map_err(json_err(0))?;
        let mut rows = Vec::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Value::Object(m) => rows.push((i + 1, m)),
                other => {
                    return Err(Error::Json {
                        line: 1,
                        column: 1,
                        message: format!(
                            "array element {} is {}, expected an object keyed by column names",
                            i + 1,
                            kind(&other)
                        ),
                    });
                }
            }
        }
        return Ok(ParsedRows { rows });
    }
    let mut rows = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let v: Value = serde_json::from_slice(line).map_err(json_err(i))?;
        match v {
            Value::Object(m) => rows.push((line_no, m)),
            other => {
                return Err(Error::Json {
                    line: line_no,
                    column: 1,
                    message: format!("line is {}, expected a JSON object", kind(&other)),
                });
            }
        }
    }
    Ok(ParsedRows { rows })
}

fn json_err(line_offset: usize) -> impl Fn(serde_json::Error) -> Error {
    move |e| Error::Json { line: e.line() + line_offset, column: e.column(), message: e.to_string() }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn show(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let mut cut = 57;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

enum Builder {
    Str(StringBuilder),
    Dyn(StringBuilder),
    Guid(StringBuilder),
    I64(Int64Builder),
    I32(Int32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampNanosecondBuilder),
    Dur(DurationNanosecondBuilder),
}

impl Builder {
    fn new(ty: ColumnType, cap: usize) -> Builder {
        let text = match ty {
            ColumnType::Dynamic => cap * 32,
            ColumnType::Guid => cap * 36,
            _ => cap * 16,
        };
        Builder::with_text(ty, cap, text)
    }

    /// A builder for `cap` values; text columns get room for `text` bytes.
    fn with_text(ty: ColumnType, cap: usize, text: usize) -> Builder {
        match ty {
            ColumnType::String => Builder::Str(StringBuilder::with_capacity(cap, text)),
            ColumnType::Dynamic => Builder::Dyn(StringBuilder::with_capacity(cap, text)),
            ColumnType::Guid => Builder::Guid(StringBuilder::with_capacity(cap, text)),
            ColumnType::Long => Builder::I64(Int64Builder::with_capacity(cap)),
            ColumnType::Int => Builder::I32(Int32Builder::with_capacity(cap)),
            ColumnType::Real => Builder::F64(Float64Builder::with_capacity(cap)),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(cap)),
            ColumnType::DateTime => Builder::Ts(TimestampNanosecondBuilder::with_capacity(cap).with_timezone("UTC")),
            ColumnType::TimeSpan => Builder::Dur(DurationNanosecondBuilder::with_capacity(cap)),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Str(b) | Builder::Dyn(b) | Builder::Guid(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Ts(b) => b.append_null(),
            Builder::Dur(b) => b.append_null(),
        }
    }

    /// Appends a non-null value; on a type mismatch returns the message.
    fn append(&mut self, v: &Value, scratch: &mut String) -> std::result::Result<(), String> {
        match self {
            Builder::Str(b) => match v {
                Value::String(s) => b.append_value(s),
                other => {
                    scratch.clear();
                    write_json(scratch, other);
                    b.append_value(scratch.as_str());
                }
            },
            Builder::Dyn(b) => {
                scratch.clear();
                write_json(scratch, v);
                b.append_value(scratch.as_str());
            }
            Builder::Guid(b) => match v {
                Value::String(s) if is_guid(s) => b.append_value(s),
                other => return Err(expected("guid", other)),
            },
            Builder::I64(b) => b.append_value(as_i64(v).ok_or_else(|| expected("long", v))?),
            Builder::I32(b) => {
                let n = as_i64(v).ok_or_else(|| expected("int", v))?;
                let n =
                    i32::try_from(n).map_err(|_| format!("expected int, got {n}, which does not fit in 32 bits"))?;
                b.append_value(n)
            }
            Builder::F64(b) => b.append_value(as_f64(v).ok_or_else(|| expected("real", v))?),
            Builder::Bool(b) => b.append_value(as_bool(v).ok_or_else(|| expected("bool", v))?),
            Builder::Ts(b) => match v {
                Value::String(s) => b.append_value(parse_datetime(s).ok_or_else(|| {
                    format!("expected datetime (RFC 3339, e.g. 2026-11-27T09:00:00Z), got {}", show(v))
                })?),
                other => return Err(expected("datetime (an RFC 3339 string)", other)),
            },
            Builder::Dur(b) => match v {
                Value::String(s) => b.append_value(
                    parse_timespan(s)
                        .ok_or_else(|| format!("expected timespan ([d.]hh:mm:ss[.fffffff]), got {}", show(v)))?,
                ),
                other => return Err(expected("timespan (a string [d.]hh:mm:ss)", other)),
            },
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Str(mut b) | Builder::Dyn(mut b) | Builder::Guid(mut b) => Arc::new(b.finish()),
            Builder::I64(mut b) => Arc::new(b.finish()),
            Builder::I32(mut b) => Arc::new(b.finish()),
            Builder::F64(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Ts(mut b) => Arc::new(b.finish()),
            Builder::Dur(mut b) => Arc::new(b.finish()),
        }
    }
}

fn write_json(out: &mut String, v: &Value) {
    // serde_json writing into a String cannot fail for a Value.
    let s = serde_json::to_string(v).unwrap_or_default();
    out.push_str(&s);
}

fn expected(ty: &str, v: &Value) -> String {
    format!("expected {ty}, got {} {}", kind(v), show(v))
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) if n.as_i64() == Some(0) => Some(false),
        Value::Number(n) if n.as_i64() == Some(1) => Some(true),
        _ => None,
    }
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Parses an RFC 3339 timestamp into nanoseconds since the Unix epoch (UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    utc_datetime(s).or_else(|| chrono::DateTime::parse_from_rfc3339(s).ok().and_then(|d| d.timestamp_nanos_opt()))
}

/// The common shape `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` read directly (chrono's general RFC 3339
/// parser was 2 % of ingesting KubePodInventory, which has six datetime columns; perf). The
/// date and time are still validated by chrono; anything else returns `None` and takes the
/// general parser.
fn utc_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (rest, frac_ns) = match b[19] {
        b'Z' => (&b[19..], 0),
        b'.' => {
            let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let f = num(20..20 + digits)?;
            (&b[20 + digits..], f * 10u32.pow(9 - digits as u32))
        }
        _ => return None,
    };
    if rest != b"Z" {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let t = date.and_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, frac_ns)?;
    t.and_utc().timestamp_nanos_opt()
}

/// Parses a KQL timespan string `[-][d.]hh:mm:ss[.fffffffff]` into nanoseconds.
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut parts = s.split(':');
    let (h_part, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (days, hours) = match h_part.split_once('.') {
        Some((d, h)) => (d.parse::<i64>().ok()?, h.parse::<i64>().ok()?),
        None => (0, h_part.parse::<i64>().ok()?),
    };
    let minutes: i64 = m.parse().ok()?;
    let (whole, frac) = match sec.split_once('.') {
        Some((w, f)) => (w.parse::<i64>().ok()?, f),
        None => (sec.parse::<i64>().ok()?, ""),
    };
    if hours > 23 || minutes > 59 || whole > 59 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_ns = if frac.is_empty() { 0 } else { frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32) };
    let total = ((days * 24 + hours) * 60 + minutes)
        .checked_mul(60)?
        .checked_add(whole)?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns)?;
    Some(if neg { -total } else { total })
}

/// A top-level value of a row: raw JSON text from the fast scanner, or a parsed value.
enum Slot<'a> {
    Raw(&'a str, bool),
    Val(&'a Value),
}

impl Builder {
    /// Appends a raw JSON value (validated by the scanner); `canonical` as in
    /// [`keelwatch_jsonscan::Field`]. Values the fast path does not handle are parsed and
    /// appended as by [`Builder::append`], so results and errors are the same.
    fn append_raw(&mut self, raw: &str, canonical: bool, scratch: &mut String) -> std::result::Result<(), String> {
        // A string the scanner called canonical has no escapes: no need to look for them again.
        let plain_str = || -> Option<&str> {
            let b = raw.as_bytes();
            (b.len() >= 2 && b[0] == b'"' && (canonical || !raw[1..raw.len() - 1].contains('\\')))
                .then(|| &raw[1..raw.len() - 1])
        };
        match self {
            Builder::Str(b) => {
                if let Some(s) = plain_str() {
                    b.append_value(s);
                    return Ok(());
                }
            }
            Builder::Dyn(b) if canonical => {
                b.append_value(raw);
                return Ok(());
            }
            Builder::I64(b) => {
                if let Some(n) = plain_int(raw) {
                    b.append_value(n);
                    return Ok(());
                }
            }
            Builder::F64(b) => {
                if let Some(n) = plain_int(raw) {
                    b.append_value(n as f64);
                    return Ok(());
                }
            }
            Builder::Ts(b) => {
                if let Some(t) = plain_str().and_then(parse_datetime) {
                    b.append_value(t);
                    return Ok(());
                }
            }
            _ => {}
        }
        let v: Value = serde_json::from_str(raw).map_err(|e| format!("invalid JSON value: {e}"))?;
        if v.is_null() {
            self.append_null();
            return Ok(());
        }
        self.append(&v, scratch)
    }
}

/// A JSON integer literal of at most 15 digits (exact in both i64 and f64).
fn plain_int(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// One NDJSON line: (line number, text, its fields in the scanner output, or the object
/// serde_json parsed when the scanner gave up on the line).
type LineRow<'a> = (usize, &'a str, std::ops::Range<usize>, Option<Map<String, Value>>);

/// Converts an NDJSON body straight into a record batch (the fast path: no JSON trees, see
/// [`keelwatch_jsonscan`]). Blank lines are skipped; row numbers in errors are line numbers,
/// counted from `first_line`. Every line is checked to be a JSON object before any value is
/// converted, so a syntax error is reported before a schema error, as with [`parse_body`].
/// Returns the batch (possibly empty).
pub fn ndjson_to_batch(
    table: &TableSchema,
    body: &[u8],
    first_line: usize,
    unknown: UnknownColumns,
    now_ns: i64,
) -> Result<RecordBatch> {
    use keelwatch_jsonscan::{Field, scan_object};
    // pass 1: split lines into fields (or parsed objects where the scanner gives up)
    let mut fields: Vec<Field> = Vec::with_capacity(body.len() / 64);
    // per row: (line number, line bytes, fields range, parsed fallback)
    let mut rows: Vec<LineRow<'_>> = Vec::with_capacity(body.len() / 256);
    // One UTF-8 check for the whole body instead of one per line (lines of a valid body are
    // valid); a body with bad UTF-8 somewhere checks each line to find which.
    let body_str = std::str::from_utf8(body).ok();
    let mut line_no = first_line - 1;
    // the same lines as `body.split(|b| *b == b'\n')`, found with memchr
    let mut next = 0usize;
    while next <= body.len() {
        let pos = next;
        let end = memchr::memchr(b'\n', &body[pos..]).map_or(body.len(), |k| pos + k);
        next = end + 1;
        let line = &body[pos..end];
        line_no += 1;
        // a line starting with `{` is not blank; only other lines need the full check
        if line.first() != Some(&b'{') && line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let start = fields.len();
        // lines end at b'\n', which is always a char boundary
        let text = match body_str {
            Some(b) => Some(&b[pos..end]),
            None => std::str::from_utf8(line).ok(),
        };
        if let Some(text) = text
            && scan_object(line, &mut fields).is_some()
        {
            rows.push((line_no, text, start..fields.len(), None));
            continue;
        }
        fields.truncate(start);
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(m)) => rows.push((line_no, "", start..start, Some(m))),
            Ok(other) => {
                return Err(Error::Json {
                    line: line_no,
                    column: 1,
                    message: format!("line is {}, expected a JSON object", kind(&other)),
                });
            }
            Err(e) => return Err(Error::Json { line: line_no, column: e.column(), message: e.to_string() }),
        }
    }
    // pass 2: the column of every scanned field, and the bytes of text each column receives
    let schema = crate::schema::arrow_schema(table.name)
        .ok_or_else(|| Error::UnknownTable { name: table.name.to_string(), hint: String::new() })?;
    let index: HashMap<&str, usize> = table.columns.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
    let tg = table.column_index("TimeGenerated");
    let row_err = |row: usize, column: &str, message: String| Error::Row {
        table: table.name.to_string(),
        source: RowError { row, column: column.to_string(), message },
    };
    let unknown_key = |row: usize, k: &str| -> Error {
        let hint = match table.column_ignore_case(k) {
            Some(c) => format!("; did you mean '{}'? (column names are case-sensitive)", c.name),
            None => match keelwatch_tables::suggest(k, table.columns.iter().map(|c| c.name)).first() {
                Some(c) => format!("; did you mean '{c}'?"),
                None => String::new(),
            },
        };
        row_err(row, k, format!("no such column in {}{hint}", table.name))
    };
    const IGNORED: u32 = u32::MAX;
    let mut field_col: Vec<u32> = Vec::with_capacity(fields.len());
    let mut text_bytes: Vec<usize> = vec![0; table.columns.len()];
    // Column of the k-th key of the previous row: rows from one producer list their keys in
    // the same order, so one string compare usually replaces a hash lookup per value.
    let mut memo: Vec<usize> = Vec::new();
    // An unknown key is reported when pass 3 reaches its row, so that an error in an earlier
    // row wins, as in the tree path.
    let mut first_unknown: Option<(usize, String)> = None;
    'rows: for (r, (_, text, range, parsed)) in rows.iter().enumerate() {
        if parsed.is_some() {
            continue;
        }
        for (k, f) in fields[range.clone()].iter().enumerate() {
            let decoded;
            let key: &str = if f.key_escaped {
                decoded = serde_json::from_str::<String>(&text[f.key.0 - 1..f.key.1 + 1]).unwrap_or_default();
                decoded.as_str()
            } else {
                &text[f.key.0..f.key.1]
            };
            let col = match memo.get(k) {
                Some(&c) if table.columns.get(c).is_some_and(|c| c.name == key) => Some(c),
                _ => index.get(key).copied(),
            };
            match col {
                Some(i) => {
                    field_col.push(i as u32);
                    text_bytes[i] += f.val.1 - f.val.0;
                    if k >= memo.len() {
                        memo.resize(k + 1, usize::MAX);
                    }
                    memo[k] = i;
                }
                None if unknown == UnknownColumns::Ignore => field_col.push(IGNORED),
                None => {
                    first_unknown = Some((r, key.to_string()));
                    break 'rows;
                }
            }
        }
    }
    // pass 3: convert. String builders get their byte count up front (the raw value lengths:
    // exact or a little over, except for values serde_json re-serialises, e.g. `1e3` as
    // `1000.0`, which may still grow a builder): growing them re-copied every column and
    // touched fresh pages each time (perf: reallocation was 8 % of ingestion).
    let mut builders: Vec<Builder> =
        table.columns.iter().enumerate().map(|(i, c)| Builder::with_text(c.ty, rows.len(), text_bytes[i])).collect();
    let mut slots: Vec<Option<Slot<'_>>> = (0..table.columns.len()).map(|_| None).collect();
    let mut scratch = String::new();
    for (r, (row_no, text, range, parsed)) in rows.iter().enumerate() {
        if let Some((_, key)) = first_unknown.as_ref().filter(|u| u.0 == r) {
            return Err(unknown_key(*row_no, key));
        }
        slots.iter_mut().for_each(|s| *s = None);
        match parsed {
            None => {
                for (f, &col) in fields[range.clone()].iter().zip(&field_col[range.clone()]) {
                    if col != IGNORED {
                        slots[col as usize] = Some(Slot::Raw(&text[f.val.0..f.val.1], f.canonical));
                    }
                }
            }
            Some(obj) => {
                for (k, v) in obj {
                    match index.get(k.as_str()) {
                        Some(&i) => slots[i] = Some(Slot::Val(v)),
                        None if unknown == UnknownColumns::Ignore => {}
                        None => return Err(unknown_key(*row_no, k)),
                    }
                }
            }
        }
        for (i, b) in builders.iter_mut().enumerate() {
            let r = match &slots[i] {
                None | Some(Slot::Val(Value::Null)) | Some(Slot::Raw("null", _)) => {
                    if Some(i) == tg
                        && let Builder::Ts(t) = b
                    {
                        t.append_value(now_ns);
                        continue;
                    }
                    b.append_null();
                    Ok(())
                }
                Some(Slot::Val(v)) => b.append(v, &mut scratch),
                Some(Slot::Raw(raw, canonical)) => b.append_raw(raw, *canonical, &mut scratch),
            };
            r.map_err(|m| row_err(*row_no, table.columns[i].name, m))?;
        }
    }
    let arrays: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// Converts parsed rows into one record batch with the table's Arrow schema.
/// `now_ns` fills a missing or null `TimeGenerated`.
pub fn rows_to_batch(
    table: &TableSchema,
    rows: &ParsedRows,
    unknown: UnknownColumns,
    now_ns: i64,
) -> Result<RecordBatch> {
    let schema = crate::schema::arrow_schema(table.name)
        .ok_or_else(|| Error::UnknownTable { name: table.name.to_string(), hint: String::new() })?;
    let index: HashMap<&str, usize> = table.columns.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
    let tg = table.column_index("TimeGenerated");
    let n = rows.len();
    let mut builders: Vec<Builder> = table.columns.iter().map(|c| Builder::new(c.ty, n)).collect();
    let mut slots: Vec<Option<&Value>> = vec![None; table.columns.len()];
    let mut scratch = String::new();
    let row_err = |row: usize, column: &str, message: String| Error::Row {
        table: table.name.to_string(),
        source: RowError { row, column: column.to_string(), message },
    };
    for (row_no, obj) in &rows.rows {
        slots.iter_mut().for_each(|s| *s = None);
        for (k, v) in obj {
            match index.get(k.as_str()) {
                Some(&i) => slots[i] = Some(v),
                None if unknown == UnknownColumns::Ignore => {}
                None => {
                    let hint = match table.column_ignore_case(k) {
                        Some(c) => format!("; did you mean '{}'? (column names are case-sensitive)", c.name),
                        None => {
                            let s = keelwatch_tables::suggest(k, table.columns.iter().map(|c| c.name));
                            match s.first() {
                                Some(c) => format!("; did you mean '{c}'?"),
                                None => String::new(),
                            }
                        }
                    };
                    return Err(row_err(*row_no, k, format!("no such column in {}{hint}", table.name)));
                }
            }
        }
        for (i, b) in builders.iter_mut().enumerate() {
            match slots[i] {
                None | Some(Value::Null) => {
                    if Some(i) == tg
                        && let Builder::Ts(t) = b
                    {
                        t.append_value(now_ns);
                        continue;
                    }
                    b.append_null()
                }
                Some(v) => b.append(v, &mut scratch).map_err(|m| row_err(*row_no, table.columns[i].name, m))?,
            }
        }
    }
    let arrays: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, TimestampNanosecondType};

    fn t(name: &str) -> &'static TableSchema {
        keelwatch_tables::table(name).unwrap()
    }

    /// The fast NDJSON path gives exactly the batch (and the errors) of the tree path.
    #[test]
    fn fast_ndjson_path_matches_the_tree_path() {
        let tbl = t("ContainerLogV2");
        let body = concat!(
            r#"{"TimeGenerated":"2026-01-01T00:00:01.5Z","PodName":"a","LogMessage":{"level":"error","n":[1,2.50,-0],"s":"q\"x"},"LogSource":"stdout","KubernetesMetadata":{ "podUid" : "u1" }}"#,
            "\n\n",
            r#"{"PodName":"b\u00e9","LogMessage":"plain \n text","LogLevel":null,"KubernetesMetadata":{"a":{}}}"#,
            "\n",
            r#"{"TimeGenerated":"2026-01-01T00:00:02+01:00","PodName":12,"LogMessage":12.0,"Computer":true}"#,
            "\n"
        );
        let fast = ndjson_to_batch(tbl, body.as_bytes(), 1, UnknownColumns::Reject, 7).unwrap();
        let slow = rows_to_batch(tbl, &parse_body(body.as_bytes()).unwrap(), UnknownColumns::Reject, 7).unwrap();
        assert_eq!(fast, slow);
        assert_eq!(fast.num_rows(), 3);
        let perf = t("Perf");
        for bad in [
            "{\"CounterValue\": 1}\n{oops}\n",
            "{\"CounterValue\": \"high\"}\n",
            "{\"Countervalue\": 1}\n",
            "1\n",
            "{\"CounterValue\": 1}\n{\"CounterValue\": {\"a\":1}}\n{oops}\n",
            // a type error before an unknown key, and the other way round
            "{\"CounterValue\": \"high\"}\n{\"Countervalue\": 1}\n",
            "{\"Countervalue\": 1}\n{\"CounterValue\": \"high\"}\n",
            "{\"CounterValue\": 1, \"x\": 2}\n",
        ] {
            let fast = ndjson_to_batch(perf, bad.as_bytes(), 1, UnknownColumns::Reject, 0).unwrap_err().to_string();
            let slow = parse_body(bad.as_bytes())
                .and_then(|r| rows_to_batch(perf, &r, UnknownColumns::Reject, 0))
                .unwrap_err()
                .to_string();
            assert_eq!(fast, slow, "{bad}");
        }
    }

    #[test]
    fn parses_array_and_ndjson() {
        let a = parse_body(br#"[{"a":1},{"b":2}]"#).unwrap();
        assert_eq!(a.rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
        let n = parse_body(b"{\"a\":1}\n\n{\"b\":2}\n").unwrap();
        assert_eq!(n.rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3]);
        let e = parse_body(b"{\"a\":1}\n{\"b\":\n").unwrap_err();
        assert!(matches!(e, Error::Json { line: 2, .. }), "{e}");
        let e = parse_body(b"[1]").unwrap_err();
        assert!(e.to_string().contains("array element 1 is a number"), "{e}");
        assert!(parse_body(b"  \n").unwrap().is_empty());
    }

    #[test]
    fn converts_all_types() {
        let rows = parse_body(
            br#"{"TimeGenerated":"2026-11-27T09:00:00.5+01:00","ContainerRestartCount":"3","PodLabel":[{"app":"web"}],"PodRestartCount":2.0}"#,
        )
        .unwrap();
        let b = rows_to_batch(t("KubePodInventory"), &rows, UnknownColumns::Reject, 0).unwrap();
        let tg = b.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(tg.value(0), 1_795_766_400_500_000_000);
        let rc = b.column_by_name("ContainerRestartCount").unwrap().as_primitive::<Int32Type>();
        assert_eq!(rc.value(0), 3);
        let pl = b.column_by_name("PodLabel").unwrap().as_string::<i32>();
        assert_eq!(pl.value(0), r#"[{"app":"web"}]"#);
        assert!(b.column_by_name("PodIp").unwrap().is_null(0));

        let rows = parse_body(br#"{"LogMessage":"plain text","KubernetesMetadata":{"podUid":"u"}}"#).unwrap();
        let b = rows_to_batch(t("ContainerLogV2"), &rows, UnknownColumns::Reject, 42).unwrap();
        assert_eq!(b.column(0).as_primitive::<TimestampNanosecondType>().value(0), 42);
        let lm = b.column_by_name("LogMessage").unwrap().as_string::<i32>();
        assert_eq!(lm.value(0), "\"plain text\"");
    }

    #[test]
    fn schema_errors_name_row_and_column() {
        let rows = parse_body(b"{\"CounterValue\":1}\n{\"CounterValue\":\"abc\"}\n").unwrap();
        let e = rows_to_batch(t("Perf"), &rows, UnknownColumns::Reject, 0).unwrap_err();
        assert_eq!(e.to_string(), "Perf: row 2: column 'CounterValue': expected real, got a string \"abc\"");
        let rows = parse_body(br#"[{"countername":"x"}]"#).unwrap();
        let e = rows_to_batch(t("Perf"), &rows, UnknownColumns::Reject, 0).unwrap_err();
        assert!(e.to_string().contains("did you mean 'CounterName'? (column names are case-sensitive)"), "{e}");
        let b = rows_to_batch(t("Perf"), &rows, UnknownColumns::Ignore, 0).unwrap();
        assert_eq!(b.num_rows(), 1);
        let rows = parse_body(br#"[{"TimeGenerated":"yesterday"}]"#).unwrap();
        let e = rows_to_batch(t("Perf"), &rows, UnknownColumns::Reject, 0).unwrap_err();
        assert!(e.to_string().contains("row 1: column 'TimeGenerated': expected datetime"), "{e}");
        let rows = parse_body(br#"[{"ContainerRestartCount":5000000000}]"#).unwrap();
        let e = rows_to_batch(t("KubePodInventory"), &rows, UnknownColumns::Reject, 0).unwrap_err();
        assert!(e.to_string().contains("does not fit in 32 bits"), "{e}");
    }

    /// The direct reader of `...Z` timestamps agrees with chrono's RFC 3339 parser.
    #[test]
    fn utc_datetimes_match_chrono() {
        let chrono_ns = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok().and_then(|d| d.timestamp_nanos_opt());
        for s in [
            "2026-11-27T09:00:00Z",
            "2026-11-27T09:00:00.5Z",
            "2026-11-27T09:00:00.123456789Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00Z",
            "2026-11-27T09:00:00+01:00",
            "2026-11-27t09:00:00z",
            "2026-11-27 09:00:00Z",
        ] {
            assert_eq!(parse_datetime(s), chrono_ns(s), "{s}");
        }
        assert_eq!(utc_datetime("2026-11-27T09:00:00.5Z"), Some(1_795_770_000_500_000_000));
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T09:60:00Z",
            "2026-11-27T09:00:00.Z",
            "2026-11-27T09:00:00.1234567890Z",
            "2026-11-27T09:00:00ZZ",
            "2026-1a-27T09:00:00Z",
            "+026-11-27T09:00:00Z",
        ] {
            assert_eq!(utc_datetime(bad), None, "{bad}");
            assert_eq!(parse_datetime(bad), chrono_ns(bad), "{bad}");
        }
    }

    #[test]
    fn timespans_and_guids() {
        assert_eq!(parse_timespan("00:05:00"), Some(300_000_000_000));
        assert_eq!(parse_timespan("1.02:03:04.5"), Some(((26 * 60 + 3) * 60 + 4) * 1_000_000_000 + 500_000_000));
        assert_eq!(parse_timespan("-00:00:01"), Some(-1_000_000_000));
        assert_eq!(parse_timespan("25:00:00"), None);
        assert_eq!(parse_timespan("5m"), None);
        assert!(is_guid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_guid("0f8fad5b-d9cb-469f-a165-70867728950"));
    }
}
