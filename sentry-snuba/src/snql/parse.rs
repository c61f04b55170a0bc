//! The SnQL parser (nom).
//!
//! Keywords are case-insensitive. Errors carry the byte offset, line and
//! column of the furthest point the parser reached, and what it expected
//! there. Inputs are bounded: [`MAX_QUERY_LEN`] bytes, [`MAX_NESTING`] levels
//! of brackets and [`MAX_CHAIN`] operands in one arithmetic chain, so that no
//! input can exhaust the stack.

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0, multispace1, one_of, satisfy};
use nom::combinator::{cut, opt, recognize};
use nom::error::{ErrorKind, ParseError as NomParseError};
use nom::multi::separated_list1;
use nom::{IResult, Parser};

use super::ast::{
    ArithOp, CompareOp, Condition, EntityRef, Expr, Function, LimitBy, Literal, OrderBy, Query,
    Relationship, Selected, Source,
};

/// The longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 1 << 20;
/// The deepest nesting of `(`, `[` and `{` accepted.
pub const MAX_NESTING: usize = 64;
/// The most operands in one chain of `+ - * /`.
pub const MAX_CHAIN: usize = 256;

/// Why a query could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line}, column {column}")]
pub struct ParseError {
    /// Byte offset of the problem in the query.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What went wrong, for people.
    pub message: String,
}

impl ParseError {
    fn at(query: &str, offset: usize, message: String) -> Self {
        let before = &query[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        let column = before[line_start..].chars().count() + 1;
        ParseError {
            offset,
            line,
            column,
            message,
        }
    }
}

/// The internal error: where parsing stopped and what was expected there.
#[derive(Debug)]
struct Fail<'a> {
    at: &'a str,
    expected: Cow<'static, str>,
}

impl<'a> NomParseError<&'a str> for Fail<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        let expected = match kind {
            ErrorKind::Digit => "a number",
            ErrorKind::MultiSpace => "white space",
            ErrorKind::Eof => "the end of the query",
            _ => "valid SnQL",
        };
        Fail {
            at: input,
            expected: Cow::Borrowed(expected),
        }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }

    fn from_char(input: &'a str, c: char) -> Self {
        Fail {
            at: input,
            expected: Cow::Owned(format!("`{c}`")),
        }
    }

    /// Of two failed alternatives, the one that got further explains more.
    fn or(self, other: Self) -> Self {
        if other.at.len() < self.at.len() {
            other
        } else {
            self
        }
    }
}

type Res<'a, T> = IResult<&'a str, T, Fail<'a>>;

fn fail<T>(at: &str, expected: impl Into<Cow<'static, str>>) -> Res<'_, T> {
    Err(nom::Err::Error(Fail {
        at,
        expected: expected.into(),
    }))
}

/// Runs `p`; when it fails without getting past its start, says `what` was
/// expected there instead of the inner detail.
fn expect<'a, O>(
    what: &'static str,
    mut p: impl Parser<&'a str, Output = O, Error = Fail<'a>>,
) -> impl FnMut(&'a str) -> Res<'a, O> {
    move |i| match p.parse(i) {
        Err(nom::Err::Error(e)) if e.at.len() >= i.len() => fail(i, what),
        Err(nom::Err::Failure(e)) if e.at.len() >= i.len() => Err(nom::Err::Failure(Fail {
            at: i,
            expected: Cow::Borrowed(what),
        })),
        other => other,
    }
}

/// Parses one SnQL query.
///
/// ```
/// let query = sentry_snuba::snql::parse(
///     "MATCH (events) SELECT count() AS c BY group_id WHERE project_id = 1 LIMIT 10",
/// ).unwrap();
/// assert_eq!(query.limit, Some(10));
/// assert_eq!(
///     query.to_string(),
///     "MATCH (events) SELECT count() AS c BY group_id WHERE project_id = 1 LIMIT 10",
/// );
/// ```
pub fn parse(query: &str) -> Result<Query, ParseError> {
    if query.len() > MAX_QUERY_LEN {
        // The error points at the last character boundary within the limit.
        let mut end = MAX_QUERY_LEN;
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        return Err(ParseError::at(
            query,
            end,
            format!("the query is longer than {MAX_QUERY_LEN} bytes"),
        ));
    }
    check_nesting(query)?;
    let result = (multispace0, query_exp, multispace0).parse(query);
    match result {
        Ok(("", (_, q, _))) => Ok(q),
        Ok((rest, _)) => Err(ParseError::at(
            query,
            query.len() - rest.len(),
            format!("unexpected {}", found(rest)),
        )),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(ParseError::at(
            query,
            query.len() - e.at.len(),
            format!("expected {}, found {}", e.expected, found(e.at)),
        )),
        Err(nom::Err::Incomplete(_)) => Err(ParseError::at(
            query,
            query.len(),
            "the query ends too early".to_owned(),
        )),
    }
}

/// A short quote of the text at an error.
fn found(rest: &str) -> String {
    if rest.is_empty() {
        return "the end of the query".to_owned();
    }
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(24)
        .collect();
    let word = if word.is_empty() {
        rest.chars().take(1).collect()
    } else {
        word
    };
    format!("`{word}`")
}

/// Refuses brackets nested deeper than [`MAX_NESTING`] (outside strings).
fn check_nesting(query: &str) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, c) in query.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' => in_string = true,
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ParseError::at(
                        query,
                        offset,
                        format!("brackets are nested deeper than {MAX_NESTING} levels"),
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

// --- tokens ---------------------------------------------------------------

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A keyword, case-insensitive, not followed by a letter, digit or `_`.
fn kw<'a>(word: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    move |i: &'a str| {
        let (rest, matched) = tag_no_case::<_, _, Fail<'a>>(word)
            .parse(i)
            .or_else(|_| fail(i, word))?;
        if rest.starts_with(is_ident_char) {
            return fail(i, word);
        }
        Ok((rest, matched))
    }
}

