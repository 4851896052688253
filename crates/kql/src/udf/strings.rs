//! String UDFs: KQL's case-insensitive predicates and `has` term matching, regex `extract`,
//! `extractall`, `split`, `trim`, `countof`, `url_decode`.
//!
//! `has` semantics: the needle must occur with term boundaries on its alphanumeric ends (a term
//! is a maximal run of ASCII letters/digits or non-ASCII characters). KQL strings are never
//! null, so a null input behaves as `""` and predicates never return null.

use std::collections::HashMap;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder};
use datafusion::common::{DataFusionError, Result as DFResult};
use regex::Regex;

use super::{Args, arc};

/// Predicate kinds encoded in the third argument of `kql_strop`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Contains = 0,
    Has = 1,
    HasPrefix = 2,
    HasSuffix = 3,
    StartsWith = 4,
    EndsWith = 5,
    Equals = 6,
}

fn kind_of(code: i64) -> Kind {
    match code {
        1 => Kind::Has,
        2 => Kind::HasPrefix,
        3 => Kind::HasSuffix,
        4 => Kind::StartsWith,
        5 => Kind::EndsWith,
        6 => Kind::Equals,
        _ => Kind::Contains,
    }
}

#[inline]
fn is_term(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

#[inline]
fn eq_at(hay: &[u8], at: usize, needle: &[u8], ci: bool) -> bool {
    let h = &hay[at..at + needle.len()];
    if ci { h.eq_ignore_ascii_case(needle) } else { h == needle }
}

/// Does `hay` match `needle` under `kind`? `ci`: ASCII case-insensitive (callers lowercase
/// non-ASCII input themselves).
pub fn matches(kind: Kind, hay: &str, needle: &str, ci: bool) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match kind {
        Kind::Equals => h.len() == n.len() && eq_at(h, 0, n, ci),
        Kind::StartsWith => h.len() >= n.len() && eq_at(h, 0, n, ci),
        Kind::EndsWith => h.len() >= n.len() && eq_at(h, h.len() - n.len(), n, ci),
        _ => {
            if n.is_empty() {
                return true;
            }
            if h.len() < n.len() {
                return false;
            }
            let check_before = matches!(kind, Kind::Has | Kind::HasPrefix) && is_term(n[0]);
            let check_after = matches!(kind, Kind::Has | Kind::HasSuffix) && is_term(n[n.len() - 1]);
            let first = n[0];
            let first_alt = if ci { first.to_ascii_uppercase() } else { first };
            let first_low = if ci { first.to_ascii_lowercase() } else { first };
            for p in 0..=h.len() - n.len() {
                let b = h[p];
                if b != first_low && b != first_alt {
                    continue;
                }
                if !eq_at(h, p, n, ci) {
                    continue;
                }
                if kind == Kind::Contains {
                    return true;
                }
                if check_before && p > 0 && is_term(h[p - 1]) {
                    continue;
                }
                let end = p + n.len();
                if check_after && end < h.len() && is_term(h[end]) {
                    continue;
                }
                return true;
            }
            false
        }
    }
}

fn matches_any_case(kind: Kind, hay: &str, needle: &str, ci: bool) -> bool {
    if ci && (!hay.is_ascii() || !needle.is_ascii()) {
        return matches(kind, &hay.to_lowercase(), &needle.to_lowercase(), false);
    }
    matches(kind, hay, needle, ci)
}

/// The text a string predicate sees for a dynamic value without allocating when possible: a
/// JSON string without escapes is its inner slice; other JSON (objects, arrays, numbers) is
/// matched as its JSON text, which is what `tostring` gives. `None` = needs unescaping.
#[inline]
fn dyn_view(s: &str) -> Option<&str> {
    if s.starts_with('"') { super::values::plain_json_string(s) } else { Some(s) }
}

/// A compiled scalar needle for the substring-based kinds (contains / has / hasprefix /
/// hassuffix): the regex engine's literal search (SIMD prefilters) finds candidates, term
/// boundaries are checked around each. Only for ASCII needles; non-ASCII haystacks under
/// case-insensitive matching take the Unicode-lowercasing path.
struct Finder {
    re: regex::bytes::Regex,
    kind: Kind,
    check_before: bool,
    check_after: bool,
}

