//! Processing: from an accepted envelope to events ready to save.
//!
//! For each event item: parse, then normalize (with the receive time of
//! the message, never the clock), filter and scrub with the project's
//! settings ([`sentry_relay_core::pipeline`]), compute Sentry's metadata
//! and the grouping hash. Every item ends as an event to save or an
//! outcome. Pure: no I/O.

use chrono::{DateTime, Utc};
use sentry_envelope::protocol::{Event, EventId, from_json_slice};
use sentry_envelope::{Envelope, ItemType, Limits};
use sentry_relay_core::outcome::{OutcomeAggregator, OutcomeKind};
use sentry_relay_core::pipeline::{EventDrop, event_category, process_event as pipeline};
use sentry_relay_core::quota::Scoping;
use sentry_relay_core::{EventType, NormalizeConfig, event_metadata};
use serde_json::Value;

use crate::configs::ProjectState;
use crate::grouping::group_event;
use crate::message::IngestMessage;
use crate::models::NewEvent;

/// Why an envelope or an item was not turned into an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The envelope does not parse (it did at the edge: a bug or a corrupt record).
    #[error("invalid envelope: {0}")]
    Envelope(String),
    /// An event payload is not a valid event.
    #[error("invalid event payload: {0}")]
    Payload(String),
    /// Normalization refused the event.
    #[error("normalization failed: {0}")]
    Normalize(String),
    /// A filter dropped the event, or scrubbing failed.
    #[error("{0}")]
    Dropped(#[from] EventDrop),
}

/// What processing made of one message.
#[derive(Debug, Default)]
pub struct Processed {
    /// Events to save.
    pub events: Vec<NewEvent>,
    /// Items not stored by this consumer, with the reason (counted as outcomes).
    pub skipped: Vec<(ItemType, &'static str)>,
    /// Items that failed or were filtered, with the error.
    pub failed: Vec<ProcessError>,
    /// What became of each item: accepted, filtered or invalid.
    pub outcomes: OutcomeAggregator,
}

/// Compresses a payload for the nodestore with this thread's zstd context
/// (creating a context costs more than compressing one event). `None` if
/// compression fails: the store then compresses it itself.
fn compress(payload: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(crate::sql::NODESTORE_ZSTD_LEVEL).ok();
        }
        slot.as_mut()?.compress(payload).ok()
    })
}

/// Processes one message of `project` into events and outcomes.
pub fn process_message(
    message: &IngestMessage,
    project: &ProjectState,
) -> Result<Processed, ProcessError> {
    let limits = Limits::default();
    let envelope = Envelope::parse(message.envelope.clone(), &limits)
        .map_err(|e| ProcessError::Envelope(e.to_string()))?;
    let sent_at = envelope
        .headers()
        .sent_at
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc());
    let mut scoping = Scoping::new(project.config.organization_id, project.config.project_id);
    scoping.key_id = message.key_id;
    let at = message.received_at;
    let mut out = Processed::default();
    for item in envelope.items() {
        let ty = item.headers.ty.clone();
        match ty {
            ItemType::Event | ItemType::Security => {
                match process_event(
                    message,
                    project,
                    envelope.event_id(),
                    sent_at,
                    &item.payload,
                    &limits,
                ) {
                    Ok((event, category)) => {
                        out.outcomes
                            .add(at, scoping, OutcomeKind::Accepted, None, category, 1);
                        out.events.push(event);
                    }
                    Err(e) => {
                        let (kind, reason) = match &e {
                            ProcessError::Dropped(drop) => drop.outcome(),
                            ProcessError::Normalize(_) => (OutcomeKind::Invalid, "invalid_event"),
                            _ => (OutcomeKind::Invalid, "invalid_json"),
                        };
                        let category = item
                            .data_category()
                            .unwrap_or(sentry_envelope::DataCategory::Error);
                        out.outcomes
                            .add(at, scoping, kind, Some(reason), category, 1);
                        out.failed.push(e);
                    }
                }
            }
            other => {
                let reason = match other {
                    ItemType::Transaction => "transactions_not_stored_yet",
                    ItemType::Attachment => "attachments_not_stored_yet",
                    _ => "item_type_not_processed",
                };
                // Client reports were counted at the edge; they count as
                // nothing themselves.
                for (category, quantity) in item.quantities() {
                    out.outcomes.add(
                        at,
                        scoping,
                        OutcomeKind::Invalid,
                        Some(reason),
                        category,
                        u64::try_from(quantity).unwrap_or(u64::MAX),
                    );
                }
                out.skipped.push((other, reason));
            }
        }
    }
    Ok(out)
}

