//! Scalar function calls: the KQL function catalog this engine implements, mapped to
//! DataFusion built-ins where semantics match and to [`crate::udf`] where they do not.
//! Window functions (`prev`, `next`, `row_number`) are collected into `Binder::windows` and
//! planned by the operator that contains them.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::{core as dfcore, datetime as dfdt, math, regex as dfre, string as dfstr, unicode};
use datafusion::logical_expr::{Expr, ScalarUDF, Subquery, cast, is_null, lit, not, when};

use super::expr::{as_dur, as_ts, code, derive_name, i64e};
use super::{Binder, Frame, Typed, df_err};
use crate::ast::{self, ExprKind, Ident, Literal};
use crate::error::{KqlError, Result, Span};
use crate::lexer::{NS_PER_DAY, NS_PER_SEC};
use crate::types::{KqlType, arrow_type, is_numeric, is_textual};
use crate::udf;

fn df(u: Arc<ScalarUDF>, args: Vec<Expr>) -> Expr {
    u.call(args)
}

/// Names of every scalar function implemented (for "did you mean").
pub(crate) const SCALAR_FUNCTIONS: &[&str] = &[
    "tostring",
    "tolong",
    "toint",
    "todouble",
    "toreal",
    "todecimal",
    "tobool",
    "toboolean",
    "todatetime",
    "totimespan",
    "totime",
    "toguid",
    "todynamic",
    "parse_json",
    "parsejson",
    "ago",
    "now",
    "bin",
    "floor",
    "bin_at",
    "ceiling",
    "round",
    "abs",
    "sqrt",
    "exp",
    "log",
    "log10",
    "log2",
    "pow",
    "sign",
    "isnan",
    "isfinite",
    "max_of",
    "min_of",
    "strcat",
    "strcat_delim",
    "tolower",
    "toupper",
    "strlen",
    "string_size",
    "substring",
    "indexof",
    "replace_string",
    "replace_regex",
    "replace",
    "trim",
    "trim_start",
    "trim_end",
    "reverse",
    "split",
    "extract",
    "extractall",
    "countof",
    "url_decode",
    "iff",
    "iif",
    "case",
    "coalesce",
    "isempty",
    "isnotempty",
    "isnull",
    "isnotnull",
    "not",
    "datetime_add",
    "datetime_diff",
    "datetime_part",
    "getyear",
    "getmonth",
    "dayofmonth",
    "dayofyear",
    "hourofday",
    "dayofweek",
    "week_of_year",
    "weekofyear",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "endofweek",
    "endofmonth",
    "endofyear",
    "format_datetime",
    "format_timespan",
    "make_datetime",
    "unixtime_seconds_todatetime",
    "unixtime_milliseconds_todatetime",
    "unixtime_microseconds_todatetime",
    "unixtime_nanoseconds_todatetime",
    "array_length",
    "pack",
    "bag_pack",
    "pack_dictionary",
    "pack_array",
    "strcat_array",
    "bag_keys",
    "set_has_element",
    "array_index_of",
    "gettype",
    "column_ifexists",
    "columnifexists",
    "estimate_data_size",
    "format_bytes",
    "extractjson",
    "extract_json",
    "ingestion_time",
    "toscalar",
    "prev",
    "next",
    "row_number",
    "materialize",
];

