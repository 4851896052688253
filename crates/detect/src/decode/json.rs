//! A serde `Deserializer` for one JSON text, used by the fast path of line decoding in place
//! of `serde_json`'s: strings are found with a vectorised search for `"`/`\` instead of a
//! byte-per-step scan, and string values borrow the input unless they have escapes.
//! `serde_json`'s string scanning was the largest single cost of decoding an audit event.
//!
//! Contract: for any text, [`from_str`] either fails or drives the visitors exactly as
//! `serde_json::from_str` would (same calls, same values), so every type decodes to the same
//! value. It fails on everything it does not handle itself, and the caller then uses
//! `serde_json` (the general path): control characters anywhere in the text (tabs between
//! tokens included), nesting deeper than [`MAX_DEPTH`], and all malformed JSON. Numbers other
//! than plain unsigned integers, and strings with `\u` escapes, are handed to `serde_json`
//! itself, so their values and their errors (overflow, lone surrogates) are its own.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

/// Deepest nesting accepted (below `serde_json`'s limit of 127 levels, so everything accepted
/// here is accepted there).
pub(super) const MAX_DEPTH: usize = 100;

/// Why the text was not accepted (the caller only needs to know that it was not).
#[derive(Debug)]
pub(super) struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("not decoded by the fast JSON reader")
    }
}

impl std::error::Error for Declined {}

impl de::Error for Declined {
    fn custom<T: fmt::Display>(_: T) -> Declined {
        Declined
    }
}

type Result<T> = std::result::Result<T, Declined>;

/// Deserializes `text` (one JSON value, optionally surrounded by spaces).
pub(super) fn from_str<'de, T: de::Deserialize<'de>>(text: &'de str) -> Result<T> {
    // Control characters are valid only as whitespace between tokens; rather than tell the
    // two apart everywhere, texts with any are left to serde_json. (Branch-free, so vectorised.)
    if text.bytes().fold(false, |any, b| any | (b < 0x20)) {
        return Err(Declined);
    }
    let mut de = Reader { text, bytes: text.as_bytes(), pos: 0, depth: 0 };
    let value = T::deserialize(&mut de)?;
    de.skip_spaces();
    if de.pos != de.bytes.len() {
        return Err(Declined);
    }
    Ok(value)
}

/// Panics unless [`from_str`] declines `text` or reads the `Value` serde_json reads (for the
/// `decode_equiv` fuzz target).
pub(super) fn check(text: &str) {
    if let Ok(ours) = from_str::<serde_json::Value>(text) {
        assert_eq!(Some(ours), serde_json::from_str::<serde_json::Value>(text).ok());
    }
}

struct Reader<'de> {
    text: &'de str,
    bytes: &'de [u8],
    pos: usize,
    depth: usize,
}

impl<'de> Reader<'de> {
    #[inline(always)]
    fn skip_spaces(&mut self) {
        // No control characters here, so the only whitespace is ' '.
        while self.bytes.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn peek(&mut self) -> Result<u8> {
        self.skip_spaces();
        self.bytes.get(self.pos).copied().ok_or(Declined)
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.peek()? == c {
            self.pos += 1;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// Reads a string token (at `"`): the text between the quotes and what escapes it has.
    // Inlined: it runs for every key and string value, and the call cost more than the scan.
    #[inline(always)]
    fn string_token(&mut self) -> Result<(&'de str, Escapes)> {
        let start = self.pos + 1;
        let mut at = start;
        let mut escapes = Escapes::None;
        loop {
            at = find_quote_or_backslash(self.bytes, at).ok_or(Declined)?;
            if self.bytes[at] == b'"' {
                self.pos = at + 1;
                return Ok((&self.text[start..at], escapes));
            }
            // A backslash and the character it escapes (a `\u`'s digits are plain text).
            escapes = match (escapes, self.bytes.get(at + 1)) {
                (_, Some(b'u')) | (Escapes::Unicode, _) => Escapes::Unicode,
                _ => Escapes::Simple,
            };
            at += 2;
            if at > self.bytes.len() {
                return Err(Declined);
            }
        }
    }

    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        let literal_start = self.pos;
        let (inner, escapes) = self.string_token()?;
        if escapes == Escapes::None {
            return visitor.visit_borrowed_str(inner);
        }
        if escapes == Escapes::Unicode {
            // serde_json's own rules for `\u` escapes (surrogate pairs).
            let literal = &self.text[literal_start..self.pos];
            let s: String = serde_json::from_str(literal).map_err(|_| Declined)?;
            return visitor.visit_string(s);
        }
        visitor.visit_string(unescape(inner)?)
    }

    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        let start = self.pos;
        let len = self.bytes[start..]
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(self.bytes.len() - start);
        let token = &self.bytes[start..start + len];
        self.pos = start + len;
        // Plain unsigned integers (what serde_json reports as u64) are read here.
        if (1..=19).contains(&len) && token.iter().all(u8::is_ascii_digit) && (token[0] != b'0' || len == 1) {
            let n = token.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            return visitor.visit_u64(n);
        }
        let mut de = serde_json::Deserializer::from_str(&self.text[start..start + len]);
        let value = de::Deserializer::deserialize_any(&mut de, visitor).map_err(|_| Declined)?;
        de.end().map_err(|_| Declined)?;
        Ok(value)
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(Declined) } else { Ok(()) }
    }
}

