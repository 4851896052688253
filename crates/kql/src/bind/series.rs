//! `make-series`: per group, one dense array per aggregate over fixed bins of an axis.
//!
//! Planned as: keep rows with `from <= Axis < to`; compute the bin index
//! `(Axis - from) / step`; `summarize` the aggregates by the group keys and that index (the
//! ordinary summarize, so naming rules are the same: `count_`, `avg_X`); then group by the keys
//! alone collecting `{index, value}` pairs, and turn them into dense JSON arrays of
//! `ceil((to - from) / step)` values with the `default` (0 unless given) where a bin has no
//! rows ([`crate::udf::series`]). Output columns: the keys, the aggregates (dynamic), then the
//! axis column (a dynamic array of the bin starts).
//!
//! Omitted bounds come from the data, as in Kusto: without `from` the series start at the bin
//! (aligned like `bin(Axis, step)`, i.e. on multiples of the step from the epoch / zero) that
//! holds the smallest axis value of the whole input; without `to` they end after the bin that
//! holds the largest one. All series share that one range (Kusto's output has one axis for
//! every row). The min/max come from an aggregate over the input cross-joined back onto it, so
//! the input is evaluated twice when a bound is omitted.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::functions_aggregate::expr_fn::{array_agg, max, min};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, lit};

use super::expr::i64e;
use super::funcs::floor_mod_expr;
use super::{Binder, Col, Frame, Typed, df_err};
use crate::ast::{self, ExprKind, Ident, MakeSeries, NamedExpr};
use crate::error::{KqlError, Result, Span};
use crate::types::{KqlType, arrow_type, is_numeric};
use crate::udf;

