//! Finding one member by path (`d.a.b`, `d[0]`) in JSON text without building a tree.

use crate::scanner::{MAX_DEPTH, Scanner};

/// One step of a member path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// An object key (compared with the unescaped key text; escaped keys make [`find`] give up).
    Key(&'a str),
    /// An array position (negative positions make [`find`] give up).
    Index(i64),
}

/// What [`find`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The member's byte range in the text.
    At(usize, usize),
    /// The text is valid JSON and the path does not exist.
    Missing,
}

/// How much [`find`] may assume about the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Anything: the whole text is validated, so invalid text gives `None` even when the
    /// member comes before the damage.
    Validate,
    /// The text is known to be one valid JSON value (e.g. stored by the workspace, which
    /// only stores valid JSON in dynamic columns): the scan stops at the member, and strings
    /// are skipped without checking their contents.
    Valid,
}

/// Finds `path` in the JSON `text`. `None` = the scanner cannot answer (invalid JSON, escaped
/// keys on the path, negative indexes): use a full parser. When a key occurs twice, the first
/// occurrence wins (normalised dynamic text has no duplicate keys).
pub fn find(text: &[u8], path: &[Step<'_>], trust: Trust) -> Option<Found> {
    let mut s = Scanner::new(text);
    s.trusted = trust == Trust::Valid;
    let mut found = None;
    let stopped = descend(&mut s, path, &mut found, 0)?;
    if !stopped {
        s.ws();
        if s.i != text.len() {
            return None;
        }
    }
    Some(match found {
        Some((a, b)) => Found::At(a, b),
        None => Found::Missing,
    })
}

/// Walks into the value at the cursor along `path`, recording the member's range in `found`.
/// Returns `Some(true)` when the scan may stop (member found in trusted text), `Some(false)`
/// when the value was walked to its end.
fn descend(s: &mut Scanner<'_>, path: &[Step<'_>], found: &mut Option<(usize, usize)>, depth: usize) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    s.ws();
    let Some((first, rest)) = path.split_first() else {
        let start = s.i;
        s.value(depth)?;
        *found = Some((start, s.i));
        return Some(s.trusted);
    };
    match (first, s.peek()?) {
        (Step::Key(k), b'{') => {
            s.i += 1;
            s.ws();
            if s.peek()? == b'}' {
                s.i += 1;
                return Some(false);
            }
            loop {
                s.ws();
                let (ks, ke, esc) = s.string()?;
                if esc {
                    return None;
                }
                s.ws();
                if s.peek()? != b':' {
                    return None;
                }
                s.i += 1;
                s.ws();
                if found.is_none() && &s.b[ks..ke] == k.as_bytes() {
                    if descend(s, rest, found, depth + 1)? {
                        return Some(true);
                    }
                } else {
                    s.value(depth + 1)?;
                }
                s.ws();
                match s.peek()? {
                    b',' => s.i += 1,
                    b'}' => {
                        s.i += 1;
                        return Some(false);
                    }
                    _ => return None,
                }
            }
        }
        (Step::Index(n), b'[') => {
            if *n < 0 {
                return None;
            }
            s.i += 1;
            s.ws();
            if s.peek()? == b']' {
                s.i += 1;
                return Some(false);
            }
            let mut k = 0i64;
            loop {
                s.ws();
                if found.is_none() && k == *n {
                    if descend(s, rest, found, depth + 1)? {
                        return Some(true);
                    }
                } else {
                    s.value(depth + 1)?;
                }
                k += 1;
                s.ws();
                match s.peek()? {
                    b',' => s.i += 1,
                    b']' => {
                        s.i += 1;
                        return Some(false);
                    }
                    _ => return None,
                }
            }
        }
        // wrong container kind (or a scalar): the path does not exist here
        _ => s.value(depth).map(|()| false),
    }
}

