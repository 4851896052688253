//! `summarize`: aggregate functions, KQL's output naming (`count_`, `sum_X`, `list_X`, …),
//! `arg_max`/`arg_min` (planned as a per-group `row_number()` window, keeping the row's other
//! columns under their original names) and multi-column `percentiles`.
//!
//! Aggregates may sit inside expressions (`100.0 * countif(x) / count()`): each aggregate call
//! is planned once into the DataFusion `Aggregate` node under an internal name, and the
//! surrounding expression is evaluated in a projection over the aggregated rows.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::functions::core as dfcore;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, cast, is_not_null, lit, when};

use super::expr::{code, derive_name};
use super::{Binder, Col, Frame, Typed, df_err};
use crate::ast::{self, ExprKind, Ident, Literal, NamedExpr};
use crate::error::{KqlError, Result, Span};
use crate::types::{KqlType, is_numeric};
use crate::udf;

/// Aggregate function names.
pub(crate) const AGGREGATES: &[&str] = &[
    "count",
    "make_bag",
    "countif",
    "dcount",
    "dcountif",
    "count_distinct",
    "sum",
    "sumif",
    "avg",
    "avgif",
    "min",
    "max",
    "minif",
    "maxif",
    "any",
    "take_any",
    "make_list",
    "makelist",
    "make_set",
    "makeset",
    "make_list_if",
    "make_set_if",
    "stdev",
    "stdevp",
    "variance",
    "variancep",
    "percentile",
    "percentiles",
    "arg_max",
    "arg_min",
];

pub(crate) fn is_aggregate(n: &str) -> bool {
    AGGREGATES.contains(&n)
}

/// State while binding the aggregates of one `summarize`.
pub(crate) struct AggCtx {
    pub input: Frame,
    pub aggs: Vec<Expr>,
}

/// The order `plan` yields its rows in, as sort expressions over its output columns: a
/// sort, possibly under steps that keep the rows' order and the sort's columns (filters,
/// `take`, windows, projections that pass those columns through). `None` when unordered.
fn input_order(plan: &datafusion::logical_expr::LogicalPlan) -> Option<Vec<datafusion::logical_expr::SortExpr>> {
    use datafusion::logical_expr::LogicalPlan as P;
    let (order, schema) = match plan {
        P::Sort(s) => return Some(s.expr.clone()),
        P::Projection(p) => (input_order(&p.input)?, &p.schema),
        P::Filter(f) => return input_order(&f.input),
        P::Limit(l) => return input_order(&l.input),
        P::Window(w) => return input_order(&w.input),
        _ => return None,
    };
    let kept = order.iter().all(|s| s.expr.column_refs().iter().all(|c| schema.has_column(c)));
    kept.then_some(order)
}

/// KQL's default column name for an unnamed aggregate.
fn default_name(n: &str, args: &[ast::Expr]) -> String {
    let arg = args.first().and_then(derive_name).unwrap_or_default();
    let prefix = match n {
        "count" => return "count_".into(),
        "countif" => return "countif_".into(),
        "makelist" | "make_list" | "make_list_if" => "list",
        "makeset" | "make_set" | "make_set_if" => "set",
        "take_any" => "any",
        "make_bag" => "bag",
        other => other,
    };
    format!("{prefix}_{arg}")
}

fn top_call(e: &ast::Expr) -> Option<(&Ident, &[ast::Expr])> {
    match &e.kind {
        ExprKind::Call { name, args } => Some((name, args.as_slice())),
        _ => None,
    }
}

/// Checks `arg_max`/`arg_min` has its two arguments; true for `arg_max`.
fn arg_extreme_arity(name: &Ident, args: &[ast::Expr], span: Span) -> Result<bool> {
    if args.len() < 2 {
        return Err(KqlError::binding(
            span,
            format!("{}() needs the expression to maximise and the columns to return (or *)", name.name),
        ));
    }
    Ok(name.name == "arg_max")
}

