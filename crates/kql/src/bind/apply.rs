//! `mv-apply`: a subquery per row over its expanded array.
//!
//! `mv-apply` is planned without per-row execution: each input row gets a hidden row id, the
//! arrays are expanded as `mv-expand` does, and the subquery's operators run on all expanded
//! rows at once with the row id added where grouping matters (`summarize … by id`, `top`/`take`
//! as a per-id `row_number()` window, `project`/`distinct` keep the id). The result is joined
//! back to the input rows on the id: the input's columns (replaced by same-named subquery
//! columns), then the subquery's new columns. Rows whose subquery returns nothing are dropped,
//! as in KQL. Subqueries may use where, extend, project(-away/-keep/-rename/-reorder),
//! summarize, top, take/limit, sort, distinct, count, parse and search.

use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, cast, lit};

use super::{Binder, Col, Frame, df_err};
use crate::ast::{self, ExprKind, Ident, MvExpandCol, NamedExpr, OpKind, Operator};
use crate::error::{KqlError, Result, Span};
use crate::types::KqlType;

fn build(
    b: datafusion::error::Result<LogicalPlanBuilder>,
    span: Span,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    b.and_then(|b| b.build()).map_err(|e| df_err(span, e))
}

fn name_expr(name: &str, span: Span) -> ast::Expr {
    ast::Expr { kind: ExprKind::Name(name.to_string()), span }
}

