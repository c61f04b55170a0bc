//! PII scrubbing of events from real SDKs, and its properties.

use std::time::Instant;

use proptest::prelude::*;
use sentry_envelope::{Envelope, ItemType, Limits};
use sentry_relay_core::pii::{CompiledPiiConfig, DataScrubbingConfig, scrub_event};
use serde_json::{Value, json};

fn defaults() -> CompiledPiiConfig {
    CompiledPiiConfig::new(&DataScrubbingConfig::new_default().to_pii_config().unwrap()).unwrap()
}

/// The event JSON of an envelope fixture, as sent.
fn fixture_event(name: &str) -> Value {
    let (_, body) = crate::fixtures::request(name);
    let limits = Limits::default();
    let envelope = Envelope::parse(body, &limits).unwrap();
    let item = envelope
        .items()
        .iter()
        .find(|i| i.ty() == &ItemType::Event)
        .unwrap();
    serde_json::from_slice(&item.payload).unwrap()
}

fn frame_vars(event: &Value, function: &str) -> Value {
    event["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == function)
        .unwrap()["vars"]
        .clone()
}

#[test]
fn python_token_local_is_filtered() {
    let mut event = fixture_event("python/exception");
    assert_eq!(
        frame_vars(&event, "charge_card")["card_token"],
        "'tok_fixture'"
    );
    scrub_event(&mut event, &defaults()).unwrap();
    let vars = frame_vars(&event, "charge_card");
    assert_eq!(
        vars,
        json!({"amount_cents": "6500", "card_token": "[Filtered]", "fee": "65", "limit": "5000"})
    );
    let frames = event["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .unwrap();
    let idx = frames
        .iter()
        .position(|f| f["function"] == "charge_card")
        .unwrap()
        .to_string();
    assert_eq!(
        event["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"][idx]["vars"]["card_token"]
            [""],
        json!({"rem": [["@password:filter", "s", 0, 10]], "len": 13})
    );
    // Nothing else in the event was personal.
    let changed = event["_meta"].to_string().matches("\"rem\"").count();
    assert_eq!(changed, 1, "{}", event["_meta"]);
    // The title-bearing exception value is untouched.
    assert_eq!(
        event["exception"]["values"][0]["value"],
        "amount 6500 exceeds limit 5000 (fee 65)"
    );
}

#[test]
fn scope_data_user_is_kept_but_fixtures_scrub_cleanly() {
    for name in [
        "python/scope_data",
        "python/message",
        "rust/event_full",
        "node/exception-2",
    ] {
        let mut event = fixture_event(name);
        let config = defaults();
        scrub_event(&mut event, &config).unwrap();
        let once = event.clone();
        scrub_event(&mut event, &config).unwrap();
        assert_eq!(event, once, "{name}: scrubbing twice changed the event");
    }
    let mut event = fixture_event("python/scope_data");
    scrub_event(&mut event, &defaults()).unwrap();
    // Default scrubbing leaves emails and ids of the user alone, as Relay's.
    assert_eq!(event["user"]["email"], "jane@example.invalid");
    assert_eq!(event["extra"]["order_id"], "ord_1234");
}

/// A realistic error event of about 5 KB.
fn sample_event() -> Value {
    let frames: Vec<Value> = (0..12)
        .map(|i| {
            json!({
                "filename": format!("app/module_{i}.py"), "abs_path": format!("/srv/app/module_{i}.py"),
                "function": format!("handler_{i}"), "module": format!("app.module_{i}"), "lineno": 10 + i,
                "context_line": "    result = process(request, user)",
                "pre_context": ["def handler(request):", "    user = request.user"],
                "post_context": ["    return result", ""],
                "in_app": true,
                "vars": {"request": "<WSGIRequest: GET '/checkout'>", "user": "<User: jane>", "i": i.to_string(), "password": "hunter2"}
            })
        })
        .collect();
    json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "timestamp": 1714564800.0, "platform": "python",
        "level": "error", "release": "app@1.2.3", "environment": "production", "server_name": "web-1",
        "exception": {"values": [{"type": "ValueError", "value": "invalid amount for 10.1.2.3", "stacktrace": {"frames": frames}}]},
        "request": {"url": "https://example.com/checkout", "method": "POST",
            "headers": [["Host", "example.com"], ["User-Agent", "Mozilla/5.0"], ["Authorization", "Bearer abc"], ["Cookie", "sessionid=abc"]],
            "cookies": [["sessionid", "abc"], ["theme", "dark"]],
            "data": {"card": "4111 1111 1111 1111", "amount": 42}},
        "user": {"id": "42", "ip_address": "10.1.2.3", "email": "jane@example.com"},
        "breadcrumbs": {"values": (0..10).map(|i| json!({"timestamp": 1714564700.0 + f64::from(i), "category": "http", "message": format!("GET /api/items/{i}"), "data": {"status_code": 200}})).collect::<Vec<_>>()},
        "contexts": {"runtime": {"name": "CPython", "version": "3.11.7"}, "trace": {"trace_id": "0ee38bfea1574bf780c14b63e8e13157", "span_id": "b790b08fcf433043"}},
        "tags": [["level", "error"], ["server_name", "web-1"]],
        "extra": {"sys.argv": ["manage.py", "runserver"], "order_id": "ord_1234"},
    })
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn scrub_timing() {
    let config = defaults();
    let event = sample_event();
    println!("event size: {} bytes", event.to_string().len());
    let n = 5000;
    let mut events: Vec<Value> = (0..n).map(|_| event.clone()).collect();
    let start = Instant::now();
    for e in &mut events {
        scrub_event(e, &config).unwrap();
    }
    println!("scrub_event: {:?} per event", start.elapsed() / n);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            "[a-z ]{0,12}",
            Just("password=1".to_owned()),
            Just("10.0.0.1".to_owned()),
            Just("4111 1111 1111 1111".to_owned()),
            Just("/home/jane/x".to_owned()),
            ".{0,16}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,8}",
                    Just("password".to_owned()),
                    Just("extra".to_owned()),
                    Just("request".to_owned()),
                    Just("user".to_owned()),
                    Just("cookies".to_owned()),
                    Just("_meta".to_owned()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn scrubbing_is_idempotent_and_never_panics(body in arb_json()) {
        let config = defaults();
        let mut event = json!({"extra": body.clone(), "request": {"data": body}});
        scrub_event(&mut event, &config).unwrap();
        let once = event.clone();
        scrub_event(&mut event, &config).unwrap();
        prop_assert_eq!(event, once);
    }

    #[test]
    fn arbitrary_events_never_panic(event in arb_json()) {
        let mut event = event;
        let _ = scrub_event(&mut event, &defaults());
    }
}
