//! `top-nested`: hierarchical aggregation, keeping the top values of each level inside each
//! kept value of the level above.
//!
//! Output: two columns per clause, the level's value (named as given, as the expression's
//! column, or `ColumnN`) and its aggregate (named as given, else `aggregated_<value column>`),
//! one row per kept leaf combination; a clause `with others = V` adds, inside each kept parent,
//! one row whose value is V and whose aggregate is computed over the rows of the values not
//! kept, with empty (null) deeper levels. Row order is not specified (as in Kusto).
//!
//! Planned per level: the ordinary `summarize` of the aggregate by (parent values, parent
//! aggregates, this level's value), a `row_number()` per parent ordered by the aggregate, and
//! a filter `<= N`; the input rows of the kept groups (an inner join with null-equal keys, as a
//! null value is a group too) feed the next level; rows of the groups not kept feed the
//! `others` aggregate. The outputs are unioned.

use datafusion::common::{Column, JoinType, NullEquality, ScalarValue};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, cast, lit};

use super::expr::derive_name;
use super::{Binder, Col, Frame, df_err};
use crate::ast::{self, ExprKind, Literal, NamedExpr, TopNestedLevel};
use crate::error::{KqlError, Result, Span};
use crate::types::{KqlType, arrow_type};

fn build(b: datafusion::error::Result<LogicalPlanBuilder>, span: Span) -> Result<LogicalPlan> {
    b.and_then(|b| b.build()).map_err(|e| df_err(span, e))
}

fn name_ref(name: &str, span: Span) -> NamedExpr {
    NamedExpr { name: None, expr: ast::Expr { kind: ExprKind::Name(name.to_string()), span } }
}

