//! Events captured from real SDKs (`sentry-envelope/fixtures/`), normalized,
//! with titles, culprits and metadata as Sentry shows them.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use sentry_envelope::protocol::{Event, from_json_slice};
use sentry_envelope::store::decode_store_body;
use sentry_envelope::{ContentEncoding, Envelope, ItemType, Limits, decompress};
use sentry_relay_core::{NormalizeConfig, event_metadata, normalize_event};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sentry-envelope/fixtures")
}

/// A fixture request: its metadata (path, headers) and its body, decompressed.
pub(crate) fn request(name: &str) -> (Value, bytes::Bytes) {
    let dir = fixtures_dir();
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    let body = std::fs::read(dir.join(format!("{name}.body"))).unwrap();
    let encoding = ContentEncoding::parse(
        meta["headers"]
            .get("content-encoding")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let cap = Limits::default().max_envelope_size as usize;
    (meta, decompress(encoding, &body, cap).unwrap())
}

/// The event of a fixture, from its envelope's event or transaction item or
/// its store body; `None` when the request carries no event.
pub(crate) fn load_event(name: &str) -> Option<Event> {
    let limits = Limits::default();
    let (meta, body) = request(name);
    if meta["path"].as_str().unwrap().ends_with("/store/") {
        let json = decode_store_body(body, limits.max_event_size as usize).unwrap();
        return Some(from_json_slice(&json, limits.max_json_depth).unwrap());
    }
    let envelope = Envelope::parse(body, &limits).unwrap();
    let item = envelope
        .items()
        .iter()
        .find(|i| matches!(i.ty(), ItemType::Event | ItemType::Transaction))?;
    let mut event: Event = from_json_slice(&item.payload, limits.max_json_depth).unwrap();
    if item.ty() == &ItemType::Transaction {
        event.ty.get_or_insert_with(|| "transaction".into());
    }
    Some(event)
}

/// The first of `name-1`, `name-2`, ... (or `name`) that carries an event.
fn event(name: &str) -> Event {
    let dir = fixtures_dir();
    let candidates: Vec<String> = if dir.join(format!("{name}.json")).exists() {
        vec![name.to_owned()]
    } else {
        (1..=4).map(|i| format!("{name}-{i}")).collect()
    };
    candidates
        .iter()
        .filter(|c| dir.join(format!("{c}.json")).exists())
        .find_map(|c| load_event(c))
        .unwrap_or_else(|| panic!("no event in fixture {name}"))
}

fn normalized(name: &str) -> Value {
    let mut event = event(name);
    // Fixture timestamps are from when they were captured; receive them
    // right away so no correction applies.
    let received = event
        .timestamp
        .map(|t| t.datetime())
        .unwrap_or_else(|| Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
    let config = NormalizeConfig {
        client_ip: Some("127.0.0.1".parse().unwrap()),
        ..NormalizeConfig::new(received)
    };
    normalize_event(&mut event, &config).unwrap();
    let once = event.clone();
    normalize_event(&mut event, &config).unwrap();
    assert_eq!(event, once, "{name}: normalizing twice changed the event");
    serde_json::to_value(&event).unwrap()
}

fn tag<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event["tags"]
        .as_array()?
        .iter()
        .find(|t| t[0] == key)
        .and_then(|t| t[1].as_str())
}

#[test]
fn python_exception() {
    let e = normalized("python/exception");
    assert_eq!(e["type"], "error");
    assert_eq!(
        e["title"],
        "PaymentError: amount 6500 exceeds limit 5000 (fee 65)"
    );
    assert_eq!(e["culprit"], "__main__ in charge_card");
    assert_eq!(e["location"], "gen.py");
    assert_eq!(
        e["metadata"],
        json!({
            "type": "PaymentError",
            "value": "amount 6500 exceeds limit 5000 (fee 65)",
            "filename": "gen.py",
            "function": "charge_card"
        })
    );
    assert_eq!(tag(&e, "level"), Some("error"));
    assert_eq!(tag(&e, "server_name"), Some("fixture-host"));
    assert_eq!(tag(&e, "mechanism"), Some("generic"));
    assert_eq!(tag(&e, "handled"), Some("yes"));
    assert!(tag(&e, "runtime.name").is_some());
    // Python is not a platform whose IP is inferred.
    assert!(e["user"].get("ip_address").is_none());
}

#[test]
fn python_chained_and_unhandled() {
    let e = normalized("python/chained_exception");
    assert_eq!(e["title"], "RuntimeError: application failed to start");
    assert_eq!(e["culprit"], "__main__ in start_app");
    assert_eq!(e["metadata"]["function"], "start_app");
    let e = normalized("python/unhandled");
    assert_eq!(tag(&e, "handled"), Some("no"));
    assert_eq!(tag(&e, "mechanism"), Some("excepthook"));
}

#[test]
fn python_message() {
    let e = normalized("python/message");
    assert_eq!(e["type"], "default");
    assert_eq!(e["title"], "Hello from the Python SDK");
    assert_eq!(e["metadata"], json!({"title": "Hello from the Python SDK"}));
    assert_eq!(e["level"], "warning");
    assert_eq!(e["culprit"], "");
    assert_eq!(e["logentry"]["formatted"], "Hello from the Python SDK");
}

#[test]
fn node_events() {
    let e = normalized("node/exception");
    assert_eq!(
        e["title"],
        "PaymentError: amount 6500 exceeds limit 5000 (tok_fixture)"
    );
    assert_eq!(e["culprit"], "chargeCard(gen)");
    assert_eq!(e["metadata"]["function"], "chargeCard");
    assert_eq!(
        e["location"],
        "/work/main/sentry-envelope/fixtures/node/gen.js"
    );

    let e = normalized("node/uncaught_exception");
    assert_eq!(e["level"], "fatal");
    assert_eq!(tag(&e, "handled"), Some("no"));

    // A message with attach_stacktrace: a synthetic exception, so the
    // title is the crash function and the culprit is empty.
    let e = normalized("node/message");
    assert_eq!(e["type"], "error");
    assert_eq!(e["title"], "SCENARIOS.message");
    assert_eq!(e["culprit"], "");
    assert!(e["metadata"].get("type").is_none());
}

#[test]
fn rust_events() {
    let e = normalized("rust/panic");
    assert_eq!(e["title"], "panic: attempt to divide 10 by zero");
    assert_eq!(
        e["culprit"],
        "sentry_panic::PanicIntegration::event_from_panic_info"
    );
    assert_eq!(e["location"], "lib.rs");
    assert_eq!(e["platform"], "native");

    let e = normalized("rust/error_chain");
    assert_eq!(e["title"], "Error: failed to start server");

    let e = normalized("rust/capture_message");
    assert_eq!(e["title"], "Hello from the Rust SDK");

    let e = normalized("rust/event_full");
    assert_eq!(tag(&e, "sentry:user"), Some("id:user-42"));
    assert_eq!(tag(&e, "feature"), Some("checkout"));
    assert_eq!(e["level"], "error");
}

#[test]
fn transactions() {
    for name in ["python/transaction", "rust/transaction"] {
        let e = normalized(name);
        assert_eq!(e["type"], "transaction", "{name}");
        assert_eq!(e["title"], "GET /checkout", "{name}");
        assert_eq!(e["culprit"], "GET /checkout", "{name}");
        assert_eq!(e["location"], "GET /checkout", "{name}");
        assert_eq!(e["level"], "info", "{name}");
        assert_eq!(tag(&e, "transaction"), Some("GET /checkout"), "{name}");
        assert_eq!(tag(&e, "route"), Some("/checkout"), "{name}");
    }
}

#[test]
fn raven_events() {
    let e = normalized("raven-python/exception");
    assert_eq!(e["title"], "ValueError: amount 6500 exceeds limit 5000");
    // raven-python sent level 40, Python's logging.ERROR.
    assert_eq!(e["level"], "error");
    // No in-app flags: the innermost frame.
    assert_eq!(e["culprit"], "__main__ in charge_card");

    // raven-node sets a culprit-like transaction.
    let e = normalized("raven-node/exception");
    assert_eq!(
        e["title"],
        "Error: amount 6500 exceeds limit 5000 (tok_fixture)"
    );
    assert_eq!(e["culprit"], "gen at chargeCard");

    let e = normalized("raven-python/message");
    assert_eq!(e["title"], "Hello from raven-python");
}

#[test]
fn metadata_of_raw_events_matches() {
    // Computing metadata before or after normalizing gives the same title.
    for name in [
        "python/exception",
        "node/exception",
        "rust/panic",
        "python/message",
    ] {
        let raw = event_metadata(&event(name));
        let e = normalized(name);
        assert_eq!(e["title"], raw.title.as_str(), "{name}");
    }
}
