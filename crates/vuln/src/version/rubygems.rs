//! RubyGems `Gem::Version` ordering: segments split at dots and at digit/letter boundaries;
//! trailing zero segments are dropped (separately for the release part and for the part after
//! the first letter segment); numbers compare numerically and sort after strings, so any letter
//! segment makes a prerelease.

use std::cmp::Ordering;

use super::{cmp_digits, is_digits};

fn segments(v: &str) -> Vec<String> {
    let mut canon = String::with_capacity(v.len() + 4);
    let mut check_prev = false;
    let mut prev_digit = true;
    for c in v.trim().chars() {
        if c == '.' {
            check_prev = false;
            canon.push('.');
            continue;
        }
        let d = c.is_ascii_digit();
        if check_prev && prev_digit != d {
            canon.push('.');
        }
        canon.push(c);
        prev_digit = d;
        check_prev = true;
    }
    let mut numbers: Vec<String> = vec![];
    let mut build: Vec<String> = vec![];
    for seg in canon.split('.') {
        if !build.is_empty() || !is_digits(seg) {
            build.push(seg.to_string());
        } else {
            numbers.push(seg.to_string());
        }
    }
    fn trim_zeros(v: &mut Vec<String>) {
        while v.last().is_some_and(|s| s == "0") {
            v.pop();
        }
    }
    trim_zeros(&mut numbers);
    trim_zeros(&mut build);
    numbers.extend(build);
    numbers
}

/// Compare two RubyGems versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (segments(a), segments(b));
    for i in 0..x.len().max(y.len()) {
        let p = x.get(i).map(String::as_str).unwrap_or("0");
        let q = y.get(i).map(String::as_str).unwrap_or("0");
        let o = match (is_digits(p), is_digits(q)) {
            (true, true) => cmp_digits(p, q),
            (false, false) => p.cmp(q),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
