//! apk version ordering (Alpine, Wolfi, Chainguard):
//! `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`.
//! Suffix order: `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`.
//! Non-first numeric parts starting with `0` compare as strings (apk's "fractional" rule).
//! A version with unparseable trailing text sorts below the same version without it; two
//! unparseable versions compare as plain strings.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

use super::cmp_digits;

static NUMS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:\d+\.?)*").expect("static regex"));
static SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)").expect("static regex"));
static HASH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^~[0-9a-f]+").expect("static regex"));
static BUILD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^-r(\d*)").expect("static regex"));

const NO_SUFFIX: u8 = 4;

struct Apk<'a> {
    original: &'a str,
    invalid: bool,
    nums: Vec<&'a str>,
    letter: Option<u8>,
    suffixes: Vec<(u8, &'a str)>,
    build: &'a str,
    remainder: &'a str,
}

fn weight(s: &str) -> u8 {
    match s {
        "alpha" => 0,
        "beta" => 1,
        "pre" => 2,
        "rc" => 3,
        "cvs" => 5,
        "svn" => 6,
        "git" => 7,
        "hg" => 8,
        _ => 9, // p
    }
}

fn parse(v: &str) -> Apk<'_> {
    let mut out =
        Apk { original: v, invalid: false, nums: vec![], letter: None, suffixes: vec![], build: "0", remainder: "" };
    let mut s = v;
    let m = NUMS.find(s).map(|m| m.as_str()).unwrap_or("");
    if !m.is_empty() {
        out.nums = m.split('.').filter(|p| !p.is_empty()).collect();
        s = &s[m.len()..];
    }
    if let Some(c) = s.bytes().next().filter(|c| c.is_ascii_lowercase()) {
        out.letter = Some(c);
        s = &s[1..];
    }
    let matches: Vec<(String, u8, &str)> = SUFFIX
        .captures_iter(s)
        .map(|c| {
            let whole = c.get(0).map(|m| m.as_str().to_string()).unwrap_or_default();
            let n = c.get(2).map(|m| m.as_str()).unwrap_or("");
            (whole, weight(c.get(1).map(|m| m.as_str()).unwrap_or("")), n)
        })
        .collect();
    for (whole, w, n) in matches {
        out.suffixes.push((w, if n.is_empty() { "0" } else { n }));
        if let Some(rest) = s.strip_prefix(whole.as_str()) {
            s = rest;
        }
    }
    if let Some(m) = HASH.find(s) {
        s = &s[m.end()..];
    }
    if !s.is_empty() {
        match BUILD.captures(s) {
            Some(c) => {
                let n = c.get(1).map(|m| m.as_str()).unwrap_or("");
                out.build = if n.is_empty() { "0" } else { n };
                s = &s[c.get(0).map(|m| m.end()).unwrap_or(0)..];
            }
            None => out.invalid = true,
        }
    }
    out.remainder = s;
    out
}

fn cmp_num(i: usize, a: &str, b: &str) -> Ordering {
    if i != 0 && (a.starts_with('0') || b.starts_with('0')) {
        return a.cmp(b);
    }
    cmp_digits(a, b)
}

/// Compare two apk versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (parse(a), parse(b));
    if x.invalid && y.invalid {
        return x.original.cmp(y.original);
    }
    for i in 0..x.nums.len().max(y.nums.len()) {
        let o = cmp_num(i, x.nums.get(i).copied().unwrap_or("0"), y.nums.get(i).copied().unwrap_or("0"));
        if o != Ordering::Equal {
            return o;
        }
    }
    let o = match (x.letter, y.letter) {
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (p, q) => p.cmp(&q),
    };
    if o != Ordering::Equal {
        return o;
    }
    for i in 0..x.suffixes.len().max(y.suffixes.len()) {
        let (wa, na) = x.suffixes.get(i).copied().unwrap_or((NO_SUFFIX, "0"));
        let (wb, nb) = y.suffixes.get(i).copied().unwrap_or((NO_SUFFIX, "0"));
        let o = wa.cmp(&wb).then_with(|| cmp_digits(na, nb));
        if o != Ordering::Equal {
            return o;
        }
    }
    let o = cmp_digits(x.build, y.build);
    if o != Ordering::Equal {
        return o;
    }
    match (x.remainder.is_empty(), y.remainder.is_empty()) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => Ordering::Equal,
    }
}