/// The escapes in a string.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escapes {
    None,
    /// Only one-character escapes (`\"`, `\n`, …).
    Simple,
    /// At least one `\u` escape.
    Unicode,
}

/// Position of the first `"` or `\\` at or after `from`. Strings are mostly short keys and
/// values, where a word-at-a-time scan beats a call to a vectorised search.
#[inline(always)]
fn find_quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    // Bytes equal to `c` get their high bit set (the lowest such byte reliably so).
    let matches = |word: u64, c: u8| {
        let x = word ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let word = u64::from_le_bytes(chunk);
        let found = matches(word, b'"') | matches(word, b'\\');
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes.get(at..)?.iter().position(|&b| b == b'"' || b == b'\\').map(|i| at + i)
}

/// Unescapes a string without `\u` escapes.
fn unescape(inner: &str) -> Result<String> {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(i) = find_quote_or_backslash(rest.as_bytes(), 0) {
        out.push_str(&rest[..i]);
        let c = match rest.as_bytes().get(i + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            _ => return Err(Declined),
        };
        out.push(c);
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b'"' => self.string(visitor),
            b'{' => {
                self.pos += 1;
                self.enter()?;
                let mut map = Members { de: &mut *self, first: true, done: false };
                let value = visitor.visit_map(&mut map)?;
                if !map.done {
                    return Err(Declined);
                }
                self.depth -= 1;
                Ok(value)
            }
            b'[' => {
                self.pos += 1;
                self.enter()?;
                let mut seq = Items { de: &mut *self, first: true, done: false };
                let value = visitor.visit_seq(&mut seq)?;
                if !seq.done {
                    return Err(Declined);
                }
                self.depth -= 1;
                Ok(value)
            }
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            b'-' | b'0'..=b'9' => self.number(visitor),
            _ => Err(Declined),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? == b'"' { self.string(visitor) } else { Err(Declined) }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        // Skipped values are checked like any other: serde_json's general path checks them.
        self.deserialize_any(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    // serde_json reads these its own way (full-width integers, byte strings); no type of
    // this crate asks for them, so they are declined rather than reproduced.
    fn deserialize_i128<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char unit unit_struct seq tuple tuple_struct map struct
        enum
    }
}

impl Reader<'_> {
    /// Steps to the next member or item of the object/array closed by `close`: over the `,`
    /// that must separate it from the previous one, or over `close` at the end (then `false`,
    /// and `done` stays set). `first` is true until the first element is reached.
    #[inline]
    fn next_element(&mut self, close: u8, first: &mut bool, done: &mut bool) -> Result<bool> {
        if *done {
            return Ok(false);
        }
        let c = self.peek()?;
        if c == close {
            self.pos += 1;
            *done = true;
            return Ok(false);
        }
        if !*first {
            if c != b',' {
                return Err(Declined);
            }
            self.pos += 1;
        }
        *first = false;
        Ok(true)
    }
}

/// The members of an object being read.
struct Members<'a, 'de> {
    de: &'a mut Reader<'de>,
    first: bool,
    done: bool,
}