impl Finder {
    fn new(kind: Kind, needle: &str, ci: bool) -> Option<Finder> {
        if !matches!(kind, Kind::Contains | Kind::Has | Kind::HasPrefix | Kind::HasSuffix)
            || needle.is_empty()
            || !needle.is_ascii()
        {
            return None;
        }
        let pat = format!("{}{}", if ci { "(?i-u)" } else { "(?-u)" }, regex::escape(needle));
        let re = regex::bytes::RegexBuilder::new(&pat).unicode(false).build().ok()?;
        let n = needle.as_bytes();
        Some(Finder {
            re,
            kind,
            check_before: matches!(kind, Kind::Has | Kind::HasPrefix) && is_term(n[0]),
            check_after: matches!(kind, Kind::Has | Kind::HasSuffix) && is_term(n[n.len() - 1]),
        })
    }

    #[inline]
    fn is_match(&self, hay: &[u8]) -> bool {
        if self.kind == Kind::Contains {
            return self.re.is_match(hay);
        }
        let mut at = 0;
        while let Some(m) = self.re.find_at(hay, at) {
            let before_ok = !self.check_before || m.start() == 0 || !is_term(hay[m.start() - 1]);
            let after_ok = !self.check_after || m.end() == hay.len() || !is_term(hay[m.end()]);
            if before_ok && after_ok {
                return true;
            }
            at = m.start() + 1;
            if at >= hay.len() {
                return false;
            }
        }
        false
    }
}

/// `kql_strop(hay, needle, kind, case_sensitive [, hay_is_dynamic])` → bool, never null.
/// With `hay_is_dynamic` = 1 the haystack is dynamic JSON text, matched as `tostring` of it.
pub fn strop(a: &Args) -> DFResult<ArrayRef> {
    let hay = a.str(0)?;
    let needle = a.str(1)?;
    let kind = kind_of(a.lit_i64(2).unwrap_or(0));
    let ci = a.lit_i64(3).unwrap_or(0) == 0;
    let dynamic = a.lit_i64(4) == Some(1);
    let mut out = BooleanBuilder::with_capacity(a.n);
    // the text to match for row i (dynamic values unquoted, allocating only for escapes)
    let text = |i: usize| -> std::borrow::Cow<'_, str> {
        let h = hay.get(i).unwrap_or("");
        if !dynamic {
            return std::borrow::Cow::Borrowed(h);
        }
        match dyn_view(h) {
            Some(v) => std::borrow::Cow::Borrowed(v),
            None => super::values::dyn_text_to_string(h),
        }
    };
    if let Some(nd) = needle.scalar() {
        let nd = nd.unwrap_or("");
        let nd_lower;
        let nd = if ci && !nd.is_ascii() {
            nd_lower = nd.to_lowercase();
            nd_lower.as_str()
        } else {
            nd
        };
        let finder = Finder::new(kind, nd, ci);
        for i in 0..a.n {
            let t = text(i);
            let m = match &finder {
                Some(f) if !ci || t.is_ascii() => f.is_match(t.as_bytes()),
                _ => matches_any_case(kind, &t, nd, ci),
            };
            out.append_value(m);
        }
    } else {
        for i in 0..a.n {
            out.append_value(matches_any_case(kind, &text(i), needle.get(i).unwrap_or(""), ci));
        }
    }
    Ok(arc(out.finish()))
}

/// A tiny per-batch cache of compiled regexes (patterns are usually literals).
struct RegexCache(HashMap<String, Regex>);

impl RegexCache {
    fn new() -> Self {
        RegexCache(HashMap::new())
    }
    fn get(&mut self, pat: &str) -> DFResult<&Regex> {
        if !self.0.contains_key(pat) {
            if self.0.len() > 64 {
                self.0.clear();
            }
            let re = regex::RegexBuilder::new(pat)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| DataFusionError::Execution(format!("invalid regular expression '{pat}': {e}")))?;
            self.0.insert(pat.to_string(), re);
        }
        Ok(&self.0[pat])
    }
}

