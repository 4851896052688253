//! Scalar expressions: names, literals, operators, dynamic member access, `in`, `between`.
//!
//! Typing follows KQL: comparing a dynamic value with a typed one converts the dynamic side;
//! `=~`/`!~`/`contains`/`has`/… are case-insensitive (UDF [`crate::udf::strings::strop`]);
//! datetime/timespan arithmetic is done on Int64 nanoseconds and cast back, so it is exact.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::expr_fn as f;
use datafusion::logical_expr::expr::{InList, InSubquery};
use datafusion::logical_expr::{Expr, Subquery, cast, lit, not};
use serde_json::Value as Json;

use super::{Binder, Frame, LetValue, Typed, did_you_mean, literal_type, literal_value};
use crate::ast::{self, BinOp, ExprKind, Literal, StrOp, StrOpKind, UnaryOp};
use crate::error::{KqlError, Result, Span};
use crate::types::{KqlType, arrow_type, is_numeric, is_textual, numeric_result};
use crate::udf;

/// The KQL type code passed to dynamic UDFs (`d` = dynamic text).
pub(crate) fn code(t: KqlType) -> &'static str {
    if t == KqlType::Dynamic { "d" } else { t.kql_name() }
}

pub(crate) fn i64e(e: Expr) -> Expr {
    cast(e, DataType::Int64)
}
pub(crate) fn as_ts(e: Expr) -> Expr {
    cast(e, arrow_type(KqlType::DateTime))
}
pub(crate) fn as_dur(e: Expr) -> Expr {
    cast(e, arrow_type(KqlType::TimeSpan))
}

/// Name KQL gives an unnamed expression column, when it has one.
pub(crate) fn derive_name(e: &ast::Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(n) if !n.starts_with('$') => Some(n.clone()),
        ExprKind::Member { base, name } => match &base.kind {
            ExprKind::Name(b) if b.starts_with('$') => Some(name.name.clone()),
            _ => Some(format!("{}_{}", derive_name(base)?, name.name)),
        },
        ExprKind::Index { base, index } => {
            let b = derive_name(base)?;
            match &index.kind {
                ExprKind::Literal(Literal::String(s)) => Some(format!("{b}_{s}")),
                ExprKind::Literal(Literal::Long(i)) => Some(format!("{b}_{i}")),
                _ => None,
            }
        }
        ExprKind::Call { name, args } => {
            const PASS: &[&str] = &[
                "bin",
                "floor",
                "bin_at",
                "tostring",
                "tolong",
                "toint",
                "todouble",
                "toreal",
                "todecimal",
                "todatetime",
                "totimespan",
                "tobool",
                "todynamic",
                "parse_json",
                "tolower",
                "toupper",
                "round",
                "startofday",
                "startofweek",
                "startofmonth",
                "startofyear",
                "ceiling",
                "abs",
                "trim",
            ];
            if PASS.contains(&name.name.as_str()) { args.iter().find_map(derive_name) } else { None }
        }
        _ => None,
    }
}

