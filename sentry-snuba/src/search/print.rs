//! Search text from a tree: `Display` for the search types.
//!
//! The output is canonical: terms separated by one space, canonical key
//! names, `tags[...]` only where a bare key would read as something else,
//! quotes only where a bare value would not read back, and parentheses only
//! where the tree needs them (`AND` binds tighter than `OR`, so an `AND`
//! under an `OR` has none). A tree the parser gave prints as text that
//! parses back to the same tree, with no deeper parentheses than the text
//! it came from.

use std::fmt::{self, Display, Formatter, Write};

use super::compile::field;
use super::parse::is_plain_key;
use super::{DateValue, Filter, Key, SearchQuery, Term, Value};

impl Display for SearchQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.root {
            Some(term) => term.fmt(f),
            None => Ok(()),
        }
    }
}

impl Display for Term {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Term::And(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    if matches!(item, Term::And(_) | Term::Or(_)) {
                        write!(f, "({item})")?;
                    } else {
                        item.fmt(f)?;
                    }
                }
                Ok(())
            }
            Term::Or(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    if matches!(item, Term::Or(_)) {
                        write!(f, "({item})")?;
                    } else {
                        item.fmt(f)?;
                    }
                }
                Ok(())
            }
            Term::Filter(filter) => filter.fmt(f),
            Term::Has { key, negated } => {
                if *negated {
                    f.write_char('!')?;
                }
                write!(f, "has:{key}")
            }
            Term::Text(text) if is_bare_text(text) => f.write_str(text),
            Term::Text(text) => write_quoted(f, text),
        }
    }
}

impl Display for Filter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_char('!')?;
        }
        write!(f, "{}:{}{}", self.key, self.op.as_str(), self.value)
    }
}

impl Display for Key {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Key::Field(name) => f.write_str(name),
            // A tag may go without `tags[...]` unless its name would read
            // as a known field, as `has:` or as no key at all.
            Key::Tag(name) if is_plain_key(name) && name != "has" && field(name).is_none() => {
                f.write_str(name)
            }
            Key::Tag(name) => write!(f, "tags[{name}]"),
        }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(text) if is_bare_value(text) => f.write_str(text),
            Value::Text(text) => write_quoted(f, text),
            Value::List(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if is_bare_item(item) {
                        f.write_str(item)?;
                    } else {
                        write_quoted(f, item)?;
                    }
                }
                f.write_char(']')
            }
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Date(date) => date.fmt(f),
        }
    }
}

impl Display for DateValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DateValue::Relative {
                older,
                amount,
                unit,
            } => {
                let sign = if *older { '+' } else { '-' };
                write!(f, "{sign}{amount}{}", unit.as_char())
            }
            DateValue::Day(day) => write!(f, "{}", day.format("%Y-%m-%d")),
            DateValue::Time(time) => write!(f, "{}", time.format("%Y-%m-%dT%H:%M:%SZ")),
        }
    }
}

/// Characters that end or change the meaning of a bare word.
fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '(' | ')')
}

/// True when free text can be written without quotes: it must not read as
/// a filter, a keyword or a group.
fn is_bare_text(text: &str) -> bool {
    !text.is_empty()
        && text != "AND"
        && text != "OR"
        && !text.chars().any(|c| is_special(c) || c == ':')
}

/// True when the value of a filter can be written without quotes: it must
/// not read as a list or start with an operator.
fn is_bare_value(text: &str) -> bool {
    !text.is_empty() && !text.starts_with(['[', '<', '>', '=']) && !text.chars().any(is_special)
}

/// True when a list item can be written without quotes.
fn is_bare_item(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | ',' | ']'))
}

/// `"text"`, with `\"` and `\\`.
fn write_quoted(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}