/// Validates a regex pattern at bind time.
pub fn check_regex(pat: &str) -> Result<(), String> {
    regex::RegexBuilder::new(pat).size_limit(1 << 22).build().map(|_| ()).map_err(|e| e.to_string())
}

/// `extract(regex, group, text)` → string (null when no match).
pub fn extract(a: &Args) -> DFResult<ArrayRef> {
    let pat = a.str(0)?;
    let text = a.str(2)?;
    let group = a.array(1)?;
    let group = datafusion::arrow::compute::cast(&group, &datafusion::arrow::datatypes::DataType::Int64)?;
    let group = group.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().expect("int64");
    let mut cache = RegexCache::new();
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let (Some(p), Some(t)) = (pat.get(i), text.get(i)) else {
            out.append_null();
            continue;
        };
        let g = if group.is_valid(i) { group.value(i).max(0) as usize } else { 0 };
        let re = cache.get(p)?;
        match re.captures(t).and_then(|c| c.get(g)) {
            Some(m) => out.append_value(m.as_str()),
            None => out.append_null(),
        }
    }
    Ok(arc(out.finish()))
}

use datafusion::arrow::array::Array;

/// `extractall(regex, text)` → dynamic array: of group-1 strings when there is one group, of
/// arrays of groups when several, of whole matches when none.
pub fn extract_all(a: &Args) -> DFResult<ArrayRef> {
    let pat = a.str(0)?;
    let text = a.str(1)?;
    let mut cache = RegexCache::new();
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let (Some(p), Some(t)) = (pat.get(i), text.get(i)) else {
            out.append_null();
            continue;
        };
        let re = cache.get(p)?;
        let groups = re.captures_len() - 1;
        let mut items = Vec::new();
        for c in re.captures_iter(t) {
            let v = match groups {
                0 => serde_json::Value::String(c[0].to_string()),
                1 => c.get(1).map(|m| serde_json::Value::String(m.as_str().into())).unwrap_or(serde_json::Value::Null),
                _ => serde_json::Value::Array(
                    (1..=groups)
                        .map(|g| {
                            c.get(g)
                                .map(|m| serde_json::Value::String(m.as_str().into()))
                                .unwrap_or(serde_json::Value::Null)
                        })
                        .collect(),
                ),
            };
            items.push(v);
        }
        if items.is_empty() {
            out.append_null();
        } else {
            out.append_value(serde_json::Value::Array(items).to_string());
        }
    }
    Ok(arc(out.finish()))
}

/// `split(text, delimiter)` → dynamic array of strings.
pub fn split(a: &Args) -> DFResult<ArrayRef> {
    let text = a.str(0)?;
    let delim = a.str(1)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let t = text.get(i).unwrap_or("");
        let d = delim.get(i).unwrap_or("");
        let parts: Vec<serde_json::Value> = if d.is_empty() {
            vec![serde_json::Value::String(t.to_string())]
        } else {
            t.split(d).map(|s| serde_json::Value::String(s.to_string())).collect()
        };
        out.append_value(serde_json::Value::Array(parts).to_string());
    }
    Ok(arc(out.finish()))
}

/// `trim(regex, text)` (and `trim_start`/`trim_end` via the third argument: 0 both, 1 start,
/// 2 end): removes leading/trailing matches of the regex.
pub fn trim(a: &Args) -> DFResult<ArrayRef> {
    let pat = a.str(0)?;
    let text = a.str(1)?;
    let mode = a.lit_i64(2).unwrap_or(0);
    let mut cache = RegexCache::new();
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let (Some(p), Some(t)) = (pat.get(i), text.get(i)) else {
            out.append_null();
            continue;
        };
        let start_re = cache.get(&format!("^(?:{p})"))?.clone();
        let end_re = cache.get(&format!("(?:{p})$"))?.clone();
        let mut s = t;
        // strip repeated matches; stop when a match is empty (no progress)
        if mode != 2 {
            while let Some(m) = start_re.find(s).filter(|m| m.end() > 0) {
                s = &s[m.end()..];
            }
        }
        if mode != 1 {
            while let Some(m) = end_re.find(s).filter(|m| m.start() < s.len()) {
                s = &s[..m.start()];
            }
        }
        out.append_value(s);
    }
    Ok(arc(out.finish()))
}

