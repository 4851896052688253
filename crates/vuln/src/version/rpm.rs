//! rpm version ordering: epoch, then `rpmvercmp` on version and on release. Segments are runs of
//! letters or digits; separators are skipped; `~` sorts before anything (even the end), `^`
//! after the end but before anything else; numeric segments beat alphabetic ones.

use std::cmp::Ordering;

use super::cmp_digits;

/// Split `[epoch:]version[-release]`. The release keeps its leading `-` so that a present but
/// empty release (`1-`) sorts after a missing one (`1`), as rpm does.
pub fn split_evr(v: &str) -> (&str, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e, r),
        _ => ("0", v),
    };
    match rest.find('-') {
        Some(i) => (epoch, &rest[..i], &rest[i..]),
        None => (epoch, rest, ""),
    }
}

fn is_sep(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

/// `rpmvercmp` of two version (or release) strings.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (a.is_empty(), b.is_empty()) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let at = a.get(i) == Some(&b'~');
        let bt = b.get(j) == Some(&b'~');
        if at || bt {
            if at && bt {
                i += 1;
                j += 1;
                continue;
            }
            return if at { Ordering::Less } else { Ordering::Greater };
        }
        let ac = a.get(i) == Some(&b'^');
        let bc = b.get(j) == Some(&b'^');
        if ac || bc {
            if ac && bc {
                i += 1;
                j += 1;
                continue;
            }
            if ac {
                return if j >= b.len() { Ordering::Greater } else { Ordering::Less };
            }
            return if i >= a.len() { Ordering::Less } else { Ordering::Greater };
        }
        if i >= a.len() || j >= b.len() {
            break;
        }
        let digit = a[i].is_ascii_digit();
        let run = |s: &[u8], mut k: usize| {
            let st = k;
            while k < s.len() && (if digit { s[k].is_ascii_digit() } else { s[k].is_ascii_alphabetic() }) {
                k += 1;
            }
            (st, k)
        };
        let (sa, ea) = run(a, i);
        let (sb, eb) = run(b, j);
        i = ea;
        j = eb;
        if sb == eb {
            return if digit { Ordering::Greater } else { Ordering::Less };
        }
        let xa = std::str::from_utf8(&a[sa..ea]).unwrap_or("");
        let xb = std::str::from_utf8(&b[sb..eb]).unwrap_or("");
        let o = if digit { cmp_digits(xa, xb) } else { xa.cmp(xb) };
        if o != Ordering::Equal {
            return o;
        }
    }
    let ra = a.len() - i.min(a.len());
    let rb = b.len() - j.min(b.len());
    ra.cmp(&rb)
}

/// Compare two rpm EVR strings.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a);
    let (eb, vb, rb) = split_evr(b);
    cmp_digits(ea, eb).then_with(|| rpmvercmp(va, vb)).then_with(|| match (ra.is_empty(), rb.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => rpmvercmp(ra, rb),
    })
}
