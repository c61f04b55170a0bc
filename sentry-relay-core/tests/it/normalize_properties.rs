//! Normalization is idempotent on events of every shape: long and unicode
//! strings, deep and wide data, too many breadcrumbs and frames, tags in
//! both forms, timestamps around the receive time, transactions with spans
//! and measurements, and events that come with a `_meta` tree.

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sentry_envelope::protocol::Event;
use sentry_relay_core::{NormalizeConfig, normalize_event};
use serde_json::{Map, Value, json};

use crate::normalize_snapshots::differences;

/// Seconds since the epoch of the receive time.
const NOW: f64 = 1_714_564_800.0;

/// Strings of every kind normalization cares about.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_./: -]{0,12}",
        1 => Just(String::new()),
        1 => Just("  padded  ".to_owned()),
        1 => Just("{{auto}}".to_owned()),
        1 => Just("latest".to_owned()),
        1 => Just("a/b".to_owned()),
        1 => "[a-z.]{60,80}",
        1 => (190usize..300).prop_map(|n| "x".repeat(n)),
        1 => (1usize..4, 2700usize..3000).prop_map(|(c, n)| ["é", "🦀", "ab"][c - 1].repeat(n)),
        1 => (8100usize..8500).prop_map(|n| "m".repeat(n)),
    ]
}

/// JSON data, up to ten levels deep.
fn data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(10, 300, 12, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..12)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn frame() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(text()),
        proptest::option::of(prop_oneof![
            text(),
            Just("https://app.test/static/app.js?x=1".to_owned()),
            Just("app:///index.bundle".to_owned()),
        ]),
        proptest::option::of(any::<bool>()),
        proptest::option::of(data()),
        any::<bool>(),
    )
        .prop_map(|(function, abs_path, in_app, vars, context)| {
            let mut f = Map::new();
            if let Some(function) = function {
                f.insert("function".into(), function.into());
            }
            if let Some(abs_path) = abs_path {
                f.insert("abs_path".into(), abs_path.into());
            }
            if let Some(in_app) = in_app {
                f.insert("in_app".into(), in_app.into());
            }
            if let Some(vars) = vars {
                f.insert("vars".into(), json!({"v": vars}));
            }
            if context {
                f.insert("pre_context".into(), json!([null, "a"]));
                f.insert("post_context".into(), json!(["b"]));
            }
            Value::Object(f)
        })
}

fn exception() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        prop_oneof![
            3 => prop::collection::vec(frame(), 0..6),
            1 => prop::collection::vec(frame(), 240..300),
        ],
        proptest::option::of((any::<bool>(), proptest::option::of(text()))),
    )
        .prop_map(|(ty, value, frames, mechanism)| {
            let mut e = json!({"type": ty, "value": value, "stacktrace": {"frames": frames}});
            if let Some((handled, ty)) = mechanism {
                e["mechanism"] = json!({"handled": handled, "type": ty});
            }
            e
        })
}

fn breadcrumbs() -> impl Strategy<Value = Value> {
    (
        0usize..130,
        proptest::option::of(text()),
        proptest::option::of(data()),
    )
        .prop_map(|(count, message, data)| {
            let crumbs: Vec<Value> = (0..count)
                .map(|i| {
                    let mut b = json!({"timestamp": NOW - 100.0 + i as f64});
                    if i % 7 == 0 {
                        b["message"] = json!(message);
                        b["data"] = json!({"d": data});
                    }
                    b
                })
                .collect();
            json!({"values": crumbs})
        })
}

fn hex(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..16, len)
        .prop_map(|d| d.iter().map(|n| format!("{n:x}")).collect())
}

fn spans() -> impl Strategy<Value = Vec<Value>> {
    let span = (
        hex(16),
        proptest::option::of(prop_oneof![
            Just("db.query"),
            Just("http.client"),
            Just("ui.render")
        ]),
        proptest::option::of(prop_oneof![
            Just("ok"),
            Just("success"),
            Just("not_a_status")
        ]),
        0.0f64..5.0,
        0.0f64..5.0,
        any::<bool>(),
    )
        .prop_map(|(id, op, status, start, duration, child)| {
            json!({
                "span_id": id,
                "parent_span_id": if child { "aaaaaaaaaaaaaaaa" } else { "bbbbbbbbbbbbbbbb" },
                "trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
                "op": op,
                "status": status,
                "start_timestamp": NOW - 10.0 + start,
                "timestamp": NOW - 10.0 + start + duration,
            })
        });
    prop::collection::vec(span, 0..8)
}

