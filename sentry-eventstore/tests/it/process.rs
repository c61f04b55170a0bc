//! Real SDK envelopes through processing: what gets saved.

use bytes::Bytes;
use chrono::Utc;
use sentry_envelope::ContentEncoding;
use sentry_eventstore::{IngestMessage, process_message};

fn fixture(path: &str) -> Bytes {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sentry-envelope/fixtures/");
    let raw = std::fs::read(format!("{dir}{path}")).unwrap();
    let encoding = ContentEncoding::sniff(&raw);
    sentry_envelope::decompress(encoding, &raw, 50 << 20).unwrap()
}

fn process(path: &str) -> sentry_eventstore::NewEvent {
    let message = IngestMessage {
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: Some("203.0.113.9".parse().unwrap()),
        user_agent: None,
        envelope: fixture(path),
    };
    let mut processed = process_message(&message).unwrap();
    assert!(processed.failed.is_empty(), "{:?}", processed.failed);
    assert_eq!(processed.events.len(), 1);
    processed.events.remove(0)
}

#[test]
fn python_exception_is_titled_and_grouped() {
    let a = process("python/exception.body");
    assert_eq!(a.event_type, "error");
    assert_eq!(
        a.title,
        "PaymentError: amount 6500 exceeds limit 5000 (fee 65)"
    );
    assert!(a.culprit.is_some());
    assert_eq!(a.hashes[0].len(), 32);
    let payload: serde_json::Value = serde_json::from_slice(&a.payload).unwrap();
    assert_eq!(payload["title"], a.title.as_str());
    // The same envelope again groups the same way.
    assert_eq!(process("python/exception.body").hashes, a.hashes);
}

#[test]
fn envelopes_without_events_produce_none() {
    let message = IngestMessage {
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: None,
        user_agent: None,
        envelope: Bytes::from_static(b"{}\n{\"type\":\"session\",\"length\":2}\n{}\n"),
    };
    let processed = process_message(&message).unwrap();
    assert!(processed.events.is_empty());
    assert_eq!(processed.skipped.len(), 1);
}

#[test]
fn a_bad_payload_is_reported_not_panicked() {
    let message = IngestMessage {
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: None,
        user_agent: None,
        envelope: Bytes::from_static(b"{}\n{\"type\":\"event\",\"length\":5}\n[1,2]\n"),
    };
    let processed = process_message(&message).unwrap();
    assert!(processed.events.is_empty());
    assert_eq!(processed.failed.len(), 1);
}
