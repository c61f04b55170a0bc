//! The renderer-agreement suite: a fixed data set is stored in SQLite and in
//! ClickHouse, every query runs on both, and the results must match.
//!
//! ClickHouse comes from `SENTRY_TEST_CLICKHOUSE_URL` (`scripts/services.sh
//! start clickhouse` starts one); without it the ClickHouse half is skipped,
//! except under CI, where that is a failure.

use sentry_snuba::clickhouse::ClickHouseEventStore;
use sentry_snuba::entity::{EVENTS, OUTCOMES, TRANSACTIONS};
use sentry_snuba::sqlite::SqliteEventStore;
use sentry_snuba::storage::{QueryResult, Row};
use sentry_snuba::{snql, validate};
use serde_json::{Map, Value as Json, json};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600;
const FROM: &str = "toDateTime('2024-05-01T00:00:00')";
const TO: &str = "toDateTime('2024-05-04T00:00:00')";

/// A small deterministic generator (xorshift), so both stores get the same
/// rows on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn event_rows() -> Vec<Row> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rows = Vec::new();
    for i in 0..600u64 {
        let project = 1 + rng.below(2);
        let group = 10 * project + rng.below(6);
        let timestamp = T0 + rng.below(3 * 86_400) as i64;
        let level = rng.pick(&["error", "error", "error", "warning", "fatal", "info"]);
        let environment = match rng.below(4) {
            0 => Json::Null,
            1 => json!("staging"),
            _ => json!("production"),
        };
        let release = format!("app@1.{}.0", rng.below(3));
        let user = format!("user-{}", rng.below(40));
        let browser = rng.pick(&["Chrome", "Firefox", "Safari"]);
        let exception = rng.pick(&["ValueError", "KeyError", "TypeError"]);
        let mut tags = vec![
            ("browser.name".to_owned(), browser.to_owned()),
            ("level".to_owned(), level.to_owned()),
        ];
        if rng.below(3) == 0 {
            tags.push(("customer".to_owned(), format!("c{}", rng.below(5))));
        }
        let row = json!({
            "project_id": project,
            "timestamp": timestamp,
            "event_id": format!("{:032x}", i * 7919 + 1),
            "group_id": group,
            "primary_hash": format!("{:032x}", group),
            "type": "error",
            "platform": rng.pick(&["python", "javascript", "rust"]),
            "environment": environment,
            "release": release,
            "level": level,
            "logger": "",
            "message": format!("{exception}: bad thing {}", rng.below(10)),
            "title": format!("{exception}: bad thing"),
            "culprit": format!("app.module{}", group % 4),
            "transaction": format!("/api/{}", rng.below(5)),
            "user": user,
            "user_email": if rng.below(5) == 0 { Json::Null } else { json!(format!("{user}@example.com")) },
            "ip_address": "10.0.0.1",
            "browser_name": browser,
            "handled": rng.below(2),
            "exception_stacks.type": [exception],
            "exception_stacks.value": ["bad thing"],
            "exception_frames.filename": ["app.py", "lib.py"],
            "exception_frames.function": ["main", "helper"],
            "exception_frames.module": ["app", Json::Null],
            "exception_frames.in_app": [1, 0],
            "tags.key": tags.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            "tags.value": tags.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "contexts.key": ["os.name"],
            "contexts.value": ["Linux"],
            "received": timestamp + 2,
            "deleted": u64::from(i % 97 == 0),
            "retention_days": 90,
        });
        rows.push(as_row(row));
    }
    rows
}

