//! `evaluate bag_unpack(Col [, prefix [, columnsConflict [, ignoredProperties]]]) [: (…)]`: the
//! top-level slots of a property bag become columns.
//!
//! With an output schema the columns are known at bind time: `: (A:type, …)` gives exactly
//! those columns, `: (*, A:type, …)` keeps the input's columns too (Kusto's rule). A schema
//! name that already starts with the prefix is taken as the output name, otherwise as the key.
//!
//! Without a schema the columns depend on the data, which binding never reads. Binding then
//! stops with a [`BagRequest`]: a plan over the `bag_unpack`'s input listing the distinct
//! (value type, key) pairs of the bags (parsed per row, unnested, grouped, bounded). The caller
//! ([`crate::exec`]) runs it, folds the pairs into a [`BagColumns`] list ([`fold_keys`]) and
//! binds again with the list in [`super::BindOptions::bag_keys`]. Cost: the input of the
//! `bag_unpack` is evaluated once more per schemaless `bag_unpack` (Kusto's docs warn of the
//! same), with memory bounded by the number of distinct pairs. The output is the input's columns
//! without the bag column, then one column per distinct key in key order, typed as the slot's
//! values when they all share one type, else dynamic; at most [`MAX_BAG_COLUMNS`] columns.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Column, Result as DFResult};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use serde_json::Value as Json;

use super::expr::derive_name;
use super::{Binder, Col, Frame, Typed, df_err};
use crate::ast::{self, BagConflict, ExprKind, Ident};
use crate::error::{KqlError, Result, Span};
use crate::types::KqlType;
use crate::udf::{self, Args};

/// Most columns a schemaless `bag_unpack` may add.
pub const MAX_BAG_COLUMNS: usize = 1024;

/// Start of the error message of a schemaless `bag_unpack` bound without data.
pub const NEEDS_DATA: &str = "evaluate bag_unpack without an output schema takes its columns from the data";

/// Keys and column types of one schemaless `bag_unpack`, in output order.
pub type BagColumns = Vec<(String, KqlType)>;

/// Keys learned from the data, per schemaless `bag_unpack` (by its operator's span).
pub type BagKeys = HashMap<(usize, usize), BagColumns>;

/// A schemaless `bag_unpack` whose keys binding needs: `plan` yields the distinct
/// `<type code><SEP><key>` pairs of its bag values (one text column), for [`fold_keys`].
#[derive(Debug, Clone)]
pub struct BagRequest {
    pub span: Span,
    pub plan: LogicalPlan,
    pub ignored: Vec<String>,
}

const SEP: char = '\u{1f}';

