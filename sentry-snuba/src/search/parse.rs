//! The search parser.
//!
//! The structure (terms, groups, `AND`, `OR`) is read by hand, one term at
//! a time; keys, operators, numbers and dates are read with nom. Values are
//! typed by their key as they are read, so that a bad number or date, an
//! operator on a text field or an issue filter under `OR` is reported where
//! it was written. Inputs are bounded: [`MAX_QUERY_LEN`] bytes,
//! [`MAX_DEPTH`] levels of parentheses, [`MAX_TERMS`] terms and
//! [`MAX_LIST_ITEMS`] values in one list.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while_m_n, take_while1};
use nom::character::complete::{char, digit1, one_of, satisfy};
use nom::combinator::{eof, opt, recognize};
use nom::error::{ErrorKind, ParseError as NomParseError};
use nom::{IResult, Parser};

use super::compile::{FieldKind, IS_VALUES, field, has_wildcard};
use super::{DateValue, Filter, Key, Op, SearchQuery, Term, TimeUnit, Value};

/// The longest search accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// The deepest nesting of parentheses accepted.
pub const MAX_DEPTH: usize = 32;
/// The most terms (filters and free text) in one search.
pub const MAX_TERMS: usize = 256;
/// The most values in one list, `key:[a, b, ...]`.
pub const MAX_LIST_ITEMS: usize = 1000;

/// Why a search could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct SearchError {
    /// Byte offset of the problem in the search, on a character boundary.
    pub offset: usize,
    /// 1-based column of the problem, in characters.
    pub column: usize,
    /// What went wrong, for people.
    pub message: String,
}

impl SearchError {
    fn at(text: &str, offset: usize, message: String) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        SearchError {
            offset,
            column: text[..offset].chars().count() + 1,
            message,
        }
    }
}

/// The internal error: where and what.
#[derive(Debug)]
struct Fail<'a> {
    at: &'a str,
    message: Cow<'static, str>,
}

impl<'a> NomParseError<&'a str> for Fail<'a> {
    fn from_error_kind(input: &'a str, _: ErrorKind) -> Self {
        Fail {
            at: input,
            message: Cow::Borrowed("unexpected text"),
        }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, Fail<'a>>;

/// A failure that ends the parse: no other reading is tried.
fn fail<T>(at: &str, message: impl Into<Cow<'static, str>>) -> Res<'_, T> {
    Err(nom::Err::Failure(Fail {
        at,
        message: message.into(),
    }))
}

/// Parses a search.
///
/// ```
/// use sentry_snuba::search::{self, Key, Op, Term, Value};
///
/// let query = search::parse("level:error times_seen:>=10 \"timed out\"").unwrap();
/// let Some(Term::And(terms)) = &query.root else { panic!() };
/// assert_eq!(terms.len(), 3);
/// let Term::Filter(f) = &terms[1] else { panic!() };
/// assert_eq!((&f.key, f.op, &f.value), (&Key::Field("times_seen".into()), Op::GtEq, &Value::Number(10.0)));
/// assert_eq!(terms[2], Term::Text("timed out".into()));
///
/// let e = search::parse("level:error OR times_seen:>10").unwrap_err();
/// assert_eq!(e.offset, 15);
/// ```
pub fn parse(text: &str) -> Result<SearchQuery, SearchError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(SearchError::at(
            text,
            MAX_QUERY_LEN,
            format!("the search is longer than {MAX_QUERY_LEN} bytes"),
        ));
    }
    let mut parser = State { terms: 0 };
    let start = ws(text);
    if start.is_empty() {
        return Ok(SearchQuery { root: None });
    }
    let result = parser.or_expr(start, 0).and_then(|(rest, parsed)| {
        let rest = ws(rest);
        if rest.starts_with(')') {
            fail(rest, "this `)` closes no `(`")
        } else if !rest.is_empty() {
            fail(rest, format!("unexpected {}", found(rest)))
        } else {
            Ok((rest, parsed))
        }
    });
    match result {
        Ok((_, parsed)) => Ok(SearchQuery {
            root: Some(parsed.term),
        }),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(SearchError::at(
            text,
            text.len() - e.at.len(),
            e.message.into_owned(),
        )),
        Err(nom::Err::Incomplete(_)) => Err(SearchError::at(
            text,
            text.len(),
            "the search ends too early".to_owned(),
        )),
    }
}