impl<'de> MapAccess<'de> for &mut Members<'_, 'de> {
    type Error = Declined;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.de.next_element(b'}', &mut self.first, &mut self.done)? {
            return Ok(None);
        }
        if self.de.peek()? != b'"' {
            return Err(Declined);
        }
        let key = seed.deserialize(Key { de: &mut *self.de })?;
        self.de.expect(b':')?;
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// The items of an array being read.
struct Items<'a, 'de> {
    de: &'a mut Reader<'de>,
    first: bool,
    done: bool,
}

impl<'de> SeqAccess<'de> for &mut Items<'_, 'de> {
    type Error = Declined;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.de.next_element(b']', &mut self.first, &mut self.done)? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// An object key (at its opening quote).
struct Key<'a, 'de> {
    de: &'a mut Reader<'de>,
}

impl<'de> de::Deserializer<'de> for Key<'_, 'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.de.string(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    // serde_json reads keys as numbers, booleans or options for such types; none of this
    // crate's types asks for that, so it is declined rather than reproduced.
    fn deserialize_option<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Declined)
    }

    // Numeric keys: serde_json parses the key text as a number; here the string is offered,
    // which a numeric visitor refuses (so the text is declined).
    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Either declines or gives what serde_json gives.
    fn agrees(text: &str) -> bool {
        let ours = from_str::<Value>(text).ok();
        let theirs = serde_json::from_str::<Value>(text).ok();
        match ours {
            Some(v) => theirs.as_ref() == Some(&v),
            None => true,
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let good = [
            r#"{"a":"b","c":[1,-2,3.5,1e2,0,-0,18446744073709551615,18446744073709551616,12345678901234567890123],"d":{"e":null,"f":true,"g":false}}"#,
            r#" { "s" : "q\"\\\/\b\f\n\r\t" , "u" : "\u00e9\ud83d\ude00" , "k" : [ ] , "o" : { } } "#,
            r#"{"dup":1,"dup":2}"#,
            r#"[[[["deep"]]]]"#,
            r#""just a string""#,
            "1.0",
            "-1",
        ];
        for text in good {
            let ours: Value = from_str(text).unwrap_or_else(|_| panic!("declined {text}"));
            assert_eq!(ours, serde_json::from_str::<Value>(text).unwrap(), "{text}");
        }
        let bad = [
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "[01]",
            "[1.]",
            "[-]",
            "[1e]",
            "[.5]",
            "[+1]",
            "{\"s\":\"\\x\"}",
            "{\"s\":\"\\ud800\"}",
            "[1e999]",
            "\"unterminated",
            "{\"a\":tru}",
            "[nul]",
            "{} {}",
            "{\"a\":1}x",
            "[\"tab\there\"]",
            "{\t\"a\":1}",
            "{1:2}",
            "",
            "   ",
            "[1 2]",
            "{\"a\"}",
            "[\"a\\",
        ];
        for text in bad {
            assert!(from_str::<Value>(text).is_err(), "accepted {text:?}");
        }
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(from_str::<Value>(&deep(MAX_DEPTH)).is_ok() && from_str::<Value>(&deep(MAX_DEPTH + 1)).is_err());
    }

    /// Random edits of valid texts: whatever is accepted equals serde_json's reading.
    #[test]
    fn random_edits_agree_with_serde_json() {
        let seeds = [
            r#"{"kind":"Event","auditID":"a-1","user":{"username":"u","groups":["g1","g2"]},"code":201,"n":-1.5e3,"s":"x\"y\u00e9","o":{"k":[true,false,null]}}"#,
            r#"[{"a":"\\"},{"b":12345678901234567890},"\ud83d\ude00",0.1]"#,
        ];
        let alphabet: &[u8] = b"{}[]\",:\\-+.eE0123456789abtruefalsnul u \t";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut bytes = seeds[next(seeds.len())].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(bytes.len() + 1);
                match next(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, alphabet[next(alphabet.len())]),
                    _ if at < bytes.len() => bytes[at] = alphabet[next(alphabet.len())],
                    _ => {}
                }
            }
            let Ok(text) = std::str::from_utf8(&bytes) else { continue };
            assert!(agrees(text), "disagrees on {text}");
            accepted += usize::from(from_str::<Value>(text).is_ok());
        }
        assert!(accepted > 1_000, "the edits keep some texts valid ({accepted})");
    }
}