impl Binder<'_> {
    pub(crate) fn make_series(&mut self, fr: Frame, ms: &MakeSeries, span: Span) -> Result<Frame> {
        let Some(ai) = fr.find(&ms.axis.name) else {
            let hint = super::did_you_mean(&ms.axis.name, fr.cols.iter().map(|c| c.name.as_str()));
            return Err(KqlError::binding(
                ms.axis.span,
                format!("column '{}' not found in {}{hint}", ms.axis.name, fr.source),
            ));
        };
        let axis_ty = fr.cols[ai].ty;
        let kind = match axis_ty {
            KqlType::DateTime => 0,
            KqlType::TimeSpan => 1,
            KqlType::Long | KqlType::Int => 2,
            ty => {
                return Err(KqlError::binding(
                    ms.axis.span,
                    format!(
                        "make-series axis must be a datetime, timespan or integer column, '{}' is {ty}",
                        ms.axis.name
                    ),
                ));
            }
        };
        let empty = self.empty_frame()?;
        let bound_ty = if kind == 2 { KqlType::Long } else { axis_ty };
        let step_ty = if kind == 2 { KqlType::Long } else { KqlType::TimeSpan };
        let bound = |b: &mut Self, e: &ast::Expr, want: KqlType, what: &str| -> Result<Typed> {
            let t = b.scalar(e, &empty)?;
            let ok = t.ty == want || (want == KqlType::Long && is_numeric(t.ty) && t.ty != KqlType::Real);
            if !ok {
                return Err(KqlError::binding(
                    e.span,
                    format!("make-series '{what}' must be a {want}, this is {}", t.ty),
                ));
            }
            Ok(t)
        };
        let start = ms.from.as_ref().map(|e| bound(self, e, bound_ty, "from")).transpose()?;
        let end = ms.to.as_ref().map(|e| bound(self, e, bound_ty, "to")).transpose()?;
        let step = bound(self, &ms.step, step_ty, "step")?;
        if let Some(ast::Literal::TimeSpan(v) | ast::Literal::Long(v)) = &step.lit
            && *v <= 0
        {
            return Err(KqlError::binding(ms.step.span, "make-series step must be positive"));
        }
        let st = i64e(step.expr);
        let (lo_name, hi_name) = (self.fresh("ms_lo"), self.fresh("ms_hi"));
        let (min_name, max_name) = (self.fresh("ms_min"), self.fresh("ms_max"));
        // The series bounds become two hidden columns, constant per query: the given
        // `from`/`to`, or (when omitted) derived from the min/max of the axis over the whole
        // input, so every series shares one axis as in Kusto's output.
        let (base, lo, hi) = match (start, end) {
            (Some(s), Some(e)) => (fr.clone(), i64e(s.expr), i64e(e.expr)),
            (start, end) => {
                let x = i64e(fr.col_expr(ai));
                let stats = build(
                    LogicalPlanBuilder::from(fr.plan.clone())
                        .aggregate(Vec::<Expr>::new(), vec![min(x.clone()).alias(&min_name), max(x).alias(&max_name)]),
                    span,
                )?;
                let joined = build(LogicalPlanBuilder::from(fr.plan.clone()).cross_join(stats), span)?;
                let mut cols = fr.cols.clone();
                cols.push(Col { name: min_name.clone(), ty: KqlType::Long });
                cols.push(Col { name: max_name.clone(), ty: KqlType::Long });
                let joined = fr.with_plan(joined, cols);
                let data_min = joined.col_expr(joined.cols.len() - 2);
                let data_max = joined.col_expr(joined.cols.len() - 1);
                // no `from`: the start of the bin (aligned as `bin()` aligns) holding the
                // smallest axis value
                let s = match start {
                    Some(s) => i64e(s.expr),
                    None => data_min.clone() - floor_mod_expr(data_min, st.clone()),
                };
                // no `to`: the end of the bin holding the largest axis value
                let e = match end {
                    Some(e) => i64e(e.expr),
                    None => {
                        let off = data_max - s.clone();
                        s.clone() + (off.clone() - floor_mod_expr(off, st.clone())) + st.clone()
                    }
                };
                (joined, s, e)
            }
        };
        let with_bounds = self.extend_with(
            base,
            vec![(lo_name.clone(), Typed::new(lo, KqlType::Long)), (hi_name.clone(), Typed::new(hi, KqlType::Long))],
            span,
        )?;
        let (li, hi_i) = (with_bounds.find(&lo_name).expect("added"), with_bounds.find(&hi_name).expect("added"));
        let (s, e) = (with_bounds.col_expr(li), with_bounds.col_expr(hi_i));
        // rows in [from, to), with their bin index
        let x = i64e(with_bounds.col_expr(ai));
        let in_range = x.clone().gt_eq(s.clone()).and(x.clone().lt(e));
        let plan = build(LogicalPlanBuilder::from(with_bounds.plan.clone()).filter(in_range), span)?;
        let filtered = with_bounds.with_plan(plan, with_bounds.cols.clone());
        let idx_name = self.fresh("bin");
        let idx = Typed::new((x - s) / st.clone(), KqlType::Long);
        let mut with_idx = self.extend_with(filtered, vec![(idx_name.clone(), idx)], span)?;
        // the helper columns must not reach the aggregates' `*` (arg_max(x, *))
        let keep: Vec<usize> = (0..with_idx.cols.len())
            .filter(|i| with_idx.cols[*i].name != min_name && with_idx.cols[*i].name != max_name)
            .collect();
        if keep.len() != with_idx.cols.len() {
            let exprs: Vec<Expr> =
                keep.iter().map(|i| with_idx.col_expr(*i).alias(with_idx.cols[*i].name.clone())).collect();
            let cols = keep.iter().map(|i| with_idx.cols[*i].clone()).collect();
            let plan = build(LogicalPlanBuilder::from(with_idx.plan.clone()).project(exprs), span)?;
            with_idx = with_idx.with_plan(plan, cols);
        }
        // summarize aggs by keys + bin index
        let mut by: Vec<NamedExpr> = ms.by.clone();
        let idx_ident = Ident { name: idx_name.clone(), span };
        for name in [&idx_ident.name, &lo_name, &hi_name] {
            by.push(NamedExpr { name: None, expr: ast::Expr { kind: ExprKind::Name(name.clone()), span } });
        }
        let aggs: Vec<NamedExpr> = ms.aggs.iter().map(|a| a.agg.clone()).collect();
        let summed = self.summarize(with_idx, &aggs, &by, span)?;
        let nk = ms.by.len();
        let n_aggs = summed.cols.len() - nk - 3;
        if n_aggs != ms.aggs.len() {
            return Err(KqlError::unsupported(span, "make-series aggregates must produce one column each"));
        }
        if let Some(c) = summed.cols[nk + 3..].iter().find(|c| c.name == ms.axis.name) {
            return Err(KqlError::binding(
                span,
                format!("make-series aggregate column '{}' has the axis column's name; rename it", c.name),
            ));
        }
        // collect {i, v} pairs per group
        let mut keys: Vec<Expr> = (0..nk).map(|i| summed.col_expr(i).alias(format!("__sk{i}"))).collect();
        keys.push(summed.col_expr(nk + 1).alias("__ms_s"));
        keys.push(summed.col_expr(nk + 2).alias("__ms_e"));
        let mut collected = Vec::new();
        for j in 0..n_aggs {
            let pair = named_struct(vec![lit("i"), summed.col_expr(nk), lit("v"), summed.col_expr(nk + 3 + j)]);
            collected.push(array_agg(pair).alias(format!("__sv{j}")));
        }
        let grouped = LogicalPlanBuilder::from(summed.plan.clone())
            .aggregate(keys, collected)
            .and_then(|b| b.build())
            .map_err(|err| df_err(span, err))?;
        // dense arrays
        let (s, e) = (Expr::Column(Column::from_name("__ms_s")), Expr::Column(Column::from_name("__ms_e")));
        let n = (e - s.clone() + st.clone() - lit(1i64)) / st.clone();
        let mut exprs = Vec::new();
        let mut cols = Vec::new();
        for i in 0..nk {
            exprs.push(Expr::Column(Column::from_name(format!("__sk{i}"))).alias(summed.cols[i].name.clone()));
            cols.push(summed.cols[i].clone());
        }
        for (j, sa) in ms.aggs.iter().enumerate() {
            let c = &summed.cols[nk + 3 + j];
            let default = match &sa.default {
                Some(d) => {
                    let t = self.scalar(d, &empty)?;
                    if t.ty == c.ty { t.expr } else { self.convert(t, c.ty) }
                }
                None if is_numeric(c.ty) => cast(lit(0i64), arrow_type(c.ty)),
                None => lit(ScalarValue::try_from(&arrow_type(c.ty)).unwrap_or(ScalarValue::Null)),
            };
            let dynamic = i64::from(c.ty == KqlType::Dynamic);
            let v = udf::call(
                "kql_series_fill",
                DataType::Utf8,
                udf::series::fill,
                vec![Expr::Column(Column::from_name(format!("__sv{j}"))), n.clone(), default, lit(dynamic)],
            );
            exprs.push(v.alias(c.name.clone()));
            cols.push(Col { name: c.name.clone(), ty: KqlType::Dynamic });
        }
        let axis = udf::call("kql_series_axis", DataType::Utf8, udf::series::axis, vec![s, st, n, lit(kind as i64)]);
        exprs.push(axis.alias(ms.axis.name.clone()));
        cols.push(Col { name: ms.axis.name.clone(), ty: KqlType::Dynamic });
        let plan = LogicalPlanBuilder::from(grouped)
            .project(exprs)
            .and_then(|b| b.build())
            .map_err(|err| df_err(span, err))?;
        Ok(Frame { plan, cols, source: fr.source.clone() })
    }
}

fn build(b: datafusion::error::Result<LogicalPlanBuilder>, span: Span) -> Result<LogicalPlan> {
    b.and_then(|b| b.build()).map_err(|e| df_err(span, e))
}