/// A short quote of the text at an error.
fn found(rest: &str) -> String {
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(24)
        .collect();
    format!("`{word}`")
}

fn ws(i: &str) -> &str {
    i.trim_start()
}

/// True after a term: white space, a closing parenthesis or the end.
fn at_boundary(i: &str) -> bool {
    i.is_empty() || i.starts_with(|c: char| c.is_whitespace() || c == ')')
}

/// `AND` or `OR` as a word of its own: the rest after it.
fn keyword<'a>(i: &'a str, word: &str) -> Option<&'a str> {
    let rest = i.strip_prefix(word)?;
    (rest.is_empty()
        || rest.starts_with(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"')))
    .then_some(rest)
}

// --- lexical rules shared with the printer ---------------------------------

/// The first character of a key written without `tags[...]`.
pub(super) fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// The other characters of a key written without `tags[...]`.
pub(super) fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// A character of a tag name inside `tags[...]`.
pub(super) fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':')
}

/// True when `name` can be written as a key without `tags[...]`.
pub(super) fn is_plain_key(name: &str) -> bool {
    name.starts_with(is_key_start) && name.chars().all(is_key_char)
}

// --- tokens -----------------------------------------------------------------

/// A key as written, before it is resolved.
enum RawKey<'a> {
    /// `tags[name]`.
    Tag(&'a str),
    /// Any other key.
    Plain(&'a str),
}

fn tag_key(i: &str) -> Res<'_, &str> {
    let (i, (_, name, _)) = (tag("tags["), take_while1(is_tag_char), char(']')).parse(i)?;
    Ok((i, name))
}

fn plain_key(i: &str) -> Res<'_, &str> {
    recognize((satisfy(is_key_start), take_while(is_key_char))).parse(i)
}

fn raw_key(i: &str) -> Res<'_, RawKey<'_>> {
    alt((tag_key.map(RawKey::Tag), plain_key.map(RawKey::Plain))).parse(i)
}

fn op(i: &str) -> Res<'_, Op> {
    alt((
        tag(">=").map(|_| Op::GtEq),
        tag("<=").map(|_| Op::LtEq),
        tag(">").map(|_| Op::Gt),
        tag("<").map(|_| Op::Lt),
        tag("=").map(|_| Op::Eq),
    ))
    .parse(i)
}

/// A bare word or value: up to white space or a `)` that closes nothing
/// opened inside the word.
fn bare(i: &str) -> (&str, &str) {
    let mut depth = 0usize;
    for (pos, c) in i.char_indices() {
        if c.is_whitespace() {
            return (&i[pos..], &i[..pos]);
        }
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return (&i[pos..], &i[..pos]),
            ')' => depth -= 1,
            _ => {}
        }
    }
    ("", i)
}

/// `"..."`, with `\"` for a quote and `\\` for a backslash; any other
/// backslash is kept.
fn quoted(i: &str) -> Res<'_, String> {
    let Some(mut rest) = i.strip_prefix('"') else {
        return fail(i, "expected `\"`");
    };
    let mut value = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => return fail(i, "this quote is never closed"),
            Some('"') => return Ok((chars.as_str(), value)),
            Some('\\') => match chars.clone().next() {
                Some(c @ ('"' | '\\')) => {
                    value.push(c);
                    chars.next();
                }
                _ => value.push('\\'),
            },
            Some(c) => value.push(c),
        }
        rest = chars.as_str();
    }
}

/// A value as written: its position and text, one or a list.
enum RawValue<'a> {
    One(&'a str, String),
    List(&'a str, Vec<(&'a str, String)>),
}

fn list(i: &str) -> Res<'_, Vec<(&str, String)>> {
    let open = i;
    let mut i = ws(&i[1..]);
    let mut items = Vec::new();
    if i.starts_with(']') {
        return fail(open, "a list needs at least one value");
    }
    loop {
        if i.is_empty() {
            return fail(open, "this `[` is never closed");
        }
        let at = i;
        let (rest, item) = if i.starts_with('"') {
            quoted(i)?
        } else {
            let end = i
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '"'))
                .unwrap_or(i.len());
            (&i[end..], i[..end].to_owned())
        };
        if rest.len() == at.len() {
            return fail(
                at,
                format!("expected a value in the list, found {}", found(at)),
            );
        }
        items.push((at, item));
        if items.len() > MAX_LIST_ITEMS {
            return fail(at, format!("a list holds at most {MAX_LIST_ITEMS} values"));
        }
        let rest = ws(rest);
        if let Some(rest) = rest.strip_prefix(']') {
            return Ok((rest, items));
        } else if let Some(rest) = rest.strip_prefix(',') {
            i = ws(rest);
        } else if rest.is_empty() {
            return fail(open, "this `[` is never closed");
        } else {
            return fail(rest, format!("expected `,` or `]`, found {}", found(rest)));
        }
    }
}

