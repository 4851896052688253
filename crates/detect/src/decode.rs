//! Input decoding: files, HTTP bodies and single JSON values into [`Event`]s (owned) or
//! [`EventView`]s (borrowing the input; what the detector evaluates). The `*_views`
//! functions are the fast ones: they copy nothing the rules do not need.
//!
//! Accepted shapes (mixed freely, one per JSON value): an audit `Event`, an `EventList`
//! (webhook backend batches), the AKS diagnostic envelope (`properties.log` as a JSON string
//! or an object), `{"records": [...]}` arrays of envelopes, plain JSON arrays of any of these,
//! and node [`ProcessEvent`]s. Values are read as JSON lines; a multi-line (pretty-printed)
//! document starting with `{`/`[` at column 0 is also accepted.
//!
//! Invariants: a malformed value is reported as a [`Malformed`] (source, 1-based line, what
//! was wrong — never the offending text, which may hold secrets) and reading continues;
//! memory is bounded by [`MAX_DOCUMENT`] per value.

use std::io::{self, BufRead, Read};

use serde_json::Value;

use crate::audit::AuditEvent;
use crate::process::ProcessEvent;
pub use crate::view::EventView;

mod fast;
mod json;

/// Largest accepted JSON value (one line or one pretty-printed document), in bytes.
pub const MAX_DOCUMENT: usize = 32 * 1024 * 1024;

/// Nesting depth of envelopes/lists accepted around events.
const MAX_WRAP_DEPTH: usize = 8;

/// One decoded input event.
// Process events are the common case on nodes; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Audit(Box<AuditEvent>),
    Process(ProcessEvent),
}

/// A value that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct Malformed {
    /// File name, `-` for stdin, or a description such as `POST /audit`.
    pub source_name: String,
    /// 1-based line where the value starts.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Counters of one decoding run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub audit_events: u64,
    pub process_events: u64,
    pub malformed: u64,
    /// AKS diagnostic records of other categories (not audit), ignored.
    pub skipped: u64,
}

/// Decodes one JSON value into events. Problems inside lists are returned as messages
/// (with the item index) while the good items are still produced.
pub fn decode_value(value: Value, events: &mut Vec<Event>, problems: &mut Vec<String>, stats: &mut DecodeStats) {
    decode_inner(value, events, problems, stats, 0, "");
}

fn decode_inner(
    value: Value,
    events: &mut Vec<Event>,
    problems: &mut Vec<String>,
    stats: &mut DecodeStats,
    depth: usize,
    path: &str,
) {
    if depth > MAX_WRAP_DEPTH {
        problems.push(format!("{path}: envelopes nested too deeply"));
        return;
    }
    let here = |what: &str| {
        if path.is_empty() { what.to_string() } else { format!("{path}: {what}") }
    };
    match value {
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                decode_inner(item, events, problems, stats, depth + 1, &format!("{path}[{i}]"));
            }
        }
        Value::Object(mut obj) => {
            if let Some(Value::Array(_)) = obj.get("records") {
                if let Some(records) = obj.remove("records") {
                    decode_inner(records, events, problems, stats, depth + 1, &format!("{path}.records"));
                }
                return;
            }
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind == "EventList" || (obj.get("items").is_some_and(Value::is_array) && kind.is_empty()) {
                if let Some(items) = obj.remove("items") {
                    decode_inner(items, events, problems, stats, depth + 1, &format!("{path}.items"));
                }
                return;
            }
            if obj.get("properties").and_then(|p| p.get("log")).is_some() {
                let category = obj.get("category").and_then(Value::as_str).unwrap_or("kube-audit");
                if !category.starts_with("kube-audit") {
                    stats.skipped += 1;
                    return;
                }
                let log = obj
                    .get_mut("properties")
                    .and_then(|p| p.as_object_mut())
                    .and_then(|p| p.remove("log"))
                    .unwrap_or(Value::Null);
                let inner = match log {
                    Value::String(text) => match serde_json::from_str::<Value>(&text) {
                        Ok(v) => v,
                        Err(e) => {
                            stats.malformed += 1;
                            problems.push(here(&format!("properties.log is not valid JSON ({e})")));
                            return;
                        }
                    },
                    other => other,
                };
                decode_inner(inner, events, problems, stats, depth + 1, &format!("{path}.properties.log"));
                return;
            }
            let value = Value::Object(obj);
            if ProcessEvent::looks_like(&value) {
                match serde_json::from_value::<ProcessEvent>(value) {
                    Ok(p) => {
                        stats.process_events += 1;
                        events.push(Event::Process(p));
                    }
                    Err(e) => {
                        stats.malformed += 1;
                        problems.push(here(&format!("invalid process event: {e}")));
                    }
                }
            } else if AuditEvent::looks_like(&value) {
                match AuditEvent::from_value(value) {
                    Ok(a) => {
                        stats.audit_events += 1;
                        events.push(Event::Audit(Box::new(a)));
                    }
                    Err(e) => {
                        stats.malformed += 1;
                        problems.push(here(&format!("invalid audit event: {e}")));
                    }
                }
            } else {
                stats.malformed += 1;
                problems.push(here("not an audit Event, EventList, AKS diagnostic record or process event"));
            }
        }
        _ => {
            stats.malformed += 1;
            problems.push(here("expected a JSON object or array"));
        }
    }
}