fn measurements() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![
            Just("lcp".to_owned()),
            Just("LCP".to_owned()),
            Just("frames_total".to_owned()),
            Just("frames_slow".to_owned()),
            Just("app.start.cold".to_owned()),
            Just("bad name".to_owned()),
            "[a-z]{1,8}",
        ],
        prop_oneof![
            (0.0f64..300_000.0).prop_map(|v| json!({"value": v})),
            (0.0f64..10.0).prop_map(|v| json!({"value": v, "unit": "second"})),
            Just(json!({"value": "fast"})),
            Just(json!(3)),
        ],
        0..14,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn event() -> impl Strategy<Value = Value> {
    let basics = (
        proptest::option::of(prop_oneof![
            Just("python"),
            Just("javascript"),
            Just("native"),
            Just("cobol")
        ]),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(-100_000i64..100_000),
    );
    let bodies = (
        prop::collection::vec((text(), text()), 0..6),
        any::<bool>(),
        prop::collection::vec(exception(), 0..3),
        proptest::option::of(breadcrumbs()),
        proptest::option::of(prop::collection::btree_map("[a-z]{1,8}", data(), 0..6)),
        proptest::option::of(data()),
        proptest::option::of(text()),
    );
    let transaction = proptest::option::of((
        spans(),
        proptest::option::of(measurements()),
        proptest::option::of(prop_oneof![Just("url"), Just("route"), Just("custom")]),
        proptest::option::of(prop_oneof![
            Just("/users/123/posts/0xbeef".to_owned()),
            text()
        ]),
    ));
    (basics, bodies, transaction, any::<bool>()).prop_map(
        |(
            (platform, release, environment, server_name, logger, message, offset),
            (tags, tags_as_map, exceptions, breadcrumbs, extra, context, user_id),
            transaction,
            with_meta,
        )| {
            let mut e = Map::new();
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    e.insert(k.to_owned(), v);
                }
            };
            set("platform", platform.map(Value::from));
            set("release", release.map(Value::from));
            set("environment", environment.map(Value::from));
            set("server_name", server_name.map(Value::from));
            set("logger", logger.map(Value::from));
            set("message", message.map(Value::from));
            set(
                "timestamp",
                offset.map(|o| Value::from(NOW + o as f64 * 60.0)),
            );
            set("breadcrumbs", breadcrumbs);
            set(
                "extra",
                extra.map(|m| Value::Object(m.into_iter().collect())),
            );
            set(
                "user",
                user_id.map(|id| json!({"id": id, "ip_address": "{{auto}}"})),
            );
            if !exceptions.is_empty() {
                e.insert("exception".into(), Value::from(exceptions));
            }
            let mut contexts = json!({"custom": {"data": context}});
            if let Some((spans, measurements, source, name)) = transaction {
                let start = e.get("timestamp").and_then(Value::as_f64).unwrap_or(NOW) - 20.0;
                e.insert("type".into(), json!("transaction"));
                e.insert("start_timestamp".into(), json!(start));
                e.insert("timestamp".into(), json!(start + 15.0));
                e.insert("spans".into(), json!(spans));
                e.insert("transaction".into(), json!(name));
                e.insert("transaction_info".into(), json!({"source": source}));
                e.insert("measurements".into(), json!(measurements));
                e.insert("breakdowns".into(), json!({"sdk": {"x": {"value": 1}}}));
                contexts["trace"] = json!({
                    "trace_id": "4C79F60C-1121-4EB3-8604-F4AE0781BFB2",
                    "span_id": "AAAAAAAAAAAAAAAA"
                });
            }
            e.insert("contexts".into(), contexts);
            let pairs: Vec<Value> = tags.iter().map(|(k, v)| json!([k, v])).collect();
            if tags_as_map {
                let map: Map<String, Value> =
                    tags.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
                e.insert("tags".into(), Value::Object(map));
            } else {
                e.insert("tags".into(), Value::from(pairs));
            }
            if with_meta {
                e.insert(
                    "_meta".into(),
                    json!({"extra": {"sdk": {"": {"rem": [["!config", "x"]]}}}}),
                );
            }
            Value::Object(e)
        },
    )
}

/// One case: normalizing the output again changes nothing.
fn check(raw: Value, drift_minutes: i64) -> Result<(), TestCaseError> {
    let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let config = NormalizeConfig {
        sent_at: Some(received - TimeDelta::minutes(drift_minutes)),
        client_ip: Some("192.0.2.1".parse().unwrap()),
        ..NormalizeConfig::new(received)
    };
    let mut event: Event = serde_json::from_value(raw).unwrap();
    let before = event.clone();
    if normalize_event(&mut event, &config).is_err() {
        // A rejected transaction is left as it was.
        prop_assert_eq!(event, before);
        return Ok(());
    }
    let once = serde_json::to_value(&event).unwrap();
    // Through JSON, as the next stage reads it.
    let mut again: Event = serde_json::from_value(once.clone()).unwrap();
    normalize_event(&mut again, &config).unwrap();
    let twice = serde_json::to_value(&again).unwrap();
    let mut changed = Vec::new();
    differences(&once, &twice, String::new(), &mut changed);
    prop_assert!(
        changed.is_empty(),
        "normalizing twice changed {:?}",
        changed
    );
    Ok(())
}

#[test]
fn normalizing_twice_changes_nothing() {
    // The strategies nest deeply: generate and shrink on a thread with room
    // for that.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            // `PROPTEST_CASES=5000` for a longer hunt.
            let cases = std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(96);
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            });
            let result = runner.run(&(event(), -200i64..200), |(raw, drift)| check(raw, drift));
            if let Err(e) = result {
                panic!("{e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