impl Binder<'_> {
    fn args(&mut self, args: &[ast::Expr], fr: &Frame) -> Result<Vec<Typed>> {
        args.iter().map(|a| self.scalar(a, fr)).collect()
    }

    fn lit_str_arg(t: &Typed, e: &ast::Expr, what: &str) -> Result<String> {
        match &t.lit {
            Some(Literal::String(s)) => Ok(s.clone()),
            _ => Err(KqlError::binding(e.span, format!("{what} must be a string literal"))),
        }
    }

    fn arity(name: &Ident, args: &[ast::Expr], min: usize, max: usize, span: Span) -> Result<()> {
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(KqlError::binding(
                span,
                format!("{}() takes {want} argument(s), got {}", name.name, args.len()),
            ));
        }
        Ok(())
    }

    /// Binds a function call.
    pub(crate) fn call(&mut self, name: &Ident, args: &[ast::Expr], span: Span, fr: &Frame) -> Result<Typed> {
        let n = name.name.as_str();
        if matches!(self.lookup_let(n), Some(super::LetValue::Function { .. })) {
            return self.call_function_scalar(name, args, span, fr);
        }
        if super::aggs::is_aggregate(n) {
            return self.aggregate_call(name, args, span);
        }
        // calls that do not bind all their arguments as plain scalars first
        match n {
            "toscalar" => {
                Self::arity(name, args, 1, 1, span)?;
                let sub = self.tabular(&args[0])?;
                let Some(c) = sub.cols.first().cloned() else {
                    return Err(KqlError::binding(
                        args[0].span,
                        "toscalar() needs a tabular expression with at least one column",
                    ));
                };
                let plan = datafusion::logical_expr::LogicalPlanBuilder::from(sub.plan.clone())
                    .project(vec![sub.col_expr(0)])
                    .and_then(|b| b.limit(0, Some(1)))
                    .and_then(|b| b.build())
                    .map_err(|e| df_err(span, e))?;
                let sq = Subquery { subquery: Arc::new(plan), outer_ref_columns: vec![], spans: Default::default() };
                return Ok(Typed::new(Expr::ScalarSubquery(sq), c.ty));
            }
            "estimate_data_size" => {
                Self::arity(name, args, 1, usize::MAX, span)?;
                if args.len() == 1 && matches!(args[0].kind, ExprKind::Star) {
                    return Ok(self.row_size(fr));
                }
                let a = self.args(args, fr)?;
                return Ok(super::standard::data_size(a.into_iter().map(|t| t.expr).collect()));
            }
            "ingestion_time" => {
                Self::arity(name, args, 0, 0, span)?;
                return Ok(self.time_received(fr));
            }
            "extractjson" | "extract_json" => {
                Self::arity(name, args, 2, 3, span)?;
                return self.extract_json(args, fr);
            }
            // `columnifexists` is the deprecated spelling the portal's generated queries use.
            "column_ifexists" | "columnifexists" => {
                Self::arity(name, args, 2, 2, span)?;
                let col = match &args[0].kind {
                    ExprKind::Literal(Literal::String(s)) => s.clone(),
                    _ => {
                        return Err(KqlError::binding(
                            args[0].span,
                            "column_ifexists() needs a string literal column name",
                        ));
                    }
                };
                return match fr.find(&col) {
                    Some(i) => Ok(Typed::new(fr.col_expr(i), fr.cols[i].ty).named(Some(col))),
                    None => self.scalar(&args[1], fr),
                };
            }
            "prev" | "next" => {
                Self::arity(name, args, 1, 3, span)?;
                let v = self.scalar(&args[0], fr)?;
                let offset = match args.get(1) {
                    None => 1,
                    Some(a) => match self.scalar(a, fr)?.lit {
                        Some(Literal::Long(k)) if k >= 0 => k,
                        _ => {
                            return Err(KqlError::binding(
                                a.span,
                                "prev()/next() offset must be a non-negative long literal",
                            ));
                        }
                    },
                };
                let default = match args.get(2) {
                    None => None,
                    Some(a) => {
                        let d = self.scalar(a, fr)?;
                        match &d.lit {
                            Some(l) => Some(
                                super::literal_value(l, self.opts.now_ns)
                                    .cast_to(&arrow_type(v.ty))
                                    .map_err(|e| df_err(a.span, e))?,
                            ),
                            None => return Err(KqlError::binding(a.span, "prev()/next() default must be a literal")),
                        }
                    }
                };
                let w = if n == "prev" {
                    datafusion::functions_window::expr_fn::lag(v.expr, Some(offset), default)
                } else {
                    datafusion::functions_window::expr_fn::lead(v.expr, Some(offset), default)
                };
                return Ok(self.window(w, v.ty));
            }
            "row_number" => {
                Self::arity(name, args, 0, 1, span)?;
                let start = match args.first() {
                    None => 1,
                    Some(a) => match self.scalar(a, fr)?.lit {
                        Some(Literal::Long(k)) => k,
                        _ => return Err(KqlError::binding(a.span, "row_number() start must be a long literal")),
                    },
                };
                let t = self.window(datafusion::functions_window::expr_fn::row_number(), KqlType::Long);
                return Ok(Typed::new(cast(t.expr, DataType::Int64) + lit(start - 1), KqlType::Long));
            }
            "extract" if args.len() == 4 => {
                let ty = type_of_arg(&args[3])?;
                let t = self.call(name, &args[..3], span, fr)?;
                return Ok(Typed::new(self.convert(t, ty), ty));
            }
            _ => {}
        }
        let a = self.args(args, fr)?;
        let first_name = args.first().and_then(derive_name);
        let t = self.scalar_fn(name, args, a, span)?;
        Ok(if t.name.is_none() && matches!(n, "bin" | "floor" | "bin_at") { t.named(first_name) } else { t })
    }

    /// Registers a window expression and returns a reference to its output column.
    fn window(&mut self, w: Expr, ty: KqlType) -> Typed {
        let name = self.fresh("w");
        self.windows.push((name.clone(), w));
        self.ordered = true;
        Typed::new(Expr::Column(datafusion::common::Column::from_name(name)), ty)
    }

    fn scalar_fn(&mut self, name: &Ident, args: &[ast::Expr], a: Vec<Typed>, span: Span) -> Result<Typed> {
        use KqlType::*;
        let n = name.name.as_str();
        let ar = |min, max| Self::arity(name, args, min, max, span);
        let conv = |this: &Self, a: Vec<Typed>, to: KqlType| -> Typed {
            let t = a.into_iter().next().expect("arity checked");
            Typed::new(this.convert(t, to), to)
        };
        Ok(match n {
            "tostring" => {
                ar(1, 1)?;
                conv(self, a, String)
            }
            "tolong" => {
                ar(1, 1)?;
                conv(self, a, Long)
            }
            "toint" => {
                ar(1, 1)?;
                conv(self, a, Int)
            }
            "todouble" | "toreal" | "todecimal" => {
                ar(1, 1)?;
                conv(self, a, Real)
            }
            "tobool" | "toboolean" => {
                ar(1, 1)?;
                conv(self, a, Bool)
            }
            "todatetime" => {
                ar(1, 1)?;
                conv(self, a, DateTime)
            }
            "totimespan" | "totime" => {
                ar(1, 1)?;
                conv(self, a, TimeSpan)
            }
            "toguid" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                Typed::new(self.to_string(t), Guid)
            }
            "todynamic" | "parse_json" | "parsejson" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                Typed::new(
                    udf::call(
                        "kql_parse_json",
                        DataType::Utf8,
                        udf::dynamic::parse_json,
                        vec![t.expr, lit(code(t.ty))],
                    ),
                    Dynamic,
                )
            }
            "now" => {
                ar(0, 1)?;
                let now = self.literal(&Literal::DateTime(self.opts.now_ns));
                match a.into_iter().next() {
                    None => now,
                    Some(off) => self.arith(ast::BinOp::Add, now, off, span)?,
                }
            }
            "ago" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                if t.ty != TimeSpan {
                    return Err(KqlError::binding(args[0].span, format!("ago() needs a timespan, got {}", t.ty)));
                }
                if let Some(Literal::TimeSpan(v)) = t.lit {
                    let ns = self.opts.now_ns.saturating_sub(v);
                    self.literal(&Literal::DateTime(ns))
                } else {
                    let now = self.literal(&Literal::DateTime(self.opts.now_ns));
                    self.arith(ast::BinOp::Sub, now, t, span)?
                }
            }
            "bin" | "floor" if a.len() == 2 => self.bin(a, None, args, span)?,
            "bin_at" => {
                ar(3, 3)?;
                let mut a = a;
                let at = a.pop().expect("arity");
                self.bin(a, Some(at), args, span)?
            }
            "floor" => {
                ar(1, 2)?;
                let t = a.into_iter().next().expect("arity");
                num_fn(math::floor(), t, args, "floor")?
            }
            "ceiling" => {
                ar(1, 1)?;
                num_fn(math::ceil(), a.into_iter().next().expect("arity"), args, "ceiling")?
            }
            "round" => {
                ar(1, 2)?;
                let mut it = a.into_iter();
                let x = it.next().expect("arity");
                if !is_numeric(x.ty) {
                    return Err(KqlError::binding(args[0].span, format!("round() needs a number, got {}", x.ty)));
                }
                let mut dargs = vec![cast(x.expr, DataType::Float64)];
                if let Some(d) = it.next() {
                    dargs.push(cast(d.expr, DataType::Int64));
                }
                Typed::new(df(math::round(), dargs), Real)
            }
            "abs" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                if t.ty == TimeSpan {
                    Typed::new(as_dur(df(math::abs(), vec![i64e(t.expr)])), TimeSpan)
                } else {
                    let ty = t.ty;
                    Typed::new(
                        df(math::abs(), vec![self.numeric(t, args, "abs")?]),
                        if ty == Dynamic { Real } else { ty },
                    )
                }
            }
            "sqrt" | "exp" | "log" | "log10" | "log2" | "sign" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                let x = cast(self.numeric(t, args, n)?, DataType::Float64);
                let u = match n {
                    "sqrt" => math::sqrt(),
                    "exp" => math::exp(),
                    "log" => math::ln(),
                    "log10" => math::log10(),
                    "log2" => math::log2(),
                    _ => math::signum(),
                };
                Typed::new(df(u, vec![x]), Real)
            }
            "pow" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let x = cast(it.next().expect("arity").expr, DataType::Float64);
                let y = cast(it.next().expect("arity").expr, DataType::Float64);
                Typed::new(df(math::power(), vec![x, y]), Real)
            }
            "isnan" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                Typed::new(df(math::isnan(), vec![cast(t.expr, DataType::Float64)]), Bool)
            }
            "isfinite" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                let x = cast(t.expr, DataType::Float64);
                Typed::new(
                    not(df(math::isnan(), vec![x.clone()])).and(df(math::abs(), vec![x]).lt(lit(f64::INFINITY))),
                    Bool,
                )
            }
            "max_of" | "min_of" => {
                ar(1, usize::MAX)?;
                let ty = unify_types(&a);
                let exprs: Vec<Expr> = a.into_iter().map(|t| self.convert(t, ty)).collect();
                Typed::new(df(if n == "max_of" { dfcore::greatest() } else { dfcore::least() }, exprs), ty)
            }
            "strcat" => {
                ar(1, 64)?;
                let parts: Vec<Expr> = a.into_iter().map(|t| self.to_string(t)).collect();
                Typed::new(df(dfstr::concat(), parts), String)
            }
            "strcat_delim" => {
                ar(2, 64)?;
                let parts: Vec<Expr> = a.into_iter().map(|t| self.to_string(t)).collect();
                Typed::new(df(dfstr::concat_ws(), parts), String)
            }
            "tolower" | "toupper" => {
                ar(1, 1)?;
                let t = self.to_string(a.into_iter().next().expect("arity"));
                Typed::new(df(if n == "tolower" { dfstr::lower() } else { dfstr::upper() }, vec![t]), String)
            }
            "strlen" => {
                ar(1, 1)?;
                let t = self.to_string(a.into_iter().next().expect("arity"));
                Typed::new(cast(df(unicode::character_length(), vec![t]), DataType::Int64), Long)
            }
            "format_bytes" => {
                ar(1, 3)?;
                let mut it = a.into_iter();
                let size = it.next().expect("arity");
                if !is_numeric(size.ty) {
                    return Err(KqlError::binding(
                        args[0].span,
                        format!("format_bytes() needs a number of bytes, but this is {}", size.ty),
                    ));
                }
                let precision = it.next().map_or(lit(0i64), |t| i64e(t.expr));
                let units = match it.next() {
                    None => lit(""),
                    Some(t) => {
                        if let Some(Literal::String(u)) = &t.lit
                            && !u.is_empty()
                            && udf::size::format_size(1.0, 0, u).is_none()
                        {
                            return Err(KqlError::binding(
                                args[2].span,
                                format!("format_bytes(): unknown unit '{u}' (use Bytes, KB, MB, GB, TB, PB or EB)"),
                            ));
                        }
                        self.to_string(t)
                    }
                };
                let call = udf::call(
                    "kql_format_bytes",
                    DataType::Utf8,
                    udf::size::format_bytes,
                    vec![cast(size.expr, DataType::Float64), precision, units],
                );
                Typed::new(call, String)
            }
            "string_size" => {
                ar(1, 1)?;
                let t = self.to_string(a.into_iter().next().expect("arity"));
                Typed::new(cast(df(dfstr::octet_length(), vec![t]), DataType::Int64), Long)
            }
            "substring" => {
                ar(2, 3)?;
                let mut it = a.into_iter();
                let s = self.to_string(it.next().expect("arity"));
                let start = i64e(it.next().expect("arity").expr);
                // KQL is 0-based and clamps a negative start to 0
                let start1 = df(dfcore::greatest(), vec![start, lit(0i64)]) + lit(1i64);
                let mut dargs = vec![s, start1];
                if let Some(len) = it.next() {
                    dargs.push(df(dfcore::greatest(), vec![i64e(len.expr), lit(0i64)]));
                }
                Typed::new(df(unicode::substr(), dargs), String)
            }
            "indexof" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let s = self.to_string(it.next().expect("arity"));
                let l = self.to_string(it.next().expect("arity"));
                Typed::new(cast(df(unicode::strpos(), vec![s, l]), DataType::Int64) - lit(1i64), Long)
            }
            "replace_string" => {
                ar(3, 3)?;
                let v: Vec<Expr> = a.into_iter().map(|t| self.to_string(t)).collect();
                Typed::new(df(dfstr::replace(), v), String)
            }
            "replace_regex" | "replace" => {
                ar(3, 3)?;
                let mut v: Vec<Typed> = a;
                // replace(regex, rewrite, text) is the legacy argument order
                let (text, re, rep) = if n == "replace" {
                    let text = v.pop().expect("arity");
                    let rep = v.pop().expect("arity");
                    let re = v.pop().expect("arity");
                    (text, re, rep)
                } else {
                    let rep = v.pop().expect("arity");
                    let re = v.pop().expect("arity");
                    let text = v.pop().expect("arity");
                    (text, re, rep)
                };
                if let Some(Literal::String(p)) = &re.lit {
                    udf::strings::check_regex(p)
                        .map_err(|m| KqlError::binding(span, format!("invalid regular expression: {m}")))?;
                }
                Typed::new(
                    df(
                        dfre::regexp_replace(),
                        vec![self.to_string(text), self.to_string(re), self.to_string(rep), lit("g")],
                    ),
                    String,
                )
            }
            "trim" | "trim_start" | "trim_end" => {
                ar(2, 2)?;
                let mode = match n {
                    "trim" => 0i64,
                    "trim_start" => 1,
                    _ => 2,
                };
                let v: Vec<Expr> = a.into_iter().map(|t| self.to_string(t)).collect();
                let mut v = v;
                v.push(lit(mode));
                Typed::new(udf::call("kql_trim", DataType::Utf8, udf::strings::trim, v), String)
            }
            "reverse" => {
                ar(1, 1)?;
                let t = self.to_string(a.into_iter().next().expect("arity"));
                Typed::new(df(unicode::reverse(), vec![t]), String)
            }
            "split" => {
                ar(2, 3)?;
                let mut it = a.into_iter();
                let s = self.to_string(it.next().expect("arity"));
                let d = self.to_string(it.next().expect("arity"));
                let arr = udf::call("kql_split", DataType::Utf8, udf::strings::split, vec![s, d]);
                match it.next() {
                    None => Typed::new(arr, Dynamic),
                    Some(idx) => {
                        let el = udf::call("kql_dyn_get", DataType::Utf8, udf::dynamic::get, vec![arr, i64e(idx.expr)]);
                        Typed::new(
                            udf::call("kql_pack_array", DataType::Utf8, udf::dynamic::pack_array, vec![el, lit("d")]),
                            Dynamic,
                        )
                    }
                }
            }
            "extract" => {
                ar(3, 3)?;
                let mut it = a.into_iter();
                let re = it.next().expect("arity");
                let p = Self::lit_str_arg(&re, &args[0], "extract() regex")?;
                udf::strings::check_regex(&p)
                    .map_err(|m| KqlError::binding(args[0].span, format!("invalid regular expression: {m}")))?;
                let g = it.next().expect("arity");
                let s = self.to_string(it.next().expect("arity"));
                Typed::new(
                    udf::call("kql_extract", DataType::Utf8, udf::strings::extract, vec![re.expr, i64e(g.expr), s]),
                    String,
                )
            }
            "extractall" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let re = it.next().expect("arity");
                let p = Self::lit_str_arg(&re, &args[0], "extractall() regex")?;
                udf::strings::check_regex(&p)
                    .map_err(|m| KqlError::binding(args[0].span, format!("invalid regular expression: {m}")))?;
                let s = self.to_string(it.next().expect("arity"));
                Typed::new(
                    udf::call("kql_extractall", DataType::Utf8, udf::strings::extract_all, vec![re.expr, s]),
                    Dynamic,
                )
            }
            "countof" => {
                ar(2, 2)?;
                let v: Vec<Expr> = a.into_iter().map(|t| self.to_string(t)).collect();
                Typed::new(udf::call("kql_countof", DataType::Int64, udf::strings::countof, v), Long)
            }
            "base64_encode_tostring" | "base64_decode_tostring" => {
                ar(1, 1)?;
                let t = self.to_string(a.into_iter().next().expect("arity"));
                let mode = i64::from(n == "base64_decode_tostring");
                Typed::new(udf::call(n, DataType::Utf8, udf::dynamic::base64, vec![t, lit(mode)]), String)
            }
            "url_decode" => {
                ar(1, 1)?;
                let t = self.to_string(a.into_iter().next().expect("arity"));
                Typed::new(udf::call("kql_url_decode", DataType::Utf8, udf::strings::url_decode, vec![t]), String)
            }
            "iff" | "iif" => {
                ar(3, 3)?;
                let mut it = a.into_iter();
                let c = it.next().expect("arity");
                let c = self.convert(c, Bool);
                let x = it.next().expect("arity");
                let y = it.next().expect("arity");
                let ty = unify_types(&[x.clone(), y.clone()]);
                let e = when(c, self.convert(x, ty)).otherwise(self.convert(y, ty)).map_err(|e| df_err(span, e))?;
                Typed::new(e, ty)
            }
            "case" => {
                if a.len() < 3 || a.len().is_multiple_of(2) {
                    return Err(KqlError::binding(
                        span,
                        "case() takes pairs of (predicate, value) and a final else value",
                    ));
                }
                let ty =
                    unify_types(&a.iter().skip(1).step_by(2).cloned().chain(a.last().cloned()).collect::<Vec<_>>());
                let mut it = a.into_iter();
                let mut whens = Vec::new();
                let mut thens = Vec::new();
                let total = args.len();
                for _ in 0..(total - 1) / 2 {
                    let p = it.next().expect("arity");
                    let v = it.next().expect("arity");
                    whens.push(self.convert(p, Bool));
                    thens.push(self.convert(v, ty));
                }
                let els = self.convert(it.next().expect("arity"), ty);
                let mut b =
                    datafusion::logical_expr::conditional_expressions::CaseBuilder::new(None, vec![], vec![], None);
                for (w, t) in whens.into_iter().zip(thens) {
                    b = b.when(w, t);
                }
                Typed::new(b.otherwise(els).map_err(|e| df_err(span, e))?, ty)
            }
            "coalesce" => {
                ar(1, 64)?;
                let ty = unify_types(&a);
                let last = a.len() - 1;
                let exprs: Vec<Expr> = a
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let e = self.convert_keep_null(t, ty);
                        if ty == String && i < last { df(dfcore::nullif(), vec![e, lit("")]) } else { e }
                    })
                    .collect();
                Typed::new(df(dfcore::coalesce(), exprs), ty)
            }
            "isempty" | "isnotempty" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                let e = if is_textual(t.ty) { is_null(t.expr.clone()).or(t.expr.eq(lit(""))) } else { is_null(t.expr) };
                Typed::new(if n == "isempty" { e } else { not(e) }, Bool)
            }
            "isnull" | "isnotnull" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                let e = is_null(t.expr);
                Typed::new(if n == "isnull" { e } else { not(e) }, Bool)
            }
            "not" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                Typed::new(not(self.convert(t, Bool)), Bool)
            }
            "datetime_add" => {
                ar(3, 3)?;
                let mut it = a.into_iter();
                let part = it.next().expect("arity");
                let p = Self::lit_str_arg(&part, &args[0], "datetime_add() part")?;
                if udf::time::norm_part(&p).is_none() {
                    return Err(KqlError::binding(args[0].span, format!("unknown datetime part '{p}'")));
                }
                let amount = it.next().expect("arity");
                let d = self.datetime_arg(it.next().expect("arity"), &args[2])?;
                Typed::new(
                    udf::call(
                        "kql_datetime_add",
                        arrow_type(DateTime),
                        udf::time::datetime_add,
                        vec![part.expr, i64e(amount.expr), d],
                    ),
                    DateTime,
                )
            }
            "datetime_diff" => {
                ar(3, 3)?;
                let mut it = a.into_iter();
                let part = it.next().expect("arity");
                let p = Self::lit_str_arg(&part, &args[0], "datetime_diff() part")?;
                if udf::time::norm_part(&p).is_none() {
                    return Err(KqlError::binding(args[0].span, format!("unknown datetime part '{p}'")));
                }
                let x = self.datetime_arg(it.next().expect("arity"), &args[1])?;
                let y = self.datetime_arg(it.next().expect("arity"), &args[2])?;
                Typed::new(
                    udf::call("kql_datetime_diff", DataType::Int64, udf::time::datetime_diff, vec![part.expr, x, y]),
                    Long,
                )
            }
            "datetime_part" | "getyear" | "getmonth" | "dayofmonth" | "dayofyear" | "hourofday" | "week_of_year"
            | "weekofyear" => {
                let (part, d) = if n == "datetime_part" {
                    ar(2, 2)?;
                    let mut it = a.into_iter();
                    let p = it.next().expect("arity");
                    let ps = Self::lit_str_arg(&p, &args[0], "datetime_part() part")?.to_ascii_lowercase();
                    let ps = match ps.as_str() {
                        "weekofyear" | "week_of_year" => "week".to_string(),
                        "dayofyear" => "doy".to_string(),
                        other => other.to_string(),
                    };
                    (ps, self.datetime_arg(it.next().expect("arity"), &args[1])?)
                } else {
                    ar(1, 1)?;
                    let p = match n {
                        "getyear" => "year",
                        "getmonth" => "month",
                        "dayofmonth" => "day",
                        "dayofyear" => "doy",
                        "hourofday" => "hour",
                        _ => "week",
                    };
                    (p.to_string(), self.datetime_arg(a.into_iter().next().expect("arity"), &args[0])?)
                };
                let ty = if n == "datetime_part" { Long } else { Int };
                Typed::new(cast(df(dfdt::date_part(), vec![lit(part), d]), arrow_type(ty)), ty)
            }
            "dayofweek" => {
                ar(1, 1)?;
                let d = self.datetime_arg(a.into_iter().next().expect("arity"), &args[0])?;
                let dow = cast(df(dfdt::date_part(), vec![lit("dow"), d]), DataType::Int64);
                Typed::new(as_dur(dow * lit(NS_PER_DAY)), TimeSpan)
            }
            "startofday" | "endofday" => {
                ar(1, 2)?;
                let mut it = a.into_iter();
                let d = self.datetime_arg(it.next().expect("arity"), &args[0])?;
                let off = it.next().map(|o| i64e(o.expr)).unwrap_or(lit(0i64));
                let ns = i64e(d);
                let day = floor_mod(ns.clone(), NS_PER_DAY);
                let mut start = ns - day + off * lit(NS_PER_DAY);
                if n == "endofday" {
                    start = start + lit(NS_PER_DAY - 100);
                }
                Typed::new(as_ts(start), DateTime)
            }
            "startofweek" | "startofmonth" | "startofyear" | "endofweek" | "endofmonth" | "endofyear" => {
                ar(1, 2)?;
                let mut it = a.into_iter();
                let d = self.datetime_arg(it.next().expect("arity"), &args[0])?;
                let off = it.next().map(|o| i64e(o.expr)).unwrap_or(lit(0i64));
                let part = &n[n.find("of").map(|i| i + 2).unwrap_or(0)..];
                if n.starts_with("end") {
                    let next = udf::call(
                        "kql_startof",
                        arrow_type(DateTime),
                        udf::time::startof,
                        vec![lit(part), d, off + lit(1i64)],
                    );
                    Typed::new(as_ts(i64e(next) - lit(100i64)), DateTime)
                } else {
                    Typed::new(
                        udf::call("kql_startof", arrow_type(DateTime), udf::time::startof, vec![lit(part), d, off]),
                        DateTime,
                    )
                }
            }
            "format_datetime" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let d = self.datetime_arg(it.next().expect("arity"), &args[0])?;
                let f = self.to_string(it.next().expect("arity"));
                Typed::new(
                    udf::call("kql_format_datetime", DataType::Utf8, udf::time::format_datetime, vec![d, f]),
                    String,
                )
            }
            "format_timespan" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let t = it.next().expect("arity");
                if t.ty != TimeSpan {
                    return Err(KqlError::binding(
                        args[0].span,
                        format!("format_timespan() needs a timespan, got {}", t.ty),
                    ));
                }
                let f = self.to_string(it.next().expect("arity"));
                Typed::new(
                    udf::call("kql_format_timespan", DataType::Utf8, udf::time::format_timespan, vec![i64e(t.expr), f]),
                    String,
                )
            }
            "make_datetime" => {
                ar(3, 6)?;
                let v: Vec<Expr> = a.into_iter().map(|t| t.expr).collect();
                Typed::new(udf::call("kql_make_datetime", arrow_type(DateTime), udf::time::make_datetime, v), DateTime)
            }
            "unixtime_seconds_todatetime"
            | "unixtime_milliseconds_todatetime"
            | "unixtime_microseconds_todatetime"
            | "unixtime_nanoseconds_todatetime" => {
                ar(1, 1)?;
                let mult = match n {
                    "unixtime_seconds_todatetime" => NS_PER_SEC as f64,
                    "unixtime_milliseconds_todatetime" => 1e6,
                    "unixtime_microseconds_todatetime" => 1e3,
                    _ => 1.0,
                };
                let t = a.into_iter().next().expect("arity");
                let x = cast(self.numeric(t, args, n)?, DataType::Float64) * lit(mult);
                Typed::new(as_ts(cast(x, DataType::Int64)), DateTime)
            }
            "array_length" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                Typed::new(
                    udf::call("kql_array_length", DataType::Int64, udf::dynamic::array_length, vec![self.dyn_text(t)]),
                    Long,
                )
            }
            "pack" | "bag_pack" | "pack_dictionary" => {
                if !a.len().is_multiple_of(2) {
                    return Err(KqlError::binding(span, format!("{n}() takes key/value pairs")));
                }
                let codes: std::string::String = a.iter().map(|t| if t.ty == Dynamic { 'd' } else { 's' }).collect();
                let mut v: Vec<Expr> = a.into_iter().map(|t| t.expr).collect();
                v.push(lit(codes));
                Typed::new(udf::call("kql_pack", DataType::Utf8, udf::dynamic::pack, v), Dynamic)
            }
            "pack_array" => {
                ar(1, 64)?;
                let codes: std::string::String = a.iter().map(|t| if t.ty == Dynamic { 'd' } else { 's' }).collect();
                let mut v: Vec<Expr> = a.into_iter().map(|t| t.expr).collect();
                v.push(lit(codes));
                Typed::new(udf::call("kql_pack_array", DataType::Utf8, udf::dynamic::pack_array, v), Dynamic)
            }
            "strcat_array" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let d = self.dyn_text(it.next().expect("arity"));
                let s = self.to_string(it.next().expect("arity"));
                Typed::new(
                    udf::call("kql_strcat_array", DataType::Utf8, udf::dynamic::strcat_array, vec![d, s]),
                    String,
                )
            }
            "bag_keys" => {
                ar(1, 1)?;
                let d = self.dyn_text(a.into_iter().next().expect("arity"));
                Typed::new(udf::call("kql_bag_keys", DataType::Utf8, udf::dynamic::bag_keys, vec![d]), Dynamic)
            }
            "set_has_element" | "array_index_of" => {
                ar(2, 2)?;
                let mut it = a.into_iter();
                let d = self.dyn_text(it.next().expect("arity"));
                let v = it.next().expect("arity");
                let c = code(v.ty);
                let (mode, ty, dt) =
                    if n == "set_has_element" { (0i64, Bool, DataType::Boolean) } else { (1, Long, DataType::Int64) };
                Typed::new(
                    udf::call(
                        if mode == 0 { "kql_set_has_element" } else { "kql_array_index_of" },
                        dt,
                        udf::dynamic::array_find,
                        vec![d, v.expr, lit(mode), lit(c)],
                    ),
                    ty,
                )
            }
            "gettype" => {
                ar(1, 1)?;
                let t = a.into_iter().next().expect("arity");
                Typed::new(
                    udf::call("kql_gettype", DataType::Utf8, udf::dynamic::gettype, vec![t.expr, lit(code(t.ty))]),
                    String,
                )
            }
            _ => {
                let hint = super::did_you_mean(
                    n,
                    SCALAR_FUNCTIONS.iter().copied().chain(super::aggs::AGGREGATES.iter().copied()),
                );
                return Err(KqlError::unsupported(name.span, format!("unknown or unsupported function '{n}'{hint}")));
            }
        })
    }

    /// Like `convert`, but an untyped null stays a null of the target type.
    fn convert_keep_null(&self, t: Typed, ty: KqlType) -> Expr {
        if matches!(t.lit, Some(Literal::Null)) {
            return cast(t.expr, arrow_type(ty));
        }
        self.convert(t, ty)
    }

    fn dyn_text(&self, t: Typed) -> Expr {
        if is_textual(t.ty) { t.expr } else { self.convert(t, KqlType::Dynamic) }
    }

    fn numeric(&self, t: Typed, args: &[ast::Expr], what: &str) -> Result<Expr> {
        match t.ty {
            ty if is_numeric(ty) => Ok(t.expr),
            KqlType::Dynamic | KqlType::String => Ok(self.convert(t, KqlType::Real)),
            ty => Err(KqlError::binding(
                args.first().map(|a| a.span).unwrap_or_default(),
                format!("{what}() needs a number, got {ty}"),
            )),
        }
    }

    fn datetime_arg(&self, t: Typed, e: &ast::Expr) -> Result<Expr> {
        match t.ty {
            KqlType::DateTime => Ok(t.expr),
            KqlType::String | KqlType::Dynamic => Ok(self.convert(t, KqlType::DateTime)),
            ty => Err(KqlError::binding(e.span, format!("expected a datetime, got {ty}"))),
        }
    }

    /// `bin(x, size)` / `bin_at(x, size, at)`: floor to a multiple of size (datetimes and
    /// timespans on exact ns arithmetic).
    fn bin(&self, a: Vec<Typed>, at: Option<Typed>, args: &[ast::Expr], span: Span) -> Result<Typed> {
        let mut it = a.into_iter();
        let x = it.next().expect("arity");
        let size = it.next().expect("arity");
        let size_span = args.get(1).map(|a| a.span).unwrap_or(span);
        if let Some(Literal::TimeSpan(0) | Literal::Long(0)) = size.lit {
            return Err(KqlError::binding(size_span, "bin size must not be zero"));
        }
        Ok(match x.ty {
            KqlType::DateTime | KqlType::TimeSpan => {
                if size.ty != KqlType::TimeSpan {
                    return Err(KqlError::binding(
                        size_span,
                        format!("bin of a {} needs a timespan size, got {}", x.ty, size.ty),
                    ));
                }
                let s = match size.lit {
                    Some(Literal::TimeSpan(v)) => lit(v),
                    _ => i64e(size.expr),
                };
                let origin = match &at {
                    Some(t) => i64e(t.expr.clone()),
                    None => lit(0i64),
                };
                let v = i64e(x.expr) - origin.clone();
                let floored = v.clone() - floor_mod_expr(v, s) + origin;
                if x.ty == KqlType::DateTime {
                    Typed::new(as_ts(floored), KqlType::DateTime)
                } else {
                    Typed::new(as_dur(floored), KqlType::TimeSpan)
                }
            }
            ty if is_numeric(ty) || ty == KqlType::Dynamic => {
                let xe = if ty == KqlType::Dynamic { self.convert(x, KqlType::Real) } else { x.expr };
                let origin = at.map(|t| t.expr).unwrap_or(lit(0i64));
                if ty == KqlType::Real || size.ty == KqlType::Real || ty == KqlType::Dynamic {
                    let s = cast(size.expr, DataType::Float64);
                    let v = cast(xe, DataType::Float64) - cast(origin.clone(), DataType::Float64);
                    Typed::new(
                        df(math::floor(), vec![v / s.clone()]) * s + cast(origin, DataType::Float64),
                        KqlType::Real,
                    )
                } else {
                    let s = i64e(size.expr);
                    let v = i64e(xe) - i64e(origin.clone());
                    Typed::new(v.clone() - floor_mod_expr(v, s) + i64e(origin), KqlType::Long)
                }
            }
            ty => {
                return Err(KqlError::binding(
                    args[0].span,
                    format!("bin() needs a number, datetime or timespan, got {ty}"),
                ));
            }
        })
    }
}

