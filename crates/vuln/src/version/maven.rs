//! Maven `ComparableVersion` ordering. A version is split into tokens at `.`, `-` and
//! digit/letter transitions (a transition counts as `-`); each token remembers its separator.
//! Qualifier order: `alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release
//! < sp < other (lexical)`; `a`/`b`/`m` directly followed by digits mean alpha/beta/milestone.
//! Trailing null tokens (`0`, `""`) are trimmed before each `-`. Across separators:
//! `.qualifier < -qualifier < -number < .number`.

use std::cmp::Ordering;

use super::{cmp_digits, is_digits};

#[derive(Clone, PartialEq, Eq, Debug)]
struct Tok {
    sep: u8, // b'.', b'-' or 0 for the first token
    value: String,
    null: bool,
}

fn is_null(t: &Tok) -> bool {
    t.value == "0" || t.value.is_empty()
}

fn keyword(v: &str) -> usize {
    match v {
        "alpha" => 0,
        "beta" => 1,
        "milestone" => 2,
        "rc" => 3,
        "snapshot" => 4,
        "" => 5,
        "sp" => 6,
        _ => 7,
    }
}

fn sep_order(t: &Tok) -> u8 {
    let num = is_digits(&t.value);
    match (t.sep, num) {
        (b'-', true) => 2,
        (b'-', false) => 1,
        (_, true) => 3,
        (_, false) => 0,
    }
}

fn less(a: &Tok, b: &Tok) -> bool {
    if a.sep == b.sep {
        let (an, bn) = (is_digits(&a.value), is_digits(&b.value));
        if an && bn {
            return cmp_digits(&a.value, &b.value) == Ordering::Less;
        }
        if an && !a.null {
            return false;
        }
        if bn && !b.null {
            return true;
        }
        let (ka, kb) = (keyword(&a.value), keyword(&b.value));
        if ka == 7 && kb == 7 {
            return a.value < b.value;
        }
        return ka < kb;
    }
    sep_order(a) < sep_order(b)
}

fn null_like(t: &Tok) -> Tok {
    if t.sep == b'-' {
        Tok { sep: b'-', value: String::new(), null: true }
    } else {
        let value = if t.value == "sp" { String::new() } else { "0".to_string() };
        Tok { sep: t.sep, value, null: true }
    }
}

fn parse(v: &str) -> Vec<Tok> {
    let v = v.trim().to_ascii_lowercase();
    let mut toks: Vec<Tok> = vec![];
    let mut sep = 0u8;
    for raw in v.split_inclusive(['.', '-']) {
        let (body, next_sep) = match raw.as_bytes().last() {
            Some(&c) if c == b'.' || c == b'-' => (&raw[..raw.len() - 1], c),
            _ => (raw, 0),
        };
        // split body at digit/non-digit transitions
        let bytes = body.as_bytes();
        let mut start = 0;
        let mut first = true;
        let mut i = 1;
        loop {
            let at_end = i >= bytes.len();
            if at_end || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                let piece = &body[start.min(body.len())..i.min(body.len())];
                let mut value = if piece.is_empty() { "0".to_string() } else { piece.to_string() };
                match value.as_str() {
                    "cr" => value = "rc".into(),
                    "ga" | "final" | "release" => value.clear(),
                    "a" | "b" | "m" if !at_end => {
                        value = match value.as_str() {
                            "a" => "alpha",
                            "b" => "beta",
                            _ => "milestone",
                        }
                        .into()
                    }
                    _ => {}
                }
                if is_digits(&value) {
                    let t = value.trim_start_matches('0');
                    value = if t.is_empty() { "0".into() } else { t.into() };
                }
                toks.push(Tok { sep: if first { sep } else { b'-' }, value, null: false });
                first = false;
                start = i;
                if at_end {
                    break;
                }
            }
            i += 1;
        }
        sep = next_sep;
    }
    if sep != 0 {
        toks.push(Tok { sep, value: "0".into(), null: false });
    }
    // trim trailing nulls, repeated before each '-'
    let mut i = toks.len() as isize - 1;
    while i > 0 {
        let iu = i as usize;
        if is_null(&toks[iu]) {
            toks.remove(iu);
            i -= 1;
            continue;
        }
        while i >= 0 && toks[i as usize].sep != b'-' {
            i -= 1;
        }
        i -= 1;
    }
    toks
}

/// Compare two Maven versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (parse(a), parse(b));
    if x == y {
        return Ordering::Equal;
    }
    for i in 0..x.len().max(y.len()) {
        let l = match x.get(i) {
            Some(t) => t.clone(),
            None => null_like(&y[i]),
        };
        let r = match y.get(i) {
            Some(t) => t.clone(),
            None => null_like(&x[i]),
        };
        if l.sep == r.sep && l.value == r.value {
            continue;
        }
        return if less(&l, &r) { Ordering::Less } else { Ordering::Greater };
    }
    Ordering::Equal
}
