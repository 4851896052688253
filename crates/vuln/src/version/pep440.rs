//! PEP 440 ordering for PyPI: epoch, release (zero-padded), pre (a < b < rc), post, dev, local.
//! Spelling variants normalise (`alpha`→a, `c`/`pre`/`preview`→rc, `rev`/`r`/`-N`→post,
//! case-insensitive). Strings that are not PEP 440 versions use setuptools' legacy ordering
//! and always sort below valid versions.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

use super::{cmp_digits, is_digits};

static RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^\s*v?(?:(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)",
        r"(?P<pre>[-_\.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_\.]?(?P<pre_n>[0-9]+)?)?",
        r"(?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?",
        r"(?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?)",
        r"(?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?\s*$"
    ))
    .expect("static regex")
});
static LEGACY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+|[a-z]+|\.|-").expect("static regex"));

#[derive(Debug, Default)]
struct Pep {
    legacy: Option<Vec<String>>,
    epoch: String,
    release: Vec<String>,
    pre: Option<(u8, String)>,
    post: Option<String>,
    dev: Option<String>,
    local: Vec<String>,
}

fn legacy_parts(s: &str) -> Vec<String> {
    let mut parts: Vec<String> = vec![];
    let mut items: Vec<&str> = LEGACY.find_iter(s).map(|m| m.as_str()).collect();
    items.push("final");
    for p in items {
        if p.is_empty() || p == "." {
            continue;
        }
        let p = match p {
            "pre" | "preview" | "rc" => "c",
            "-" => "final-",
            "dev" => "@",
            x => x,
        };
        let part = if p.as_bytes()[0].is_ascii_digit() { format!("{p:0>8}") } else { format!("*{p}") };
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|x| x == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|x| x == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    parts
}

fn num_or_zero(s: Option<&str>) -> String {
    match s {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => "0".to_string(),
    }
}

fn parse(v: &str) -> Pep {
    let v = v.to_ascii_lowercase();
    let Some(c) = RE.captures(&v) else {
        return Pep { legacy: Some(legacy_parts(&v)), ..Pep::default() };
    };
    let g = |n: &str| c.name(n).map(|m| m.as_str());
    let pre = g("pre_l").map(|l| {
        let rank = match l {
            "a" | "alpha" => 0,
            "b" | "beta" => 1,
            _ => 2,
        };
        (rank, num_or_zero(g("pre_n")))
    });
    let post = if g("post_l").is_some() || g("post_n1").is_some() {
        Some(num_or_zero(g("post_n1").or(g("post_n2"))))
    } else {
        None
    };
    let dev = g("dev_l").map(|_| num_or_zero(g("dev_n")));
    Pep {
        legacy: None,
        epoch: num_or_zero(g("epoch")),
        release: g("release").unwrap_or("0").split('.').map(str::to_string).collect(),
        pre,
        post,
        dev,
        local: g("local").map(|l| l.split(['.', '_', '-']).map(str::to_string).collect()).unwrap_or_default(),
    }
}

fn opt_num(a: &Option<String>, b: &Option<String>, none_first: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => {
            if none_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Some(_), None) => {
            if none_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(x), Some(y)) => cmp_digits(x, y),
    }
}

fn pre_trick(p: &Pep) -> bool {
    p.pre.is_none() && p.post.is_none() && p.dev.is_some()
}

/// Compare two PyPI versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (parse(a), parse(b));
    match (&x.legacy, &y.legacy) {
        (Some(l), Some(r)) => return l.concat().cmp(&r.concat()),
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        (None, None) => {}
    }
    let mut o = cmp_digits(&x.epoch, &y.epoch);
    if o != Ordering::Equal {
        return o;
    }
    for i in 0..x.release.len().max(y.release.len()) {
        o = cmp_digits(
            x.release.get(i).map(String::as_str).unwrap_or("0"),
            y.release.get(i).map(String::as_str).unwrap_or("0"),
        );
        if o != Ordering::Equal {
            return o;
        }
    }
    o = match (pre_trick(&x), pre_trick(&y)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => match (&x.pre, &y.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some((ra, na)), Some((rb, nb))) => ra.cmp(rb).then_with(|| cmp_digits(na, nb)),
        },
    };
    if o != Ordering::Equal {
        return o;
    }
    o = opt_num(&x.post, &y.post, true);
    if o != Ordering::Equal {
        return o;
    }
    o = opt_num(&x.dev, &y.dev, false);
    if o != Ordering::Equal {
        return o;
    }
    for (p, q) in x.local.iter().zip(y.local.iter()) {
        o = match (is_digits(p), is_digits(q)) {
            (true, true) => cmp_digits(p, q),
            (false, false) => p.cmp(q),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    x.local.len().cmp(&y.local.len())
}
