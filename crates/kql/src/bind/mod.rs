//! Binder + planner: AST → typed DataFusion `LogicalPlan`, in one pass.
//!
//! Each tabular expression becomes a [`Frame`]: a DataFusion logical plan plus the KQL
//! columns it produces (names and KQL types, in order — the plan's fields are exactly these,
//! by position). Names are resolved case-sensitively against the frame (columns) and the `let`
//! scopes; every error carries the span of the offending text and, for names, "did you mean"
//! suggestions. Operators are planned in [`ops`], scalar expressions in [`expr`], scalar
//! functions in [`funcs`], aggregations in [`aggs`]. Columns are always referenced by position
//! (qualified from the plan schema) so equal names on two join sides never clash.

mod aggs;
mod apply;
pub mod bagunpack;
mod expr;
mod funcs;
mod ops;
mod search;
mod series;
mod standard;
mod topnested;
mod userfn;

use std::collections::HashMap;

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};

use crate::ast::{self, ExprKind, Literal, Query, Statement};
use crate::catalog::Catalog;
use crate::error::{KqlError, Result, Span};
use crate::types::{KqlType, arrow_type};

/// One output column of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Col {
    pub name: String,
    pub ty: KqlType,
}

/// A tabular value under construction: a plan and its KQL columns (same order as the plan's
/// fields).
#[derive(Debug, Clone)]
pub struct Frame {
    pub plan: LogicalPlan,
    pub cols: Vec<Col>,
    /// Name for messages and `union withsource` (table or let name; "the input" otherwise).
    pub source: String,
}

impl Frame {
    /// Index of the column named exactly `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c.name == name)
    }
    /// A reference to column `i` (qualified from the plan schema).
    pub fn col_expr(&self, i: usize) -> Expr {
        Expr::Column(Column::from(self.plan.schema().qualified_field(i)))
    }
    fn with_plan(&self, plan: LogicalPlan, cols: Vec<Col>) -> Frame {
        Frame { plan, cols, source: self.source.clone() }
    }
}

/// A bound scalar expression.
#[derive(Debug, Clone)]
pub struct Typed {
    pub expr: Expr,
    pub ty: KqlType,
    /// Name KQL would give this expression as an unnamed column (`x`, `a_b`, `TimeGenerated`).
    pub name: Option<String>,
    /// The literal value when the expression is a constant known at bind time.
    pub lit: Option<Literal>,
}

impl Typed {
    fn new(expr: Expr, ty: KqlType) -> Self {
        Typed { expr, ty, name: None, lit: None }
    }
    fn named(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }
}

/// What a `let` name stands for.
#[derive(Debug, Clone)]
enum LetValue {
    Scalar(Typed),
    Tabular(Frame),
    /// A user-defined function; `tabular` when its body is a tabular expression.
    Function {
        f: std::rc::Rc<ast::Function>,
        tabular: bool,
    },
}

/// Options that shape binding.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// The query's `now()` in ns since the epoch (fixed for the whole query).
    pub now_ns: i64,
    /// Restrict every table with a `TimeGenerated` column to `[start, end)` (ns).
    pub timespan: Option<(i64, i64)>,
    /// Columns of schemaless `bag_unpack`s, learned from the data ([`bagunpack`]).
    pub bag_keys: Option<std::sync::Arc<bagunpack::BagKeys>>,
}

/// The result of binding a query.
#[derive(Debug, Clone)]
pub struct BoundQuery {
    pub plan: LogicalPlan,
    pub columns: Vec<(String, KqlType)>,
    /// Chart kind from `render`, if any (kept as result metadata).
    pub render: Option<String>,
    /// True when the plan uses row order (`serialize`, `prev`, `row_number`): execute keeps a
    /// single partition so order survives.
    pub ordered: bool,
}

/// Binds a parsed query against a catalog.
pub fn bind_query(query: &Query, catalog: &dyn Catalog, opts: &BindOptions) -> Result<BoundQuery> {
    bind_query_or_request(query, catalog, opts).map_err(|(e, _)| e)
}

