use proptest::prelude::*;

use super::*;

fn round_trip(text: &str) -> Query {
    let query = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let printed = query.to_string();
    let again = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
    assert_eq!(again, query, "{printed}");
    query
}

#[test]
fn parses_a_query_as_sentry_sends_it() {
    let q = round_trip(
        "MATCH (events)
         SELECT count() AS times_seen, uniq(user) AS users, max(timestamp) AS last_seen
         BY group_id
         WHERE project_id IN tuple(1, 2)
           AND timestamp >= toDateTime('2024-05-01T00:00:00')
           AND timestamp < toDateTime('2024-05-02T00:00:00')
           AND tags[environment] = 'production'
           AND (level = 'error' OR level = 'fatal')
         HAVING times_seen > 10
         ORDER BY times_seen DESC, group_id ASC
         LIMIT 100 OFFSET 20",
    );
    assert_eq!(q.select.len(), 3);
    assert_eq!(q.select[0].name(), "times_seen");
    assert_eq!(q.group_by[0].expr, Expr::column("group_id"));
    let Some(Condition::And(items)) = &q.where_ else {
        panic!("expected AND")
    };
    assert_eq!(items.len(), 5);
    assert_eq!(
        items[3],
        Condition::compare(
            Expr::Subscript {
                column: "tags".into(),
                key: "environment".into()
            },
            CompareOp::Eq,
            Expr::string("production")
        )
    );
    assert!(matches!(&items[4], Condition::Or(or) if or.len() == 2));
    assert_eq!(q.limit, Some(100));
    assert_eq!(q.offset, Some(20));
    assert!(q.order_by[0].descending);
}

#[test]
fn parses_every_clause() {
    let q = round_trip(
        "MATCH (transactions SAMPLE 0.1) SELECT quantile(0.95)(duration) AS p95 \
         BY transaction ARRAY JOIN spans.op WHERE project_id = 1 \
         HAVING p95 > 100.5 ORDER BY p95 DESC LIMIT 1 BY transaction LIMIT 10 \
         OFFSET 5 GRANULARITY 3600 TOTALS true",
    );
    let Source::Entity(entity) = &q.from else {
        panic!("entity")
    };
    assert_eq!(entity.sample, Some(0.1));
    let Expr::Function(p95) = &q.select[0].expr else {
        panic!("function")
    };
    assert_eq!(p95.params, Some(vec![Expr::Literal(Literal::Float(0.95))]));
    assert_eq!(p95.args, vec![Expr::column("duration")]);
    assert_eq!(p95.alias.as_deref(), Some("p95"));
    assert_eq!(q.array_join, vec![Expr::column("spans.op")]);
    assert_eq!(
        q.limit_by,
        Some(LimitBy {
            limit: 1,
            columns: vec![Expr::column("transaction")]
        })
    );
    assert_eq!(
        (q.limit, q.offset, q.granularity, q.totals),
        (Some(10), Some(5), Some(3600), Some(true))
    );
}

#[test]
fn keywords_are_case_insensitive_and_space_is_free() {
    let a = round_trip("match (events) select count() where project_id=1 order by count() desc");
    let b =
        round_trip("MATCH(events)\nSELECT count()\n\tWHERE project_id = 1 ORDER BY count() DESC");
    assert_eq!(a, b);
}

#[test]
fn parses_joins_and_subqueries() {
    let q = round_trip(
        "MATCH (e: events) -[grouped]-> (g: groupedmessage), (e: events) -[assigned]-> (a: groupassignee) \
         SELECT count() AS c BY e.group_id WHERE e.project_id = 1 AND g.status = 0",
    );
    let Source::Join(rels) = &q.from else {
        panic!("join")
    };
    assert_eq!(rels.len(), 2);
    assert_eq!(rels[0].lhs.alias.as_deref(), Some("e"));
    assert_eq!(rels[1].rhs.name, "groupassignee");
    let q = round_trip(
        "MATCH { MATCH (transactions) SELECT avg(duration) AS avg_d BY transaction } SELECT max(avg_d)",
    );
    assert!(matches!(q.from, Source::Subquery(_)));
}