/// `((v % s) + s) % s` — the non-negative remainder, so negative values floor correctly.
pub(crate) fn floor_mod_expr(v: Expr, s: Expr) -> Expr {
    ((v % s.clone()) + s.clone()) % s
}

fn floor_mod(v: Expr, s: i64) -> Expr {
    floor_mod_expr(v, lit(s))
}

fn num_fn(u: Arc<ScalarUDF>, t: Typed, args: &[ast::Expr], what: &str) -> Result<Typed> {
    if !is_numeric(t.ty) {
        return Err(KqlError::binding(args[0].span, format!("{what}() needs a number, got {}", t.ty)));
    }
    let ty = if t.ty == KqlType::Real { KqlType::Real } else { t.ty };
    let e = if t.ty == KqlType::Real { df(u, vec![t.expr]) } else { t.expr };
    Ok(Typed::new(e, ty))
}

/// Common type of several values (for iff/case/coalesce/max_of): equal types stay; numbers
/// widen; an untyped null adopts the others' type; otherwise string.
pub(crate) fn unify_types(ts: &[Typed]) -> KqlType {
    let typed: Vec<KqlType> = ts.iter().filter(|t| !matches!(t.lit, Some(Literal::Null))).map(|t| t.ty).collect();
    let Some(first) = typed.first().copied() else { return KqlType::String };
    if typed.iter().all(|t| *t == first) {
        return first;
    }
    if typed.iter().all(|t| is_numeric(*t)) {
        return typed.iter().copied().reduce(crate::types::numeric_result).unwrap_or(first);
    }
    KqlType::String
}

