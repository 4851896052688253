//! `search`: a filter over every string column, as a source or after a pipe.
//!
//! `search "err"` as a source reads every stored table (compatibility views are skipped, as
//! their rows are already in the tables they are built on) or the tables of `in (T1, T2*)`,
//! filters each, and unions them with the source table's name in a first column `$table`
//! (KQL's name). In the predicate a bare string literal means "any string column has this
//! term" (`has`, or `has_cs` with `kind=case_sensitive`); `"err*"` is a prefix (`hasprefix`),
//! `"*err"` a suffix (`hassuffix`), `"*err*"` a substring (`contains`). Other predicates
//! (`Col == "x"`, `* contains "x"`) are bound as in `where`.

use datafusion::logical_expr::LogicalPlanBuilder;

use super::ops::wildcard_match;
use super::{Binder, Frame, df_err};
use crate::ast::{self, BinOp, ExprKind, Ident, Literal, SearchOp, StrOp, StrOpKind};
use crate::error::{KqlError, Result};
use crate::types::KqlType;

/// Rewrites bare string literals in boolean positions into `* has "term"` predicates.
fn rewrite(e: &ast::Expr, cs: bool) -> Result<ast::Expr> {
    let span = e.span;
    Ok(match &e.kind {
        ExprKind::Literal(Literal::String(s)) => {
            let (kind, term) = match (s.strip_prefix('*'), s.strip_suffix('*')) {
                (Some(rest), _) if rest.ends_with('*') && rest.len() > 1 => {
                    (StrOpKind::Contains, rest[..rest.len() - 1].to_string())
                }
                (Some(rest), _) => (StrOpKind::HasSuffix, rest.to_string()),
                (None, Some(rest)) => (StrOpKind::HasPrefix, rest.to_string()),
                (None, None) => (StrOpKind::Has, s.clone()),
            };
            if term.contains('*') {
                return Err(KqlError::unsupported(
                    span,
                    "'*' inside a search term is not supported (only at its start or end)",
                ));
            }
            let op = BinOp::Str(StrOp { kind, cs, negated: false });
            let star = ast::Expr { kind: ExprKind::Star, span };
            let lit = ast::Expr { kind: ExprKind::Literal(Literal::String(term)), span };
            ast::Expr { kind: ExprKind::Binary { op, left: Box::new(star), right: Box::new(lit) }, span }
        }
        ExprKind::Binary { op: op @ (BinOp::And | BinOp::Or), left, right } => ast::Expr {
            kind: ExprKind::Binary {
                op: *op,
                left: Box::new(rewrite(left, cs)?),
                right: Box::new(rewrite(right, cs)?),
            },
            span,
        },
        ExprKind::Call { name, args } if name.name == "not" && args.len() == 1 => {
            ast::Expr { kind: ExprKind::Call { name: name.clone(), args: vec![rewrite(&args[0], cs)?] }, span }
        }
        _ => e.clone(),
    })
}

impl Binder<'_> {
    /// `T | search …`: keeps the rows of `fr` that match.
    pub(crate) fn search_filter(&mut self, fr: Frame, s: &SearchOp) -> Result<Frame> {
        if let Some(t) = &s.tables {
            return Err(KqlError::binding(
                t.first().map(|i| i.span).unwrap_or(s.span),
                "'in (…)' is only allowed when search is the first operator",
            ));
        }
        self.search_one(fr, s)
    }

    fn search_one(&mut self, fr: Frame, s: &SearchOp) -> Result<Frame> {
        let pred = rewrite(&s.predicate, s.case_sensitive)?;
        let t = self.scalar(&pred, &fr)?;
        if t.ty != KqlType::Bool && t.ty != KqlType::Dynamic {
            return Err(KqlError::binding(
                s.predicate.span,
                format!("search needs a bool predicate, this is {}", t.ty),
            ));
        }
        let p = self.convert(t, KqlType::Bool);
        let plan = LogicalPlanBuilder::from(fr.plan.clone())
            .filter(p)
            .and_then(|b| b.build())
            .map_err(|e| df_err(s.span, e))?;
        Ok(fr.with_plan(plan, fr.cols.clone()))
    }

    /// `search …` as a source: filters every (or every listed) table and unions the matches.
    pub(crate) fn search_source(&mut self, s: &SearchOp) -> Result<Frame> {
        let names: Vec<String> = self.catalog.table_names();
        let mut chosen: Vec<String> = match &s.tables {
            None => names.into_iter().filter(|n| !keelwatch_tables::table(n).is_some_and(|t| t.is_view())).collect(),
            Some(pats) => {
                let mut v = Vec::new();
                for p in pats {
                    let hits: Vec<&String> = names.iter().filter(|n| wildcard_match(&p.name, n)).collect();
                    if hits.is_empty() && !p.name.contains('*') {
                        let hint = super::did_you_mean(&p.name, names.iter().map(|s| s.as_str()));
                        return Err(KqlError::binding(p.span, format!("table '{}' not found{hint}", p.name)));
                    }
                    v.extend(hits.into_iter().cloned());
                }
                v
            }
        };
        chosen.sort();
        chosen.dedup();
        let mut frames = Vec::new();
        for n in &chosen {
            let f = self.table_ref(n, s.span)?;
            frames.push(self.search_one(f, s)?);
        }
        let ws = Ident { name: "$table".into(), span: s.span };
        let mut out = self.union_frames(frames, Some(&ws), false, s.span)?;
        out.source = "the search result".into();
        Ok(out)
    }
}
