//! Tabular operators: each takes the input [`Frame`] and returns the output frame.
//!
//! Naming rules copied from KQL: `extend` replaces an existing column in place; `project`
//! names unnamed expressions after their column (`a.b` → `a_b`) or `Column1…`; `join` suffixes
//! clashing right-side names with `1` (then `2`, …); `union` gives same-named columns of
//! different types a type suffix (`UpTimeMs_long`); `count` yields `Count`.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::UnnestOptions;
use datafusion::common::{Column, JoinType};
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, cast, lit};

use super::expr::derive_name;
use super::{Binder, Col, Frame, Typed, df_err};
use crate::ast::{self, ExprKind, JoinKind, Literal, NamedExpr, OpKind, Operator, ParsePart, UnionOp};
use crate::error::{KqlError, Result, Span};
use crate::types::{KqlType, arrow_type, is_textual};
use crate::udf;

/// Matches a name against a pattern with `*` wildcards.
pub(crate) fn wildcard_match(pat: &str, name: &str) -> bool {
    if !pat.contains('*') {
        return pat == name;
    }
    let parts: Vec<&str> = pat.split('*').collect();
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(k) => rest = &rest[k + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn build(b: datafusion::error::Result<LogicalPlanBuilder>, span: Span) -> Result<LogicalPlan> {
    b.and_then(|b| b.build()).map_err(|e| df_err(span, e))
}

impl Binder<'_> {
    pub(crate) fn operator(&mut self, fr: Frame, op: &Operator) -> Result<Frame> {
        let span = op.span;
        match &op.kind {
            OpKind::Where(e) => {
                let t = self.scalar(e, &fr)?;
                if t.ty != KqlType::Bool && t.ty != KqlType::Dynamic {
                    return Err(KqlError::binding(e.span, format!("where needs a bool predicate, this is {}", t.ty)));
                }
                let pred = self.convert(t, KqlType::Bool);
                let (plan, had_windows) = self.apply_windows(fr.plan.clone(), span)?;
                let keep: Vec<Expr> = (0..fr.cols.len()).map(|i| fr.col_expr(i)).collect();
                let mut b = LogicalPlanBuilder::from(plan).filter(pred);
                if had_windows {
                    b = b.and_then(|b| b.project(keep));
                }
                Ok(fr.with_plan(build(b, span)?, fr.cols.clone()))
            }
            OpKind::Project(list) => self.project(fr, list, span, false),
            OpKind::Extend(list) | OpKind::Serialize(list) => {
                self.ordered |= matches!(op.kind, OpKind::Serialize(_));
                let mut f = fr;
                let mut column_n = 0;
                for item in list {
                    f = self.extend_one(f, item, span, &mut column_n)?;
                }
                Ok(f)
            }
            OpKind::ProjectAway(pats) | OpKind::ProjectKeep(pats) | OpKind::ProjectReorder(pats) => {
                let mut matched = vec![false; fr.cols.len()];
                let mut order = Vec::new();
                for p in pats {
                    let mut any = false;
                    for (i, c) in fr.cols.iter().enumerate() {
                        if wildcard_match(&p.name, &c.name) {
                            any = true;
                            if !matched[i] {
                                order.push(i);
                            }
                            matched[i] = true;
                        }
                    }
                    if !any && !p.name.contains('*') {
                        let hint = super::did_you_mean(&p.name, fr.cols.iter().map(|c| c.name.as_str()));
                        return Err(KqlError::binding(
                            p.span,
                            format!("column '{}' not found in {}{hint}", p.name, fr.source),
                        ));
                    }
                }
                let idx: Vec<usize> = match &op.kind {
                    OpKind::ProjectAway(_) => (0..fr.cols.len()).filter(|i| !matched[*i]).collect(),
                    OpKind::ProjectKeep(_) => (0..fr.cols.len()).filter(|i| matched[*i]).collect(),
                    _ => order.iter().copied().chain((0..fr.cols.len()).filter(|i| !matched[*i])).collect(),
                };
                self.select(fr, &idx, span)
            }
            OpKind::ProjectRename(pairs) => {
                let mut cols = fr.cols.clone();
                for (new, old) in pairs {
                    let Some(i) = fr.find(&old.name) else {
                        let hint = super::did_you_mean(&old.name, fr.cols.iter().map(|c| c.name.as_str()));
                        return Err(KqlError::binding(
                            old.span,
                            format!("column '{}' not found in {}{hint}", old.name, fr.source),
                        ));
                    };
                    cols[i].name = new.name.clone();
                }
                check_unique(&cols, span)?;
                let exprs: Vec<Expr> =
                    cols.iter().enumerate().map(|(i, c)| fr.col_expr(i).alias(c.name.clone())).collect();
                let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).project(exprs), span)?;
                Ok(fr.with_plan(plan, cols))
            }
            OpKind::Summarize { aggs, by } => {
                if aggs.is_empty() && by.is_empty() {
                    return Err(KqlError::syntax(span, "summarize needs aggregates or 'by' keys"));
                }
                self.summarize(fr, aggs, by, span)
            }
            OpKind::Sort(keys) => {
                let sorts = self.sort_exprs(&fr, keys)?;
                let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).sort(sorts), span)?;
                Ok(fr.with_plan(plan, fr.cols.clone()))
            }
            OpKind::Top { count, key } => {
                let n = self.count_literal(count, &fr)?;
                let sorts = self.sort_exprs(&fr, std::slice::from_ref(key))?;
                let plan = build(
                    LogicalPlanBuilder::from(fr.plan.clone())
                        .sort_with_limit(sorts, Some(n))
                        .and_then(|b| b.limit(0, Some(n))),
                    span,
                )?;
                Ok(fr.with_plan(plan, fr.cols.clone()))
            }
            OpKind::Take(count) => {
                let n = self.count_literal(count, &fr)?;
                let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).limit(0, Some(n)), span)?;
                Ok(fr.with_plan(plan, fr.cols.clone()))
            }
            OpKind::Distinct(list) => {
                if list.is_empty() {
                    let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).distinct(), span)?;
                    return Ok(fr.with_plan(plan, fr.cols.clone()));
                }
                let by: Vec<NamedExpr> = list.clone();
                self.summarize(fr, &[], &by, span)
            }
            OpKind::Count => {
                let plan = build(
                    LogicalPlanBuilder::from(fr.plan.clone())
                        .aggregate(Vec::<Expr>::new(), vec![agg::count(lit(1i64)).alias("Count")]),
                    span,
                )?;
                Ok(fr.with_plan(plan, vec![Col { name: "Count".into(), ty: KqlType::Long }]))
            }
            OpKind::Join { kind, right, on } => {
                let right = self.tabular(right)?;
                self.join(fr, *kind, right, on, span, false)
            }
            OpKind::Lookup { inner, right, on } => {
                let right = self.tabular(right)?;
                let kind = if *inner { JoinKind::Inner } else { JoinKind::LeftOuter };
                self.join(fr, kind, right, on, span, true)
            }
            OpKind::Union(u) => self.union(Some(fr), u),
            OpKind::Search(s) => self.search_filter(fr, s),
            OpKind::TopNested(levels) => self.top_nested(fr, levels, span),
            OpKind::MakeSeries(ms) => self.make_series(fr, ms, span),
            OpKind::MvApply { items, subquery } => self.mv_apply(fr, items, subquery, span),
            OpKind::BagUnpack { column, prefix, conflict, ignored, schema, schema_keeps_input } => {
                let op = super::bagunpack::BagUnpackOp {
                    column,
                    prefix: prefix.as_deref(),
                    conflict: *conflict,
                    ignored,
                    schema: schema.as_deref(),
                    schema_keeps_input: *schema_keeps_input,
                };
                self.bag_unpack(fr, &op, span)
            }
            OpKind::MvExpand { cols, item_index, limit } => {
                if let Some(ix) = item_index {
                    return Err(KqlError::unsupported(ix.span, "mv-expand with_itemindex is not supported"));
                }
                if let Some(l) = limit {
                    return Err(KqlError::unsupported(l.span, "mv-expand limit is not supported"));
                }
                self.mv_expand(fr, cols, span)
            }
            OpKind::Parse { expr, parts, regex } => self.parse_op(fr, expr, parts, *regex, span),
            OpKind::Render { chart } => {
                self.render = Some(chart.clone());
                Ok(fr)
            }
            OpKind::Getschema => {
                let rows: Vec<Vec<Expr>> = fr
                    .cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let dt = format!(
                            "System.{}",
                            match c.ty {
                                KqlType::String => "String",
                                KqlType::Long => "Int64",
                                KqlType::Int => "Int32",
                                KqlType::Real => "Double",
                                KqlType::Bool => "Boolean",
                                KqlType::DateTime => "DateTime",
                                KqlType::TimeSpan => "TimeSpan",
                                KqlType::Guid => "Guid",
                                KqlType::Dynamic => "Object",
                            }
                        );
                        vec![lit(c.name.clone()), lit(i as i32), lit(dt), lit(c.ty.kql_name())]
                    })
                    .collect();
                let cols = vec![
                    Col { name: "ColumnName".into(), ty: KqlType::String },
                    Col { name: "ColumnOrdinal".into(), ty: KqlType::Int },
                    Col { name: "DataType".into(), ty: KqlType::String },
                    Col { name: "ColumnType".into(), ty: KqlType::String },
                ];
                if rows.is_empty() {
                    let ct = crate::catalog::CatalogTable::empty(
                        "getschema",
                        &cols.iter().map(|c| (c.name.clone(), c.ty)).collect::<Vec<_>>(),
                    );
                    let plan = build(LogicalPlanBuilder::scan("getschema", ct.source, None), span)?;
                    return Ok(fr.with_plan(plan, cols));
                }
                let b = LogicalPlanBuilder::values(rows).and_then(|b| {
                    let s = b.schema().clone();
                    let ex: Vec<Expr> = (0..cols.len())
                        .map(|i| Expr::Column(Column::from(s.qualified_field(i))).alias(cols[i].name.clone()))
                        .collect();
                    b.project(ex)
                });
                Ok(fr.with_plan(build(b, span)?, cols))
            }
            OpKind::As(name) => {
                let mut f = fr;
                f.source = name.name.clone();
                Ok(f)
            }
        }
    }

    fn count_literal(&mut self, e: &ast::Expr, fr: &Frame) -> Result<usize> {
        let t = self.scalar(e, fr)?;
        match t.lit {
            Some(Literal::Long(n)) if n >= 0 => Ok(n as usize),
            Some(Literal::Int(n)) if n >= 0 => Ok(n as usize),
            _ => Err(KqlError::binding(e.span, "expected a non-negative long literal row count")),
        }
    }

    pub(crate) fn sort_exprs(
        &mut self,
        fr: &Frame,
        keys: &[ast::SortKey],
    ) -> Result<Vec<datafusion::logical_expr::SortExpr>> {
        let mut out = Vec::new();
        for k in keys {
            let t = self.scalar(&k.expr, fr)?;
            if !self.windows.is_empty() {
                self.windows.clear();
                return Err(KqlError::unsupported(
                    k.expr.span,
                    "window functions are not allowed in sort keys; extend a column first",
                ));
            }
            out.push(t.expr.sort(!k.desc, k.nulls_first));
        }
        Ok(out)
    }

    /// Adds a Window node for the window functions collected while binding one operator.
    fn apply_windows(&mut self, plan: LogicalPlan, span: Span) -> Result<(LogicalPlan, bool)> {
        if self.windows.is_empty() {
            return Ok((plan, false));
        }
        let ws: Vec<Expr> = self.windows.drain(..).map(|(n, e)| e.alias(n)).collect();
        Ok((build(LogicalPlanBuilder::from(plan).window(ws), span)?, true))
    }

    /// Keeps columns `idx` (in that order).
    pub(crate) fn select(&self, fr: Frame, idx: &[usize], span: Span) -> Result<Frame> {
        let exprs: Vec<Expr> = idx.iter().map(|i| fr.col_expr(*i)).collect();
        let cols = idx.iter().map(|i| fr.cols[*i].clone()).collect();
        let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).project(exprs), span)?;
        Ok(fr.with_plan(plan, cols))
    }

    /// `project` (and `print`): a new column list.
    pub(crate) fn project(&mut self, fr: Frame, list: &[NamedExpr], span: Span, print: bool) -> Result<Frame> {
        let mut exprs = Vec::new();
        let mut cols = Vec::new();
        let mut column_n = 0;
        for (i, item) in list.iter().enumerate() {
            let t = self.scalar(&item.expr, &fr)?;
            let name = match (&item.name, &t.name) {
                (Some(n), _) => n.name.clone(),
                (None, Some(n)) if !print || matches!(item.expr.kind, ExprKind::Name(_)) => n.clone(),
                _ if print => format!("print_{i}"),
                _ => {
                    column_n += 1;
                    format!("Column{column_n}")
                }
            };
            exprs.push(t.expr.alias(name.clone()));
            cols.push(Col { name, ty: t.ty });
        }
        check_unique(&cols, span)?;
        let (plan, _) = self.apply_windows(fr.plan.clone(), span)?;
        let plan = build(LogicalPlanBuilder::from(plan).project(exprs), span)?;
        Ok(fr.with_plan(plan, cols))
    }

    /// One `extend` item: replaces a same-named column in place or appends.
    fn extend_one(&mut self, fr: Frame, item: &NamedExpr, span: Span, column_n: &mut usize) -> Result<Frame> {
        let t = self.scalar(&item.expr, &fr)?;
        let name = match &item.name {
            Some(n) => n.name.clone(),
            None => match (&t.name, &item.expr.kind) {
                // `extend x` of an existing column is a no-op rename to itself
                (Some(n), ExprKind::Name(_)) => n.clone(),
                _ => {
                    *column_n += 1;
                    let mut k = *column_n;
                    while fr.find(&format!("Column{k}")).is_some() {
                        k += 1;
                    }
                    *column_n = k;
                    format!("Column{k}")
                }
            },
        };
        let (plan, _) = self.apply_windows(fr.plan.clone(), span)?;
        let mut exprs = Vec::new();
        let mut cols = fr.cols.clone();
        let mut replaced = false;
        for (i, c) in fr.cols.iter().enumerate() {
            if c.name == name {
                exprs.push(t.expr.clone().alias(name.clone()));
                cols[i].ty = t.ty;
                replaced = true;
            } else {
                exprs.push(fr.col_expr(i).alias(c.name.clone()));
            }
        }
        if !replaced {
            exprs.push(t.expr.alias(name.clone()));
            cols.push(Col { name, ty: t.ty });
        }
        let plan = build(LogicalPlanBuilder::from(plan).project(exprs), span)?;
        Ok(fr.with_plan(plan, cols))
    }

    /// `join` (and `lookup`, which keeps one copy of the key columns: the left side's).
    fn join(
        &mut self,
        left: Frame,
        kind: JoinKind,
        right: Frame,
        on: &[ast::JoinCond],
        span: Span,
        lookup: bool,
    ) -> Result<Frame> {
        let mut lk = Vec::new();
        let mut rk = Vec::new();
        for c in on {
            let li = left.find(&c.left.name).ok_or_else(|| {
                let hint = super::did_you_mean(&c.left.name, left.cols.iter().map(|c| c.name.as_str()));
                KqlError::binding(
                    c.left.span,
                    format!("join key '{}' not found in the left side ({}){hint}", c.left.name, left.source),
                )
            })?;
            let ri = right.find(&c.right.name).ok_or_else(|| {
                let hint = super::did_you_mean(&c.right.name, right.cols.iter().map(|c| c.name.as_str()));
                KqlError::binding(
                    c.right.span,
                    format!("join key '{}' not found in the right side ({}){hint}", c.right.name, right.source),
                )
            })?;
            lk.push(li);
            rk.push(ri);
        }
        // innerunique: keep one left row per key first
        let left = if kind == JoinKind::InnerUnique {
            let keys: Vec<Expr> = lk.iter().map(|i| left.col_expr(*i)).collect();
            let rn = datafusion::functions_window::expr_fn::row_number()
                .partition_by(keys)
                .build()
                .map_err(|e| df_err(span, e))?
                .alias("__rn");
            let keep: Vec<Expr> = (0..left.cols.len()).map(|i| left.col_expr(i)).collect();
            let plan = build(
                LogicalPlanBuilder::from(left.plan.clone())
                    .window(vec![rn])
                    .and_then(|b| b.filter(Expr::Column(Column::from_name("__rn")).eq(lit(1i64))))
                    .and_then(|b| b.project(keep)),
                span,
            )?;
            left.with_plan(plan, left.cols.clone())
        } else {
            left
        };
        let lp = build(LogicalPlanBuilder::from(left.plan.clone()).alias("__l"), span)?;
        let rp = build(LogicalPlanBuilder::from(right.plan.clone()).alias("__r"), span)?;
        let lref = |i: usize| Expr::Column(Column::new(Some("__l"), left.cols[i].name.clone()));
        let rref = |i: usize| Expr::Column(Column::new(Some("__r"), right.cols[i].name.clone()));
        let mut lkeys = Vec::new();
        let mut rkeys = Vec::new();
        for (li, ri) in lk.iter().zip(&rk) {
            let (lt, rt) = (left.cols[*li].ty, right.cols[*ri].ty);
            if lt == rt {
                lkeys.push(lref(*li));
                rkeys.push(rref(*ri));
            } else {
                let target = if is_textual(lt) || is_textual(rt) {
                    KqlType::String
                } else {
                    crate::types::numeric_result(lt, rt)
                };
                lkeys.push(self.convert(Typed::new(lref(*li), lt), target));
                rkeys.push(self.convert(Typed::new(rref(*ri), rt), target));
            }
        }
        let jt = match kind {
            JoinKind::InnerUnique | JoinKind::Inner => JoinType::Inner,
            JoinKind::LeftOuter => JoinType::Left,
            JoinKind::RightOuter => JoinType::Right,
            JoinKind::FullOuter => JoinType::Full,
            JoinKind::LeftAnti => JoinType::LeftAnti,
            JoinKind::LeftSemi => JoinType::LeftSemi,
            JoinKind::RightAnti => JoinType::RightAnti,
            JoinKind::RightSemi => JoinType::RightSemi,
        };
        let joined = LogicalPlanBuilder::from(lp).join_with_expr_keys(rp, jt, (lkeys, rkeys), None);
        let (exprs, cols): (Vec<Expr>, Vec<Col>) = match kind {
            JoinKind::LeftAnti | JoinKind::LeftSemi => {
                left.cols.iter().enumerate().map(|(i, c)| (lref(i).alias(c.name.clone()), c.clone())).unzip()
            }
            JoinKind::RightAnti | JoinKind::RightSemi => {
                right.cols.iter().enumerate().map(|(i, c)| (rref(i).alias(c.name.clone()), c.clone())).unzip()
            }
            _ => {
                let mut names: Vec<String> = left.cols.iter().map(|c| c.name.clone()).collect();
                let mut exprs: Vec<Expr> =
                    left.cols.iter().enumerate().map(|(i, c)| lref(i).alias(c.name.clone())).collect();
                let mut cols = left.cols.clone();
                for (i, c) in right.cols.iter().enumerate() {
                    if lookup && rk.contains(&i) {
                        continue;
                    }
                    let mut name = c.name.clone();
                    let mut k = 1;
                    while names.contains(&name) || right.cols.iter().any(|o| o.name == name && o.name != c.name) {
                        name = format!("{}{k}", c.name);
                        k += 1;
                    }
                    names.push(name.clone());
                    exprs.push(rref(i).alias(name.clone()));
                    cols.push(Col { name, ty: c.ty });
                }
                (exprs, cols)
            }
        };
        let plan = build(joined.and_then(|b| b.project(exprs)), span)?;
        Ok(Frame { plan, cols, source: "the join result".into() })
    }

    /// `union` (as a source, or `T | union …` with `first` the piped input).
    pub(crate) fn union(&mut self, first: Option<Frame>, u: &UnionOp) -> Result<Frame> {
        let mut inputs: Vec<Frame> = Vec::new();
        if let Some(f) = first {
            inputs.push(f);
        }
        for e in &u.inputs {
            match &e.kind {
                ExprKind::Name(n) if n.contains('*') => {
                    let mut names: Vec<String> =
                        self.catalog.table_names().into_iter().filter(|t| wildcard_match(n, t)).collect();
                    names.sort();
                    for t in names {
                        inputs.push(self.table_ref(&t, e.span)?);
                    }
                }
                _ => inputs.push(self.tabular(e)?),
            }
        }
        self.union_frames(inputs, u.withsource.as_ref(), u.inner, u.span)
    }

    /// Unions frames (KQL column rules); `withsource` adds the source-name column first.
    pub(crate) fn union_frames(
        &mut self,
        inputs: Vec<Frame>,
        withsource: Option<&ast::Ident>,
        inner: bool,
        span: Span,
    ) -> Result<Frame> {
        let u = UnionSpec { withsource, inner, span };
        if inputs.is_empty() {
            return Err(KqlError::binding(u.span, "union matched no tables"));
        }
        // output columns: first appearance order; type-suffixed when types differ
        let mut types: Vec<(String, Vec<KqlType>)> = Vec::new();
        for f in &inputs {
            for c in &f.cols {
                match types.iter_mut().find(|(n, _)| *n == c.name) {
                    Some((_, ts)) => {
                        if !ts.contains(&c.ty) {
                            ts.push(c.ty);
                        }
                    }
                    None => types.push((c.name.clone(), vec![c.ty])),
                }
            }
        }
        let mut out: Vec<(String, String, KqlType)> = Vec::new(); // (output, source name, type)
        for (n, ts) in &types {
            if ts.len() == 1 {
                out.push((n.clone(), n.clone(), ts[0]));
            } else {
                for t in ts {
                    out.push((format!("{n}_{}", t.kql_name()), n.clone(), *t));
                }
            }
        }
        if u.inner {
            out.retain(|(_, src, ty)| inputs.iter().all(|f| f.cols.iter().any(|c| c.name == *src && c.ty == *ty)));
        }
        let mut plans = Vec::new();
        for f in &inputs {
            let mut exprs = Vec::new();
            if let Some(ws) = u.withsource {
                exprs.push(lit(f.source.clone()).alias(ws.name.clone()));
            }
            for (oname, src, ty) in &out {
                let e = match f.cols.iter().position(|c| c.name == *src && c.ty == *ty) {
                    Some(i) => f.col_expr(i),
                    None => cast(lit(datafusion::common::ScalarValue::Null), arrow_type(*ty)),
                };
                exprs.push(e.alias(oname.clone()));
            }
            plans.push(build(LogicalPlanBuilder::from(f.plan.clone()).project(exprs), u.span)?);
        }
        let mut it = plans.into_iter();
        let mut b = LogicalPlanBuilder::from(it.next().expect("non-empty"));
        for p in it {
            b = b.union(p).map_err(|e| df_err(u.span, e))?;
        }
        let plan = build(Ok(b), u.span)?;
        let mut cols = Vec::new();
        if let Some(ws) = u.withsource {
            cols.push(Col { name: ws.name.clone(), ty: KqlType::String });
        }
        cols.extend(out.into_iter().map(|(n, _, t)| Col { name: n, ty: t }));
        Ok(Frame { plan, cols, source: "the union result".into() })
    }

    pub(crate) fn mv_expand(&mut self, fr: Frame, items: &[ast::MvExpandCol], span: Span) -> Result<Frame> {
        let mut exprs: Vec<Expr> = (0..fr.cols.len()).map(|i| fr.col_expr(i).alias(fr.cols[i].name.clone())).collect();
        let mut targets = Vec::new();
        for (k, it) in items.iter().enumerate() {
            let t = self.scalar(&it.expr, &fr)?;
            let name = it
                .name
                .as_ref()
                .map(|n| n.name.clone())
                .or_else(|| derive_name(&it.expr))
                .unwrap_or_else(|| format!("Column{}", k + 1));
            let text = if t.ty == KqlType::Dynamic { t.expr } else { self.convert(t, KqlType::Dynamic) };
            let id = format!("__mv{k}");
            let list = udf::call(
                "kql_array_items",
                DataType::List(std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
                    "item",
                    DataType::Utf8,
                    true,
                ))),
                udf::dynamic::array_items,
                vec![text],
            );
            exprs.push(list.alias(id.clone()));
            targets.push((name, id, it.to_type));
        }
        let unnest_cols: Vec<Column> = targets.iter().map(|(_, id, _)| Column::from_name(id.clone())).collect();
        let opts = UnnestOptions::default().with_preserve_nulls(false);
        let plan = build(
            LogicalPlanBuilder::from(fr.plan.clone())
                .project(exprs)
                .and_then(|b| b.unnest_columns_with_options(unnest_cols, opts)),
            span,
        )?;
        // final projection: replace in place or append
        let mut cols = fr.cols.clone();
        let mut out: Vec<Expr> = cols.iter().map(|c| Expr::Column(Column::from_name(c.name.clone()))).collect();
        for (name, id, to) in targets {
            let ty = to.unwrap_or(KqlType::Dynamic);
            let v = Typed::new(Expr::Column(Column::from_name(id)), KqlType::Dynamic);
            let e = if ty == KqlType::Dynamic { v.expr } else { self.convert(v, ty) };
            match cols.iter().position(|c| c.name == name) {
                Some(i) => {
                    out[i] = e.alias(name.clone());
                    cols[i].ty = ty;
                }
                None => {
                    out.push(e.alias(name.clone()));
                    cols.push(Col { name, ty });
                }
            }
        }
        let plan = build(LogicalPlanBuilder::from(plan).project(out), span)?;
        Ok(fr.with_plan(plan, cols))
    }

    fn parse_op(&mut self, fr: Frame, e: &ast::Expr, parts: &[ParsePart], is_regex: bool, span: Span) -> Result<Frame> {
        let src = self.scalar(e, &fr)?;
        let text = self.to_string(src);
        let mut re = String::from("(?s)");
        let mut outs: Vec<(String, KqlType, usize)> = Vec::new();
        let last_col = parts.iter().rposition(|p| matches!(p, ParsePart::Column(..)));
        let mut group = 0;
        if !is_regex {
            re.push('^');
        }
        for (i, p) in parts.iter().enumerate() {
            match p {
                ParsePart::Literal(s) => {
                    if is_regex {
                        re.push_str(s)
                    } else {
                        re.push_str(&regex::escape(s))
                    }
                }
                ParsePart::Wildcard => re.push_str(".*?"),
                ParsePart::Column(id, ty) => {
                    let ty = ty.unwrap_or(KqlType::String);
                    group += 1;
                    let greedy = Some(i) == last_col && i == parts.len() - 1;
                    re.push_str(match ty {
                        KqlType::Long | KqlType::Int => r"(-?\d+)",
                        KqlType::Real => r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)",
                        _ if greedy => "(.*)",
                        _ => "(.*?)",
                    });
                    outs.push((id.name.clone(), ty, group));
                }
            }
        }
        udf::strings::check_regex(&re)
            .map_err(|m| KqlError::binding(span, format!("parse pattern is not a valid regex: {m}")))?;
        let mut values = Vec::new();
        for (name, ty, g) in outs {
            let ex = udf::call(
                "kql_extract",
                DataType::Utf8,
                udf::strings::extract,
                vec![lit(re.clone()), lit(g as i64), text.clone()],
            );
            let v = Typed::new(ex, KqlType::String);
            let value = if ty == KqlType::String {
                datafusion::functions::core::expr_fn::coalesce(vec![v.expr, lit("")])
            } else {
                self.convert(v, ty)
            };
            values.push((name, Typed::new(value, ty)));
        }
        self.extend_with(fr, values, span)
    }

    /// Extends with already-bound values (all bound against `fr`): same-named columns are
    /// replaced in place, others appended.
    pub(crate) fn extend_with(&mut self, fr: Frame, values: Vec<(String, Typed)>, span: Span) -> Result<Frame> {
        let mut exprs: Vec<Expr> = (0..fr.cols.len()).map(|i| fr.col_expr(i).alias(fr.cols[i].name.clone())).collect();
        let mut cols = fr.cols.clone();
        for (name, t) in values {
            match cols.iter().position(|c| c.name == name) {
                Some(i) => {
                    exprs[i] = t.expr.alias(name);
                    cols[i].ty = t.ty;
                }
                None => {
                    exprs.push(t.expr.alias(name.clone()));
                    cols.push(Col { name, ty: t.ty });
                }
            }
        }
        let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).project(exprs), span)?;
        Ok(fr.with_plan(plan, cols))
    }
}

/// The options of a union being planned.
struct UnionSpec<'a> {
    withsource: Option<&'a ast::Ident>,
    inner: bool,
    span: Span,
}

pub(crate) fn check_unique_cols(cols: &[Col], span: Span) -> Result<()> {
    check_unique(cols, span)
}

fn check_unique(cols: &[Col], span: Span) -> Result<()> {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for c in cols {
        if seen.insert(c.name.as_str(), ()).is_some() {
            return Err(KqlError::binding(
                span,
                format!("column '{}' appears twice in the output; rename one of them", c.name),
            ));
        }
    }
    Ok(())
}
