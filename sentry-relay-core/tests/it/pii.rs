//! PII scrubbing of events from real SDKs, and its properties.

use proptest::prelude::*;
use sentry_envelope::{Envelope, ItemType, Limits};
use sentry_relay_core::pii::{
    CompiledPiiConfig, DataScrubbingConfig, PiiConfig, scrub_event, scrub_event_with,
};
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
            Just("job-123456 a@b.io".to_owned()),
            Just("s3cret 4111111111111111".to_owned()),
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

/// Advanced rules that overlap the default ones: they redact parts of
/// strings the defaults then redact further, or remove what the defaults
/// changed.
fn advanced() -> CompiledPiiConfig {
    let config: PiiConfig = serde_json::from_value(json!({
        "rules": {
            "jobs": {"type": "pattern", "pattern": r"job-\d+", "redaction": {"method": "hash"}},
            "secret": {"type": "pattern", "pattern": "s3cr[a-z]+", "redaction": {"method": "mask"}},
            "pair": {"type": "redact_pair", "keyPattern": "user|cookies"}
        },
        "applications": {
            "$string": ["jobs", "@email:replace", "secret"],
            "extra.**": ["pair"],
            "$object && !extra": ["@password:remove"]
        }
    }))
    .unwrap();
    CompiledPiiConfig::new(&config).unwrap()
}

proptest! {
    /// One walk with several configs gives what one walk per config gives.
    #[test]
    fn scrubbing_with_several_configs_at_once_is_scrubbing_in_turn(
        body in arb_json(),
        meta in arb_json(),
        defaults_first in any::<bool>(),
    ) {
        let configs = if defaults_first { [defaults(), advanced()] } else { [advanced(), defaults()] };
        let mut event = json!({"extra": body.clone(), "request": {"data": body}, "user": {"x": "job-1"}});
        // Sometimes with a `_meta` from an earlier scrubbing, sometimes with junk.
        if meta.is_object() {
            event["_meta"] = meta;
        } else {
            scrub_event(&mut event, &configs[1]).unwrap();
        }
        let mut in_turn = event.clone();
        let expected = configs.iter().try_for_each(|c| scrub_event(&mut in_turn, c));
        let mut at_once = event;
        let got = scrub_event_with(&mut at_once, &configs);
        prop_assert_eq!(got, expected);
        prop_assert_eq!(at_once, in_turn);
    }

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
