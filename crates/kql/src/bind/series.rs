//! `make-series`: per group, one dense array per aggregate over fixed bins of an axis.
//!
//! Planned as: keep rows with `from <= Axis < to`; compute the bin index
//! `(Axis - from) / step`; `summarize` the aggregates by the group keys and that index (the
//! ordinary summarize, so naming rules are the same: `count_`, `avg_X`); then group by the keys
//! alone collecting `{index, value}` pairs, and turn them into dense JSON arrays of
//! `ceil((to - from) / step)` values with the `default` (0 unless given) where a bin has no
//! rows ([`crate::udf::series`]). Output columns: the keys, the aggregates (dynamic), then the
//! axis column (a dynamic array of the bin starts). `from` and `to` are required here; KQL's
//! data-dependent bounds (omitting them) are not supported.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::functions_aggregate::expr_fn::array_agg;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit};

use super::expr::i64e;
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
        let (Some(from), Some(to)) = (&ms.from, &ms.to) else {
            return Err(KqlError::unsupported(
                span,
                "make-series without both 'from' and 'to' is not supported; add 'from <start> to <end>'",
            ));
        };
        let empty = self.empty_frame()?;
        let start = self.scalar(from, &empty)?;
        let end = self.scalar(to, &empty)?;
        let step = self.scalar(&ms.step, &empty)?;
        let bound_ty = if kind == 2 { KqlType::Long } else { axis_ty };
        let step_ty = if kind == 2 { KqlType::Long } else { KqlType::TimeSpan };
        for (t, e, want, what) in
            [(&start, from, bound_ty, "from"), (&end, to, bound_ty, "to"), (&step, &ms.step, step_ty, "step")]
        {
            let ok = t.ty == want || (want == KqlType::Long && is_numeric(t.ty) && t.ty != KqlType::Real);
            if !ok {
                return Err(KqlError::binding(
                    e.span,
                    format!("make-series '{what}' must be a {want}, this is {}", t.ty),
                ));
            }
        }
        if let Some(ast::Literal::TimeSpan(v) | ast::Literal::Long(v)) = &step.lit
            && *v <= 0
        {
            return Err(KqlError::binding(ms.step.span, "make-series step must be positive"));
        }
        let (s, e, st) = (i64e(start.expr), i64e(end.expr), i64e(step.expr));
        // rows in [from, to), with their bin index
        let x = i64e(fr.col_expr(ai));
        let in_range = x.clone().gt_eq(s.clone()).and(x.clone().lt(e.clone()));
        let plan = LogicalPlanBuilder::from(fr.plan.clone())
            .filter(in_range)
            .and_then(|b| b.build())
            .map_err(|err| df_err(span, err))?;
        let filtered = fr.with_plan(plan, fr.cols.clone());
        let idx_name = self.fresh("bin");
        let idx = Typed::new((x - s.clone()) / st.clone(), KqlType::Long);
        let with_idx = self.extend_with(filtered, vec![(idx_name.clone(), idx)], span)?;
        // summarize aggs by keys + bin index
        let mut by: Vec<NamedExpr> = ms.by.clone();
        let idx_ident = Ident { name: idx_name.clone(), span };
        by.push(NamedExpr { name: None, expr: ast::Expr { kind: ExprKind::Name(idx_ident.name.clone()), span } });
        let aggs: Vec<NamedExpr> = ms.aggs.iter().map(|a| a.agg.clone()).collect();
        let summed = self.summarize(with_idx, &aggs, &by, span)?;
        let nk = ms.by.len();
        let n_aggs = summed.cols.len() - nk - 1;
        if n_aggs != ms.aggs.len() {
            return Err(KqlError::unsupported(span, "make-series aggregates must produce one column each"));
        }
        if let Some(c) = summed.cols[nk + 1..].iter().find(|c| c.name == ms.axis.name) {
            return Err(KqlError::binding(
                span,
                format!("make-series aggregate column '{}' has the axis column's name; rename it", c.name),
            ));
        }
        // collect {i, v} pairs per group
        let keys: Vec<Expr> = (0..nk).map(|i| summed.col_expr(i).alias(format!("__sk{i}"))).collect();
        let mut collected = Vec::new();
        for j in 0..n_aggs {
            let pair = named_struct(vec![lit("i"), summed.col_expr(nk), lit("v"), summed.col_expr(nk + 1 + j)]);
            collected.push(array_agg(pair).alias(format!("__sv{j}")));
        }
        let grouped = LogicalPlanBuilder::from(summed.plan.clone())
            .aggregate(keys, collected)
            .and_then(|b| b.build())
            .map_err(|err| df_err(span, err))?;
        // dense arrays
        let n = (e.clone() - s.clone() + st.clone() - lit(1i64)) / st.clone();
        let mut exprs = Vec::new();
        let mut cols = Vec::new();
        for i in 0..nk {
            exprs.push(Expr::Column(Column::from_name(format!("__sk{i}"))).alias(summed.cols[i].name.clone()));
            cols.push(summed.cols[i].clone());
        }
        for (j, sa) in ms.aggs.iter().enumerate() {
            let c = &summed.cols[nk + 1 + j];
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
