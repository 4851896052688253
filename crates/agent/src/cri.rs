//! The CRI container log format: `<RFC3339Nano timestamp> <stdout|stderr> <P|F> <message>`.
//!
//! [`parse_line`] splits one physical line; [`Joiner`] joins a `P…P F` sequence into one
//! logical message, cut at [`MAX_MESSAGE`] bytes (the rest of an over-long message is
//! dropped, as Container Insights does). [`log_level`] finds ContainerLogV2's LogLevel.

use serde_json::Value;

/// Longest message kept (16 KiB); longer messages are cut.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// Output stream of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` / `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed physical CRI line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriLine<'a> {
    /// The timestamp text as written by the runtime.
    pub time: &'a str,
    /// stdout or stderr.
    pub stream: Stream,
    /// True for a `P` (partial) line.
    pub partial: bool,
    /// The message bytes (without the trailing newline).
    pub message: &'a [u8],
}

/// Why a line is not CRI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CriError {
    /// Fewer than three space-separated fields before the message.
    #[error("expected `<timestamp> <stdout|stderr> <P|F> <message>`, found {0} field(s)")]
    Fields(usize),
    /// The stream field is neither stdout nor stderr.
    #[error("stream must be stdout or stderr, found `{0}`")]
    Stream(String),
    /// The tag field is not `P` or `F` (tags may carry extra `:`-separated flags).
    #[error("tag must be P or F, found `{0}`")]
    Tag(String),
    /// The timestamp is not RFC 3339.
    #[error("timestamp `{0}` is not RFC 3339")]
    Time(String),
}

/// Parses one physical line (without its trailing `\n`; a trailing `\r` is kept as message).
pub fn parse_line(line: &[u8]) -> Result<CriLine<'_>, CriError> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = parts.next().unwrap_or_default();
    let (Some(stream), Some(tag)) = (parts.next(), parts.next()) else {
        return Err(CriError::Fields(line.split(|b| *b == b' ').count().min(3)));
    };
    let message = parts.next().unwrap_or_default();
    let time = std::str::from_utf8(time).map_err(|_| CriError::Time(String::from_utf8_lossy(time).into()))?;
    if chrono::DateTime::parse_from_rfc3339(time).is_err() {
        return Err(CriError::Time(time.chars().take(64).collect()));
    }
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => return Err(CriError::Stream(String::from_utf8_lossy(other).chars().take(32).collect())),
    };
    let first_tag = tag.split(|b| *b == b':').next().unwrap_or_default();
    let partial = match first_tag {
        b"P" => true,
        b"F" => false,
        _ => return Err(CriError::Tag(String::from_utf8_lossy(tag).chars().take(32).collect())),
    };
    Ok(CriLine { time, stream, partial, message })
}

/// A complete logical log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Timestamp of the first physical line (normalised RFC 3339 UTC).
    pub time: String,
    /// stdout or stderr.
    pub stream: Stream,
    /// The message, at most [`MAX_MESSAGE`] bytes, lossily decoded as UTF-8.
    pub message: String,
    /// True when the message was longer than [`MAX_MESSAGE`] and was cut.
    pub cut: bool,
}

/// Normalises a CRI timestamp to RFC 3339 UTC with nanoseconds.
pub fn normalize_time(t: &str) -> String {
    // Runtimes write UTC with a `Z`: already normalised (nanosecond digits kept as written).
    if t.ends_with('Z') && t.len() >= 20 && t.as_bytes()[10] == b'T' {
        return t.to_string();
    }
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        Err(_) => t.to_string(),
    }
}

/// Joins partial lines. Feed physical lines in file order; a record comes out at each `F`.
#[derive(Debug, Default, Clone)]
pub struct Joiner {
    pending: Option<(String, Stream, Vec<u8>, bool)>,
}

impl Joiner {
    /// Adds one parsed line; returns the completed record when the line ends a message.
    pub fn push(&mut self, line: &CriLine<'_>) -> Option<LogRecord> {
        let (time, stream, mut buf, mut cut) =
            self.pending.take().unwrap_or_else(|| (line.time.to_string(), line.stream, Vec::new(), false));
        let room = MAX_MESSAGE.saturating_sub(buf.len());
        if line.message.len() > room {
            buf.extend_from_slice(&line.message[..room]);
            cut = true;
        } else {
            buf.extend_from_slice(line.message);
        }
        if line.partial {
            self.pending = Some((time, stream, buf, cut));
            None
        } else {
            Some(finish(time, stream, buf, cut))
        }
    }

    /// True while a partial message is waiting for its `F` line.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// True when the waiting partial message already reached [`MAX_MESSAGE`] and was cut.
    pub fn pending_cut(&self) -> bool {
        matches!(self.pending, Some((_, _, _, true)))
    }

