//! Mangled queries (truncated, with tokens inserted or ranges deleted, deterministic
//! pseudo-random) never panic: each parses and binds, or fails with a located error.
use keelwatch_kql::{SchemaCatalog, bind, parse};

fn queries() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in include_str!("corpus/queries.kql").lines() {
        if line.starts_with("// name: ") {
            out.push(String::new());
        } else if let Some(q) = out.last_mut() {
            q.push_str(line);
            q.push('\n');
        }
    }
    out
}

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[test]
fn mangled_queries_never_panic() {
    const INSERTS: &[&str] = &[
        "|",
        "(",
        ")",
        "'",
        "\"",
        "[",
        "]",
        ".",
        "..",
        "==",
        "=~",
        "!",
        "$left",
        "dynamic(",
        "datetime(",
        " by ",
        " on ",
        "1h",
        "*",
        ",",
        ";",
        "let x =",
        "\\",
        "@\"",
        "```",
        "-",
        "summarize",
        "join",
        "mv-expand",
        "between (",
        "{",
        "}",
        "0x",
        "1e",
        "ago(",
        "\u{e9}",
        "h'",
        "in~",
        " has ",
        "//",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let mut checked = 0;
    for q in queries() {
        for _ in 0..25 {
            let mut s = q.clone();
            match next(3) {
                0 => {
                    let cut = boundary(&s, next(s.len() + 1));
                    s.truncate(cut);
                }
                1 => {
                    let at = boundary(&s, next(s.len() + 1));
                    s.insert_str(at, INSERTS[next(INSERTS.len())]);
                }
                _ => {
                    let a = boundary(&s, next(s.len() + 1));
                    let b = boundary(&s, a + next(12));
                    s.replace_range(a..b, "");
                }
            }
            match parse(&s) {
                Ok(parsed) => {
                    let _ = bind(&parsed, &SchemaCatalog);
                }
                Err(e) => assert!(e.line_col.is_some(), "unlocated parse error for {s:?}: {e}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 1500);
}
