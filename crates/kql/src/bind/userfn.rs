//! User-defined functions: `let f = (a:string, b:long = 5, T:(*)) { let x = …; body };`.
//!
//! A function is stored unbound (its AST) and bound at each call, inlined: the arguments are
//! bound in the caller's context, then the body is bound in a new scope where each parameter
//! is a `let` of its argument (scalar parameters converted to the declared type, tabular
//! parameters bound as tables). Whether the body is tabular is decided once, at definition,
//! by binding it with placeholder arguments (which also reports errors in the body early).
//! Calls nest at most [`MAX_CALL_DEPTH`] deep, so recursion is a clear error.

use std::collections::HashMap;
use std::rc::Rc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::lit;

use super::{Binder, Frame, LetValue, Typed};
use crate::ast::{self, Ident, Statement};
use crate::error::{KqlError, Result, Span};
use crate::types::arrow_type;

/// Maximum nesting of user-defined function calls.
const MAX_CALL_DEPTH: usize = 16;

/// A bound call: a table or a scalar.
enum CallResult {
    Tabular(Frame),
    Scalar(Typed),
}

impl Binder<'_> {
    /// Binds a `let` function definition (checks the body with placeholder arguments).
    pub(super) fn define_function(&mut self, f: &ast::Function, span: Span) -> Result<LetValue> {
        let mut scope = HashMap::new();
        for p in &f.params {
            let v = match p.ty {
                None => LetValue::Tabular(self.empty_frame()?),
                Some(ty) => {
                    let null = ScalarValue::try_from(&arrow_type(ty)).unwrap_or(ScalarValue::Null);
                    LetValue::Scalar(Typed::new(lit(null), ty))
                }
            };
            scope.insert(p.name.name.clone(), v);
        }
        let empty = self.empty_frame()?;
        let tabular = self.with_scope(scope, |b| {
            let last = b.body_lets(&f.body)?;
            if b.is_tabular(last) {
                b.tabular(last)?;
                Ok(true)
            } else {
                b.scalar(last, &empty)?;
                Ok(false)
            }
        });
        let tabular = tabular.map_err(|e| {
            if e.span.is_some() { e } else { KqlError::binding(span, format!("in this function: {}", e.message)) }
        })?;
        Ok(LetValue::Function { f: Rc::new(f.clone()), tabular })
    }

    /// Runs `body` with `scope` pushed as the innermost let scope.
    fn with_scope<T>(
        &mut self,
        scope: HashMap<String, LetValue>,
        body: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.scopes.push(scope);
        let r = body(self);
        self.scopes.pop();
        r
    }

    /// Binds the body's `let` statements into the current scope; returns the final expression.
    fn body_lets<'b>(&mut self, body: &'b [Statement]) -> Result<&'b ast::Expr> {
        let mut last = None;
        for st in body {
            match st {
                Statement::Let { name, value, .. } => {
                    let v = self.let_value(&name.name, value)?;
                    self.scopes.last_mut().expect("scope").insert(name.name.clone(), v);
                }
                Statement::Expr(e) => last = Some(e),
            }
        }
        last.ok_or_else(|| KqlError::general(crate::error::ErrorKind::Binding, "function body has no expression"))
    }

    /// `f(args)` where the function's body is tabular.
    pub(super) fn call_function_tabular(&mut self, name: &Ident, args: &[ast::Expr], span: Span) -> Result<Frame> {
        let empty = self.empty_frame()?;
        match self.call_function(name, args, span, &empty)? {
            CallResult::Tabular(f) => Ok(f),
            CallResult::Scalar(_) => {
                Err(KqlError::binding(span, format!("function '{}' returns a scalar, not a table", name.name)))
            }
        }
    }

    /// `f(args)` used as a value (its body must be scalar).
    pub(crate) fn call_function_scalar(
        &mut self,
        name: &Ident,
        args: &[ast::Expr],
        span: Span,
        fr: &Frame,
    ) -> Result<Typed> {
        match self.call_function(name, args, span, fr)? {
            CallResult::Scalar(t) => Ok(t),
            CallResult::Tabular(_) => Err(KqlError::binding(
                span,
                format!(
                    "function '{}' returns a table; use toscalar({}(…)) to use it as a value",
                    name.name, name.name
                ),
            )),
        }
    }

    fn call_function(&mut self, name: &Ident, args: &[ast::Expr], span: Span, fr: &Frame) -> Result<CallResult> {
        let Some(LetValue::Function { f, .. }) = self.lookup_let(&name.name).cloned() else {
            return Err(KqlError::binding(name.span, format!("'{}' is not a function", name.name)));
        };
        if args.len() > f.params.len() {
            return Err(KqlError::binding(
                span,
                format!("function '{}' takes {} argument(s), got {}", name.name, f.params.len(), args.len()),
            ));
        }
        if self.fn_depth >= MAX_CALL_DEPTH {
            return Err(KqlError::binding(
                span,
                format!("function calls nest more than {MAX_CALL_DEPTH} deep (is '{}' recursive?)", name.name),
            ));
        }
        // arguments are bound in the caller's scope
        let mut scope = HashMap::new();
        let empty = self.empty_frame()?;
        for (i, p) in f.params.iter().enumerate() {
            let (arg, ctx) = match (args.get(i), &p.default) {
                (Some(a), _) => (a, fr),
                (None, Some(d)) => (d, &empty),
                (None, None) => {
                    return Err(KqlError::binding(
                        span,
                        format!("function '{}' needs a value for parameter '{}'", name.name, p.name.name),
                    ));
                }
            };
            let v = match p.ty {
                None => {
                    if !self.is_tabular(arg) {
                        return Err(KqlError::binding(
                            arg.span,
                            format!("parameter '{}' of '{}' is tabular; pass a table", p.name.name, name.name),
                        ));
                    }
                    LetValue::Tabular(self.tabular(arg)?)
                }
                Some(ty) => {
                    let t = self.scalar(arg, ctx)?;
                    let t = if t.ty == ty { t } else { Typed::new(self.convert(t, ty), ty) };
                    LetValue::Scalar(Typed { name: None, ..t })
                }
            };
            scope.insert(p.name.name.clone(), v);
        }
        self.fn_depth += 1;
        let r = self.with_scope(scope, |b| {
            let last = b.body_lets(&f.body)?;
            if b.is_tabular(last) {
                b.tabular(last).map(CallResult::Tabular)
            } else {
                b.scalar(last, fr).map(CallResult::Scalar)
            }
        });
        self.fn_depth -= 1;
        r
    }
}
