//! The JSON grammar (RFC 8259) as a cursor over bytes: strings, numbers, literals, whole
//! values. Nothing is allocated; a value is either accepted (cursor moved past it) or refused
//! (`None`). The scanner also notes whether a value's text is *canonical* — exactly what
//! serde_json would write back for it — so callers can keep text as it is.

/// Nesting limit (objects + arrays); deeper text is refused, as serde_json does at 128.
pub const MAX_DEPTH: usize = 128;

pub(crate) struct Scanner<'a> {
    pub b: &'a [u8],
    pub i: usize,
    /// Cleared when a scanned value is not in serde_json's compact form (whitespace inside
    /// it, escapes, floats, `-0`, integers too large for i64/u64 handling).
    pub canonical: bool,
    /// The text is known to be valid JSON: strings are skipped without checking for control
    /// characters or bad escapes (the structure is still followed, so positions are exact).
    pub trusted: bool,
}

/// Position of the first byte at or after `from` that ends a plain run of string content: `"`,
/// `\\`, or, when `controls`, a byte below 0x20 (not allowed raw inside a JSON string).
///
/// Written by hand because no crate searches for two bytes and a byte range at once: memchr2
/// followed by a separate control-byte pass cost a library call and two passes per string,
/// and strings are most of what ingestion scans (perf: 17 % of ingest CPU). SSE2 is part of
/// the x86_64 baseline, so no runtime detection is needed; other targets use the scalar loop.
#[inline]
fn next_special(b: &[u8], from: usize, controls: bool) -> Option<usize> {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is always available on x86_64; every load reads 16 bytes at `i` with
        // `i + 16 <= b.len()`, inside the slice, and `_mm_loadu_si128` allows any alignment.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let below_space = _mm_set1_epi8(0x1F);
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let mut hit = _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash));
                if controls {
                    // x <= 0x1F (unsigned) exactly when max(x, 0x1F) == 0x1F
                    hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_max_epu8(x, below_space), below_space));
                }
                let mask = _mm_movemask_epi8(hit) as u32;
                if mask != 0 {
                    return Some(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
    }
    b.get(i..)?.iter().position(|&c| c == b'"' || c == b'\\' || (controls && c < 0x20)).map(|k| i + k)
}

impl<'a> Scanner<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0, canonical: true, trusted: false }
    }

    #[inline]
    pub fn ws(&mut self) {
        // Compact JSON has no whitespace, and every JSON whitespace byte is ≤ b' ': one compare
        // answers most calls (this loop was 4.6 % of ingestion's instructions, callgrind).
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' || !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    /// Whitespace inside a value makes it non-canonical.
    #[inline]
    fn ws_in_value(&mut self) {
        let s = self.i;
        self.ws();
        if self.i != s {
            self.canonical = false;
        }
    }

    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A string at the cursor; returns (content start, content end, had escapes).
    /// Inlined: most strings are short, and the call itself (saving and restoring registers)
    /// cost as many instructions as scanning them (callgrind).
    #[inline]
    pub fn string(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut esc = false;
        // Jump from special byte to special byte (SIMD, see `next_special`): a byte-at-a-time
        // loop made strings the largest cost of both ingestion and member access (perf).
        loop {
            self.i = next_special(self.b, self.i, !self.trusted)?;
            match self.b[self.i] {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Some((start, end, esc));
                }
                b'\\' => {}
                _ => return None, // a raw control byte
            }
            esc = true;
            match self.b.get(self.i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                b'u' => {
                    let hex = self.b.get(self.i + 2..self.i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.i += 6;
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let d = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - d
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_digits = match self.peek()? {
            b'0' => {
                self.i += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        };
        let mut plain_int = true;
        if self.peek() == Some(b'.') {
            plain_int = false;
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            plain_int = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // serde_json rewrites floats (1.50 → 1.5, 1e3 → 1000.0), `-0` and huge integers
        if !plain_int || int_digits > 18 || &self.b[start..self.i] == b"-0" {
            self.canonical = false;
        }
        Some(())
    }

    /// One value at the cursor (no leading whitespace), validated, with the nesting limit.
    pub fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                let (_, _, esc) = self.string()?;
                if esc {
                    self.canonical = false;
                }
                Some(())
            }
            b'{' => {
                self.i += 1;
                self.ws_in_value();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws_in_value();
                    let (_, _, esc) = self.string()?;
                    if esc {
                        self.canonical = false;
                    }
                    self.ws_in_value();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws_in_value();
                    self.value(depth + 1)?;
                    self.ws_in_value();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws_in_value();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws_in_value();
                    self.value(depth + 1)?;
                    self.ws_in_value();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(b: &[u8], from: usize, controls: bool) -> Option<usize> {
        (from..b.len()).find(|&i| b[i] == b'"' || b[i] == b'\\' || (controls && b[i] < 0x20))
    }

    /// The SIMD search agrees with a byte loop for every special byte at every offset, start
    /// and length around the 16-byte blocks, including bytes ≥ 0x80 (which a signed compare
    /// would take for control bytes).
    #[test]
    fn next_special_matches_a_byte_loop() {
        for len in 0..50 {
            for special in [b'"', b'\\', 0x00, 0x1F, 0x0A] {
                for at in 0..=len {
                    let mut b: Vec<u8> = (0..len).map(|k| [b'a', 0x20, 0x7F, 0x80, 0xE9, 0xFF][k % 6]).collect();
                    if at < len {
                        b[at] = special;
                    }
                    for from in [0, 1, 15, 16, 17].into_iter().filter(|f| *f <= len) {
                        for controls in [true, false] {
                            assert_eq!(
                                next_special(&b, from, controls),
                                reference(&b, from, controls),
                                "len {len} special {special:#x} at {at} from {from} controls {controls}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(next_special(b"abc", 4, true), None);
    }

    #[test]
    fn strings_refuse_raw_control_bytes_unless_trusted() {
        let text = b"\"0123456789abcdef\x01ghij\" ";
        assert_eq!(Scanner::new(text).string(), None);
        let mut s = Scanner::new(text);
        s.trusted = true;
        assert_eq!(s.string(), Some((1, 22, false)));
        let mut s = Scanner::new(b"\"0123456789abcdef\\u00e9\\\"x\"");
        assert_eq!(s.string(), Some((1, 26, true)));
    }
}
