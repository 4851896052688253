//! Workarounds that make regorus 0.14 behave like OPA for Gatekeeper templates.
//!
//! Gatekeeper runs templates on OPA. regorus is close but differs in a few places that real
//! templates hit (measured on the public gatekeeper-library). Every workaround lives here,
//! each with the reason it exists, so it can be dropped when regorus changes:
//!
//! Source rewrites (applied to every Rego module before parsing, see [`preprocess`]):
//! - **Newline before `(`** — regorus parses `x` + newline + `(expr)` as the call `x(expr)`;
//!   OPA treats the newline as the end of the expression. We insert `;` at such line ends
//!   inside rule bodies ([`split_newline_calls`]).
//! - **Multi-body rules** — OPA v0 accepts `head { body1 } { body2 }` (two alternative
//!   bodies for one head); regorus rejects it. We repeat the head for every extra body
//!   ([`split_multi_body_rules`]).
//! - **`not f(a.b)` with `a.b` undefined** — OPA evaluates the reference argument before the
//!   negation, so an undefined argument makes the whole expression undefined (the body
//!   fails); regorus evaluates `f(undefined)` as undefined and `not` turns it into true. We
//!   hoist such reference arguments into assignments in front of the `not`
//!   ([`hoist_negated_call_refs`]).
//!
//! Extensions (registered on every engine, see [`register`]). regorus looks extensions up
//! before builtins, so an extension can also replace a builtin:
//! - **`sprintf`** — regorus errors when the format has more verbs than arguments and formats
//!   composite values differently from OPA. Ours follows Go's `fmt` as OPA uses it
//!   (`%!v(MISSING)`, `%!(EXTRA …)`, composite values in Rego syntax `{"a": 1}`).
//! - **`object.get`** — regorus errors on a non-object first argument; OPA (non-strict)
//!   makes the expression undefined. Ours returns undefined instead of failing the review.
//! - **Deprecated builtins** that OPA still accepts and templates still use, absent from
//!   regorus: `re_match`, `any`, `all`, `set_diff`, `cast_array`, `cast_set`, `cast_string`,
//!   `cast_boolean`, `cast_null`, `cast_object`.
//!
//! Engine settings (see [`new_engine`]): Rego v0 syntax (all library templates are v0 unless
//! they declare `version: v1`), non-strict builtin errors (OPA's default: a failing builtin
//! makes its expression undefined), and a 10 s wall-clock limit per evaluation ([`EVALUATION_LIMIT`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use regorus::{Engine, Value};

/// Wall-clock limit for one template evaluation: a pathological template (or input) fails its
/// review with an error instead of hanging the caller.
pub const EVALUATION_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A fresh engine configured like Gatekeeper's OPA, with every compatibility extension.
pub fn new_engine(rego_v1: bool) -> Engine {
    let mut engine = Engine::new();
    engine.set_rego_v0(!rego_v1);
    engine.set_strict_builtin_errors(false);
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: EVALUATION_LIMIT,
        check_interval: std::num::NonZeroU32::new(1024).expect("non-zero"),
    });
    register(&mut engine);
    engine
}

/// Registers the compatibility extensions on `engine`. Registering twice is harmless.
pub fn register(engine: &mut Engine) {
    // add_extension only fails when the name is already registered: ignore that.
    let _ = engine.add_extension("sprintf".into(), 2, Box::new(ext_sprintf));
    let _ = engine.add_extension("object.get".into(), 3, Box::new(ext_object_get));
    let _ = engine.add_extension("re_match".into(), 2, Box::new(ext_re_match));
    let _ = engine.add_extension("any".into(), 1, Box::new(ext_any));
    let _ = engine.add_extension("all".into(), 1, Box::new(ext_all));
    let _ = engine.add_extension("set_diff".into(), 2, Box::new(ext_set_diff));
    let _ = engine.add_extension("cast_array".into(), 1, Box::new(ext_cast_array));
    let _ = engine.add_extension("cast_set".into(), 1, Box::new(ext_cast_set));
    let _ = engine.add_extension("cast_string".into(), 1, Box::new(ext_cast_string));
    let _ = engine.add_extension("cast_boolean".into(), 1, Box::new(ext_cast_boolean));
    let _ = engine.add_extension("cast_null".into(), 1, Box::new(ext_cast_null));
    let _ = engine.add_extension("cast_object".into(), 1, Box::new(ext_cast_object));
}