#[test]
fn parses_conditions() {
    let q = round_trip(
        "MATCH (events) SELECT count() WHERE a IS NULL AND b IS NOT NULL AND c NOT IN (1, 2) \
         AND d LIKE '%x%' AND e NOT LIKE 'y' AND f IN ('a') AND g <> 1 AND (h + 1) * 2 >= 3",
    );
    let Some(where_) = &q.where_ else { panic!() };
    let items = where_.conjuncts();
    assert_eq!(items.len(), 8);
    assert_eq!(
        items[0],
        &Condition::IsNull {
            expr: Expr::column("a"),
            negated: false
        }
    );
    assert!(matches!(items[1], Condition::IsNull { negated: true, .. }));
    assert_eq!(
        items[2],
        &Condition::compare(
            Expr::column("c"),
            CompareOp::NotIn,
            Expr::call("tuple", vec![Expr::int(1), Expr::int(2)])
        )
    );
    // `IN ('a')`: one parenthesized value.
    assert_eq!(
        items[5],
        &Condition::compare(Expr::column("f"), CompareOp::In, Expr::string("a"))
    );
    assert!(matches!(
        items[6],
        Condition::Compare {
            op: CompareOp::NotEq,
            ..
        }
    ));
}

#[test]
fn arithmetic_binds_as_usual() {
    let q = round_trip("MATCH (e) SELECT a + b * c - d / (e - f)");
    assert_eq!(
        q.select[0].expr.to_string(),
        "a + b * c - d / (e - f)",
        "printing keeps the shape"
    );
    let Expr::Arithmetic { op, lhs, .. } = &q.select[0].expr else {
        panic!()
    };
    assert_eq!(*op, ArithOp::Sub);
    assert!(matches!(
        **lhs,
        Expr::Arithmetic {
            op: ArithOp::Add,
            ..
        }
    ));
    round_trip("MATCH (e) SELECT a - -1, -2.5e3 * 4, a-1");
}

#[test]
fn parses_literals_and_lambdas() {
    let q = round_trip(
        "MATCH (e) SELECT 'it\\'s \\\\ here', NULL, true, FALSE, 1.5, -7, \
         arrayExists((`x`) -> equals(`x`, 'a'), tags.key) AS found, count() AS `count()`",
    );
    assert_eq!(q.select[0].expr, Expr::string("it's \\ here"));
    assert_eq!(q.select[1].expr, Expr::Literal(Literal::Null));
    assert_eq!(q.select[3].expr, Expr::Literal(Literal::Bool(false)));
    assert_eq!(q.select[5].expr, Expr::int(-7));
    let Expr::Function(f) = &q.select[6].expr else {
        panic!()
    };
    assert!(matches!(&f.args[0], Expr::Lambda { params, .. } if params == &["x"]));
    assert_eq!(q.select[7].name(), "count()");
    // A column whose name starts like a keyword is still a column.
    let q = round_trip("MATCH (e) SELECT true_count, nullable, null_x");
    assert_eq!(q.select[0].expr, Expr::column("true_count"));
}

#[test]
fn column_and_tag_aliases() {
    let q =
        round_trip("MATCH (e) SELECT tags[sentry:release] AS release, title AS t BY project_id");
    assert_eq!(q.select[0].name(), "release");
    assert_eq!(
        q.select[0].expr,
        Expr::Subscript {
            column: "tags".into(),
            key: "sentry:release".into()
        }
    );
    assert_eq!(q.select[1].name(), "t");
}