/// A number, with an optional `k`, `m` or `b` multiplier.
fn number(text: &str) -> Option<f64> {
    let parsed: Res<'_, (&str, Option<char>)> = (
        recognize((opt(char('-')), digit1, opt((char('.'), digit1)))),
        opt(one_of("kKmMbB")),
        eof,
    )
        .map(|(digits, suffix, _)| (digits, suffix))
        .parse(text);
    let (_, (digits, suffix)) = parsed.ok()?;
    let multiplier = match suffix {
        None => 1.0,
        Some('k' | 'K') => 1e3,
        Some('m' | 'M') => 1e6,
        _ => 1e9,
    };
    let value = digits.parse::<f64>().ok()? * multiplier;
    value.is_finite().then_some(value)
}

fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `-24h` or `+7d`; `None` when the text is not shaped so, an error text
/// when the amount is too large.
fn relative(text: &str) -> Option<Result<DateValue, String>> {
    let parsed: Res<'_, (char, &str, char)> = (one_of("+-"), digit1, one_of("smhdw"), eof)
        .map(|(sign, amount, unit, _)| (sign, amount, unit))
        .parse(text);
    let (_, (sign, amount, unit)) = parsed.ok()?;
    let Ok(amount) = amount.parse::<u32>() else {
        return Some(Err(format!("`{text}` is too far back")));
    };
    let unit = TimeUnit::from_char(unit)?;
    Some(Ok(DateValue::Relative {
        older: sign == '+',
        amount,
        unit,
    }))
}

fn digits<'a>(n: usize) -> impl Parser<&'a str, Output = u32, Error = Fail<'a>> {
    take_while_m_n(n, n, |c: char| c.is_ascii_digit()).map(|d: &str| {
        d.bytes()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'))
    })
}

/// The parts of `2024-05-01T10:00:00.123+02:00`: date, then optionally the
/// time (hours, minutes, seconds) and the offset (sign, hours, minutes).
type DateParts = ((u32, u32, u32), Option<((u32, u32, u32), (i64, u32, u32))>);

fn date_parts(text: &str) -> Res<'_, DateParts> {
    let ymd =
        (digits(4), char('-'), digits(2), char('-'), digits(2)).map(|(y, _, m, _, d)| (y, m, d));
    let offset = alt((
        one_of("Zz").map(|_| (1, 0, 0)),
        (one_of("+-"), digits(2), opt(char(':')), digits(2))
            .map(|(sign, h, _, m)| (if sign == '-' { -1 } else { 1 }, h, m)),
    ));
    // Hours and minutes of an offset are range-checked by the caller.
    let time = (
        one_of("Tt"),
        digits(2),
        char(':'),
        digits(2),
        opt((char(':'), digits(2), opt((char('.'), digit1)))),
        opt(offset),
    )
        .map(|(_, h, _, m, seconds, offset)| {
            let s = seconds.map_or(0, |(_, s, _)| s);
            ((h, m, s), offset.unwrap_or((1, 0, 0)))
        });
    let (rest, (date, time, _)) = (ymd, opt(time), eof).parse(text)?;
    Ok((rest, (date, time)))
}