/// `typeof(t)` in `extract(..., typeof(long))`.
fn type_of_arg(e: &ast::Expr) -> Result<KqlType> {
    if let ExprKind::Call { name, args } = &e.kind
        && name.name == "typeof"
        && args.len() == 1
        && let ExprKind::Name(t) = &args[0].kind
        && let Some(ty) = KqlType::from_kql_name(t).or(if t == "decimal" { Some(KqlType::Real) } else { None })
    {
        return Ok(ty);
    }
    Err(KqlError::binding(e.span, "expected typeof(<type>)"))
}

/// The steps of a JSONPath of the simple forms `extractjson()` supports (`$.a.b`, `$['a']`,
/// `$[0]`); wildcards, filters and `..` are refused with a message naming the path.
fn json_path_keys(path: &str) -> std::result::Result<Vec<Literal>, String> {
    let unsupported = || format!("JSONPath '{path}' is not supported: use $.name, $['name'] or $[index] steps");
    let mut rest = path.trim().strip_prefix('$').ok_or_else(unsupported)?;
    let mut keys = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" {
                return Err(unsupported());
            }
            keys.push(Literal::String(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(unsupported)?;
            let inner = r[..end].trim();
            let quoted = ['\'', '"'].iter().find_map(|q| inner.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)));
            match (quoted, inner.parse::<i64>()) {
                (Some(name), _) => keys.push(Literal::String(name.to_string())),
                (None, Ok(i)) if i >= 0 => keys.push(Literal::Long(i)),
                _ => return Err(unsupported()),
            }
            rest = &r[end + 1..];
        } else {
            return Err(unsupported());
        }
    }
    Ok(keys)
}