fn error(text: &str) -> ParseError {
    match parse(text) {
        Ok(q) => panic!("{text} parsed as {q:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_say_where_and_what() {
    let e = error("MATCH (events) SELECT count() WHERE project_id");
    assert_eq!(
        e.offset,
        "MATCH (events) SELECT count() WHERE project_id".len()
    );
    assert!(e.message.contains("expected a comparison"), "{e}");

    let e = error("MATCH (events)\nSELECT count(\nWHERE x = 1");
    assert_eq!((e.line, e.column), (3, 7), "{e}");
    assert!(e.message.contains("`,` or `)`"), "{e}");

    let e = error("SELECT count()");
    assert_eq!(e.offset, 0);
    assert!(e.message.contains("`MATCH`"), "{e}");

    let e = error("MATCH (events) SELECT count() WHERE a = 'unterminated");
    assert!(e.message.contains("closing quote"), "{e}");
    assert_eq!(
        e.offset,
        "MATCH (events) SELECT count() WHERE a = 'unterminated".len()
    );

    // A backslash at the very end used to loop for ever.
    let e = error("MATCH (events) SELECT 'itMAT\\");
    assert!(e.message.contains("closing quote"), "{e}");

    let e = error("MATCH (events) WHERE a = 1");
    assert!(e.message.contains("`SELECT` or `BY`"), "{e}");

    let e = error("MATCH (events) SELECT a LIMIT x");
    assert!(e.message.contains("whole number"), "{e}");

    let e = error("MATCH (events) SELECT a b");
    assert!(e.message.starts_with("unexpected `b`"), "{e}");
    assert_eq!(e.column, 25);

    let e = error("MATCH (e: events) SELECT a");
    assert!(e.message.contains("relationship"), "{e}");

    let e = error("MATCH (events) SELECT a WHERE x = 1 AND");
    assert!(e.message.contains("a condition"), "{e}");

    let e = error("MATCH (events) SELECT a TOTALS maybe");
    assert!(e.message.contains("`true` or `false`"), "{e}");

    let e = error("MATCH (events) SELECT a LIMIT 99999999999999999999999");
    assert!(e.message.contains("2^64"), "{e}");

    let e = error("MATCH (events SAMPLE 0) SELECT a");
    assert!(e.message.contains("positive"), "{e}");
}

#[test]
fn limits_hold() {
    let deep = format!("MATCH (e) SELECT {}1{}", "f(".repeat(100), ")".repeat(100));
    let e = error(&deep);
    assert!(e.message.contains("nested deeper"), "{e}");
    // Brackets inside strings do not count.
    round_trip(&format!("MATCH (e) SELECT '{}'", "(".repeat(100)));

    let long_chain = format!("MATCH (e) SELECT {}", vec!["a"; MAX_CHAIN + 1].join(" + "));
    let e = error(&long_chain);
    assert!(e.message.contains("operands"), "{e}");
    round_trip(&format!(
        "MATCH (e) SELECT {}",
        vec!["a"; MAX_CHAIN].join(" + ")
    ));

    let huge = format!("MATCH (e) SELECT '{}'", "x".repeat(MAX_QUERY_LEN));
    assert!(error(&huge).message.contains("longer than"));

    // A long IN list is fine: it is flat.
    let ids: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    round_trip(&format!(
        "MATCH (events) SELECT count() WHERE group_id IN tuple({})",
        ids.join(", ")
    ));
}

// --- property: parse(print(q)) == q ---------------------------------------

fn column() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "project_id",
        "timestamp",
        "group_id",
        "e.project_id",
        "contexts.key",
        "user_email",
        "_x1",
        "sentry:release",
        "a/b@c",
    ])
    .prop_map(str::to_owned)
}

fn alias() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_.]{0,8}",
        "[a-z()\\[\\] +*-]{1,10}".prop_filter("not blank", |s| !s.trim().is_empty()),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Literal::Float),
        ".{0,12}".prop_map(Literal::String),
    ]
}

fn function_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "count",
        "uniq",
        "quantile",
        "toStartOfHour",
        "has",
        "tuple",
        "ifNull",
    ])
    .prop_map(str::to_owned)
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        column().prop_map(Expr::Column),
        (
            prop::sample::select(vec!["tags", "contexts"]),
            "[a-zA-Z0-9 ._:-]{0,10}"
        )
            .prop_map(|(c, key)| Expr::Subscript {
                column: c.to_owned(),
                key
            }),
        literal().prop_map(Expr::Literal),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            function(inner.clone()).prop_map(Expr::Function),
            (
                prop::sample::select(vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div]),
                inner.clone(),
                inner
            )
                .prop_map(|(op, l, r)| Expr::Arithmetic {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r)
                }),
        ]
    })
}

fn function(arg: impl Strategy<Value = Expr> + Clone) -> impl Strategy<Value = Function> {
    let lambda = (
        prop::collection::vec("[a-z]", 1..3),
        function_name(),
        prop::collection::vec(arg.clone(), 0..2),
    )
        .prop_map(|(params, name, mut args)| {
            args.push(Expr::Identifier(params[0].clone()));
            Expr::Lambda {
                params,
                body: Box::new(Function {
                    name,
                    params: None,
                    args,
                    alias: None,
                }),
            }
        });
    let arg_or_lambda = prop_oneof![4 => arg.clone(), 1 => lambda];
    (
        function_name(),
        prop::option::of(prop::collection::vec(arg, 0..2)),
        prop::collection::vec(arg_or_lambda, 0..3),
        prop::option::weighted(0.3, alias()),
    )
        .prop_map(|(name, params, args, alias)| Function {
            name,
            params,
            args,
            alias,
        })
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::NotEq,
        CompareOp::Lt,
        CompareOp::LtEq,
        CompareOp::Gt,
        CompareOp::GtEq,
        CompareOp::In,
        CompareOp::NotIn,
        CompareOp::Like,
        CompareOp::NotLike,
    ])
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        (expr(), compare_op(), expr()).prop_map(|(l, op, r)| Condition::compare(l, op, r)),
        (expr(), any::<bool>()).prop_map(|(expr, negated)| Condition::IsNull { expr, negated }),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
            prop::collection::vec(inner, 2..4).prop_map(Condition::Or),
        ]
    })
}