impl Binder<'_> {
    pub(crate) fn mv_apply(&mut self, fr: Frame, items: &[MvExpandCol], sub: &ast::Expr, span: Span) -> Result<Frame> {
        let ExprKind::Pipe { ops, .. } = &sub.kind else {
            return Err(KqlError::syntax(sub.span, "mv-apply needs a subquery: on ( operators )"));
        };
        // 1. a row id per input row
        let rid = self.fresh("rid");
        let rn = datafusion::functions_window::expr_fn::row_number().alias(rid.clone());
        let mut exprs: Vec<Expr> = (0..fr.cols.len()).map(|i| fr.col_expr(i).alias(fr.cols[i].name.clone())).collect();
        exprs.push(
            cast(Expr::Column(Column::from_name(rid.clone())), datafusion::arrow::datatypes::DataType::Int64)
                .alias(rid.clone()),
        );
        let plan =
            build(LogicalPlanBuilder::from(fr.plan.clone()).window(vec![rn]).and_then(|b| b.project(exprs)), span)?;
        let mut cols = fr.cols.clone();
        cols.push(Col { name: rid.clone(), ty: KqlType::Long });
        let with_id = fr.with_plan(plan, cols);
        // 2. expand
        let mut cur = self.mv_expand(with_id.clone(), items, span)?;
        // 3. the subquery, per row id
        for op in ops {
            cur = self.apply_op(cur, op, &rid)?;
            if cur.find(&rid).is_none() {
                return Err(KqlError::unsupported(op.span, "this mv-apply subquery operator drops the row context"));
            }
        }
        // 4. join back on the row id
        let li = with_id.find(&rid).expect("row id");
        let ri = cur.find(&rid).expect("row id");
        let lp = build(LogicalPlanBuilder::from(with_id.plan.clone()).alias("__l"), span)?;
        let rp = build(LogicalPlanBuilder::from(cur.plan.clone()).alias("__r"), span)?;
        let lref = |i: usize| Expr::Column(Column::new(Some("__l"), with_id.cols[i].name.clone()));
        let rref = |i: usize| Expr::Column(Column::new(Some("__r"), cur.cols[i].name.clone()));
        let joined = LogicalPlanBuilder::from(lp).join_with_expr_keys(
            rp,
            JoinType::Inner,
            (vec![lref(li)], vec![rref(ri)]),
            None,
        );
        let mut exprs = Vec::new();
        let mut out_cols = Vec::new();
        for (i, c) in fr.cols.iter().enumerate() {
            match cur.find(&c.name) {
                Some(j) => {
                    exprs.push(rref(j).alias(c.name.clone()));
                    out_cols.push(cur.cols[j].clone());
                }
                None => {
                    exprs.push(lref(i).alias(c.name.clone()));
                    out_cols.push(c.clone());
                }
            }
        }
        for (j, c) in cur.cols.iter().enumerate() {
            if c.name != rid && fr.find(&c.name).is_none() {
                exprs.push(rref(j).alias(c.name.clone()));
                out_cols.push(c.clone());
            }
        }
        let plan = build(joined.and_then(|b| b.project(exprs)), span)?;
        Ok(fr.with_plan(plan, out_cols))
    }

    /// One operator of an mv-apply subquery, made per-row-id.
    fn apply_op(&mut self, cur: Frame, op: &Operator, rid: &str) -> Result<Frame> {
        let span = op.span;
        let rid_ident = Ident { name: rid.to_string(), span };
        let with = |kind: OpKind| Operator { kind, span };
        match &op.kind {
            OpKind::Where(_)
            | OpKind::Extend(_)
            | OpKind::Parse { .. }
            | OpKind::ProjectRename(_)
            | OpKind::ProjectAway(_)
            | OpKind::ProjectReorder(_)
            | OpKind::Sort(_)
            | OpKind::Search(_) => self.operator(cur, op),
            OpKind::ProjectKeep(pats) => {
                let mut p = pats.clone();
                p.push(rid_ident);
                self.operator(cur, &with(OpKind::ProjectKeep(p)))
            }
            OpKind::Project(list) => {
                let mut l = list.clone();
                l.push(NamedExpr { name: None, expr: name_expr(rid, span) });
                self.operator(cur, &with(OpKind::Project(l)))
            }
            OpKind::Summarize { aggs, by } => {
                let mut b = by.clone();
                b.push(NamedExpr { name: None, expr: name_expr(rid, span) });
                self.summarize(cur, aggs, &b, span)
            }
            OpKind::Distinct(list) if !list.is_empty() => {
                let mut l = list.clone();
                l.push(NamedExpr { name: None, expr: name_expr(rid, span) });
                self.summarize(cur, &[], &l, span)
            }
            OpKind::Distinct(_) => self.operator(cur, op),
            OpKind::Count => {
                let count = ast::Expr {
                    kind: ExprKind::Call { name: Ident { name: "count".into(), span }, args: Vec::new() },
                    span,
                };
                let aggs = vec![NamedExpr { name: Some(Ident { name: "Count".into(), span }), expr: count }];
                self.summarize(cur, &aggs, &[NamedExpr { name: None, expr: name_expr(rid, span) }], span)
            }
            OpKind::Top { count, key } => {
                let n = self.apply_count(count, &cur)?;
                let sorts = self.sort_exprs(&cur, std::slice::from_ref(key))?;
                self.first_n_per_id(cur, n, sorts, rid, span)
            }
            OpKind::Take(count) => {
                let n = self.apply_count(count, &cur)?;
                self.first_n_per_id(cur, n, Vec::new(), rid, span)
            }
            _ => Err(KqlError::unsupported(
                span,
                "this operator is not supported inside mv-apply (use where, extend, project, summarize, top, take, sort, distinct, count, parse)",
            )),
        }
    }

    fn apply_count(&mut self, e: &ast::Expr, fr: &Frame) -> Result<i64> {
        let t = self.scalar(e, fr)?;
        match t.lit {
            Some(ast::Literal::Long(n)) if n >= 0 => Ok(n),
            Some(ast::Literal::Int(n)) if n >= 0 => Ok(i64::from(n)),
            _ => Err(KqlError::binding(e.span, "expected a non-negative long literal row count")),
        }
    }

    /// Keeps the first `n` rows per row id (in `order`).
    fn first_n_per_id(
        &mut self,
        cur: Frame,
        n: i64,
        order: Vec<datafusion::logical_expr::SortExpr>,
        rid: &str,
        span: Span,
    ) -> Result<Frame> {
        let ri = cur.find(rid).expect("row id");
        // `take` has no order; DataFusion needs one: any row of the group will do
        let order = if order.is_empty() { vec![cur.col_expr(ri).sort(true, false)] } else { order };
        let rn_name = self.fresh("rn");
        let rn = datafusion::functions_window::expr_fn::row_number()
            .partition_by(vec![cur.col_expr(ri)])
            .order_by(order)
            .build()
            .map_err(|e| df_err(span, e))?
            .alias(rn_name.clone());
        let keep: Vec<Expr> = (0..cur.cols.len()).map(|i| cur.col_expr(i)).collect();
        let plan = build(
            LogicalPlanBuilder::from(cur.plan.clone())
                .window(vec![rn])
                .and_then(|b| {
                    b.filter(
                        cast(Expr::Column(Column::from_name(rn_name)), datafusion::arrow::datatypes::DataType::Int64)
                            .lt_eq(lit(n)),
                    )
                })
                .and_then(|b| b.project(keep)),
            span,
        )?;
        Ok(cur.with_plan(plan, cur.cols.clone()))
    }
}