fn transaction_rows() -> Vec<Row> {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    (0..300u64)
        .map(|i| {
            let start = T0 + rng.below(3 * 86_400) as i64;
            let duration = 5 + rng.below(2000);
            as_row(json!({
                "project_id": 1,
                "timestamp": start + (duration / 1000) as i64,
                "start_ts": start,
                "event_id": format!("{:032x}", i + 1),
                "trace_id": format!("{:032x}", i / 3),
                "span_id": format!("{:016x}", i),
                "transaction": format!("GET /items/{}", rng.below(4)),
                "transaction_op": "http.server",
                "transaction_status": rng.below(3),
                "transaction_source": "route",
                "duration": duration,
                "platform": "python",
                "environment": "production",
                "release": "app@1.0.0",
                "user": format!("u{}", rng.below(20)),
                "measurements.key": ["lcp"],
                "measurements.value": [rng.below(4000) as f64 / 3.0],
                "spans.op": ["db", "http"],
                "spans.exclusive_time": [1.5, 2.5],
                "tags.key": ["server"],
                "tags.value": [format!("web-{}", rng.below(3))],
                "contexts.key": [],
                "contexts.value": [],
                "received": start,
                "deleted": 0,
                "retention_days": 90,
            }))
        })
        .collect()
}

fn outcome_rows() -> Vec<Row> {
    let mut rng = Rng(0x0F0F_0F0F_1234_4321);
    (0..200u64)
        .map(|_| {
            let outcome = rng.below(4);
            as_row(json!({
                "org_id": 1,
                "project_id": 1 + rng.below(2),
                "key_id": if rng.below(4) == 0 { Json::Null } else { json!(7) },
                "timestamp": T0 + rng.below(3 * 86_400) as i64,
                "outcome": outcome,
                "reason": if outcome == 0 { Json::Null } else { json!(["filtered", "key_quota", "cors"][rng.below(3) as usize]) },
                "category": 1 + rng.below(3),
                "quantity": 1 + rng.below(10),
            }))
        })
        .collect()
}