impl Binder<'_> {
    /// Binds a scalar expression against the columns of `fr`.
    pub(crate) fn scalar(&mut self, e: &ast::Expr, fr: &Frame) -> Result<Typed> {
        let t = self.scalar_inner(e, fr)?;
        Ok(if t.name.is_none() { t.named(derive_name(e)) } else { t })
    }

    fn scalar_inner(&mut self, e: &ast::Expr, fr: &Frame) -> Result<Typed> {
        match &e.kind {
            ExprKind::Literal(l) => Ok(self.literal(l)),
            ExprKind::Name(n) => self.name_ref(n, e.span, fr),
            ExprKind::Star => Err(KqlError::binding(
                e.span,
                "'*' is only allowed in count(*), arg_max(x, *), distinct * and 'where * has …'",
            )),
            ExprKind::Member { .. } | ExprKind::Index { .. } => self.member(e, fr),
            ExprKind::Call { name, args } => self.call(name, args, e.span, fr),
            ExprKind::Unary { op, expr } => {
                let t = self.scalar(expr, fr)?;
                match (op, t.ty) {
                    (UnaryOp::Plus, _) => Ok(t),
                    (UnaryOp::Neg, ty) if is_numeric(ty) => Ok(Typed::new(Expr::Negative(Box::new(t.expr)), ty)),
                    (UnaryOp::Neg, KqlType::TimeSpan) => {
                        Ok(Typed::new(as_dur(Expr::Negative(Box::new(i64e(t.expr)))), KqlType::TimeSpan))
                    }
                    (UnaryOp::Neg, KqlType::Dynamic) => {
                        Ok(Typed::new(Expr::Negative(Box::new(self.convert(t, KqlType::Real))), KqlType::Real))
                    }
                    (_, ty) => Err(KqlError::binding(e.span, format!("cannot negate a {ty} value"))),
                }
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, e.span, fr),
            ExprKind::In { expr, list, negated, case_insensitive } => {
                self.in_list(expr, list, *negated, *case_insensitive, e.span, fr)
            }
            ExprKind::Between { expr, low, high, negated } => {
                let x = self.scalar(expr, fr)?;
                let lo = self.scalar(low, fr)?;
                let mut hi = self.scalar(high, fr)?;
                if x.ty == KqlType::DateTime && hi.ty == KqlType::TimeSpan {
                    hi = self.arith(BinOp::Add, lo.clone(), hi, e.span)?;
                }
                let ge = self.compare(BinOp::Ge, x.clone(), lo, e.span)?;
                let le = self.compare(BinOp::Le, x, hi, e.span)?;
                let both = ge.and(le);
                Ok(Typed::new(if *negated { not(both) } else { both }, KqlType::Bool))
            }
            ExprKind::Pipe { .. }
            | ExprKind::Union(_)
            | ExprKind::Datatable { .. }
            | ExprKind::Print(_)
            | ExprKind::Search(_)
            | ExprKind::Function(_)
            | ExprKind::Range { .. } => Err(KqlError::binding(
                e.span,
                "a tabular expression cannot be used as a value here (use toscalar(...) or 'in (...)')",
            )),
        }
    }

    pub(crate) fn literal(&self, l: &Literal) -> Typed {
        let v = literal_value(l, self.opts.now_ns);
        let l = if *l == Literal::DateTimeNow { Literal::DateTime(self.opts.now_ns) } else { l.clone() };
        Typed { expr: lit(v), ty: literal_type(&l), name: None, lit: Some(l) }
    }

    fn name_ref(&mut self, n: &str, span: Span, fr: &Frame) -> Result<Typed> {
        if let Some(i) = fr.find(n) {
            return Ok(Typed::new(fr.col_expr(i), fr.cols[i].ty).named(Some(n.to_string())));
        }
        match self.lookup_let(n) {
            Some(LetValue::Scalar(t)) => return Ok(t.clone()),
            Some(LetValue::Tabular(_)) => {
                return Err(KqlError::binding(
                    span,
                    format!("'{n}' is a tabular let; use toscalar({n}) or 'x in ({n})' to use it as a value"),
                ));
            }
            Some(LetValue::Function { .. }) => {
                return Err(KqlError::binding(span, format!("'{n}' is a function; call it as {n}(…)")));
            }
            None => {}
        }
        if let Some(t) = self.standard_column(n, fr) {
            return Ok(t);
        }
        let mut cands: Vec<String> = fr.cols.iter().map(|c| c.name.clone()).collect();
        for s in &self.scopes {
            cands.extend(s.iter().filter(|(_, v)| matches!(v, LetValue::Scalar(_))).map(|(k, _)| k.clone()));
        }
        let hint = did_you_mean(n, cands.iter().map(|s| s.as_str()));
        Err(KqlError::binding(span, format!("column '{n}' not found in {}{hint}", fr.source)))
    }

    /// `d.a.b`, `d["x"][0]` → `kql_dyn_get(d, "a", "b")`.
    fn member(&mut self, e: &ast::Expr, fr: &Frame) -> Result<Typed> {
        let mut path: Vec<&ast::Expr> = Vec::new();
        let mut names: Vec<Option<Literal>> = Vec::new();
        let mut cur = e;
        loop {
            match &cur.kind {
                ExprKind::Member { base, name } => {
                    names.push(Some(Literal::String(name.name.clone())));
                    path.push(cur);
                    cur = base;
                }
                ExprKind::Index { base, index } => {
                    names.push(match &index.kind {
                        ExprKind::Literal(l @ (Literal::String(_) | Literal::Long(_))) => Some(l.clone()),
                        _ => None,
                    });
                    path.push(index);
                    cur = base;
                }
                _ => break,
            }
        }
        if let ExprKind::Name(b) = &cur.kind
            && (b == "$left" || b == "$right")
        {
            return Err(KqlError::binding(cur.span, format!("'{b}' is only allowed in a join's 'on' clause")));
        }
        let base = self.scalar(cur, fr)?;
        if !is_textual(base.ty) {
            return Err(KqlError::binding(
                cur.span,
                format!("member access needs a dynamic value, but this is {}", base.ty),
            ));
        }
        let mut args = vec![base.expr];
        for (lit_name, node) in names.into_iter().zip(path).rev() {
            match lit_name {
                Some(l) => args.push(lit(literal_value(&l, 0))),
                None => {
                    let t = self.scalar(node, fr)?;
                    let x = match t.ty {
                        KqlType::Long | KqlType::Int => i64e(t.expr),
                        _ => self.to_string(t),
                    };
                    args.push(x);
                }
            }
        }
        Ok(Typed::new(udf::call("kql_dyn_get", DataType::Utf8, udf::dynamic::get, args), KqlType::Dynamic))
    }

    /// Text of a value as KQL's `tostring` (never null).
    pub(crate) fn to_string(&self, t: Typed) -> Expr {
        match t.ty {
            KqlType::String | KqlType::Guid => match &t.lit {
                Some(_) => t.expr,
                None => f::coalesce(vec![t.expr, lit("")]),
            },
            ty => udf::call("kql_tostring", DataType::Utf8, udf::dynamic::tostring, vec![t.expr, lit(code(ty))]),
        }
    }

    /// Converts a value to `to` (numeric casts; text parsed; dynamic converted).
    pub(crate) fn convert(&self, t: Typed, to: KqlType) -> Expr {
        if t.ty == to {
            return t.expr;
        }
        if to == KqlType::String {
            return self.to_string(t);
        }
        if to == KqlType::Dynamic {
            return udf::call(
                "kql_to_dynamic",
                DataType::Utf8,
                udf::dynamic::to_dynamic,
                vec![t.expr, lit(code(t.ty))],
            );
        }
        if is_textual(t.ty) {
            return udf::call(
                "kql_convert",
                arrow_type(to),
                udf::dynamic::convert,
                vec![t.expr, lit(code(t.ty)), lit(to.kql_name())],
            );
        }
        match (t.ty, to) {
            (KqlType::DateTime | KqlType::TimeSpan, KqlType::Long | KqlType::Int | KqlType::Real) => {
                // ticks (100 ns), as KQL
                Expr::TryCast(datafusion::logical_expr::TryCast::new(
                    Box::new(i64e(t.expr) / lit(100i64)),
                    arrow_type(to),
                ))
            }
            (KqlType::Long | KqlType::Int | KqlType::Real, KqlType::TimeSpan) => as_dur(i64e(t.expr) * lit(100i64)),
            (KqlType::Long | KqlType::Int | KqlType::Real, KqlType::DateTime) => as_ts(i64e(t.expr) * lit(100i64)),
            _ => Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(t.expr), arrow_type(to))),
        }
    }

    fn binary(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr, span: Span, fr: &Frame) -> Result<Typed> {
        if let (BinOp::Str(sop), ExprKind::Star) = (op, &l.kind) {
            // `* has "x"`: any string-like column matches
            let rt = self.scalar(r, fr)?;
            let mut any: Option<Expr> = None;
            for (i, c) in fr.cols.iter().enumerate() {
                if !is_textual(c.ty) {
                    continue;
                }
                let lt = Typed::new(fr.col_expr(i), c.ty);
                let m = self.strop(StrOp { negated: false, ..sop }, lt, rt.clone());
                any = Some(match any {
                    Some(a) => a.or(m),
                    None => m,
                });
            }
            let e = any.unwrap_or(lit(false));
            return Ok(Typed::new(if sop.negated { not(e) } else { e }, KqlType::Bool));
        }
        if matches!(op, BinOp::HasAny | BinOp::HasAll) {
            return self.has_any_all(op, l, r, fr);
        }
        let lt = self.scalar(l, fr)?;
        let rt = self.scalar(r, fr)?;
        match op {
            BinOp::And | BinOp::Or => {
                for (t, e) in [(&lt, l), (&rt, r)] {
                    if t.ty != KqlType::Bool && t.ty != KqlType::Dynamic {
                        return Err(KqlError::binding(
                            e.span,
                            format!(
                                "'{}' needs bool operands, this is {}",
                                if op == BinOp::And { "and" } else { "or" },
                                t.ty
                            ),
                        ));
                    }
                }
                let (a, b) = (self.convert(lt, KqlType::Bool), self.convert(rt, KqlType::Bool));
                Ok(Typed::new(if op == BinOp::And { a.and(b) } else { a.or(b) }, KqlType::Bool))
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                Ok(Typed::new(self.compare(op, lt, rt, span)?, KqlType::Bool))
            }
            BinOp::EqCi | BinOp::NeCi => {
                let eq = udf::call(
                    "kql_strop",
                    DataType::Boolean,
                    udf::strings::strop,
                    vec![self.to_string(lt), self.to_string(rt), lit(udf::strings::Kind::Equals as i64), lit(0i64)],
                );
                Ok(Typed::new(if op == BinOp::NeCi { not(eq) } else { eq }, KqlType::Bool))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => self.arith(op, lt, rt, span),
            BinOp::Str(sop) => {
                let m = self.strop(StrOp { negated: false, ..sop }, lt, rt);
                Ok(Typed::new(if sop.negated { not(m) } else { m }, KqlType::Bool))
            }
            BinOp::MatchesRegex => {
                if let Some(Literal::String(p)) = &rt.lit {
                    udf::strings::check_regex(p)
                        .map_err(|m| KqlError::binding(r.span, format!("invalid regular expression: {m}")))?;
                }
                let e = f::regexp_like(self.to_string(lt), self.to_string(rt), None);
                Ok(Typed::new(f::coalesce(vec![e, lit(false)]), KqlType::Bool))
            }
            BinOp::HasAny | BinOp::HasAll => unreachable_has(span),
        }
    }

    /// A string predicate call (never null).
    pub(crate) fn strop(&self, op: StrOp, hay: Typed, needle: Typed) -> Expr {
        let kind = match op.kind {
            StrOpKind::Contains => udf::strings::Kind::Contains,
            StrOpKind::Has => udf::strings::Kind::Has,
            StrOpKind::HasPrefix => udf::strings::Kind::HasPrefix,
            StrOpKind::HasSuffix => udf::strings::Kind::HasSuffix,
            StrOpKind::StartsWith => udf::strings::Kind::StartsWith,
            StrOpKind::EndsWith => udf::strings::Kind::EndsWith,
        };
        // a dynamic haystack is passed as its JSON text; the UDF unquotes strings lazily
        // (without a per-row tostring allocation)
        let (hay, dynamic) = if hay.ty == KqlType::Dynamic { (hay.expr, 1i64) } else { (self.to_string(hay), 0) };
        udf::call(
            "kql_strop",
            DataType::Boolean,
            udf::strings::strop,
            vec![hay, self.to_string(needle), lit(kind as i64), lit(i64::from(op.cs)), lit(dynamic)],
        )
    }

    fn has_any_all(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr, fr: &Frame) -> Result<Typed> {
        let lt = self.scalar(l, fr)?;
        let items = self.list_items(std::slice::from_ref(r), fr, true)?;
        if items.is_empty() {
            return Ok(Typed::new(lit(op == BinOp::HasAll), KqlType::Bool));
        }
        let sop = StrOp { kind: StrOpKind::Has, cs: false, negated: false };
        let mut acc: Option<Expr> = None;
        for it in items {
            let m = self.strop(sop, lt.clone(), it);
            acc = Some(match acc {
                None => m,
                Some(a) if op == BinOp::HasAny => a.or(m),
                Some(a) => a.and(m),
            });
        }
        Ok(Typed::new(acc.unwrap_or(lit(false)), KqlType::Bool))
    }

    /// Elements of an `in (...)` / `has_any (...)` list: literal dynamic arrays (also via a
    /// scalar let or `pack_array`) are expanded into their elements.
    fn list_items(&mut self, list: &[ast::Expr], fr: &Frame, unwrap_pack: bool) -> Result<Vec<Typed>> {
        let mut out = Vec::new();
        for e in list {
            if unwrap_pack
                && let ExprKind::Call { name, args } = &e.kind
                && name.name == "pack_array"
            {
                out.extend(self.list_items(args, fr, false)?);
                continue;
            }
            let t = self.scalar(e, fr)?;
            match &t.lit {
                Some(Literal::Dynamic(Json::Array(items))) => {
                    for j in items {
                        let l = match j {
                            Json::String(s) => Literal::String(s.clone()),
                            Json::Bool(b) => Literal::Bool(*b),
                            Json::Number(n) if n.is_i64() => Literal::Long(n.as_i64().unwrap_or_default()),
                            Json::Number(n) => Literal::Real(n.as_f64().unwrap_or_default()),
                            Json::Null => continue,
                            other => Literal::String(other.to_string()),
                        };
                        out.push(self.literal(&l));
                    }
                }
                _ => out.push(t),
            }
        }
        Ok(out)
    }

    fn in_list(
        &mut self,
        x: &ast::Expr,
        list: &[ast::Expr],
        negated: bool,
        ci: bool,
        span: Span,
        fr: &Frame,
    ) -> Result<Typed> {
        let xt = self.scalar(x, fr)?;
        if list.len() == 1 && self.is_tabular(&list[0]) {
            let sub = self.tabular(&list[0])?;
            let Some(first) = sub.cols.first().cloned() else {
                return Err(KqlError::binding(list[0].span, "the tabular expression in 'in (...)' has no columns"));
            };
            let mut col = Typed::new(sub.col_expr(0), first.ty);
            let mut xe = xt.expr.clone();
            if ci {
                col.expr = f::lower(self.to_string(col.clone()));
                xe = f::lower(self.to_string(xt.clone()));
            } else if first.ty != xt.ty {
                let target = if is_textual(first.ty) || is_textual(xt.ty) {
                    KqlType::String
                } else {
                    numeric_or(first.ty, xt.ty)
                };
                xe = self.convert(xt.clone(), target);
                col.expr = self.convert(col.clone(), target);
            }
            let plan = datafusion::logical_expr::LogicalPlanBuilder::from(sub.plan.clone())
                .project(vec![col.expr.alias("__in")])
                .and_then(|b| b.build())
                .map_err(|e| super::df_err(span, e))?;
            let sq = Subquery { subquery: Arc::new(plan), outer_ref_columns: vec![], spans: Default::default() };
            return Ok(Typed::new(Expr::InSubquery(InSubquery::new(Box::new(xe), sq, negated)), KqlType::Bool));
        }
        let items = self.list_items(list, fr, false)?;
        if items.is_empty() {
            return Ok(Typed::new(lit(negated), KqlType::Bool));
        }
        let any_text = items.iter().any(|t| is_textual(t.ty)) || is_textual(xt.ty);
        let (xe, items): (Expr, Vec<Expr>) = if ci {
            (f::lower(self.to_string(xt)), items.into_iter().map(|t| f::lower(self.to_string(t))).collect())
        } else if xt.ty == KqlType::Dynamic || (any_text && !items.iter().all(|t| t.ty == xt.ty)) {
            (self.to_string(xt), items.into_iter().map(|t| self.to_string(t)).collect())
        } else if xt.ty == KqlType::TimeSpan {
            (i64e(xt.expr), items.into_iter().map(|t| i64e(t.expr)).collect())
        } else {
            let xe =
                if negated && matches!(xt.ty, KqlType::String | KqlType::Guid) { self.to_string(xt) } else { xt.expr };
            (xe, items.into_iter().map(|t| t.expr).collect())
        };
        Ok(Typed::new(Expr::InList(InList::new(Box::new(xe), items, negated)), KqlType::Bool))
    }

    /// A comparison with KQL's coercions.
    pub(crate) fn compare(&self, op: BinOp, a: Typed, b: Typed, span: Span) -> Result<Expr> {
        // KQL strings are never null: a null string compares as "" for `!=` and `== ""`
        let strings =
            matches!(a.ty, KqlType::String | KqlType::Guid) && matches!(b.ty, KqlType::String | KqlType::Guid);
        let empty_lit = |t: &Typed| matches!(&t.lit, Some(Literal::String(s)) if s.is_empty());
        let (a, b) = if strings && (op == BinOp::Ne || empty_lit(&a) || empty_lit(&b)) {
            let (ea, eb) = (self.to_string(a.clone()), self.to_string(b.clone()));
            (Typed { expr: ea, ..a }, Typed { expr: eb, ..b })
        } else {
            (a, b)
        };
        let (a, b) = self.unify_for_compare(a, b, span)?;
        Ok(match op {
            BinOp::Eq => a.eq(b),
            BinOp::Ne => a.not_eq(b),
            BinOp::Lt => a.lt(b),
            BinOp::Le => a.lt_eq(b),
            BinOp::Gt => a.gt(b),
            _ => a.gt_eq(b),
        })
    }

    fn unify_for_compare(&self, a: Typed, b: Typed, span: Span) -> Result<(Expr, Expr)> {
        use KqlType::*;
        let (ta, tb) = (a.ty, b.ty);
        // untyped null literal adapts to the other side
        if matches!(a.lit, Some(Literal::Null)) || matches!(b.lit, Some(Literal::Null)) {
            return Ok((a.expr, b.expr));
        }
        Ok(match (ta, tb) {
            _ if ta == tb && ta != TimeSpan => (a.expr, b.expr),
            (TimeSpan, TimeSpan) => (i64e(a.expr), i64e(b.expr)),
            (Dynamic, Dynamic) => (a.expr, b.expr),
            (Dynamic, t) => (self.convert(a, dyn_target(t)), b.expr),
            (t, Dynamic) => (a.expr, self.convert(b, dyn_target(t))),
            (x, y) if is_numeric(x) && is_numeric(y) => (a.expr, b.expr),
            (DateTime, String)
            | (String, DateTime)
            | (TimeSpan, String)
            | (String, TimeSpan)
            | (Bool, String)
            | (String, Bool) => {
                let target = if ta == String { tb } else { ta };
                let conv = |t: Typed| if t.ty == String { self.convert(t, target) } else { t.expr };
                let (ea, eb) = (conv(a), conv(b));
                if target == TimeSpan { (i64e(ea), i64e(eb)) } else { (ea, eb) }
            }
            (String, Guid) | (Guid, String) => (a.expr, b.expr),
            (Bool, y) if is_numeric(y) => (cast(a.expr, DataType::Int64), b.expr),
            (x, Bool) if is_numeric(x) => (a.expr, cast(b.expr, DataType::Int64)),
            _ => return Err(KqlError::binding(span, format!("cannot compare {ta} with {tb}"))),
        })
    }

    /// Arithmetic with datetime/timespan rules.
    pub(crate) fn arith(&self, op: BinOp, a: Typed, b: Typed, span: Span) -> Result<Typed> {
        use KqlType::*;
        let sym = match op {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            _ => "%",
        };
        let bad = |x: KqlType, y: KqlType| KqlError::binding(span, format!("cannot apply '{sym}' to {x} and {y}"));
        let num = |e: Expr, l: Expr| -> Expr {
            match op {
                BinOp::Add => e + l,
                BinOp::Sub => e - l,
                BinOp::Mul => e * l,
                BinOp::Div => e / l,
                _ => e % l,
            }
        };
        let (ta, tb) = (a.ty, b.ty);
        let a = if ta == Dynamic { Typed::new(self.convert(a, Real), Real) } else { a };
        let b = if tb == Dynamic { Typed::new(self.convert(b, Real), Real) } else { b };
        let (ta, tb) = (a.ty, b.ty);
        Ok(match (ta, tb) {
            (x, y) if is_numeric(x) && is_numeric(y) => Typed::new(num(a.expr, b.expr), numeric_result(x, y)),
            (DateTime, DateTime) if op == BinOp::Sub => Typed::new(as_dur(i64e(a.expr) - i64e(b.expr)), TimeSpan),
            (DateTime, TimeSpan) if matches!(op, BinOp::Add | BinOp::Sub) => {
                Typed::new(as_ts(num(i64e(a.expr), i64e(b.expr))), DateTime)
            }
            (TimeSpan, DateTime) if op == BinOp::Add => Typed::new(as_ts(i64e(a.expr) + i64e(b.expr)), DateTime),
            (TimeSpan, TimeSpan) if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mod) => {
                Typed::new(as_dur(num(i64e(a.expr), i64e(b.expr))), TimeSpan)
            }
            (TimeSpan, TimeSpan) if op == BinOp::Div => Typed::new(
                cast(a.expr, DataType::Int64).cast_to_f64() / cast(b.expr, DataType::Int64).cast_to_f64(),
                Real,
            ),
            (TimeSpan, y) if is_numeric(y) && matches!(op, BinOp::Mul | BinOp::Div) => {
                let v = num(cast(i64e(a.expr), DataType::Float64), cast(b.expr, DataType::Float64));
                Typed::new(as_dur(cast(v, DataType::Int64)), TimeSpan)
            }
            (x, TimeSpan) if is_numeric(x) && op == BinOp::Mul => {
                let v = cast(a.expr, DataType::Float64) * cast(i64e(b.expr), DataType::Float64);
                Typed::new(as_dur(cast(v, DataType::Int64)), TimeSpan)
            }
            _ => return Err(bad(ta, tb)),
        })
    }
}

trait CastF64 {
    fn cast_to_f64(self) -> Expr;
}
impl CastF64 for Expr {
    fn cast_to_f64(self) -> Expr {
        cast(self, DataType::Float64)
    }
}

fn dyn_target(t: KqlType) -> KqlType {
    match t {
        KqlType::Int | KqlType::Long | KqlType::Real => KqlType::Real,
        KqlType::Guid => KqlType::String,
        other => other,
    }
}

fn numeric_or(a: KqlType, b: KqlType) -> KqlType {
    if is_numeric(a) && is_numeric(b) { numeric_result(a, b) } else { a }
}

fn unreachable_has(span: Span) -> Result<Typed> {
    Err(KqlError::binding(span, "has_any/has_all need a list"))
}
