//! The functions a query may call, with their arity and result types.
//!
//! Names are ClickHouse's, as SnQL uses them. Both renderers know every
//! function listed here; anything else is refused before rendering.

use crate::entity::Type;
use crate::plan::{FunctionKind, TExpr, Value};
use crate::validate::ValidationError;

fn invalid(function: &str, reason: impl Into<String>) -> ValidationError {
    ValidationError::InvalidCall {
        function: function.to_owned(),
        reason: reason.into(),
    }
}

/// Checks a call and gives it its canonical name, kind and type.
pub(crate) fn resolve(
    name: &str,
    curried: bool,
    params: Vec<TExpr>,
    args: Vec<TExpr>,
) -> Result<TExpr, ValidationError> {
    use FunctionKind::{Aggregate, Scalar};
    let n = args.len();
    let arity = |ok: bool, expected: &str| {
        if ok {
            Ok(())
        } else {
            Err(invalid(name, format!("takes {expected}, got {n}")))
        }
    };
    let ty_of = |i: usize| args.get(i).map(TExpr::ty).unwrap_or(Type::String);
    let numeric = |i: usize| -> Result<(), ValidationError> {
        let ty = ty_of(i);
        if ty.is_number() {
            Ok(())
        } else {
            Err(invalid(
                name,
                format!("argument {} must be a number, not {ty}", i + 1),
            ))
        }
    };
    let datetime = |i: usize| -> Result<(), ValidationError> {
        match ty_of(i).base() {
            Type::DateTime => Ok(()),
            other => Err(invalid(name, format!("needs a DateTime, not {other}"))),
        }
    };
    let sum_type = |ty: Type| match ty.base() {
        Type::Float64 => Type::Float64,
        Type::Int64 => Type::Int64,
        _ => Type::UInt(64),
    };
    if curried && name != "quantile" {
        return Err(invalid(name, "takes no parameters"));
    }
    let (canonical, kind, ty): (&'static str, FunctionKind, Type) = match name {
        "count" => {
            arity(n <= 1, "0 or 1 argument")?;
            ("count", Aggregate, Type::UInt(64))
        }
        "uniq" => {
            arity(n == 1, "1 argument")?;
            ("uniq", Aggregate, Type::UInt(64))
        }
        "countIf" => {
            arity(n == 1, "1 argument")?;
            ("countIf", Aggregate, Type::UInt(64))
        }
        "uniqIf" => {
            arity(n == 2, "2 arguments")?;
            ("uniqIf", Aggregate, Type::UInt(64))
        }
        "sum" | "sumIf" => {
            let want = if name == "sum" { 1 } else { 2 };
            arity(n == want, "its arguments")?;
            numeric(0)?;
            let canonical = if name == "sum" { "sum" } else { "sumIf" };
            (canonical, Aggregate, sum_type(ty_of(0)))
        }
        "avg" | "avgIf" => {
            let want = if name == "avg" { 1 } else { 2 };
            arity(n == want, "its arguments")?;
            numeric(0)?;
            let canonical = if name == "avg" { "avg" } else { "avgIf" };
            (canonical, Aggregate, Type::Float64)
        }
        "min" | "max" | "any" | "anyLast" => {
            arity(n == 1, "1 argument")?;
            let canonical = match name {
                "min" => "min",
                "max" => "max",
                "any" => "any",
                _ => "anyLast",
            };
            (canonical, Aggregate, ty_of(0))
        }
        "minIf" | "maxIf" => {
            arity(n == 2, "2 arguments")?;
            let canonical = if name == "minIf" { "minIf" } else { "maxIf" };
            (canonical, Aggregate, ty_of(0))
        }
        "argMax" | "argMin" => {
            arity(n == 2, "2 arguments")?;
            let canonical = if name == "argMax" { "argMax" } else { "argMin" };
            (canonical, Aggregate, ty_of(0))
        }
        "groupArray" | "groupUniqArray" => {
            arity(n == 1, "1 argument")?;
            let canonical = if name == "groupArray" {
                "groupArray"
            } else {
                "groupUniqArray"
            };
            (
                canonical,
                Aggregate,
                Type::Array(Box::new(ty_of(0).base().clone())),
            )
        }
        "quantile" | "median" => {
            arity(n == 1, "1 argument")?;
            numeric(0)?;
            let level = if name == "median" {
                if curried {
                    return Err(invalid(name, "takes no parameters"));
                }
                0.5
            } else {
                match params.as_slice() {
                    [TExpr::Literal(Value::Float(x))] => *x,
                    [TExpr::Literal(Value::Int(i))] => *i as f64,
                    _ => return Err(invalid(name, "needs one level, as in quantile(0.95)(x)")),
                }
            };
            if !(0.0..=1.0).contains(&level) {
                return Err(invalid(name, "the level must be between 0 and 1"));
            }
            return Ok(TExpr::Call {
                name: "quantile",
                kind: Aggregate,
                params: vec![TExpr::Literal(Value::Float(level))],
                args,
                ty: Type::Float64,
            });
        }
        "equals" | "notEquals" | "less" | "greater" | "lessOrEquals" | "greaterOrEquals"
        | "like" | "notLike" => {
            arity(n == 2, "2 arguments")?;
            let canonical = match name {
                "equals" => "equals",
                "notEquals" => "notEquals",
                "less" => "less",
                "greater" => "greater",
                "lessOrEquals" => "lessOrEquals",
                "greaterOrEquals" => "greaterOrEquals",
                "like" => "like",
                _ => "notLike",
            };
            (canonical, Scalar, Type::UInt(8))
        }
        "and" | "or" => {
            arity(n >= 2, "2 or more arguments")?;
            let canonical = if name == "and" { "and" } else { "or" };
            (canonical, Scalar, Type::UInt(8))
        }
        "not" | "isNull" | "isNotNull" => {
            arity(n == 1, "1 argument")?;
            let canonical = match name {
                "not" => "not",
                "isNull" => "isNull",
                _ => "isNotNull",
            };
            (canonical, Scalar, Type::UInt(8))
        }
        "in" | "notIn" => {
            arity(n == 2, "2 arguments")?;
            let canonical = if name == "in" { "in" } else { "notIn" };
            (canonical, Scalar, Type::UInt(8))
        }
        "tuple" | "array" => {
            arity(n >= 1, "1 or more arguments")?;
            let canonical = if name == "tuple" { "tuple" } else { "array" };
            (canonical, Scalar, Type::Array(Box::new(ty_of(0))))
        }
        "ifNull" => {
            arity(n == 2, "2 arguments")?;
            ("ifNull", Scalar, ty_of(0).base().clone())
        }
        "coalesce" => {
            arity(n >= 1, "1 or more arguments")?;
            let ty = if args.iter().any(|a| !a.ty().is_nullable()) {
                ty_of(0).base().clone()
            } else {
                ty_of(0)
            };
            ("coalesce", Scalar, ty)
        }
        "if" => {
            arity(n == 3, "3 arguments")?;
            let ty = if ty_of(2).is_nullable() {
                ty_of(1).nullable()
            } else {
                ty_of(1)
            };
            ("if", Scalar, ty)
        }
        "toStartOfMinute" | "toStartOfHour" | "toStartOfDay" => {
            arity(n == 1, "1 argument")?;
            datetime(0)?;
            let canonical = match name {
                "toStartOfMinute" => "toStartOfMinute",
                "toStartOfHour" => "toStartOfHour",
                _ => "toStartOfDay",
            };
            (canonical, Scalar, Type::DateTime)
        }
        "toUnixTimestamp" => {
            arity(n == 1, "1 argument")?;
            datetime(0)?;
            ("toUnixTimestamp", Scalar, Type::UInt(32))
        }
        "lower" | "upper" => {
            arity(n == 1, "1 argument")?;
            let canonical = if name == "lower" { "lower" } else { "upper" };
            (canonical, Scalar, ty_of(0))
        }
        "length" => {
            arity(n == 1, "1 argument")?;
            ("length", Scalar, Type::UInt(64))
        }
        "empty" | "notEmpty" => {
            arity(n == 1, "1 argument")?;
            let canonical = if name == "empty" { "empty" } else { "notEmpty" };
            (canonical, Scalar, Type::UInt(8))
        }
        "concat" => {
            arity(n >= 2, "2 or more arguments")?;
            ("concat", Scalar, Type::String)
        }
        "has" => {
            arity(n == 2, "2 arguments")?;
            if ty_of(0).element().is_none() {
                return Err(invalid(name, "needs an array first"));
            }
            ("has", Scalar, Type::UInt(8))
        }
        "abs" => {
            arity(n == 1, "1 argument")?;
            numeric(0)?;
            ("abs", Scalar, ty_of(0))
        }
        "greatest" | "least" => {
            arity(n == 2, "2 arguments")?;
            let canonical = if name == "greatest" {
                "greatest"
            } else {
                "least"
            };
            (canonical, Scalar, ty_of(0))
        }
        "intDiv" => {
            arity(n == 2, "2 arguments")?;
            numeric(0)?;
            numeric(1)?;
            ("intDiv", Scalar, sum_type(ty_of(0)))
        }
        "plus" | "minus" | "multiply" | "divide" => {
            arity(n == 2, "2 arguments")?;
            let op = match name {
                "plus" => crate::snql::ArithOp::Add,
                "minus" => crate::snql::ArithOp::Sub,
                "multiply" => crate::snql::ArithOp::Mul,
                _ => crate::snql::ArithOp::Div,
            };
            let mut args = args;
            let rhs = args.pop().unwrap_or(TExpr::Literal(Value::Null));
            let lhs = args.pop().unwrap_or(TExpr::Literal(Value::Null));
            return crate::validate::arith(op, lhs, rhs);
        }
        _ => return Err(ValidationError::UnknownFunction(name.to_owned())),
    };
    Ok(TExpr::Call {
        name: canonical,
        kind,
        params,
        args,
        ty,
    })
}