/// A keyword that starts a clause: white space, then the keyword.
fn clause<'a>(word: &'static str) -> impl FnMut(&'a str) -> Res<'a, &'a str> {
    let mut keyword = kw(word);
    move |i| {
        let (i, _) = multispace1(i)?;
        keyword(i)
    }
}

/// `ORDER BY`, `NOT IN`, ...: words separated by white space.
fn words<'a>(first: &'static str, second: &'static str) -> impl FnMut(&'a str) -> Res<'a, ()> {
    move |i| {
        let (i, _) = kw(first)(i)?;
        let (i, _) = multispace1(i)?;
        let (i, _) = kw(second)(i)?;
        Ok((i, ()))
    }
}

fn name(i: &str) -> Res<'_, &str> {
    recognize((
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(is_ident_char),
    ))
    .parse(i)
}

fn column_name(i: &str) -> Res<'_, &str> {
    recognize((
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| is_ident_char(c) || matches!(c, '.' | ':' | '@' | '/')),
    ))
    .parse(i)
}

fn alias(i: &str) -> Res<'_, String> {
    let quoted = (char('`'), take_while1(|c| c != '`' && c != '\n'), char('`'));
    alt((
        quoted.map(|(_, a, _): (char, &str, char)| a.to_owned()),
        recognize((
            satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
            take_while(|c: char| is_ident_char(c) || matches!(c, '.' | ':' | '@')),
        ))
        .map(str::to_owned),
    ))
    .parse(i)
}

fn as_alias(i: &str) -> Res<'_, String> {
    let (i, _) = clause("AS")(i)?;
    let (i, _) = multispace1(i)?;
    cut(expect("an alias", alias)).parse(i)
}

fn uint(i: &str) -> Res<'_, u64> {
    let (rest, digits) = expect("a whole number", digit1).parse(i)?;
    match digits.parse() {
        Ok(n) => Ok((rest, n)),
        Err(_) => Err(nom::Err::Failure(Fail {
            at: i,
            expected: Cow::Borrowed("a number below 2^64"),
        })),
    }
}

fn number(i: &str) -> Res<'_, Literal> {
    let (rest, text) = recognize((
        opt(char('-')),
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)?;
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(n) = text.parse::<i64>() {
            return Ok((rest, Literal::Int(n)));
        }
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok((rest, Literal::Float(x))),
        _ => Err(nom::Err::Failure(Fail {
            at: i,
            expected: Cow::Borrowed("a finite number"),
        })),
    }
}

