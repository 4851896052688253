//! Condition expression parser (Falco filter syntax) into an untyped AST.
//!
//! Grammar: `expr := and ("or" and)*`, `and := unary ("and" unary)*`,
//! `unary := "not" unary | "(" expr ")" | check`, `check := FIELD OP [VALUE | LIST] | MACRO`.
//! Fields are `name.with.dots` with an optional `[argument]` (`jevt.value[/stage]`,
//! `ka.uri.param[command]`); values are bare words or quoted strings; lists are
//! `(a, "b", list_name)` or a bare list name. Positions are 1-based character columns in the
//! condition text. The parser never panics and is bounded in nesting depth.

use std::fmt;

/// Maximum nesting depth of parentheses / `not` accepted (bounds recursion on hostile input).
pub const MAX_DEPTH: usize = 200;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Glob,
    IGlob,
    In,
    Intersects,
    PMatch,
    Exists,
    Regex,
}

impl Op {
    fn from_word(word: &str) -> Option<Op> {
        Some(match word {
            "contains" | "bcontains" => Op::Contains,
            "icontains" => Op::IContains,
            "startswith" | "bstartswith" => Op::StartsWith,
            "endswith" => Op::EndsWith,
            "glob" => Op::Glob,
            "iglob" => Op::IGlob,
            "in" => Op::In,
            "intersects" => Op::Intersects,
            "pmatch" => Op::PMatch,
            "exists" => Op::Exists,
            "regex" => Op::Regex,
            _ => return None,
        })
    }

    /// Operators whose right-hand side is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }

    /// The operator's spelling in conditions.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
            Op::Exists => "exists",
            Op::Regex => "regex",
        }
    }

    /// Parses an operator as written in exception `comps` (`=`, `in`, `startswith`, …).
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text.trim() {
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            other => return Op::from_word(other),
        })
    }
}

/// One item of a list on the right-hand side of `in`/`intersects`/`pmatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub text: String,
    /// Quoted items are never expanded as list names.
    pub quoted: bool,
}

/// Right-hand side of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rhs {
    None,
    Value(String),
    List(Vec<ListItem>),
}

/// Condition AST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A bare identifier: a macro reference.
    Macro {
        name: String,
        pos: usize,
    },
    Check {
        field: String,
        arg: Option<String>,
        op: Op,
        rhs: Rhs,
        pos: usize,
    },
}