/// An absolute date or time.
fn absolute(text: &str) -> Result<DateValue, String> {
    let shape = "expected a date (`2024-05-01`, `2024-05-01T10:00:00`, optionally with `Z` \
                 or an offset) or a relative time (`-24h`, `+7d`)";
    let Ok((_, ((y, m, d), time))) = date_parts(text) else {
        return Err(format!("{shape}, found `{}`", clip(text)));
    };
    let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d) else {
        return Err(format!("`{}` is not a date", clip(text)));
    };
    let Some(((h, min, s), (sign, offset_h, offset_m))) = time else {
        return Ok(DateValue::Day(date));
    };
    let Some(clock) = NaiveTime::from_hms_opt(h, min, s) else {
        return Err(format!("`{}` is not a time of day", clip(text)));
    };
    if offset_h > 23 || offset_m > 59 {
        return Err(format!("`{}` has an offset out of range", clip(text)));
    }
    let offset = sign * (i64::from(offset_h) * 3600 + i64::from(offset_m) * 60);
    let local = date.and_time(clock).and_utc();
    let utc: DateTime<Utc> = local - TimeDelta::seconds(offset);
    // Years stay within four digits, so that the time prints back as read.
    if !(0..=9999).contains(&utc.year()) {
        return Err(format!("`{}` is out of range", clip(text)));
    }
    Ok(DateValue::Time(utc))
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

// --- structure ----------------------------------------------------------------

/// A parsed term, with the first filter in it that may only appear in the
/// top-level conjunction (its position and key).
struct Parsed<'a> {
    term: Term,
    restricted: Option<(&'a str, &'static str)>,
}

struct State {
    terms: usize,
}