fn col(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

/// Keeps `names` of `fr` (in that order), optionally renamed.
fn select(fr: &Frame, names: &[(&str, &str)], span: Span) -> Result<Frame> {
    let mut exprs = Vec::new();
    let mut cols = Vec::new();
    for (from, to) in names {
        let i = fr.find(from).expect("hidden column");
        exprs.push(fr.col_expr(i).alias(*to));
        cols.push(Col { name: to.to_string(), ty: fr.cols[i].ty });
    }
    let plan = build(LogicalPlanBuilder::from(fr.plan.clone()).project(exprs), span)?;
    Ok(fr.with_plan(plan, cols))
}

/// Rows of `rows` whose `keys` match a row of `groups` (columns `gkeys`); `Inner` appends the
/// `extra` columns of `groups`, `LeftSemi` keeps `rows`' columns only.
fn match_groups(
    rows: &Frame,
    groups: &Frame,
    keys: &[String],
    gkeys: &[String],
    extra: &[String],
    jt: JoinType,
    span: Span,
) -> Result<Frame> {
    let l = build(LogicalPlanBuilder::from(rows.plan.clone()).alias("__l"), span)?;
    let r = build(LogicalPlanBuilder::from(groups.plan.clone()).alias("__r"), span)?;
    let lk: Vec<Column> = keys.iter().map(|k| Column::new(Some("__l"), k.clone())).collect();
    let rk: Vec<Column> = gkeys.iter().map(|k| Column::new(Some("__r"), k.clone())).collect();
    let mut exprs: Vec<Expr> = rows
        .cols
        .iter()
        .map(|c| Expr::Column(Column::new(Some("__l"), c.name.clone())).alias(c.name.clone()))
        .collect();
    let mut cols = rows.cols.clone();
    for e in extra {
        let i = groups.find(e).expect("hidden column");
        exprs.push(Expr::Column(Column::new(Some("__r"), e.clone())).alias(e.clone()));
        cols.push(groups.cols[i].clone());
    }
    let plan = build(
        LogicalPlanBuilder::from(l)
            .join_detailed(r, jt, (lk, rk), None, NullEquality::NullEqualsNull)
            .and_then(|b| b.project(exprs)),
        span,
    )?;
    Ok(rows.with_plan(plan, cols))
}

impl Binder<'_> {
    pub(crate) fn top_nested(&mut self, fr: Frame, levels: &[TopNestedLevel], span: Span) -> Result<Frame> {
        let empty = self.empty_frame()?;
        // per level: value column name, hidden key / aggregate names, N, others value
        let mut names = Vec::new();
        let mut keys = Vec::new();
        let mut aggs = Vec::new();
        let mut counts = Vec::new();
        let mut values = Vec::new();
        for (i, lv) in levels.iter().enumerate() {
            let t = self.scalar(&lv.of.expr, &fr)?;
            // as summarize names its keys: `bin(TimeGenerated, 1h)` is `TimeGenerated`
            let name = match (&lv.of.name, derive_name(&lv.of.expr).or_else(|| t.name.clone())) {
                (Some(n), _) => n.name.clone(),
                (None, Some(n)) => n,
                (None, None) => format!("Column{}", i + 1),
            };
            let n = match &lv.count {
                None => None,
                Some(e) => match self.scalar(e, &empty)?.lit {
                    Some(Literal::Long(v)) if v >= 0 => Some(v),
                    Some(Literal::Int(v)) if v >= 0 => Some(i64::from(v)),
                    _ => {
                        return Err(KqlError::binding(
                            e.span,
                            "top-nested count must be a non-negative integer literal",
                        ));
                    }
                },
            };
            names.push(name);
            keys.push(self.fresh("tnk"));
            aggs.push(self.fresh("tna"));
            counts.push(n);
            values.push(t);
        }
        let mut key_values: Vec<_> = keys.iter().cloned().zip(values.iter().cloned()).collect();
        // a constant group key for the `others` aggregates: with no parent, a summarize without
        // keys would make a row even when no value was left out
        let one = self.fresh("tnone");
        key_values.push((one.clone(), super::Typed::new(lit(1i64), KqlType::Long)));
        let mut cur = self.extend_with(fr, key_values, span)?;
        let mut agg_types = Vec::new();
        let mut others: Vec<(usize, Frame)> = Vec::new();
        let mut leaf = None;
        for (i, lv) in levels.iter().enumerate() {
            // summarize by parent values + parent aggregates + this value
            let mut by: Vec<NamedExpr> = keys[..i].iter().chain(&aggs[..i]).map(|n| name_ref(n, span)).collect();
            by.push(name_ref(&keys[i], span));
            let g = self.summarize(cur.clone(), std::slice::from_ref(&lv.agg), &by, span)?;
            if g.cols.len() != by.len() + 1 {
                return Err(KqlError::binding(lv.agg.expr.span, "top-nested needs one aggregation per clause"));
            }
            let agg_col = g.cols.last().expect("aggregate").clone();
            agg_types.push(agg_col.ty);
            let mut renamed: Vec<(&str, &str)> = by
                .iter()
                .map(|b| match &b.expr.kind {
                    ExprKind::Name(n) => (n.as_str(), n.as_str()),
                    _ => unreachable!("names only"),
                })
                .collect();
            renamed.push((agg_col.name.as_str(), aggs[i].as_str()));
            let g = select(&g, &renamed, span)?;
            // rank inside each parent
            let rn = self.fresh("tnrn");
            let order = col(&aggs[i]).sort(!lv.desc, false);
            let w = datafusion::functions_window::expr_fn::row_number()
                .partition_by(keys[..i].iter().map(|k| col(k)).collect())
                .order_by(vec![order])
                .build()
                .map_err(|e| df_err(span, e))?
                .alias(rn.clone());
            let ranked_plan = build(LogicalPlanBuilder::from(g.plan.clone()).window(vec![w]), span)?;
            let mut ranked_cols = g.cols.clone();
            ranked_cols.push(Col { name: rn.clone(), ty: KqlType::Long });
            let ranked = g.with_plan(ranked_plan, ranked_cols);
            let rank = cast(col(&rn), datafusion::arrow::datatypes::DataType::Int64);
            let filter_to = |b: &Frame, keep: Expr| -> Result<Frame> {
                let plan = build(LogicalPlanBuilder::from(b.plan.clone()).filter(keep), span)?;
                Ok(b.with_plan(plan, b.cols.clone()))
            };
            let kept = match counts[i] {
                Some(n) => filter_to(&ranked, rank.clone().lt_eq(lit(n)))?,
                None => ranked.clone(),
            };
            if let (Some(other), Some(n)) = (&lv.others, counts[i]) {
                let dropped = filter_to(&ranked, rank.gt(lit(n)))?;
                let rows = match_groups(&cur, &dropped, &keys[..=i], &keys[..=i], &[], JoinType::LeftSemi, span)?;
                let by: Vec<NamedExpr> =
                    std::iter::once(&one).chain(&keys[..i]).chain(&aggs[..i]).map(|n| name_ref(n, span)).collect();
                let o = self.summarize(rows, std::slice::from_ref(&lv.agg), &by, span)?;
                let v = self.scalar(other, &empty)?;
                let v = if v.ty == values[i].ty { v.expr } else { self.convert(v, values[i].ty) };
                let mut exprs: Vec<Expr> = (0..by.len()).map(|j| o.col_expr(j).alias(o.cols[j].name.clone())).collect();
                let mut cols: Vec<Col> = o.cols[..by.len()].to_vec();
                exprs.push(v.alias(keys[i].clone()));
                cols.push(Col { name: keys[i].clone(), ty: values[i].ty });
                exprs.push(o.col_expr(by.len()).alias(aggs[i].clone()));
                cols.push(Col { name: aggs[i].clone(), ty: agg_col.ty });
                let plan = build(LogicalPlanBuilder::from(o.plan.clone()).project(exprs), span)?;
                others.push((i, o.with_plan(plan, cols)));
            }
            if i + 1 == levels.len() {
                leaf = Some(kept);
            } else {
                let gkeys: Vec<String> = keys[..=i].to_vec();
                cur = match_groups(&cur, &kept, &keys[..=i], &gkeys, &aggs[i..=i], JoinType::Inner, span)?;
            }
        }
        // final shape: value + aggregate per level; deeper levels of `others` rows are null
        let out_cols: Vec<Col> = (0..levels.len())
            .flat_map(|i| {
                let agg_name = match &levels[i].agg.name {
                    Some(n) => n.name.clone(),
                    None => format!("aggregated_{}", names[i]),
                };
                [Col { name: names[i].clone(), ty: values[i].ty }, Col { name: agg_name, ty: agg_types[i] }]
            })
            .collect();
        let shape = |f: &Frame, depth: usize| -> Result<LogicalPlan> {
            let mut exprs = Vec::new();
            for i in 0..levels.len() {
                let (k, a) = (&out_cols[2 * i], &out_cols[2 * i + 1]);
                if i <= depth {
                    exprs.push(col(&keys[i]).alias(k.name.clone()));
                    exprs.push(col(&aggs[i]).alias(a.name.clone()));
                } else {
                    for c in [k, a] {
                        let null = ScalarValue::try_from(&arrow_type(c.ty)).unwrap_or(ScalarValue::Null);
                        exprs.push(lit(null).alias(c.name.clone()));
                    }
                }
            }
            build(LogicalPlanBuilder::from(f.plan.clone()).project(exprs), span)
        };
        let leaf = leaf.expect("at least one level");
        let mut plan = LogicalPlanBuilder::from(shape(&leaf, levels.len() - 1)?);
        for (depth, o) in &others {
            plan = plan.union(shape(o, *depth)?).map_err(|e| df_err(span, e))?;
        }
        let plan = build(Ok(plan), span)?;
        super::ops::check_unique_cols(&out_cols, span)?;
        Ok(Frame { plan, cols: out_cols, source: leaf.source })
    }
}