/// A syntax error with its 1-based column in the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Parses a condition string.
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0, depth: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err("empty condition"));
    }
    let expr = p.parse_or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(
            p.err(&format!("unexpected '{}' (expected 'and', 'or' or end of condition)", p.peek_word_or_char()))
        );
    }
    Ok(expr)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn err(&self, msg: &str) -> SyntaxError {
        SyntaxError { column: self.pos + 1, message: msg.to_string() }
    }
    fn peek_word_or_char(&self) -> String {
        let word: String = self.chars[self.pos..].iter().take_while(|c| !c.is_whitespace()).take(30).collect();
        word
    }
    /// If the next word equals `kw` (followed by a delimiter), consumes it.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let n = kw.chars().count();
        if self.pos + n > self.chars.len() {
            return false;
        }
        if !self.chars[self.pos..self.pos + n].iter().copied().eq(kw.chars()) {
            return false;
        }
        match self.chars.get(self.pos + n) {
            None => {}
            Some(c) if c.is_whitespace() || *c == '(' || *c == ')' => {}
            Some(_) => return false,
        }
        self.pos += n;
        true
    }

    fn parse_or(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.parse_and()?];
        loop {
            self.skip_ws();
            if self.eat_keyword("or") {
                items.push(self.parse_and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Expr::And(vec![])) } else { Expr::Or(items) })
    }

    fn parse_and(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.parse_unary()?];
        loop {
            self.skip_ws();
            if self.eat_keyword("and") {
                items.push(self.parse_unary()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Expr::And(vec![])) } else { Expr::And(items) })
    }

    fn parse_unary(&mut self) -> Result<Expr, SyntaxError> {
        self.skip_ws();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("condition nested too deeply"));
        }
        let result = if self.eat_keyword("not") {
            self.parse_unary().map(|e| Expr::Not(Box::new(e)))
        } else if self.peek() == Some('(') {
            self.pos += 1;
            let inner = self.parse_or()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.err("expected ')'"));
            }
            self.pos += 1;
            Ok(inner)
        } else {
            self.parse_check()
        };
        self.depth -= 1;
        result
    }

    fn parse_check(&mut self) -> Result<Expr, SyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(match self.peek() {
                None => self.err("unexpected end of condition (expected a field or macro)"),
                Some(c) => self.err(&format!("unexpected '{c}' (expected a field or macro)")),
            });
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if matches!(name.as_str(), "and" | "or") {
            self.pos = start;
            return Err(self.err(&format!("unexpected '{name}' (expected a field or macro)")));
        }
        let mut arg = None;
        if self.peek() == Some('[') {
            self.pos += 1;
            let arg_start = self.pos;
            while self.peek().is_some_and(|c| c != ']') {
                self.pos += 1;
            }
            if self.at_end() {
                return Err(self.err("unterminated '[' in field argument"));
            }
            arg = Some(self.chars[arg_start..self.pos].iter().collect::<String>());
            self.pos += 1;
        }
        let after_name = self.pos;
        self.skip_ws();
        let Some(op) = self.parse_op() else {
            self.pos = after_name;
            if arg.is_some() || name.contains('.') {
                return Err(SyntaxError {
                    column: start + 1,
                    message: format!(
                        "field '{name}' must be followed by an operator (=, !=, in, contains, exists, ...)"
                    ),
                });
            }
            return Ok(Expr::Macro { name, pos: start + 1 });
        };
        let rhs = if op == Op::Exists {
            Rhs::None
        } else if op.takes_list() {
            self.skip_ws();
            self.parse_list()?
        } else {
            self.skip_ws();
            Rhs::Value(self.parse_value()?)
        };
        Ok(Expr::Check { field: name, arg, op, rhs, pos: start + 1 })
    }

    fn parse_op(&mut self) -> Option<Op> {
        let c0 = self.peek()?;
        let c1 = self.chars.get(self.pos + 1).copied();
        let (op, len) = match (c0, c1) {
            ('=', Some('=')) => (Op::Eq, 2),
            ('=', _) => (Op::Eq, 1),
            ('!', Some('=')) => (Op::Ne, 2),
            ('<', Some('=')) => (Op::Le, 2),
            ('<', _) => (Op::Lt, 1),
            ('>', Some('=')) => (Op::Ge, 2),
            ('>', _) => (Op::Gt, 1),
            _ => {
                let start = self.pos;
                let mut end = start;
                while self.chars.get(end).is_some_and(|c| c.is_ascii_alphabetic()) {
                    end += 1;
                }
                let word: String = self.chars[start..end].iter().collect();
                let op = Op::from_word(&word)?;
                match self.chars.get(end) {
                    None => {}
                    Some(c) if c.is_whitespace() || *c == '(' || *c == ')' => {}
                    Some(_) => return None,
                }
                (op, end - start)
            }
        };
        self.pos += len;
        Some(op)
    }

    fn parse_quoted(&mut self) -> Result<String, SyntaxError> {
        let quote = self.peek().unwrap_or('"');
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = open;
                    return Err(self.err("unterminated quoted string"));
                }
                Some('\\') => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        out.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        self.pos += 1;
                    }
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn parse_value(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            None => Err(self.err("expected a value after the operator")),
            Some('"') | Some('\'') => self.parse_quoted(),
            Some(_) => {
                let start = self.pos;
                while self.peek().is_some_and(|c| !c.is_whitespace() && c != ')' && c != '(') {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.err("expected a value after the operator"));
                }
                Ok(self.chars[start..self.pos].iter().collect())
            }
        }
    }

    fn parse_list(&mut self) -> Result<Rhs, SyntaxError> {
        if self.peek() != Some('(') {
            // A bare list name.
            let start = self.pos;
            while self.peek().is_some_and(is_ident_char) {
                self.pos += 1;
            }
            if self.pos == start {
                return Err(self.err("expected '(' starting a list or a list name"));
            }
            return Ok(Rhs::List(vec![ListItem { text: self.chars[start..self.pos].iter().collect(), quoted: false }]));
        }
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.err("unterminated list (expected ')')")),
                Some(')') => {
                    self.pos += 1;
                    return Ok(Rhs::List(items));
                }
                Some(',') => {
                    self.pos += 1;
                }
                Some('"') | Some('\'') => {
                    let text = self.parse_quoted()?;
                    items.push(ListItem { text, quoted: true });
                }
                Some(_) => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| !c.is_whitespace() && c != ',' && c != ')' && c != '(') {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return Err(self.err("unexpected '(' inside a list"));
                    }
                    items.push(ListItem { text: self.chars[start..self.pos].iter().collect(), quoted: false });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(field: &str, op: Op, rhs: Rhs) -> impl Fn(&Expr) -> bool {
        let field = field.to_string();
        move |e| matches!(e, Expr::Check { field: f, op: o, rhs: r, .. } if *f == field && *o == op && *r == rhs)
    }

    #[test]
    fn parses_precedence_and_forms() {
        let e = parse("kevt and not ka.verb in (get, \"list\") or jevt.value[/stage]=ResponseStarted").unwrap();
        let Expr::Or(items) = e else { panic!("or expected") };
        assert_eq!(items.len(), 2);
        let Expr::And(left) = &items[0] else { panic!() };
        assert_eq!(left[0], Expr::Macro { name: "kevt".into(), pos: 1 });
        let Expr::Not(inner) = &left[1] else { panic!() };
        assert!(check(
            "ka.verb",
            Op::In,
            Rhs::List(vec![
                ListItem { text: "get".into(), quoted: false },
                ListItem { text: "list".into(), quoted: true }
            ])
        )(inner));
        assert!(matches!(&items[1], Expr::Check { field, arg: Some(a), op: Op::Eq, rhs: Rhs::Value(v), .. }
            if field == "jevt.value" && a == "/stage" && v == "ResponseStarted"));
    }

    #[test]
    fn bare_values_keep_punctuation() {
        let e = parse("(ka.uri startswith /healthz? and ka.user.name=system:anonymous)").unwrap();
        let Expr::And(items) = e else { panic!() };
        assert!(check("ka.uri", Op::StartsWith, Rhs::Value("/healthz?".into()))(&items[0]));
        assert!(check("ka.user.name", Op::Eq, Rhs::Value("system:anonymous".into()))(&items[1]));
    }

    #[test]
    fn errors_carry_columns() {
        let err = parse("ka.verb = get and (ka.target.name in (a, b)").unwrap_err();
        assert_eq!(err.column, 44);
        let err = parse("ka.verb").unwrap_err();
        assert!(err.message.contains("operator"), "{err}");
        let err = parse("a and or b").unwrap_err();
        assert_eq!(err.column, 7);
        let err = parse("x = \"open").unwrap_err();
        assert_eq!(err.column, 5);
        assert!(parse("").is_err());
        let deep = "(".repeat(10_000);
        assert!(parse(&deep).unwrap_err().message.contains("deeply"));
    }

    #[test]
    fn exists_and_macros() {
        let e = parse("ka.target.subresource exists and not pod").unwrap();
        let Expr::And(items) = e else { panic!() };
        assert!(check("ka.target.subresource", Op::Exists, Rhs::None)(&items[0]));
        assert_eq!(items[1], Expr::Not(Box::new(Expr::Macro { name: "pod".into(), pos: 38 })));
    }
}