fn quoted(i: &str) -> Res<'_, String> {
    let (mut rest, _) = char('\'')(i)?;
    let mut value = String::new();
    loop {
        let mut chars = rest.chars();
        let c = match chars.next() {
            Some('\'') => return Ok((chars.as_str(), value)),
            Some('\\') => chars.next(),
            other => other,
        };
        let Some(c) = c else {
            return Err(nom::Err::Failure(Fail {
                at: &i[i.len()..],
                expected: Cow::Borrowed("a closing quote for this string"),
            }));
        };
        value.push(c);
        rest = chars.as_str();
    }
}

fn keyword_literal(i: &str) -> Res<'_, Literal> {
    alt((
        kw("NULL").map(|_| Literal::Null),
        kw("TRUE").map(|_| Literal::Bool(true)),
        kw("FALSE").map(|_| Literal::Bool(false)),
    ))
    .parse(i)
}

fn literal(i: &str) -> Res<'_, Literal> {
    alt((quoted.map(Literal::String), number, keyword_literal)).parse(i)
}

// --- expressions ----------------------------------------------------------

fn arith_chain<'a>(
    i: &'a str,
    ops: &'static str,
    operand: fn(&'a str) -> Res<'a, Expr>,
) -> Res<'a, Expr> {
    let (mut i, mut lhs) = operand(i)?;
    let mut count = 1;
    loop {
        let step: Res<'a, char> = (multispace0, one_of(ops), multispace0)
            .map(|(_, op, _)| op)
            .parse(i);
        let Ok((after_op, op)) = step else {
            return Ok((i, lhs));
        };
        // `->` belongs to a lambda, `-[` to a join: not a minus.
        if op == '-' && i.trim_start().starts_with(['>', '[']) {
            return Ok((i, lhs));
        }
        let (rest, rhs) = cut(expect("an operand", operand)).parse(after_op)?;
        count += 1;
        if count > MAX_CHAIN {
            return Err(nom::Err::Failure(Fail {
                at: after_op,
                expected: Cow::Owned(format!("at most {MAX_CHAIN} operands in one expression")),
            }));
        }
        let op = match op {
            '+' => ArithOp::Add,
            '-' => ArithOp::Sub,
            '*' => ArithOp::Mul,
            _ => ArithOp::Div,
        };
        lhs = Expr::Arithmetic {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        i = rest;
    }
}

/// An expression: `+ -` over `* /` over terms.
fn expr(i: &str) -> Res<'_, Expr> {
    arith_chain(i, "+-", product)
}

fn product(i: &str) -> Res<'_, Expr> {
    arith_chain(i, "*/", term)
}

fn term(i: &str) -> Res<'_, Expr> {
    expect(
        "an expression",
        alt((
            (char('('), multispace0, expr, multispace0, cut(char(')'))).map(|(_, _, e, _, _)| e),
            function_call.map(Expr::Function),
            literal.map(Expr::Literal),
            column_or_subscript,
        )),
    )
    .parse(i)
}

fn column_or_subscript(i: &str) -> Res<'_, Expr> {
    let (i, column) = column_name(i)?;
    match char::<_, Fail<'_>>('[').parse(i) {
        Ok((rest, _)) => {
            let (rest, key) = take_while(|c| c != '[' && c != ']')(rest)?;
            let (rest, _) = cut(char(']')).parse(rest)?;
            Ok((
                rest,
                Expr::Subscript {
                    column: column.to_owned(),
                    key: key.to_owned(),
                },
            ))
        }
        Err(_) => Ok((i, Expr::Column(column.to_owned()))),
    }
}

fn args(i: &str) -> Res<'_, Vec<Expr>> {
    let (i, _) = (char('('), multispace0).parse(i)?;
    if let Ok((rest, _)) = char::<_, Fail<'_>>(')')(i) {
        return Ok((rest, Vec::new()));
    }
    let (i, items) = cut(separated_list1((multispace0, char(','), multispace0), arg)).parse(i)?;
    let (i, _) = cut((multispace0, expect("`,` or `)`", char(')')))).parse(i)?;
    Ok((i, items))
}

fn arg(i: &str) -> Res<'_, Expr> {
    alt((
        lambda,
        (char('`'), name, char('`')).map(|(_, n, _)| Expr::Identifier(n.to_owned())),
        expr,
    ))
    .parse(i)
}

