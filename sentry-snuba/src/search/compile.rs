//! From a search to SnQL conditions on the `events` entity.
//!
//! The top-level conjunction of the search is split three ways: event
//! filters become the `WHERE` condition, filters on aggregates over an
//! issue's events (`times_seen`, `first_seen`, ...) the `HAVING` condition
//! of a query grouped by `group_id`, and issue attributes (`is:`,
//! `assigned:`, ...) are handed back to the caller, which holds the issues.
//!
//! How each kind of filter reads (`col` a column, `v` the value):
//!
//! | search | condition |
//! |---|---|
//! | `key:v` | `col = 'v'` (`tags[key] = 'v'` for a tag) |
//! | `!key:v` | `ifNull(col, '') != 'v'` (a missing value is not `v`) |
//! | `key:*v*` | `col LIKE '%v%'`, with `%`, `_` and `\` escaped by `\` |
//! | `key:[a, b]` | `col IN tuple('a', 'b')` |
//! | `key:""` | `ifNull(col, '') = ''`: the field is not set |
//! | `has:key` | `ifNull(col, '') != ''`; `has(tags.key, 'key') = 1` for a tag |
//! | `error.type:v` | `has(exception_stacks.type, 'v') = 1` |
//! | `error.handled:true` | `handled = 1` |
//! | free text | `lower(title) LIKE '%text%' OR lower(message) LIKE '%text%'` |
//! | `timestamp:-24h` | `timestamp >= '<now - 24h>'` |
//! | `times_seen:>10` | `count() > 10` (HAVING) |
//! | `first_seen:+7d` | `min(timestamp) <= '<now - 7d>'` (HAVING) |
//!
//! Times are written as `'YYYY-MM-DDTHH:MM:SS'` strings, which validation
//! reads as times when they are compared with a `DateTime`; they are kept
//! between 1970 and the end of 9999. Free text and its needle are
//! lower-cased in ASCII only, as `lower` does in both event stores.

use chrono::DateTime;

use crate::entity::EVENTS;
use crate::snql::{CompareOp, Condition, Expr, Literal};

use super::parse::{MAX_DEPTH, MAX_LIST_ITEMS, MAX_TERMS, restricted_message};
use super::{DateValue, Filter, Key, Op, SearchQuery, Term, Value};

/// Why a search tree could not be compiled. A tree that [`super::parse()`]
/// returned always compiles; this is for trees built otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// What is wrong, for people.
    pub message: String,
}

fn error<T>(message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError {
        message: message.into(),
    })
}

/// A search as SnQL conditions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    /// The condition on events, to join to the query's `WHERE` by AND.
    pub where_: Option<Condition>,
    /// The condition on the aggregates of an issue's events, for the
    /// `HAVING` of a query grouped by `group_id`. It calls the aggregates
    /// itself (`count()`, `min(timestamp)`), so it needs no alias.
    pub having: Option<Condition>,
    /// The filters on issues, for the caller, in the order written.
    pub issue: Vec<IssueFilter>,
}

/// A filter on an issue's own attributes: `is:unresolved`,
/// `!assigned:me`, `bookmarks:[me, #team]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFilter {
    /// The canonical key: `is`, `assigned`, `assigned_or_suggested` or
    /// `bookmarks`.
    pub key: String,
    /// `!key:value`.
    pub negated: bool,
    /// The value, or the values of a list, as written (`me`, `#team`,
    /// `user@example.com`); the filter holds when any matches. Values of
    /// `is` are among [`IS_VALUES`].
    pub values: Vec<String>,
}

/// The values `is:` accepts.
pub const IS_VALUES: &[&str] = &[
    "unresolved",
    "resolved",
    "ignored",
    "archived",
    "escalating",
    "ongoing",
    "regressed",
    "new",
    "assigned",
    "unassigned",
    "for_review",
    "linked",
    "unlinked",
];

