//! From a parsed query to a [`Plan`]: names, types, functions, required
//! conditions and defaults.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::entity::{self, Entity, Type};
use crate::plan::{FunctionKind, Output, Plan, Rhs, TCond, TExpr, Value};
use crate::snql::{
    ArithOp, CompareOp, Condition, Expr, Function, Literal, Query, Selected, Source,
};

/// `LIMIT` when the query has none.
pub const DEFAULT_LIMIT: u64 = 1000;
/// The largest `LIMIT` accepted.
pub const MAX_LIMIT: u64 = 10_000;
/// The bucket of `time` when the query has no `GRANULARITY`.
pub const DEFAULT_GRANULARITY: u64 = 3600;

/// Why a query that parsed cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// `MATCH (x)` names no entity.
    #[error("unknown entity `{0}`")]
    UnknownEntity(String),
    /// A name is neither a column, a map lookup nor an alias.
    #[error("unknown column `{column}` in entity `{entity}`")]
    UnknownColumn {
        /// The entity.
        entity: &'static str,
        /// The name.
        column: String,
    },
    /// A function this project does not know.
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// A function called with the wrong number or kind of arguments.
    #[error("invalid call of `{function}`: {reason}")]
    InvalidCall {
        /// The function.
        function: String,
        /// What is wrong.
        reason: String,
    },
    /// A required condition is missing from the top level of `WHERE`.
    #[error("missing {0}")]
    MissingCondition(String),
    /// Something the grammar accepts that cannot run yet or here.
    #[error("{0}")]
    Unsupported(String),
    /// Any other invalid query.
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, ValidationError>;

/// Checks `query` against its entity and builds the plan.
///
/// ```
/// use sentry_snuba::{snql, validate};
/// let q = snql::parse(
///     "MATCH (events) SELECT count() AS c BY group_id \
///      WHERE project_id = 1 AND timestamp >= toDateTime('2024-05-01T00:00:00') \
///      AND timestamp < toDateTime('2024-05-02T00:00:00') ORDER BY c DESC",
/// ).unwrap();
/// let plan = validate::validate(&q).unwrap();
/// assert_eq!(plan.entity.name, "events");
/// assert_eq!(plan.outputs[0].name, "group_id");
/// assert_eq!(plan.outputs[1].name, "c");
/// assert_eq!(plan.limit, validate::DEFAULT_LIMIT);
/// ```
pub fn validate(query: &Query) -> Result<Plan> {
    let (entity, sample) = match &query.from {
        Source::Entity(e) => (
            entity::by_name(&e.name)
                .ok_or_else(|| ValidationError::UnknownEntity(e.name.clone()))?,
            e.sample,
        ),
        Source::Join(_) => {
            return Err(ValidationError::Unsupported(
                "joins are not supported by this event store".into(),
            ));
        }
        Source::Subquery(_) => {
            return Err(ValidationError::Unsupported(
                "subqueries are not supported by this event store".into(),
            ));
        }
    };
    if query.totals == Some(true) {
        return Err(ValidationError::Unsupported(
            "TOTALS true is not supported by this event store yet".into(),
        ));
    }
    if !query.array_join.is_empty() {
        return Err(ValidationError::Unsupported(
            "ARRAY JOIN is not supported by this event store".into(),
        ));
    }
    let sample = match sample {
        Some(rate) if rate >= 1.0 => {
            return Err(ValidationError::Unsupported(
                "SAMPLE takes a rate between 0 and 1 here".into(),
            ));
        }
        other => other,
    };
    let granularity = query.granularity.unwrap_or(DEFAULT_GRANULARITY);
    if granularity == 0 {
        return Err(ValidationError::Invalid(
            "GRANULARITY must be at least 1".into(),
        ));
    }

    let mut resolver = Resolver {
        entity,
        granularity,
        aliases: HashMap::new(),
        resolving: Vec::new(),
        in_where: false,
    };
    for item in query.group_by.iter().chain(&query.select) {
        resolver.collect_aliases(item)?;
    }

    let mut outputs = Vec::new();
    let mut group_by = Vec::new();
    for item in &query.group_by {
        let expr = resolver.expr(&item.expr)?;
        group_by.push(expr.clone());
        outputs.push(Output {
            name: item.name(),
            expr,
        });
    }
    for item in &query.select {
        let output = Output {
            name: item.name(),
            expr: resolver.expr(&item.expr)?,
        };
        // `SELECT group_id ... BY group_id` gives the column once.
        if !outputs.contains(&output) {
            outputs.push(output);
        }
    }
    resolver.in_where = true;
    let where_ = match &query.where_ {
        Some(c) => resolver.condition(c)?,
        None => TCond::And(Vec::new()),
    };
    resolver.in_where = false;
    let having = query
        .having
        .as_ref()
        .map(|c| resolver.condition(c))
        .transpose()?;
    let order_by = query
        .order_by
        .iter()
        .map(|o| Ok((resolver.expr(&o.expr)?, o.descending)))
        .collect::<Result<Vec<_>>>()?;
    let limit_by = match &query.limit_by {
        Some(lb) => Some((
            lb.limit,
            lb.columns
                .iter()
                .map(|c| resolver.expr(c))
                .collect::<Result<Vec<_>>>()?,
        )),
        None => None,
    };

    check_required(entity, &where_)?;
    if condition_has_aggregate(&where_) {
        return Err(ValidationError::Invalid(
            "WHERE cannot use aggregate functions; use HAVING".into(),
        ));
    }
    let aggregate =
        !group_by.is_empty() || outputs.iter().any(|o| o.expr.has_aggregate()) || having.is_some();
    if aggregate {
        for output in &outputs {
            check_grouped(&output.expr, &group_by, &output.name)?;
        }
        for (expr, _) in &order_by {
            check_grouped(expr, &group_by, "ORDER BY")?;
        }
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(ValidationError::Invalid(format!(
            "LIMIT {limit} is above the maximum of {MAX_LIMIT}"
        )));
    }
    Ok(Plan {
        entity,
        sample,
        outputs,
        group_by,
        where_,
        having,
        order_by,
        limit_by,
        limit,
        offset: query.offset.unwrap_or(0),
        totals: query.totals.unwrap_or(false),
        aggregate,
    })
}