    /// Emits a waiting partial message as is (used when its file ends for good).
    pub fn flush(&mut self) -> Option<LogRecord> {
        self.pending.take().map(|(time, stream, buf, cut)| finish(time, stream, buf, cut))
    }
}

fn finish(time: String, stream: Stream, mut buf: Vec<u8>, mut cut: bool) -> LogRecord {
    // Never split a UTF-8 sequence at the cut.
    if cut
        && let Err(e) = std::str::from_utf8(&buf)
        && e.error_len().is_none()
    {
        buf.truncate(e.valid_up_to());
    }
    let mut message = String::from_utf8_lossy(&buf).into_owned();
    // Replacement characters can make invalid input longer than the cut: cut again.
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        cut = true;
    }
    LogRecord { time: normalize_time(&time), stream, message, cut }
}

/// LogMessage column: the parsed JSON when the message is a JSON object or array, else the
/// string.
pub fn log_message(message: &str) -> Value {
    let t = message.trim();
    let looks_json = (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
    if looks_json && let Ok(v) = serde_json::from_str::<Value>(t) {
        return v;
    }
    Value::String(message.to_string())
}

fn level_word(w: &str) -> Option<&'static str> {
    // Lower-case into a stack buffer: no allocation per word (this runs for every log line).
    let mut buf = [0u8; 16];
    if w.is_empty() || w.len() > buf.len() {
        return None;
    }
    for (d, c) in buf.iter_mut().zip(w.bytes()) {
        *d = c.to_ascii_lowercase();
    }
    Some(match &buf[..w.len()] {
        b"critical" | b"crit" | b"fatal" | b"panic" | b"emerg" | b"emergency" | b"alert" => "CRITICAL",
        b"error" | b"err" | b"eror" | b"exception" => "ERROR",
        b"warning" | b"warn" | b"wrn" => "WARNING",
        b"info" | b"information" | b"inf" | b"notice" => "INFO",
        b"debug" | b"dbg" => "DEBUG",
        b"trace" | b"trc" => "TRACE",
        _ => return None,
    })
}

#[cfg(test)]
fn level_word_reference(w: &str) -> Option<&'static str> {
    Some(match w.to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "panic" | "emerg" | "emergency" | "alert" => "CRITICAL",
        "error" | "err" | "eror" | "exception" => "ERROR",
        "warning" | "warn" | "wrn" => "WARNING",
        "info" | "information" | "inf" | "notice" => "INFO",
        "debug" | "dbg" => "DEBUG",
        "trace" | "trc" => "TRACE",
        _ => return None,
    })
}

/// The level keys of a JSON log object; everything else is validated and skipped.
#[derive(serde::Deserialize)]
struct LevelKeys {
    #[serde(default)]
    level: Option<Value>,
    #[serde(default)]
    severity: Option<Value>,
    #[serde(default)]
    lvl: Option<Value>,
}

/// LogMessage and LogLevel without building the message as a value: returns the trimmed
/// text when the message is a JSON object or array (to be written verbatim as the dynamic
/// LogMessage; it has been validated), and the level as [`log_level`] would find it.
pub fn classify_message(message: &str) -> (Option<&str>, &'static str) {
    let t = message.trim();
    if t.starts_with('{') && t.ends_with('}') {
        if let Ok(k) = serde_json::from_str::<LevelKeys>(t) {
            for v in [&k.level, &k.severity, &k.lvl] {
                if let Some(Value::String(s)) = v {
                    return (Some(t), level_word(s.trim()).unwrap_or("UNKNOWN"));
                }
            }
            return (Some(t), "UNKNOWN");
        }
        // Rare: valid JSON the fast path refuses (a duplicated level key): the definition.
        let v = log_message(message);
        if !v.is_string() {
            return (Some(t), log_level(&v));
        }
    } else if t.starts_with('[') && t.ends_with(']') && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok() {
        return (Some(t), "UNKNOWN");
    }
    (None, text_level(message))
}

fn text_level(s: &str) -> &'static str {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].split(|c: char| !c.is_ascii_alphabetic()).find_map(level_word).unwrap_or("UNKNOWN")
}