/// How a known field is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// A string column of `events`: equality, patterns and lists.
    Text {
        /// The column.
        column: &'static str,
    },
    /// An id column (`event_id`, `trace_id`): text, with dashes dropped and
    /// ASCII lower-cased, as the ids are stored.
    Id {
        /// The column.
        column: &'static str,
    },
    /// An array column: matches when an element equals the value. No
    /// patterns.
    Array {
        /// The column.
        column: &'static str,
    },
    /// The `handled` flag, `true` or `false`; `inverted` for
    /// `error.unhandled`.
    Handled {
        /// True when `true` means unhandled.
        inverted: bool,
    },
    /// The event's time, `timestamp`.
    Time,
    /// A number over the issue's events (`HAVING`): `function(column)`.
    Number {
        /// The aggregate function.
        function: &'static str,
        /// Its argument, if any.
        column: Option<&'static str>,
    },
    /// A time over the issue's events (`HAVING`): `function(timestamp)`.
    AggregateTime {
        /// The aggregate function.
        function: &'static str,
    },
    /// An attribute of the issue, kept for the caller.
    Issue,
}

impl FieldKind {
    /// True when the field may be missing from an event, so that `has:`
    /// makes sense.
    pub fn can_be_empty(self) -> bool {
        matches!(
            self,
            FieldKind::Text { .. }
                | FieldKind::Id { .. }
                | FieldKind::Array { .. }
                | FieldKind::Handled { .. }
        )
    }

    /// True for the kinds that filter issues rather than events, allowed
    /// only in the top-level conjunction.
    pub fn is_issue_level(self) -> bool {
        matches!(
            self,
            FieldKind::Number { .. } | FieldKind::AggregateTime { .. } | FieldKind::Issue
        )
    }
}

/// A key the search knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The canonical name, as Sentry writes it.
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// How it is searched.
    pub kind: FieldKind,
}

const fn text(name: &'static str, aliases: &'static [&'static str], column: &'static str) -> Field {
    Field {
        name,
        aliases,
        kind: FieldKind::Text { column },
    }
}

const fn array(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        aliases: &[],
        kind: FieldKind::Array { column },
    }
}

/// Every known key. Any other key is a tag.
pub const FIELDS: &[Field] = &[
    text("level", &[], "level"),
    text("release", &[], "release"),
    text("dist", &[], "dist"),
    text("environment", &[], "environment"),
    text("platform", &[], "platform"),
    text("message", &[], "message"),
    text("title", &[], "title"),
    text("culprit", &[], "culprit"),
    text("location", &[], "location"),
    text("transaction", &[], "transaction"),
    text("logger", &[], "logger"),
    text("event.type", &["type"], "type"),
    text("user", &[], "user"),
    text("user.id", &[], "user_id"),
    text("user.email", &["email"], "user_email"),
    text("user.username", &["username", "user.name"], "user_name"),
    text("user.ip", &["user.ip_address", "ip"], "ip_address"),
    text("sdk.name", &[], "sdk_name"),
    text("sdk.version", &[], "sdk_version"),
    text("os.name", &[], "os_name"),
    text("browser.name", &[], "browser_name"),
    text("http.method", &[], "http_method"),
    text("http.url", &["url"], "http_url"),
    text("http.referer", &[], "http_referer"),
    Field {
        name: "trace",
        aliases: &["trace.id"],
        kind: FieldKind::Id { column: "trace_id" },
    },
    Field {
        name: "event.id",
        aliases: &["id"],
        kind: FieldKind::Id { column: "event_id" },
    },
    Field {
        name: "error.handled",
        aliases: &[],
        kind: FieldKind::Handled { inverted: false },
    },
    Field {
        name: "error.unhandled",
        aliases: &[],
        kind: FieldKind::Handled { inverted: true },
    },
    array("error.type", "exception_stacks.type"),
    array("error.value", "exception_stacks.value"),
    array("stack.filename", "exception_frames.filename"),
    array("stack.function", "exception_frames.function"),
    array("stack.module", "exception_frames.module"),
    Field {
        name: "timestamp",
        aliases: &["event.timestamp"],
        kind: FieldKind::Time,
    },
    Field {
        name: "times_seen",
        aliases: &["timesSeen"],
        kind: FieldKind::Number {
            function: "count",
            column: None,
        },
    },
    Field {
        name: "users_seen",
        aliases: &["user_count", "userCount"],
        kind: FieldKind::Number {
            function: "uniq",
            column: Some("user"),
        },
    },
    Field {
        name: "first_seen",
        aliases: &["firstSeen", "age"],
        kind: FieldKind::AggregateTime { function: "min" },
    },
    Field {
        name: "last_seen",
        aliases: &["lastSeen"],
        kind: FieldKind::AggregateTime { function: "max" },
    },
    Field {
        name: "is",
        aliases: &[],
        kind: FieldKind::Issue,
    },
    Field {
        name: "assigned",
        aliases: &[],
        kind: FieldKind::Issue,
    },
    Field {
        name: "assigned_or_suggested",
        aliases: &[],
        kind: FieldKind::Issue,
    },
    Field {
        name: "bookmarks",
        aliases: &[],
        kind: FieldKind::Issue,
    },
];

