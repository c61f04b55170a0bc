use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::compile::has_wildcard;
use super::*;
use crate::plan::Plan;
use crate::snql::{self, CompareOp, Condition, Expr, Function, Literal, Query, Selected};
use crate::{render, validate};

/// 2024-05-01T00:00:00Z.
const NOW: i64 = 1_714_521_600;

fn round_trip(text: &str) -> SearchQuery {
    let query = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let printed = query.to_string();
    let again = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
    assert_eq!(again, query, "{text} printed as {printed}");
    assert_eq!(again.to_string(), printed);
    query
}

fn root(text: &str) -> Term {
    round_trip(text)
        .root
        .unwrap_or_else(|| panic!("{text}: empty"))
}

fn filter(key: Key, negated: bool, op: Op, value: Value) -> Term {
    Term::Filter(Filter {
        key,
        negated,
        op,
        value,
    })
}

fn field(name: &str) -> Key {
    Key::Field(name.to_owned())
}

fn tag(name: &str) -> Key {
    Key::Tag(name.to_owned())
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn error(text: &str) -> SearchError {
    match parse(text) {
        Ok(q) => panic!("{text} parsed as {q:?}"),
        Err(e) => e,
    }
}

fn compiled(text: &str) -> Compiled {
    let query = round_trip(text);
    compile(&query, NOW).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn where_of(text: &str) -> String {
    compiled(text)
        .where_
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn having_of(text: &str) -> String {
    compiled(text)
        .having
        .map(|c| c.to_string())
        .unwrap_or_default()
}

// --- parsing ------------------------------------------------------------------

#[test]
fn parses_filters_of_every_shape() {
    assert_eq!(
        root("level:error"),
        filter(field("level"), false, Op::Eq, text("error"))
    );
    assert_eq!(
        root("!level:error"),
        filter(field("level"), true, Op::Eq, text("error"))
    );
    assert_eq!(
        root(r#"message:"it \"failed\" at C:\\x""#),
        filter(
            field("message"),
            false,
            Op::Eq,
            text(r#"it "failed" at C:\x"#)
        )
    );
    assert_eq!(
        root(r#"release:[1.0, "2.0 beta",3.0]"#),
        filter(
            field("release"),
            false,
            Op::Eq,
            Value::List(vec!["1.0".into(), "2.0 beta".into(), "3.0".into()])
        )
    );
    assert_eq!(
        root("user.email:*@example.com"),
        filter(field("user.email"), false, Op::Eq, text("*@example.com"))
    );
    assert_eq!(
        root("times_seen:>=1.5k"),
        filter(field("times_seen"), false, Op::GtEq, Value::Number(1500.0))
    );
    assert_eq!(
        root("users_seen:<3m"),
        filter(field("users_seen"), false, Op::Lt, Value::Number(3e6))
    );
    assert_eq!(
        root("error.handled:0"),
        filter(field("error.handled"), false, Op::Eq, Value::Bool(false))
    );
    assert_eq!(
        root("level:=error"),
        filter(field("level"), false, Op::Eq, text("error"))
    );
    // A value may hold parentheses that it closes itself, and quotes.
    assert_eq!(
        root("stack.function:run(self) a\"b"),
        Term::And(vec![
            filter(field("stack.function"), false, Op::Eq, text("run(self)")),
            Term::Text("a\"b".into()),
        ])
    );
}

#[test]
fn parses_dates() {
    let date = |text: &str| match root(text) {
        Term::Filter(Filter {
            value: Value::Date(d),
            op,
            ..
        }) => (op, d),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        date("firstSeen:-24h"),
        (
            Op::Eq,
            DateValue::Relative {
                older: false,
                amount: 24,
                unit: TimeUnit::Hours
            }
        )
    );
    assert_eq!(
        date("last_seen:+2w"),
        (
            Op::Eq,
            DateValue::Relative {
                older: true,
                amount: 2,
                unit: TimeUnit::Weeks
            }
        )
    );
    assert_eq!(
        date("timestamp:>2024-04-01"),
        (
            Op::Gt,
            DateValue::Day(NaiveDate::from_ymd_opt(2024, 4, 1).unwrap())
        )
    );
    let ten = DateTime::from_timestamp(1_711_965_600, 0).unwrap(); // 2024-04-01T10:00:00Z
    for text in [
        "timestamp:<=2024-04-01T10:00:00",
        "timestamp:<=2024-04-01T10:00",
        "timestamp:<=2024-04-01T10:00:00Z",
        "timestamp:<=2024-04-01T10:00:00.999Z",
        "timestamp:<=2024-04-01T12:00:00+02:00",
        "timestamp:<=2024-04-01T07:30:00-0230",
        "event.timestamp:<=\"2024-04-01T10:00:00\"",
    ] {
        assert_eq!(date(text), (Op::LtEq, DateValue::Time(ten)), "{text}");
    }
}

#[test]
fn parses_keys_tags_and_has() {
    assert_eq!(
        root("browser:Chrome"),
        filter(tag("browser"), false, Op::Eq, text("Chrome"))
    );
    assert_eq!(
        root("tags[browser]:Chrome"),
        filter(tag("browser"), false, Op::Eq, text("Chrome"))
    );
    // `tags[...]` keeps a tag that shares a field's name.
    assert_eq!(
        root("tags[level]:x"),
        filter(tag("level"), false, Op::Eq, text("x"))
    );
    assert_eq!(
        root("tags[sentry:user]:x"),
        filter(tag("sentry:user"), false, Op::Eq, text("x"))
    );
    // Aliases read as the canonical field.
    for (alias, name) in [
        ("timesSeen:1", "times_seen"),
        ("firstSeen:-1d", "first_seen"),
        ("age:-1d", "first_seen"),
        ("lastSeen:-1d", "last_seen"),
        ("user_count:1", "users_seen"),
        ("id:abc", "event.id"),
        ("trace.id:abc", "trace"),
        ("event.timestamp:-1h", "timestamp"),
        ("type:error", "event.type"),
        ("email:a", "user.email"),
    ] {
        let Term::Filter(f) = root(alias) else {
            panic!()
        };
        assert_eq!(f.key, field(name), "{alias}");
    }
    assert_eq!(
        root("has:user.email"),
        Term::Has {
            key: field("user.email"),
            negated: false
        }
    );
    assert_eq!(
        root("!has:browser"),
        Term::Has {
            key: tag("browser"),
            negated: true
        }
    );
    assert_eq!(
        root("has:tags[level]"),
        Term::Has {
            key: tag("level"),
            negated: false
        }
    );
    assert_eq!(
        root("has:tags"),
        Term::Has {
            key: tag("tags"),
            negated: false
        }
    );
}

#[test]
fn parses_free_text_and_structure() {
    assert_eq!(parse("").unwrap().root, None);
    assert_eq!(parse(" \t\n ").unwrap().root, None);
    assert_eq!(
        root(r#"connection "reset by peer" !x :y 12:30"#),
        Term::And(vec![
            Term::Text("connection".into()),
            Term::Text("reset by peer".into()),
            Term::Text("!x".into()),
            Term::Text(":y".into()),
            Term::Text("12:30".into()),
        ])
    );
    let a = || Term::Text("a".into());
    let b = || Term::Text("b".into());
    let c = || Term::Text("c".into());
    // AND binds tighter than OR; AND may be written; parentheses group.
    assert_eq!(
        root("a b OR c"),
        Term::Or(vec![Term::And(vec![a(), b()]), c()])
    );
    assert_eq!(root("a AND b OR c"), root("a b OR c"));
    assert_eq!(
        root("a (b OR c)"),
        Term::And(vec![a(), Term::Or(vec![b(), c()])])
    );
    assert_eq!(
        root("(a b) c"),
        Term::And(vec![Term::And(vec![a(), b()]), c()])
    );
    assert_eq!(root("((a))"), a());
    // Lower-case `and`/`or` and words that start with them are text.
    assert_eq!(
        root("a or ORACLE"),
        Term::And(vec![
            a(),
            Term::Text("or".into()),
            Term::Text("ORACLE".into())
        ])
    );
    assert_eq!(root("OR:x"), filter(tag("OR"), false, Op::Eq, text("x")));
    assert_eq!(root("\"AND\""), Term::Text("AND".into()));
}

#[test]
fn prints_canonical_text() {
    for (text, printed) in [
        ("timesSeen:>=1.5k", "times_seen:>=1500"),
        ("firstSeen:-024h", "first_seen:-24h"),
        ("level:=error", "level:error"),
        ("tags[browser]:\"Chrome\"", "browser:Chrome"),
        ("tags[level]:x", "tags[level]:x"),
        ("tags[has]:x", "tags[has]:x"),
        ("has:tags[has]", "has:tags[has]"),
        ("a AND  b", "a b"),
        ("(a OR b) AND c", "(a OR b) c"),
        ("(a b) OR c", "a b OR c"),
        ("(a OR b) OR c", "(a OR b) OR c"),
        ("((a))", "a"),
        (
            "timestamp:2024-04-01T10:00+02:00",
            "timestamp:2024-04-01T08:00:00Z",
        ),
        ("error.handled:1", "error.handled:true"),
        ("\"ab\" \"a b\" \"a:b\" \"OR\"", "ab \"a b\" \"a:b\" \"OR\""),
        (
            "k:\"\" k:\"[x\" k:\">1\" k:\"a b\"",
            "k:\"\" k:\"[x\" k:\">1\" k:\"a b\"",
        ),
        ("k:[ a , \"b,c\" ,\"\"]", "k:[a, \"b,c\", \"\"]"),
        ("message:\"a\\\\b\\x\"", "message:a\\b\\x"),
        ("release:\"1.0 (beta)\"", "release:\"1.0 (beta)\""),
    ] {
        assert_eq!(round_trip(text).to_string(), printed, "{text}");
    }
}

// --- errors ---------------------------------------------------------------------

#[test]
fn errors_say_where_and_what() {
    let cases: &[(&str, usize, &str)] = &[
        ("level:error OR times_seen:>10", 15, "only be joined"),
        ("(times_seen:>1 OR a)", 1, "only be joined"),
        ("a OR (b is:resolved)", 8, "only be joined"),
        ("is:foo", 3, "unknown `is:` value `foo`"),
        ("is:[resolved, nope]", 14, "unknown `is:` value `nope`"),
        ("times_seen:>abc", 12, "expected a number"),
        ("times_seen:1e5", 11, "expected a number"),
        ("times_seen:[1, 2]", 11, "not a list"),
        ("firstSeen:2024-13-01", 10, "not a date"),
        ("firstSeen:yesterday", 10, "expected a date"),
        ("timestamp:2024-04-01T25:00", 10, "not a time of day"),
        (
            "timestamp:2024-04-01T10:00+24:00",
            10,
            "offset out of range",
        ),
        ("timestamp:9999-12-31T23:00-02:00", 10, "out of range"),
        ("first_seen:>-24h", 11, "takes no operator"),
        ("level:>error", 6, "compares numbers and dates"),
        ("browser:<=x", 8, "compares numbers and dates"),
        ("is:>x", 3, "takes no operator"),
        ("level:>[a]", 6, "a list takes no operator"),
        ("error.type:*Error", 11, "whole values only"),
        ("error.value:[a, b*]", 16, "whole values only"),
        ("error.handled:maybe", 14, "expected `true` or `false`"),
        ("has:times_seen", 4, "can be empty"),
        ("has:is", 4, "can be empty"),
        ("has:a/b", 4, "takes a field or tag name"),
        ("tags[a/b]:c", 0, "expected `tags[name]:value`"),
        ("(level:error", 0, "this `(` is never closed"),
        ("(a (b)", 0, "this `(` is never closed"),
        ("level:error)", 11, "this `)` closes no `(`"),
        (")", 0, "closes no"),
        ("()", 0, "empty parentheses"),
        ("a !(b OR c)", 2, "not a group"),
        ("\"unterminated", 0, "never closed"),
        ("message:\"a\\\"", 8, "never closed"),
        ("a OR", 2, "`OR` needs a term after it"),
        ("a OR OR b", 2, "`OR` needs a term after it"),
        ("OR a", 0, "`OR` needs a term before it"),
        ("a AND", 2, "`AND` needs a term after it"),
        ("(a AND) b", 3, "`AND` needs a term after it"),
        ("level:", 6, "expected a value after `level:`"),
        ("level: x", 6, "expected a value"),
        ("k:[]", 2, "at least one value"),
        ("k:[a", 2, "never closed"),
        ("k:[a b]", 5, "expected `,` or `]`"),
        ("k:[a,,b]", 5, "expected a value in the list"),
        ("\"a\"b", 3, "expected white space"),
        ("k:[a]b", 5, "expected white space"),
        ("(a)(b)", 3, "expected white space"),
    ];
    for (text, offset, message) in cases {
        let e = error(text);
        assert!(e.message.contains(message), "{text}: {e}");
        assert_eq!(e.offset, *offset, "{text}: {e}");
        assert_eq!(e.column, offset + 1, "{text}");
    }
    // Columns count characters, offsets bytes.
    let e = error("message:é OR times_seen:>1");
    assert_eq!((e.offset, e.column), (14, 14), "{e}");
    assert_eq!(
        e.to_string(),
        "`times_seen` filters whole issues, not events: it may only be joined to the rest \
         of the search by AND, not under OR at column 14"
    );
}

#[test]
fn limits_hold() {
    let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    round_trip(&nested(MAX_DEPTH));
    let e = error(&nested(MAX_DEPTH + 1));
    assert!(e.message.contains("nested deeper"), "{e}");
    assert_eq!(e.offset, MAX_DEPTH);

    let words = |n: usize| vec!["a"; n].join(" ");
    round_trip(&words(MAX_TERMS));
    let e = error(&words(MAX_TERMS + 1));
    assert!(e.message.contains("at most 256 terms"), "{e}");
    assert_eq!(e.offset, 2 * MAX_TERMS);

    let list = |n: usize| format!("k:[{}]", vec!["a"; n].join(","));
    round_trip(&list(MAX_LIST_ITEMS));
    let e = error(&list(MAX_LIST_ITEMS + 1));
    assert!(e.message.contains("at most 1000 values"), "{e}");

    // Too long, with a character across the limit: the offset stays on a
    // boundary.
    let long = format!("\"{}\"", "é".repeat(MAX_QUERY_LEN / 2));
    let e = error(&long);
    assert!(e.message.contains("longer than"), "{e}");
    assert!(e.offset <= MAX_QUERY_LEN && long.is_char_boundary(e.offset));
    assert_eq!(e.offset, MAX_QUERY_LEN - 1);

    // Hand-built trees beyond the limits do not compile.
    let mut deep = Term::Text("a".into());
    for _ in 0..100 {
        deep = Term::Or(vec![deep, Term::Text("b".into())]);
    }
    let e = compile(&SearchQuery { root: Some(deep) }, NOW).unwrap_err();
    assert!(e.message.contains("nests deeper"), "{e}");
    let wide = Term::And(vec![Term::Text("a".into()); MAX_TERMS + 1]);
    let e = compile(&SearchQuery { root: Some(wide) }, NOW).unwrap_err();
    assert!(e.message.contains("at most"), "{e}");
}

#[test]
fn hand_built_trees_are_checked() {
    let compile_one = |term: Term| compile(&SearchQuery { root: Some(term) }, NOW);
    let cases = [
        (
            filter(field("nope"), false, Op::Eq, text("x")),
            "unknown field `nope`",
        ),
        (
            filter(field("level"), false, Op::Gt, text("x")),
            "takes no operator",
        ),
        (
            filter(field("times_seen"), false, Op::Eq, text("x")),
            "does not take",
        ),
        (
            filter(field("is"), false, Op::Eq, text("nope")),
            "unknown `is:` value",
        ),
        (
            filter(field("level"), false, Op::Eq, Value::List(vec![])),
            "takes text or a list",
        ),
        (
            filter(field("error.type"), false, Op::Eq, text("a*")),
            "whole values only",
        ),
        (
            Term::Or(vec![
                filter(field("is"), false, Op::Eq, text("resolved")),
                Term::Text("a".into()),
            ]),
            "only be joined",
        ),
        (
            Term::Has {
                key: field("first_seen"),
                negated: false,
            },
            "can be empty",
        ),
        (Term::And(vec![]), "empty AND"),
    ];
    for (term, message) in cases {
        let e = compile_one(term.clone()).unwrap_err();
        assert!(e.message.contains(message), "{term:?}: {e}");
    }
    // Aliases are accepted in hand-built trees.
    let ok = compile_one(filter(
        field("timesSeen"),
        false,
        Op::Gt,
        Value::Number(1.0),
    ))
    .unwrap();
    assert_eq!(ok.having.unwrap().to_string(), "count() > 1");
}

// --- compiling ------------------------------------------------------------------

#[test]
fn compiles_text_fields() {
    for (search, condition) in [
        ("level:error", "level = 'error'"),
        ("!level:error", "ifNull(level, '') != 'error'"),
        ("level:[error, fatal]", "level IN tuple('error', 'fatal')"),
        (
            "!level:[error, fatal]",
            "ifNull(level, '') NOT IN tuple('error', 'fatal')",
        ),
        (
            "level:[error, \"\"]",
            "ifNull(level, '') IN tuple('error', '')",
        ),
        ("level:\"\"", "ifNull(level, '') = ''"),
        ("!level:\"\"", "ifNull(level, '') != ''"),
        ("message:foo", "message = 'foo'"),
        ("!message:foo", "message != 'foo'"),
        (
            "user.email:*@example.com",
            "user_email LIKE '%@example.com'",
        ),
        (
            "!user.email:*@example.com",
            "ifNull(user_email, '') NOT LIKE '%@example.com'",
        ),
        (
            "level:[error, warn*]",
            "level IN tuple('error') OR level LIKE 'warn%'",
        ),
        (
            "!level:[error, warn*]",
            "ifNull(level, '') NOT IN tuple('error') AND ifNull(level, '') NOT LIKE 'warn%'",
        ),
        (r#"title:"a\\*b""#, "title = 'a*b'"),
        (r#"title:a\*b*"#, "title LIKE 'a*b%'"),
        ("user.ip:127.0.0.1", "ip_address = '127.0.0.1'"),
        ("os.name:Linux", "os_name = 'Linux'"),
        ("http.method:POST", "http_method = 'POST'"),
        ("event.type:error", "type = 'error'"),
        (
            "event.id:9EC79C33-EC99-42AB-8353-589FCB2E04DC",
            "event_id = '9ec79c33ec9942ab8353589fcb2e04dc'",
        ),
        ("trace:ABC*", "trace_id LIKE 'abc%'"),
        ("browser:Chrome", "tags[browser] = 'Chrome'"),
        ("!browser:Chrome", "tags[browser] != 'Chrome'"),
        ("tags[level]:x", "tags[level] = 'x'"),
        ("browser:Chr*me", "tags[browser] LIKE 'Chr%me'"),
        ("!browser:[a, b]", "tags[browser] NOT IN tuple('a', 'b')"),
    ] {
        assert_eq!(where_of(search), condition, "{search}");
    }
    // LIKE's own characters are escaped with a backslash; in SnQL text the
    // backslash is itself escaped.
    let c = compiled("transaction:/api/*_v1%\\").where_.unwrap();
    assert_eq!(
        c,
        Condition::compare(
            Expr::column("transaction"),
            CompareOp::Like,
            Expr::string("/api/%\\_v1\\%\\\\")
        )
    );
}

#[test]
fn compiles_has_arrays_and_flags() {
    for (search, condition) in [
        ("has:browser", "has(tags.key, 'browser') = 1"),
        ("!has:browser", "has(tags.key, 'browser') = 0"),
        ("has:level", "ifNull(level, '') != ''"),
        ("!has:level", "ifNull(level, '') = ''"),
        ("has:message", "message != ''"),
        ("has:error.type", "notEmpty(exception_stacks.type) = 1"),
        ("!has:stack.module", "empty(exception_frames.module) = 1"),
        ("has:error.handled", "handled IS NOT NULL"),
        ("!has:error.unhandled", "handled IS NULL"),
        (
            "error.type:KeyError",
            "has(exception_stacks.type, 'KeyError') = 1",
        ),
        (
            "!error.type:KeyError",
            "has(exception_stacks.type, 'KeyError') = 0",
        ),
        (
            "error.value:[a, b]",
            "has(exception_stacks.value, 'a') = 1 OR has(exception_stacks.value, 'b') = 1",
        ),
        (
            "!stack.filename:[a, b]",
            "has(exception_frames.filename, 'a') = 0 AND has(exception_frames.filename, 'b') = 0",
        ),
        (
            "stack.function:\"\"",
            "empty(exception_frames.function) = 1",
        ),
        (r"error.type:a\*b", "has(exception_stacks.type, 'a*b') = 1"),
        ("error.handled:false", "handled = 0"),
        ("error.handled:yes", "handled = 1"),
        ("error.unhandled:true", "handled = 0"),
        ("!error.handled:true", "handled IS NULL OR handled != 1"),
    ] {
        assert_eq!(where_of(search), condition, "{search}");
    }
}

#[test]
fn compiles_free_text() {
    assert_eq!(
        where_of("Connection"),
        "lower(title) LIKE '%connection%' OR lower(message) LIKE '%connection%'"
    );
    // Each word is a term; a quoted phrase is one.
    assert_eq!(
        where_of("a \"B c\""),
        "(lower(title) LIKE '%a%' OR lower(message) LIKE '%a%') AND \
         (lower(title) LIKE '%b c%' OR lower(message) LIKE '%b c%')"
    );
    let c = compiled("\"50%_DONE\" x*Y").where_.unwrap();
    let likes: Vec<String> = c
        .conjuncts()
        .iter()
        .map(|c| match c {
            Condition::Or(items) => match &items[0] {
                Condition::Compare {
                    rhs: Expr::Literal(Literal::String(s)),
                    ..
                } => s.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(likes, ["%50\\%\\_done%", "%x%y%"]);
    // Only ASCII is lower-cased, as `lower` does.
    assert_eq!(
        where_of("ÉTÉ"),
        "lower(title) LIKE '%ÉtÉ%' OR lower(message) LIKE '%ÉtÉ%'"
    );
}

#[test]
fn compiles_times_and_aggregates() {
    for (search, condition) in [
        ("timestamp:-1h", "timestamp >= '2024-04-30T23:00:00'"),
        ("!timestamp:-1h", "timestamp < '2024-04-30T23:00:00'"),
        ("timestamp:+1d", "timestamp <= '2024-04-30T00:00:00'"),
        (
            "event.timestamp:>2024-04-01",
            "timestamp >= '2024-04-02T00:00:00'",
        ),
        (
            "timestamp:>=2024-04-01",
            "timestamp >= '2024-04-01T00:00:00'",
        ),
        ("timestamp:<2024-04-01", "timestamp < '2024-04-01T00:00:00'"),
        (
            "timestamp:<=2024-04-01",
            "timestamp < '2024-04-02T00:00:00'",
        ),
        (
            "timestamp:2024-04-01",
            "timestamp >= '2024-04-01T00:00:00' AND timestamp < '2024-04-02T00:00:00'",
        ),
        (
            "!timestamp:2024-04-01",
            "timestamp < '2024-04-01T00:00:00' OR timestamp >= '2024-04-02T00:00:00'",
        ),
        (
            "timestamp:<=2024-04-01T10:00:00+02:00",
            "timestamp <= '2024-04-01T08:00:00'",
        ),
        (
            "timestamp:2024-04-01T10:00:00",
            "timestamp = '2024-04-01T10:00:00'",
        ),
        // Far times stay within what a DateTime holds.
        (
            "timestamp:-4000000000w",
            "timestamp >= '1970-01-01T00:00:00'",
        ),
        (
            "timestamp:>0001-01-01",
            "timestamp >= '1970-01-01T00:00:00'",
        ),
    ] {
        assert_eq!(where_of(search), condition, "{search}");
    }
    for (search, condition) in [
        ("times_seen:>1k", "count() > 1000"),
        ("times_seen:10", "count() = 10"),
        ("!times_seen:>10", "count() <= 10"),
        ("!times_seen:10", "count() != 10"),
        ("users_seen:>=2.5", "uniq(user) >= 2.5"),
        ("userCount:<-3", "uniq(user) < -3"),
        ("firstSeen:+7d", "min(timestamp) <= '2024-04-24T00:00:00'"),
        ("lastSeen:-24h", "max(timestamp) >= '2024-04-30T00:00:00'"),
        ("age:-30m", "min(timestamp) >= '2024-04-30T23:30:00'"),
        (
            "last_seen:2024-04-01",
            "max(timestamp) >= '2024-04-01T00:00:00' AND max(timestamp) < '2024-04-02T00:00:00'",
        ),
        (
            "!first_seen:>2024-04-01T00:00:00",
            "min(timestamp) <= '2024-04-01T00:00:00'",
        ),
    ] {
        assert_eq!(having_of(search), condition, "{search}");
        assert_eq!(where_of(search), "", "{search}");
    }
}

#[test]
fn splits_where_having_and_issue_filters() {
    let c = compiled(
        "is:unresolved !assigned:[me, #team] level:error times_seen:>10 \
         (browser:Chrome OR !has:release) bookmarks:me last_seen:-1d is:[for_review, linked]",
    );
    assert_eq!(
        c.where_.unwrap().to_string(),
        "level = 'error' AND (tags[browser] = 'Chrome' OR ifNull(release, '') = '')"
    );
    assert_eq!(
        c.having.unwrap().to_string(),
        "count() > 10 AND max(timestamp) >= '2024-04-30T00:00:00'"
    );
    let issue = |key: &str, negated, values: &[&str]| IssueFilter {
        key: key.to_owned(),
        negated,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    };
    assert_eq!(
        c.issue,
        [
            issue("is", false, &["unresolved"]),
            issue("assigned", true, &["me", "#team"]),
            issue("bookmarks", false, &["me"]),
            issue("is", false, &["for_review", "linked"]),
        ]
    );
    // Parentheses without OR keep them at the top level.
    let c = compiled("(times_seen:>1 is:resolved) a");
    assert!(c.having.is_some() && c.issue.len() == 1 && c.where_.is_some());
    // Nothing to filter.
    assert_eq!(compiled(""), Compiled::default());
    assert_eq!(
        compiled("is:unresolved"),
        Compiled {
            where_: None,
            having: None,
            issue: vec![issue("is", false, &["unresolved"])]
        }
    );
}

// --- validation and execution ------------------------------------------------------

/// The issue-list query around a compiled search, as Sentry's issue search
/// sends it, checked by validation after a trip through SnQL text.
fn issue_query(compiled: &Compiled) -> Plan {
    let mut conditions = vec![
        Condition::compare(Expr::column("project_id"), CompareOp::Eq, Expr::int(1)),
        Condition::compare(
            Expr::column("timestamp"),
            CompareOp::GtEq,
            Expr::string("2024-04-01T00:00:00"),
        ),
        Condition::compare(
            Expr::column("timestamp"),
            CompareOp::Lt,
            Expr::string("2024-05-02T00:00:00"),
        ),
    ];
    conditions.extend(compiled.where_.clone());
    let mut query = Query::new("events");
    query.group_by = vec![Selected {
        expr: Expr::column("group_id"),
        alias: None,
    }];
    query.select = vec![Selected {
        expr: Expr::Function(Function {
            name: "count".into(),
            params: None,
            args: vec![],
            alias: Some("times_seen".into()),
        }),
        alias: None,
    }];
    query.where_ = Some(Condition::And(conditions));
    query.having = compiled.having.clone();
    let text = query.to_string();
    let reparsed = snql::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(reparsed, query, "{text}");
    let plan = validate::validate(&query).unwrap_or_else(|e| panic!("{text}: {e}"));
    // Both dialects render it.
    render::clickhouse(&plan);
    render::sqlite(&plan);
    plan
}

/// One search of every kind of filter.
const EVERY_KIND: &[&str] = &[
    "level:error",
    "!level:error",
    "level:[error, fatal]",
    "!level:[error, warn*]",
    "level:\"\"",
    "message:foo !message:bar title:*x* !culprit:a* location:x transaction:/api/*",
    "release:1.0 dist:x environment:production platform:python logger:root",
    "user:id:1 user.id:1 user.email:*@example.com !user.username:bob user.ip:127.0.0.1",
    "sdk.name:sentry.python sdk.version:1.* os.name:Linux browser.name:Chrome",
    "http.method:GET http.url:https://* http.referer:x trace:abc event.id:abc event.type:error",
    "browser:Chrome !browser:Firefox tags[level]:x tags[sentry:user]:[a, b*]",
    "has:browser !has:browser has:level !has:level has:message has:error.type !has:stack.module",
    "has:error.handled !has:trace",
    "error.type:KeyError !error.type:KeyError error.value:[a, b] !stack.filename:[a, b]",
    "stack.function:\"\" stack.module:x",
    "error.handled:true !error.handled:false error.unhandled:true",
    "connection \"reset by peer\" 50%_done x*y",
    "timestamp:-1h !timestamp:+1d event.timestamp:>2024-04-01 !timestamp:2024-04-02",
    "timestamp:<=2024-04-01T10:00:00+02:00 timestamp:2024-04-01T10:00:00",
    "times_seen:>1k !times_seen:10 users_seen:>=2.5 userCount:<3",
    "firstSeen:+7d lastSeen:-24h age:-30m !last_seen:2024-04-01 first_seen:>2024-04-01T00:00:00",
    "is:unresolved assigned:me bookmarks:me (level:error OR browser:x)",
    "(level:error OR (browser:Chrome !has:release)) (a OR b) times_seen:>1",
];

#[test]
fn every_kind_of_filter_passes_validation() {
    for search in EVERY_KIND {
        let c = compiled(search);
        issue_query(&c);
    }
}

/// The events of three issues, at times before [`NOW`].
fn events() -> Vec<crate::storage::Row> {
    let mut rows = Vec::new();
    let mut add = |group: u64, ago: i64, fields: Json| {
        let mut row = json!({
            "project_id": 1,
            "group_id": group,
            "event_id": format!("{:032x}", rows.len() + 1),
            "timestamp": NOW - ago,
            "primary_hash": format!("{group:032x}"),
        });
        let (Json::Object(row_map), Json::Object(extra)) = (&mut row, fields) else {
            unreachable!()
        };
        row_map.extend(extra);
        rows.push(row_map.clone());
    };
    let one_hour = 3600;
    let day = 86_400;
    // Group 1: two users, a handled=0 ConnectionError in Chrome, one event
    // an hour ago and one two days ago.
    for (ago, user) in [(one_hour, "id:1"), (2 * day, "id:2")] {
        add(
            1,
            ago,
            json!({
                "level": "error", "environment": "production", "user": user,
                "title": "ConnectionError: connection reset",
                "message": "connection reset by peer",
                "user_email": "a@example.com", "handled": 0,
                "tags.key": ["browser", "level"], "tags.value": ["Chrome", "error"],
                "exception_stacks.type": ["ConnectionError"],
                "exception_stacks.value": ["reset"],
            }),
        );
    }
    // Group 2: three events ten days ago, KeyError and ValueError, handled,
    // no environment, a decoy message for unescaped LIKE patterns.
    for i in 0..3 {
        add(
            2,
            10 * day + i,
            json!({
                "level": "warning", "user": "id:9", "title": "KeyError: 'foo'",
                "message": "50 and 1done", "handled": 1,
                "tags.key": ["browser"], "tags.value": ["Firefox"],
                "exception_stacks.type": ["KeyError", "ValueError"],
                "exception_stacks.value": [null, "x"],
            }),
        );
    }
    // Group 3: a message a few minutes ago, no tags, no exception.
    add(
        3,
        100,
        json!({
            "level": "error", "environment": "staging", "title": "Timeout 50%_done",
            "message": "a\\b path", "user_email": "b@test.org",
            "tags.key": [], "tags.value": [],
        }),
    );
    rows
}

#[test]
fn searches_find_the_right_issues_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::sqlite::SqliteEventStore::open(dir.path().join("events.sqlite")).unwrap();
    store.insert(&crate::entity::EVENTS, &events()).unwrap();
    let cases: &[(&str, &[u64])] = &[
        ("", &[1, 2, 3]),
        ("level:error", &[1, 3]),
        ("!level:error", &[2]),
        ("level:[warning, fatal]", &[2]),
        ("level:warn*", &[2]),
        ("environment:production", &[1]),
        ("!environment:production", &[2, 3]),
        ("has:environment", &[1, 3]),
        ("!has:environment", &[2]),
        ("environment:\"\"", &[2]),
        ("browser:Chrome", &[1]),
        ("!browser:Chrome", &[2, 3]),
        ("has:browser", &[1, 2]),
        ("!has:browser", &[3]),
        ("tags[level]:error", &[1]),
        ("user.email:*@example.com", &[1]),
        ("!user.email:*@example.com", &[2, 3]),
        ("error.type:KeyError", &[2]),
        ("error.type:[KeyError, ConnectionError]", &[1, 2]),
        ("!error.type:KeyError", &[1, 3]),
        ("has:error.type", &[1, 2]),
        ("!has:error.type", &[3]),
        ("error.value:x", &[2]),
        ("error.handled:false", &[1]),
        ("error.unhandled:true", &[1]),
        ("!error.handled:false", &[2, 3]),
        ("has:error.handled", &[1, 2]),
        ("connection", &[1]),
        ("CONNECTION RESET", &[1]),
        ("\"reset by peer\"", &[1]),
        ("keyerror", &[2]),
        ("50%_done", &[3]),
        ("50*done", &[2, 3]),
        ("\"a\\\\b\"", &[3]),
        ("times_seen:>2", &[2]),
        ("times_seen:>=2", &[1, 2]),
        ("!times_seen:>=2", &[3]),
        ("users_seen:2", &[1]),
        ("first_seen:-24h", &[3]),
        ("last_seen:-24h", &[1, 3]),
        ("first_seen:+7d", &[2]),
        ("timestamp:-24h", &[1, 3]),
        ("timestamp:-24h times_seen:1", &[1, 3]),
        ("level:error OR browser:Firefox", &[1, 2, 3]),
        (
            "(level:error browser:Chrome) OR environment:staging",
            &[1, 3],
        ),
        ("is:unresolved level:warning", &[2]),
    ];
    for (search, expected) in cases {
        let c = compiled(search);
        let plan = issue_query(&c);
        let result = store
            .query(&plan)
            .unwrap_or_else(|e| panic!("{search}: {e}\n{}", render::sqlite(&plan)));
        let groups: BTreeSet<u64> = result
            .data
            .iter()
            .map(|row| row["group_id"].as_u64().unwrap())
            .collect();
        let expected: BTreeSet<u64> = expected.iter().copied().collect();
        assert_eq!(groups, expected, "{search}\n{}", render::sqlite(&plan));
    }
}

// --- properties -----------------------------------------------------------------

fn any_text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9_.@/-]{1,8}",
        "[ a-z\"\\\\*():,!<>=%_\\[\\]-]{0,8}",
        "\\PC{0,6}",
        Just("AND".to_owned()),
        Just("OR".to_owned()),
    ]
    .boxed()
}

fn without_wildcard() -> BoxedStrategy<String> {
    any_text()
        .prop_filter("no wildcard", |t| !has_wildcard(t))
        .boxed()
}

fn tag_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.:-]{1,10}",
        prop::sample::select(vec![
            "level",
            "has",
            "tags",
            "is",
            "browser",
            "OR",
            "times_seen"
        ])
        .prop_map(str::to_owned),
    ]
}

fn fields_of(pick: fn(FieldKind) -> bool) -> Vec<&'static str> {
    FIELDS
        .iter()
        .filter(|f| pick(f.kind))
        .map(|f| f.name)
        .collect()
}

fn text_or_list(item: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Value> {
    prop_oneof![
        item.clone().prop_map(Value::Text),
        prop::collection::vec(item, 1..4).prop_map(Value::List),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![Op::Eq, Op::Lt, Op::LtEq, Op::Gt, Op::GtEq])
}

fn unit() -> impl Strategy<Value = TimeUnit> {
    prop::sample::select(vec![
        TimeUnit::Seconds,
        TimeUnit::Minutes,
        TimeUnit::Hours,
        TimeUnit::Days,
        TimeUnit::Weeks,
    ])
}

/// A date value with an operator it may take.
fn date() -> impl Strategy<Value = (Op, DateValue)> {
    prop_oneof![
        (any::<bool>(), any::<u32>(), unit()).prop_map(|(older, amount, unit)| (
            Op::Eq,
            DateValue::Relative {
                older,
                amount,
                unit
            }
        )),
        (any_op(), 1i32..=3_652_059).prop_map(|(op, days)| (
            op,
            DateValue::Day(NaiveDate::from_num_days_from_ce_opt(days).unwrap())
        )),
        (any_op(), -62_135_596_800i64..=253_402_300_799).prop_map(|(op, secs)| (
            op,
            DateValue::Time(DateTime::from_timestamp(secs, 0).unwrap())
        )),
    ]
}

fn key_of(names: Vec<&'static str>) -> impl Strategy<Value = Key> {
    prop::sample::select(names).prop_map(|n| Key::Field(n.to_owned()))
}

/// A term about one event.
fn event_leaf() -> impl Strategy<Value = Term> {
    let text_key = prop_oneof![
        tag_name().prop_map(Key::Tag),
        key_of(fields_of(|k| matches!(
            k,
            FieldKind::Text { .. } | FieldKind::Id { .. }
        ))),
    ];
    let has_key = prop_oneof![
        tag_name().prop_map(Key::Tag),
        key_of(fields_of(FieldKind::can_be_empty)),
    ];
    prop_oneof![
        any_text().prop_map(Term::Text),
        (has_key, any::<bool>()).prop_map(|(key, negated)| Term::Has { key, negated }),
        (text_key, any::<bool>(), text_or_list(any_text()))
            .prop_map(|(key, negated, value)| filter(key, negated, Op::Eq, value)),
        (
            key_of(fields_of(|k| matches!(k, FieldKind::Array { .. }))),
            any::<bool>(),
            text_or_list(without_wildcard())
        )
            .prop_map(|(key, negated, value)| filter(key, negated, Op::Eq, value)),
        (
            key_of(vec!["error.handled", "error.unhandled"]),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(key, negated, b)| filter(key, negated, Op::Eq, Value::Bool(b))),
        (any::<bool>(), date()).prop_map(|(negated, (op, d))| filter(
            field("timestamp"),
            negated,
            op,
            Value::Date(d)
        )),
    ]
}

/// A filter on whole issues: aggregates and issue attributes.
fn issue_leaf() -> impl Strategy<Value = Term> {
    let finite = any::<f64>().prop_filter("finite", |x| x.is_finite());
    prop_oneof![
        (
            key_of(vec!["times_seen", "users_seen"]),
            any::<bool>(),
            any_op(),
            finite
        )
            .prop_map(|(key, negated, op, n)| filter(key, negated, op, Value::Number(n))),
        (
            key_of(vec!["first_seen", "last_seen"]),
            any::<bool>(),
            date()
        )
            .prop_map(|(key, negated, (op, d))| filter(key, negated, op, Value::Date(d))),
        (
            any::<bool>(),
            text_or_list(prop::sample::select(IS_VALUES.to_vec()).prop_map(str::to_owned))
        )
            .prop_map(|(negated, value)| filter(field("is"), negated, Op::Eq, value)),
        (
            key_of(vec!["assigned", "assigned_or_suggested", "bookmarks"]),
            any::<bool>(),
            text_or_list(any_text())
        )
            .prop_map(|(key, negated, value)| filter(key, negated, Op::Eq, value)),
    ]
}

fn event_term() -> impl Strategy<Value = Term> {
    event_leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Term::And),
            prop::collection::vec(inner, 2..4).prop_map(Term::Or),
        ]
    })
}

fn query() -> impl Strategy<Value = SearchQuery> {
    (
        prop::collection::vec(issue_leaf(), 0..3),
        prop::collection::vec(event_term(), 0..3),
    )
        .prop_map(|(mut terms, events)| {
            terms.extend(events);
            let root = match terms.len() {
                0 => None,
                1 => terms.pop(),
                _ => Some(Term::And(terms)),
            };
            SearchQuery { root }
        })
}

/// Text made of the pieces of the language, for the parser's corners.
fn search_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            " ",
            " OR ",
            " AND ",
            "(",
            ")",
            "\"",
            "\\",
            "!",
            ":",
            "[",
            "]",
            ",",
            "*",
            "a:",
            "level:",
            "has:",
            "is:",
            "tags[",
            "times_seen:>",
            "first_seen:",
            "timestamp:<=",
            "error.type:",
            "error.handled:",
            "-24h",
            "+7d",
            "2024-01-01",
            "T10:00:00Z",
            "1.5k",
            "é",
            "unresolved",
            "true",
        ])
        .prop_map(str::to_owned),
        "[a-z0-9]{1,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// What must hold for any text: no panic; an error inside the text on a