fn as_row(value: Json) -> Row {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

/// The queries both stores must answer alike. Each pins its row order with
/// ORDER BY over unique keys, or is compared as a set (`sorted`).
fn queries() -> Vec<(String, bool)> {
    let w = format!("project_id = 1 AND timestamp >= {FROM} AND timestamp < {TO}");
    let wp = format!("project_id IN tuple(1, 2) AND timestamp >= {FROM} AND timestamp < {TO}");
    let o = format!("org_id = 1 AND timestamp >= {FROM} AND timestamp < {TO}");
    let ordered = |q: String| (q, false);
    let sorted = |q: String| (q, true);
    vec![
        // The issue list: counts, users, first and last seen per group.
        ordered(format!(
            "MATCH (events) SELECT count() AS times_seen, uniq(user) AS users, \
             min(timestamp) AS first_seen, max(timestamp) AS last_seen BY group_id \
             WHERE {wp} ORDER BY last_seen DESC, group_id ASC LIMIT 100"
        )),
        // Issue stats: events per hour per group.
        ordered(format!(
            "MATCH (events) SELECT count() AS c BY group_id, time WHERE {w} \
             AND group_id IN tuple(10, 11, 12) ORDER BY group_id ASC, time ASC GRANULARITY 3600"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c BY time WHERE {w} ORDER BY time ASC GRANULARITY 86400"
        )),
        // Tag values.
        ordered(format!(
            "MATCH (events) SELECT count() AS c, uniq(user) AS u BY tags[browser.name] AS browser \
             WHERE {w} ORDER BY c DESC, browser ASC"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c BY tags[customer] AS customer WHERE {w} \
             AND tags[customer] != '' ORDER BY customer ASC"
        )),
        // Conditions of every kind.
        ordered(format!(
            "MATCH (events) SELECT count() AS c WHERE {w} AND (level = 'error' OR level = 'fatal') \
             AND environment IS NOT NULL AND release IN ('app@1.0.0', 'app@1.2.0')"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c WHERE {w} AND environment IS NULL"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c WHERE {w} AND user_email LIKE 'user-1%' \
             AND message NOT LIKE '%thing 3' AND platform NOT IN tuple('rust')"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c WHERE {w} AND timestamp >= '2024-05-02 06:00:00' \
             AND timestamp < toDateTime('2024-05-02T18:00:00')"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c WHERE {w} AND has(exception_stacks.type, 'KeyError') = 1 \
             AND notEmpty(user_email) = 1 AND lower(title) LIKE '%keyerror%'"
        )),
        // Aggregates.
        ordered(format!(
            "MATCH (events) SELECT countIf(equals(level, 'error')) AS errors, \
             uniqIf(user, equals(handled, 0)) AS unhandled_users, \
             sumIf(handled, equals(platform, 'python')) AS py_handled, \
             avg(handled) AS handled_rate, any(type) AS t BY project_id \
             WHERE {wp} ORDER BY project_id ASC"
        )),
        ordered(format!(
            "MATCH (events) SELECT argMax(release, timestamp) AS latest_release, \
             argMin(user, timestamp) AS first_user, groupUniqArray(platform) AS platforms \
             BY group_id WHERE {w} ORDER BY group_id ASC"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c BY level WHERE {w} HAVING c > 20 AND c < 1000 \
             ORDER BY level ASC"
        )),
        ordered(format!(
            "MATCH (events) SELECT count() AS c BY group_id WHERE {w} ORDER BY c DESC, group_id DESC \
             LIMIT 2 OFFSET 1"
        )),
        // Arithmetic and functions of aggregates.
        ordered(format!(
            "MATCH (events) SELECT divide(countIf(equals(handled, 1)), count()) AS ratio, \
             plus(multiply(count(), 2), 1) AS twice, \
             minus(toUnixTimestamp(max(timestamp)), toUnixTimestamp(min(timestamp))) AS span, \
             toStartOfDay(max(timestamp)) AS day BY group_id WHERE {w} ORDER BY group_id ASC"
        )),
        // Rows, not groups: deleted rows never show.
        ordered(format!(
            "MATCH (events) SELECT event_id, group_id, timestamp, environment, tags.key, \
             exception_frames.in_app, contexts[os.name] AS os WHERE {w} \
             ORDER BY timestamp DESC, event_id ASC LIMIT 25"
        )),
        sorted(format!(
            "MATCH (events) SELECT event_id WHERE {w} AND group_id = 10 AND level = 'fatal'"
        )),
        // LIMIT BY: the two latest events of each group.
        ordered(format!(
            "MATCH (events) SELECT group_id, event_id, timestamp WHERE {w} \
             ORDER BY group_id ASC, timestamp DESC, event_id ASC LIMIT 2 BY group_id"
        )),
        // Transactions: percentiles and throughput.
        ordered(format!(
            "MATCH (transactions) SELECT quantile(0.5)(duration) AS p50, quantile(0.95)(duration) AS p95, \
             median(duration) AS med, count() AS n, max(duration) AS slowest, uniq(user) AS users \
             BY transaction WHERE {w} ORDER BY transaction ASC"
        )),
        ordered(format!(
            "MATCH (transactions) SELECT count() AS n, avg(duration) AS mean BY time, tags[server] AS server \
             WHERE {w} ORDER BY time ASC, server ASC GRANULARITY 86400"
        )),
        // Outcomes, the stats page.
        ordered(format!(
            "MATCH (outcomes) SELECT sum(quantity) AS quantity, count() AS times BY outcome, category, reason \
             WHERE {o} ORDER BY outcome ASC, category ASC, reason ASC"
        )),
        ordered(format!(
            "MATCH (outcomes) SELECT sum(quantity) AS q BY project_id, time WHERE {o} \
             AND key_id IS NOT NULL AND project_id IN tuple(1, 2) ORDER BY project_id ASC, time ASC \
             GRANULARITY 86400"
        )),
    ]
}

fn sort_rows(result: &mut QueryResult) {
    result
        .data
        .sort_by_key(|row| serde_json::to_string(row).unwrap_or_default());
}

/// Equal, with floats equal to 1e-9 relative.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// groupUniqArray's order is unspecified: compare its arrays as sets.
fn canonical(mut result: QueryResult) -> QueryResult {
    for row in &mut result.data {
        if let Some(Json::Array(items)) = row.get_mut("platforms") {
            items.sort_by_key(|v| v.to_string());
        }
    }
    result
}

#[tokio::test]
async fn sqlite_and_clickhouse_give_the_same_results() {
    let _only_user = crate::CLICKHOUSE.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteEventStore::open(dir.path().join("events.sqlite")).expect("open sqlite");
    let (events, transactions, outcomes) = (event_rows(), transaction_rows(), outcome_rows());
    sqlite.insert(&EVENTS, &events).expect("insert events");
    sqlite
        .insert(&TRANSACTIONS, &transactions)
        .expect("insert transactions");
    sqlite
        .insert(&OUTCOMES, &outcomes)
        .expect("insert outcomes");

    let clickhouse = match crate::clickhouse_url() {
        Some(url) => {
            let database = format!("snuba_test_{}", std::process::id());
            let store = ClickHouseEventStore::new(&url, &database).expect("clickhouse url");
            store.drop_database().await.expect("drop old database");
            store.migrate().await.expect("migrate clickhouse");
            store.insert(&EVENTS, &events).await.expect("insert events");
            store
                .insert(&TRANSACTIONS, &transactions)
                .await
                .expect("insert transactions");
            store
                .insert(&OUTCOMES, &outcomes)
                .await
                .expect("insert outcomes");
            Some(store)
        }
        None => None,
    };

    let mut compared = 0;
    for (text, unordered) in queries() {
        let query = snql::parse(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        let plan = validate::validate(&query).unwrap_or_else(|e| panic!("{text}\n{e}"));
        let mut from_sqlite = sqlite
            .query(&plan)
            .unwrap_or_else(|e| panic!("sqlite: {e}\n{text}"));
        assert!(
            !from_sqlite.data.is_empty(),
            "a query of the suite must return rows: {text}"
        );
        let Some(clickhouse) = &clickhouse else {
            continue;
        };
        let mut from_clickhouse = clickhouse
            .query(&plan)
            .await
            .unwrap_or_else(|e| panic!("clickhouse: {e}\n{text}"));
        if unordered {
            sort_rows(&mut from_sqlite);
            sort_rows(&mut from_clickhouse);
        }
        let (a, b) = (canonical(from_sqlite), canonical(from_clickhouse));
        assert_eq!(a.meta, b.meta, "{text}");
        assert_eq!(a.data.len(), b.data.len(), "row counts differ: {text}");
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!(
                same(&Json::Object(x.clone()), &Json::Object(y.clone())),
                "{text}\nsqlite:     {x:?}\nclickhouse: {y:?}"
            );
        }
        compared += 1;
    }
    if let Some(clickhouse) = clickhouse {
        assert_eq!(compared, queries().len());
        clickhouse.drop_database().await.expect("drop database");
    }
}

#[test]
fn deleted_rows_and_replaced_events_are_not_counted_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteEventStore::open(dir.path().join("events.sqlite")).expect("open");
    let events = event_rows();
    sqlite.insert(&EVENTS, &events).expect("insert");
    // The same events again (a consumer that restarted): still one row each.
    sqlite
        .insert(&EVENTS, &events[..100])
        .expect("insert again");
    let text = format!(
        "MATCH (events) SELECT count() AS c WHERE project_id IN tuple(1, 2) \
         AND timestamp >= {FROM} AND timestamp < {TO}"
    );
    let plan = validate::validate(&snql::parse(&text).expect("parse")).expect("validate");
    let result = sqlite.query(&plan).expect("query");
    let deleted = events
        .iter()
        .filter(|r| r["deleted"].as_u64() == Some(1))
        .count();
    assert!(deleted > 0);
    assert_eq!(
        result.data[0]["c"],
        json!(events.len() - deleted),
        "{result:?}"
    );
    assert_eq!(result.meta[0].ty, "UInt64");
}