/// The known field called `name` (canonical or alias).
pub(super) fn field(name: &str) -> Option<&'static Field> {
    FIELDS
        .iter()
        .find(|f| f.name == name || f.aliases.contains(&name))
}

// --- patterns ----------------------------------------------------------------

/// A text value: an exact string, or a `LIKE` pattern when it has a
/// wildcard.
enum Pattern {
    Exact(String),
    Like(String),
}

/// The pieces of a value: `Some(c)` a literal character, `None` a wildcard.
/// `\*` and `\\` are a literal star and backslash; any other backslash is
/// itself.
fn pieces(text: &str) -> Vec<Option<char>> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '\\')) => {
                    out.push(Some(next));
                    chars.next();
                }
                _ => out.push(Some('\\')),
            },
            '*' => out.push(None),
            c => out.push(Some(c)),
        }
    }
    out
}

/// True when `text` has a wildcard.
pub(super) fn has_wildcard(text: &str) -> bool {
    pieces(text).contains(&None)
}

fn push_like_literal(out: &mut String, c: char) {
    if matches!(c, '%' | '_' | '\\') {
        out.push('\\');
    }
    out.push(c);
}

fn pattern(text: &str) -> Pattern {
    let pieces = pieces(text);
    if pieces.contains(&None) {
        let mut like = String::with_capacity(text.len() + 4);
        for piece in pieces {
            match piece {
                Some(c) => push_like_literal(&mut like, c),
                None => like.push('%'),
            }
        }
        Pattern::Like(like)
    } else {
        Pattern::Exact(pieces.into_iter().flatten().collect())
    }
}

/// The `LIKE` pattern of free text: anywhere, ASCII lower-cased.
fn contains(text: &str) -> String {
    let mut like = String::with_capacity(text.len() + 4);
    like.push('%');
    for piece in pieces(text) {
        match piece {
            Some(c) => push_like_literal(&mut like, c.to_ascii_lowercase()),
            None => like.push('%'),
        }
    }
    like.push('%');
    like
}

// --- building conditions -------------------------------------------------------

fn compare(lhs: Expr, op: CompareOp, rhs: Expr) -> Condition {
    Condition::compare(lhs, op, rhs)
}

fn any_of(mut items: Vec<Condition>) -> Condition {
    if items.len() == 1 {
        items.remove(0)
    } else {
        Condition::Or(items)
    }
}

fn all_of(mut items: Vec<Condition>) -> Condition {
    if items.len() == 1 {
        items.remove(0)
    } else {
        Condition::And(items)
    }
}

fn tuple(items: Vec<String>) -> Expr {
    Expr::call("tuple", items.into_iter().map(Expr::string).collect())
}

fn compare_op(op: Op) -> CompareOp {
    match op {
        Op::Eq => CompareOp::Eq,
        Op::Lt => CompareOp::Lt,
        Op::LtEq => CompareOp::LtEq,
        Op::Gt => CompareOp::Gt,
        Op::GtEq => CompareOp::GtEq,
    }
}