/// `countof(text, search)` → long: non-overlapping occurrences (plain text).
pub fn countof(a: &Args) -> DFResult<ArrayRef> {
    let text = a.str(0)?;
    let search = a.str(1)?;
    let mut out = Int64Builder::with_capacity(a.n);
    for i in 0..a.n {
        let t = text.get(i).unwrap_or("");
        let s = search.get(i).unwrap_or("");
        out.append_value(if s.is_empty() { 0 } else { t.matches(s).count() as i64 });
    }
    Ok(arc(out.finish()))
}

/// `url_decode(text)`: `%XX` escapes and `+` as space; invalid escapes are kept.
pub fn url_decode(a: &Args) -> DFResult<ArrayRef> {
    let text = a.str(0)?;
    let mut out = StringBuilder::new();
    for i in 0..a.n {
        let Some(t) = text.get(i) else {
            out.append_null();
            continue;
        };
        let b = t.as_bytes();
        let mut v = Vec::with_capacity(b.len());
        let mut j = 0;
        while j < b.len() {
            match b[j] {
                b'+' => {
                    v.push(b' ');
                    j += 1;
                }
                b'%' if j + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[j + 1..j + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(x) => {
                            v.push(x);
                            j += 3;
                        }
                        None => {
                            v.push(b'%');
                            j += 1;
                        }
                    }
                }
                c => {
                    v.push(c);
                    j += 1;
                }
            }
        }
        out.append_value(String::from_utf8_lossy(&v));
    }
    Ok(arc(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_is_term_matching() {
        assert!(matches(Kind::Has, "an Error occurred", "error", true));
        assert!(!matches(Kind::Has, "errors occurred", "error", true));
        assert!(!matches(Kind::Has, "myerror", "error", true));
        assert!(matches(Kind::Has, "x=error;", "error", true));
        assert!(matches(Kind::Has, "GET /api/v1 200", "/api/v1", true));
        assert!(!matches(Kind::Has, "an Error occurred", "error", false));
        assert!(matches(Kind::HasPrefix, "errors occurred", "error", true));
        assert!(matches(Kind::HasSuffix, "myerror x", "error", true));
        assert!(matches(Kind::Contains, "myERRORs", "error", true));
        assert!(matches(Kind::StartsWith, "Kube-system", "kube", true));
        assert!(matches(Kind::EndsWith, "Kube-system", "SYSTEM", true));
        assert!(matches_any_case(Kind::Has, "ÉCHEC total", "échec", true));
    }

    #[test]
    fn finder_agrees_with_the_plain_matcher() {
        let hays = [
            "an Error occurred",
            "errors occurred",
            "myerror",
            "x=error;",
            "error",
            "ERRORerror error",
            "errerror",
            "",
            "GET /api/v1 200",
        ];
        for kind in [Kind::Contains, Kind::Has, Kind::HasPrefix, Kind::HasSuffix] {
            for needle in ["error", "/api/v1", "err", "ror", "r"] {
                for ci in [true, false] {
                    let f = Finder::new(kind, needle, ci).expect("ascii needle");
                    for h in hays {
                        assert_eq!(
                            f.is_match(h.as_bytes()),
                            matches(kind, h, needle, ci),
                            "{kind:?} {needle:?} ci={ci} in {h:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dynamic_strings_are_matched_unquoted() {
        assert_eq!(dyn_view(r#""plain text""#), Some("plain text"));
        assert_eq!(dyn_view(r#""with \n escape""#), None);
        assert_eq!(dyn_view(r#"{"a":"b"}"#), Some(r#"{"a":"b"}"#));
        assert_eq!(dyn_view("42"), Some("42"));
    }
}
