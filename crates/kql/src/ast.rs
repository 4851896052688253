//! The KQL abstract syntax tree. Every node carries the [`Span`] of the text it came from.
//!
//! One expression type covers scalar and tabular expressions, as KQL's grammar does: a
//! [`ExprKind::Pipe`] (`T | where …`) or a bare name can be either, and the binder decides from
//! context and the catalog (a name bound to a table is tabular, a column is scalar).

use crate::error::Span;

/// A parsed query: `let` statements and the tabular expression(s) they lead to. Only the last
/// tabular statement is the query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub text: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `let name = expr;` (scalar, tabular or `view`-style parameterless function body).
    Let { name: Ident, value: Expr, span: Span },
    /// A tabular expression statement.
    Expr(Expr),
}

/// An identifier with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Real(f64),
    String(String),
    /// Nanoseconds since the Unix epoch, UTC.
    DateTime(i64),
    /// `datetime(now)` — the query's start time.
    DateTimeNow,
    /// Nanoseconds.
    TimeSpan(i64),
    /// JSON value of a `dynamic(...)` literal.
    Dynamic(serde_json::Value),
    Guid(String),
    /// `long(null)`, `datetime(null)`, … — a typed null.
    TypedNull(crate::types::KqlType),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A column, `let` variable or table name.
    Name(String),
    /// `*` as in `count(*)`, `arg_max(T, *)`, `where * has "x"`.
    Star,
    /// `base.name` (dynamic member or `$left.X`).
    Member {
        base: Box<Expr>,
        name: Ident,
    },
    /// `base[index]` (dynamic member by string or array element by number).
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `name(args)`.
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x in (a, b)`, `x !in~ (…)`; a single tabular element means "in the first column of".
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    /// `x between (lo .. hi)`.
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `source | op | op …`.
    Pipe {
        source: Box<Expr>,
        ops: Vec<Operator>,
    },
    /// `union …` as a source.
    Union(Box<UnionOp>),
    /// `datatable(a:string, …)[v, …]`.
    Datatable {
        columns: Vec<(Ident, crate::types::KqlType)>,
        values: Vec<Expr>,
    },
    /// `print a = 1, …`.
    Print(Vec<NamedExpr>),
    /// `search …` as a source (all tables, or those listed with `in (…)`).
    Search(Box<SearchOp>),
    /// `(params) { body }` — a user-defined function (the value of a `let`).
    Function(Box<Function>),
    /// `range x from a to b step s`.
    Range {
        name: Ident,
        from: Box<Expr>,
        to: Box<Expr>,
        step: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~` case-insensitive equality.
    EqCi,
    /// `!~`.
    NeCi,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// A string predicate (`contains`, `has`, `startswith`, …).
    Str(StrOp),
    /// `matches regex`.
    MatchesRegex,
    /// `has_any (…)` / `has_all (…)` take a list on the right (a `dynamic` or paren list).
    HasAny,
    HasAll,
}

/// String predicate operators; `cs` = case-sensitive variant, `negated` = `!op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrOp {
    pub kind: StrOpKind,
    pub cs: bool,
    pub negated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOpKind {
    Contains,
    Has,
    HasPrefix,
    HasSuffix,
    StartsWith,
    EndsWith,
}

/// `[name =] expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub name: Option<Ident>,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub desc: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftAnti,
    LeftSemi,
    RightAnti,
    RightSemi,
}

/// One `on` condition: `Key` or `$left.A == $right.B`.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinCond {
    pub left: Ident,
    pub right: Ident,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnionOp {
    pub withsource: Option<Ident>,
    /// `kind=inner` keeps only common columns; default outer.
    pub inner: bool,
    /// Table names (may contain `*` wildcards) or parenthesised tabular expressions.
    pub inputs: Vec<Expr>,
    pub span: Span,
}

/// `search [kind=case_sensitive] [in (T1, T2*)] predicate`. In the predicate a bare string
/// literal means "any string column has this term" (`*` wildcards: `"err*"` is a prefix).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOp {
    pub case_sensitive: bool,
    /// Table names or patterns from `in (…)`; `None` = every table.
    pub tables: Option<Vec<Ident>>,
    pub predicate: Expr,
    pub span: Span,
}

/// A parameter of a user-defined function.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    /// `None` = a tabular parameter (`T:(*)` or `T:(Col:type, …)`).
    pub ty: Option<crate::types::KqlType>,
    pub default: Option<Expr>,
}