impl Binder<'_> {
    /// `extractjson(path, text [, typeof(T)])`: the element at `path` as a string (a JSON
    /// string element without its quotes), or converted to `T`; empty/null when absent.
    fn extract_json(&mut self, args: &[ast::Expr], fr: &Frame) -> Result<Typed> {
        let path = match &args[0].kind {
            ExprKind::Literal(Literal::String(p)) => p.clone(),
            _ => return Err(KqlError::binding(args[0].span, "extractjson() needs a string literal JSONPath")),
        };
        let keys = json_path_keys(&path).map_err(|m| KqlError::binding(args[0].span, m))?;
        let text = self.scalar(&args[1], fr)?;
        if !is_textual(text.ty) {
            return Err(KqlError::binding(
                args[1].span,
                format!("extractjson() needs JSON text, but this is {}", text.ty),
            ));
        }
        let mut call_args = vec![text.expr];
        call_args.extend(keys.iter().map(|k| lit(super::literal_value(k, 0))));
        let value =
            Typed::new(udf::call("kql_dyn_get", DataType::Utf8, udf::dynamic::get, call_args), KqlType::Dynamic);
        match args.get(2) {
            None => Ok(Typed::new(self.to_string(value), KqlType::String)),
            Some(t) => {
                let ty = type_of_arg(t)?;
                Ok(Typed::new(self.convert(value, ty), ty))
            }
        }
    }
}