fn process_event(
    message: &IngestMessage,
    project: &ProjectState,
    header_id: Option<EventId>,
    sent_at: Option<DateTime<Utc>>,
    payload: &[u8],
    limits: &Limits,
) -> Result<(NewEvent, sentry_envelope::DataCategory), ProcessError> {
    let mut event: Event = from_json_slice(payload, limits.max_json_depth)
        .map_err(|e| ProcessError::Payload(e.to_string()))?;
    if let Some(id) = header_id {
        event.event_id = Some(id);
    }
    let mut config = NormalizeConfig::new(message.received_at);
    config.sent_at = sent_at;
    config.client_ip = message.remote_addr;
    config.user_agent = message.user_agent.clone();
    config.event_id = event.event_id.or(header_id);
    config.project_id = Some(project.config.project_id.value());
    config.key_id = message.key_id.map(|id| id.to_string());
    config.project_platform = project.config.platform.clone();
    let scrubbed_json = pipeline(&mut event, &config, &project.compiled, message.remote_addr)?;
    let category = event_category(&event);
    // Normalization stored the title, culprit and metadata in the event.
    let title = match event.other.get("title").and_then(Value::as_str) {
        Some(title) => title.to_owned(),
        None => event_metadata(&event).title,
    };
    let metadata = match event.other.get("metadata") {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Object(event_metadata(&event).metadata),
    };
    let grouping = group_event(&event);
    let event_id = event
        .event_id
        .ok_or_else(|| ProcessError::Normalize("event has no id".into()))?;
    let timestamp = event
        .timestamp
        .map(|t| t.datetime())
        .unwrap_or(message.received_at);
    let is_unhandled = event.exception.iter().flat_map(|e| &e.values).any(|e| {
        e.mechanism
            .as_ref()
            .and_then(|m| m.handled)
            .is_some_and(|handled| !handled)
    });
    let user_key = event.user.as_ref().and_then(|u| {
        let id = u.id.as_ref().map(|id| format!("id:{id}"));
        id.or_else(|| u.username.as_ref().map(|v| format!("username:{v}")))
            .or_else(|| u.email.as_ref().map(|v| format!("email:{v}")))
            .or_else(|| u.ip_address.as_ref().map(|v| format!("ip:{v}")))
    });
    let payload = match &scrubbed_json {
        Some(value) => serde_json::to_vec(value),
        None => serde_json::to_vec(&event),
    }
    .map_err(|e| ProcessError::Payload(e.to_string()))?;
    let new = NewEvent {
        project_id: i64::try_from(message.project_id).unwrap_or(i64::MAX),
        event_id,
        timestamp,
        received: message.received_at,
        hashes: vec![grouping.hash],
        event_type: EventType::of(&event).as_str().to_owned(),
        title,
        culprit: event.culprit.clone().filter(|c| !c.is_empty()),
        level: event
            .level
            .as_ref()
            .map_or("error", |l| l.as_str())
            .to_owned(),
        platform: event.platform.clone(),
        logger: event.logger.clone().filter(|l| !l.is_empty()),
        metadata,
        is_unhandled,
        release: event.release.clone().filter(|r| !r.is_empty()),
        environment: event.environment.clone().filter(|e| !e.is_empty()),
        user_key,
        payload_zstd: compress(&payload),
        payload,
    };
    Ok((new, category))
}