fn selected() -> impl Strategy<Value = Selected> {
    (expr(), prop::option::weighted(0.3, alias())).prop_map(|(expr, alias)| {
        let alias = alias.filter(|_| matches!(expr, Expr::Column(_) | Expr::Subscript { .. }));
        Selected { expr, alias }
    })
}

fn entity(aliased: bool) -> impl Strategy<Value = EntityRef> {
    (
        "[a-z][a-z_]{0,10}",
        "[a-z][a-z0-9_]{0,3}",
        prop::option::of(
            prop_oneof![any::<f64>(), (1u32..100_000u32).prop_map(f64::from)]
                .prop_filter("positive", |x| x.is_finite() && *x > 0.0),
        ),
    )
        .prop_map(move |(name, alias, sample)| EntityRef {
            alias: aliased.then_some(alias),
            name,
            sample,
        })
}

fn relationship() -> impl Strategy<Value = Relationship> {
    (entity(true), "[a-z_]{1,8}", entity(true)).prop_map(|(lhs, name, rhs)| Relationship {
        lhs,
        name,
        rhs,
    })
}

fn query_with(source: impl Strategy<Value = Source>) -> impl Strategy<Value = Query> {
    let clauses_a = (
        source,
        prop::collection::vec(selected(), 0..4),
        prop::collection::vec(selected(), 0..3),
        prop::collection::vec(expr(), 0..2),
        prop::option::of(condition()),
        prop::option::of(condition()),
    );
    let clauses_b = (
        prop::collection::vec(
            (expr(), any::<bool>()).prop_map(|(expr, descending)| OrderBy { expr, descending }),
            0..3,
        ),
        prop::option::of(
            (
                any::<u64>(),
                prop::collection::vec(column().prop_map(Expr::Column), 1..3),
            )
                .prop_map(|(limit, columns)| LimitBy { limit, columns }),
        ),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<bool>()),
    );
    (clauses_a, clauses_b).prop_map(
        |(
            (from, mut select, group_by, array_join, where_, having),
            (order_by, limit_by, limit, offset, granularity, totals),
        )| {
            if select.is_empty() && group_by.is_empty() {
                select.push(Selected {
                    expr: Expr::call("count", vec![]),
                    alias: None,
                });
            }
            Query {
                from,
                select,
                group_by,
                array_join,
                where_,
                having,
                order_by,
                limit_by,
                limit,
                offset,
                granularity,
                totals,
            }
        },
    )
}

fn query() -> impl Strategy<Value = Query> {
    let simple = query_with(entity(false).prop_map(Source::Entity));
    let source = prop_oneof![
        3 => entity(false).prop_map(Source::Entity),
        1 => prop::collection::vec(relationship(), 1..3).prop_map(Source::Join),
        1 => simple.prop_map(|q| Source::Subquery(Box::new(q))),
    ];
    query_with(source)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_then_parsing_gives_the_same_query(q in query()) {
        let text = q.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(parsed, q, "{}", text);
    }

    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn prefixes_of_a_query_never_panic(q in query(), cut_at in any::<prop::sample::Index>()) {
        let text = q.to_string();
        let mut end = cut_at.index(text.len() + 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Err(e) = parse(&text[..end]) {
            prop_assert!(e.offset <= end);
        }
    }
}

#[test]
fn an_overlong_query_is_refused_at_a_character_boundary() {
    // A two-byte character straddles the limit.
    let text = format!("{}é", "x".repeat(MAX_QUERY_LEN - 1));
    let e = parse(&text).unwrap_err();
    assert_eq!(e.offset, MAX_QUERY_LEN - 1);
    assert!(e.message.contains("longer than"));
}
