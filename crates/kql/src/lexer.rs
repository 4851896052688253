//! Lexer: query text → tokens with byte spans.
//!
//! KQL quirks handled here: dashed operator names (`project-away`, `mv-expand`) are one
//! identifier; `$left`/`$right` are identifiers; numbers with a unit suffix are timespans
//! (`5m`, `1.5h`, `100ms`); `datetime(...)`, `timespan(...)`/`time(...)` and `guid(...)` keep their
//! raw inner text (it is not tokenizable, e.g. `datetime(2024-01-01 10:00)`); strings come in
//! `"…"`/`'…'` (with `\` escapes), verbatim `@"…"` (`""` is a quote), obfuscated `h"…"`, and
//! multi-line ```` ```…``` ````. `//` comments run to the end of the line.

use crate::error::{KqlError, Result, Span};

/// One token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Identifier or keyword (keywords are recognised by the parser, case-sensitively).
    Ident(String),
    Long(i64),
    Real(f64),
    Str(String),
    /// Timespan in nanoseconds.
    TimeSpan(i64),
    /// Raw text inside `datetime(...)`.
    DateTime(String),
    /// Raw text inside `timespan(...)` / `time(...)`.
    TimeSpanRaw(String),
    /// Raw text inside `guid(...)`.
    Guid(String),
    /// Punctuation / operator symbol.
    Sym(&'static str),
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Dashed words that are a single keyword.
const DASHED: &[&str] = &[
    "project-away",
    "project-rename",
    "project-reorder",
    "project-keep",
    "mv-expand",
    "mv-apply",
    "make-series",
    "top-nested",
    "top-hitters",
    "parse-where",
    "parse-kv",
];

/// Symbols, longest first.
const SYMS: &[&str] = &[
    "==", "!=", "<>", "<=", ">=", "=~", "!~", "..", "=>", "|", "(", ")", "[", "]", "{", "}", ",", ";", ".", "=", "<",
    ">", "+", "-", "*", "/", "%", ":", "!", "~", "?",
];

pub const NS_PER_TICK: i64 = 100;
pub const NS_PER_MS: i64 = 1_000_000;
pub const NS_PER_SEC: i64 = 1_000_000_000;
pub const NS_PER_MIN: i64 = 60 * NS_PER_SEC;
pub const NS_PER_HOUR: i64 = 60 * NS_PER_MIN;
pub const NS_PER_DAY: i64 = 24 * NS_PER_HOUR;

/// Nanoseconds per timespan unit suffix, if `unit` is one.
pub fn timespan_unit(unit: &str) -> Option<i64> {
    Some(match unit {
        "d" | "day" | "days" => NS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => NS_PER_HOUR,
        "m" | "min" | "minute" | "minutes" => NS_PER_MIN,
        "s" | "sec" | "second" | "seconds" => NS_PER_SEC,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => NS_PER_MS,
        "microsecond" | "microseconds" => 1_000,
        "tick" | "ticks" => NS_PER_TICK,
        _ => return None,
    })
}

/// Splits `text` into tokens, ending with `Tok::Eof`.
pub fn lex(text: &str) -> Result<Vec<Token>> {
    let mut lx = Lexer { s: text, b: text.as_bytes(), i: 0, out: Vec::new() };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    out: Vec<Token>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}
fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

impl<'a> Lexer<'a> {
    fn peek(&self, k: usize) -> u8 {
        *self.b.get(self.i + k).unwrap_or(&0)
    }
    fn push(&mut self, tok: Tok, start: usize) {
        self.out.push(Token { tok, span: Span::new(start, self.i) });
    }

    fn run(&mut self) -> Result<()> {
        loop {
            self.skip_trivia();
            let start = self.i;
            if self.i >= self.b.len() {
                self.push(Tok::Eof, start);
                return Ok(());
            }
            let c = self.peek(0);
            if c == b'"' || c == b'\'' {
                let s = self.quoted(c)?;
                self.push(Tok::Str(s), start);
            } else if c == b'@' && (self.peek(1) == b'"' || self.peek(1) == b'\'') {
                self.i += 1;
                let s = self.verbatim(self.peek(0))?;
                self.push(Tok::Str(s), start);
            } else if c == b'`' && self.peek(1) == b'`' && self.peek(2) == b'`' {
                self.i += 3;
                match self.s[self.i..].find("```") {
                    Some(end) => {
                        let s = self.s[self.i..self.i + end].to_string();
                        self.i += end + 3;
                        self.push(Tok::Str(s), start);
                    }
                    None => return Err(KqlError::syntax(Span::new(start, self.b.len()), "unterminated ``` string")),
                }
            } else if (c == b'h' || c == b'H')
                && (self.peek(1) == b'"'
                    || self.peek(1) == b'\''
                    || (self.peek(1) == b'@' && (self.peek(2) == b'"' || self.peek(2) == b'\'')))
            {
                // Obfuscated string literal: same value, hidden from logs in Kusto.
                self.i += 1;
                let s = if self.peek(0) == b'@' {
                    self.i += 1;
                    self.verbatim(self.peek(0))?
                } else {
                    self.quoted(self.peek(0))?
                };
                self.push(Tok::Str(s), start);
            } else if c.is_ascii_digit() || (c == b'.' && self.peek(1).is_ascii_digit() && !self.prev_is_dot()) {
                self.number()?;
            } else if c == b'$' && is_ident_start(self.peek(1)) {
                self.i += 1;
                while is_ident_char(self.peek(0)) {
                    self.i += 1;
                }
                self.push(Tok::Ident(self.s[start..self.i].to_string()), start);
            } else if is_ident_start(c) {
                self.ident(start)?;
            } else {
                let rest = &self.s[self.i..];
                match SYMS.iter().find(|s| rest.starts_with(**s)) {
                    Some(sym) => {
                        self.i += sym.len();
                        self.push(Tok::Sym(sym), start);
                    }
                    None => {
                        let ch = rest.chars().next().unwrap_or('?');
                        return Err(KqlError::syntax(
                            Span::new(start, start + ch.len_utf8()),
                            format!("unexpected character '{ch}'"),
                        ));
                    }
                }
            }
        }
    }

    fn prev_is_dot(&self) -> bool {
        matches!(self.out.last(), Some(Token { tok: Tok::Sym("."), span }) if span.end == self.i)
    }

    fn skip_trivia(&mut self) {
        loop {
            let c = self.peek(0);
            if c == b' ' || c == b'\t' || c == b'\r' || c == b'\n' {
                self.i += 1;
            } else if c == b'/' && self.peek(1) == b'/' {
                while self.i < self.b.len() && self.b[self.i] != b'\n' {
                    self.i += 1;
                }
            } else if c >= 0x80 && self.s[self.i..].starts_with('\u{a0}') {
                self.i += '\u{a0}'.len_utf8();
            } else {
                return;
            }
        }
    }

    fn ident(&mut self, start: usize) -> Result<()> {
        while is_ident_char(self.peek(0)) {
            self.i += 1;
        }
        // dashed keywords
        if self.peek(0) == b'-' && is_ident_start(self.peek(1)) {
            let mut j = self.i + 1;
            while j < self.b.len() && is_ident_char(self.b[j]) {
                j += 1;
            }
            let word = &self.s[start..j];
            if DASHED.contains(&word) {
                self.i = j;
            }
        }
        let word = self.s[start..self.i].to_string();
        // literals whose inner text is raw
        if matches!(word.as_str(), "datetime" | "timespan" | "time" | "guid") {
            let mut j = self.i;
            while j < self.b.len() && (self.b[j] == b' ' || self.b[j] == b'\t') {
                j += 1;
            }
            if j < self.b.len()
                && self.b[j] == b'('
                && let Some(close) = self.s[j + 1..].find(')')
            {
                let inner = &self.s[j + 1..j + 1 + close];
                if !inner.contains('(') {
                    let raw = inner.trim().to_string();
                    self.i = j + 1 + close + 1;
                    let tok = match word.as_str() {
                        "datetime" => Tok::DateTime(raw),
                        "guid" => Tok::Guid(raw),
                        _ => Tok::TimeSpanRaw(raw),
                    };
                    self.push(tok, start);
                    return Ok(());
                }
            }
        }
        self.push(Tok::Ident(word), start);
        Ok(())
    }

    fn number(&mut self) -> Result<()> {
        let start = self.i;
        if self.peek(0) == b'0' && (self.peek(1) == b'x' || self.peek(1) == b'X') {
            self.i += 2;
            let ds = self.i;
            while self.peek(0).is_ascii_hexdigit() {
                self.i += 1;
            }
            let v = i64::from_str_radix(&self.s[ds..self.i], 16)
                .map_err(|_| KqlError::syntax(Span::new(start, self.i), "invalid hex literal"))?;
            self.push(Tok::Long(v), start);
            return Ok(());
        }
        let mut is_real = false;
        while self.peek(0).is_ascii_digit() {
            self.i += 1;
        }
        if self.peek(0) == b'.' && self.peek(1) != b'.' && !is_ident_start(self.peek(1)) {
            is_real = true;
            self.i += 1;
            while self.peek(0).is_ascii_digit() {
                self.i += 1;
            }
        } else if self.peek(0) == b'.' && is_ident_start(self.peek(1)) {
            // `1.5h`-style is handled by digits after the dot; `x.1` never reaches here.
        }
        if (self.peek(0) == b'e' || self.peek(0) == b'E')
            && (self.peek(1).is_ascii_digit()
                || ((self.peek(1) == b'-' || self.peek(1) == b'+') && self.peek(2).is_ascii_digit()))
        {
            is_real = true;
            self.i += 2;
            while self.peek(0).is_ascii_digit() {
                self.i += 1;
            }
        }
        let num = &self.s[start..self.i];
        if is_ident_start(self.peek(0)) {
            let us = self.i;
            while is_ident_char(self.peek(0)) {
                self.i += 1;
            }
            let unit = &self.s[us..self.i];
            let span = Span::new(start, self.i);
            let per = timespan_unit(unit).ok_or_else(|| {
                KqlError::syntax(
                    span,
                    format!("unknown timespan unit '{unit}' (use d, h, m, s, ms, microsecond, tick)"),
                )
            })?;
            let v: f64 = num.parse().map_err(|_| KqlError::syntax(span, "invalid number"))?;
            let ns = v * per as f64;
            if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
                return Err(KqlError::syntax(span, "timespan out of range"));
            }
            self.push(Tok::TimeSpan(ns.round() as i64), start);
            return Ok(());
        }
        let span = Span::new(start, self.i);
        if is_real {
            let v: f64 = num.parse().map_err(|_| KqlError::syntax(span, "invalid real literal"))?;
            self.push(Tok::Real(v), start);
        } else {
            match num.parse::<i64>() {
                Ok(v) => self.push(Tok::Long(v), start),
                Err(_) => {
                    let v: f64 = num.parse().map_err(|_| KqlError::syntax(span, "invalid number"))?;
                    self.push(Tok::Real(v), start);
                }
            }
        }
        Ok(())
    }

    /// `"..."` or `'...'` with backslash escapes; `self.i` is at the quote.
    fn quoted(&mut self, q: u8) -> Result<String> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            if self.i >= self.b.len() {
                return Err(KqlError::syntax(Span::new(start, self.i), "unterminated string literal"));
            }
            let c = self.b[self.i];
            if c == q {
                self.i += 1;
                return Ok(out);
            }
            if c == b'\n' {
                return Err(KqlError::syntax(
                    Span::new(start, self.i),
                    "unterminated string literal (newline inside quotes)",
                ));
            }
            if c == b'\\' {
                let e = self.peek(1);
                self.i += 2;
                match e {
                    b'n' => out.push('\n'),
                    b't' => out.push('\t'),
                    b'r' => out.push('\r'),
                    b'0' => out.push('\0'),
                    b'\\' => out.push('\\'),
                    b'"' => out.push('"'),
                    b'\'' => out.push('\''),
                    b'u' => {
                        let hex = self.s.get(self.i..self.i + 4).unwrap_or("");
                        let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or_else(|| {
                            KqlError::syntax(Span::new(self.i - 2, self.i), "invalid \\u escape (need 4 hex digits)")
                        })?;
                        out.push(ch);
                        self.i += 4;
                    }
                    0 => return Err(KqlError::syntax(Span::new(start, self.b.len()), "unterminated string literal")),
                    other => {
                        // Unknown escapes keep the backslash (common in regexes written in
                        // regular strings).
                        out.push('\\');
                        self.i -= 1;
                        let _ = other;
                    }
                }
                continue;
            }
            let ch = self.s[self.i..].chars().next().unwrap_or('\0');
            out.push(ch);
            self.i += ch.len_utf8();
        }
    }

    /// Verbatim `@"..."`: no escapes, a doubled quote is one quote.
    fn verbatim(&mut self, q: u8) -> Result<String> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            if self.i >= self.b.len() {
                return Err(KqlError::syntax(Span::new(start, self.i), "unterminated verbatim string literal"));
            }
            let c = self.b[self.i];
            if c == q {
                if self.peek(1) == q {
                    out.push(q as char);
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                return Ok(out);
            }
            let ch = self.s[self.i..].chars().next().unwrap_or('\0');
            out.push(ch);
            self.i += ch.len_utf8();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn timespans_and_numbers() {
        assert_eq!(
            toks("5m 1h 1.5h 100ms 7d 3 2.5 1e3"),
            vec![
                Tok::TimeSpan(5 * NS_PER_MIN),
                Tok::TimeSpan(NS_PER_HOUR),
                Tok::TimeSpan(NS_PER_HOUR * 3 / 2),
                Tok::TimeSpan(100 * NS_PER_MS),
                Tok::TimeSpan(7 * NS_PER_DAY),
                Tok::Long(3),
                Tok::Real(2.5),
                Tok::Real(1000.0),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_and_comments() {
        assert_eq!(
            toks("\"a\\\"b\" 'c' @\"C:\\x\"\"y\" h\"secret\" // comment\n x"),
            vec![
                Tok::Str("a\"b".into()),
                Tok::Str("c".into()),
                Tok::Str("C:\\x\"y".into()),
                Tok::Str("secret".into()),
                Tok::Ident("x".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn dashed_keywords_and_raw_literals() {
        assert_eq!(
            toks("project-away a | x-y datetime(2024-01-01 10:00) $left.A"),
            vec![
                Tok::Ident("project-away".into()),
                Tok::Ident("a".into()),
                Tok::Sym("|"),
                Tok::Ident("x".into()),
                Tok::Sym("-"),
                Tok::Ident("y".into()),
                Tok::DateTime("2024-01-01 10:00".into()),
                Tok::Ident("$left".into()),
                Tok::Sym("."),
                Tok::Ident("A".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = lex("T\n| where x == \"abc").unwrap_err().locate("T\n| where x == \"abc");
        assert_eq!(e.to_string(), "2:14: unterminated string literal");
        assert!(lex("1zz").is_err());
    }
}