/// `kql_bag_key_types(bag)`: per row, the list of `<type code><SEP><key>` of a JSON object's
/// slots (empty for anything else). Type codes: `n` null, `b` bool, `l` long, `r` real, `s`
/// string, `d` array or object.
fn key_types(a: &Args) -> DFResult<ArrayRef> {
    let arr = datafusion::arrow::compute::cast(&a.array(0)?, &DataType::Utf8)?;
    let texts = arr.as_string::<i32>();
    let mut out = ListBuilder::new(StringBuilder::new());
    for r in 0..a.n {
        if texts.is_valid(r)
            && let Ok(Json::Object(m)) = serde_json::from_str::<Json>(texts.value(r))
        {
            for (k, v) in m {
                let code = match &v {
                    Json::Null => 'n',
                    Json::Bool(_) => 'b',
                    Json::Number(n) if n.is_i64() => 'l',
                    Json::Number(_) => 'r',
                    Json::String(_) => 's',
                    Json::Array(_) | Json::Object(_) => 'd',
                };
                out.values().append_value(format!("{code}{SEP}{k}"));
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// The plan that lists the distinct (type, key) pairs of `bag` over `input`, bounded so that
/// more than [`MAX_BAG_COLUMNS`] keys can be told apart from exactly that many.
fn key_plan(input: &LogicalPlan, bag: Expr) -> datafusion::error::Result<LogicalPlan> {
    let list_type = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    LogicalPlanBuilder::from(input.clone())
        .project(vec![udf::call("kql_bag_key_types", list_type, key_types, vec![bag]).alias("kt")])?
        .unnest_column("kt")?
        .aggregate(vec![Expr::Column(Column::from_name("kt"))], Vec::<Expr>::new())?
        .limit(0, Some((MAX_BAG_COLUMNS + 1) * 6))?
        .build()
}

/// Folds `<type code><SEP><key>` pairs (from the request's plan) into columns: one per key in
/// key order, typed as the slot's values when they share one type (nulls aside), else dynamic.
/// Fails past [`MAX_BAG_COLUMNS`] keys.
pub fn fold_keys<'a>(
    pairs: impl Iterator<Item = &'a str>,
    ignored: &[String],
) -> std::result::Result<BagColumns, String> {
    let mut acc: BTreeMap<&str, Option<KqlType>> = BTreeMap::new();
    for p in pairs {
        let Some((code, key)) = p.split_once(SEP) else { continue };
        if ignored.iter().any(|i| i == key) {
            continue;
        }
        let ty = match code {
            "b" => Some(KqlType::Bool),
            "l" => Some(KqlType::Long),
            "r" => Some(KqlType::Real),
            "s" => Some(KqlType::String),
            "d" => Some(KqlType::Dynamic),
            _ => None,
        };
        let slot = acc.entry(key).or_insert(ty);
        *slot = match (*slot, ty) {
            (a, None) => a,
            (None, b) => b,
            (Some(a), Some(b)) if a == b => Some(a),
            _ => Some(KqlType::Dynamic),
        };
        if acc.len() > MAX_BAG_COLUMNS {
            return Err(format!(
                "bag_unpack would add more than {MAX_BAG_COLUMNS} columns; give an output schema ': (Key:type, …)' or ignoredProperties"
            ));
        }
    }
    Ok(acc.into_iter().map(|(k, t)| (k.to_string(), t.unwrap_or(KqlType::Dynamic))).collect())
}

/// The parts of a `bag_unpack` operator.
pub(crate) struct BagUnpackOp<'a> {
    pub column: &'a ast::Expr,
    pub prefix: Option<&'a str>,
    pub conflict: BagConflict,
    pub ignored: &'a [String],
    pub schema: Option<&'a [(Ident, KqlType)]>,
    pub schema_keeps_input: bool,
}

impl Binder<'_> {
    pub(crate) fn bag_unpack(&mut self, fr: Frame, op: &BagUnpackOp<'_>, span: Span) -> Result<Frame> {
        let bag = self.scalar(op.column, &fr)?;
        if !crate::types::is_textual(bag.ty) {
            return Err(KqlError::binding(
                op.column.span,
                format!("bag_unpack needs a dynamic property bag, this is {}", bag.ty),
            ));
        }
        let prefix = op.prefix.unwrap_or("");
        // (key, output name, type, span of the name)
        let wanted: Vec<(String, String, KqlType, Span)> = match op.schema {
            Some(cols) => cols
                .iter()
                .map(|(id, ty)| match id.name.strip_prefix(prefix).filter(|k| !prefix.is_empty() && !k.is_empty()) {
                    Some(key) => (key.to_string(), id.name.clone(), *ty, id.span),
                    None => (id.name.clone(), format!("{prefix}{}", id.name), *ty, id.span),
                })
                .collect(),
            None => {
                let key = (span.start, span.end);
                let Some(found) = self.opts.bag_keys.as_ref().and_then(|k| k.get(&key)) else {
                    let plan = key_plan(&fr.plan, bag.expr).map_err(|e| df_err(span, e))?;
                    self.bag_request = Some(BagRequest { span, plan, ignored: op.ignored.to_vec() });
                    return Err(KqlError::unsupported(
                        span,
                        format!(
                            "{NEEDS_DATA}, which is not read here; give an output schema, e.g. 'evaluate bag_unpack(Col) : (Key1:string, Key2:long)'"
                        ),
                    ));
                };
                found.iter().map(|(k, t)| (k.clone(), format!("{prefix}{k}"), *t, span)).collect()
            }
        };
        let bag_name = derive_name(op.column).filter(|n| fr.find(n).is_some());
        let keep: Vec<usize> = if op.schema.is_some() && !op.schema_keeps_input {
            Vec::new()
        } else {
            (0..fr.cols.len()).filter(|i| Some(&fr.cols[*i].name) != bag_name.as_ref()).collect()
        };
        let mut exprs: Vec<_> = keep.iter().map(|i| fr.col_expr(*i).alias(fr.cols[*i].name.clone())).collect();
        let mut cols: Vec<Col> = keep.iter().map(|i| fr.cols[*i].clone()).collect();
        for (key, out_name, ty, name_span) in wanted {
            if op.ignored.contains(&key) {
                continue;
            }
            let existing = cols.iter().position(|c| c.name == out_name);
            if let Some(i) = existing {
                if op.schema.is_some() {
                    // the schema names an input column: it is kept as is
                    if cols[i].ty != ty {
                        return Err(KqlError::binding(
                            name_span,
                            format!("bag_unpack column '{out_name}' clashes with an existing {} column", cols[i].ty),
                        ));
                    }
                    continue;
                }
                match op.conflict {
                    BagConflict::KeepSource => continue,
                    BagConflict::ReplaceSource => {}
                    BagConflict::Error => {
                        return Err(KqlError::binding(
                            span,
                            format!(
                                "bag_unpack: the bag's key '{key}' makes a column '{out_name}' that the input already has; \
                                 pass a prefix or columnsConflict 'replace_source' / 'keep_source'"
                            ),
                        ));
                    }
                }
            }
            let lit = ast::Expr { kind: ExprKind::Literal(ast::Literal::String(key.clone())), span: name_span };
            let member = ast::Expr {
                kind: ExprKind::Index { base: Box::new(op.column.clone()), index: Box::new(lit) },
                span: name_span,
            };
            let v = self.scalar(&member, &fr)?;
            let v = if ty == KqlType::Dynamic { v } else { Typed::new(self.convert(v, ty), ty) };
            match existing {
                Some(i) => {
                    exprs[i] = v.expr.alias(out_name.clone());
                    cols[i].ty = ty;
                }
                None => {
                    exprs.push(v.expr.alias(out_name.clone()));
                    cols.push(Col { name: out_name, ty });
                }
            }
        }
        let plan = LogicalPlanBuilder::from(fr.plan.clone())
            .project(exprs)
            .and_then(|b| b.build())
            .map_err(|e| df_err(span, e))?;
        Ok(fr.with_plan(plan, cols))
    }
}
