//! Real SDK envelopes through processing: what gets saved.

use bytes::Bytes;
use chrono::Utc;
use sentry_envelope::ContentEncoding;
use sentry_envelope::ProjectId;
use sentry_eventstore::{IngestMessage, ProjectState, process_message};
use sentry_relay_core::outcome::OutcomeKind;
use sentry_relay_core::{ProjectConfig, ProjectSettings};

fn project(settings: ProjectSettings) -> ProjectState {
    let mut config = ProjectConfig::new(ProjectId::new(1), 1, "backend");
    config.settings = settings;
    ProjectState::new(config)
}

fn fixture(path: &str) -> Bytes {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sentry-envelope/fixtures/");
    let raw = std::fs::read(format!("{dir}{path}")).unwrap();
    let encoding = ContentEncoding::sniff(&raw);
    sentry_envelope::decompress(encoding, &raw, 50 << 20).unwrap()
}

fn process(path: &str) -> sentry_eventstore::NewEvent {
    let message = IngestMessage {
        key_id: None,
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: Some("203.0.113.9".parse().unwrap()),
        user_agent: None,
        envelope: fixture(path),
    };
    let mut processed =
        process_message(&message, &project(ProjectSettings::new_project())).unwrap();
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
        key_id: None,
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: None,
        user_agent: None,
        envelope: Bytes::from_static(b"{}\n{\"type\":\"session\",\"length\":2}\n{}\n"),
    };
    let processed = process_message(&message, &project(ProjectSettings::new_project())).unwrap();
    assert!(processed.events.is_empty());
    assert_eq!(processed.skipped.len(), 1);
}

#[test]
fn a_bad_payload_is_reported_not_panicked() {
    let message = IngestMessage {
        key_id: None,
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: None,
        user_agent: None,
        envelope: Bytes::from_static(b"{}\n{\"type\":\"event\",\"length\":5}\n[1,2]\n"),
    };
    let processed = process_message(&message, &project(ProjectSettings::new_project())).unwrap();
    assert!(processed.events.is_empty());
    assert_eq!(processed.failed.len(), 1);
}

#[test]
fn filtered_events_become_outcomes() {
    let mut settings = ProjectSettings::new_project();
    settings.filter_settings.client_ips.blacklisted_ips = vec!["203.0.113.0/24".into()];
    let message = IngestMessage {
        key_id: Some(7),
        project_id: 1,
        received_at: Utc::now(),
        remote_addr: Some("203.0.113.9".parse().unwrap()),
        user_agent: None,
        envelope: fixture("python/exception.body"),
    };
    let mut processed = process_message(&message, &project(settings)).unwrap();
    assert!(processed.events.is_empty());
    let outcomes = processed.outcomes.drain();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].outcome, OutcomeKind::Filtered);
    assert_eq!(outcomes[0].reason.as_deref(), Some("ip-address"));
    assert_eq!(outcomes[0].key_id, Some(7));

    // The same event from elsewhere is accepted, with the password-like
    // values the Python SDK sends scrubbed by the default settings.
    let message = IngestMessage {
        remote_addr: Some("198.51.100.1".parse().unwrap()),
        ..message
    };
    let mut processed =
        process_message(&message, &project(ProjectSettings::new_project())).unwrap();
    assert_eq!(processed.events.len(), 1);
    let outcomes = processed.outcomes.drain();
    assert_eq!(
        (outcomes[0].outcome, outcomes[0].quantity),
        (OutcomeKind::Accepted, 1)
    );
}