/// LogLevel column: from a JSON `level` (or `severity`/`lvl`) key when present, else the
/// first level word in the first 256 bytes of the text; `UNKNOWN` otherwise.
pub fn log_level(message: &Value) -> &'static str {
    match message {
        Value::Object(map) => {
            for key in ["level", "severity", "lvl"] {
                if let Some(Value::String(s)) = map.get(key) {
                    return level_word(s.trim()).unwrap_or("UNKNOWN");
                }
            }
            "UNKNOWN"
        }
        Value::String(s) => text_level(s),
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins() {
        let l = parse_line(b"2026-11-27T09:00:00.123456789Z stdout P hello ").unwrap();
        assert!(l.partial);
        assert_eq!(l.stream, Stream::Stdout);
        let mut j = Joiner::default();
        assert!(j.push(&l).is_none());
        assert!(j.has_pending());
        let f = parse_line(b"2026-11-27T09:00:00.2Z stdout F world").unwrap();
        let r = j.push(&f).unwrap();
        assert_eq!(r.message, "hello world");
        assert_eq!(r.time, "2026-11-27T09:00:00.123456789Z");
        assert!(!r.cut);
        // Empty message and tag flags.
        let e = parse_line(b"2026-11-27T09:00:00Z stderr F").unwrap();
        assert_eq!((e.message, e.stream), (&b""[..], Stream::Stderr));
        assert!(parse_line(b"2026-11-27T09:00:00Z stdout F:x msg").is_ok());
        assert!(matches!(parse_line(b"garbage"), Err(CriError::Fields(_))));
        assert!(matches!(parse_line(b"2026-11-27T09:00:00Z out F m"), Err(CriError::Stream(_))));
        assert!(matches!(parse_line(b"2026-11-27T09:00:00Z stdout X m"), Err(CriError::Tag(_))));
        assert!(matches!(parse_line(b"yesterday stdout F m"), Err(CriError::Time(_))));
        // Offsets convert to UTC.
        assert_eq!(normalize_time("2026-11-27T10:00:00+01:00"), "2026-11-27T09:00:00Z");
    }

    #[test]
    fn cuts_long_messages() {
        let mut j = Joiner::default();
        let chunk = "é".repeat(6000); // 12000 bytes
        let line = format!("2026-11-27T09:00:00Z stdout P {chunk}");
        assert!(j.push(&parse_line(line.as_bytes()).unwrap()).is_none());
        let line2 = format!("2026-11-27T09:00:00Z stdout F {chunk}");
        let r = j.push(&parse_line(line2.as_bytes()).unwrap()).unwrap();
        assert!(r.cut);
        assert!(r.message.len() <= MAX_MESSAGE && r.message.len() > MAX_MESSAGE - 4);
        assert!(r.message.chars().all(|c| c == 'é'));
        // Invalid UTF-8 is replaced and still kept within the limit.
        let mut j = Joiner::default();
        let mut raw = b"2026-11-27T09:00:00Z stdout F ".to_vec();
        raw.extend(std::iter::repeat_n(0xffu8, 10_000));
        let r = j.push(&parse_line(&raw).unwrap()).unwrap();
        assert!(r.cut && r.message.len() <= MAX_MESSAGE);
    }

    #[test]
    fn levels_and_json() {
        let v = log_message(r#"{"level":"warn","msg":"x"}"#);
        assert_eq!(v["msg"], "x");
        assert_eq!(log_level(&v), "WARNING");
        assert_eq!(log_level(&log_message("2026 ERROR failed to connect")), "ERROR");
        assert_eq!(log_level(&log_message("INFO: no error here")), "INFO");
        assert_eq!(log_level(&log_message("plain text")), "UNKNOWN");
        assert_eq!(log_message("{not json}"), Value::String("{not json}".into()));
        assert_eq!(log_level(&log_message(r#"{"msg":"no level"}"#)), "UNKNOWN");
    }

    /// The allocation-free path the tailer uses agrees with the value-based definition.
    #[test]
    fn fast_classification_matches_the_definition() {
        for m in [
            r#"{"level":"warn","msg":"x"}"#,
            r#"  {"severity":"ERROR","n":[1,2,{"a":null}]}  "#,
            r#"{"level":30,"lvl":"debug"}"#,
            r#"{"msg":"no level"}"#,
            r#"{"level":"info","level":"x"}"#,
            r#"[1,"two",{"level":"info"}]"#,
            "{not json}",
            "[also not]",
            "2026 ERROR failed to connect",
            "INFO: no error here",
            "plain text",
            "Exception in thread main",
            "überlong-word-without-level ünïcödé WARN",
            "",
        ] {
            let v = log_message(m);
            let (json, level) = classify_message(m);
            assert_eq!(level, log_level(&v), "level of {m:?}");
            match json {
                Some(text) => assert_eq!(serde_json::from_str::<Value>(text).unwrap(), v, "{m:?}"),
                None => assert_eq!(v, Value::String(m.to_string()), "{m:?}"),
            }
        }
        for w in ["ERROR", "Warn", "information", "x", "errors", "CRITICAL", "trc"] {
            assert_eq!(level_word(w), level_word_reference(w), "{w}");
        }
    }
}
