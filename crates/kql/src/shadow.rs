//! Reading shadow columns instead of extracting a member from JSON text.
//!
//! A data source may store, next to a dynamic column `d`, a hidden *shadow column* holding for
//! every row exactly what `d.m` gives (field metadata `keelwatch.shadow_of = d`,
//! `keelwatch.shadow_path = m`; see [`keelwatch_jsonscan::SHADOW_OF_METADATA_KEY`]). The
//! workspace does so for `ContainerLogV2.KubernetesMetadata.podUid`, whose extraction from the
//! JSON text of every row was most of the time of a join on it (perf). Tables never show shadow
//! columns ([`keelwatch_jsonscan::is_shadow`]); this optimizer rule replaces `kql_dyn_get(d, "m")` by the shadow
//! column when `d` reaches the expression unchanged from a table scan whose source has one,
//! widening the projections in between. Anything it cannot trace (computed columns, joins,
//! unions) keeps the extraction, so results never depend on whether the rule fired.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Projection, SubqueryAlias, TableScanBuilder};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use keelwatch_jsonscan::{SHADOW_OF_METADATA_KEY, SHADOW_PATH_METADATA_KEY};

/// Name of the member-access UDF the rule rewrites.
const DYN_GET: &str = "kql_dyn_get";

/// The optimizer rule (see the module doc).
#[derive(Debug, Default)]
pub struct ShadowColumns;

impl OptimizerRule for ShadowColumns {
    fn name(&self) -> &str {
        "keelwatch_shadow_columns"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        plan.transform_down(rewrite_node)
    }
}

/// `(column, member)` of a `kql_dyn_get(column, "member")` call.
fn member_call(e: &Expr) -> Option<(&Column, &str)> {
    let Expr::ScalarFunction(f) = e else { return None };
    if f.func.name() != DYN_GET {
        return None;
    }
    match f.args.as_slice() {
        [Expr::Column(c), Expr::Literal(ScalarValue::Utf8(Some(m)), _)] => Some((c, m.as_str())),
        _ => None,
    }
}

fn rewrite_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if !matches!(plan, LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::Aggregate(_)) {
        return Ok(Transformed::no(plan));
    }
    let mut calls: Vec<(Column, String)> = Vec::new();
    for e in plan.expressions() {
        e.apply(|x| {
            if let Some((c, m)) = member_call(x)
                && !calls.iter().any(|(c2, m2)| c2 == c && m2 == m)
            {
                calls.push((c.clone(), m.to_string()));
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        })?;
    }
    if calls.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let mut input = plan.inputs()[0].clone();
    let mut found: Vec<(Column, String, Column)> = Vec::new();
    for (c, m) in calls {
        if let Some((p, shadow)) = provide(&input, &c, &m)? {
            input = p;
            found.push((c, m, shadow));
        }
    }
    if found.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let names = NamePreserver::new(&plan);
    let exprs = plan
        .expressions()
        .into_iter()
        .map(|e| {
            let saved = names.save(&e);
            let e = e
                .transform_up(|x| {
                    let hit = member_call(&x)
                        .and_then(|(c, m)| found.iter().find(|(c2, m2, _)| c2 == c && m2 == m))
                        .map(|(_, _, s)| s.clone());
                    Ok(match hit {
                        Some(s) => Transformed::yes(Expr::Column(s)),
                        None => Transformed::no(x),
                    })
                })?
                .data;
            Ok(saved.restore(e))
        })
        .collect::<Result<Vec<_>>>()?;
    let new = plan.with_new_exprs(exprs, vec![input])?;
    if new.schema().fields().len() == plan.schema().fields().len() {
        return Ok(Transformed::yes(new));
    }
    // a filter passes its input's columns on, now including the shadow: keep the old output
    let cols = plan.schema().columns().into_iter().map(Expr::Column).collect();
    Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(cols, Arc::new(new))?)))
}

/// Rebuilds `plan` so that its output also has the shadow column of `col.member`, tracing
/// `col` down to a table scan through nodes that pass it on unchanged. Returns the new plan and
/// the shadow column's reference in its output, or `None` when `col` cannot be traced.
fn provide(plan: &LogicalPlan, col: &Column, member: &str) -> Result<Option<(LogicalPlan, Column)>> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let out = scan.projected_schema.qualified_field_with_unqualified_name(&col.name).ok();
            if out.is_none_or(|(q, _)| col.relation.as_ref().is_some_and(|r| Some(r) != q)) {
                return Ok(None);
            }
            let source = scan.source.schema();
            let Some(idx) = source.fields().iter().position(|f| {
                f.metadata().get(SHADOW_OF_METADATA_KEY) == Some(&col.name)
                    && f.metadata().get(SHADOW_PATH_METADATA_KEY).map(String::as_str) == Some(member)
            }) else {
                return Ok(None);
            };
            let projection = scan.projection.clone().map(|mut p| {
                if !p.contains(&idx) {
                    p.push(idx);
                }
                p
            });
            let shadow = Column::new(Some(scan.table_name.clone()), source.field(idx).name());
            // filters already pushed into the scan (for pruning) read the shadow too
            let filters = scan
                .filters
                .iter()
                .map(|f| {
                    f.clone()
                        .transform_up(|x| {
                            let hit = member_call(&x).is_some_and(|(c, m)| c.name == col.name && m == member);
                            Ok(if hit { Transformed::yes(Expr::Column(shadow.clone())) } else { Transformed::no(x) })
                        })
                        .map(|t| t.data)
                })
                .collect::<Result<Vec<_>>>()?;
            let new = TableScanBuilder::new(scan.table_name.clone(), scan.source.clone())
                .with_projection(projection)
                .with_filters(filters)
                .with_fetch(scan.fetch)
                .build()?;
            Ok(Some((LogicalPlan::TableScan(new), shadow)))
        }
        LogicalPlan::Filter(_) | LogicalPlan::Sort(_) | LogicalPlan::Limit(_) | LogicalPlan::Repartition(_) => {
            let Some((input, shadow)) = provide(plan.inputs()[0], col, member)? else { return Ok(None) };
            Ok(Some((plan.clone().with_new_exprs(plan.expressions(), vec![input])?, shadow)))
        }
        LogicalPlan::SubqueryAlias(sa) => {
            let Ok(i) = sa.schema.index_of_column(col) else { return Ok(None) };
            let inner = Column::from(sa.input.schema().qualified_field(i));
            let Some((input, shadow)) = provide(&sa.input, &inner, member)? else { return Ok(None) };
            let new = SubqueryAlias::try_new(Arc::new(input), sa.alias.clone())?;
            let shadow = Column::new(Some(sa.alias.clone()), shadow.name);
            Ok(Some((LogicalPlan::SubqueryAlias(new), shadow)))
        }
        LogicalPlan::Projection(p) => {
            let Ok(i) = p.schema.index_of_column(col) else { return Ok(None) };
            let Expr::Column(inner) = p.expr[i].clone().unalias_nested().data else { return Ok(None) };
            let Some((input, shadow)) = provide(&p.input, &inner, member)? else { return Ok(None) };
            let mut exprs = p.expr.clone();
            let e = Expr::Column(shadow.clone());
            if !exprs.contains(&e) {
                exprs.push(e);
            }
            let new = Projection::try_new(exprs, Arc::new(input))?;
            Ok(Some((LogicalPlan::Projection(new), shadow)))
        }
        _ => Ok(None),
    }
}
