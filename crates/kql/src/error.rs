//! Errors: every parse/bind error carries a byte [`Span`] into the query text, rendered as
//! `line:col: message` (1-based, columns counted in characters).

use std::fmt;

/// A byte range `[start, end)` in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// What went wrong, coarsely; the message says the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not valid KQL (lexer or parser).
    Syntax,
    /// A name, type or argument does not fit the schemas (binder).
    Binding,
    /// Valid KQL that this engine does not implement.
    Unsupported,
    /// The query ran longer than `QueryLimits::timeout`.
    Timeout,
    /// The query needed more memory than `QueryLimits::memory_bytes`.
    MemoryLimit,
    /// DataFusion failed while running the plan.
    Execution,
}

/// An error from parsing, binding or running a KQL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KqlError {
    pub kind: ErrorKind,
    pub message: String,
    /// Where in the query text, when the error is about a piece of it.
    pub span: Option<Span>,
    /// 1-based line and column of `span.start`, filled in by [`KqlError::locate`].
    pub line_col: Option<(usize, usize)>,
}

impl std::error::Error for KqlError {}

impl fmt::Display for KqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((l, c)) => write!(f, "{l}:{c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl KqlError {
    pub fn new(kind: ErrorKind, span: Span, message: impl Into<String>) -> Self {
        KqlError { kind, message: message.into(), span: Some(span), line_col: None }
    }
    pub fn syntax(span: Span, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Syntax, span, message)
    }
    pub fn binding(span: Span, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Binding, span, message)
    }
    pub fn unsupported(span: Span, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, span, message)
    }
    /// An error not tied to a place in the text.
    pub fn general(kind: ErrorKind, message: impl Into<String>) -> Self {
        KqlError { kind, message: message.into(), span: None, line_col: None }
    }
    /// Computes `line_col` from the span against `text` (idempotent).
    pub fn locate(mut self, text: &str) -> Self {
        if let (Some(span), None) = (self.span, self.line_col) {
            self.line_col = Some(line_col(text, span.start));
        }
        self
    }
}

/// 1-based line and character column of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = &text[..floor_char_boundary(text, pos)];
    let line = before.matches('\n').count() + 1;
    let col = match before.rfind('\n') {
        Some(i) => before[i + 1..].chars().count() + 1,
        None => before.chars().count() + 1,
    };
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub type Result<T, E = KqlError> = std::result::Result<T, E>;