/// The comparison that holds exactly when `op` does not.
fn inverse(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Eq => CompareOp::NotEq,
        CompareOp::NotEq => CompareOp::Eq,
        CompareOp::Lt => CompareOp::GtEq,
        CompareOp::LtEq => CompareOp::Gt,
        CompareOp::Gt => CompareOp::LtEq,
        CompareOp::GtEq => CompareOp::Lt,
        CompareOp::In => CompareOp::NotIn,
        CompareOp::NotIn => CompareOp::In,
        CompareOp::Like => CompareOp::NotLike,
        CompareOp::NotLike => CompareOp::Like,
    }
}

/// `lhs op value` for each bound, or, negated, the negation of them all.
fn bounds(lhs: &Expr, bounds: Vec<(CompareOp, Expr)>, negated: bool) -> Condition {
    let items = bounds.into_iter().map(|(op, rhs)| {
        let op = if negated { inverse(op) } else { op };
        compare(lhs.clone(), op, rhs)
    });
    if negated {
        any_of(items.collect())
    } else {
        all_of(items.collect())
    }
}

/// The latest time written in conditions: 9999-12-31T23:59:59.
const MAX_TIME: i64 = 253_402_300_799;

/// A time as a string literal that validation reads as a time.
fn time_literal(secs: i64) -> Expr {
    let secs = secs.clamp(0, MAX_TIME);
    let text = DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00".to_owned());
    Expr::string(text)
}

fn number_literal(n: f64) -> Expr {
    // Integral values that fit stay integers; -0 is 0.
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Expr::int(n as i64)
    } else {
        Expr::Literal(Literal::Float(n))
    }
}

fn nullable(column: &str) -> bool {
    EVENTS.column(column).is_some_and(|c| c.ty.is_nullable())
}

/// The column, and the form of it that reads a missing value as `''`.
fn text_sides(column: &str) -> (Expr, Expr) {
    let plain = Expr::column(column);
    let safe = if nullable(column) {
        Expr::call("ifNull", vec![plain.clone(), Expr::string("")])
    } else {
        plain.clone()
    };
    (plain, safe)
}

fn tag_expr(name: &str) -> Expr {
    Expr::Subscript {
        column: "tags".to_owned(),
        key: name.to_owned(),
    }
}

// --- compiling -----------------------------------------------------------------

/// Compiles a search into conditions on the `events` entity; `now` (seconds
/// since the epoch) anchors relative times.
///
/// ```
/// use sentry_snuba::search;
///
/// let query = search::parse("!has:user.email error.type:[KeyError, ValueError] firstSeen:-24h").unwrap();
/// let compiled = search::compile(&query, 1_714_521_600).unwrap();
/// assert_eq!(
///     compiled.where_.unwrap().to_string(),
///     "ifNull(user_email, '') = '' AND (has(exception_stacks.type, 'KeyError') = 1 \
///      OR has(exception_stacks.type, 'ValueError') = 1)",
/// );
/// assert_eq!(compiled.having.unwrap().to_string(), "min(timestamp) >= '2024-04-30T00:00:00'");
/// ```
pub fn compile(query: &SearchQuery, now: i64) -> Result<Compiled, CompileError> {
    let mut compiled = Compiled::default();
    let Some(root) = &query.root else {
        return Ok(compiled);
    };
    let mut leaves = 0;
    check_shape(root, 0, &mut leaves)?;
    let mut conjuncts = Vec::new();
    flatten(root, &mut conjuncts);
    let mut where_ = Vec::new();
    let mut having = Vec::new();
    for term in conjuncts {
        let Term::Filter(filter) = term else {
            where_.push(event_condition(term, now)?);
            continue;
        };
        let target = resolve(&filter.key)?;
        match target {
            Target::Field(Field {
                name,
                kind: FieldKind::Issue,
                ..
            }) => compiled.issue.push(issue_filter(name, filter)?),
            Target::Field(f) if f.kind.is_issue_level() => {
                having.push(filter_condition(f.name, target, filter, now)?);
            }
            _ => where_.push(filter_condition(
                key_name(&filter.key),
                target,
                filter,
                now,
            )?),
        }
    }
    compiled.where_ = (!where_.is_empty()).then(|| all_of(where_));
    compiled.having = (!having.is_empty()).then(|| all_of(having));
    Ok(compiled)
}

