//! A validating, non-allocating scanner that splits one JSON object (an NDJSON line) into
//! its top-level `key → raw value` byte ranges, for the fast ingestion path in [`crate::rows`].
//!
//! Building a `serde_json::Value` tree per row (every nested object and string allocated, then
//! dynamic values serialised again) dominated ingestion. The scanner validates the whole line
//! as JSON and records where each top-level value is; the converter reads strings, numbers and
//! datetimes straight from those bytes and copies dynamic values as they are when they are
//! already in canonical compact form (the text serde_json would write back: no whitespace
//! outside strings, no escapes, integers only). Anything else falls back to serde_json for that
//! one value, so results are identical to the tree path (except that a dynamic object with
//! duplicate keys keeps them as sent, where serde_json would keep the last one).

/// One top-level member of a scanned object (byte ranges into the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    /// Key text without the quotes.
    pub key: (usize, usize),
    /// The key contains escapes (decode it with serde_json).
    pub key_escaped: bool,
    /// The raw value text.
    pub val: (usize, usize),
    /// The value's text equals serde_json's compact rendering of it.
    pub canonical: bool,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    canonical: bool,
}

const MAX_DEPTH: usize = 128;

impl Scanner<'_> {
    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    /// Whitespace inside a value makes it non-canonical.
    #[inline]
    fn ws_in_value(&mut self) {
        let s = self.i;
        self.ws();
        if self.i != s {
            self.canonical = false;
        }
    }
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// A string at the cursor; returns (content start, content end, had escapes).
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut esc = false;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.i += 1;
                    return Some((start, self.i - 1, esc));
                }
                b'\\' => {
                    esc = true;
                    match self.b.get(self.i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.b.get(self.i + 2..self.i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        None
    }
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let int_digits = self.i - int_start;
        let mut plain_int = true;
        if self.peek() == Some(b'.') {
            plain_int = false;
            self.i += 1;
            let d = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == d {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            plain_int = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let d = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == d {
                return None;
            }
        }
        // serde_json rewrites floats (1.50 → 1.5, 1e3 → 1000.0), `-0` and huge integers
        if !plain_int || int_digits > 18 || &self.b[start..self.i] == b"-0" {
            self.canonical = false;
        }
        Some(())
    }
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                let (_, _, esc) = self.string()?;
                if esc {
                    self.canonical = false;
                }
                Some(())
            }
            b'{' => {
                self.i += 1;
                self.ws_in_value();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws_in_value();
                    let (_, _, esc) = self.string()?;
                    if esc {
                        self.canonical = false;
                    }
                    self.ws_in_value();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws_in_value();
                    self.value(depth + 1)?;
                    self.ws_in_value();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws_in_value();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws_in_value();
                    self.value(depth + 1)?;
                    self.ws_in_value();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }
}

/// Scans `line` as one JSON object, appending its top-level members to `out`. `None` when the
/// line is not a valid JSON object (the caller asks serde_json for the exact error) or nests
/// deeper than the scanner allows.
pub(crate) fn scan_object(line: &[u8], out: &mut Vec<Field>) -> Option<()> {
    let mut s = Scanner { b: line, i: 0, canonical: true };
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
            "{\"a\":\"tab\there\"}",
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":-}"#,
        ] {
            assert!(scan(bad).is_none(), "{bad}");
            assert!(serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(bad).is_err(), "{bad}");
        }
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(scan(&deep).is_none());
    }
}