impl State {
    /// Terms separated by `OR`.
    fn or_expr<'a>(&mut self, i: &'a str, depth: usize) -> Res<'a, Parsed<'a>> {
        let (mut i, first) = self.and_expr(i, depth)?;
        let mut items = vec![first];
        loop {
            let j = ws(i);
            let Some(after) = keyword(j, "OR") else {
                break;
            };
            let k = ws(after);
            if k.is_empty() || k.starts_with(')') || keyword(k, "OR").is_some() {
                return fail(j, "`OR` needs a term after it");
            }
            let (rest, next) = self.and_expr(k, depth)?;
            items.push(next);
            i = rest;
        }
        if items.len() == 1 {
            return Ok((i, items.remove(0)));
        }
        if let Some((at, key)) = items.iter().find_map(|p| p.restricted) {
            return fail(at, restricted_message(key));
        }
        let term = Term::Or(items.into_iter().map(|p| p.term).collect());
        Ok((
            i,
            Parsed {
                term,
                restricted: None,
            },
        ))
    }

    /// Terms side by side or joined by `AND`.
    fn and_expr<'a>(&mut self, i: &'a str, depth: usize) -> Res<'a, Parsed<'a>> {
        let (mut i, first) = self.term(i, depth)?;
        let mut restricted = first.restricted;
        let mut items = vec![first.term];
        loop {
            if !at_boundary(i) {
                return fail(
                    i,
                    format!(
                        "expected white space before {}: terms are separated by spaces",
                        found(i)
                    ),
                );
            }
            let mut j = ws(i);
            if j.is_empty() || j.starts_with(')') || keyword(j, "OR").is_some() {
                break;
            }
            if let Some(after) = keyword(j, "AND") {
                let k = ws(after);
                if k.is_empty()
                    || k.starts_with(')')
                    || keyword(k, "OR").is_some()
                    || keyword(k, "AND").is_some()
                {
                    return fail(j, "`AND` needs a term after it");
                }
                j = k;
            }
            let (rest, next) = self.term(j, depth)?;
            restricted = restricted.or(next.restricted);
            items.push(next.term);
            i = rest;
        }
        let term = if items.len() == 1 {
            items.remove(0)
        } else {
            Term::And(items)
        };
        Ok((i, Parsed { term, restricted }))
    }

    /// One term: a group, free text or a filter.
    fn term<'a>(&mut self, i: &'a str, depth: usize) -> Res<'a, Parsed<'a>> {
        if let Some(inner) = i.strip_prefix('(') {
            if depth >= MAX_DEPTH {
                return fail(
                    i,
                    format!("parentheses are nested deeper than {MAX_DEPTH} levels"),
                );
            }
            let k = ws(inner);
            if k.starts_with(')') {
                return fail(i, "empty parentheses");
            }
            if k.is_empty() {
                return fail(i, "this `(` is never closed");
            }
            let (rest, parsed) = self.or_expr(k, depth + 1)?;
            let rest = ws(rest);
            let Some(rest) = rest.strip_prefix(')') else {
                return fail(i, "this `(` is never closed");
            };
            return Ok((rest, parsed));
        }
        if i.starts_with(')') {
            return fail(i, "this `)` closes no `(`");
        }
        if i.starts_with("!(") {
            return fail(i, "`!` negates one filter (`!key:value`), not a group");
        }
        for word in ["AND", "OR"] {
            if keyword(i, word).is_some() {
                return fail(i, format!("`{word}` needs a term before it"));
            }
        }
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return fail(i, format!("a search holds at most {MAX_TERMS} terms"));
        }
        if i.starts_with('"') {
            let (rest, text) = quoted(i)?;
            return Ok((rest, plain(Term::Text(text))));
        }
        match self.filter(i) {
            Err(nom::Err::Error(_)) => {}
            other => return other,
        }
        let (rest, word) = bare(i);
        Ok((rest, plain(Term::Text(word.to_owned()))))
    }

    /// `key:value`, `!key:value` or `has:key`; an `Error` when the term is
    /// not shaped as a filter, so that it is read as free text.
    fn filter<'a>(&mut self, start: &'a str) -> Res<'a, Parsed<'a>> {
        let (i, negated) = match start.strip_prefix('!') {
            Some(rest) => (rest, true),
            None => (start, false),
        };
        let key_at = i;
        let parsed: Res<'a, RawKey<'a>> = (raw_key, char(':')).map(|(k, _)| k).parse(i);
        let (i, raw) = match parsed {
            Ok(ok) => ok,
            Err(_) if i.starts_with("tags[") && bare(i).1.contains(':') => {
                return fail(
                    key_at,
                    "expected `tags[name]:value`; tag names hold letters, digits and `_.:-`",
                );
            }
            Err(_) => {
                return Err(nom::Err::Error(Fail {
                    at: start,
                    message: Cow::Borrowed("not a filter"),
                }));
            }
        };
        let (key, kind) = match raw {
            RawKey::Tag(name) => (Key::Tag(name.to_owned()), None),
            RawKey::Plain("has") => return has(negated, i),
            RawKey::Plain(name) => match field(name) {
                Some(f) => (Key::Field(f.name.to_owned()), Some((f.name, f.kind))),
                None => (Key::Tag(name.to_owned()), None),
            },
        };
        let name = match &key {
            Key::Field(name) | Key::Tag(name) => name.clone(),
        };

        let op_at = i;
        let (i, op) = opt(op).parse(i)?;
        let (rest, raw) = if i.starts_with('[') {
            if op.is_some() {
                return fail(op_at, "a list takes no operator");
            }
            let (rest, items) = list(i)?;
            (rest, RawValue::List(i, items))
        } else if i.starts_with('"') {
            let (rest, text) = quoted(i)?;
            (rest, RawValue::One(i, text))
        } else {
            let (rest, text) = bare(i);
            if text.is_empty() {
                return fail(i, format!("expected a value after `{name}:`"));
            }
            (rest, RawValue::One(i, text.to_owned()))
        };
        let op = op.unwrap_or(Op::Eq);
        let text_only = |kind: &str| -> Result<(), nom::Err<Fail<'a>>> {
            if op == Op::Eq {
                Ok(())
            } else {
                Err(nom::Err::Failure(Fail {
                    at: op_at,
                    message: Cow::Owned(format!(
                        "`{}` compares numbers and dates, and `{name}` is {kind}; \
                         quote the value to search for it as text",
                        op.as_str()
                    )),
                }))
            }
        };
        let one = |what: &str| -> Result<(&'a str, String), nom::Err<Fail<'a>>> {
            match &raw {
                RawValue::One(at, text) => Ok((*at, text.clone())),
                RawValue::List(at, _) => Err(nom::Err::Failure(Fail {
                    at,
                    message: Cow::Owned(format!("`{name}` takes {what}, not a list")),
                })),
            }
        };
        let text_value = |raw: RawValue<'a>| match raw {
            RawValue::One(_, text) => Value::Text(text),
            RawValue::List(_, items) => Value::List(items.into_iter().map(|(_, t)| t).collect()),
        };

        let mut restricted = None;
        let value = match kind {
            None | Some((_, FieldKind::Text { .. } | FieldKind::Id { .. })) => {
                text_only("text")?;
                text_value(raw)
            }
            Some((_, FieldKind::Array { .. })) => {
                text_only("text")?;
                let wildcard = match &raw {
                    RawValue::One(at, text) => has_wildcard(text).then_some(*at),
                    RawValue::List(_, items) => items
                        .iter()
                        .find(|(_, text)| has_wildcard(text))
                        .map(|(at, _)| *at),
                };
                if let Some(at) = wildcard {
                    return fail(
                        at,
                        format!(
                            "`{name}` matches whole values only: `*` patterns are not \
                             supported on it (write `\\*` for a literal star)"
                        ),
                    );
                }
                text_value(raw)
            }
            Some((_, FieldKind::Handled { .. })) => {
                text_only("true or false")?;
                let (at, text) = one("`true` or `false`")?;
                match boolean(&text) {
                    Some(b) => Value::Bool(b),
                    None => {
                        return fail(
                            at,
                            format!("expected `true` or `false`, found `{}`", clip(&text)),
                        );
                    }
                }
            }
            Some((key, FieldKind::Number { .. })) => {
                restricted = Some((start, key));
                let (at, text) = one("a number")?;
                match number(&text) {
                    Some(n) => Value::Number(n),
                    None => {
                        return fail(
                            at,
                            format!(
                                "expected a number (`10`, `2.5`, `1k`, `3m`), found `{}`",
                                clip(&text)
                            ),
                        );
                    }
                }
            }
            Some((key, kind @ (FieldKind::Time | FieldKind::AggregateTime { .. }))) => {
                if matches!(kind, FieldKind::AggregateTime { .. }) {
                    restricted = Some((start, key));
                }
                let (at, text) = one("a time")?;
                let date = match relative(&text) {
                    Some(Ok(_)) if op != Op::Eq => {
                        return fail(
                            op_at,
                            "a relative time takes no operator: `-24h` means within the last \
                             24 hours, `+24h` longer ago than that",
                        );
                    }
                    Some(result) => result,
                    None => absolute(&text),
                };
                match date {
                    Ok(date) => Value::Date(date),
                    Err(message) => return fail(at, message),
                }
            }
            Some((key, FieldKind::Issue)) => {
                restricted = Some((start, key));
                if op != Op::Eq {
                    return fail(op_at, format!("`{key}` takes no operator"));
                }
                if key == "is" {
                    let values: Vec<(&str, &str)> = match &raw {
                        RawValue::One(at, text) => vec![(*at, text.as_str())],
                        RawValue::List(_, items) => {
                            items.iter().map(|(at, t)| (*at, t.as_str())).collect()
                        }
                    };
                    for (at, value) in values {
                        if !IS_VALUES.contains(&value) {
                            return fail(
                                at,
                                format!(
                                    "unknown `is:` value `{}`; expected one of: {}",
                                    clip(value),
                                    IS_VALUES.join(", ")
                                ),
                            );
                        }
                    }
                }
                text_value(raw)
            }
        };
        let term = Term::Filter(Filter {
            key,
            negated,
            op,
            value,
        });
        Ok((rest, Parsed { term, restricted }))
    }
}