/// And/Or nodes on one path of a parsed tree: at most an `OR` and an
/// `AND` per level of parentheses, and the top level.
const MAX_TREE_DEPTH: usize = 2 * (MAX_DEPTH + 1);

/// Refuses trees larger than the parser would give.
fn check_shape(term: &Term, depth: usize, leaves: &mut usize) -> Result<(), CompileError> {
    match term {
        Term::And(items) | Term::Or(items) => {
            if depth >= MAX_TREE_DEPTH {
                return error(format!(
                    "the search nests deeper than {MAX_DEPTH} levels of parentheses"
                ));
            }
            if items.is_empty() {
                return error("an empty AND or OR");
            }
            items
                .iter()
                .try_for_each(|t| check_shape(t, depth + 1, leaves))
        }
        leaf => {
            *leaves += 1;
            if *leaves > MAX_TERMS {
                return error(format!("a search holds at most {MAX_TERMS} terms"));
            }
            if let Term::Filter(Filter {
                value: Value::List(items),
                ..
            }) = leaf
            {
                if items.len() > MAX_LIST_ITEMS {
                    return error(format!("a list holds at most {MAX_LIST_ITEMS} values"));
                }
            }
            Ok(())
        }
    }
}

/// The terms of the top-level conjunction.
fn flatten<'t>(term: &'t Term, out: &mut Vec<&'t Term>) {
    match term {
        Term::And(items) => items.iter().for_each(|t| flatten(t, out)),
        other => out.push(other),
    }
}

/// What a key names.
#[derive(Clone, Copy)]
enum Target<'k> {
    Field(&'static Field),
    Tag(&'k str),
}

fn resolve(key: &Key) -> Result<Target<'_>, CompileError> {
    match key {
        Key::Tag(name) => Ok(Target::Tag(name)),
        Key::Field(name) => match field(name) {
            Some(f) => Ok(Target::Field(f)),
            None => error(format!("unknown field `{name}`")),
        },
    }
}

fn key_name(key: &Key) -> &str {
    match key {
        Key::Field(name) | Key::Tag(name) => name,
    }
}

fn issue_filter(name: &'static str, filter: &Filter) -> Result<IssueFilter, CompileError> {
    if filter.op != Op::Eq {
        return error(format!("`{name}` takes no operator"));
    }
    let values = match &filter.value {
        Value::Text(text) => vec![text.clone()],
        Value::List(items) if !items.is_empty() => items.clone(),
        _ => return error(format!("`{name}` takes text or a list")),
    };
    if name == "is" {
        if let Some(bad) = values.iter().find(|v| !IS_VALUES.contains(&v.as_str())) {
            return error(format!("unknown `is:` value `{bad}`"));
        }
    }
    Ok(IssueFilter {
        key: name.to_owned(),
        negated: filter.negated,
        values,
    })
}

/// A term below the top-level conjunction, or an event term in it.
fn event_condition(term: &Term, now: i64) -> Result<Condition, CompileError> {
    Ok(match term {
        Term::And(items) => all_of(
            items
                .iter()
                .map(|t| event_condition(t, now))
                .collect::<Result<_, _>>()?,
        ),
        Term::Or(items) => any_of(
            items
                .iter()
                .map(|t| event_condition(t, now))
                .collect::<Result<_, _>>()?,
        ),
        Term::Filter(filter) => {
            let target = resolve(&filter.key)?;
            if let Target::Field(f) = target {
                if f.kind.is_issue_level() {
                    return error(restricted_message(f.name));
                }
            }
            filter_condition(key_name(&filter.key), target, filter, now)?
        }
        Term::Has { key, negated } => has_condition(resolve(key)?, *negated)?,
        Term::Text(text) => {
            let like = contains(text);
            any_of(
                ["title", "message"]
                    .into_iter()
                    .map(|column| {
                        compare(
                            Expr::call("lower", vec![Expr::column(column)]),
                            CompareOp::Like,
                            Expr::string(like.clone()),
                        )
                    })
                    .collect(),
            )
        }
    })
}

