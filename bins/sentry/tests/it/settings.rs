//! Project settings through the API change what the running server keeps:
//! filters, data scrubbing, allowed domains, key rate limits and quotas,
//! with every drop counted as an outcome in the stats endpoint.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::{Reply, Server};

const PROJECT: &str = "/api/0/projects/sentry/internal/";

fn envelope(items: &[(&str, Value)]) -> Vec<u8> {
    let mut out = b"{}\n".to_vec();
    for (ty, payload) in items {
        let body = payload.to_string();
        out.extend_from_slice(
            json!({"type": ty, "length": body.len()})
                .to_string()
                .as_bytes(),
        );
        out.push(b'\n');
        out.extend_from_slice(body.as_bytes());
        out.push(b'\n');
    }
    out
}

fn event(message: &str) -> Vec<u8> {
    envelope(&[("event", json!({"message": message, "platform": "python"}))])
}

fn put(server: &Server, path: &str, body: Value) -> Reply {
    let r = server.send_json("PUT", path, &body);
    assert!(
        r.status == 200 || r.status == 201,
        "PUT {path} {body}: {} {}",
        r.status,
        r.body
    );
    r
}

/// The messages of the stored events, newest first.
fn messages(server: &Server) -> Vec<String> {
    let mut out = Vec::new();
    for issue in server.issues("") {
        let id = issue["id"].as_str().unwrap();
        let events = server.get_json(&format!(
            "/api/0/organizations/sentry/issues/{id}/events/?full=true"
        ));
        for e in events.as_array().unwrap() {
            out.push(e["message"].as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

/// Sums of `sum(quantity)` by outcome and reason, once `ready` holds.
fn stats_until(
    server: &Server,
    ready: impl Fn(&[(String, String, u64)]) -> bool,
) -> Vec<(String, String, u64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = server.get_json(
            "/api/0/organizations/sentry/stats_v2/?field=sum(quantity)&groupBy=outcome&groupBy=reason&groupBy=category&statsPeriod=1h&interval=1m",
        );
        let rows: Vec<(String, String, u64)> = stats["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    format!(
                        "{}/{}",
                        g["by"]["outcome"].as_str().unwrap(),
                        g["by"]["category"].as_str().unwrap()
                    ),
                    g["by"]["reason"].as_str().unwrap().to_owned(),
                    g["totals"]["sum(quantity)"].as_u64().unwrap(),
                )
            })
            .collect();
        if ready(&rows) {
            assert_eq!(
                stats["intervals"].as_array().unwrap().len(),
                stats["groups"][0]["series"]["sum(quantity)"]
                    .as_array()
                    .unwrap()
                    .len()
            );
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "outcomes never arrived: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn has(rows: &[(String, String, u64)], what: &str, reason: &str, at_least: u64) -> bool {
    rows.iter()
        .any(|(w, r, q)| w == what && r == reason && *q >= at_least)
}

#[test]
fn settings_apply_without_restart_and_drops_are_counted() {
    let server = Server::start();

    // A new project: Sentry's default scrubbing and filters.
    let details = server.get_json(PROJECT);
    assert_eq!(details["slug"], "internal");
    assert_eq!(details["dataScrubber"], true);
    assert_eq!(details["dataScrubberDefaults"], true);
    assert_eq!(details["scrubIPAddresses"], false);
    assert_eq!(details["allowedDomains"], json!(["*"]));
    let filters = server.get_json(&format!("{PROJECT}filters/"));
    let active = |filters: &Value, id: &str| {
        filters
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap()["active"]
            .clone()
    };
    assert_eq!(active(&filters, "browser-extensions"), true);
    assert_eq!(active(&filters, "localhost"), false);

    // Error-message filter, an advanced scrubbing rule, allowed domains.
    let details = put(
        &server,
        PROJECT,
        json!({
            "options": {"filters:error_messages": "*ignore me*"},
            "relayPiiConfig": json!({
                "rules": {"order-ids": {"type": "pattern", "pattern": "order-[0-9]+", "redaction": {"method": "replace", "text": "[order]"}}},
                "applications": {"$message": ["order-ids"]}
            }).to_string(),
            "allowedDomains": ["example.com", "*.shop.test"],
            "sensitiveFields": ["favourite_colour"],
        }),
    )
    .json();
    assert_eq!(
        details["allowedDomains"],
        json!(["example.com", "*.shop.test"])
    );
    assert_eq!(details["options"]["filters:error_messages"], "*ignore me*");
    let bad = server.send_json(
        "PUT",
        PROJECT,
        &json!({"relayPiiConfig": "{\"applications\": {\"$string\": [\"@nope\"]}}"}),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json()["relayPiiConfig"].is_array(), "{}", bad.body);

    assert_eq!(server.post_envelope(&event("please ignore me")).status, 200);
    assert_eq!(server.post_envelope(&event("paid order-1234")).status, 200);
    let with_extra = envelope(&[(
        "event",
        json!({"message": "extra data", "extra": {"favourite_colour": "green", "ok": "kept"}}),
    )]);
    assert_eq!(server.post_envelope(&with_extra).status, 200);
    server.wait_for_events(2);
    let stored = messages(&server);
    assert!(stored.contains(&"paid [order]".to_owned()), "{stored:?}");
    assert!(
        !stored.iter().any(|m| m.contains("ignore me")),
        "{stored:?}"
    );
    let issue = server
        .issues("")
        .into_iter()
        .find(|i| i["title"] == "extra data")
        .expect("extra data issue");
    let latest = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{}/events/latest/",
        issue["id"].as_str().unwrap()
    ));
    assert_eq!(
        latest["context"]["favourite_colour"], "[Filtered]",
        "{latest}"
    );
    assert_eq!(latest["context"]["ok"], "kept");

    // Browser requests from other origins are refused.
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7",
        server.public_key()
    );
    let path = format!("/api/{}/envelope/", server.project_id());
    let from = |origin: &str| {
        server.post_raw(
            &path,
            &[("X-Sentry-Auth", auth.as_str()), ("Origin", origin)],
            &event("from a browser"),
        )
    };
    let refused = from("https://evil.test");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(from("https://eu.shop.test").status, 200);

    // Filters switch on and off through the filters endpoint.
    let r = put(
        &server,
        &format!("{PROJECT}filters/localhost/"),
        json!({"active": true}),
    );
    assert_eq!(r.status, 201);
    let r = put(
        &server,
        &format!("{PROJECT}filters/legacy-browsers/"),
        json!({"subfilters": ["ie_pre_9", "safari_pre_6"]}),
    );
    assert_eq!(r.status, 201);
    let filters = server.get_json(&format!("{PROJECT}filters/"));
    assert_eq!(active(&filters, "localhost"), true);
    assert_eq!(
        active(&filters, "legacy-browsers"),
        json!(["ie_pre_9", "safari_pre_6"])
    );
    let local = envelope(&[(
        "event",
        json!({"message": "from localhost", "request": {"url": "http://localhost:3000/"}}),
    )]);
    assert_eq!(server.post_envelope(&local).status, 200);
    put(
        &server,
        &format!("{PROJECT}filters/localhost/"),
        json!({"active": false}),
    );

    // A key rate limit of 2 errors a minute: the third gets 429.
    let key = server.public_key();
    let updated = put(
        &server,
        &format!("{PROJECT}keys/{key}/"),
        json!({"rateLimit": {"window": 60, "count": 2}}),
    )
    .json();
    assert_eq!(updated["rateLimit"], json!({"window": 60, "count": 2}));
    let mut statuses = Vec::new();
    let mut limited = None;
    for i in 0..3 {
        let r = server.post_envelope(&event(&format!("limited {i}")));
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let limited = limited.unwrap();
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let header = limited.header("x-sentry-rate-limits").unwrap();
    assert!(header.contains(":key:key_quota"), "{header}");
    assert!(header.contains("error"), "{header}");
    // Removing the limit applies at once.
    put(
        &server,
        &format!("{PROJECT}keys/{key}/"),
        json!({"rateLimit": null}),
    );
    assert_eq!(server.post_envelope(&event("after the limit")).status, 200);

    // A project quota of zero attachments: the event passes, the
    // attachment is dropped and the answer says so.
    put(
        &server,
        PROJECT,
        json!({"quotas": [{"id": "no-attachments", "categories": ["attachment"], "scope": "project", "limit": 0, "reasonCode": "no_attachments"}]}),
    );
    let mixed = {
        let mut out = event("with an attachment");
        out.extend_from_slice(
            b"{\"type\":\"attachment\",\"length\":5,\"filename\":\"a.txt\"}\nhello\n",
        );
        out
    };
    let r = server.post_envelope(&mixed);
    assert_eq!(r.status, 200, "{}", r.body);
    let header = r.header("x-sentry-rate-limits").unwrap();
    assert!(header.contains("attachment"), "{header}");
    assert!(header.contains("no_attachments"), "{header}");

    // A client report from an SDK.
    let report = envelope(&[(
        "client_report",
        json!({"discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 4}]}),
    )]);
    assert_eq!(server.post_envelope(&report).status, 200);

    let rows = stats_until(&server, |rows| {
        has(rows, "accepted/error", "none", 5)
            && has(rows, "filtered/error", "error-message", 1)
            && has(rows, "filtered/error", "localhost", 1)
            && has(rows, "rate_limited/error", "key_quota", 1)
            && has(rows, "rate_limited/attachment", "no_attachments", 5)
            && has(rows, "invalid/error", "cors", 1)
            && has(rows, "client_discard/error", "queue_overflow", 4)
    });
    assert!(
        !rows
            .iter()
            .any(|(w, _, _)| w.starts_with("accepted/attachment")),
        "{rows:?}"
    );
}

#[test]
fn stats_need_a_field_and_a_sane_interval() {
    let server = Server::start();
    let r = server.get("/api/0/organizations/sentry/stats_v2/?statsPeriod=1h");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.get(
        "/api/0/organizations/sentry/stats_v2/?field=sum(quantity)&interval=1s&statsPeriod=30d",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.get(
        "/api/0/organizations/sentry/stats_v2/?field=sum(quantity)&statsPeriod=1h&groupBy=outcome",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // One hour in hourly buckets: two, unless it starts on the hour.
    let buckets = r.json()["intervals"].as_array().unwrap().len();
    assert!((1..=2).contains(&buckets), "{}", r.body);
}

/// The test Redis server from `SENTRY_TEST_REDIS_URL` (`scripts/test.sh`
/// starts one); skipped without it, except under CI.
fn redis_url() -> Option<String> {
    match std::env::var("SENTRY_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("SENTRY_TEST_REDIS_URL is not set under CI (scripts/test.sh starts Redis)")
        }
        _ => {
            eprintln!("skipped: SENTRY_TEST_REDIS_URL is not set");
            None
        }
    }
}

#[test]
fn two_servers_share_a_key_rate_limit_through_redis() {
    let Some(url) = redis_url() else { return };
    // A prefix of this run keeps counts of earlier runs out.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let quotas = format!("{url}?prefix=it-{}-{nanos}:", std::process::id());
    let start = || {
        let dir = tempfile::tempdir().unwrap().keep();
        Server::start_with(
            &dir,
            crate::server::free_port(),
            &["--quotas", &quotas],
            &[],
        )
    };
    let (a, b) = (start(), start());
    for server in [&a, &b] {
        // Both bootstrapped organization 1, project 1, key 1: the same
        // counters in Redis.
        let key = server.public_key();
        put(
            server,
            &format!("{PROJECT}keys/{key}/"),
            json!({"rateLimit": {"window": 3600, "count": 3}}),
        );
    }
    let statuses: Vec<u16> = [&a, &a, &b, &b, &a]
        .iter()
        .enumerate()
        .map(|(i, s)| s.post_envelope(&event(&format!("shared {i}"))).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}