/// Binds like [`bind_query`]; when binding stopped at a schemaless `bag_unpack` whose keys are
/// not in `opts.bag_keys`, also returns what to run to learn them.
pub fn bind_query_or_request(
    query: &Query,
    catalog: &dyn Catalog,
    opts: &BindOptions,
) -> std::result::Result<BoundQuery, (KqlError, Option<Box<bagunpack::BagRequest>>)> {
    let mut b = Binder {
        catalog,
        scopes: vec![HashMap::new()],
        opts: opts.clone(),
        windows: Vec::new(),
        counter: 0,
        render: None,
        ordered: false,
        agg: None,
        fn_depth: 0,
        bag_request: None,
    };
    b.query(query).map_err(|e| (e.locate(&query.text), b.bag_request.take().map(Box::new)))
}

pub(crate) struct Binder<'a> {
    catalog: &'a dyn Catalog,
    scopes: Vec<HashMap<String, LetValue>>,
    opts: BindOptions,
    /// Window expressions (prev/next/row_number) collected while binding one operator.
    windows: Vec<(String, Expr)>,
    counter: usize,
    render: Option<String>,
    ordered: bool,
    /// Set while binding `summarize` aggregates: (input frame, collected aggregate exprs).
    agg: Option<aggs::AggCtx>,
    /// Nesting depth of user-defined function calls being bound (recursion guard).
    fn_depth: usize,
    /// Set when binding stopped at a schemaless `bag_unpack` with unknown keys.
    bag_request: Option<bagunpack::BagRequest>,
}