/// `let f = (a:string, b:long = 5) { let x = …; body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub params: Vec<Param>,
    /// The body's statements; the last one is an expression (scalar or tabular).
    pub body: Vec<Statement>,
}

/// One aggregate of `make-series` with its `default =` value.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesAgg {
    pub agg: NamedExpr,
    pub default: Option<Expr>,
}

/// `make-series aggs on Axis from a to b step s by keys` (also `in range(a, b, s)`).
#[derive(Debug, Clone, PartialEq)]
pub struct MakeSeries {
    pub aggs: Vec<SeriesAgg>,
    pub axis: Ident,
    pub from: Option<Expr>,
    pub to: Option<Expr>,
    pub step: Expr,
    pub by: Vec<NamedExpr>,
}

/// One clause of `top-nested`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopNestedLevel {
    /// `N`; `None` = every value.
    pub count: Option<Expr>,
    /// `[Name =] Expr`: the value of this level.
    pub of: NamedExpr,
    /// `with others = V`: one more row with V and the aggregate over the values not kept.
    pub others: Option<Expr>,
    /// `[Name =] Aggregation`.
    pub agg: NamedExpr,
    pub desc: bool,
}

/// `bag_unpack`'s `columnsConflict`: what happens when a bag key names an existing column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BagConflict {
    /// The query fails (Kusto's default).
    #[default]
    Error,
    /// The bag's value replaces the existing column.
    ReplaceSource,
    /// The existing column stays; the key is skipped.
    KeepSource,
}

/// One piece of a `parse` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsePart {
    Literal(String),
    Wildcard,
    Column(Ident, Option<crate::types::KqlType>),
}

/// One column of `mv-expand`.
#[derive(Debug, Clone, PartialEq)]
pub struct MvExpandCol {
    pub name: Option<Ident>,
    pub expr: Expr,
    pub to_type: Option<crate::types::KqlType>,
}

/// A tabular operator after `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub kind: OpKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    Where(Expr),
    Project(Vec<NamedExpr>),
    /// Column name patterns, `*` wildcards allowed.
    ProjectAway(Vec<Ident>),
    ProjectKeep(Vec<Ident>),
    ProjectReorder(Vec<Ident>),
    /// `new = old` pairs.
    ProjectRename(Vec<(Ident, Ident)>),
    Extend(Vec<NamedExpr>),
    Summarize {
        aggs: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Top {
        count: Expr,
        key: SortKey,
    },
    Take(Expr),
    /// Empty = `distinct *`.
    Distinct(Vec<NamedExpr>),
    Count,
    Join {
        kind: JoinKind,
        right: Expr,
        on: Vec<JoinCond>,
    },
    Union(UnionOp),
    /// `lookup [kind=leftouter|inner] (T) on …`: a join that does not repeat right key columns.
    Lookup {
        inner: bool,
        right: Expr,
        on: Vec<JoinCond>,
    },
    MakeSeries(Box<MakeSeries>),
    /// `top-nested [N] of Expr [with others = V] by Agg [asc|desc], top-nested …`.
    TopNested(Vec<TopNestedLevel>),
    /// `T | search …` (a filter over the piped input).
    Search(Box<SearchOp>),
    /// `mv-apply x = arr [to typeof(T)] on (subquery)`.
    MvApply {
        items: Vec<MvExpandCol>,
        subquery: Expr,
    },
    /// `evaluate bag_unpack(col [, prefix [, columnsConflict [, ignoredProperties]]]) [: (…)]`.
    BagUnpack {
        column: Expr,
        prefix: Option<String>,
        conflict: BagConflict,
        /// Bag keys that never become columns.
        ignored: Vec<String>,
        /// Output schema `: ([*,] Col:type, …)` when the query gives one.
        schema: Option<Vec<(Ident, crate::types::KqlType)>>,
        /// The schema starts with `*`: the input's columns are kept too.
        schema_keeps_input: bool,
    },
    MvExpand {
        cols: Vec<MvExpandCol>,
        item_index: Option<Ident>,
        limit: Option<Expr>,
    },
    Parse {
        expr: Expr,
        parts: Vec<ParsePart>,
        regex: bool,
    },
    Render {
        chart: String,
    },
    Serialize(Vec<NamedExpr>),
    Getschema,
    /// `as name`: names the tabular result (for `withsource`); otherwise a no-op.
    As(Ident),
}
