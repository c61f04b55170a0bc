//! Issue search, tag pages, issue stats and Discover, answered from the
//! event store that the Snuba consumer fills inside `sentry run`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::Server;

/// Percent-encodes a query-string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn store_event(server: &Server, event: &Value) {
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7",
        server.public_key()
    );
    let r = server.post_raw(
        &format!("/api/{}/store/", server.project_id()),
        &[
            ("X-Sentry-Auth", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        event.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Titles of the issues a search finds, sorted.
fn titles(server: &Server, search: &str) -> Vec<String> {
    let r = server.get(&format!(
        "/api/0/organizations/sentry/issues/?query={}&limit=100",
        encode(search)
    ));
    assert_eq!(r.status, 200, "{search}: {}", r.body);
    let mut titles: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles
}

fn discover(server: &Server, query: &str) -> Value {
    let r = server.get(&format!("/api/0/organizations/sentry/events/?{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.json()
}

/// Waits until Discover counts `n` events (the event store lags the issue
/// list by a batch).
fn wait_for_event_store(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = discover(server, "field=count()");
        if body["data"][0]["count()"] == json!(n) {
            return;
        }
        assert!(Instant::now() < deadline, "event store holds {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn search_tags_stats_and_discover_come_from_the_event_store() {
    let server = Server::start();
    let now = chrono::Utc::now().timestamp() as f64;
    for i in 0..6 {
        store_event(
            &server,
            &json!({
                "timestamp": now - i as f64,
                "level": "error",
                "release": "app@1.0",
                "exception": {"values": [{"type": "ValueError", "value": "bad amount",
                    "stacktrace": {"frames": [{"function": "charge", "filename": "shop.py", "in_app": true}]}}]},
                "tags": {"browser": if i < 4 { "Chrome" } else { "Firefox" }},
                "user": {"email": format!("u{i}@example.com")},
            }),
        );
    }
    for i in 0..4 {
        store_event(
            &server,
            &json!({
                "timestamp": now - i as f64,
                "level": "warning",
                "exception": {"values": [{"type": "KeyError", "value": "'sku'"}]},
                "tags": {"browser": "Firefox"},
                "user": {"email": "ops@corp.com"},
            }),
        );
    }
    for _ in 0..2 {
        store_event(&server, &json!({"level": "fatal", "message": "disk full"}));
    }
    server.wait_for_events(12);
    wait_for_event_store(&server, 12);

    let value_error = "ValueError: bad amount";
    let key_error = "KeyError: 'sku'";
    let disk = "disk full";
    // Fields, tags, negation, wildcards, aggregates, OR, has:, free text.
    assert_eq!(titles(&server, "browser:Chrome"), [value_error]);
    assert_eq!(titles(&server, "level:warning"), [key_error]);
    assert_eq!(titles(&server, "!level:error"), [key_error, disk]);
    assert_eq!(titles(&server, "user.email:*@corp.com"), [key_error]);
    assert_eq!(titles(&server, "times_seen:>5"), [value_error]);
    // Aggregates count the matching events only: two of ValueError are not Chrome.
    assert_eq!(
        titles(&server, "times_seen:>2 !browser:Chrome"),
        [key_error]
    );
    assert_eq!(
        titles(&server, "times_seen:>1 !browser:Chrome"),
        [key_error, value_error, disk]
    );
    assert_eq!(
        titles(&server, "level:error OR level:fatal"),
        [value_error, disk]
    );
    assert_eq!(titles(&server, "has:browser"), [key_error, value_error]);
    assert_eq!(titles(&server, "!has:browser"), [disk]);
    assert_eq!(titles(&server, "release:app@1.0 bad"), [value_error]);
    assert_eq!(titles(&server, "\"disk full\""), [disk]);
    assert_eq!(titles(&server, "firstSeen:-1h level:warning"), [key_error]);
    assert!(titles(&server, "is:resolved level:error").is_empty());
    let bad = server.get("/api/0/organizations/sentry/issues/?query=%28level%3Aerror");
    assert_eq!(bad.status, 400, "{}", bad.body);

    // The tag page of the ValueError issue.
    let issues = server.issues("ValueError");
    let id = issues[0]["id"].as_str().unwrap();
    let tags = server.get_json(&format!("/api/0/organizations/sentry/issues/{id}/tags/"));
    let browser = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "browser")
        .unwrap();
    assert_eq!(browser["totalValues"], 2);
    assert_eq!(browser["topValues"][0]["value"], "Chrome");
    assert_eq!(browser["topValues"][0]["count"], 4);
    assert_eq!(browser["topValues"][1]["value"], "Firefox");
    assert_eq!(browser["topValues"][1]["count"], 2);
    let values = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{id}/tags/release/values/"
    ));
    assert_eq!(values[0]["value"], "app@1.0");
    assert_eq!(values[0]["count"], 6);

    // Counts per hour, in the list and from issues-stats.
    let listed = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/?query={}&statsPeriod=24h",
        encode("browser:Chrome")
    ));
    let hours = listed[0]["stats"]["24h"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let total: u64 = hours.iter().map(|h| h[1].as_u64().unwrap()).sum();
    assert_eq!(total, 6);
    let stats = server.get_json(&format!(
        "/api/0/organizations/sentry/issues-stats/?groups={id}&statsPeriod=24h"
    ));
    let total: u64 = stats[0]["stats"]["24h"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[1].as_u64().unwrap())
        .sum();
    assert_eq!(total, 6);

    // Discover: grouped by a tag, sorted by count, filtered by a search.
    let by_browser = discover(&server, "field=browser&field=count()&sort=-count()");
    assert_eq!(
        by_browser["data"][0],
        json!({"browser": "Firefox", "count()": 6})
    );
    assert_eq!(
        by_browser["data"][1],
        json!({"browser": "Chrome", "count()": 4})
    );
    assert_eq!(by_browser["meta"]["fields"]["count()"], "integer");
    let warnings = discover(
        &server,
        &format!(
            "field=title&field=count()&field=count_unique(user)&query={}",
            encode("level:warning")
        ),
    );
    assert_eq!(
        warnings["data"],
        json!([{"title": key_error, "count()": 4, "count_unique(user)": 1}])
    );
    let raw = discover(
        &server,
        "field=title&field=user.email&field=timestamp&per_page=3",
    );
    assert_eq!(raw["data"].as_array().unwrap().len(), 3);
    assert_eq!(
        server
            .get("/api/0/organizations/sentry/events/?field=nope()")
            .status,
        400
    );

    // Deleting an issue hides its events from the event store too.
    assert_eq!(
        server
            .delete(&format!("/api/0/organizations/sentry/issues/{id}/"))
            .status,
        202
    );
    wait_for_event_store(&server, 6);
}