/// boundary; what parses prints back to itself, compiles and validates.
fn check_any_text(text: &str) -> Result<(), TestCaseError> {
    match parse(text) {
        Ok(query) => {
            let printed = query.to_string();
            if printed.len() <= MAX_QUERY_LEN {
                let again = parse(&printed)
                    .map_err(|e| TestCaseError::fail(format!("{text:?} -> {printed:?}: {e}")))?;
                prop_assert_eq!(&again, &query, "{:?} -> {:?}", text, printed);
                prop_assert_eq!(again.to_string(), printed);
            }
            let compiled =
                compile(&query, NOW).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            issue_query(&compiled);
        }
        Err(e) => {
            prop_assert!(e.offset <= text.len() && text.is_char_boundary(e.offset));
            prop_assert_eq!(e.column, text[..e.offset].chars().count() + 1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_then_parsing_gives_the_same_search(q in query()) {
        let text = q.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(&parsed, &q, "{}", text);
        let compiled = compile(&q, NOW).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        issue_query(&compiled);
    }

    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        check_any_text(&text)?;
    }

    #[test]
    fn parsing_pieces_of_the_language_never_panics(text in search_soup()) {
        check_any_text(&text)?;
    }

    #[test]
    fn prefixes_of_a_search_never_panic(q in query(), cut_at in any::<prop::sample::Index>()) {
        let text = q.to_string();
        let mut end = cut_at.index(text.len() + 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        check_any_text(&text[..end])?;
    }
}