/// An aggregate query may only show grouped expressions, aggregates and
/// literals (and functions of those).
fn check_grouped(expr: &TExpr, group_by: &[TExpr], what: &str) -> Result<()> {
    if group_by.contains(expr) {
        return Ok(());
    }
    match expr {
        TExpr::Literal(_) => Ok(()),
        TExpr::Call {
            kind: FunctionKind::Aggregate,
            ..
        } => Ok(()),
        TExpr::Call { args, .. } => args
            .iter()
            .try_for_each(|a| check_grouped(a, group_by, what)),
        TExpr::Arith { lhs, rhs, .. } => {
            check_grouped(lhs, group_by, what)?;
            check_grouped(rhs, group_by, what)
        }
        _ => Err(ValidationError::Invalid(format!(
            "`{what}` uses a column that is neither in BY nor inside an aggregate"
        ))),
    }
}

fn condition_has_aggregate(cond: &TCond) -> bool {
    match cond {
        TCond::And(items) | TCond::Or(items) => items.iter().any(condition_has_aggregate),
        TCond::Compare { lhs, rhs, .. } => {
            lhs.has_aggregate()
                || match rhs {
                    Rhs::Expr(e) => e.has_aggregate(),
                    Rhs::List(items) => items.iter().any(TExpr::has_aggregate),
                }
        }
        TCond::IsNull { expr, .. } => expr.has_aggregate(),
    }
}

