//! Snapshots of normalized events: every SDK fixture event in
//! `sentry-envelope/fixtures/`, and an event that hits every limit.
//!
//! Written with `INSTA_UPDATE=always cargo test -p sentry-relay-core --test
//! it normalize_snapshots`, reviewed, and checked (never updated) on every
//! other run.

use chrono::{TimeZone, Utc};
use sentry_envelope::protocol::Event;
use sentry_relay_core::{NormalizeConfig, normalize_event};
use serde_json::{Map, Value, json};

use crate::fixtures::load_event;

/// The event or transaction of a fixture request, if the fixture exists
/// and has one.
fn fixture_event(name: &str) -> Option<Event> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sentry-envelope/fixtures");
    if !dir.join(format!("{name}.json")).exists() {
        return None;
    }
    load_event(name)
}

/// Normalizes a fixture's event, received when it was sent (so no clock
/// correction applies and the output does not depend on today's date),
/// twice: the second pass must change nothing.
fn normalized(name: &str) -> Value {
    let candidates = [
        name.to_owned(),
        format!("{name}-1"),
        format!("{name}-2"),
        format!("{name}-3"),
    ];
    let mut event = candidates
        .iter()
        .find_map(|c| fixture_event(c))
        .unwrap_or_else(|| panic!("no event in fixture {name}"));
    let received = event
        .timestamp
        .map(|t| t.datetime())
        .unwrap_or_else(|| Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
    let config = NormalizeConfig {
        client_ip: Some("127.0.0.1".parse().unwrap()),
        ..NormalizeConfig::new(received)
    };
    normalize_event(&mut event, &config).unwrap();
    let once = serde_json::to_value(&event).unwrap();
    normalize_event(&mut event, &config).unwrap();
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        once,
        "{name}: normalizing twice changed the event"
    );
    once
}

macro_rules! fixture_snapshots {
    ($($test:ident => $fixture:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                insta::assert_json_snapshot!(stringify!($test), normalized($fixture));
            }
        )*
    };
}

fixture_snapshots! {
    python_exception => "python/exception",
    python_chained_exception => "python/chained_exception",
    python_unhandled => "python/unhandled",
    python_message => "python/message",
    python_fingerprint => "python/fingerprint",
    python_release => "python/release",
    python_scope_data => "python/scope_data",
    python_transaction => "python/transaction",
    node_exception => "node/exception",
    node_chained_error => "node/chained_error",
    node_uncaught_exception => "node/uncaught_exception",
    node_unhandled_rejection => "node/unhandled_rejection",
    node_message => "node/message",
    node_fingerprint => "node/fingerprint",
    node_release => "node/release",
    node_scope_data => "node/scope_data",
    node_transaction_static => "node/transaction_static",
    rust_panic => "rust/panic",
    rust_capture_error => "rust/capture_error",
    rust_capture_message => "rust/capture_message",
    rust_error_chain => "rust/error_chain",
    rust_event_full => "rust/event_full",
    rust_transaction => "rust/transaction",
    raven_python_exception => "raven-python/exception",
    raven_python_message => "raven-python/message",
    raven_python_context => "raven-python/context",
    raven_node_exception => "raven-node/exception",
    raven_node_message => "raven-node/message",
    raven_node_context => "raven-node/context",
}

/// `{"x": {"x": ... "leaf" ...}}`, `depth` objects deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("leaf"), |inner, _| json!({ "x": inner }))
}

