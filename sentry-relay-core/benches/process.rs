//! Throughput of event processing: normalization and PII scrubbing, per
//! event.
//!
//! Two error events as a Python SDK sends them, built by the benchmark:
//!
//! - `event_5k`: 5.3 KB of JSON, an exception with 10 frames (source
//!   context; local variables in the 6 in-app ones), 6 breadcrumbs, a
//!   request with headers, cookies, a query string and form data, user,
//!   contexts, tags, and extra data with a password, an API key, a card
//!   number, IP addresses and a database URL with credentials;
//! - `event_50k`: 52.6 KB, the same shape with 110 frames, 90 breadcrumbs
//!   and 50 more extra entries.
//!
//! The project scrubs with the default data scrubbing settings (IP
//! addresses too) and two advanced rules (a custom pattern hashed in extra
//! data, email addresses in frame variables): 26 and 164 redactions.
//!
//! Each is measured as `parse` (the typed event from its bytes),
//! `normalize` ([`normalize_event`]), `scrub` (the normalized event as JSON,
//! [`CompiledProject::scrub`]), `scrub_cold` (the same, with the decisions
//! the scrubber keeps from earlier events of this shape forgotten first)
//! and `pipeline`, what the server does:
//! parse, [`process_event`] (normalize, filter, scrub through JSON) and
//! serialize.
//!
//! Run with `cargo bench -p sentry-relay-core --bench process`; figures are
//! in `book/src/benchmarks.md`.

// Benchmarks build their own inputs and fail loudly: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, missing_docs)]

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sentry_envelope::protocol::{Event, from_json_slice};
use sentry_relay_core::pii::{DataScrubbingConfig, forget_kept_decisions};
use sentry_relay_core::pipeline::process_event;
use sentry_relay_core::{CompiledProject, NormalizeConfig, ProjectSettings, normalize_event};
use serde_json::{Value, json};

/// The allocator of the server binaries, so the figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The JSON nesting limit of the server (`Limits::default().max_json_depth`).
const MAX_JSON_DEPTH: usize = 200;

/// An error event with `frames` stack frames, `crumbs` breadcrumbs and
/// `extras` extra entries (besides the sensitive ones).
fn error_event(frames: usize, crumbs: usize, extras: usize) -> Vec<u8> {
    let frames: Vec<Value> = (0..frames)
        .map(|i| {
            let in_app = i % 3 != 0;
            let mut frame = json!({
                "filename": format!("app/views/v{i}.py"),
                "abs_path": format!("/srv/app/views/v{i}.py"),
                "function": format!("step_{i}"),
                "module": format!("app.views.v{i}"),
                "lineno": 40 + i,
                "pre_context": ["    try:"],
                "context_line": format!("        r = run(req, {i})"),
                "post_context": ["    except E:"],
                "in_app": in_app,
            });
            if in_app {
                frame["vars"] = json!({
                    "user": "<User: jane@example.com>",
                    "n": i.to_string(),
                    "token": "'tk_live_9f8e7d'"
                });
            }
            frame
        })
        .collect();
    let crumbs: Vec<Value> = (0..crumbs)
        .map(|i| {
            json!({"timestamp": 1_714_564_700.0 + i as f64, "type": "http", "category": "httplib",
                   "data": {"url": format!("https://api.example.com/v1/items/{i}?page=2"),
                            "method": "GET", "status_code": 200}})
        })
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert("db_password".into(), json!("hunter2"));
    extra.insert("stripe_api_key".into(), json!("sk_live_51H8abcdefghijkl"));
    extra.insert("payment".into(), json!("paid with 4242 4242 4242 4242"));
    extra.insert("client".into(), json!("from 203.0.113.7 via 10.0.0.2"));
    extra.insert(
        "dsn".into(),
        json!("postgres://shop:s3cr3t@db.internal:5432/shop"),
    );
    extra.insert("last_job".into(), json!("job-004211 timed out"));
    for i in 0..extras {
        extra.insert(
            format!("job_{i}"),
            json!({"id": format!("job-{i:06}"), "queue": "default", "attempt": i % 3,
                   "note": format!("retrying after timeout #{i}")}),
        );
    }
    let event = json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "timestamp": 1_714_564_800.25,
        "platform": "python",
        "level": "error",
        "logger": "django.request",
        "release": "shop@1.4.2",
        "environment": "production",
        "server_name": "web-3",
        "exception": {"values": [{
            "type": "PaymentError",
            "value": "card declined for order 8812",
            "module": "app.payments",
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": frames}
        }]},
        "breadcrumbs": {"values": crumbs},
        "request": {
            "url": "https://shop.example.com/checkout",
            "method": "POST",
            "query_string": "step=pay&session_token=abc123&ref=mail",
            "headers": [
                ["Host", "shop.example.com"],
                ["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"],
                ["Authorization", "Bearer eyJhbGciOi.eyJzdWIi.sig"],
                ["X-Forwarded-For", "203.0.113.7"]
            ],
            "cookies": [["sessionid", "8d2a7f"], ["csrftoken", "9b1c"], ["theme", "dark"]],
            "data": {"amount": 4200, "currency": "EUR", "card_number": "4111111111111111"},
            "env": {"REMOTE_ADDR": "203.0.113.7"}
        },
        "user": {"id": "1234", "email": "jane@example.com", "ip_address": "203.0.113.7"},
        "contexts": {
            "os": {"name": "Linux", "version": "6.1"},
            "runtime": {"name": "CPython", "version": "3.11.7"},
            "trace": {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174"}
        },
        "tags": {"region": "eu-west-1", "customer.tier": "gold"},
        "extra": extra,
        "sdk": {"name": "sentry.python", "version": "2.5.0"},
    });
    serde_json::to_vec(&event).unwrap()
}

