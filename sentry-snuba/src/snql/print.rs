//! SnQL text from a tree: `Display` for the AST types.
//!
//! The output is canonical: one line, upper-case keywords, every `ORDER BY`
//! direction spelled out, parentheses only where the tree needs them. It
//! parses back to the tree it came from.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{
    ArithOp, Condition, EntityRef, Expr, Function, Literal, OrderBy, Query, Relationship, Selected,
    Source,
};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "MATCH {}", self.from)?;
        if !self.select.is_empty() {
            f.write_str(" SELECT ")?;
            list(f, &self.select)?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" BY ")?;
            list(f, &self.group_by)?;
        }
        if !self.array_join.is_empty() {
            f.write_str(" ARRAY JOIN ")?;
            list(f, &self.array_join)?;
        }
        if let Some(condition) = &self.where_ {
            write!(f, " WHERE {condition}")?;
        }
        if let Some(condition) = &self.having {
            write!(f, " HAVING {condition}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            list(f, &self.order_by)?;
        }
        if let Some(limit_by) = &self.limit_by {
            write!(f, " LIMIT {} BY ", limit_by.limit)?;
            list(f, &limit_by.columns)?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        if let Some(granularity) = self.granularity {
            write!(f, " GRANULARITY {granularity}")?;
        }
        if let Some(totals) = self.totals {
            write!(f, " TOTALS {totals}")?;
        }
        Ok(())
    }
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Entity(entity) => entity.fmt(f),
            Source::Join(relationships) => list(f, relationships),
            Source::Subquery(query) => write!(f, "{{ {query} }}"),
        }
    }
}

impl Display for EntityRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('(')?;
        if let Some(alias) = &self.alias {
            write!(f, "{alias}: ")?;
        }
        f.write_str(&self.name)?;
        if let Some(sample) = self.sample {
            f.write_str(" SAMPLE ")?;
            number(f, sample, false)?;
        }
        f.write_char(')')
    }
}

impl Display for Relationship {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} -[{}]-> {}", self.lhs, self.name, self.rhs)
    }
}

impl Display for Selected {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)?;
        if let Some(alias) = &self.alias {
            f.write_str(" AS ")?;
            write_alias(f, alias)?;
        }
        Ok(())
    }
}

impl Display for OrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let direction = if self.descending { "DESC" } else { "ASC" };
        write!(f, "{} {direction}", self.expr)
    }
}

/// True when `alias` can be written without backticks.
pub(crate) fn is_plain_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '@'))
}

fn write_alias(f: &mut Formatter<'_>, alias: &str) -> fmt::Result {
    if is_plain_alias(alias) {
        f.write_str(alias)
    } else {
        write!(f, "`{alias}`")
    }
}

/// Writes a number so that it reads back as the same `f64`; with `float`,
/// an integral value keeps a `.0` so that it reads back as a float.
fn number(f: &mut Formatter<'_>, value: f64, float: bool) -> fmt::Result {
    let text = value.to_string();
    f.write_str(&text)?;
    if float && !text.contains(['.', 'e', 'E']) {
        f.write_str(".0")?;
    }
    Ok(())
}

/// Writes `value` as a quoted SnQL string.
pub(crate) fn write_quoted(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('\'')?;
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    out.write_char('\'')
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => number(f, *x, true),
            Literal::String(s) => write_quoted(f, s),
        }
    }
}

/// Binding strength: `+ -` are 1, `* /` are 2, anything else 3.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Arithmetic {
            op: ArithOp::Add | ArithOp::Sub,
            ..
        } => 1,
        Expr::Arithmetic { .. } => 2,
        _ => 3,
    }
}

fn operand(f: &mut Formatter<'_>, expr: &Expr, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({expr})")
    } else {
        expr.fmt(f)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(name) => f.write_str(name),
            Expr::Subscript { column, key } => write!(f, "{column}[{key}]"),
            Expr::Literal(literal) => literal.fmt(f),
            Expr::Function(function) => function.fmt(f),
            Expr::Arithmetic { op, lhs, rhs } => {
                let level = precedence(self);
                // Operators associate to the left: a right operand of the
                // same strength needs parentheses, a left one does not.
                operand(f, lhs, precedence(lhs) < level)?;
                write!(f, " {} ", op.as_str())?;
                operand(f, rhs, precedence(rhs) <= level)
            }
            Expr::Lambda { params, body } => {
                f.write_char('(')?;
                for (i, param) in params.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{param}`")?;
                }
                write!(f, ") -> {body}")
            }
            Expr::Identifier(name) => write!(f, "`{name}`"),
        }
    }
}

impl Display for Function {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(params) = &self.params {
            f.write_char('(')?;
            list(f, params)?;
            f.write_char(')')?;
        }
        f.write_char('(')?;
        list(f, &self.args)?;
        f.write_char(')')?;
        if let Some(alias) = &self.alias {
            f.write_str(" AS ")?;
            write_alias(f, alias)?;
        }
        Ok(())
    }
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::And(items) | Condition::Or(items) => {
                let joiner = if matches!(self, Condition::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(joiner)?;
                    }
                    if matches!(item, Condition::And(_) | Condition::Or(_)) {
                        write!(f, "({item})")?;
                    } else {
                        item.fmt(f)?;
                    }
                }
                Ok(())
            }
            Condition::Compare { lhs, op, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            Condition::IsNull { expr, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{expr} IS {not}NULL")
            }
        }
    }
}