fn has_condition(target: Target<'_>, negated: bool) -> Result<Condition, CompileError> {
    let (yes, no) = (Expr::int(1), Expr::int(0));
    Ok(match target {
        Target::Tag(name) => compare(
            Expr::call("has", vec![Expr::column("tags.key"), Expr::string(name)]),
            CompareOp::Eq,
            if negated { no } else { yes },
        ),
        Target::Field(f) => match f.kind {
            FieldKind::Text { column } | FieldKind::Id { column } => {
                let (_, safe) = text_sides(column);
                let op = if negated {
                    CompareOp::Eq
                } else {
                    CompareOp::NotEq
                };
                compare(safe, op, Expr::string(""))
            }
            FieldKind::Array { column } => {
                let function = if negated { "empty" } else { "notEmpty" };
                compare(
                    Expr::call(function, vec![Expr::column(column)]),
                    CompareOp::Eq,
                    yes,
                )
            }
            FieldKind::Handled { .. } => Condition::IsNull {
                expr: Expr::column("handled"),
                negated: !negated,
            },
            _ => {
                return error(format!(
                    "`has:` takes a tag or an event field that can be empty, not `{}`",
                    f.name
                ));
            }
        },
    })
}

/// The condition of one filter on events or on an issue's aggregates.
fn filter_condition(
    name: &str,
    target: Target<'_>,
    filter: &Filter,
    now: i64,
) -> Result<Condition, CompileError> {
    let negated = filter.negated;
    let kind = match target {
        Target::Tag(tag) => {
            let expr = tag_expr(tag);
            return text_condition(name, &expr, &expr, filter, |s| s.to_owned());
        }
        Target::Field(f) => f.kind,
    };
    match (kind, &filter.value) {
        (FieldKind::Text { column }, _) => {
            let (plain, safe) = text_sides(column);
            text_condition(name, &plain, &safe, filter, |s| s.to_owned())
        }
        (FieldKind::Id { column }, _) => {
            let (plain, safe) = text_sides(column);
            text_condition(
                name,
                &plain,
                &safe,
                filter,
                crate::eventstream::normalize_event_id,
            )
        }
        (FieldKind::Array { column }, _) => array_condition(name, column, filter),
        (FieldKind::Handled { inverted }, Value::Bool(b)) if filter.op == Op::Eq => {
            let want = Expr::int(i64::from(*b != inverted));
            let handled = Expr::column("handled");
            Ok(if negated {
                any_of(vec![
                    Condition::IsNull {
                        expr: handled.clone(),
                        negated: false,
                    },
                    compare(handled, CompareOp::NotEq, want),
                ])
            } else {
                compare(handled, CompareOp::Eq, want)
            })
        }
        (FieldKind::Time, Value::Date(date)) => date_condition(
            name,
            Expr::column("timestamp"),
            filter.op,
            date,
            negated,
            now,
        ),
        (FieldKind::AggregateTime { function }, Value::Date(date)) => {
            let lhs = Expr::call(function, vec![Expr::column("timestamp")]);
            date_condition(name, lhs, filter.op, date, negated, now)
        }
        (FieldKind::Number { function, column }, Value::Number(n)) => {
            let args = column.map(Expr::column).into_iter().collect();
            let lhs = Expr::call(function, args);
            Ok(bounds(
                &lhs,
                vec![(compare_op(filter.op), number_literal(*n))],
                negated,
            ))
        }
        (FieldKind::Issue, _) => error(restricted_message(name)),
        _ => error(format!("`{name}` does not take this value or operator")),
    }
}

