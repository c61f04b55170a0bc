//! The checked, typed form of a query that the renderers turn into SQL.
//!
//! [`crate::validate`] builds a [`Plan`] from a parsed query and an entity:
//! names are resolved (aliases inlined, `tags[key]` and `time` recognised),
//! every expression has a type, literals compared with a `DateTime` are
//! times, and the defaults are filled in.

use crate::entity::{Entity, Type};
use crate::snql::{ArithOp, CompareOp};

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `NULL`.
    Null,
    /// `true` or `false`, stored as 1 or 0.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A string.
    String(String),
    /// A time, in seconds since the epoch (UTC).
    DateTime(i64),
}

impl Value {
    /// The type of the literal.
    pub fn ty(&self) -> Type {
        match self {
            Value::Null => Type::Nullable(Box::new(Type::String)),
            Value::Bool(_) => Type::UInt(8),
            Value::Int(i) if *i >= 0 => Type::UInt(64),
            Value::Int(_) => Type::Int64,
            Value::Float(_) => Type::Float64,
            Value::String(_) => Type::String,
            Value::DateTime(_) => Type::DateTime,
        }
    }
}

/// Whether a function aggregates rows or works on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// `count`, `uniq`, `quantile`, ...
    Aggregate,
    /// Everything else.
    Scalar,
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum TExpr {
    /// A column of the entity.
    Column {
        /// Its name.
        name: &'static str,
        /// Its type.
        ty: Type,
    },
    /// `tags[key]`: the value for `key` in a map, `''` when it is missing.
    MapValue {
        /// The map (`tags`).
        map: &'static str,
        /// The key.
        key: String,
    },
    /// The `time` column: the entity's time column cut to `seconds`.
    TimeBucket {
        /// The time column.
        column: &'static str,
        /// The bucket size.
        seconds: u64,
    },
    /// A literal.
    Literal(Value),
    /// A function call, by its canonical name.
    Call {
        /// The function.
        name: &'static str,
        /// Aggregate or scalar.
        kind: FunctionKind,
        /// The parameters of a curried call (`quantile(0.95)`).
        params: Vec<TExpr>,
        /// The arguments.
        args: Vec<TExpr>,
        /// The result type.
        ty: Type,
    },
    /// `lhs op rhs`.
    Arith {
        /// The operator.
        op: ArithOp,
        /// The left operand.
        lhs: Box<TExpr>,
        /// The right operand.
        rhs: Box<TExpr>,
        /// The result type.
        ty: Type,
    },
}

impl TExpr {
    /// The type of the expression's value.
    pub fn ty(&self) -> Type {
        match self {
            TExpr::Column { ty, .. } | TExpr::Call { ty, .. } | TExpr::Arith { ty, .. } => {
                ty.clone()
            }
            TExpr::MapValue { .. } => Type::String,
            TExpr::TimeBucket { .. } => Type::DateTime,
            TExpr::Literal(value) => value.ty(),
        }
    }

    /// True when the expression contains an aggregate function.
    pub fn has_aggregate(&self) -> bool {
        match self {
            TExpr::Call { kind, args, .. } => {
                *kind == FunctionKind::Aggregate || args.iter().any(TExpr::has_aggregate)
            }
            TExpr::Arith { lhs, rhs, .. } => lhs.has_aggregate() || rhs.has_aggregate(),
            _ => false,
        }
    }
}

/// A typed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum TCond {
    /// All hold.
    And(Vec<TCond>),
    /// One holds.
    Or(Vec<TCond>),
    /// `lhs op rhs`; for `IN` and `NOT IN` the right side is a list.
    Compare {
        /// Left side.
        lhs: TExpr,
        /// Operator.
        op: CompareOp,
        /// Right side.
        rhs: Rhs,
    },
    /// `IS NULL` / `IS NOT NULL`.
    IsNull {
        /// The tested expression.
        expr: TExpr,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

/// The right side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// One value.
    Expr(TExpr),
    /// The list of `IN (...)`.
    List(Vec<TExpr>),
}

/// One column of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its name: the alias, or the SnQL text of the expression.
    pub name: String,
    /// What it computes.
    pub expr: TExpr,
}

/// A query ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The entity read.
    pub entity: &'static Entity,
    /// `SAMPLE`: a rate below 1.
    pub sample: Option<f64>,
    /// The result columns: the `BY` items, then the `SELECT` items.
    pub outputs: Vec<Output>,
    /// The grouping expressions.
    pub group_by: Vec<TExpr>,
    /// The row condition, with the required ones.
    pub where_: TCond,
    /// The group condition.
    pub having: Option<TCond>,
    /// Sort terms: expression and descending.
    pub order_by: Vec<(TExpr, bool)>,
    /// `LIMIT n BY ...`.
    pub limit_by: Option<(u64, Vec<TExpr>)>,
    /// Rows returned at most.
    pub limit: u64,
    /// Rows skipped first.
    pub offset: u64,
    /// Add a totals row.
    pub totals: bool,
    /// True when the query aggregates (it groups or calls an aggregate).
    pub aggregate: bool,
}
