//! Recursive-descent parser: tokens → [`ast::Query`].
//!
//! Expression precedence, lowest first: `or`, `and`, comparisons and string operators
//! (`==`, `=~`, `contains`, `has`, `in`, `between`, …), `+ -`, `* / %`, unary `-`, postfix
//! (`.member`, `[index]`), primary. Tabular operators follow `|` and are dispatched by name in
//! [`Parser::operator`]. Nesting depth is bounded so hostile input cannot overflow the stack.

use serde_json::Value as Json;

use crate::ast::*;
use crate::error::{KqlError, Result, Span};
use crate::lexer::{Tok, Token, lex};
use crate::timefmt::{parse_datetime, parse_timespan};
use crate::types::KqlType;

/// Maximum expression nesting depth.
const MAX_DEPTH: usize = 64;

/// Parses a whole query.
pub fn parse_query(text: &str) -> Result<Query> {
    let tokens = lex(text).map_err(|e| e.locate(text))?;
    let mut p = Parser { toks: tokens, pos: 0, depth: 0 };
    let statements = p.statements(false).map_err(|e| e.locate(text))?;
    Ok(Query { text: text.to_string(), statements })
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

const TABULAR_OPS: &str = "where, project, project-away, project-keep, project-rename, project-reorder, extend, summarize, sort/order, top, take/limit, distinct, count, join, lookup, union, search, make-series, top-nested, mv-expand, mv-apply, evaluate bag_unpack, parse, render, serialize, getschema, as";

fn type_name(s: &str) -> Option<KqlType> {
    match s {
        "decimal" => Some(KqlType::Real),
        "timespan" | "time" => Some(KqlType::TimeSpan),
        _ => KqlType::from_kql_name(s).filter(|_| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
    }
}

impl Parser {
    // ---- token helpers -------------------------------------------------------------
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn peek_at(&self, k: usize) -> &Token {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)]
    }
    fn span(&self) -> Span {
        self.peek().span
    }
    fn prev_span(&self) -> Span {
        if self.pos == 0 { Span::default() } else { self.toks[self.pos - 1].span }
    }
    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(x) if *x == s)
    }
    fn is_sym_at(&self, k: usize, s: &str) -> bool {
        matches!(&self.peek_at(k).tok, Tok::Sym(x) if *x == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<Span> {
        if self.is_sym(s) { Ok(self.bump().span) } else { Err(self.unexpected(&format!("'{s}'"))) }
    }
    fn is_kw(&self, w: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(x) if x == w)
    }
    fn is_kw_at(&self, k: usize, w: &str) -> bool {
        matches!(&self.peek_at(k).tok, Tok::Ident(x) if x == w)
    }
    fn eat_kw(&mut self, w: &str) -> bool {
        if self.is_kw(w) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, w: &str) -> Result<Span> {
        if self.is_kw(w) { Ok(self.bump().span) } else { Err(self.unexpected(&format!("'{w}'"))) }
    }
    fn ident(&mut self) -> Result<Ident> {
        match &self.peek().tok {
            Tok::Ident(s) => {
                let name = s.clone();
                let span = self.bump().span;
                Ok(Ident { name, span })
            }
            Tok::Sym("[") => {
                // ['name with spaces']
                let start = self.bump().span;
                let name = match self.bump().tok {
                    Tok::Str(s) => s,
                    _ => return Err(KqlError::syntax(self.prev_span(), "expected a quoted name after '['")),
                };
                let end = self.expect_sym("]")?;
                Ok(Ident { name, span: start.to(end) })
            }
            _ => Err(self.unexpected("a name")),
        }
    }
    fn at_end_of_op(&self) -> bool {
        matches!(self.peek().tok, Tok::Eof) || self.is_sym("|") || self.is_sym(";") || self.is_sym(")")
    }
    fn describe(tok: &Tok) -> String {
        match tok {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Long(v) => format!("number {v}"),
            Tok::Real(v) => format!("number {v}"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::TimeSpan(_) | Tok::TimeSpanRaw(_) => "timespan literal".into(),
            Tok::DateTime(_) => "datetime literal".into(),
            Tok::Guid(_) => "guid literal".into(),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Eof => "end of query".into(),
        }
    }
    fn unexpected(&self, wanted: &str) -> KqlError {
        KqlError::syntax(self.span(), format!("expected {wanted}, found {}", Self::describe(&self.peek().tok)))
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(KqlError::syntax(self.span(), "query nested too deeply"));
        }
        Ok(())
    }

    // ---- statements ----------------------------------------------------------------
    /// Statements up to end of input (or `}` when `in_body`).
    fn statements(&mut self, in_body: bool) -> Result<Vec<Statement>> {
        let mut out = Vec::new();
        loop {
            while self.eat_sym(";") {}
            if matches!(self.peek().tok, Tok::Eof) || (in_body && self.is_sym("}")) {
                break;
            }
            if self.is_kw("let") {
                out.push(self.let_stmt()?);
            } else if self.is_kw("set") || self.is_kw("declare") || self.is_kw("alias") || self.is_kw("pattern") {
                return Err(KqlError::unsupported(
                    self.span(),
                    format!("'{}' statements are not supported", Self::describe(&self.peek().tok).trim_matches('\'')),
                ));
            } else {
                out.push(Statement::Expr(self.pipe_expr()?));
            }
            if !(self.is_sym(";") || matches!(self.peek().tok, Tok::Eof) || (in_body && self.is_sym("}"))) {
                return Err(self.unexpected("'|', ';' or end of query"));
            }
        }
        if !out.iter().any(|s| matches!(s, Statement::Expr(_))) {
            return Err(KqlError::syntax(self.span(), "query has no tabular expression after its let statements"));
        }
        Ok(out)
    }

    fn let_stmt(&mut self) -> Result<Statement> {
        let start = self.expect_kw("let")?;
        let name = self.ident()?;
        self.expect_sym("=")?;
        // function / view definition: `(…) { body }`
        let is_fn = self.is_sym("(")
            && (self.is_sym_at(1, ")") || (matches!(self.peek_at(1).tok, Tok::Ident(_)) && self.is_sym_at(2, ":")));
        let value = if is_fn {
            let open = self.expect_sym("(")?;
            let params = self.params()?;
            self.expect_sym(")")?;
            self.expect_sym("{")?;
            let body = self.statements(true)?;
            let close = self.expect_sym("}")?;
            let only_expr = body.len() == 1 && matches!(body[0], Statement::Expr(_));
            if params.is_empty() && only_expr {
                // a parameterless view: its body stands for the let value directly
                match body.into_iter().next() {
                    Some(Statement::Expr(e)) => e,
                    _ => return Err(KqlError::syntax(open, "view body has no tabular expression")),
                }
            } else {
                Expr { kind: ExprKind::Function(Box::new(Function { params, body })), span: open.to(close) }
            }
        } else {
            self.pipe_expr()?
        };
        let span = start.to(value.span);
        Ok(Statement::Let { name, value, span })
    }

    /// An expression optionally followed by `| operator …`.
    fn pipe_expr(&mut self) -> Result<Expr> {
        let source = self.expr()?;
        if !self.is_sym("|") {
            return Ok(source);
        }
        let mut ops = Vec::new();
        while self.eat_sym("|") {
            ops.push(self.operator()?);
        }
        let span = source.span.to(self.prev_span());
        Ok(Expr { kind: ExprKind::Pipe { source: Box::new(source), ops }, span })
    }

    // ---- tabular operators ---------------------------------------------------------
    fn operator(&mut self) -> Result<Operator> {
        let start = self.span();
        let name = match &self.peek().tok {
            Tok::Ident(s) => s.clone(),
            _ => return Err(self.unexpected("a tabular operator")),
        };
        self.bump();
        let kind = match name.as_str() {
            "where" | "filter" => OpKind::Where(self.expr()?),
            "project" => OpKind::Project(self.named_list()?),
            "extend" => OpKind::Extend(self.named_list()?),
            "project-away" => OpKind::ProjectAway(self.pattern_list()?),
            "project-keep" => OpKind::ProjectKeep(self.pattern_list()?),
            "project-reorder" => OpKind::ProjectReorder(self.pattern_list()?),
            "project-rename" => {
                let mut pairs = Vec::new();
                loop {
                    let new = self.ident()?;
                    self.expect_sym("=")?;
                    let old = self.ident()?;
                    pairs.push((new, old));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                OpKind::ProjectRename(pairs)
            }
            "summarize" => {
                self.skip_hints()?;
                let aggs = if self.is_kw("by") { Vec::new() } else { self.named_list()? };
                let by = if self.eat_kw("by") { self.named_list()? } else { Vec::new() };
                OpKind::Summarize { aggs, by }
            }
            "sort" | "order" => {
                self.skip_hints()?;
                self.expect_kw("by")?;
                let mut keys = vec![self.sort_key()?];
                while self.eat_sym(",") {
                    keys.push(self.sort_key()?);
                }
                OpKind::Sort(keys)
            }
            "top" => {
                let count = self.expr()?;
                self.expect_kw("by")?;
                let key = self.sort_key()?;
                OpKind::Top { count, key }
            }
            "take" | "limit" => OpKind::Take(self.expr()?),
            "distinct" => {
                if self.is_sym("*") {
                    self.bump();
                    OpKind::Distinct(Vec::new())
                } else {
                    OpKind::Distinct(self.named_list()?)
                }
            }
            "count" => OpKind::Count,
            "getschema" => OpKind::Getschema,
            "as" => {
                self.skip_hints()?;
                OpKind::As(self.ident()?)
            }
            "serialize" => {
                if self.at_end_of_op() {
                    OpKind::Serialize(Vec::new())
                } else {
                    OpKind::Serialize(self.named_list()?)
                }
            }
            "render" => {
                let chart = match &self.peek().tok {
                    Tok::Ident(s) => s.clone(),
                    _ => String::new(),
                };
                let mut depth = 0usize;
                loop {
                    match &self.peek().tok {
                        Tok::Eof => break,
                        Tok::Sym("(") => depth += 1,
                        Tok::Sym(")") if depth == 0 => break,
                        Tok::Sym(")") => depth -= 1,
                        Tok::Sym("|") | Tok::Sym(";") if depth == 0 => break,
                        _ => {}
                    }
                    self.bump();
                }
                OpKind::Render { chart }
            }
            "join" => self.join()?,
            "union" => OpKind::Union(self.union(start)?),
            "mv-expand" | "mvexpand" => self.mv_expand()?,
            "parse" => self.parse_op()?,
            "lookup" => self.lookup()?,
            "make-series" => OpKind::MakeSeries(Box::new(self.make_series()?)),
            "search" => OpKind::Search(Box::new(self.search(start)?)),
            "mv-apply" => self.mv_apply()?,
            "evaluate" => self.evaluate()?,
            "top-nested" => self.top_nested()?,
            "invoke" | "sample" | "sample-distinct" | "top-hitters" | "parse-where" | "parse-kv" | "facet" | "fork"
            | "partition" | "scan" | "reduce" | "find" | "externaldata" | "consume" | "lookup-kv" => {
                return Err(KqlError::unsupported(
                    start,
                    format!("operator '{name}' is not supported (supported: {TABULAR_OPS})"),
                ));
            }
            _ => {
                return Err(KqlError::syntax(
                    start,
                    format!("unknown tabular operator '{name}' (supported: {TABULAR_OPS})"),
                ));
            }
        };
        Ok(Operator { kind, span: start.to(self.prev_span()) })
    }

    /// Skips `hint.x = v` and similar options that do not change results.
    fn skip_hints(&mut self) -> Result<()> {
        while self.is_kw("hint") && self.is_sym_at(1, ".") {
            self.bump();
            self.bump();
            self.ident()?;
            self.expect_sym("=")?;
            self.bump();
        }
        Ok(())
    }

    /// `name = value` option, if present: returns the value token text.
    fn option(&mut self, key: &str) -> Option<(String, Span)> {
        if self.is_kw(key) && self.is_sym_at(1, "=") {
            self.bump();
            self.bump();
            let t = self.bump();
            let v = match t.tok {
                Tok::Ident(s) | Tok::Str(s) => s,
                Tok::Long(v) => v.to_string(),
                other => Self::describe(&other),
            };
            return Some((v, t.span));
        }
        None
    }

    /// Function parameters: `a:string, b:long = 5, T:(*)`.
    fn params(&mut self) -> Result<Vec<Param>> {
        let mut out: Vec<Param> = Vec::new();
        while !self.is_sym(")") {
            let name = self.ident()?;
            self.expect_sym(":")?;
            let ty = if self.eat_sym("(") {
                // tabular parameter: `(*)` or a column list, which is not checked
                let mut depth = 1usize;
                while depth > 0 {
                    match self.bump().tok {
                        Tok::Sym("(") => depth += 1,
                        Tok::Sym(")") => depth -= 1,
                        Tok::Eof => return Err(self.unexpected("')' closing the tabular parameter")),
                        _ => {}
                    }
                }
                None
            } else {
                let t = self.ident()?;
                Some(type_name(&t.name).ok_or_else(|| KqlError::syntax(t.span, format!("unknown type '{}'", t.name)))?)
            };
            let default = if self.eat_sym("=") { Some(self.expr()?) } else { None };
            if out.iter().any(|p| p.name.name == name.name) {
                return Err(KqlError::syntax(name.span, format!("parameter '{}' appears twice", name.name)));
            }
            out.push(Param { name, ty, default });
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(out)
    }

    /// `lookup [kind=leftouter|inner] (T) on conditions`.
    fn lookup(&mut self) -> Result<OpKind> {
        let mut inner = false;
        loop {
            if let Some((v, span)) = self.option("kind") {
                inner = match v.as_str() {
                    "leftouter" => false,
                    "inner" => true,
                    _ => return Err(KqlError::syntax(span, format!("unknown lookup kind '{v}' (leftouter or inner)"))),
                };
            } else if self.is_kw("hint") && self.is_sym_at(1, ".") {
                self.skip_hints()?;
            } else {
                break;
            }
        }
        let (right, on) = self.join_tail()?;
        Ok(OpKind::Lookup { inner, right, on })
    }

    /// `make-series [kind=nonempty] [Col =] Agg [default = v], … on Axis (from a to b step s | in
    /// range(a, b, s)) [by keys]`.
    fn make_series(&mut self) -> Result<MakeSeries> {
        loop {
            if let Some((v, span)) = self.option("kind") {
                if v != "nonempty" {
                    return Err(KqlError::syntax(span, format!("unknown make-series kind '{v}' (nonempty)")));
                }
            } else if self.is_kw("hint") && self.is_sym_at(1, ".") {
                self.skip_hints()?;
            } else {
                break;
            }
        }
        let mut aggs = Vec::new();
        loop {
            let agg = self.named_expr()?;
            let default = if self.is_kw("default") && self.is_sym_at(1, "=") {
                self.bump();
                self.bump();
                Some(self.expr()?)
            } else {
                None
            };
            aggs.push(SeriesAgg { agg, default });
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("on")?;
        let axis = self.ident()?;
        let (mut from, mut to, step);
        if self.eat_kw("in") {
            self.expect_kw("range")?;
            self.expect_sym("(")?;
            from = Some(self.expr()?);
            self.expect_sym(",")?;
            to = Some(self.expr()?);
            self.expect_sym(",")?;
            step = self.expr()?;
            self.expect_sym(")")?;
        } else {
            from = None;
            to = None;
            if self.eat_kw("from") {
                from = Some(self.expr()?);
            }
            if self.eat_kw("to") {
                to = Some(self.expr()?);
            }
            self.expect_kw("step")?;
            step = self.expr()?;
        }
        let by = if self.eat_kw("by") { self.named_list()? } else { Vec::new() };
        Ok(MakeSeries { aggs, axis, from, to, step, by })
    }

    /// `search [kind=case_sensitive|case_insensitive] [in (T1, T2*)] predicate`.
    fn search(&mut self, start: Span) -> Result<SearchOp> {
        let mut case_sensitive = false;
        loop {
            if let Some((v, span)) = self.option("kind") {
                case_sensitive = match v.as_str() {
                    "case_sensitive" => true,
                    "case_insensitive" => false,
                    _ => {
                        return Err(KqlError::syntax(
                            span,
                            format!("unknown search kind '{v}' (case_sensitive or case_insensitive)"),
                        ));
                    }
                };
            } else if self.is_kw("hint") && self.is_sym_at(1, ".") {
                self.skip_hints()?;
            } else {
                break;
            }
        }
        let tables = if self.is_kw("in") && self.is_sym_at(1, "(") {
            self.bump();
            self.bump();
            let mut v = vec![self.name_pattern()?];
            while self.eat_sym(",") {
                v.push(self.name_pattern()?);
            }
            self.expect_sym(")")?;
            Some(v)
        } else {
            None
        };
        let predicate = self.expr()?;
        Ok(SearchOp { case_sensitive, tables, predicate, span: start.to(self.prev_span()) })
    }

    /// `mv-apply [name =] arr [to typeof(T)], … on (subquery)`.
    fn mv_apply(&mut self) -> Result<OpKind> {
        let mut items = Vec::new();
        loop {
            let named = self.named_expr()?;
            let to_type = self.opt_to_typeof()?;
            items.push(MvExpandCol { name: named.name, expr: named.expr, to_type });
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("on")?;
        let open = self.expect_sym("(")?;
        // the subquery is a pipeline over the expanded rows; it starts with an operator
        let mut ops = Vec::new();
        if self.is_sym("|") {
            self.bump();
        }
        loop {
            ops.push(self.operator()?);
            if !self.eat_sym("|") {
                break;
            }
        }
        let close = self.expect_sym(")")?;
        let span = open.to(close);
        let source = Expr { kind: ExprKind::Name("$mvapply".into()), span: open };
        Ok(OpKind::MvApply { items, subquery: Expr { kind: ExprKind::Pipe { source: Box::new(source), ops }, span } })
    }

    /// `to typeof(T)` after an mv-expand / mv-apply item.
    fn opt_to_typeof(&mut self) -> Result<Option<KqlType>> {
        if !self.eat_kw("to") {
            return Ok(None);
        }
        self.expect_kw("typeof")?;
        self.expect_sym("(")?;
        let t = self.ident()?;
        self.expect_sym(")")?;
        Ok(Some(type_name(&t.name).ok_or_else(|| KqlError::syntax(t.span, format!("unknown type '{}'", t.name)))?))
    }

    /// `evaluate plugin(args)`: only
    /// `bag_unpack(col [, prefix [, columnsConflict [, ignoredProperties]]]) [: ([*,] Col:type, …)]`.
    fn evaluate(&mut self) -> Result<OpKind> {
        self.skip_hints()?;
        let name = self.ident()?;
        if name.name != "bag_unpack" {
            return Err(KqlError::unsupported(
                name.span,
                format!("evaluate plugin '{}' is not supported (supported: bag_unpack)", name.name),
            ));
        }
        self.expect_sym("(")?;
        let column = self.expr()?;
        let (mut prefix, mut conflict, mut ignored) = (None, BagConflict::Error, Vec::new());
        if self.eat_sym(",") {
            match self.bump() {
                Token { tok: Tok::Str(p), .. } => prefix = Some(p).filter(|p| !p.is_empty()),
                t => return Err(KqlError::syntax(t.span, "bag_unpack prefix must be a string literal")),
            }
        }
        if self.eat_sym(",") {
            conflict = match self.bump() {
                Token { tok: Tok::Str(c), span } => match c.as_str() {
                    "error" => BagConflict::Error,
                    "replace_source" => BagConflict::ReplaceSource,
                    "keep_source" => BagConflict::KeepSource,
                    _ => {
                        return Err(KqlError::syntax(
                            span,
                            format!(
                                "unknown bag_unpack columnsConflict '{c}' (use error, replace_source or keep_source)"
                            ),
                        ));
                    }
                },
                t => return Err(KqlError::syntax(t.span, "bag_unpack columnsConflict must be a string literal")),
            };
        }
        if self.eat_sym(",") {
            let e = self.expr()?;
            let names = match &e.kind {
                ExprKind::Literal(Literal::Dynamic(serde_json::Value::Array(items))) => {
                    items.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()
                }
                _ => None,
            };
            ignored = names.ok_or_else(|| {
                KqlError::syntax(
                    e.span,
                    "bag_unpack ignoredProperties must be a dynamic array of strings, e.g. dynamic(['a', 'b'])",
                )
            })?;
        }
        if self.is_sym(",") {
            return Err(KqlError::syntax(self.span(), "bag_unpack takes at most 4 arguments"));
        }
        self.expect_sym(")")?;
        let mut schema_keeps_input = false;
        let schema = if self.eat_sym(":") {
            self.expect_sym("(")?;
            let mut cols = Vec::new();
            if self.eat_sym("*") {
                schema_keeps_input = true;
                self.eat_sym(",");
            }
            while !self.is_sym(")") {
                let n = self.ident()?;
                self.expect_sym(":")?;
                let t = self.ident()?;
                let ty =
                    type_name(&t.name).ok_or_else(|| KqlError::syntax(t.span, format!("unknown type '{}'", t.name)))?;
                cols.push((n, ty));
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
            Some(cols)
        } else {
            None
        };
        Ok(OpKind::BagUnpack { column, prefix, conflict, ignored, schema, schema_keeps_input })
    }

    /// `top-nested [N] of [Name =] Expr [with others = V] by [Name =] Agg [asc|desc] [, top-nested …]`
    /// (the leading `top-nested` of the first clause is already read).
    fn top_nested(&mut self) -> Result<OpKind> {
        let mut levels = Vec::new();
        loop {
            let count = if self.eat_kw("of") {
                None
            } else {
                let n = self.expr()?;
                self.expect_kw("of")?;
                Some(n)
            };
            let of = self.named_expr()?;
            let others = if self.eat_kw("with") {
                self.expect_kw("others")?;
                self.expect_sym("=")?;
                Some(self.expr()?)
            } else {
                None
            };
            self.expect_kw("by")?;
            let agg = self.named_expr()?;
            let desc = !self.eat_kw("asc");
            if desc {
                self.eat_kw("desc");
            }
            levels.push(TopNestedLevel { count, of, others, agg, desc });
            if !self.eat_sym(",") {
                break;
            }
            if !self.eat_kw("top-nested") {
                return Err(KqlError::syntax(self.span(), "expected 'top-nested' after ',' in top-nested"));
            }
        }
        Ok(OpKind::TopNested(levels))
    }

    fn join(&mut self) -> Result<OpKind> {
        let mut kind = JoinKind::InnerUnique;
        loop {
            if let Some((v, span)) = self.option("kind") {
                kind = match v.as_str() {
                    "innerunique" => JoinKind::InnerUnique,
                    "inner" => JoinKind::Inner,
                    "leftouter" => JoinKind::LeftOuter,
                    "rightouter" => JoinKind::RightOuter,
                    "fullouter" | "outer" => JoinKind::FullOuter,
                    "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
                    "leftsemi" | "semi" => JoinKind::LeftSemi,
                    "rightanti" | "rightantisemi" => JoinKind::RightAnti,
                    "rightsemi" => JoinKind::RightSemi,
                    _ => return Err(KqlError::syntax(span, format!("unknown join kind '{v}'"))),
                };
            } else if self.is_kw("hint") && self.is_sym_at(1, ".") {
                self.skip_hints()?;
            } else {
                break;
            }
        }
        let (right, on) = self.join_tail()?;
        Ok(OpKind::Join { kind, right, on })
    }

    /// `(T) on conditions` or `T on conditions` of join / lookup.
    fn join_tail(&mut self) -> Result<(Expr, Vec<JoinCond>)> {
        let right = if self.is_sym("(") {
            let open = self.bump().span;
            let e = self.pipe_expr()?;
            let close = self.expect_sym(")")?;
            Expr { span: open.to(close), ..e }
        } else {
            let id = self.ident()?;
            Expr { kind: ExprKind::Name(id.name), span: id.span }
        };
        let on_span = self.expect_kw("on")?;
        let mut on = Vec::new();
        loop {
            let e = self.expr()?;
            self.join_conds(&e, &mut on)?;
            if !self.eat_sym(",") {
                break;
            }
        }
        if on.is_empty() {
            return Err(KqlError::syntax(on_span, "join needs at least one 'on' condition"));
        }
        Ok((right, on))
    }

    fn join_conds(&self, e: &Expr, out: &mut Vec<JoinCond>) -> Result<()> {
        fn side(e: &Expr) -> Option<(&str, Ident)> {
            if let ExprKind::Member { base, name } = &e.kind
                && let ExprKind::Name(b) = &base.kind
                && (b == "$left" || b == "$right")
            {
                return Some((b.as_str(), name.clone()));
            }
            None
        }
        match &e.kind {
            ExprKind::Name(n) => {
                let id = Ident { name: n.clone(), span: e.span };
                out.push(JoinCond { left: id.clone(), right: id });
                Ok(())
            }
            ExprKind::Binary { op: BinOp::And, left, right } => {
                self.join_conds(left, out)?;
                self.join_conds(right, out)
            }
            ExprKind::Binary { op: BinOp::Eq, left, right } => match (side(left), side(right)) {
                (Some(("$left", l)), Some(("$right", r))) | (Some(("$right", r)), Some(("$left", l))) => {
                    out.push(JoinCond { left: l, right: r });
                    Ok(())
                }
                _ => Err(KqlError::syntax(e.span, "join condition must be 'Column' or '$left.A == $right.B'")),
            },
            _ => Err(KqlError::syntax(e.span, "join condition must be 'Column' or '$left.A == $right.B'")),
        }
    }

    fn union(&mut self, start: Span) -> Result<UnionOp> {
        let mut withsource = None;
        let mut inner = false;
        loop {
            if let Some((v, span)) = self.option("withsource") {
                withsource = Some(Ident { name: v, span });
            } else if let Some((v, span)) = self.option("kind") {
                inner = match v.as_str() {
                    "inner" => true,
                    "outer" => false,
                    _ => return Err(KqlError::syntax(span, format!("unknown union kind '{v}' (inner or outer)"))),
                };
            } else if self.option("isfuzzy").is_some() {
            } else if self.is_kw("hint") && self.is_sym_at(1, ".") {
                self.skip_hints()?;
            } else {
                break;
            }
        }
        let mut inputs = Vec::new();
        loop {
            if self.is_sym("(") {
                let open = self.bump().span;
                let e = self.pipe_expr()?;
                let close = self.expect_sym(")")?;
                inputs.push(Expr { span: open.to(close), ..e });
            } else {
                let id = self.name_pattern()?;
                inputs.push(Expr { kind: ExprKind::Name(id.name), span: id.span });
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(UnionOp { withsource, inner, inputs, span: start.to(self.prev_span()) })
    }

    fn mv_expand(&mut self) -> Result<OpKind> {
        let mut item_index = None;
        loop {
            if let Some((v, span)) = self.option("with_itemindex") {
                item_index = Some(Ident { name: v, span });
            } else if self.option("bagexpansion").is_some() || self.option("kind").is_some() {
            } else {
                break;
            }
        }
        let mut cols = Vec::new();
        loop {
            let named = self.named_expr()?;
            let to_type = self.opt_to_typeof()?;
            cols.push(MvExpandCol { name: named.name, expr: named.expr, to_type });
            if !self.eat_sym(",") {
                break;
            }
        }
        let limit = if self.eat_kw("limit") { Some(self.expr()?) } else { None };
        Ok(OpKind::MvExpand { cols, item_index, limit })
    }

    fn parse_op(&mut self) -> Result<OpKind> {
        let mut regex = false;
        loop {
            if let Some((v, span)) = self.option("kind") {
                regex = match v.as_str() {
                    "regex" => true,
                    "simple" | "relaxed" => false,
                    _ => return Err(KqlError::syntax(span, format!("unknown parse kind '{v}'"))),
                };
            } else if self.option("flags").is_some() {
            } else {
                break;
            }
        }
        let expr = self.expr()?;
        self.expect_kw("with")?;
        let mut parts = Vec::new();
        while !self.at_end_of_op() {
            match self.peek().tok.clone() {
                Tok::Str(s) => {
                    self.bump();
                    parts.push(ParsePart::Literal(s));
                }
                Tok::Sym("*") => {
                    self.bump();
                    parts.push(ParsePart::Wildcard);
                }
                Tok::Ident(_) | Tok::Sym("[") => {
                    let id = self.ident()?;
                    let ty = if self.eat_sym(":") {
                        let t = self.ident()?;
                        Some(
                            type_name(&t.name)
                                .ok_or_else(|| KqlError::syntax(t.span, format!("unknown type '{}'", t.name)))?,
                        )
                    } else {
                        None
                    };
                    parts.push(ParsePart::Column(id, ty));
                }
                _ => return Err(self.unexpected("a string, '*' or a column name in the parse pattern")),
            }
        }
        if parts.is_empty() {
            return Err(KqlError::syntax(self.span(), "parse needs a pattern after 'with'"));
        }
        Ok(OpKind::Parse { expr, parts, regex })
    }

    fn sort_key(&mut self) -> Result<SortKey> {
        let expr = self.expr()?;
        let mut desc = true;
        if self.eat_kw("asc") {
            desc = false;
        } else if self.eat_kw("desc") {
            desc = true;
        }
        let mut nulls_first = !desc;
        if self.eat_kw("nulls") {
            if self.eat_kw("first") {
                nulls_first = true;
            } else {
                self.expect_kw("last")?;
                nulls_first = false;
            }
        }
        Ok(SortKey { expr, desc, nulls_first })
    }

    /// A column name pattern with optional `*` wildcards (`Kube*`, `*_s`, `*`).
    fn name_pattern(&mut self) -> Result<Ident> {
        let start = self.span();
        let mut name = String::new();
        let mut end = start;
        let mut first = true;
        loop {
            let t = self.peek().clone();
            if !first && t.span.start != end.end {
                break;
            }
            match t.tok {
                Tok::Ident(s) => name.push_str(&s),
                Tok::Sym("*") => name.push('*'),
                Tok::Long(v) if !first => name.push_str(&v.to_string()),
                Tok::Sym("[") if first => {
                    let id = self.ident()?;
                    return Ok(id);
                }
                _ => break,
            }
            end = t.span;
            self.bump();
            first = false;
        }
        if name.is_empty() {
            return Err(self.unexpected("a column name"));
        }
        Ok(Ident { name, span: start.to(end) })
    }

    fn pattern_list(&mut self) -> Result<Vec<Ident>> {
        let mut v = vec![self.name_pattern()?];
        while self.eat_sym(",") {
            v.push(self.name_pattern()?);
        }
        // project-reorder allows asc/desc suffixes; they are accepted and ignored.
        Ok(v)
    }

    fn named_expr(&mut self) -> Result<NamedExpr> {
        let is_named = (matches!(self.peek().tok, Tok::Ident(_)) && self.is_sym_at(1, "="))
            || (self.is_sym("[")
                && matches!(self.peek_at(1).tok, Tok::Str(_))
                && self.is_sym_at(2, "]")
                && self.is_sym_at(3, "="));
        if is_named {
            let name = self.ident()?;
            self.expect_sym("=")?;
            let expr = self.expr()?;
            return Ok(NamedExpr { name: Some(name), expr });
        }
        if self.is_sym("(") && matches!(self.peek_at(1).tok, Tok::Ident(_)) && self.is_sym_at(2, ",") {
            // (a, b) = f(...) multi-name assignment
            let save = self.pos;
            self.bump();
            let mut names = vec![self.ident()?];
            while self.eat_sym(",") {
                names.push(self.ident()?);
            }
            if self.eat_sym(")") && self.eat_sym("=") {
                return Err(KqlError::unsupported(
                    names[0].span,
                    "multi-column assignment '(a, b) = …' is not supported",
                ));
            }
            self.pos = save;
        }
        Ok(NamedExpr { name: None, expr: self.expr()? })
    }

    fn named_list(&mut self) -> Result<Vec<NamedExpr>> {
        let mut v = vec![self.named_expr()?];
        while self.eat_sym(",") {
            v.push(self.named_expr()?);
        }
        Ok(v)
    }

    // ---- scalar expressions --------------------------------------------------------
    /// A scalar (or tabular-source) expression without a trailing pipe.
    pub fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        let r = self.or_expr();
        self.depth -= 1;
        r
    }

    /// Each binary operator in a chain nests the tree one level deeper (left-associative).
    fn chain(&self, n: &mut usize) -> Result<()> {
        *n += 1;
        if self.depth + *n > MAX_DEPTH * 2 {
            return Err(KqlError::syntax(self.span(), "expression has too many chained operators (split it up)"));
        }
        Ok(())
    }

    fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
        let span = l.span.to(r.span);
        Expr { kind: ExprKind::Binary { op, left: Box::new(l), right: Box::new(r) }, span }
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let mut l = self.and_expr()?;
        let mut n = 0;
        while self.eat_kw("or") {
            self.chain(&mut n)?;
            let r = self.and_expr()?;
            l = Self::bin(BinOp::Or, l, r);
        }
        Ok(l)
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut l = self.cmp_expr()?;
        let mut n = 0;
        while self.eat_kw("and") {
            self.chain(&mut n)?;
            let r = self.cmp_expr()?;
            l = Self::bin(BinOp::And, l, r);
        }
        Ok(l)
    }

    fn str_op(word: &str) -> Option<StrOp> {
        let (base, cs) = match word.strip_suffix("_cs") {
            Some(b) => (b, true),
            None => (word, false),
        };
        let kind = match base {
            "contains" => StrOpKind::Contains,
            "has" => StrOpKind::Has,
            "hasprefix" => StrOpKind::HasPrefix,
            "hassuffix" => StrOpKind::HasSuffix,
            "startswith" => StrOpKind::StartsWith,
            "endswith" => StrOpKind::EndsWith,
            _ => return None,
        };
        Some(StrOp { kind, cs, negated: false })
    }

    fn cmp_expr(&mut self) -> Result<Expr> {
        let mut l = self.add_expr()?;
        let mut n = 0;
        loop {
            self.chain(&mut n)?;
            let sym_op = match &self.peek().tok {
                Tok::Sym("==") => Some(BinOp::Eq),
                Tok::Sym("!=") | Tok::Sym("<>") => Some(BinOp::Ne),
                Tok::Sym("<") => Some(BinOp::Lt),
                Tok::Sym("<=") => Some(BinOp::Le),
                Tok::Sym(">") => Some(BinOp::Gt),
                Tok::Sym(">=") => Some(BinOp::Ge),
                Tok::Sym("=~") => Some(BinOp::EqCi),
                Tok::Sym("!~") => Some(BinOp::NeCi),
                _ => None,
            };
            if let Some(op) = sym_op {
                self.bump();
                let r = self.add_expr()?;
                l = Self::bin(op, l, r);
                continue;
            }
            // word operators, optionally negated with a leading '!'
            let negated = self.is_sym("!")
                && matches!(self.peek_at(1).tok, Tok::Ident(_))
                && self.peek_at(1).span.start == self.span().end;
            let wi = usize::from(negated);
            let word = match &self.peek_at(wi).tok {
                Tok::Ident(w) => w.clone(),
                _ => break,
            };
            if let Some(mut op) = Self::str_op(&word) {
                op.negated = negated;
                self.pos += wi + 1;
                let r = self.add_expr()?;
                l = Self::bin(BinOp::Str(op), l, r);
                continue;
            }
            match word.as_str() {
                "in" => {
                    self.pos += wi + 1;
                    let ci = self.is_sym("~") && self.span().start == self.prev_span().end;
                    if ci {
                        self.bump();
                    }
                    let (list, end) = self.paren_list()?;
                    let span = l.span.to(end);
                    l = Expr { kind: ExprKind::In { expr: Box::new(l), list, negated, case_insensitive: ci }, span };
                }
                "between" => {
                    self.pos += wi + 1;
                    self.expect_sym("(")?;
                    let low = self.add_expr()?;
                    self.expect_sym("..")?;
                    let high = self.add_expr()?;
                    let end = self.expect_sym(")")?;
                    let span = l.span.to(end);
                    l = Expr {
                        kind: ExprKind::Between {
                            expr: Box::new(l),
                            low: Box::new(low),
                            high: Box::new(high),
                            negated,
                        },
                        span,
                    };
                }
                "matches" if !negated && self.is_kw_at(1, "regex") => {
                    self.pos += 2;
                    let r = self.add_expr()?;
                    l = Self::bin(BinOp::MatchesRegex, l, r);
                }
                "has_any" | "has_all" if !negated => {
                    self.bump();
                    let op = if word == "has_any" { BinOp::HasAny } else { BinOp::HasAll };
                    let r = if self.is_sym("(") {
                        let (list, end) = self.paren_list()?;
                        let start = list.first().map(|e| e.span).unwrap_or(end);
                        Expr {
                            kind: ExprKind::Call { name: Ident { name: "pack_array".into(), span: start }, args: list },
                            span: start.to(end),
                        }
                    } else {
                        self.add_expr()?
                    };
                    l = Self::bin(op, l, r);
                }
                _ => break,
            }
        }
        Ok(l)
    }

    /// `( a, b, … )` → elements and the closing span.
    fn paren_list(&mut self) -> Result<(Vec<Expr>, Span)> {
        self.expect_sym("(")?;
        let mut list = Vec::new();
        if !self.is_sym(")") {
            list.push(self.pipe_expr()?);
            while self.eat_sym(",") {
                list.push(self.pipe_expr()?);
            }
        }
        let end = self.expect_sym(")")?;
        Ok((list, end))
    }

    fn add_expr(&mut self) -> Result<Expr> {
        let mut l = self.mul_expr()?;
        let mut n = 0;
        loop {
            self.chain(&mut n)?;
            let op = if self.is_sym("+") {
                BinOp::Add
            } else if self.is_sym("-") {
                BinOp::Sub
            } else {
                break;
            };
            self.bump();
            let r = self.mul_expr()?;
            l = Self::bin(op, l, r);
        }
        Ok(l)
    }

    fn mul_expr(&mut self) -> Result<Expr> {
        let mut l = self.unary_expr()?;
        let mut n = 0;
        loop {
            self.chain(&mut n)?;
            let op = if self.is_sym("*") {
                BinOp::Mul
            } else if self.is_sym("/") {
                BinOp::Div
            } else if self.is_sym("%") {
                BinOp::Mod
            } else {
                break;
            };
            self.bump();
            let r = self.unary_expr()?;
            l = Self::bin(op, l, r);
        }
        Ok(l)
    }

    fn unary_expr(&mut self) -> Result<Expr> {
        if self.is_sym("-") || self.is_sym("+") {
            let start = self.bump().span;
            let neg = self.toks[self.pos - 1].tok == Tok::Sym("-");
            self.enter()?;
            let e = self.unary_expr();
            self.depth -= 1;
            let e = e?;
            let span = start.to(e.span);
            if neg {
                // fold negative literals
                if let ExprKind::Literal(lit) = &e.kind {
                    let folded = match lit {
                        Literal::Long(v) => Some(Literal::Long(v.wrapping_neg())),
                        Literal::Real(v) => Some(Literal::Real(-v)),
                        Literal::TimeSpan(v) => Some(Literal::TimeSpan(v.wrapping_neg())),
                        _ => None,
                    };
                    if let Some(l) = folded {
                        return Ok(Expr { kind: ExprKind::Literal(l), span });
                    }
                }
            }
            let op = if neg { UnaryOp::Neg } else { UnaryOp::Plus };
            return Ok(Expr { kind: ExprKind::Unary { op, expr: Box::new(e) }, span });
        }
        self.postfix_expr()
    }

    fn postfix_expr(&mut self) -> Result<Expr> {
        let mut e = self.primary()?;
        loop {
            if self.is_sym(".") && matches!(self.peek_at(1).tok, Tok::Ident(_)) {
                self.bump();
                let name = self.ident()?;
                let span = e.span.to(name.span);
                e = Expr { kind: ExprKind::Member { base: Box::new(e), name }, span };
            } else if self.is_sym(".") && self.is_sym_at(1, "[") {
                self.bump();
            } else if self.is_sym("[") {
                self.bump();
                let idx = self.expr()?;
                let end = self.expect_sym("]")?;
                let span = e.span.to(end);
                e = Expr { kind: ExprKind::Index { base: Box::new(e), index: Box::new(idx) }, span };
            } else {
                break;
            }
        }
        Ok(e)
    }

    fn lit(kind: Literal, span: Span) -> Expr {
        Expr { kind: ExprKind::Literal(kind), span }
    }

    fn primary(&mut self) -> Result<Expr> {
        let t = self.peek().clone();
        let span = t.span;
        match t.tok {
            Tok::Long(v) => {
                self.bump();
                Ok(Self::lit(Literal::Long(v), span))
            }
            Tok::Real(v) => {
                self.bump();
                Ok(Self::lit(Literal::Real(v), span))
            }
            Tok::TimeSpan(v) => {
                self.bump();
                Ok(Self::lit(Literal::TimeSpan(v), span))
            }
            Tok::Str(s) => {
                self.bump();
                let mut s = s;
                let mut end = span;
                while let Tok::Str(more) = &self.peek().tok {
                    s.push_str(more);
                    end = self.bump().span;
                }
                Ok(Self::lit(Literal::String(s), span.to(end)))
            }
            Tok::DateTime(raw) => {
                self.bump();
                let lit = match unquote(&raw) {
                    "now" | "" => Literal::DateTimeNow,
                    "null" => Literal::TypedNull(KqlType::DateTime),
                    r => match parse_datetime(r) {
                        Some(ns) => Literal::DateTime(ns),
                        None => {
                            return Err(KqlError::syntax(
                                span,
                                format!("invalid datetime literal '{r}' (use e.g. datetime(2024-01-31T10:00:00Z))"),
                            ));
                        }
                    },
                };
                Ok(Self::lit(lit, span))
            }
            Tok::TimeSpanRaw(raw) => {
                self.bump();
                let raw = unquote(&raw);
                let lit = if raw == "null" {
                    Literal::TypedNull(KqlType::TimeSpan)
                } else {
                    Literal::TimeSpan(
                        parse_timespan(raw)
                            .ok_or_else(|| KqlError::syntax(span, format!("invalid timespan literal '{raw}'")))?,
                    )
                };
                Ok(Self::lit(lit, span))
            }
            Tok::Guid(raw) => {
                self.bump();
                if raw == "null" {
                    return Ok(Self::lit(Literal::TypedNull(KqlType::Guid), span));
                }
                let ok = raw.len() == 36
                    && raw
                        .chars()
                        .enumerate()
                        .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
                if !ok {
                    return Err(KqlError::syntax(span, format!("invalid guid literal '{raw}'")));
                }
                Ok(Self::lit(Literal::Guid(raw.to_ascii_lowercase()), span))
            }
            Tok::Sym("(") => {
                self.bump();
                self.enter()?;
                let e = self.pipe_expr();
                self.depth -= 1;
                let e = e?;
                let end = self.expect_sym(")")?;
                Ok(Expr { kind: e.kind, span: span.to(end) })
            }
            Tok::Sym("[") => {
                let id = self.ident()?;
                Ok(Expr { kind: ExprKind::Name(id.name), span: id.span })
            }
            Tok::Sym("*") => {
                self.bump();
                Ok(Expr { kind: ExprKind::Star, span })
            }
            Tok::Ident(word) => self.ident_primary(word, span),
            _ => Err(self.unexpected("an expression")),
        }
    }

    fn ident_primary(&mut self, word: String, span: Span) -> Result<Expr> {
        let call_follows = self.is_sym_at(1, "(");
        match word.as_str() {
            "true" | "false" if !call_follows => {
                self.bump();
                return Ok(Self::lit(Literal::Bool(word == "true"), span));
            }
            "dynamic" if call_follows => {
                self.bump();
                self.bump();
                let v = self.json_value()?;
                let end = self.expect_sym(")")?;
                return Ok(Self::lit(Literal::Dynamic(v), span.to(end)));
            }
            "union" => {
                self.bump();
                let u = self.union(span)?;
                let sp = u.span;
                return Ok(Expr { kind: ExprKind::Union(Box::new(u)), span: sp });
            }
            "datatable" if call_follows => return self.datatable(span),
            "search" if !call_follows => {
                self.bump();
                let op = self.search(span)?;
                let sp = op.span;
                return Ok(Expr { kind: ExprKind::Search(Box::new(op)), span: sp });
            }
            "print" => {
                self.bump();
                let list = if self.at_end_of_op() { Vec::new() } else { self.named_list()? };
                return Ok(Expr { kind: ExprKind::Print(list), span: span.to(self.prev_span()) });
            }
            "range" if !call_follows => {
                self.bump();
                let name = self.ident()?;
                self.expect_kw("from")?;
                let from = self.add_expr()?;
                self.expect_kw("to")?;
                let to = self.add_expr()?;
                self.expect_kw("step")?;
                let step = self.add_expr()?;
                let sp = span.to(step.span);
                return Ok(Expr {
                    kind: ExprKind::Range { name, from: Box::new(from), to: Box::new(to), step: Box::new(step) },
                    span: sp,
                });
            }
            _ => {}
        }
        if call_follows {
            if let Some(ty) = type_name(&word)
                && word != "time"
                && word != "timespan"
                && let Some(e) = self.typed_literal(ty, span)?
            {
                return Ok(e);
            }
            self.bump();
            let name = Ident { name: word, span };
            let (args, end) = self.paren_list()?;
            return Ok(Expr { kind: ExprKind::Call { name, args }, span: span.to(end) });
        }
        self.bump();
        Ok(Expr { kind: ExprKind::Name(word), span })
    }

    /// `long(null)`, `int(5)`, `real(nan)`, `bool(true)`, `string(null)`: only when the
    /// argument is a single literal token; otherwise `None` (a call such as `string(x)` would be
    /// invalid KQL anyway).
    fn typed_literal(&mut self, ty: KqlType, span: Span) -> Result<Option<Expr>> {
        if !self.is_sym_at(3, ")") {
            // allow a signed number: long(-1)
            if !(self.is_sym_at(2, "-") && self.is_sym_at(4, ")")) {
                return Ok(None);
            }
        }
        let save = self.pos;
        self.bump();
        self.bump();
        let neg = self.eat_sym("-");
        let t = self.bump();
        let end = self.expect_sym(")")?;
        let sp = span.to(end);
        let bad = || KqlError::syntax(sp, format!("invalid {} literal", ty.kql_name()));
        let lit = match (&t.tok, ty) {
            (Tok::Ident(w), _) if w == "null" => Literal::TypedNull(ty),
            (Tok::Long(v), KqlType::Long) => Literal::Long(if neg { -v } else { *v }),
            (Tok::Long(v), KqlType::Int) => Literal::Int(i32::try_from(if neg { -v } else { *v }).map_err(|_| bad())?),
            (Tok::Long(v), KqlType::Real) => Literal::Real(if neg { -(*v as f64) } else { *v as f64 }),
            (Tok::Real(v), KqlType::Real) => Literal::Real(if neg { -v } else { *v }),
            (Tok::Ident(w), KqlType::Real) if w == "nan" => Literal::Real(f64::NAN),
            (Tok::Ident(w), KqlType::Real) if w == "inf" => {
                Literal::Real(if neg { f64::NEG_INFINITY } else { f64::INFINITY })
            }
            (Tok::Ident(w), KqlType::Bool) if w == "true" || w == "false" => Literal::Bool(w == "true"),
            (Tok::Long(v), KqlType::Bool) => Literal::Bool(*v != 0),
            (Tok::Str(s), KqlType::String) => Literal::String(s.clone()),
            _ => {
                self.pos = save;
                return Ok(None);
            }
        };
        Ok(Some(Self::lit(lit, sp)))
    }

    fn datatable(&mut self, span: Span) -> Result<Expr> {
        self.bump();
        self.expect_sym("(")?;
        let mut columns = Vec::new();
        loop {
            let name = self.ident()?;
            self.expect_sym(":")?;
            let t = self.ident()?;
            let ty =
                type_name(&t.name).ok_or_else(|| KqlError::syntax(t.span, format!("unknown type '{}'", t.name)))?;
            columns.push((name, ty));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        self.expect_sym("[")?;
        let mut values = Vec::new();
        if !self.is_sym("]") {
            loop {
                values.push(self.expr()?);
                if !self.eat_sym(",") || self.is_sym("]") {
                    break;
                }
            }
        }
        let end = self.expect_sym("]")?;
        Ok(Expr { kind: ExprKind::Datatable { columns, values }, span: span.to(end) })
    }

    /// A JSON-like value inside `dynamic(...)`.
    fn json_value(&mut self) -> Result<Json> {
        self.enter()?;
        let r = self.json_value_inner();
        self.depth -= 1;
        r
    }

    fn json_value_inner(&mut self) -> Result<Json> {
        let t = self.bump();
        Ok(match t.tok {
            Tok::Ident(w) if w == "null" => Json::Null,
            Tok::Ident(w) if w == "true" => Json::Bool(true),
            Tok::Ident(w) if w == "false" => Json::Bool(false),
            Tok::Long(v) => Json::from(v),
            Tok::Real(v) => serde_json::Number::from_f64(v).map(Json::Number).unwrap_or(Json::Null),
            Tok::Str(s) => Json::String(s),
            Tok::DateTime(raw) => {
                Json::String(parse_datetime(&raw).map(crate::timefmt::format_datetime).unwrap_or(raw))
            }
            Tok::TimeSpan(ns) => Json::String(crate::timefmt::format_timespan(ns)),
            Tok::Sym("-") => match self.bump().tok {
                Tok::Long(v) => Json::from(-v),
                Tok::Real(v) => serde_json::Number::from_f64(-v).map(Json::Number).unwrap_or(Json::Null),
                _ => return Err(KqlError::syntax(t.span, "expected a number after '-'")),
            },
            Tok::Sym("[") => {
                let mut arr = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        arr.push(self.json_value()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Json::Array(arr)
            }
            Tok::Sym("{") => {
                let mut obj = serde_json::Map::new();
                if !self.eat_sym("}") {
                    loop {
                        let k = match self.bump().tok {
                            Tok::Str(s) | Tok::Ident(s) => s,
                            _ => return Err(KqlError::syntax(self.prev_span(), "expected a property name")),
                        };
                        self.expect_sym(":")?;
                        let v = self.json_value()?;
                        obj.insert(k, v);
                        if self.eat_sym("}") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Json::Object(obj)
            }
            other => {
                return Err(KqlError::syntax(
                    t.span,
                    format!("expected a dynamic value, found {}", Self::describe(&other)),
                ));
            }
        })
    }
}

/// The text of a `datetime(…)` / `timespan(…)` literal without the quotes Kusto also accepts
/// around it (`datetime('2024-01-31 10:00')`, as the portal's generated queries write it).
fn unquote(raw: &str) -> &str {
    let t = raw.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].trim();
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> Query {
        parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn parses_common_shapes() {
        ok("KubePodInventory | where TimeGenerated > ago(1h) | summarize count() by bin(TimeGenerated, 5m), Namespace");
        ok("let t = 5m; let x = dynamic({\"a\": [1, 2.5, \"s\", null]}); T | extend y = x.a[0] | project-away y");
        ok("T | join kind=leftouter hint.strategy=shuffle (U | where a == 1) on $left.A == $right.B, C | take 10");
        ok(
            "union withsource=Src T1, (T2 | where x !in~ ('a', 'b')) | mv-expand d to typeof(string) | render timechart",
        );
        ok("T | parse LogMessage with * \"id=\" Id:long \" \" Rest | sort by Id asc nulls last | top 3 by Rest desc");
        ok("datatable(a:string, b:long)[\"x\", 1, \"y\", 2] | where a between (\"a\" .. \"z\") or b !between (1 .. 2)");
        ok("let v = () { T | where x has_any ('a', 'b') }; v | serialize | extend p = prev(x)");
        ok("T // comment\n| where ['odd name'] =~ h\"x\" and not(isempty(y)) and z matches regex @\"\\d+\"");
    }

    #[test]
    fn reports_position() {
        let e = parse_query("T\n| where x ==\n| take 1").unwrap_err();
        assert_eq!(e.to_string(), "3:1: expected an expression, found '|'");
        let e = parse_query("T | frobnicate").unwrap_err();
        assert!(e.to_string().starts_with("1:5: unknown tabular operator 'frobnicate'"), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let q = format!("print {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_query(&q).unwrap_err().to_string().contains("nested too deeply"));
        let q = format!("print {}", vec!["1"; 5000].join(" + "));
        assert!(parse_query(&q).unwrap_err().to_string().contains("too many chained operators"));
        let q = format!("print {}1", "-".repeat(5000));
        assert!(parse_query(&q).is_err());
    }
}