fn percent_label(p: &Literal) -> String {
    match p {
        Literal::Long(v) => v.to_string(),
        Literal::Int(v) => v.to_string(),
        Literal::Real(v) => format!("{v}").replace('.', "_"),
        _ => String::new(),
    }
}

impl Binder<'_> {
    /// Binds an aggregate call inside `summarize` (returns a reference to its output).
    pub(crate) fn aggregate_call(&mut self, name: &Ident, args: &[ast::Expr], span: Span) -> Result<Typed> {
        let Some(ctx) = self.agg.take() else {
            return Err(KqlError::binding(
                name.span,
                format!("aggregate function '{}' can only be used in summarize", name.name),
            ));
        };
        let input = ctx.input.clone();
        let r = self.aggregate_expr(name, args, span, &input);
        let mut ctx = ctx;
        let out = r.map(|(e, ty, post)| {
            let id = format!("__a{}", ctx.aggs.len());
            ctx.aggs.push(e.alias(id.clone()));
            let col = Expr::Column(Column::from_name(id));
            Typed::new(post(col), ty)
        });
        self.agg = Some(ctx);
        out
    }

    /// The DataFusion aggregate for one call, its KQL type and a post-processing step.
    #[allow(clippy::type_complexity)]
    fn aggregate_expr(
        &mut self,
        name: &Ident,
        args: &[ast::Expr],
        span: Span,
        fr: &Frame,
    ) -> Result<(Expr, KqlType, Box<dyn Fn(Expr) -> Expr>)> {
        use KqlType::*;
        let n = name.name.as_str();
        let a: Vec<Typed> = args
            .iter()
            .filter(|e| !matches!(e.kind, ExprKind::Star))
            .map(|e| self.scalar(e, fr))
            .collect::<Result<_>>()?;
        let need = |k: usize, m: usize| -> Result<()> {
            if a.len() < k || a.len() > m {
                return Err(KqlError::binding(
                    span,
                    format!(
                        "{n}() takes {k}{} argument(s), got {}",
                        if m > k { format!(" to {m}") } else { std::string::String::new() },
                        a.len()
                    ),
                ));
            }
            Ok(())
        };
        let id: Box<dyn Fn(Expr) -> Expr> = Box::new(|e| e);
        let pred = |this: &Self, t: &Typed| this.convert(t.clone(), Bool);
        let numeric = |this: &Self, t: &Typed| -> Result<Expr> {
            if is_numeric(t.ty) {
                Ok(t.expr.clone())
            } else if matches!(t.ty, Dynamic | String) {
                Ok(this.convert(t.clone(), Real))
            } else {
                Err(KqlError::binding(span, format!("{n}() needs numbers, got {}", t.ty)))
            }
        };
        let sum_ty = |t: &Typed| if matches!(t.ty, Int | Long) { Long } else { Real };
        Ok(match n {
            "count" => {
                need(0, 1)?;
                let e = match a.first() {
                    Some(t) => agg::count(t.expr.clone()),
                    None => agg::count(lit(1i64)),
                };
                (e, Long, id)
            }
            "countif" => {
                need(1, 1)?;
                let e = agg::sum(when(pred(self, &a[0]), lit(1i64)).otherwise(lit(0i64)).map_err(|e| df_err(span, e))?);
                (e, Long, Box::new(|c| datafusion::functions::core::expr_fn::coalesce(vec![c, lit(0i64)])))
            }
            "dcount" | "count_distinct" => {
                need(1, 2)?;
                (agg::count_distinct(a[0].expr.clone()), Long, id)
            }
            "dcountif" => {
                need(2, 3)?;
                let v = when(pred(self, &a[1]), a[0].expr.clone()).end().map_err(|e| df_err(span, e))?;
                (agg::count_distinct(v), Long, id)
            }
            "sum" => {
                need(1, 1)?;
                (agg::sum(numeric(self, &a[0])?), sum_ty(&a[0]), id)
            }
            "sumif" => {
                need(2, 2)?;
                let v = when(pred(self, &a[1]), numeric(self, &a[0])?).end().map_err(|e| df_err(span, e))?;
                (agg::sum(v), sum_ty(&a[0]), id)
            }
            "avg" => {
                need(1, 1)?;
                (agg::avg(cast(numeric(self, &a[0])?, DataType::Float64)), Real, id)
            }
            "avgif" => {
                need(2, 2)?;
                let v = when(pred(self, &a[1]), cast(numeric(self, &a[0])?, DataType::Float64))
                    .end()
                    .map_err(|e| df_err(span, e))?;
                (agg::avg(v), Real, id)
            }
            "min" | "max" => {
                need(1, 1)?;
                let e = if n == "min" { agg::min(a[0].expr.clone()) } else { agg::max(a[0].expr.clone()) };
                (e, a[0].ty, id)
            }
            "minif" | "maxif" => {
                need(2, 2)?;
                let v = when(pred(self, &a[1]), a[0].expr.clone()).end().map_err(|e| df_err(span, e))?;
                let e = if n == "minif" { agg::min(v) } else { agg::max(v) };
                (e, a[0].ty, id)
            }
            "any" | "take_any" => {
                need(1, 1)?;
                (agg::first_value(a[0].expr.clone(), vec![]), a[0].ty, id)
            }
            "make_list" | "makelist" | "make_set" | "makeset" | "make_list_if" | "make_set_if" => {
                let is_if = n.ends_with("_if");
                if is_if {
                    need(2, 3)?
                } else {
                    need(1, 2)?
                };
                let x = a[0].clone();
                let mut filter = is_not_null(x.expr.clone());
                if is_if {
                    filter = filter.and(pred(self, &a[1]));
                }
                let max_arg = a.get(if is_if { 2 } else { 1 });
                let max = match max_arg.map(|t| t.lit.clone()) {
                    None => -1,
                    Some(Some(Literal::Long(m))) => m,
                    Some(_) => return Err(KqlError::binding(span, format!("{n}() max size must be a long literal"))),
                };
                let base = agg::array_agg(x.expr.clone());
                let builder = if n.contains("set") {
                    base.distinct().filter(filter)
                } else {
                    // KQL's make_list keeps the order of a sorted input; DataFusion may drop a
                    // sort nothing downstream requires and aggregates partitions in any order,
                    // so the list states the order it needs.
                    match input_order(&fr.plan) {
                        Some(order) => base.filter(filter).order_by(order),
                        None => base.filter(filter),
                    }
                };
                let e = builder.build().map_err(|e| df_err(span, e))?;
                let c = code(x.ty);
                let post: Box<dyn Fn(Expr) -> Expr> = Box::new(move |col| {
                    let j = udf::call(
                        "kql_to_dynamic",
                        DataType::Utf8,
                        udf::dynamic::to_dynamic,
                        vec![col, lit(c), lit(max)],
                    );
                    dfcore::expr_fn::coalesce(vec![j, lit("[]")])
                });
                (e, Dynamic, post)
            }
            "make_bag" => {
                need(1, 2)?;
                let x = a[0].clone();
                let e = agg::array_agg(x.expr.clone())
                    .filter(is_not_null(x.expr.clone()))
                    .build()
                    .map_err(|e| df_err(span, e))?;
                let post: Box<dyn Fn(Expr) -> Expr> =
                    Box::new(|col| udf::call("kql_merge_bags", DataType::Utf8, udf::dynamic::merge_bags, vec![col]));
                (e, Dynamic, post)
            }
            "stdev" | "stdevp" | "variance" | "variancep" => {
                need(1, 1)?;
                let x = cast(numeric(self, &a[0])?, DataType::Float64);
                let e = match n {
                    "stdev" => agg::stddev(x),
                    "stdevp" => agg::stddev_pop(x),
                    "variance" => agg::var_sample(x),
                    _ => agg::var_pop(x),
                };
                (e, Real, id)
            }
            "percentile" => {
                need(2, 2)?;
                let p = match &a[1].lit {
                    Some(Literal::Long(v)) => *v as f64,
                    Some(Literal::Int(v)) => f64::from(*v),
                    Some(Literal::Real(v)) => *v,
                    _ => return Err(KqlError::binding(span, "percentile() needs a literal percentage")),
                };
                if !(0.0..=100.0).contains(&p) {
                    return Err(KqlError::binding(span, "percentile must be between 0 and 100"));
                }
                let x = cast(numeric(self, &a[0])?, DataType::Float64);
                (agg::percentile_cont(x.sort(true, false), lit(p / 100.0)), Real, id)
            }
            "percentiles" | "arg_max" | "arg_min" => {
                return Err(KqlError::unsupported(
                    name.span,
                    format!("{n}() must be a whole summarize aggregate (not inside an expression)"),
                ));
            }
            _ => return Err(KqlError::unsupported(name.span, format!("aggregate '{n}' is not supported"))),
        })
    }

    /// Plans `summarize aggs by keys`.
    pub(crate) fn summarize(&mut self, fr: Frame, aggs: &[NamedExpr], by: &[NamedExpr], span: Span) -> Result<Frame> {
        if let [one] = aggs
            && let Some((name, args)) = top_call(&one.expr)
            && (name.name == "arg_max" || name.name == "arg_min")
        {
            let rename = one.name.as_ref().map(|n| n.name.clone());
            return self.arg_extreme(fr, name, args, rename, by, span);
        }
        let mut group = Vec::new();
        let mut cols: Vec<Col> = Vec::new();
        let mut post: Vec<Expr> = Vec::new();
        let mut column_n = 0;
        for (i, k) in by.iter().enumerate() {
            let t = self.scalar(&k.expr, &fr)?;
            let name = match (&k.name, &t.name) {
                (Some(n), _) => n.name.clone(),
                (None, Some(n)) => n.clone(),
                (None, None) => {
                    column_n += 1;
                    format!("Column{column_n}")
                }
            };
            let id = format!("__k{i}");
            group.push(t.expr.alias(id.clone()));
            post.push(Expr::Column(Column::from_name(id)).alias(name.clone()));
            cols.push(Col { name, ty: t.ty });
        }
        self.agg = Some(AggCtx { input: fr.clone(), aggs: Vec::new() });
        let mut result = Ok(());
        for a in aggs {
            let r = self.summarize_one(a, &fr, &mut cols, &mut post, &mut column_n);
            if r.is_err() {
                result = r;
                break;
            }
        }
        let ctx = self.agg.take().expect("agg ctx");
        result?;
        let mut seen = std::collections::HashSet::new();
        for c in &cols {
            if !seen.insert(c.name.clone()) {
                return Err(KqlError::binding(
                    span,
                    format!("summarize produces column '{}' twice; name one of them (Name = ...)", c.name),
                ));
            }
        }
        let plan = LogicalPlanBuilder::from(fr.plan.clone())
            .aggregate(group, ctx.aggs)
            .and_then(|b| b.project(post))
            .and_then(|b| b.build())
            .map_err(|e| df_err(span, e))?;
        Ok(fr.with_plan(plan, cols))
    }

    fn summarize_one(
        &mut self,
        a: &NamedExpr,
        fr: &Frame,
        cols: &mut Vec<Col>,
        post: &mut Vec<Expr>,
        column_n: &mut usize,
    ) -> Result<()> {
        if let Some((name, args)) = top_call(&a.expr)
            && name.name == "percentiles"
        {
            if args.len() < 2 {
                return Err(KqlError::binding(a.expr.span, "percentiles() needs a value and at least one percentage"));
            }
            let base = derive_name(&args[0]).unwrap_or_default();
            for p in &args[1..] {
                let lit_p = match &p.kind {
                    ExprKind::Literal(l) => l.clone(),
                    _ => return Err(KqlError::binding(p.span, "percentiles() percentages must be literals")),
                };
                let call = ast::Expr {
                    kind: ExprKind::Call {
                        name: Ident { name: "percentile".into(), span: name.span },
                        args: vec![args[0].clone(), p.clone()],
                    },
                    span: a.expr.span,
                };
                let t = self.scalar(&call, fr)?;
                let cname = format!("percentile_{base}_{}", percent_label(&lit_p));
                post.push(t.expr.alias(cname.clone()));
                cols.push(Col { name: cname, ty: t.ty });
            }
            return Ok(());
        }
        if let Some((name, args)) = top_call(&a.expr)
            && (name.name == "arg_max" || name.name == "arg_min")
        {
            let rename = a.name.as_ref().map(|n| n.name.clone());
            return self.arg_extreme_columns(name, args, rename, fr, cols, post, a.expr.span);
        }
        let t = self.scalar(&a.expr, fr)?;
        let name = match (&a.name, top_call(&a.expr)) {
            (Some(n), _) => n.name.clone(),
            (None, Some((f, args))) if is_aggregate(&f.name) => {
                if f.name == "percentile" {
                    let p = match args.get(1).map(|e| &e.kind) {
                        Some(ExprKind::Literal(l)) => percent_label(l),
                        _ => String::new(),
                    };
                    format!("percentile_{}_{p}", args.first().and_then(derive_name).unwrap_or_default())
                } else {
                    default_name(&f.name, args)
                }
            }
            _ => {
                *column_n += 1;
                format!("Column{column_n}")
            }
        };
        post.push(t.expr.alias(name.clone()));
        cols.push(Col { name, ty: t.ty });
        Ok(())
    }

    /// Appends to `out` (which holds the group keys when arg_max stands alone) the columns
    /// `arg_max(T, rest…)` returns: T — named by `rename`, its own name, or `max_`/`min_` —
    /// then each listed column, or for `*` every input column not there yet. `unnamed`
    /// names (or refuses) a listed expression without a name of its own.
    #[allow(clippy::too_many_arguments)]
    fn arg_extreme_outputs(
        &mut self,
        is_max: bool,
        t: Typed,
        rest: &[ast::Expr],
        rename: Option<String>,
        fr: &Frame,
        out: &mut Vec<(String, Typed)>,
        unnamed: &mut dyn FnMut(&ast::Expr) -> Result<String>,
    ) -> Result<()> {
        let tname =
            rename.or_else(|| t.name.clone()).unwrap_or_else(|| if is_max { "max_".into() } else { "min_".into() });
        out.push((tname, t));
        for e in rest {
            if matches!(e.kind, ExprKind::Star) {
                for (i, c) in fr.cols.iter().enumerate() {
                    if !out.iter().any(|(n, _)| *n == c.name) {
                        out.push((c.name.clone(), Typed::new(fr.col_expr(i), c.ty)));
                    }
                }
            } else {
                let v = self.scalar(e, fr)?;
                let vname = match v.name.clone() {
                    Some(n) => n,
                    None => unnamed(e)?,
                };
                if !out.iter().any(|(n, _)| *n == vname) {
                    out.push((vname, v));
                }
            }
        }
        Ok(())
    }

    /// `arg_max(T, cols | *)` next to other aggregates in one `summarize`: each returned
    /// column is the value of the row with the largest (smallest) T in the group
    /// (`first_value(c ORDER BY T DESC NULLS LAST)`, so rows without T never win), named as
    /// when arg_max stands alone; columns the `by` keys already produce are not repeated.
    /// On its own, arg_max takes [`Self::arg_extreme`], which keeps the whole row.
    #[allow(clippy::too_many_arguments)]
    fn arg_extreme_columns(
        &mut self,
        name: &Ident,
        args: &[ast::Expr],
        rename: Option<String>,
        fr: &Frame,
        cols: &mut Vec<Col>,
        post: &mut Vec<Expr>,
        span: Span,
    ) -> Result<()> {
        let is_max = arg_extreme_arity(name, args, span)?;
        let t = self.scalar(&args[0], fr)?;
        let order = vec![t.expr.clone().sort(!is_max, false)];
        let mut out: Vec<(String, Typed)> = Vec::new();
        let mut unnamed = |e: &ast::Expr| -> Result<String> {
            Err(KqlError::binding(
                e.span,
                format!(
                    "name this {}() column (Name = expression) when other aggregates share the summarize",
                    name.name
                ),
            ))
        };
        self.arg_extreme_outputs(is_max, t, &args[1..], rename, fr, &mut out, &mut unnamed)?;
        let ctx = self.agg.as_mut().expect("summarize sets the aggregate context");
        for (n, v) in out {
            if cols.iter().any(|c| c.name == n) {
                continue;
            }
            let id = format!("__a{}", ctx.aggs.len());
            ctx.aggs.push(agg::first_value(v.expr, order.clone()).alias(id.clone()));
            post.push(Expr::Column(Column::from_name(id)).alias(n.clone()));
            cols.push(Col { name: n, ty: v.ty });
        }
        Ok(())
    }

    /// `summarize arg_max(T, cols | *) by keys`: the row with the largest (smallest) T per group.
    fn arg_extreme(
        &mut self,
        fr: Frame,
        name: &Ident,
        args: &[ast::Expr],
        rename: Option<String>,
        by: &[NamedExpr],
        span: Span,
    ) -> Result<Frame> {
        let is_max = arg_extreme_arity(name, args, span)?;
        let t = self.scalar(&args[0], &fr)?;
        let mut keys = Vec::new();
        let mut out: Vec<(String, Typed)> = Vec::new();
        let mut column_n = 0;
        for k in by {
            let kt = self.scalar(&k.expr, &fr)?;
            let kname = match (&k.name, &kt.name) {
                (Some(n), _) => n.name.clone(),
                (None, Some(n)) => n.clone(),
                (None, None) => {
                    column_n += 1;
                    format!("Column{column_n}")
                }
            };
            keys.push(kt.expr.clone());
            out.push((kname, kt));
        }
        let mut unnamed = |_: &ast::Expr| -> Result<String> {
            column_n += 1;
            Ok(format!("Column{column_n}"))
        };
        self.arg_extreme_outputs(is_max, t.clone(), &args[1..], rename, &fr, &mut out, &mut unnamed)?;
        let rn = datafusion::functions_window::expr_fn::row_number()
            .partition_by(keys)
            .order_by(vec![t.expr.clone().sort(!is_max, false)])
            .build()
            .map_err(|e| df_err(span, e))?
            .alias("__rn");
        // evaluate outputs before the window so they reference the input columns
        let mut pre: Vec<Expr> =
            out.iter().enumerate().map(|(i, (_, t))| t.expr.clone().alias(format!("__o{i}"))).collect();
        pre.push(t.expr.clone().alias("__t"));
        let plan = LogicalPlanBuilder::from(fr.plan.clone())
            .window(vec![rn])
            .and_then(|b| {
                let mut p = pre.clone();
                p.push(Expr::Column(Column::from_name("__rn")));
                b.project(p)
            })
            .and_then(|b| {
                b.filter(
                    Expr::Column(Column::from_name("__rn"))
                        .eq(lit(1i64))
                        .and(is_not_null(Expr::Column(Column::from_name("__t")))),
                )
            })
            .and_then(|b| {
                b.project(
                    out.iter()
                        .enumerate()
                        .map(|(i, (n, _))| Expr::Column(Column::from_name(format!("__o{i}"))).alias(n.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .and_then(|b| b.build())
            .map_err(|e| df_err(span, e))?;
        let cols = out.into_iter().map(|(n, t)| Col { name: n, ty: t.ty }).collect();
        Ok(fr.with_plan(plan, cols))
    }
}