/// The entity's id column must be compared with `=` or `IN` and its time
/// column bounded on both sides, at the top level of `WHERE`.
fn check_required(entity: &Entity, where_: &TCond) -> Result<()> {
    let conjuncts: Vec<&TCond> = match where_ {
        TCond::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let is_column =
        |e: &TExpr, name: &str| matches!(e, TExpr::Column { name: n, .. } if *n == name);
    let literal = |e: &TExpr| matches!(e, TExpr::Literal(_));
    let mut id = false;
    let mut lower = false;
    let mut upper = false;
    for c in conjuncts {
        let TCond::Compare { lhs, op, rhs } = c else {
            continue;
        };
        if is_column(lhs, entity.required_id) {
            match (op, rhs) {
                (CompareOp::Eq, Rhs::Expr(e)) if literal(e) => id = true,
                (CompareOp::In, Rhs::List(items)) if items.iter().all(literal) => id = true,
                _ => {}
            }
        }
        if is_column(lhs, entity.time_column) {
            if let Rhs::Expr(TExpr::Literal(Value::DateTime(_))) = rhs {
                match op {
                    CompareOp::Gt | CompareOp::GtEq => lower = true,
                    CompareOp::Lt | CompareOp::LtEq => upper = true,
                    _ => {}
                }
            }
        }
    }
    let column = entity.required_id;
    let time = entity.time_column;
    if !id {
        return Err(ValidationError::MissingCondition(format!(
            "a condition on {column} (`{column} = n` or `{column} IN tuple(...)`) for entity {}",
            entity.name
        )));
    }
    if !lower {
        return Err(ValidationError::MissingCondition(format!(
            ">= condition on column {time} for entity {}",
            entity.name
        )));
    }
    if !upper {
        return Err(ValidationError::MissingCondition(format!(
            "< condition on column {time} for entity {}",
            entity.name
        )));
    }
    Ok(())
}

struct Resolver<'q> {
    entity: &'static Entity,
    granularity: u64,
    aliases: HashMap<String, &'q Expr>,
    /// Aliases being expanded, to refuse an alias defined by itself.
    resolving: Vec<String>,
    /// True while resolving `WHERE`.
    in_where: bool,
}

/// A function found in an expression with its alias.
fn function_aliases<'q>(expr: &'q Expr, out: &mut Vec<(&'q str, &'q Expr)>) {
    match expr {
        Expr::Function(f) => {
            if let Some(alias) = &f.alias {
                out.push((alias, expr));
            }
            for e in f.params.iter().flatten().chain(&f.args) {
                function_aliases(e, out);
            }
        }
        Expr::Arithmetic { lhs, rhs, .. } => {
            function_aliases(lhs, out);
            function_aliases(rhs, out);
        }
        _ => {}
    }
}

impl<'q> Resolver<'q> {
    fn collect_aliases(&mut self, item: &'q Selected) -> Result<()> {
        let mut found = Vec::new();
        if let Some(alias) = &item.alias {
            found.push((alias.as_str(), &item.expr));
        }
        function_aliases(&item.expr, &mut found);
        for (alias, expr) in found {
            if let Some(previous) = self.aliases.insert(alias.to_owned(), expr) {
                if strip_alias(previous) != strip_alias(expr) {
                    return Err(ValidationError::Invalid(format!(
                        "alias `{alias}` is defined twice with different expressions"
                    )));
                }
            }
        }
        Ok(())
    }

    fn expr(&mut self, expr: &Expr) -> Result<TExpr> {
        match expr {
            Expr::Column(name) => self.column(name),
            Expr::Subscript { column, key } => {
                let map = self
                    .entity
                    .maps
                    .iter()
                    .find(|m| **m == column.as_str())
                    .ok_or_else(|| ValidationError::UnknownColumn {
                        entity: self.entity.name,
                        column: format!("{column}[{key}]"),
                    })?;
                Ok(TExpr::MapValue {
                    map,
                    key: key.clone(),
                })
            }
            Expr::Literal(literal) => Ok(TExpr::Literal(match literal {
                Literal::Null => Value::Null,
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Int(i) => Value::Int(*i),
                Literal::Float(x) => Value::Float(*x),
                Literal::String(s) => Value::String(s.clone()),
            })),
            Expr::Function(f) => {
                // Inside the definition of alias `a`, `a` is the column of
                // that name (`sum(quantity) AS quantity`).
                let defines = f.alias.clone();
                if let Some(alias) = &defines {
                    self.resolving.push(alias.clone());
                }
                let resolved = self.function(f);
                if defines.is_some() {
                    self.resolving.pop();
                }
                resolved
            }
            Expr::Arithmetic { op, lhs, rhs } => {
                let lhs = self.expr(lhs)?;
                let rhs = self.expr(rhs)?;
                arith(*op, lhs, rhs)
            }
            Expr::Lambda { .. } | Expr::Identifier(_) => Err(ValidationError::Unsupported(
                "lambdas are not supported by this event store".into(),
            )),
        }
    }

