//! Processing: from an accepted envelope to events ready to save.
//!
//! For each event item: parse, normalize (with the receive time of the
//! message, never the clock), compute Sentry's metadata and the grouping
//! hash. Pure: no I/O.

use chrono::{DateTime, Utc};
use sentry_envelope::protocol::{Event, EventId, from_json_slice};
use sentry_envelope::{Envelope, ItemType, Limits};
use sentry_relay_core::{NormalizeConfig, event_metadata, normalize_event};
use serde_json::Value;

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
}

/// What processing made of one message.
#[derive(Debug, Default)]
pub struct Processed {
    /// Events to save.
    pub events: Vec<NewEvent>,
    /// Items not stored by this consumer, with the reason (counted as outcomes).
    pub skipped: Vec<(ItemType, &'static str)>,
    /// Items that failed, with the error.
    pub failed: Vec<ProcessError>,
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
            *slot = zstd::bulk::Compressor::new(crate::sqlite::NODESTORE_ZSTD_LEVEL).ok();
        }
        slot.as_mut()?.compress(payload).ok()
    })
}

/// Processes one message into events.
pub fn process_message(message: &IngestMessage) -> Result<Processed, ProcessError> {
    let limits = Limits::default();
    let envelope = Envelope::parse(message.envelope.clone(), &limits)
        .map_err(|e| ProcessError::Envelope(e.to_string()))?;
    let sent_at = envelope
        .headers()
        .sent_at
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc());
    let mut out = Processed::default();
    for item in envelope.items() {
        let ty = item.headers.ty.clone();
        match ty {
            ItemType::Event => {
                match process_event(
                    message,
                    envelope.event_id(),
                    sent_at,
                    &item.payload,
                    &limits,
                ) {
                    Ok(event) => out.events.push(event),
                    Err(e) => out.failed.push(e),
                }
            }
            ItemType::Transaction => out.skipped.push((ty, "transactions_not_stored_yet")),
            ItemType::Attachment => out.skipped.push((ty, "attachments_not_stored_yet")),
            other => out.skipped.push((other, "item_type_not_processed")),
        }
    }
    Ok(out)
}

fn process_event(
    message: &IngestMessage,
    header_id: Option<EventId>,
    sent_at: Option<DateTime<Utc>>,
    payload: &[u8],
    limits: &Limits,
) -> Result<NewEvent, ProcessError> {
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
    normalize_event(&mut event, &config).map_err(|e| ProcessError::Normalize(e.to_string()))?;
    let meta = event_metadata(&event);
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
    let payload = serde_json::to_vec(&event).map_err(|e| ProcessError::Payload(e.to_string()))?;
    Ok(NewEvent {
        project_id: i64::try_from(message.project_id).unwrap_or(i64::MAX),
        event_id,
        timestamp,
        received: message.received_at,
        hashes: vec![grouping.hash],
        event_type: meta.event_type.as_str().to_owned(),
        title: meta.title,
        culprit: meta.culprit,
        level: event
            .level
            .as_ref()
            .map_or("error", |l| l.as_str())
            .to_owned(),
        platform: event.platform.clone(),
        logger: event.logger.clone().filter(|l| !l.is_empty()),
        metadata: Value::Object(meta.metadata),
        is_unhandled,
        release: event.release.clone().filter(|r| !r.is_empty()),
        environment: event.environment.clone().filter(|e| !e.is_empty()),
        user_key,
        payload_zstd: compress(&payload),
        payload,
    })
}