/// Applies every source rewrite to one Rego module.
pub fn preprocess(source: &str) -> String {
    hoist_negated_call_refs(&split_multi_body_rules(&split_newline_calls(source)))
}

/// Rewrites a body line `not f(x, a.b)` into `__kw_ref0 := a.b; not f(x, __kw_ref0)` (on the
/// same line, so line numbers stay). Only arguments that are plain references (identifier
/// followed by `.field` / `["key"]` selections, no iteration) are hoisted.
///
/// Why: see the module doc — OPA fails the body when a reference argument of a negated call
/// is undefined; regorus would make the negation true.
pub fn hoist_negated_call_refs(src: &str) -> String {
    use std::sync::OnceLock;
    static LINE: OnceLock<regex::Regex> = OnceLock::new();
    static REF: OnceLock<regex::Regex> = OnceLock::new();
    let line_re = LINE.get_or_init(|| {
        regex::Regex::new(r#"^(\s*)not\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\((.*)\)\s*(#.*)?$"#)
            .expect("valid regex")
    });
    let ref_re = REF.get_or_init(|| {
        regex::Regex::new(r#"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\["[^"\\]*"\])+$"#)
            .expect("valid regex")
    });
    let mut counter = 0usize;
    let mut changed = false;
    let mut out = String::with_capacity(src.len() + 64);
    for (i, line) in src.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let rewritten = line_re.captures(line).and_then(|c| {
            let indent = c.get(1).map_or("", |m| m.as_str());
            let func = c.get(2)?.as_str();
            let args = split_top_level_args(c.get(3)?.as_str())?;
            let mut prefix = String::new();
            let mut new_args = Vec::new();
            for a in &args {
                let t = a.trim();
                let root = t.split(['.', '[']).next().unwrap_or("");
                if ref_re.is_match(t) && root != "data" {
                    let var = format!("__kw_ref{counter}");
                    counter += 1;
                    prefix.push_str(&format!("{var} := {t}; "));
                    new_args.push(var);
                } else {
                    new_args.push(t.to_string());
                }
            }
            if prefix.is_empty() {
                return None;
            }
            Some(format!("{indent}{prefix}not {func}({})", new_args.join(", ")))
        });
        match rewritten {
            Some(r) => {
                changed = true;
                out.push_str(&r);
            }
            None => out.push_str(line),
        }
    }
    if changed { out } else { src.to_string() }
}

/// Splits call arguments at top-level commas; `None` when brackets or strings do not balance.
fn split_top_level_args(s: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for ch in s.chars() {
        if in_str {
            cur.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_str = false;
            }
            continue;
        }
        match ch {
            '"' => {
                in_str = true;
                cur.push(ch);
            }
            '(' | '[' | '{' => {
                depth += 1;
                cur.push(ch);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
                cur.push(ch);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    if depth != 0 || in_str {
        return None;
    }
    if !cur.trim().is_empty() || !args.is_empty() {
        args.push(cur);
    }
    Some(args)
}

// ---------------------------------------------------------------------------------------------
// Lexical scanning shared by the rewrites.

/// What a byte of the source is, lexically.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Code,
    /// Inside a string literal, raw string or comment: never rewritten.
    Inert,
}

/// Classifies every byte of `src` (strings, raw strings and comments are inert).
fn classify(src: &str) -> Vec<Class> {
    let b = src.as_bytes();
    let mut out = vec![Class::Code; b.len()];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let end = (i + 1).min(b.len());
                out[start..end].fill(Class::Inert);
                i = end;
            }
            b'`' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                let end = (i + 1).min(b.len());
                out[start..end].fill(Class::Inert);
                i = end;
            }
            b'#' => {
                let start = i;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                out[start..i].fill(Class::Inert);
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Rego keywords after which a newline + `(` is a continuation, not a new expression.
const CONTINUING_KEYWORDS: &[&str] = &["not", "some", "with", "as", "in", "every", "else", "if"];

/// Inserts `;` at the end of a line inside a rule body when the line ends an expression
/// (identifier, literal, `)` or `]`) and the next code line starts with `(`.
///
/// Why: regorus joins `x` newline `(y)` into the call `x(y)`; OPA ends the expression at the
/// newline (e.g. a body line `count(x) > 0` followed by a line `(a + b) < c`).
pub fn split_newline_calls(src: &str) -> String {
    let b = src.as_bytes();
    let class = classify(src);
    // Stack of open brackets; a newline is significant only when the innermost is `{`.
    let mut stack: Vec<u8> = Vec::new();
    let mut inserts: Vec<usize> = Vec::new();
    let mut last_code: Option<usize> = None; // index of the last code, non-space byte
    for i in 0..b.len() {
        if class[i] == Class::Inert {
            continue;
        }
        let c = b[i];
        match c {
            b'(' | b'[' | b'{' => {
                if c == b'(' && stack.last() == Some(&b'{') {
                    // Is there a newline between the previous code byte and this `(`?
                    if let Some(prev) = last_code {
                        let between = &b[prev + 1..i];
                        let has_newline =
                            between.iter().zip(&class[prev + 1..i]).any(|(&x, &k)| x == b'\n' && k == Class::Code);
                        let gap_is_blank = between
                            .iter()
                            .zip(&class[prev + 1..i])
                            .all(|(&x, &k)| k == Class::Inert || x.is_ascii_whitespace());
                        if has_newline && gap_is_blank && ends_expression(b, prev) {
                            inserts.push(prev + 1);
                        }
                    }
                }
                stack.push(c);
            }
            b')' | b']' | b'}' => {
                stack.pop();
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            last_code = Some(i);
        }
    }
    if inserts.is_empty() {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len() + inserts.len());
    let mut from = 0;
    for at in inserts {
        out.push_str(&src[from..at]);
        out.push(';');
        from = at;
    }
    out.push_str(&src[from..]);
    out
}

/// Whether the code byte at `at` can end an expression (so a following `(` on the next line
/// starts a new one).
fn ends_expression(b: &[u8], at: usize) -> bool {
    let c = b[at];
    if c == b')' || c == b']' || c == b'"' || c == b'`' || c == b'}' {
        return true;
    }
    if !is_ident_byte(c) {
        return false;
    }
    let mut start = at;
    while start > 0 && is_ident_byte(b[start - 1]) {
        start -= 1;
    }
    let word = std::str::from_utf8(&b[start..=at]).unwrap_or("");
    !CONTINUING_KEYWORDS.contains(&word)
}

/// A rule to rewrite: head start, head end, and the extra body blocks (start, end).
type Rewrite = (usize, usize, Vec<(usize, usize)>);

/// Rewrites `head { body1 } { body2 }` into `head { body1 }` + newline + `head { body2 }`.
///
/// Why: OPA v0 accepts several bodies after one rule head (logical OR); regorus rejects the
/// second body as a syntax error.
pub fn split_multi_body_rules(src: &str) -> String {
    let b = src.as_bytes();
    let class = classify(src);
    let mut depth: usize = 0;
    // Per top-level statement: start offset and its depth-0 `{…}` blocks.
    let mut stmt_start: Option<usize> = None;
    let mut pending_stmt = true;
    let mut block_start = 0;
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    // (head_start, head_end, extra blocks) rewrites to apply.
    let mut rewrites: Vec<Rewrite> = Vec::new();

    let flush = |stmt_start: Option<usize>, blocks: &Vec<(usize, usize)>, rewrites: &mut Vec<Rewrite>| {
        let Some(start) = stmt_start else { return };
        if blocks.len() < 2 {
            return;
        }
        let head_end = blocks[0].0;
        let Some(head) = src.get(start..head_end).map(str::trim_end) else { return };
        if head.is_empty() || head.ends_with('=') {
            return;
        }
        // Only consecutive blocks separated by blanks/comments are extra bodies.
        let mut extra = Vec::new();
        for w in blocks.windows(2) {
            let gap = w[0].1 + 1..w[1].0;
            let blank = gap.clone().all(|k| class[k] == Class::Inert || b[k].is_ascii_whitespace());
            if !blank {
                break;
            }
            extra.push(w[1]);
        }
        if !extra.is_empty() {
            rewrites.push((start, head_end, extra));
        }
    };

    for i in 0..b.len() {
        if class[i] == Class::Inert {
            continue;
        }
        let c = b[i];
        if depth == 0 {
            if c == b'\n' {
                pending_stmt = true;
                continue;
            }
            if !c.is_ascii_whitespace() && pending_stmt {
                // A `{` right after a block on the previous line continues the statement.
                let continues = c == b'{'
                    && blocks.last().is_some_and(|&(_, end)| {
                        (end + 1..i).all(|k| class[k] == Class::Inert || b[k].is_ascii_whitespace())
                    });
                if !continues {
                    flush(stmt_start, &blocks, &mut rewrites);
                    stmt_start = Some(i);
                    blocks.clear();
                }
                pending_stmt = false;
            }
        }
        match c {
            b'(' | b'[' => depth += 1,
            b'{' => {
                if depth == 0 {
                    block_start = i;
                }
                depth += 1;
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            // An unbalanced `}` at depth 0 closes nothing: regorus reports it, we must not
            // record a block for it.
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    blocks.push((block_start, i));
                }
            }
            _ => {}
        }
    }
    flush(stmt_start, &blocks, &mut rewrites);
    if rewrites.is_empty() {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len() * 2);
    let mut from = 0;
    for (head_start, head_end, extra) in rewrites {
        let head = src[head_start..head_end].trim_end();
        for (bs, _) in extra {
            // Replace the blank gap before this block by a newline and the repeated head.
            let mut gap_start = bs;
            while gap_start > from && b[gap_start - 1].is_ascii_whitespace() {
                gap_start -= 1;
            }
            out.push_str(&src[from..gap_start]);
            out.push('\n');
            out.push_str(head);
            out.push(' ');
            from = bs;
        }
    }
    out.push_str(&src[from..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Extensions.

fn ext_object_get(args: Vec<Value>) -> anyhow::Result<Value> {
    let [obj, key, default] = take3(args)?;
    if !matches!(obj, Value::Object(_)) {
        return Ok(Value::Undefined);
    }
    // A key path (array) walks nested objects/arrays; an empty path returns the object.
    if let Value::Array(path) = &key {
        let mut cur = obj.clone();
        for k in path.iter() {
            let next = match &cur {
                Value::Object(o) => o.get(k).cloned(),
                Value::Array(a) => k.as_u64().ok().and_then(|n| a.get(n as usize).cloned()),
                Value::Set(s) => s.get(k).cloned(),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => return Ok(default),
            }
        }
        return Ok(cur);
    }
    match &obj {
        Value::Object(o) => Ok(o.get(&key).cloned().unwrap_or(default)),
        _ => Ok(Value::Undefined),
    }
}

fn ext_re_match(args: Vec<Value>) -> anyhow::Result<Value> {
    let [pattern, value] = take2(args)?;
    let (Ok(p), Ok(v)) = (pattern.as_string(), value.as_string()) else {
        return Ok(Value::Undefined);
    };
    match cached_regex(p) {
        Some(re) => Ok(Value::from(re.is_match(v))),
        None => Ok(Value::Undefined),
    }
}

fn ext_any(args: Vec<Value>) -> anyhow::Result<Value> {
    let [c] = take1(args)?;
    Ok(match collection_items(&c) {
        Some(items) => Value::from(items.iter().any(|v| v == &Value::Bool(true))),
        None => Value::Undefined,
    })
}

fn ext_all(args: Vec<Value>) -> anyhow::Result<Value> {
    let [c] = take1(args)?;
    Ok(match collection_items(&c) {
        Some(items) => Value::from(items.iter().all(|v| v == &Value::Bool(true))),
        None => Value::Undefined,
    })
}

fn ext_set_diff(args: Vec<Value>) -> anyhow::Result<Value> {
    let [a, b] = take2(args)?;
    match (&a, &b) {
        (Value::Set(x), Value::Set(y)) => Ok(Value::from(x.difference(y))),
        _ => Ok(Value::Undefined),
    }
}

fn ext_cast_array(args: Vec<Value>) -> anyhow::Result<Value> {
    let [v] = take1(args)?;
    Ok(match &v {
        Value::Array(_) => v.clone(),
        Value::Set(s) => Value::from(s.iter().cloned().collect::<Vec<_>>()),
        _ => Value::Undefined,
    })
}

fn ext_cast_set(args: Vec<Value>) -> anyhow::Result<Value> {
    let [v] = take1(args)?;
    Ok(match &v {
        Value::Set(_) => v.clone(),
        Value::Array(a) => Value::from(a.iter().cloned().collect::<std::collections::BTreeSet<_>>()),
        _ => Value::Undefined,
    })
}

fn ext_cast_string(args: Vec<Value>) -> anyhow::Result<Value> {
    let [v] = take1(args)?;
    Ok(if matches!(v, Value::String(_)) { v } else { Value::Undefined })
}

fn ext_cast_boolean(args: Vec<Value>) -> anyhow::Result<Value> {
    let [v] = take1(args)?;
    Ok(if matches!(v, Value::Bool(_)) { v } else { Value::Undefined })
}

fn ext_cast_null(args: Vec<Value>) -> anyhow::Result<Value> {
    let [v] = take1(args)?;
    Ok(if matches!(v, Value::Null) { v } else { Value::Undefined })
}

fn ext_cast_object(args: Vec<Value>) -> anyhow::Result<Value> {
    let [v] = take1(args)?;
    Ok(if matches!(v, Value::Object(_)) { v } else { Value::Undefined })
}

fn ext_sprintf(args: Vec<Value>) -> anyhow::Result<Value> {
    let [format, list] = take2(args)?;
    let Ok(format) = format.as_string() else {
        return Ok(Value::Undefined);
    };
    let items: Vec<Value> = match &list {
        Value::Array(a) => a.iter().cloned().collect(),
        _ => return Ok(Value::Undefined),
    };
    Ok(Value::from(go_sprintf(format, &items)))
}

fn collection_items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) => Some(a.iter().cloned().collect()),
        Value::Set(s) => Some(s.iter().cloned().collect()),
        _ => None,
    }
}

fn take1(args: Vec<Value>) -> anyhow::Result<[Value; 1]> {
    args.try_into().map_err(|_| anyhow::anyhow!("expected 1 argument"))
}

fn take2(args: Vec<Value>) -> anyhow::Result<[Value; 2]> {
    args.try_into().map_err(|_| anyhow::anyhow!("expected 2 arguments"))
}

fn take3(args: Vec<Value>) -> anyhow::Result<[Value; 3]> {
    args.try_into().map_err(|_| anyhow::anyhow!("expected 3 arguments"))
}

/// Compiled regexes for `re_match`, bounded so hostile inputs cannot grow it without limit.
fn cached_regex(pattern: &str) -> Option<regex::Regex> {
    use std::sync::Mutex;
    static CACHE: Mutex<BTreeMap<String, Option<regex::Regex>>> = Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(re) = cache.get(pattern) {
        return re.clone();
    }
    let re = regex::Regex::new(pattern).ok();
    if cache.len() >= 4096 {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    re
}

// ---------------------------------------------------------------------------------------------
// Go `fmt` as OPA's sprintf uses it.

/// An argument as OPA hands it to Go's `fmt.Sprintf`.
enum GoArg {
    Str(String),
    Int(i128),
    Float(f64),
}

impl GoArg {
    fn from_value(v: &Value) -> GoArg {
        match v {
            Value::String(s) => GoArg::Str(s.to_string()),
            Value::Number(n) => {
                if n.is_integer()
                    && let Some(i) = n.as_i128()
                {
                    return GoArg::Int(i);
                }
                match n.as_f64() {
                    Some(f) => GoArg::Float(f),
                    None => GoArg::Str(n.format_decimal()),
                }
            }
            // OPA passes every other term as its Rego text (a Go string).
            other => GoArg::Str(rego_text(other)),
        }
    }

    fn go_type(&self) -> &'static str {
        match self {
            GoArg::Str(_) => "string",
            GoArg::Int(_) => "int",
            GoArg::Float(_) => "float64",
        }
    }

    fn plain(&self) -> String {
        match self {
            GoArg::Str(s) => s.clone(),
            GoArg::Int(i) => i.to_string(),
            GoArg::Float(f) => go_float_g(*f),
        }
    }
}

/// Go's `%v` for float64 (shortest representation, exponent for large/small magnitudes).
fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust: 1e21 / 1.5e-5; Go: 1e+21 / 1.5e-05.
        if let Some((mant, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let digits = if digits.len() < 2 { format!("0{digits}") } else { digits.to_string() };
            return format!("{mant}e{sign}{digits}");
        }
        return s;
    }
    format!("{f}")
}

/// A value written as Rego (and OPA's `%v`) writes it: `{"a": 1}`, `["x", "y"]`, `{1, 2}`.
pub fn rego_text(v: &Value) -> String {
    let mut s = String::new();
    write_rego(v, &mut s);
    s
}

fn write_rego(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_integer() {
                out.push_str(&n.format_decimal());
            } else {
                match n.as_f64() {
                    Some(f) => out.push_str(&go_float_g(f)),
                    None => out.push_str(&n.format_decimal()),
                }
            }
        }
        Value::String(s) => out.push_str(&serde_json::to_string(s.as_ref()).unwrap_or_default()),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_rego(x, out);
            }
            out.push(']');
        }
        Value::Set(s) => {
            if s.is_empty() {
                out.push_str("set()");
                return;
            }
            out.push('{');
            for (i, x) in s.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_rego(x, out);
            }
            out.push('}');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter_sorted().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_rego(k, out);
                out.push_str(": ");
                write_rego(x, out);
            }
            out.push('}');
        }
        Value::Undefined => out.push_str("undefined"),
    }
}