/// A project with the default data scrubbing settings (IP addresses
/// scrubbed too) and two advanced rules: a custom pattern hashed in extra
/// data and email addresses in frame variables; and the inbound filters of
/// a new project.
fn project() -> CompiledProject {
    let mut settings = ProjectSettings::new_project();
    settings.datascrubbing_settings = DataScrubbingConfig::new_default();
    settings.pii_config = Some(
        serde_json::from_value(json!({
            "rules": {
                "job-ids": {"type": "pattern", "pattern": r"job-\d{6}", "redaction": {"method": "hash"}}
            },
            "applications": {
                "extra.**": ["job-ids"],
                "$frame.vars.**": ["@email:replace"]
            }
        }))
        .unwrap(),
    );
    let project = CompiledProject::new(&settings);
    assert!(project.errors.is_empty(), "{:?}", project.errors);
    project
}

fn normalize_config() -> NormalizeConfig {
    let mut config = NormalizeConfig::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
    config.client_ip = Some(CLIENT_IP.parse().unwrap());
    config
}

const CLIENT_IP: &str = "203.0.113.7";

/// What the server does with an event's bytes: parse, normalize, filter,
/// scrub (through JSON), store metadata, serialize.
fn pipeline(bytes: &[u8], normalize: &NormalizeConfig, project: &CompiledProject) -> Vec<u8> {
    let mut event: Event = from_json_slice(bytes, MAX_JSON_DEPTH).unwrap();
    process_event(&mut event, normalize, project, normalize.client_ip).unwrap();
    serde_json::to_vec(&event).unwrap()
}

fn bench_event(c: &mut Criterion, name: &str, bytes: &[u8]) {
    let normalize = normalize_config();
    let project = project();
    let event: Event = from_json_slice(bytes, MAX_JSON_DEPTH).unwrap();
    let mut normalized = event.clone();
    normalize_event(&mut normalized, &normalize).unwrap();
    let normalized = serde_json::to_value(&normalized).unwrap();

    let out = pipeline(bytes, &normalize, &project);
    let scrubbed: Value = serde_json::from_slice(&out).unwrap();
    let redactions = scrubbed["_meta"].to_string().matches("\"rem\"").count();
    assert!(redactions >= 20, "scrubbing found too little: {redactions}");
    println!(
        "{name}: {} bytes in, {} bytes out, {redactions} redactions",
        bytes.len(),
        out.len()
    );

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| from_json_slice::<Event>(bytes, MAX_JSON_DEPTH).unwrap())
    });
    group.bench_function("normalize", |b| {
        b.iter_batched_ref(
            || event.clone(),
            |e| normalize_event(e, &normalize).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("scrub", |b| {
        b.iter_batched_ref(
            || normalized.clone(),
            |v| project.scrub(v).unwrap(),
            BatchSize::SmallInput,
        )
    });
    // The scrubber keeps what it worked out per path shape for the next
    // events (per thread and config list); forgetting it each time measures
    // the first event of its shape.
    group.bench_function("scrub_cold", |b| {
        b.iter_batched_ref(
            || {
                forget_kept_decisions();
                normalized.clone()
            },
            |v| project.scrub(v).unwrap(),
            // One input per setup, so that each scrub starts cold.
            BatchSize::PerIteration,
        )
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| pipeline(bytes, &normalize, &project))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_event(c, "event_5k", &error_event(10, 6, 0));
    bench_event(c, "event_50k", &error_event(110, 90, 50));
}

criterion_group!(benches, bench);
criterion_main!(benches);