fn lambda(i: &str) -> Res<'_, Expr> {
    let param = (char('`'), name, char('`')).map(|(_, n, _): (char, &str, char)| n.to_owned());
    let (i, (_, _, params, _, _, _, _)) = (
        char('('),
        multispace0,
        separated_list1((multispace0, char(','), multispace0), param),
        multispace0,
        char(')'),
        multispace0,
        tag("->"),
    )
        .parse(i)?;
    let (i, _) = multispace0(i)?;
    let (i, body) = cut(expect("a function call", function_call)).parse(i)?;
    Ok((
        i,
        Expr::Lambda {
            params,
            body: Box::new(body),
        },
    ))
}

fn function_call(i: &str) -> Res<'_, Function> {
    let (i, name) = name(i)?;
    let (i, first) = args(i)?;
    let (i, second) = opt(args).parse(i)?;
    let (i, alias) = opt(as_alias).parse(i)?;
    let (params, args) = match second {
        Some(args) => (Some(first), args),
        None => (None, first),
    };
    Ok((
        i,
        Function {
            name: name.to_owned(),
            params,
            args,
            alias,
        },
    ))
}

// --- conditions -----------------------------------------------------------

fn or_condition(i: &str) -> Res<'_, Condition> {
    let (mut i, first) = and_condition(i)?;
    let mut items = vec![first];
    while let Ok((rest, _)) = clause("OR")(i) {
        let (rest, next) = cut((multispace0, and_condition))
            .map(|(_, c)| c)
            .parse(rest)?;
        items.push(next);
        i = rest;
    }
    Ok((i, single_or(items, Condition::Or)))
}

fn and_condition(i: &str) -> Res<'_, Condition> {
    let (mut i, first) = condition(i)?;
    let mut items = vec![first];
    while let Ok((rest, _)) = clause("AND")(i) {
        let (rest, next) = cut((multispace0, condition)).map(|(_, c)| c).parse(rest)?;
        items.push(next);
        i = rest;
    }
    Ok((i, single_or(items, Condition::And)))
}

fn single_or(mut items: Vec<Condition>, wrap: fn(Vec<Condition>) -> Condition) -> Condition {
    if items.len() == 1 {
        items.remove(0)
    } else {
        wrap(items)
    }
}

fn condition(i: &str) -> Res<'_, Condition> {
    expect(
        "a condition",
        alt((
            (char('('), multispace0, or_condition, multispace0, char(')')).map(|(_, _, c, _, _)| c),
            simple_condition,
        )),
    )
    .parse(i)
}

fn simple_condition(i: &str) -> Res<'_, Condition> {
    let (i, lhs) = expr(i)?;
    if let Ok((rest, _)) = clause("IS")(i) {
        let (rest, (_, not, _)) = cut((
            multispace1,
            opt((kw("NOT"), multispace1)),
            expect("`NULL` or `NOT NULL`", kw("NULL")),
        ))
        .parse(rest)?;
        return Ok((
            rest,
            Condition::IsNull {
                expr: lhs,
                negated: not.is_some(),
            },
        ));
    }
    let (i, _) = multispace0(i)?;
    let (i, op) = expect(
        "a comparison (`=`, `!=`, `<`, `IN`, `LIKE`, `IS NULL`, ...)",
        compare_op,
    )
    .parse(i)?;
    let (i, _) = multispace0(i)?;
    let (i, rhs) = cut(in_list_or_expr).parse(i)?;
    Ok((i, Condition::Compare { lhs, op, rhs }))
}

fn compare_op(i: &str) -> Res<'_, CompareOp> {
    alt((
        tag("!=").map(|_| CompareOp::NotEq),
        tag("<>").map(|_| CompareOp::NotEq),
        tag(">=").map(|_| CompareOp::GtEq),
        tag("<=").map(|_| CompareOp::LtEq),
        tag("=").map(|_| CompareOp::Eq),
        tag(">").map(|_| CompareOp::Gt),
        tag("<").map(|_| CompareOp::Lt),
        words("NOT", "IN").map(|_| CompareOp::NotIn),
        words("NOT", "LIKE").map(|_| CompareOp::NotLike),
        kw("IN").map(|_| CompareOp::In),
        kw("LIKE").map(|_| CompareOp::Like),
    ))
    .parse(i)
}

