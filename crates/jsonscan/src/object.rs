//! Splitting one JSON object (an NDJSON line) into its top-level `key → raw value` byte
//! ranges, for ingestion without JSON trees.

use crate::scanner::Scanner;

/// One top-level member of a scanned object (byte ranges into the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Key text without the quotes.
    pub key: (usize, usize),
    /// The key contains escapes (decode it with a full parser).
    pub key_escaped: bool,
    /// The raw value text.
    pub val: (usize, usize),
    /// The value's text equals serde_json's compact rendering of it (no whitespace outside
    /// strings, no escapes, integers only, no `-0`), so it can be stored as it is.
    pub canonical: bool,
}

/// Scans `line` as one JSON object, appending its top-level members to `out`. `None` when the
/// line is not a valid JSON object (the caller asks a full parser for the exact error) or
/// nests deeper than [`crate::MAX_DEPTH`]. Checks the grammar only: the caller checks UTF-8.
pub fn scan_object(line: &[u8], out: &mut Vec<Field>) -> Option<()> {
    let mut s = Scanner::new(line);
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.i += 1;
    s.ws();
    if s.peek()? == b'}' {
        s.i += 1;
    } else {
        loop {
            s.ws();
            let (ks, ke, key_escaped) = s.string()?;
            s.ws();
            if s.peek()? != b':' {
                return None;
            }
            s.i += 1;
            s.ws();
            s.canonical = true;
            let vs = s.i;
            s.value(1)?;
            out.push(Field { key: (ks, ke), key_escaped, val: (vs, s.i), canonical: s.canonical });
            s.ws();
            match s.peek()? {
                b',' => s.i += 1,
                b'}' => {
                    s.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == line.len()).then_some(())
}

/// True when `text` is exactly one valid JSON value (surrounding whitespace allowed).
/// Grammar only: the caller checks UTF-8 (a `&str` already is).
pub fn is_valid(text: &[u8]) -> bool {
    let mut s = Scanner::new(text);
    s.ws();
    s.value(0).is_some() && {
        s.ws();
        s.i == text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(line: &str) -> Option<Vec<(String, String, bool)>> {
        let mut out = Vec::new();
        scan_object(line.as_bytes(), &mut out)?;
        Some(
            out.iter()
                .map(|f| (line[f.key.0..f.key.1].to_string(), line[f.val.0..f.val.1].to_string(), f.canonical))
                .collect(),
        )
    }

    #[test]
    fn splits_members_and_flags_canonical_values() {
        let got =
            scan(r#" {"a":1, "b" : {"x":[1,2,{"y":"z"}]}, "c":"s", "d":1.50, "e":{ "k":1}, "f":"q\"", "g":null} "#)
                .unwrap();
        let want = [
            ("a", "1", true),
            ("b", r#"{"x":[1,2,{"y":"z"}]}"#, true),
            ("c", r#""s""#, true),
            ("d", "1.50", false),
            ("e", r#"{ "k":1}"#, false),
            ("f", r#""q\"""#, false),
            ("g", "null", true),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2), w);
        }
    }

    #[test]
    fn canonical_means_serde_json_writes_the_same_text() {
        for v in [r#"{"a":[1,-2,true,false,null,"x y"],"b":{}}"#, "[]", "123456789012345678", r#""é""#] {
            let line = format!(r#"{{"k":{v}}}"#);
            let got = scan(&line).unwrap();
            assert!(got[0].2, "{v}");
            let round = serde_json::from_str::<serde_json::Value>(v).unwrap().to_string();
            assert_eq!(round, got[0].1);
        }
        for v in ["1e3", "-0", "1234567890123456789", r#""a\nb""#, "[1, 2]"] {
            let line = format!(r#"{{"k":{v}}}"#);
            assert!(!scan(&line).unwrap()[0].2, "{v}");
        }
    }

    #[test]
    fn rejects_what_is_not_one_valid_object() {
        for bad in [
            "",
            "[1]",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1} x"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12g4"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":"unterminated}"#,
        ] {
            assert!(scan(bad).is_none(), "{bad}");
            assert!(!is_valid(bad.as_bytes()) || bad == "[1]", "{bad}");
            assert!(serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(bad).is_err(), "{bad}");
        }
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(scan(&deep).is_none());
    }

    #[test]
    fn is_valid_agrees_with_serde_json() {
        for t in ["1", " [1, {\"a\": null}] ", "\"x\"", "{}", "-0.5e-3", "01", "[1,]", "{\"a\" 1}", "nul", "1 2", ""] {
            assert_eq!(is_valid(t.as_bytes()), serde_json::from_str::<serde_json::Value>(t).is_ok(), "{t}");
        }
    }
}