    fn column(&mut self, name: &str) -> Result<TExpr> {
        // In WHERE a column wins over an alias of the same name: rows are
        // filtered before anything is aggregated.
        let column_first = self.in_where && self.entity.column(name).is_some();
        if let Some(expr) = self.aliases.get(name).copied().filter(|_| !column_first) {
            let defines_itself = matches!(expr, Expr::Column(c) if c == name);
            if !defines_itself && !self.resolving.iter().any(|r| r == name) {
                self.resolving.push(name.to_owned());
                let resolved = self.expr(expr);
                self.resolving.pop();
                return resolved;
            }
        }
        if name == "time" && self.entity.column("time").is_none() {
            return Ok(TExpr::TimeBucket {
                column: self.entity.time_column,
                seconds: self.granularity,
            });
        }
        match self.entity.column(name) {
            Some(column) => Ok(TExpr::Column {
                name: column.name,
                ty: column.ty.clone(),
            }),
            None => Err(ValidationError::UnknownColumn {
                entity: self.entity.name,
                column: name.to_owned(),
            }),
        }
    }

    fn function(&mut self, f: &Function) -> Result<TExpr> {
        // `toDateTime('...')` is a time literal.
        if f.name == "toDateTime" && f.params.is_none() {
            if let [Expr::Literal(Literal::String(text))] = f.args.as_slice() {
                return parse_time(text).map(|t| TExpr::Literal(Value::DateTime(t)));
            }
            if let [Expr::Literal(Literal::Int(secs))] = f.args.as_slice() {
                return Ok(TExpr::Literal(Value::DateTime(*secs)));
            }
        }
        let params = f
            .params
            .iter()
            .flatten()
            .map(|e| self.expr(e))
            .collect::<Result<Vec<_>>>()?;
        let mut args = f
            .args
            .iter()
            .map(|e| self.expr(e))
            .collect::<Result<Vec<_>>>()?;
        if matches!(
            f.name.as_str(),
            "equals" | "notEquals" | "less" | "greater" | "lessOrEquals" | "greaterOrEquals"
        ) && args.len() == 2
        {
            let (a, b) = args.split_at_mut(1);
            coerce_pair(&mut a[0], &mut b[0])?;
        }
        crate::functions::resolve(&f.name, f.params.is_some(), params, args)
    }

    fn condition(&mut self, c: &Condition) -> Result<TCond> {
        Ok(match c {
            Condition::And(items) => TCond::And(
                items
                    .iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_>>()?,
            ),
            Condition::Or(items) => TCond::Or(
                items
                    .iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_>>()?,
            ),
            Condition::IsNull { expr, negated } => TCond::IsNull {
                expr: self.expr(expr)?,
                negated: *negated,
            },
            Condition::Compare { lhs, op, rhs } => {
                let mut lhs = self.expr(lhs)?;
                let rhs = match op {
                    CompareOp::In | CompareOp::NotIn => {
                        let items = match rhs {
                            Expr::Function(f)
                                if matches!(f.name.as_str(), "tuple" | "array")
                                    && f.params.is_none() =>
                            {
                                f.args.iter().map(|e| self.expr(e)).collect::<Result<_>>()?
                            }
                            other => vec![self.expr(other)?],
                        };
                        let mut items: Vec<TExpr> = items;
                        for item in &mut items {
                            coerce_literal(&lhs, item)?;
                        }
                        if items.is_empty() {
                            return Err(ValidationError::Invalid(
                                "IN needs at least one value".into(),
                            ));
                        }
                        Rhs::List(items)
                    }
                    _ => {
                        let mut rhs = self.expr(rhs)?;
                        coerce_pair(&mut lhs, &mut rhs)?;
                        Rhs::Expr(rhs)
                    }
                };
                if matches!(op, CompareOp::Like | CompareOp::NotLike)
                    && !matches!(lhs.ty().base(), Type::String)
                {
                    return Err(ValidationError::Invalid(
                        "LIKE needs a string on its left".into(),
                    ));
                }
                TCond::Compare { lhs, op: *op, rhs }
            }
        })
    }
}

fn strip_alias(expr: &Expr) -> Expr {
    match expr {
        Expr::Function(f) => Expr::Function(Function {
            alias: None,
            ..f.clone()
        }),
        other => other.clone(),
    }
}

pub(crate) fn arith(op: ArithOp, lhs: TExpr, rhs: TExpr) -> Result<TExpr> {
    for side in [&lhs, &rhs] {
        let ty = side.ty();
        if !ty.is_number() && !matches!(side, TExpr::Literal(Value::Null)) {
            return Err(ValidationError::Invalid(format!(
                "arithmetic `{}` needs numbers, not {ty}",
                op.as_str()
            )));
        }
    }
    let (a, b) = (lhs.ty(), rhs.ty());
    let nullable = a.is_nullable() || b.is_nullable();
    let ty = match (op, a.base(), b.base()) {
        (ArithOp::Div, _, _) | (_, Type::Float64, _) | (_, _, Type::Float64) => Type::Float64,
        (ArithOp::Sub, _, _) | (_, Type::Int64, _) | (_, _, Type::Int64) => Type::Int64,
        _ => Type::UInt(64),
    };
    Ok(TExpr::Arith {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        ty: if nullable { ty.nullable() } else { ty },
    })
}

