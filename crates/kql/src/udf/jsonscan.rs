//! A non-allocating JSON scanner for member access on dynamic text (`d.a.b`, `d[0]`).
//!
//! Building a `serde_json::Value` tree for every row just to read one member dominates queries
//! such as `tostring(KubernetesMetadata.podUid)`. [`find`] walks the text instead: it skips
//! whole values it does not need, checks the entire text is valid JSON (so invalid text keeps
//! its "not found" meaning), and returns the byte range of the member. It answers `None`
//! ("cannot tell, use the full parser") for anything unusual: escaped keys, duplicate-key
//! ambiguity is not detected (the first match wins; normalised dynamic text has no duplicate
//! keys), negative array indexes.

use super::dynamic::PathElem;

/// What [`find`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The member's byte range in the text.
    At(usize, usize),
    /// The text is valid JSON and the path does not exist.
    Missing,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// Skips a string starting at `"`; returns (content start, content end, had escapes).
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut esc = false;
        // Jump from quote/backslash to quote/backslash (memchr's SIMD search) and check each
        // span for control characters in one vectorisable pass: most of a dynamic value's
        // bytes are inside strings, and a byte-at-a-time loop made skipping them the largest
        // cost of member access (perf, 10 M-row join query).
        while self.i < self.b.len() {
            let rest = &self.b[self.i..];
            let at = memchr::memchr2(b'"', b'\\', rest)?;
            if rest[..at].iter().any(|&c| c < 0x20) {
                return None;
            }
            self.i += at;
            if self.b[self.i] == b'"' {
                let end = self.i;
                self.i += 1;
                return Some((start, end, esc));
            }
            esc = true;
            self.i += 2;
        }
        None
    }
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |s: &mut Self| {
            let d = s.i;
            while s.i < s.b.len() && s.b[s.i].is_ascii_digit() {
                s.i += 1;
            }
            s.i > d
        };
        if !digits(self) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        (self.i > start).then_some(())
    }
    /// Skips one value (validating it), with a nesting limit.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > 128 {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.skip(depth + 1)?;
                    self.ws();
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
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    self.ws();
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

    /// Walks into the value at the cursor along `path`; on success the cursor is at the
    /// member's start and the rest of the enclosing values is validated by the caller.
    /// Returns Some(Some(())) when found (cursor at member), Some(None) when missing.
    fn descend(&mut self, path: &[PathElem], found: &mut Option<(usize, usize)>, depth: usize) -> Option<()> {
        if depth > 128 {
            return None;
        }
        self.ws();
        let Some((first, rest)) = path.split_first() else {
            let start = self.i;
            self.skip(depth)?;
            *found = Some((start, self.i));
            return Some(());
        };
        match (first, self.peek()?) {
            (PathElem::Key(k), b'{') => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    let (ks, ke, esc) = self.string()?;
                    if esc {
                        return None;
                    }
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    if found.is_none() && &self.b[ks..ke] == k.as_bytes() {
                        self.descend(rest, found, depth + 1)?;
                    } else {
                        self.skip(depth + 1)?;
                    }
                    self.ws();
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
            (PathElem::Index(n), b'[') => {
                if *n < 0 {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                let mut k = 0i64;
                loop {
                    if found.is_none() && k == *n {
                        self.descend(rest, found, depth + 1)?;
                    } else {
                        self.skip(depth + 1)?;
                    }
                    k += 1;
                    self.ws();
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
            // wrong container kind (or a scalar): the path does not exist here
            _ => self.skip(depth),
        }
    }
}

/// Finds `path` in the JSON `text`. `None` = the scanner cannot answer (invalid JSON, escaped
/// keys, negative indexes): use the full parser.
pub fn find(text: &str, path: &[PathElem]) -> Option<Found> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    let mut found = None;
    s.descend(path, &mut found, 0)?;
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    Some(match found {
        Some((a, b)) => Found::At(a, b),
        None => Found::Missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udf::dynamic::walk;

    fn key(k: &str) -> PathElem {
        PathElem::Key(k.into())
    }

    #[test]
    fn agrees_with_the_tree_walk() {
        let docs = [
            r#"{"podUid":"abc-1","image":"nginx:1.25","labels":{"app":"web","tier":"fe"},"ports":[80,443]}"#,
            r#"{"a":{"b":{"c":[1,{"d":"x"}]}},"e":null,"f":true,"g":-1.5e3}"#,
            r#"[1,[2,3],{"k":"v"}]"#,
            r#""just a string""#,
            r#"42"#,
            r#"{}"#,
            r#"[]"#,
            r#"{ "spaced" : [ 1 , 2 ] }"#,
        ];
        let paths: Vec<Vec<PathElem>> = vec![
            vec![key("podUid")],
            vec![key("labels"), key("app")],
            vec![key("ports"), PathElem::Index(1)],
            vec![key("a"), key("b"), key("c"), PathElem::Index(1), key("d")],
            vec![key("e")],
            vec![key("g")],
            vec![PathElem::Index(1), PathElem::Index(0)],
            vec![PathElem::Index(2), key("k")],
            vec![key("missing")],
            vec![key("spaced"), PathElem::Index(1)],
            vec![PathElem::Index(9)],
        ];
        for d in docs {
            let tree: serde_json::Value = serde_json::from_str(d).unwrap();
            for p in &paths {
                let want = walk(&tree, p).cloned();
                match find(d, p) {
                    Some(Found::At(a, b)) => {
                        let got: serde_json::Value = serde_json::from_str(&d[a..b]).unwrap();
                        assert_eq!(Some(got), want, "{d} {p:?}");
                    }
                    Some(Found::Missing) => assert_eq!(want, None, "{d} {p:?}"),
                    None => panic!("scanner gave up on valid JSON {d} {p:?}"),
                }
            }
        }
    }

    #[test]
    fn invalid_or_unusual_text_is_left_to_the_parser() {
        assert_eq!(find(r#"{"a":1,"#, &[key("a")]), None);
        assert_eq!(find(r#"{"a":1} trailing"#, &[key("a")]), None);
        assert_eq!(find(r#"{"a\u0062":1}"#, &[key("ab")]), None);
        assert_eq!(find("[1,2]", &[PathElem::Index(-1)]), None);
        assert_eq!(find("not json", &[key("a")]), None);
        let deep = "[".repeat(500);
        assert_eq!(find(&deep, &[PathElem::Index(0)]), None);
    }
}