/// The right side of a comparison: an expression, or `(a, b, ...)`, read as
/// `tuple(a, b, ...)`.
fn in_list_or_expr(i: &str) -> Res<'_, Expr> {
    let mut list = (
        char('('),
        multispace0,
        separated_list1((multispace0, char(','), multispace0), expr),
        multispace0,
        char(')'),
    )
        .map(|(_, _, items, _, _)| items);
    let mut parsed = list.parse(i);
    if let Ok((_, items)) = &parsed {
        // `(a)` alone is a parenthesized expression, not a list.
        if items.len() < 2 {
            parsed = fail(i, "a list");
        }
    }
    match parsed {
        Ok((rest, items)) => Ok((rest, Expr::call("tuple", items))),
        Err(_) => expect("a value", expr).parse(i),
    }
}

// --- clauses --------------------------------------------------------------

fn sample(i: &str) -> Res<'_, f64> {
    let (i, _) = clause("SAMPLE")(i)?;
    let (i, _) = multispace1(i)?;
    let (rest, value) = cut(expect("a sample rate or row count", number)).parse(i)?;
    let value = match value {
        Literal::Int(n) => n as f64,
        Literal::Float(x) => x,
        _ => unreachable!("number() returns numbers"),
    };
    if value <= 0.0 {
        return Err(nom::Err::Failure(Fail {
            at: i,
            expected: Cow::Borrowed("a positive sample"),
        }));
    }
    Ok((rest, value))
}

fn entity(i: &str) -> Res<'_, EntityRef> {
    let (i, _) = (char('('), multispace0).parse(i)?;
    let (i, first) = expect("an entity name", name).parse(i)?;
    let (i, alias_and_name) = opt((multispace0, char(':'), multispace0, cut(name))).parse(i)?;
    let (alias, entity_name) = match alias_and_name {
        Some((_, _, _, entity_name)) => (Some(first.to_owned()), entity_name),
        None => (None, first),
    };
    let (i, sample) = opt(sample).parse(i)?;
    let (i, _) = (multispace0, expect("`)`", char(')'))).parse(i)?;
    Ok((
        i,
        EntityRef {
            alias,
            name: entity_name.to_owned(),
            sample,
        },
    ))
}

fn relationship(i: &str) -> Res<'_, Relationship> {
    let (i, lhs) = entity(i)?;
    let (i, _) = (multispace0, tag("-["), multispace0).parse(i)?;
    let (i, name) = cut(expect("a relationship name", name)).parse(i)?;
    let (i, _) = cut((multispace0, expect("`]->`", tag("]->")), multispace0)).parse(i)?;
    let (i, rhs) = cut(expect("an entity", entity)).parse(i)?;
    Ok((
        i,
        Relationship {
            lhs,
            name: name.to_owned(),
            rhs,
        },
    ))
}

fn source(i: &str) -> Res<'_, Source> {
    if let Ok((rest, _)) = char::<_, Fail<'_>>('{')(i) {
        let (rest, (_, query, _, _)) = cut((
            multispace0,
            query_exp,
            multispace0,
            expect("`}`", char('}')),
        ))
        .parse(rest)?;
        return Ok((rest, Source::Subquery(Box::new(query))));
    }
    if let Ok((rest, rels)) =
        separated_list1((multispace0, char(','), multispace0), relationship).parse(i)
    {
        return Ok((rest, Source::Join(rels)));
    }
    let (rest, entity) = expect("`(entity)`, a join or `{ subquery }`", entity).parse(i)?;
    if entity.alias.is_some() {
        return Err(nom::Err::Failure(Fail {
            at: rest,
            expected: Cow::Borrowed("a relationship `-[name]->` after an aliased entity"),
        }));
    }
    Ok((rest, Source::Entity(entity)))
}

fn selected(i: &str) -> Res<'_, Selected> {
    let (i, expr) = expr(i)?;
    let (i, alias) = if matches!(expr, Expr::Column(_) | Expr::Subscript { .. }) {
        opt(as_alias).parse(i)?
    } else {
        (i, None)
    };
    Ok((i, Selected { expr, alias }))
}