/// A string literal compared with a time becomes a time.
fn coerce_literal(other: &TExpr, literal: &mut TExpr) -> Result<()> {
    if other.ty().base() == &Type::DateTime {
        if let TExpr::Literal(Value::String(text)) = literal {
            *literal = TExpr::Literal(Value::DateTime(parse_time(text)?));
        }
    }
    Ok(())
}

fn coerce_pair(a: &mut TExpr, b: &mut TExpr) -> Result<()> {
    coerce_literal(a, b)?;
    coerce_literal(b, a)
}

/// Reads a time as Sentry writes it: RFC 3339 with or without an offset
/// (then UTC), with `T` or a space, or a date alone.
pub fn parse_time(text: &str) -> Result<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    Err(ValidationError::Invalid(format!("`{text}` is not a time")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;
    use crate::snql::parse;

    const RANGE: &str = "timestamp >= toDateTime('2024-05-01T00:00:00') \
                         AND timestamp < toDateTime('2024-05-02T00:00:00')";

    fn plan(text: &str) -> Result<Plan> {
        validate(&parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    fn events(rest: &str) -> String {
        format!("MATCH (events) {rest}")
    }

    #[test]
    fn required_conditions_are_enforced() {
        let e = plan(&events(&format!("SELECT count() WHERE {RANGE}"))).unwrap_err();
        assert!(
            matches!(e, ValidationError::MissingCondition(ref m) if m.contains("project_id")),
            "{e}"
        );
        let e = plan(&events(
            "SELECT count() WHERE project_id = 1 AND timestamp >= '2024-05-01'",
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("< condition on column timestamp"),
            "{e}"
        );
        let e = plan(&events(
            "SELECT count() WHERE project_id = 1 AND timestamp < '2024-05-01'",
        ))
        .unwrap_err();
        assert!(e.to_string().contains(">= condition"), "{e}");
        // Inside an OR it does not count.
        let e = plan(&events(&format!(
            "SELECT count() WHERE (project_id = 1 OR project_id = 2) AND {RANGE}"
        )))
        .unwrap_err();
        assert!(matches!(e, ValidationError::MissingCondition(_)), "{e}");
        // Outcomes are per organization.
        plan(&format!(
            "MATCH (outcomes) SELECT sum(quantity) WHERE org_id = 1 AND {RANGE}"
        ))
        .unwrap();
        let e = plan(&format!(
            "MATCH (outcomes) SELECT sum(quantity) WHERE project_id = 1 AND {RANGE}"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("org_id"), "{e}");
    }

    #[test]
    fn names_and_functions_are_checked() {
        let w = format!("WHERE project_id = 1 AND {RANGE}");
        let cases = [
            (
                "MATCH (nope) SELECT count()".to_owned(),
                "unknown entity `nope`",
            ),
            (
                events(&format!("SELECT nope {w}")),
                "unknown column `nope` in entity `events`",
            ),
            (
                events(&format!("SELECT frobnicate(title) {w}")),
                "unknown function `frobnicate`",
            ),
            (
                events(&format!("SELECT uniq() {w}")),
                "invalid call of `uniq`: takes 1 argument",
            ),
            (
                events(&format!("SELECT user[x] {w}")),
                "unknown column `user[x]`",
            ),
            (
                events(&format!("SELECT count() {w} AND count() > 1")),
                "WHERE cannot use aggregate",
            ),
            (
                events(&format!("SELECT title, count() {w}")),
                "neither in BY nor inside an aggregate",
            ),
            (
                events(&format!("SELECT count() {w} LIMIT 20000")),
                "above the maximum",
            ),
            (events(&format!("SELECT title + 1 {w}")), "needs numbers"),
            (
                events(&format!("SELECT quantile(2)(group_id) {w}")),
                "between 0 and 1",
            ),
            (
                events(&format!(
                    "SELECT count() {w} AND title LIKE 1 AND group_id LIKE 'x'"
                )),
                "LIKE needs a string",
            ),
            (
                events(&format!("SELECT count() {w} AND timestamp > 'yesterday'")),
                "is not a time",
            ),
            (
                format!("MATCH (e: events) -[grouped]-> (g: groupedmessage) SELECT count() {w}"),
                "joins are not supported",
            ),
            (
                events(&format!(
                    "SELECT arrayExists((`x`) -> equals(`x`, 1), tags.key) {w}"
                )),
                "lambdas",
            ),
        ];
        for (text, expected) in cases {
            match plan(&text) {
                Ok(p) => panic!("{text} was accepted: {p:?}"),
                Err(e) => assert!(e.to_string().contains(expected), "{text}: {e}"),
            }
        }
    }

    #[test]
    fn aliases_tags_time_and_defaults() {
        let p = plan(&events(&format!(
            "SELECT count() AS c, max(timestamp) AS timestamp BY time, tags[browser.name] AS browser \
             WHERE project_id IN tuple(1, 2) AND {RANGE} AND browser != '' \
             HAVING c > 1 ORDER BY c DESC GRANULARITY 60"
        )))
        .unwrap();
        let names: Vec<&str> = p.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["time", "browser", "c", "timestamp"]);
        assert_eq!(
            p.outputs[0].expr,
            TExpr::TimeBucket {
                column: "timestamp",
                seconds: 60
            }
        );
        // `max(timestamp) AS timestamp` reads the column, and the time
        // range still reads the column too.
        assert!(
            matches!(&p.outputs[3].expr, TExpr::Call { name: "max", args, .. }
            if matches!(args[0], TExpr::Column { name: "timestamp", .. }))
        );
        // The alias in HAVING and ORDER BY is the aggregate.
        assert!(matches!(
            &p.order_by[0].0,
            TExpr::Call { name: "count", .. }
        ));
        assert_eq!((p.limit, p.offset, p.aggregate), (DEFAULT_LIMIT, 0, true));
        // Strings compared with times are times.
        let TCond::And(items) = &p.where_ else {
            panic!()
        };
        assert!(matches!(
            &items[1],
            TCond::Compare {
                rhs: Rhs::Expr(TExpr::Literal(Value::DateTime(1_714_521_600))),
                ..
            }
        ));

        let sql = render::clickhouse(&p);
        assert!(sql.starts_with(
            "SELECT toDateTime(intDiv(toUInt32(`timestamp`), 60) * 60) AS `_0`, \
             arrayElement(`tags.value`, indexOf(`tags.key`, 'browser.name')) AS `_1`, count() AS `_2`"
        ), "{sql}");
        assert!(
            sql.contains("FROM `errors_local` WHERE `deleted` = 0 AND (`project_id` IN (1, 2))"),
            "{sql}"
        );
        assert!(
            sql.contains("`timestamp` >= toDateTime(1714521600)"),
            "{sql}"
        );
        assert!(
            sql.ends_with("HAVING (count() > 1) ORDER BY count() DESC LIMIT 0, 1000"),
            "{sql}"
        );
        let sql = render::sqlite(&p);
        assert!(
            sql.contains("snuba_map_get(\"tags.key\", \"tags.value\", 'browser.name')"),
            "{sql}"
        );
        assert!(
            sql.contains("((\"timestamp\" / 60) * 60) AS \"_0\""),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY count(*) DESC NULLS LAST LIMIT 1000 OFFSET 0"),
            "{sql}"
        );
    }

    #[test]
    fn strings_are_quoted_for_each_dialect() {
        let p = plan(&events(&format!(
            "SELECT count() WHERE project_id = 1 AND {RANGE} AND title = 'it\\'s a \\\\ path'"
        )))
        .unwrap();
        assert!(render::clickhouse(&p).contains("(`title` = 'it\\'s a \\\\ path')"));
        assert!(render::sqlite(&p).contains("(\"title\" = 'it''s a \\ path')"));
    }

    #[test]
    fn times_read_in_every_form_sentry_sends() {
        for text in [
            "2024-05-01T00:00:00",
            "2024-05-01T00:00:00Z",
            "2024-05-01T02:00:00+02:00",
            "2024-05-01 00:00:00",
            "2024-05-01T00:00:00.000000",
            "2024-05-01",
        ] {
            assert_eq!(parse_time(text), Ok(1_714_521_600), "{text}");
        }
    }
}