/// Formats like Go's `fmt.Sprintf(format, args...)` with OPA's argument conversion.
pub fn go_sprintf(format: &str, values: &[Value]) -> String {
    let args: Vec<GoArg> = values.iter().map(GoArg::from_value).collect();
    let mut out = String::with_capacity(format.len() + 16);
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    let mut next_arg = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        // Flags.
        let mut minus = false;
        let mut plus = false;
        let mut zero = false;
        let mut space = false;
        let mut sharp = false;
        while i < chars.len() {
            match chars[i] {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            i += 1;
        }
        let mut width: Option<usize> = None;
        while i < chars.len() && chars[i].is_ascii_digit() {
            width = Some(
                width.unwrap_or(0).saturating_mul(10).saturating_add(chars[i] as usize - '0' as usize).min(1 << 16),
            );
            i += 1;
        }
        let mut precision: Option<usize> = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let mut p = 0usize;
            while i < chars.len() && chars[i].is_ascii_digit() {
                p = p.saturating_mul(10).saturating_add(chars[i] as usize - '0' as usize).min(1 << 16);
                i += 1;
            }
            precision = Some(p);
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        let body = match (verb, arg) {
            ('v', a) => a.plain(),
            ('s', GoArg::Str(s)) => match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', GoArg::Str(s)) => serde_json::to_string(s).unwrap_or_default(),
            ('d', GoArg::Int(n)) => {
                let mut s = n.to_string();
                if plus && *n >= 0 {
                    s.insert(0, '+');
                } else if space && *n >= 0 {
                    s.insert(0, ' ');
                }
                s
            }
            ('x', GoArg::Int(n)) => {
                if sharp {
                    format!("0x{n:x}")
                } else {
                    format!("{n:x}")
                }
            }
            ('X', GoArg::Int(n)) => format!("{n:X}"),
            ('o', GoArg::Int(n)) => format!("{n:o}"),
            ('b', GoArg::Int(n)) => format!("{n:b}"),
            ('x', GoArg::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('c', GoArg::Int(n)) => {
                u32::try_from(*n).ok().and_then(char::from_u32).map(String::from).unwrap_or_else(|| "\u{FFFD}".into())
            }
            ('f' | 'F', GoArg::Float(f)) => format!("{:.*}", precision.unwrap_or(6), f),
            ('f' | 'F', GoArg::Int(n)) => {
                // Go: %f of an int is a bad verb.
                format!("%!f(int={n})")
            }
            ('e', GoArg::Float(f)) => go_float_e(*f, precision.unwrap_or(6)),
            ('g', GoArg::Float(f)) => go_float_g(*f),
            ('t', GoArg::Str(s)) if s == "true" || s == "false" => s.clone(),
            (v, a) => format!("%!{v}({}={})", a.go_type(), a.plain()),
        };
        let body = if precision.is_some() && verb == 'v' {
            if let GoArg::Str(s) = arg { s.chars().take(precision.unwrap_or(0)).collect() } else { body }
        } else {
            body
        };
        match width {
            Some(w) if body.chars().count() < w => {
                let pad = w - body.chars().count();
                if minus {
                    out.push_str(&body);
                    out.extend(std::iter::repeat_n(' ', pad));
                } else if zero && matches!(arg, GoArg::Int(_) | GoArg::Float(_)) {
                    let (sign, digits) = match body.strip_prefix('-') {
                        Some(d) => ("-", d.to_string()),
                        None => ("", body.clone()),
                    };
                    out.push_str(sign);
                    out.extend(std::iter::repeat_n('0', pad));
                    out.push_str(&digits);
                } else {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[next_arg..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.go_type(), a.plain());
        }
        out.push(')');
    }
    out
}

fn go_float_e(f: f64, precision: usize) -> String {
    let s = format!("{:.*e}", precision, f);
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, d) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let d = if d.len() < 2 { format!("0{d}") } else { d.to_string() };
            format!("{m}e{sign}{d}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        Value::from_json_str(json).unwrap()
    }

    #[test]
    fn sprintf_like_go() {
        assert_eq!(go_sprintf("%v and %v", &[v("\"a\"")]), "a and %!v(MISSING)");
        assert_eq!(go_sprintf("%v", &[v("{\"privileged\":true}")]), "{\"privileged\": true}");
        assert_eq!(go_sprintf("%v", &[v("[\"a\",\"b\"]")]), "[\"a\", \"b\"]");
        assert_eq!(go_sprintf("%d/%s", &[v("5"), v("\"x\"")]), "5/x");
        assert_eq!(go_sprintf("%s", &[v("5")]), "%!s(int=5)");
        assert_eq!(go_sprintf("%.2f", &[v("1.5")]), "1.50");
        assert_eq!(go_sprintf("100%%", &[]), "100%");
        assert_eq!(go_sprintf("x", &[v("1")]), "x%!(EXTRA int=1)");
        assert_eq!(go_sprintf("%v", &[v("1.5")]), "1.5");
        assert_eq!(go_sprintf("%q", &[v("\"a\"")]), "\"a\"");
    }

    #[test]
    fn newline_before_paren_ends_expression() {
        let src = "package x\nv {\n  y := 1\n  (y + 1) > 0\n}\n";
        let out = split_newline_calls(src);
        assert!(out.contains("y := 1;\n"), "{out}");
        // Calls across lines inside parentheses stay untouched.
        let src2 = "package x\nv {\n  f(\n    (1)\n  )\n}\n";
        assert_eq!(split_newline_calls(src2), src2);
    }

    #[test]
    fn negated_call_ref_args_are_hoisted() {
        let out = hoist_negated_call_refs("  not f(rule, x, params.ranges)  # c\n  not g(input.a[_])\n");
        assert_eq!(out, "  __kw_ref0 := params.ranges; not f(rule, x, __kw_ref0)\n  not g(input.a[_])\n");
        // Semantics: an undefined reference argument fails the body instead of passing it.
        let mut e = new_engine(false);
        let src = "package t\nf(x) { x == 1 }\nv { p := {}\n  not f(p.missing)\n}\n";
        e.add_policy("t.rego".into(), preprocess(src)).unwrap();
        assert_eq!(e.eval_rule("data.t.v".into()).unwrap(), Value::Undefined);
    }

    #[test]
    fn multi_body_rules_are_split() {
        let src = "package x\nv[m] {\n  m := 1\n} {\n  m := 2\n}\n";
        let out = split_multi_body_rules(src);
        assert_eq!(out.matches("v[m] {").count(), 2, "{out}");
        // Rules with an object value are left alone.
        let src2 = "package x\nv = {\"a\": 1} { true }\n";
        assert_eq!(split_multi_body_rules(src2), src2);
    }

    /// Found by the `template_load` fuzz target: an unbalanced `}` before any `{` made the
    /// splitter slice backwards and panic. Unbalanced input is passed through for regorus to
    /// report.
    #[test]
    fn unbalanced_braces_pass_through() {
        for src in ["\t}}!\t", "}", "} {", "a } { b } { c }", "}}{}{}"] {
            let out = preprocess(src);
            assert!(out.contains('}'), "{src:?} -> {out:?}");
        }
        assert_eq!(split_multi_body_rules("\t}}!\t"), "\t}}!\t");
    }

    #[test]
    fn extensions_behave_like_opa() {
        let mut e = new_engine(false);
        e.add_policy(
            "t.rego".into(),
            "package t\na := re_match(\"^a\", \"abc\")\nb := object.get(null, \"k\", 1)\nc := sprintf(\"%v %v\", [1])\nd { not object.get(null, \"k\", 1) }\n".into(),
        )
        .unwrap();
        assert_eq!(e.eval_rule("data.t.a".into()).unwrap(), Value::from(true));
        assert_eq!(e.eval_rule("data.t.b".into()).unwrap(), Value::Undefined);
        assert_eq!(e.eval_rule("data.t.c".into()).unwrap(), Value::from("1 %!v(MISSING)"));
    }
}