fn comma_list<'a, O>(item: fn(&'a str) -> Res<'a, O>) -> impl FnMut(&'a str) -> Res<'a, Vec<O>> {
    move |i| {
        let (mut i, first) = item(i)?;
        let mut items = vec![first];
        while let Ok((rest, _)) = (multispace0::<_, Fail<'a>>, char(',')).parse(i) {
            let (rest, (_, next)) = cut((multispace0, item)).parse(rest)?;
            items.push(next);
            i = rest;
        }
        Ok((i, items))
    }
}

fn order_item(i: &str) -> Res<'_, OrderBy> {
    let (i, expr) = expr(i)?;
    let (i, direction) = opt(alt((clause("ASC"), clause("DESC")))).parse(i)?;
    let descending = direction.is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
    Ok((i, OrderBy { expr, descending }))
}

fn after_keyword<'a, O>(
    keyword: impl FnMut(&'a str) -> Res<'a, ()>,
    mut body: impl Parser<&'a str, Output = O, Error = Fail<'a>>,
) -> impl FnMut(&'a str) -> Res<'a, Option<O>> {
    let mut keyword = keyword;
    move |i| match keyword(i) {
        Ok((rest, ())) => {
            let (rest, _) = cut(multispace1).parse(rest)?;
            let (rest, value) = cut(|x| body.parse(x)).parse(rest)?;
            Ok((rest, Some(value)))
        }
        Err(nom::Err::Error(_)) => Ok((i, None)),
        Err(e) => Err(e),
    }
}

fn one<'a>(word: &'static str) -> impl FnMut(&'a str) -> Res<'a, ()> {
    let mut c = clause(word);
    move |i| c(i).map(|(rest, _)| (rest, ()))
}

fn two<'a>(first: &'static str, second: &'static str) -> impl FnMut(&'a str) -> Res<'a, ()> {
    let mut w = words(first, second);
    move |i| {
        let (i, _) = multispace1(i)?;
        w(i)
    }
}

fn query_exp(i: &str) -> Res<'_, Query> {
    let (i, _) = expect("`MATCH`", kw("MATCH")).parse(i)?;
    let (i, _) = multispace0(i)?;
    let (i, from) = cut(source).parse(i)?;
    let (i, select) = after_keyword(one("SELECT"), comma_list(selected)).parse(i)?;
    let (i, group_by) = after_keyword(one("BY"), comma_list(selected)).parse(i)?;
    if select.is_none() && group_by.is_none() {
        return Err(nom::Err::Failure(Fail {
            at: i,
            expected: Cow::Borrowed("`SELECT` or `BY`"),
        }));
    }
    let (i, array_join) = after_keyword(two("ARRAY", "JOIN"), comma_list(expr)).parse(i)?;
    let (i, where_) = after_keyword(one("WHERE"), or_condition).parse(i)?;
    let (i, having) = after_keyword(one("HAVING"), or_condition).parse(i)?;
    let (i, order_by) = after_keyword(two("ORDER", "BY"), comma_list(order_item)).parse(i)?;
    let (i, first_limit) = after_keyword(one("LIMIT"), uint).parse(i)?;
    let (i, limit_columns) = match first_limit {
        Some(_) => after_keyword(one("BY"), comma_list(expr)).parse(i)?,
        None => (i, None),
    };
    let (i, limit_by, limit) = match (first_limit, limit_columns) {
        (Some(limit), Some(columns)) => {
            let (i, limit_after) = after_keyword(one("LIMIT"), uint).parse(i)?;
            (i, Some(LimitBy { limit, columns }), limit_after)
        }
        (limit, _) => (i, None, limit),
    };
    let (i, offset) = after_keyword(one("OFFSET"), uint).parse(i)?;
    let (i, granularity) = after_keyword(one("GRANULARITY"), uint).parse(i)?;
    let (i, totals) = after_keyword(
        one("TOTALS"),
        expect(
            "`true` or `false`",
            alt((kw("TRUE").map(|_| true), kw("FALSE").map(|_| false))),
        ),
    )
    .parse(i)?;
    Ok((
        i,
        Query {
            from,
            select: select.unwrap_or_default(),
            group_by: group_by.unwrap_or_default(),
            array_join: array_join.unwrap_or_default(),
            where_,
            having,
            order_by: order_by.unwrap_or_default(),
            limit_by,
            limit,
            offset,
            granularity,
            totals,
        },
    ))
}