/// An event over every limit: long strings, deep and wide data, too many
/// breadcrumbs and frames, a long server name, too many measurements.
fn oversized_event() -> Value {
    let frames: Vec<Value> = (0..300)
        .map(|i| {
            json!({
                "function": if i == 299 { "f".repeat(300) } else { format!("f{i}") },
                "filename": format!("app/m{i}.py"),
                "in_app": i % 2 == 0,
                "pre_context": ["a"],
                "post_context": ["b"],
                "vars": {"i": i, "blob": "v".repeat(3000)}
            })
        })
        .collect();
    let crumbs: Vec<Value> = (0..150)
        .map(|i| json!({"timestamp": 1_714_564_700.0 + f64::from(i), "message": format!("crumb {i}")}))
        .collect();
    let wide: Map<String, Value> = (0..40)
        .map(|i| (format!("k{i:02}"), json!("w".repeat(1000))))
        .collect();
    json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "timestamp": 1_714_564_800.0,
        "platform": "python",
        "logger": format!("{}.views.checkout", "app".repeat(30)),
        "server_name": "s".repeat(250),
        "culprit": "c".repeat(300),
        "message": "m".repeat(9000),
        "exception": {"values": [{
            "type": "E".repeat(300),
            "value": "é".repeat(9000),
            "stacktrace": {"frames": frames}
        }]},
        "breadcrumbs": crumbs,
        "request": {
            "url": format!("https://example.com/{}", "p".repeat(400)),
            "data": {"body": "d".repeat(10_000)},
            "query_string": [["q", "x".repeat(2000)]],
            "headers": [["X-Big", "h".repeat(9000)]]
        },
        "user": {"id": "u".repeat(200), "email": format!("{}@example.com", "e".repeat(100))},
        "extra": {
            "deep": nested(10),
            "wide": wide,
            "list": vec![7; 10_000]
        },
        "contexts": {"custom": {"a": "a".repeat(5000), "b": "b".repeat(5000)}},
        "tags": {"fine": "ok"},
        "_meta": {"extra": {"sdk_trimmed": {"": {"rem": [["!config", "x"]]}}}}
    })
}

#[test]
fn oversized() {
    let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let config = NormalizeConfig::new(received);
    let mut event: Event = serde_json::from_value(oversized_event()).unwrap();
    normalize_event(&mut event, &config).unwrap();
    let once = serde_json::to_value(&event).unwrap();
    normalize_event(&mut event, &config).unwrap();
    let twice = serde_json::to_value(&event).unwrap();
    let mut changed = Vec::new();
    differences(&once, &twice, String::new(), &mut changed);
    assert!(changed.is_empty(), "normalizing twice changed {changed:?}");

    // The values themselves are long; their shape is what matters.
    let e = &once;
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let frames = &e["exception"]["values"][0]["stacktrace"]["frames"];
    let summary = json!({
        "logger": e["logger"],
        "culprit": chars(&e["culprit"]),
        "logentry.formatted": chars(&e["logentry"]["formatted"]),
        "exception.type": chars(&e["exception"]["values"][0]["type"]),
        "exception.value": chars(&e["exception"]["values"][0]["value"]),
        "frames": frames.as_array().unwrap().len(),
        "first frame": frames[0]["function"],
        "frames with vars": frames.as_array().unwrap().iter().filter(|f| f.get("vars").is_some()).count(),
        "last frame function": chars(&frames[249]["function"]),
        "breadcrumbs": e["breadcrumbs"]["values"].as_array().unwrap().len(),
        "first breadcrumb": e["breadcrumbs"]["values"][0]["message"],
        "request.url": chars(&e["request"]["url"]),
        "user.id": chars(&e["user"]["id"]),
        "user.email": chars(&e["user"]["email"]),
        "extra.deep": e["extra"]["deep"],
        "extra.wide keys": e["extra"]["wide"].as_object().unwrap().len(),
        "extra.list": e["extra"]["list"].as_array().unwrap().len(),
        "tags": e["tags"].as_array().unwrap().iter().map(|t| json!([t[0], chars(&t[1])])).collect::<Vec<_>>(),
    });
    insta::assert_json_snapshot!("oversized_summary", summary);
    insta::assert_json_snapshot!("oversized_meta", e["_meta"]);
}

/// The paths where two values differ.
pub(crate) fn differences(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let child = format!("{path}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => differences(p, q, child, out),
                    _ => out.push(child),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, format!("{path}.{i}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            out.push(format!("{path}: {} items -> {} items", x.len(), y.len()));
            let (x, y): (Vec<_>, Vec<_>) = (
                x.iter().map(|v| v.to_string()).collect(),
                y.iter().map(|v| v.to_string()).collect(),
            );
            for item in x.iter().filter(|i| !y.contains(i)).take(3) {
                out.push(format!(
                    "  only before: {}",
                    item.chars().take(300).collect::<String>()
                ));
            }
            for item in y.iter().filter(|i| !x.contains(i)).take(3) {
                out.push(format!(
                    "  only after: {}",
                    item.chars().take(300).collect::<String>()
                ));
            }
        }
        _ if a != b => {
            let short = |v: &Value| v.to_string().chars().take(120).collect::<String>();
            out.push(format!("{path}: {} -> {}", short(a), short(b)));
        }
        _ => {}
    }
}