impl Binder<'_> {
    fn query(&mut self, q: &Query) -> Result<BoundQuery> {
        let mut last = None;
        for st in &q.statements {
            match st {
                Statement::Let { name, value, .. } => {
                    let v = self.let_value(&name.name, value)?;
                    self.scopes.last_mut().expect("scope").insert(name.name.clone(), v);
                }
                Statement::Expr(e) => last = Some(e),
            }
        }
        let e =
            last.ok_or_else(|| KqlError::general(crate::error::ErrorKind::Syntax, "query has no tabular expression"))?;
        let frame = self.tabular(e)?;
        let columns = frame.cols.iter().map(|c| (c.name.clone(), c.ty)).collect();
        Ok(BoundQuery { plan: frame.plan, columns, render: self.render.take(), ordered: self.ordered })
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("__{prefix}{}", self.counter)
    }

    fn lookup_let(&self, name: &str) -> Option<&LetValue> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    /// Decides whether a let value is tabular (pipes, tables, tabular lets, union, datatable…)
    /// or scalar, and binds it.
    fn let_value(&mut self, name: &str, e: &ast::Expr) -> Result<LetValue> {
        if let ExprKind::Function(f) = &e.kind {
            return self.define_function(f, e.span);
        }
        if self.is_tabular(e) {
            let mut f = self.tabular(e)?;
            f.source = name.to_string();
            Ok(LetValue::Tabular(f))
        } else {
            let empty = self.empty_frame()?;
            let t = self.scalar(e, &empty)?;
            Ok(LetValue::Scalar(t))
        }
    }

    fn is_tabular(&self, e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Pipe { .. }
            | ExprKind::Union(_)
            | ExprKind::Datatable { .. }
            | ExprKind::Print(_)
            | ExprKind::Search(_)
            | ExprKind::Range { .. } => true,
            ExprKind::Name(n) => match self.lookup_let(n) {
                Some(LetValue::Tabular(_)) => true,
                Some(LetValue::Function { f, tabular }) => *tabular && f.params.is_empty(),
                Some(LetValue::Scalar(_)) => false,
                None => self.catalog.table(n).is_some(),
            },
            ExprKind::Call { name, args } => match self.lookup_let(&name.name) {
                Some(LetValue::Function { tabular, .. }) => *tabular,
                Some(LetValue::Tabular(_)) => args.is_empty(),
                _ => matches!(name.name.as_str(), "materialize" | "table" | "view") && !args.is_empty(),
            },
            _ => false,
        }
    }

    /// A one-row, zero-column frame (for `print` and scalar lets).
    fn empty_frame(&self) -> Result<Frame> {
        let plan = LogicalPlanBuilder::empty(true).build().map_err(|e| df_err(Span::default(), e))?;
        Ok(Frame { plan, cols: Vec::new(), source: "the input".into() })
    }

    /// Binds a tabular expression.
    fn tabular(&mut self, e: &ast::Expr) -> Result<Frame> {
        match &e.kind {
            ExprKind::Name(n) => self.table_ref(n, e.span),
            ExprKind::Pipe { source, ops } => {
                let mut f = self.tabular(source)?;
                for op in ops {
                    f = self.operator(f, op)?;
                }
                Ok(f)
            }
            ExprKind::Union(u) => self.union(None, u),
            ExprKind::Datatable { columns, values } => self.datatable(columns, values, e.span),
            ExprKind::Print(list) => {
                let empty = self.empty_frame()?;
                let mut f = self.project(empty, list, e.span, true)?;
                f.source = "print".into();
                Ok(f)
            }
            ExprKind::Range { name, from, to, step } => self.range(name, from, to, step, e.span),
            ExprKind::Search(op) => self.search_source(op),
            ExprKind::Call { name, args } if matches!(self.lookup_let(&name.name), Some(LetValue::Function { .. })) => {
                self.call_function_tabular(name, args, e.span)
            }
            ExprKind::Call { name, args }
                if matches!(name.name.as_str(), "materialize" | "view") && args.len() == 1 =>
            {
                self.tabular(&args[0])
            }
            ExprKind::Call { name, args }
                if args.is_empty() && matches!(self.lookup_let(&name.name), Some(LetValue::Tabular(_))) =>
            {
                self.table_ref(&name.name, e.span)
            }
            ExprKind::Call { name, args } if name.name == "table" && args.len() == 1 => match &args[0].kind {
                ExprKind::Literal(Literal::String(t)) => self.table_ref(t, args[0].span),
                _ => Err(KqlError::binding(args[0].span, "table() needs a string literal table name")),
            },
            _ => Err(KqlError::binding(
                e.span,
                "expected a tabular expression (a table, a let-bound table or 'T | ...')",
            )),
        }
    }

    /// A table or tabular let by name.
    fn table_ref(&mut self, n: &str, span: Span) -> Result<Frame> {
        match self.lookup_let(n) {
            Some(LetValue::Tabular(f)) => return Ok(f.clone()),
            Some(LetValue::Function { .. }) => {
                let id = ast::Ident { name: n.to_string(), span };
                return self.call_function_tabular(&id, &[], span);
            }
            Some(LetValue::Scalar(_)) => {
                return Err(KqlError::binding(span, format!("'{n}' is a scalar let, not a table")));
            }
            None => {}
        }
        let Some(t) = self.catalog.table(n) else {
            let mut names = self.catalog.table_names();
            for s in &self.scopes {
                for (k, v) in s {
                    if matches!(v, LetValue::Tabular(_) | LetValue::Function { tabular: true, .. }) {
                        names.push(k.clone());
                    }
                }
            }
            let hint = did_you_mean(n, names.iter().map(|s| s.as_str()));
            return Err(KqlError::binding(span, format!("table '{n}' not found{hint}")));
        };
        // shadow columns stay out of the frame (crate::shadow reads them where they help)
        let schema = t.source.schema();
        let hidden = schema.fields().iter().any(|f| keelwatch_jsonscan::is_shadow(f.metadata()));
        let projection = hidden.then(|| {
            (0..schema.fields().len()).filter(|&i| !keelwatch_jsonscan::is_shadow(schema.field(i).metadata())).collect()
        });
        let plan = LogicalPlanBuilder::scan(t.name.clone(), t.source.clone(), projection)
            .and_then(|b| b.build())
            .map_err(|e| df_err(span, e))?;
        let cols: Vec<Col> = t.columns.iter().map(|(n, ty)| Col { name: n.clone(), ty: *ty }).collect();
        let mut f = Frame { plan, cols, source: t.name.clone() };
        if let Some((start, end)) = self.opts.timespan
            && let Some(i) = f.find("TimeGenerated").filter(|i| f.cols[*i].ty == KqlType::DateTime)
        {
            let c = f.col_expr(i);
            let pred = c.clone().gt_eq(ts_lit(start)).and(c.lt(ts_lit(end)));
            let plan = LogicalPlanBuilder::from(f.plan.clone())
                .filter(pred)
                .and_then(|b| b.build())
                .map_err(|e| df_err(span, e))?;
            f.plan = plan;
        }
        Ok(f)
    }

    fn datatable(&mut self, columns: &[(ast::Ident, KqlType)], values: &[ast::Expr], span: Span) -> Result<Frame> {
        if columns.is_empty() {
            return Err(KqlError::binding(span, "datatable needs at least one column"));
        }
        if !values.len().is_multiple_of(columns.len()) {
            return Err(KqlError::binding(
                span,
                format!("datatable has {} values, not a multiple of its {} columns", values.len(), columns.len()),
            ));
        }
        let empty = self.empty_frame()?;
        let mut rows = Vec::new();
        for chunk in values.chunks(columns.len()) {
            let mut row = Vec::new();
            for ((name, ty), v) in columns.iter().zip(chunk) {
                let t = self.scalar(v, &empty)?;
                let sv = match &t.lit {
                    Some(l) => literal_value(l, self.opts.now_ns),
                    None => {
                        return Err(KqlError::binding(
                            v.span,
                            format!("datatable values must be literals (column '{}')", name.name),
                        ));
                    }
                };
                let sv = if t.ty == *ty || matches!(sv, ScalarValue::Null) {
                    sv.cast_to(&arrow_type(*ty)).map_err(|e| df_err(v.span, e))?
                } else {
                    sv.cast_to(&arrow_type(*ty)).map_err(|_| {
                        KqlError::binding(
                            v.span,
                            format!("value for column '{}' is {}, expected {}", name.name, t.ty, ty),
                        )
                    })?
                };
                row.push(lit(sv));
            }
            rows.push(row);
        }
        let cols: Vec<Col> = columns.iter().map(|(n, t)| Col { name: n.name.clone(), ty: *t }).collect();
        let plan = if rows.is_empty() {
            let ct = crate::catalog::CatalogTable::empty(
                "datatable",
                &cols.iter().map(|c| (c.name.clone(), c.ty)).collect::<Vec<_>>(),
            );
            LogicalPlanBuilder::scan("datatable", ct.source, None).and_then(|b| b.build())
        } else {
            LogicalPlanBuilder::values(rows)
                .and_then(|b| {
                    let schema = b.schema().clone();
                    let exprs: Vec<Expr> = (0..cols.len())
                        .map(|i| Expr::Column(Column::from(schema.qualified_field(i))).alias(cols[i].name.clone()))
                        .collect();
                    b.project(exprs)
                })
                .and_then(|b| b.build())
        }
        .map_err(|e| df_err(span, e))?;
        Ok(Frame { plan, cols, source: "datatable".into() })
    }

    fn range(
        &mut self,
        name: &ast::Ident,
        from: &ast::Expr,
        to: &ast::Expr,
        step: &ast::Expr,
        span: Span,
    ) -> Result<Frame> {
        let empty = self.empty_frame()?;
        let vals: Vec<Typed> = [from, to, step].iter().map(|e| self.scalar(e, &empty)).collect::<Result<_>>()?;
        let num = |t: &Typed| match &t.lit {
            Some(Literal::Long(v)) => Some(*v),
            Some(Literal::Int(v)) => Some(i64::from(*v)),
            Some(Literal::DateTime(v)) | Some(Literal::TimeSpan(v)) => Some(*v),
            _ => None,
        };
        let (Some(a), Some(b), Some(s)) = (num(&vals[0]), num(&vals[1]), num(&vals[2])) else {
            return Err(KqlError::unsupported(span, "range needs literal long, datetime or timespan bounds"));
        };
        if s <= 0 || (b - a) / s > 1_000_000 {
            return Err(KqlError::binding(span, "range step must be positive and produce at most 1,000,000 rows"));
        }
        let ty = vals[0].ty;
        let mut rows = Vec::new();
        let mut v = a;
        while v <= b {
            let sv = match ty {
                KqlType::DateTime => ScalarValue::TimestampNanosecond(Some(v), Some(crate::types::UTC.into())),
                KqlType::TimeSpan => ScalarValue::DurationNanosecond(Some(v)),
                _ => ScalarValue::Int64(Some(v)),
            };
            rows.push(vec![lit(sv)]);
            v += s;
        }
        let ty = if matches!(ty, KqlType::DateTime | KqlType::TimeSpan) { ty } else { KqlType::Long };
        let cols = vec![Col { name: name.name.clone(), ty }];
        if rows.is_empty() {
            let ct = crate::catalog::CatalogTable::empty("range", &[(name.name.clone(), ty)]);
            let plan = LogicalPlanBuilder::scan("range", ct.source, None)
                .and_then(|b| b.build())
                .map_err(|e| df_err(span, e))?;
            return Ok(Frame { plan, cols, source: "range".into() });
        }
        let plan = LogicalPlanBuilder::values(rows)
            .and_then(|b| {
                let c = Expr::Column(Column::from(b.schema().qualified_field(0)));
                b.project(vec![c.alias(name.name.clone())])
            })
            .and_then(|b| b.build())
            .map_err(|e| df_err(span, e))?;
        Ok(Frame { plan, cols, source: "range".into() })
    }
}

