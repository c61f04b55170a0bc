//! The SnQL syntax tree.
//!
//! The tree keeps what the text says and nothing more: names are not
//! resolved against an entity here (see [`crate::validate`]). Printing a tree
//! with [`std::fmt::Display`] gives SnQL that parses back to the same tree.

/// One SnQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// What the query reads: an entity, a join or a subquery.
    pub from: Source,
    /// The `SELECT` list.
    pub select: Vec<Selected>,
    /// The `BY` list: grouping expressions, also part of the result.
    pub group_by: Vec<Selected>,
    /// `ARRAY JOIN` columns.
    pub array_join: Vec<Expr>,
    /// The `WHERE` condition.
    pub where_: Option<Condition>,
    /// The `HAVING` condition.
    pub having: Option<Condition>,
    /// `ORDER BY` terms.
    pub order_by: Vec<OrderBy>,
    /// `LIMIT n BY columns`.
    pub limit_by: Option<LimitBy>,
    /// `LIMIT n`.
    pub limit: Option<u64>,
    /// `OFFSET n`.
    pub offset: Option<u64>,
    /// `GRANULARITY n`: the bucket size, in seconds, of the `time` column.
    pub granularity: Option<u64>,
    /// `TOTALS true`: add a row of totals over all groups.
    pub totals: Option<bool>,
}

impl Query {
    /// A query on one entity with no clauses yet.
    pub fn new(entity: impl Into<String>) -> Self {
        Query {
            from: Source::Entity(EntityRef {
                alias: None,
                name: entity.into(),
                sample: None,
            }),
            select: Vec::new(),
            group_by: Vec::new(),
            array_join: Vec::new(),
            where_: None,
            having: None,
            order_by: Vec::new(),
            limit_by: None,
            limit: None,
            offset: None,
            granularity: None,
            totals: None,
        }
    }
}

/// The `MATCH` clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `MATCH (events SAMPLE 0.1)`.
    Entity(EntityRef),
    /// `MATCH (e: events) -[grouped]-> (g: groupedmessage), ...`: one or more
    /// relationships; every entity has an alias.
    Join(Vec<Relationship>),
    /// `MATCH { MATCH (events) SELECT ... }`.
    Subquery(Box<Query>),
}

/// An entity in `MATCH`, with its alias in a join.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRef {
    /// `e` in `(e: events)`; `None` outside joins.
    pub alias: Option<String>,
    /// The entity name, `events`.
    pub name: String,
    /// `SAMPLE n`: a rate below 1 or a number of rows.
    pub sample: Option<f64>,
}

/// `(lhs) -[name]-> (rhs)` in a join.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    /// The entity the relationship starts from.
    pub lhs: EntityRef,
    /// The relationship's name, defined by the left entity (`grouped`).
    pub name: String,
    /// The entity it points to.
    pub rhs: EntityRef,
}

/// An item of `SELECT` or `BY`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The expression.
    pub expr: Expr,
    /// `AS alias` after a column or a tag; a function's alias lives in the
    /// function itself.
    pub alias: Option<String>,
}

impl Selected {
    /// The name of this item in the result: the alias, else the text.
    pub fn name(&self) -> String {
        match (&self.alias, &self.expr) {
            (Some(alias), _) => alias.clone(),
            (
                None,
                Expr::Function(Function {
                    alias: Some(alias), ..
                }),
            ) => alias.clone(),
            (None, expr) => expr.to_string(),
        }
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A column, `project_id` (`e.project_id` in a join).
    Column(String),
    /// A map lookup, `tags[browser.name]` (also `e.tags[...]`,
    /// `contexts[...]`).
    Subscript {
        /// The column holding the map.
        column: String,
        /// The key, taken literally.
        key: String,
    },
    /// A literal value.
    Literal(Literal),
    /// A function call, `count()`, `quantile(0.95)(duration)`.
    Function(Function),
    /// `lhs op rhs` for `+ - * /`.
    Arithmetic {
        /// The operator.
        op: ArithOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `` (`x`, `y`) -> f(x, y) ``, only as a function argument.
    Lambda {
        /// The parameter names.
        params: Vec<String>,
        /// The body.
        body: Box<Function>,
    },
    /// `` `x` ``: a lambda parameter inside a lambda's body.
    Identifier(String),
}

impl Expr {
    /// A column expression.
    pub fn column(name: impl Into<String>) -> Self {
        Expr::Column(name.into())
    }

    /// A call of `name` with `args`.
    pub fn call(name: impl Into<String>, args: Vec<Expr>) -> Self {
        Expr::Function(Function {
            name: name.into(),
            params: None,
            args,
            alias: None,
        })
    }

    /// A string literal.
    pub fn string(value: impl Into<String>) -> Self {
        Expr::Literal(Literal::String(value.into()))
    }

    /// An integer literal.
    pub fn int(value: i64) -> Self {
        Expr::Literal(Literal::Int(value))
    }
}

/// A function call; `params` is set for a curried call such as
/// `quantile(0.95)(duration)`, where the first list holds the parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// The function name, as written.
    pub name: String,
    /// The first argument list of a curried call.
    pub params: Option<Vec<Expr>>,
    /// The arguments.
    pub args: Vec<Expr>,
    /// `AS alias`.
    pub alias: Option<String>,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `NULL`.
    Null,
    /// `true`, `false`.
    Bool(bool),
    /// An integer that fits in 64 signed bits.
    Int(i64),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// A quoted string, unescaped.
    String(String),
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl ArithOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// A condition of `WHERE` or `HAVING`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every condition holds (two or more).
    And(Vec<Condition>),
    /// One of the conditions holds (two or more).
    Or(Vec<Condition>),
    /// `lhs op rhs`.
    Compare {
        /// The left side.
        lhs: Expr,
        /// The operator.
        op: CompareOp,
        /// The right side.
        rhs: Expr,
    },
    /// `expr IS NULL` or, when `negated`, `expr IS NOT NULL`.
    IsNull {
        /// The tested expression.
        expr: Expr,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

impl Condition {
    /// `lhs op rhs`.
    pub fn compare(lhs: Expr, op: CompareOp, rhs: Expr) -> Self {
        Condition::Compare { lhs, op, rhs }
    }

    /// The conditions joined by `AND` at the top level (the condition
    /// itself when it is not an `AND`).
    pub fn conjuncts(&self) -> Vec<&Condition> {
        match self {
            Condition::And(items) => items.iter().flat_map(Condition::conjuncts).collect(),
            other => vec![other],
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `IN`
    In,
    /// `NOT IN`
    NotIn,
    /// `LIKE`
    Like,
    /// `NOT LIKE`
    NotLike,
}

impl CompareOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
            CompareOp::In => "IN",
            CompareOp::NotIn => "NOT IN",
            CompareOp::Like => "LIKE",
            CompareOp::NotLike => "NOT LIKE",
        }
    }
}

/// A term of `ORDER BY`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// What to sort by.
    pub expr: Expr,
    /// `DESC` when true.
    pub descending: bool,
}

/// `LIMIT n BY columns`: at most `limit` rows for each value of `columns`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitBy {
    /// Rows kept per value.
    pub limit: u64,
    /// The columns whose values are limited.
    pub columns: Vec<Expr>,
}
