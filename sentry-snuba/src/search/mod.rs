//! Sentry's issue search: the text people type in the search bar of the
//! issue list, parsed into a tree and compiled into SnQL conditions.
//!
//! ```text
//! is:unresolved level:error browser:Chrome !user.email:*@example.com
//!   times_seen:>1k firstSeen:-24h "connection reset"
//! ```
//!
//! Terms are separated by white space and all must hold; `OR` between terms
//! and parentheses group them (`AND` binds tighter than `OR`, and may be
//! written out). A term is one of:
//!
//! - a filter `key:value`, negated with `!key:value`. The value may be
//!   quoted (`key:"a b"`, with `\"` and `\\` inside), a list
//!   (`key:[a, b, "c d"]`, any of them), or carry an operator for numbers
//!   and dates (`key:>10`, `>=`, `<`, `<=`; `key:=x` is `key:x`). In a text
//!   value `*` matches any run of characters and `\*` is a literal star;
//! - `has:key` / `!has:key`: the field or tag is set / not set;
//! - free text, a bare word or a quoted string: the issue's title or
//!   message contains it, ignoring ASCII case.
//!
//! Keys are the event fields of [`FIELDS`] (`level`, `user.email`,
//! `error.type`, ...), tags (`tags[browser]`, or any key that is not a known
//! field: `browser:Chrome`), aggregates over an issue's events
//! (`times_seen`, `users_seen`, `first_seen`, `last_seen`) and issue
//! attributes (`is:`, `assigned:`, `bookmarks:`). Aggregates and issue
//! attributes describe the issue rather than one event: they may only be
//! joined to the rest by AND, never under an `OR`.
//!
//! [`parse()`] gives a [`SearchQuery`] and checks everything that depends
//! only on the text (keys, values, operators, where aggregates appear), so
//! that [`compile()`] cannot fail on a query that parsed. Printing a query
//! with [`std::fmt::Display`] gives a canonical text that parses back to
//! the same tree. [`compile()`] turns the tree into SnQL conditions for the
//! `events` entity: a `WHERE` part, a `HAVING` part over the issue's events
//! grouped by `group_id`, and the issue filters left for the caller.
//!
//! ```
//! use sentry_snuba::search;
//!
//! let query = search::parse("is:unresolved level:error !browser:Firefox times_seen:>10").unwrap();
//! assert_eq!(query.to_string(), "is:unresolved level:error !browser:Firefox times_seen:>10");
//!
//! let compiled = search::compile(&query, 1_714_521_600).unwrap();
//! assert_eq!(
//!     compiled.where_.unwrap().to_string(),
//!     "level = 'error' AND tags[browser] != 'Firefox'",
//! );
//! assert_eq!(compiled.having.unwrap().to_string(), "count() > 10");
//! assert_eq!(compiled.issue[0].key, "is");
//! assert_eq!(compiled.issue[0].values, ["unresolved"]);
//! ```

mod compile;
mod parse;
mod print;

use chrono::{DateTime, NaiveDate, Utc};

pub use compile::{
    CompileError, Compiled, FIELDS, Field, FieldKind, IS_VALUES, IssueFilter, compile,
};
pub use parse::{MAX_DEPTH, MAX_LIST_ITEMS, MAX_QUERY_LEN, MAX_TERMS, SearchError, parse};

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// The condition; `None` for an empty search, which matches everything.
    pub root: Option<Term>,
}

/// A term of a search, or a group of terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// Every term holds (two or more): terms side by side, or `AND`.
    And(Vec<Term>),
    /// One of the terms holds (two or more): `OR`.
    Or(Vec<Term>),
    /// `key:value` or `!key:value`.
    Filter(Filter),
    /// `has:key` or, when `negated`, `!has:key`.
    Has {
        /// The field or tag.
        key: Key,
        /// `!has:`.
        negated: bool,
    },
    /// Free text: the issue's title or message contains it. `*` matches
    /// any run of characters, `\*` is a literal star.
    Text(String),
}

/// `key:value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// What is filtered.
    pub key: Key,
    /// `!key:value`: the filter must not hold.
    pub negated: bool,
    /// The comparison; [`Op::Eq`] when none is written.
    pub op: Op,
    /// The value, typed by the key's [`FieldKind`].
    pub value: Value,
}

/// The key of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A known field, by its canonical name in [`FIELDS`] (`user.email`,
    /// `times_seen`, `is`). The parser writes canonical names; compiling
    /// also accepts aliases.
    Field(String),
    /// A tag, `tags[key]`, or a key that is no known field.
    Tag(String),
}

/// The comparison of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// No operator, or `=`: equal, or matching a pattern.
    Eq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl Op {
    /// The operator as written after `key:` (`""` for [`Op::Eq`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "",
            Op::Lt => "<",
            Op::LtEq => "<=",
            Op::Gt => ">",
            Op::GtEq => ">=",
        }
    }
}

/// The value of a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text; `*` matches any run of characters, `\*` is a literal star and
    /// `\\` a literal backslash (any other backslash is itself).
    Text(String),
    /// `[a, b]`: any of the texts.
    List(Vec<String>),
    /// A number; `k`, `m` and `b` suffixes multiply by a thousand, a
    /// million and a billion.
    Number(f64),
    /// `true` or `false` (also written `1`/`0`, `yes`/`no`).
    Bool(bool),
    /// A time.
    Date(DateValue),
}

/// A time in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateValue {
    /// `-24h`: within the last 24 hours, or, when `older`, `+24h`: longer
    /// ago than that.
    Relative {
        /// `+`: before the instant, rather than after it.
        older: bool,
        /// How many units.
        amount: u32,
        /// The unit.
        unit: TimeUnit,
    },
    /// `2024-05-01`: that UTC day; with an operator, `>` is after the day
    /// and `<=` up to its end.
    Day(NaiveDate),
    /// `2024-05-01T10:00:00`, UTC unless an offset is given, in whole
    /// seconds.
    Time(DateTime<Utc>),
}

/// The unit of a relative time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// `s`
    Seconds,
    /// `m`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`
    Weeks,
}

impl TimeUnit {
    /// The unit's letter.
    pub fn as_char(self) -> char {
        match self {
            TimeUnit::Seconds => 's',
            TimeUnit::Minutes => 'm',
            TimeUnit::Hours => 'h',
            TimeUnit::Days => 'd',
            TimeUnit::Weeks => 'w',
        }
    }

    /// The unit for a letter.
    pub fn from_char(c: char) -> Option<Self> {
        Some(match c {
            's' => TimeUnit::Seconds,
            'm' => TimeUnit::Minutes,
            'h' => TimeUnit::Hours,
            'd' => TimeUnit::Days,
            'w' => TimeUnit::Weeks,
            _ => return None,
        })
    }

    /// Seconds in one unit.
    pub fn seconds(self) -> i64 {
        match self {
            TimeUnit::Seconds => 1,
            TimeUnit::Minutes => 60,
            TimeUnit::Hours => 3600,
            TimeUnit::Days => 86_400,
            TimeUnit::Weeks => 604_800,
        }
    }
}

#[cfg(test)]
mod tests;