/// `" (did you mean 'X'?)"` or `""`.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let c: Vec<&str> = candidates.into_iter().filter(|c| !c.starts_with("__")).collect();
    match keelwatch_tables::suggest(name, c).first() {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

/// Wraps a DataFusion planning error with a span.
pub(crate) fn df_err(span: Span, e: datafusion::error::DataFusionError) -> KqlError {
    KqlError::binding(span, format!("cannot plan this: {}", e.strip_backtrace()))
}

pub(crate) fn ts_lit(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(ns), Some(crate::types::UTC.into())))
}

/// The DataFusion value of a literal.
pub(crate) fn literal_value(l: &Literal, now_ns: i64) -> ScalarValue {
    match l {
        Literal::Null => ScalarValue::Utf8(None),
        Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Literal::Int(v) => ScalarValue::Int32(Some(*v)),
        Literal::Long(v) => ScalarValue::Int64(Some(*v)),
        Literal::Real(v) => ScalarValue::Float64(Some(*v)),
        Literal::String(s) | Literal::Guid(s) => ScalarValue::Utf8(Some(s.clone())),
        Literal::DateTime(v) => ScalarValue::TimestampNanosecond(Some(*v), Some(crate::types::UTC.into())),
        Literal::DateTimeNow => ScalarValue::TimestampNanosecond(Some(now_ns), Some(crate::types::UTC.into())),
        Literal::TimeSpan(v) => ScalarValue::DurationNanosecond(Some(*v)),
        Literal::Dynamic(j) => {
            if j.is_null() {
                ScalarValue::Utf8(None)
            } else {
                ScalarValue::Utf8(Some(j.to_string()))
            }
        }
        Literal::TypedNull(t) => ScalarValue::try_from(&arrow_type(*t)).unwrap_or(ScalarValue::Null),
    }
}

/// KQL type of a literal.
pub(crate) fn literal_type(l: &Literal) -> KqlType {
    match l {
        Literal::Null => KqlType::String,
        Literal::Bool(_) => KqlType::Bool,
        Literal::Int(_) => KqlType::Int,
        Literal::Long(_) => KqlType::Long,
        Literal::Real(_) => KqlType::Real,
        Literal::String(_) => KqlType::String,
        Literal::Guid(_) => KqlType::Guid,
        Literal::DateTime(_) | Literal::DateTimeNow => KqlType::DateTime,
        Literal::TimeSpan(_) => KqlType::TimeSpan,
        Literal::Dynamic(_) => KqlType::Dynamic,
        Literal::TypedNull(t) => *t,
    }
}