/// A text filter on `plain`, with `safe` (a missing value read as `''`)
/// where a missing value must count: negations and empty values.
fn text_condition(
    name: &str,
    plain: &Expr,
    safe: &Expr,
    filter: &Filter,
    normalize: impl Fn(&str) -> String,
) -> Result<Condition, CompileError> {
    if filter.op != Op::Eq {
        return error(format!("`{name}` is text and takes no operator"));
    }
    let negated = filter.negated;
    let texts = texts_of(name, filter)?;
    let mut exact = Vec::new();
    let mut likes = Vec::new();
    for text in texts {
        match pattern(&normalize(text)) {
            Pattern::Exact(s) => exact.push(s),
            Pattern::Like(l) => likes.push(l),
        }
    }
    let single = matches!(filter.value, Value::Text(_));
    let mut parts = Vec::new();
    if !exact.is_empty() {
        let lhs = if negated || exact.iter().any(String::is_empty) {
            safe
        } else {
            plain
        };
        parts.push(match (single, negated) {
            (true, false) => compare(lhs.clone(), CompareOp::Eq, Expr::string(exact.remove(0))),
            (true, true) => compare(lhs.clone(), CompareOp::NotEq, Expr::string(exact.remove(0))),
            (false, false) => compare(lhs.clone(), CompareOp::In, tuple(exact)),
            (false, true) => compare(lhs.clone(), CompareOp::NotIn, tuple(exact)),
        });
    }
    for like in likes {
        parts.push(if negated {
            compare(safe.clone(), CompareOp::NotLike, Expr::string(like))
        } else {
            compare(plain.clone(), CompareOp::Like, Expr::string(like))
        });
    }
    Ok(if negated {
        all_of(parts)
    } else {
        any_of(parts)
    })
}

/// The text or the list of texts of a filter on a text field.
fn texts_of<'a>(name: &str, filter: &'a Filter) -> Result<&'a [String], CompileError> {
    match &filter.value {
        Value::Text(text) => Ok(std::slice::from_ref(text)),
        Value::List(items) if !items.is_empty() => Ok(items.as_slice()),
        _ => error(format!("`{name}` takes text or a list")),
    }
}

fn array_condition(name: &str, column: &str, filter: &Filter) -> Result<Condition, CompileError> {
    if filter.op != Op::Eq {
        return error(format!("`{name}` is text and takes no operator"));
    }
    let negated = filter.negated;
    let texts = texts_of(name, filter)?;
    let mut parts = Vec::new();
    for text in texts {
        let Pattern::Exact(value) = pattern(text) else {
            return error(format!("`{name}` matches whole values only"));
        };
        parts.push(if value.is_empty() {
            // `error.type:""`: the event has no such value at all.
            let function = if negated { "notEmpty" } else { "empty" };
            compare(
                Expr::call(function, vec![Expr::column(column)]),
                CompareOp::Eq,
                Expr::int(1),
            )
        } else {
            compare(
                Expr::call("has", vec![Expr::column(column), Expr::string(value)]),
                CompareOp::Eq,
                Expr::int(i64::from(!negated)),
            )
        });
    }
    Ok(if negated {
        all_of(parts)
    } else {
        any_of(parts)
    })
}

fn date_condition(
    name: &str,
    lhs: Expr,
    op: Op,
    date: &DateValue,
    negated: bool,
    now: i64,
) -> Result<Condition, CompileError> {
    const DAY: i64 = 86_400;
    let limits: Vec<(CompareOp, i64)> = match date {
        DateValue::Relative {
            older,
            amount,
            unit,
        } => {
            if op != Op::Eq {
                return error(format!("`{name}`: a relative time takes no operator"));
            }
            let instant = now.saturating_sub(i64::from(*amount).saturating_mul(unit.seconds()));
            let op = if *older {
                CompareOp::LtEq
            } else {
                CompareOp::GtEq
            };
            vec![(op, instant)]
        }
        DateValue::Day(day) => {
            let start = day
                .and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp());
            let end = start + DAY;
            match op {
                Op::Eq => vec![(CompareOp::GtEq, start), (CompareOp::Lt, end)],
                Op::Gt => vec![(CompareOp::GtEq, end)],
                Op::GtEq => vec![(CompareOp::GtEq, start)],
                Op::Lt => vec![(CompareOp::Lt, start)],
                Op::LtEq => vec![(CompareOp::Lt, end)],
            }
        }
        DateValue::Time(time) => vec![(compare_op(op), time.timestamp())],
    };
    Ok(bounds(
        &lhs,
        limits
            .into_iter()
            .map(|(op, t)| (op, time_literal(t)))
            .collect(),
        negated,
    ))
}
