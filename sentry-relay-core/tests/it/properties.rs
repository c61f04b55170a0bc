//! Properties of normalization.

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use sentry_envelope::protocol::Event;
use sentry_relay_core::{NormalizeConfig, normalize_event};
use serde_json::{Map, Value, json};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        "[a-zA-Z0-9_./: -]{0,12}",
        "[a-z]{190,210}",
        Just("{{auto}}".to_owned()),
        Just("latest".to_owned()),
    ]
}

fn frame() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(function, module, filename, in_app)| {
            json!({"function": function, "module": module, "filename": filename, "in_app": in_app})
        })
}

fn exception() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::vec(frame(), 0..4),
        proptest::option::of((any::<bool>(), any::<bool>())),
    )
        .prop_map(|(ty, value, frames, mechanism)| {
            let mut e = json!({"type": ty, "value": value, "stacktrace": {"frames": frames}});
            if let Some((handled, synthetic)) = mechanism {
                e["mechanism"] = json!({"handled": handled, "synthetic": synthetic});
            }
            e
        })
}

fn event() -> impl Strategy<Value = Value> {
    let fields = (
        proptest::option::of(prop_oneof![
            Just("python"),
            Just("javascript"),
            Just("native"),
            Just("cobol")
        ]),
        proptest::option::of(prop_oneof![Just("info"), Just("fatal"), Just("loud")]),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(-100_000i64..100_000),
    );
    let more = (
        proptest::collection::vec((text(), text()), 0..5),
        proptest::collection::vec(exception(), 0..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        any::<bool>(),
    );
    (fields, more).prop_map(
        |(
            (platform, level, release, environment, transaction, server_name, offset),
            (tags, exceptions, message, user_ip, url, as_map),
        )| {
            let mut e = Map::new();
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    e.insert(k.to_owned(), v);
                }
            };
            set("platform", platform.map(Value::from));
            set("level", level.map(Value::from));
            set("release", release.map(Value::from));
            set("environment", environment.map(Value::from));
            set("transaction", transaction.map(Value::from));
            set("server_name", server_name.map(Value::from));
            set("message", message.map(Value::from));
            set(
                "timestamp",
                offset.map(|o| Value::from(1_714_564_800.0 + o as f64 * 60.0)),
            );
            set("user", user_ip.map(|ip| json!({"ip_address": ip})));
            set("request", url.map(|u| json!({"url": u})));
            if !exceptions.is_empty() {
                e.insert("exception".into(), Value::from(exceptions));
            }
            let tags: Vec<Value> = tags.into_iter().map(|(k, v)| json!([k, v])).collect();
            if as_map {
                let map: Map<String, Value> = tags
                    .iter()
                    .map(|t| (t[0].as_str().unwrap_or("").to_owned(), t[1].clone()))
                    .collect();
                e.insert("tags".into(), Value::Object(map));
            } else {
                e.insert("tags".into(), Value::from(tags));
            }
            Value::Object(e)
        },
    )
}

proptest! {
    #[test]
    fn normalize_is_idempotent(raw in event(), drift_minutes in -200i64..200, ip in any::<bool>()) {
        let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let config = NormalizeConfig {
            sent_at: Some(received - TimeDelta::minutes(drift_minutes)),
            client_ip: ip.then(|| "192.0.2.1".parse().unwrap()),
            ..NormalizeConfig::new(received)
        };
        let mut event: Event = serde_json::from_value(raw).unwrap();
        normalize_event(&mut event, &config).unwrap();
        let once = event.clone();
        normalize_event(&mut event, &config).unwrap();
        prop_assert_eq!(&event, &once);
        // And through JSON, as the next stage reads it.
        let mut reread: Event = serde_json::from_value(serde_json::to_value(&once).unwrap()).unwrap();
        normalize_event(&mut reread, &config).unwrap();
        prop_assert_eq!(reread, once);
    }
}
