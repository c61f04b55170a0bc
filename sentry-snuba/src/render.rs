//! A [`Plan`] as SQL: one walk, two dialects.
//!
//! Result columns are named `_0`, `_1`, ... in the SQL, in the order of
//! [`Plan::outputs`], so that no output name can shadow a column (ClickHouse
//! lets aliases replace columns anywhere in a query); the executor gives
//! them their names back.
//!
//! The SQLite dialect expects the functions that [`crate::sqlite`] registers
//! on its connections (`snuba_quantile`, `snuba_map_get`, ...), and
//! `PRAGMA case_sensitive_like = ON`, so that `LIKE` behaves as in
//! ClickHouse.

use std::fmt::Write;

use crate::plan::{Plan, Rhs, TCond, TExpr, Value};
use crate::snql::{ArithOp, CompareOp};

/// The SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// ClickHouse, from 18.16 on.
    ClickHouse,
    /// SQLite, 3.35 or later, with this crate's functions.
    Sqlite,
}

/// The name of result column `i` in the SQL.
pub fn output_column(i: usize) -> String {
    format!("_{i}")
}

/// The plan as ClickHouse SQL.
pub fn clickhouse(plan: &Plan) -> String {
    Renderer {
        dialect: Dialect::ClickHouse,
    }
    .query(plan)
}

/// The plan as SQLite SQL.
pub fn sqlite(plan: &Plan) -> String {
    Renderer {
        dialect: Dialect::Sqlite,
    }
    .query(plan)
}

/// Renders a plan in `dialect`.
pub fn render(plan: &Plan, dialect: Dialect) -> String {
    Renderer { dialect }.query(plan)
}