/// Incremental decoder of JSON lines (and pretty-printed documents starting with `{`/`[` at
/// column 0) for one source: feed it lines with [`LineDecoder::push_line`] (owned events) or
/// [`LineDecoder::push_line_views`], then call [`LineDecoder::finish`] at the end of the input. [`read_stream`] drives it over a reader;
/// [`crate::tail`] drives it over a followed file.
#[derive(Debug)]
pub struct LineDecoder {
    source_name: String,
    line_no: usize,
    /// A pending multi-line document: (start line, text).
    doc: Option<(usize, Vec<u8>)>,
    stats: DecodeStats,
    events: Vec<Event>,
    problems: Vec<String>,
}

impl LineDecoder {
    /// A decoder whose problems are reported as coming from `source_name`.
    pub fn new(source_name: &str) -> LineDecoder {
        LineDecoder {
            source_name: source_name.to_string(),
            line_no: 0,
            doc: None,
            stats: DecodeStats::default(),
            events: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Number of lines fed so far.
    pub fn lines(&self) -> usize {
        self.line_no
    }

    fn report(&mut self, line: usize, message: String, counted: bool, on_malformed: &mut impl FnMut(Malformed)) {
        if !counted {
            self.stats.malformed += 1;
        }
        on_malformed(Malformed { source_name: self.source_name.clone(), line, message });
    }

    /// Counts a line that was longer than [`MAX_DOCUMENT`] (and was discarded by the caller).
    pub fn overlong_line(&mut self, on_malformed: &mut impl FnMut(Malformed)) {
        self.line_no += 1;
        let line = self.line_no;
        self.report(line, format!("line longer than {MAX_DOCUMENT} bytes"), false, on_malformed);
    }

    /// Feeds one line (with or without its trailing `\n`, at most [`MAX_DOCUMENT`] bytes).
    pub fn push_line(
        &mut self,
        buf: &[u8],
        on_event: &mut impl FnMut(Event),
        on_malformed: &mut impl FnMut(Malformed),
    ) {
        self.push_line_views(buf, &mut |e: EventView<'_>| on_event(e.into_event()), on_malformed);
    }

    /// Feeds one line like [`LineDecoder::push_line`]; events are passed in evaluation form,
    /// borrowing `buf` where they can.
    pub fn push_line_views<'b>(
        &mut self,
        buf: &'b [u8],
        on_event: &mut impl FnMut(EventView<'b>),
        on_malformed: &mut impl FnMut(Malformed),
    ) {
        self.line_no += 1;
        let line_no = self.line_no;
        let trimmed = trim(buf);
        if let Some((start, text)) = self.doc.as_mut() {
            let start = *start;
            let starts_new = buf.first().is_some_and(|c| *c == b'{' || *c == b'[');
            if starts_new {
                self.doc = None;
                self.report(start, "unterminated multi-line JSON document".into(), false, on_malformed);
            } else {
                text.extend_from_slice(buf);
                if !buf.ends_with(b"\n") {
                    text.push(b'\n');
                }
                if text.len() > MAX_DOCUMENT {
                    self.doc = None;
                    self.report(start, format!("document larger than {MAX_DOCUMENT} bytes"), false, on_malformed);
                    return;
                }
                if buf.first().is_some_and(|c| *c == b'}' || *c == b']') {
                    let text = self.doc.take().map(|(_, t)| t).unwrap_or_default();
                    match serde_json::from_slice::<Value>(&text) {
                        Ok(v) => self.emit_value(v, start, on_event, on_malformed),
                        Err(e) => self.report(start, format!("invalid JSON: {e}"), false, on_malformed),
                    }
                }
                return;
            }
        }
        if trimmed.is_empty() {
            return;
        }
        if fast::decode_line(trimmed, &mut self.stats, on_event) {
            return;
        }
        match serde_json::from_slice::<Value>(trimmed) {
            Ok(v) => self.emit_value(v, line_no, on_event, on_malformed),
            Err(e) if e.is_eof() && (trimmed[0] == b'{' || trimmed[0] == b'[') && buf[0] == trimmed[0] => {
                let mut text = buf.to_vec();
                if !text.ends_with(b"\n") {
                    text.push(b'\n');
                }
                self.doc = Some((line_no, text));
            }
            Err(e) => {
                let msg = if std::str::from_utf8(trimmed).is_err() {
                    "line is not valid UTF-8".to_string()
                } else {
                    format!("invalid JSON: {e}")
                };
                self.report(line_no, msg, false, on_malformed);
            }
        }
    }

    fn emit_value<'b>(
        &mut self,
        value: Value,
        line: usize,
        on_event: &mut impl FnMut(EventView<'b>),
        on_malformed: &mut impl FnMut(Malformed),
    ) {
        decode_value(value, &mut self.events, &mut self.problems, &mut self.stats);
        for e in self.events.drain(..) {
            on_event(EventView::from(e));
        }
        let problems = std::mem::take(&mut self.problems);
        for p in problems {
            self.report(line, p, true, on_malformed);
        }
    }

    /// Ends the input: reports a multi-line document that never closed.
    pub fn finish(&mut self, on_malformed: &mut impl FnMut(Malformed)) {
        if let Some((start, _)) = self.doc.take() {
            self.report(start, "unterminated multi-line JSON document at end of input".into(), false, on_malformed);
        }
    }
}

/// Reads a stream of JSON values and calls `on_event` for each decoded event and
/// `on_malformed` for each problem. Returns the counters; an `Err` only for I/O errors
/// (reading stops there).
///
/// Builds an owned [`Event`] for every event; [`read_stream_views`] is the fast form for
/// callers that only evaluate events.
pub fn read_stream<R: BufRead>(
    source_name: &str,
    reader: R,
    mut on_event: impl FnMut(Event),
    on_malformed: impl FnMut(Malformed),
) -> io::Result<DecodeStats> {
    read_stream_views(source_name, reader, |e| on_event(e.into_event()), on_malformed)
}

/// [`read_stream`] passing events in evaluation form: each [`EventView`] borrows the line
/// being decoded, so it lives only for the call (use [`EventView::into_event`] to keep one).
pub fn read_stream_views<R: BufRead>(
    source_name: &str,
    mut reader: R,
    mut on_event: impl FnMut(EventView<'_>),
    mut on_malformed: impl FnMut(Malformed),
) -> io::Result<DecodeStats> {
    let mut decoder = LineDecoder::new(source_name);
    let mut buf = Vec::new();
    loop {
        // A line that is whole in the reader's buffer is decoded where it is (no copy); a line
        // that straddles the buffer's end is copied into `buf`.
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(end) = memchr::memchr(b'\n', available) {
            let line = &available[..=end];
            if end > MAX_DOCUMENT {
                decoder.overlong_line(&mut on_malformed);
            } else {
                decoder.push_line_views(line, &mut on_event, &mut on_malformed);
            }
            reader.consume(end + 1);
            continue;
        }
        buf.clear();
        let n = (&mut reader).take(MAX_DOCUMENT as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_DOCUMENT && buf.last() != Some(&b'\n') {
            // Discard the rest of the over-long line.
            loop {
                let mut rest = Vec::new();
                let m = (&mut reader).take(1 << 20).read_until(b'\n', &mut rest)?;
                if m == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            decoder.overlong_line(&mut on_malformed);
            continue;
        }
        decoder.push_line_views(&buf, &mut on_event, &mut on_malformed);
    }
    decoder.finish(&mut on_malformed);
    Ok(decoder.stats())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// Checks the fast path on one line: panics unless it declines the line or decodes it exactly
/// as the general path does. For the `decode_equiv` fuzz target (not part of the API).
#[doc(hidden)]
pub fn check_fast_path(line: &[u8]) {
    if let Ok(text) = std::str::from_utf8(line) {
        json::check(text);
    }
    fast::check(trim(line));
}

/// Decodes a whole in-memory body (e.g. a webhook POST): returns the events and problems.
pub fn decode_body(source_name: &str, body: &[u8]) -> (Vec<Event>, Vec<Malformed>, DecodeStats) {
    let (views, bad, stats) = decode_body_views(source_name, body);
    (views.into_iter().map(EventView::into_event).collect(), bad, stats)
}

/// [`decode_body`] in evaluation form: the events borrow `body`.
pub fn decode_body_views<'b>(source_name: &str, body: &'b [u8]) -> (Vec<EventView<'b>>, Vec<Malformed>, DecodeStats) {
    let mut events = Vec::new();
    let mut bad = Vec::new();
    let mut decoder = LineDecoder::new(source_name);
    let mut on_event = |e: EventView<'b>| events.push(e);
    let mut on_malformed = |m: Malformed| bad.push(m);
    // The same lines `read_stream` would see, without copying them.
    let mut rest = body;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if content.len() > MAX_DOCUMENT {
            decoder.overlong_line(&mut on_malformed);
        } else {
            decoder.push_line_views(line, &mut on_event, &mut on_malformed);
        }
    }
    decoder.finish(&mut on_malformed);
    let stats = decoder.stats();
    (events, bad, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"u"},"sourceIPs":["1.2.3.4"]}"#;

    #[test]
    fn reads_all_shapes_and_reports_malformed_lines() {
        let aks_string = serde_json::json!({"category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
            "properties":{"log": EV, "pod":"kube-apiserver-1","stream":"stdout"},"time":"2026-11-27T09:00:00Z"});
        let aks_obj = serde_json::json!({"records":[{"category":"kube-audit-admin","properties":{"log": serde_json::from_str::<Value>(EV).unwrap()}},
            {"category":"kube-apiserver","properties":{"log":"I1127 some log line"}}]});
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{EV},{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":5}}]}}"#
        );
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(EV).unwrap()).unwrap();
        let proc_line = r#"{"time":"2026-11-27T09:00:00Z","node":"n","pid":1,"ppid":0,"uid":0,"exe":"/bin/sh","argv":["sh"],"cwd":"/"}"#;
        let input = format!("{EV}\n\n{aks_string}\n{{broken\n{aks_obj}\n{list}\n{pretty}\n{proc_line}\n\"str\"\n");
        let mut events = Vec::new();
        let mut bad = Vec::new();
        let stats = read_stream("f.jsonl", input.as_bytes(), |e| events.push(e), |m| bad.push(m)).unwrap();
        assert_eq!(stats.audit_events, 5, "{bad:?}");
        assert_eq!(stats.process_events, 1);
        assert_eq!(stats.skipped, 1);
        assert_eq!(stats.malformed, 3, "{bad:?}");
        assert_eq!(bad[0].line, 4);
        assert!(bad[1].message.contains("items[1]"), "{bad:?}");
        assert_eq!(bad[1].line, 6);
        assert_eq!(bad[2].line, 7 + pretty.lines().count() + 1);
        assert!(bad.iter().all(|m| m.source_name == "f.jsonl"));
    }
}