/// Member access on dynamic text, as KQL gives it: `Some(None)` when the member is missing or
/// JSON null, `Some(Some(text))` with the member as normalised dynamic text (strings without
/// escapes, `true` and `false` as they are; numbers, containers and escaped strings
/// re-serialised by serde_json), `None` when [`find`] cannot answer (the caller parses the
/// whole text instead). Shared by KQL member access and the workspace's shadow columns so that
/// both give the same text.
pub fn member_text<'t>(text: &'t str, path: &[Step<'_>], trust: Trust) -> Option<Option<std::borrow::Cow<'t, str>>> {
    use std::borrow::Cow;
    match find(text.as_bytes(), path, trust)? {
        Found::Missing => Some(None),
        Found::At(s, e) => {
            let raw = &text[s..e];
            Some(match raw.as_bytes().first() {
                Some(b'n') => None,
                Some(b't' | b'f') => Some(Cow::Borrowed(raw)),
                Some(b'"') if !raw.contains('\\') => Some(Cow::Borrowed(raw)),
                _ => match serde_json::from_str::<serde_json::Value>(raw) {
                    Ok(serde_json::Value::Null) | Err(_) => None,
                    Ok(v) => Some(Cow::Owned(v.to_string())),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The reference: serde_json tree + walk (KQL semantics for non-negative paths).
    fn walk<'a>(mut v: &'a Value, path: &[Step<'_>]) -> Option<&'a Value> {
        for p in path {
            v = match (p, v) {
                (Step::Key(k), Value::Object(m)) => m.get(*k)?,
                (Step::Index(i), Value::Array(a)) => a.get(usize::try_from(*i).ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }

    #[test]
    fn agrees_with_the_tree_walk_in_both_modes() {
        let docs = [
            r#"{"podUid":"abc-1","image":"nginx:1.25","labels":{"app":"web","tier":"fe"},"ports":[80,443]}"#,
            r#"{"a":{"b":{"c":[1,{"d":"x"}]}},"e":null,"f":true,"g":-1.5e3}"#,
            r#"[1,[2,3],{"k":"v"}]"#,
            r#""just a string""#,
            r#"42"#,
            r#"{}"#,
            r#"[]"#,
            r#"{ "spaced" : [ 1 , 2 ] , "esc":"a\"b\\"}"#,
        ];
        let paths: Vec<Vec<Step<'_>>> = vec![
            vec![Step::Key("podUid")],
            vec![Step::Key("labels"), Step::Key("app")],
            vec![Step::Key("ports"), Step::Index(1)],
            vec![Step::Key("a"), Step::Key("b"), Step::Key("c"), Step::Index(1), Step::Key("d")],
            vec![Step::Key("e")],
            vec![Step::Key("g")],
            vec![Step::Index(1), Step::Index(0)],
            vec![Step::Index(2), Step::Key("k")],
            vec![Step::Key("missing")],
            vec![Step::Key("spaced"), Step::Index(1)],
            vec![Step::Key("esc")],
            vec![Step::Index(9)],
        ];
        for d in docs {
            let tree: Value = serde_json::from_str(d).unwrap();
            for p in &paths {
                let want = walk(&tree, p).cloned();
                for trust in [Trust::Validate, Trust::Valid] {
                    match find(d.as_bytes(), p, trust) {
                        Some(Found::At(a, b)) => {
                            let got: Value = serde_json::from_str(&d[a..b]).unwrap();
                            assert_eq!(Some(got), want, "{d} {p:?} {trust:?}");
                        }
                        Some(Found::Missing) => assert_eq!(want, None, "{d} {p:?} {trust:?}"),
                        None => panic!("scanner gave up on valid JSON {d} {p:?} {trust:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_or_unusual_text_is_left_to_the_parser() {
        let a = [Step::Key("a")];
        assert_eq!(find(br#"{"a":1,"#, &a, Trust::Validate), None);
        assert_eq!(find(br#"{"a":1} trailing"#, &a, Trust::Validate), None);
        assert_eq!(find(br#"{"a":1,"b":"tab	in string"}"#, &a, Trust::Validate), None);
        assert_eq!(find(br#"{"a\u0062":1}"#, &[Step::Key("ab")], Trust::Validate), None);
        assert_eq!(find(b"[1,2]", &[Step::Index(-1)], Trust::Validate), None);
        assert_eq!(find(b"not json", &a, Trust::Validate), None);
        assert_eq!(find(b"[01]", &[Step::Index(0)], Trust::Validate), None);
        let deep = "[".repeat(500);
        assert_eq!(find(deep.as_bytes(), &[Step::Index(0)], Trust::Validate), None);
        assert_eq!(find(deep.as_bytes(), &[Step::Index(0)], Trust::Valid), None);
    }

    #[test]
    fn trusted_text_stops_at_the_member() {
        // What the early exit means: damage after the member is not looked at.
        let t = br#"{"a":[1,"x"],"b":oops"#;
        assert_eq!(find(t, &[Step::Key("a")], Trust::Valid), Some(Found::At(5, 12)));
        assert_eq!(find(t, &[Step::Key("a")], Trust::Validate), None);
        // a missing member still walks (and needs) the whole text
        assert_eq!(find(br#"{"a":1,"b":2}"#, &[Step::Key("c")], Trust::Valid), Some(Found::Missing));
        assert_eq!(find(br#"{"a":1,"b":2"#, &[Step::Key("c")], Trust::Valid), None);
    }
}