/// A string literal in `dialect`.
pub fn quote_string(dialect: Dialect, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match (dialect, c) {
            (Dialect::ClickHouse, '\\') => out.push_str("\\\\"),
            (Dialect::ClickHouse, '\'') => out.push_str("\\'"),
            (Dialect::Sqlite, '\'') => out.push_str("''"),
            (_, c) => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// An identifier in `dialect`.
pub fn quote_ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::ClickHouse => format!("`{}`", name.replace('`', "\\`")),
        Dialect::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

struct Renderer {
    dialect: Dialect,
}

impl Renderer {
    fn ident(&self, name: &str) -> String {
        quote_ident(self.dialect, name)
    }

    fn query(&self, plan: &Plan) -> String {
        let ch = self.dialect == Dialect::ClickHouse;
        let mut select: Vec<String> = plan
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                format!(
                    "{} AS {}",
                    self.expr(&o.expr),
                    self.ident(&output_column(i))
                )
            })
            .collect();
        let mut conditions = Vec::new();
        if let Some(deleted) = plan.entity.deleted_column {
            conditions.push(format!("{} = 0", self.ident(deleted)));
        }
        if let Some(rate) = plan.sample.filter(|_| !ch) {
            // A fixed pseudo-random share `rate` of the rows, by row id.
            conditions.push(format!(
                "((rowid * 2654435761) % 4294967296) < {}",
                (rate * 4_294_967_296.0) as u64
            ));
        }
        match &plan.where_ {
            TCond::And(items) => conditions.extend(items.iter().map(|c| self.cond(c))),
            other => conditions.push(self.cond(other)),
        }
        let mut from = self.ident(plan.entity.table);
        if let (Some(rate), true) = (plan.sample, ch) {
            let _ = write!(from, " SAMPLE {}", float(rate));
        }
        let mut body = format!(" FROM {from} WHERE {}", conditions.join(" AND "));
        if !plan.group_by.is_empty() {
            let keys: Vec<String> = plan.group_by.iter().map(|e| self.expr(e)).collect();
            let _ = write!(body, " GROUP BY {}", keys.join(", "));
        }
        if let Some(having) = &plan.having {
            let _ = write!(body, " HAVING {}", self.cond(having));
        }
        let order: Vec<String> = plan
            .order_by
            .iter()
            .map(|(e, desc)| self.order_term(&self.expr(e), *desc))
            .collect();
        let limit = format!(" LIMIT {} OFFSET {}", plan.limit, plan.offset);
        let limit_ch = format!(" LIMIT {}, {}", plan.offset, plan.limit);

        match (&plan.limit_by, self.dialect) {
            (None, _) | (Some(_), Dialect::ClickHouse) => {
                let mut sql = format!("SELECT {}{body}", select.join(", "));
                if !order.is_empty() {
                    let _ = write!(sql, " ORDER BY {}", order.join(", "));
                }
                if let Some((n, columns)) = &plan.limit_by {
                    let columns: Vec<String> = columns.iter().map(|e| self.expr(e)).collect();
                    let _ = write!(sql, " LIMIT {n} BY {}", columns.join(", "));
                }
                sql.push_str(if ch { &limit_ch } else { &limit });
                sql
            }
            (Some((n, columns)), Dialect::Sqlite) => {
                // SQLite has no LIMIT BY: number the rows of each value with
                // a window and keep the first n.
                let partition: Vec<String> = columns.iter().map(|e| self.expr(e)).collect();
                let window_order = if order.is_empty() {
                    String::new()
                } else {
                    format!(" ORDER BY {}", order.join(", "))
                };
                let outer: Vec<String> = (0..plan.outputs.len())
                    .map(|i| self.ident(&output_column(i)))
                    .collect();
                let mut sort_keys = Vec::new();
                for (i, (e, desc)) in plan.order_by.iter().enumerate() {
                    let name = self.ident(&format!("_s{i}"));
                    select.push(format!("{} AS {name}", self.expr(e)));
                    sort_keys.push(self.order_term(&name, *desc));
                }
                select.push(format!(
                    "row_number() OVER (PARTITION BY {}{window_order}) AS \"_rn\"",
                    partition.join(", ")
                ));
                let mut sql = format!(
                    "SELECT {} FROM (SELECT {}{body}) WHERE \"_rn\" <= {n}",
                    outer.join(", "),
                    select.join(", ")
                );
                if !sort_keys.is_empty() {
                    let _ = write!(sql, " ORDER BY {}", sort_keys.join(", "));
                }
                sql.push_str(&limit);
                sql
            }
        }
    }

    /// ClickHouse sorts NULL last in both directions; SQLite is told to.
    fn order_term(&self, expr: &str, desc: bool) -> String {
        let dir = if desc { "DESC" } else { "ASC" };
        match self.dialect {
            Dialect::ClickHouse => format!("{expr} {dir}"),
            Dialect::Sqlite => format!("{expr} {dir} NULLS LAST"),
        }
    }

    fn literal(&self, value: &Value) -> String {
        match value {
            Value::Null => "NULL".to_owned(),
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => float(*x),
            Value::String(s) => quote_string(self.dialect, s),
            Value::DateTime(t) => match self.dialect {
                Dialect::ClickHouse => format!("toDateTime({t})"),
                Dialect::Sqlite => t.to_string(),
            },
        }
    }

    fn list(&self, items: &[TExpr]) -> String {
        let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
        items.join(", ")
    }

    fn cond(&self, c: &TCond) -> String {
        match c {
            TCond::And(items) if items.is_empty() => "1".to_owned(),
            TCond::And(items) | TCond::Or(items) => {
                let joiner = if matches!(c, TCond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = items.iter().map(|c| self.cond(c)).collect();
                format!("({})", parts.join(joiner))
            }
            TCond::IsNull { expr, negated } => {
                let not = if *negated { "NOT " } else { "" };
                format!("({} IS {not}NULL)", self.expr(expr))
            }
            TCond::Compare { lhs, op, rhs } => {
                let lhs = self.expr(lhs);
                let rhs = match rhs {
                    Rhs::Expr(e) => self.expr(e),
                    Rhs::List(items) => format!("({})", self.list(items)),
                };
                self.compare(&lhs, *op, &rhs)
            }
        }
    }

    fn compare(&self, lhs: &str, op: CompareOp, rhs: &str) -> String {
        let escape = match (self.dialect, op) {
            (Dialect::Sqlite, CompareOp::Like | CompareOp::NotLike) => " ESCAPE '\\'",
            _ => "",
        };
        format!("({lhs} {} {rhs}{escape})", op.as_str())
    }

    fn expr(&self, e: &TExpr) -> String {
        let sqlite = self.dialect == Dialect::Sqlite;
        match e {
            TExpr::Column { name, .. } => self.ident(name),
            TExpr::MapValue { map, key } => {
                let keys = self.ident(&format!("{map}.key"));
                let values = self.ident(&format!("{map}.value"));
                let key = quote_string(self.dialect, key);
                if sqlite {
                    format!("snuba_map_get({keys}, {values}, {key})")
                } else {
                    format!("arrayElement({values}, indexOf({keys}, {key}))")
                }
            }
            TExpr::TimeBucket { column, seconds } => {
                let column = self.ident(column);
                if sqlite {
                    format!("(({column} / {seconds}) * {seconds})")
                } else {
                    format!("toDateTime(intDiv(toUInt32({column}), {seconds}) * {seconds})")
                }
            }
            TExpr::Literal(value) => self.literal(value),
            TExpr::Arith { op, lhs, rhs, .. } => {
                let (l, r) = (self.expr(lhs), self.expr(rhs));
                match (op, sqlite) {
                    (ArithOp::Div, true) => format!("(CAST({l} AS REAL) / {r})"),
                    _ => format!("({l} {} {r})", op.as_str()),
                }
            }
            TExpr::Call {
                name, params, args, ..
            } => self.call(name, params, args),
        }
    }

    fn call(&self, name: &str, params: &[TExpr], args: &[TExpr]) -> String {
        let sqlite = self.dialect == Dialect::Sqlite;
        let a: Vec<String> = args.iter().map(|e| self.expr(e)).collect();
        let arg = |i: usize| a.get(i).cloned().unwrap_or_else(|| "NULL".to_owned());
        let is_array = |i: usize| args.get(i).is_some_and(|e| e.ty().element().is_some());
        let infix = |op: &str| format!("({})", a.join(&format!(" {op} ")));
        match name {
            "equals" => self.compare(&arg(0), CompareOp::Eq, &arg(1)),
            "notEquals" => self.compare(&arg(0), CompareOp::NotEq, &arg(1)),
            "less" => self.compare(&arg(0), CompareOp::Lt, &arg(1)),
            "greater" => self.compare(&arg(0), CompareOp::Gt, &arg(1)),
            "lessOrEquals" => self.compare(&arg(0), CompareOp::LtEq, &arg(1)),
            "greaterOrEquals" => self.compare(&arg(0), CompareOp::GtEq, &arg(1)),
            "like" => self.compare(&arg(0), CompareOp::Like, &arg(1)),
            "notLike" => self.compare(&arg(0), CompareOp::NotLike, &arg(1)),
            "in" | "notIn" => {
                let list = match args.get(1) {
                    Some(TExpr::Call {
                        name: "tuple" | "array",
                        args: items,
                        ..
                    }) => format!("({})", self.list(items)),
                    _ => format!("({})", arg(1)),
                };
                let op = if name == "in" {
                    CompareOp::In
                } else {
                    CompareOp::NotIn
                };
                self.compare(&arg(0), op, &list)
            }
            "and" => infix("AND"),
            "or" => infix("OR"),
            "not" => format!("(NOT {})", arg(0)),
            "isNull" => format!("({} IS NULL)", arg(0)),
            "isNotNull" => format!("({} IS NOT NULL)", arg(0)),
            "quantile" => {
                let level = params
                    .first()
                    .map(|p| self.expr(p))
                    .unwrap_or_else(|| "0.5".to_owned());
                if sqlite {
                    format!("snuba_quantile({level}, {})", arg(0))
                } else {
                    // As floats: ClickHouse 18.16 cuts the interpolated
                    // quantile of an integer column back to an integer;
                    // later versions do not.
                    format!("quantile({level})(toFloat64({}))", arg(0))
                }
            }
            _ if !sqlite => format!("{name}({})", a.join(", ")),
            // SQLite from here on.
            "count" if a.is_empty() => "count(*)".to_owned(),
            "uniq" => format!("count(DISTINCT {})", arg(0)),
            "countIf" => format!("count(CASE WHEN {} THEN 1 END)", arg(0)),
            "uniqIf" => format!("count(DISTINCT CASE WHEN {} THEN {} END)", arg(1), arg(0)),
            "sum" => format!("coalesce(sum({}), 0)", arg(0)),
            "sumIf" => format!("coalesce(sum(CASE WHEN {} THEN {} END), 0)", arg(1), arg(0)),
            "avgIf" | "minIf" | "maxIf" => {
                format!("{}(CASE WHEN {} THEN {} END)", &name[..3], arg(1), arg(0))
            }
            "any" => format!("snuba_any({})", arg(0)),
            "anyLast" => format!("snuba_any_last({})", arg(0)),
            "argMax" => format!("snuba_arg_max({}, {})", arg(0), arg(1)),
            "argMin" => format!("snuba_arg_min({}, {})", arg(0), arg(1)),
            "groupArray" => format!("snuba_group_array({})", arg(0)),
            "groupUniqArray" => format!("snuba_group_uniq_array({})", arg(0)),
            "if" => format!("(CASE WHEN {} THEN {} ELSE {} END)", arg(0), arg(1), arg(2)),
            "toStartOfMinute" => format!("(({} / 60) * 60)", arg(0)),
            "toStartOfHour" => format!("(({} / 3600) * 3600)", arg(0)),
            "toStartOfDay" => format!("(({} / 86400) * 86400)", arg(0)),
            "toUnixTimestamp" => format!("({})", arg(0)),
            "length" if is_array(0) => format!("json_array_length({})", arg(0)),
            "length" => format!("length(CAST({} AS BLOB))", arg(0)),
            "empty" if is_array(0) => format!("(json_array_length({}) = 0)", arg(0)),
            "notEmpty" if is_array(0) => format!("(json_array_length({}) > 0)", arg(0)),
            "empty" => format!("({} = '')", arg(0)),
            "notEmpty" => format!("({} != '')", arg(0)),
            "concat" => infix("||"),
            "has" => format!(
                "EXISTS (SELECT 1 FROM json_each({}) WHERE value = {})",
                arg(0),
                arg(1)
            ),
            "greatest" => format!("max({}, {})", arg(0), arg(1)),
            "least" => format!("min({}, {})", arg(0), arg(1)),
            "intDiv" => format!(
                "(CAST({} AS INTEGER) / CAST({} AS INTEGER))",
                arg(0),
                arg(1)
            ),
            "tuple" | "array" => format!("json_array({})", a.join(", ")),
            _ => format!("{name}({})", a.join(", ")),
        }
    }
}

/// A float that reads back as a float in both dialects.
fn float(x: f64) -> String {
    let text = x.to_string();
    if text.contains(['.', 'e', 'E']) || !x.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}
