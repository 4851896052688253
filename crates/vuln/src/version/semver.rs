//! SemVer 2.0 ordering as used by npm, crates.io and Go: optional leading `v`, any number of
//! numeric components (missing ones are 0), pre-release identifiers after `-` (numeric
//! identifiers compare numerically and sort before alphanumeric ones), build metadata after
//! `+` ignored. Go pseudo-versions are ordinary pre-releases and sort correctly.

use std::cmp::Ordering;

use super::{cmp_digits, is_digits};

fn parse(v: &str) -> (Vec<&str>, Option<&str>) {
    let v = v.trim();
    let v = v.strip_prefix('v').or_else(|| v.strip_prefix('V')).unwrap_or(v);
    let v = v.split_once('+').map(|(a, _)| a).unwrap_or(v);
    let end = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let nums: Vec<&str> = v[..end].split('.').filter(|p| !p.is_empty()).collect();
    let rest = &v[end..];
    let pre = if rest.is_empty() { None } else { Some(rest.strip_prefix('-').unwrap_or(rest)) };
    (nums, pre)
}

fn cmp_ident(a: &str, b: &str) -> Ordering {
    match (is_digits(a), is_digits(b)) {
        (true, true) => cmp_digits(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// Compare two SemVer-like versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (na, pa) = parse(a);
    let (nb, pb) = parse(b);
    for i in 0..na.len().max(nb.len()) {
        let o = cmp_digits(na.get(i).copied().unwrap_or("0"), nb.get(i).copied().unwrap_or("0"));
        if o != Ordering::Equal {
            return o;
        }
    }
    match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let xs: Vec<&str> = x.split('.').collect();
            let ys: Vec<&str> = y.split('.').collect();
            for (p, q) in xs.iter().zip(ys.iter()) {
                let o = cmp_ident(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
    }
}