/// The value of `has:`: a field or a tag.
fn has(negated: bool, i: &str) -> Res<'_, Parsed<'_>> {
    let (rest, text) = if i.starts_with('"') {
        quoted(i)?
    } else {
        let (rest, text) = bare(i);
        (rest, text.to_owned())
    };
    let whole: Res<'_, RawKey<'_>> = (raw_key, eof).map(|(k, _)| k).parse(&text);
    let key = match whole {
        Ok((_, RawKey::Tag(name))) => Key::Tag(name.to_owned()),
        Ok((_, RawKey::Plain(name))) => match field(name) {
            Some(f) if f.kind.can_be_empty() => Key::Field(f.name.to_owned()),
            Some(f) => {
                return fail(
                    i,
                    format!(
                        "`has:` takes a tag or an event field that can be empty, not `{}`",
                        f.name
                    ),
                );
            }
            None => Key::Tag(name.to_owned()),
        },
        Err(_) => {
            return fail(
                i,
                format!("`has:` takes a field or tag name, found `{}`", clip(&text)),
            );
        }
    };
    Ok((rest, plain(Term::Has { key, negated })))
}

fn plain<'a>(term: Term) -> Parsed<'a> {
    Parsed {
        term,
        restricted: None,
    }
}

pub(super) fn restricted_message(key: &str) -> String {
    format!(
        "`{key}` filters whole issues, not events: it may only be joined to the rest of the \
         search by AND, not under OR"
    )
}
