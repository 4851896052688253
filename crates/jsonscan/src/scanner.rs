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

/// True when `s` holds a byte below 0x20 (not allowed raw inside a JSON string). Written as a
/// branch-free fold so it vectorises: most scanned bytes are inside strings.
#[inline]
fn has_control(s: &[u8]) -> bool {
    s.iter().fold(false, |acc, &c| acc | (c < 0x20))
}

impl<'a> Scanner<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0, canonical: true, trusted: false }
    }

    #[inline]
    pub fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
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
    pub fn string(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut esc = false;
        // Jump from quote/backslash to quote/backslash with memchr's SIMD search and check each
        // span for control characters in one pass: a byte-at-a-time loop made strings the
        // largest cost of both ingestion and member access (perf).
        loop {
            let rest = &self.b[self.i..];
            let at = memchr::memchr2(b'"', b'\\', rest)?;
            if !self.trusted && has_control(&rest[..at]) {
                return None;
            }
            self.i += at;
            if self.b[self.i] == b'"' {
                let end = self.i;
                self.i += 1;
                return Some((start, end, esc));
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
