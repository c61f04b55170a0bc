//! Size and count limits on what a client may send.

use std::fmt;

use crate::envelope::Envelope;
use crate::item::ItemType;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Limits on request bodies, envelopes and their items.
///
/// The defaults are Relay's. Every parser in this crate takes its limits from
/// here; an over-limit input yields a [`LimitError`] that names the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A whole envelope, after decompression (200 MiB).
    pub max_envelope_size: u64,
    /// An event, transaction, security report or feedback payload (1 MiB).
    pub max_event_size: u64,
    /// One attachment (200 MiB).
    pub max_attachment_size: u64,
    /// All attachments of one envelope together (200 MiB).
    pub max_attachments_size: u64,
    /// Attachments in one envelope (30).
    pub max_attachment_count: u64,
    /// A client report (100 KiB).
    pub max_client_reports_size: u64,
    /// A check-in (100 KiB).
    pub max_check_in_size: u64,
    /// A `sessions` aggregate payload (10 MiB).
    pub max_sessions_size: u64,
    /// `session` items in one envelope (100).
    pub max_session_count: u64,
    /// A profile (50 MiB).
    pub max_profile_size: u64,
    /// A log container (2 MiB).
    pub max_log_size: u64,
    /// A span or span container (10 MiB).
    pub max_span_size: u64,
    /// A trace metric container (1 MiB).
    pub max_trace_metric_size: u64,
    /// A statsd payload (1 MiB).
    pub max_statsd_size: u64,
    /// A metric buckets payload (1 MiB).
    pub max_metric_buckets_size: u64,
    /// A compressed replay recording (10 MiB).
    pub max_replay_compressed_size: u64,
    /// A replay video item, with its event and recording (15 MiB).
    pub max_replay_message_size: u64,
    /// Items in one envelope (1,000): not a Relay limit, a guard against an
    /// envelope of millions of empty items.
    pub max_item_count: u64,
    /// JSON nesting depth when a payload is parsed (200).
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_envelope_size: 200 * MIB,
            max_event_size: MIB,
            max_attachment_size: 200 * MIB,
            max_attachments_size: 200 * MIB,
            max_attachment_count: 30,
            max_client_reports_size: 100 * KIB,
            max_check_in_size: 100 * KIB,
            max_sessions_size: 10 * MIB,
            max_session_count: 100,
            max_profile_size: 50 * MIB,
            max_log_size: 2 * MIB,
            max_span_size: 10 * MIB,
            max_trace_metric_size: MIB,
            max_statsd_size: MIB,
            max_metric_buckets_size: MIB,
            max_replay_compressed_size: 10 * MIB,
            max_replay_message_size: 15 * MIB,
            max_item_count: 1000,
            max_json_depth: 200,
        }
    }
}

/// Which limit was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_envelope_size`] (also used for raw request bodies).
    EnvelopeSize,
    /// [`Limits::max_event_size`].
    EventSize,
    /// [`Limits::max_attachment_size`].
    AttachmentSize,
    /// [`Limits::max_attachments_size`].
    AttachmentsSize,
    /// [`Limits::max_attachment_count`].
    AttachmentCount,
    /// [`Limits::max_client_reports_size`].
    ClientReportSize,
    /// [`Limits::max_check_in_size`].
    CheckInSize,
    /// [`Limits::max_sessions_size`].
    SessionsSize,
    /// [`Limits::max_session_count`].
    SessionCount,
    /// [`Limits::max_profile_size`].
    ProfileSize,
    /// [`Limits::max_log_size`].
    LogSize,
    /// [`Limits::max_span_size`].
    SpanSize,
    /// [`Limits::max_trace_metric_size`].
    TraceMetricSize,
    /// [`Limits::max_statsd_size`].
    StatsdSize,
    /// [`Limits::max_metric_buckets_size`].
    MetricBucketsSize,
    /// [`Limits::max_replay_compressed_size`].
    ReplaySize,
    /// [`Limits::max_replay_message_size`].
    ReplayVideoSize,
    /// [`Limits::max_item_count`].
    ItemCount,
    /// [`Limits::max_json_depth`].
    JsonDepth,
}

impl LimitKind {
    /// The name of the limit's field in [`Limits`] and in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::EnvelopeSize => "max_envelope_size",
            LimitKind::EventSize => "max_event_size",
            LimitKind::AttachmentSize => "max_attachment_size",
            LimitKind::AttachmentsSize => "max_attachments_size",
            LimitKind::AttachmentCount => "max_attachment_count",
            LimitKind::ClientReportSize => "max_client_reports_size",
            LimitKind::CheckInSize => "max_check_in_size",
            LimitKind::SessionsSize => "max_sessions_size",
            LimitKind::SessionCount => "max_session_count",
            LimitKind::ProfileSize => "max_profile_size",
            LimitKind::LogSize => "max_log_size",
            LimitKind::SpanSize => "max_span_size",
            LimitKind::TraceMetricSize => "max_trace_metric_size",
            LimitKind::StatsdSize => "max_statsd_size",
            LimitKind::MetricBucketsSize => "max_metric_buckets_size",
            LimitKind::ReplaySize => "max_replay_compressed_size",
            LimitKind::ReplayVideoSize => "max_replay_message_size",
            LimitKind::ItemCount => "max_item_count",
            LimitKind::JsonDepth => "max_json_depth",
        }
    }

    fn is_count(self) -> bool {
        matches!(
            self,
            LimitKind::AttachmentCount
                | LimitKind::SessionCount
                | LimitKind::ItemCount
                | LimitKind::JsonDepth
        )
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An input over one of the [`Limits`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} of {actual}{} exceeds {kind} ({max})", self.what(), self.unit())]
pub struct LimitError {
    /// The limit.
    pub kind: LimitKind,
    /// What was seen (bytes, or a count); for streams, at least this much.
    pub actual: u64,
    /// The limit's value.
    pub max: u64,
    /// The item type, when one item was over its limit.
    pub item_type: Option<ItemType>,
}

impl LimitError {
    /// A new error for a limit.
    pub fn new(kind: LimitKind, actual: u64, max: u64) -> Self {
        LimitError {
            kind,
            actual,
            max,
            item_type: None,
        }
    }

    fn what(&self) -> String {
        match &self.item_type {
            Some(ty) => format!("{ty} item"),
            None => match self.kind {
                LimitKind::AttachmentCount => "attachment count".into(),
                LimitKind::SessionCount => "session count".into(),
                LimitKind::ItemCount => "item count".into(),
                LimitKind::JsonDepth => "json depth".into(),
                LimitKind::AttachmentsSize => "attachments".into(),
                _ => "body".into(),
            },
        }
    }

    fn unit(&self) -> &'static str {
        if self.kind.is_count() { "" } else { " bytes" }
    }
}

impl Limits {
    /// Limits so large that nothing real exceeds them (for tools and tests).
    pub fn unlimited() -> Self {
        let max = u64::MAX / 2;
        Limits {
            max_envelope_size: max,
            max_event_size: max,
            max_attachment_size: max,
            max_attachments_size: max,
            max_attachment_count: max,
            max_client_reports_size: max,
            max_check_in_size: max,
            max_sessions_size: max,
            max_session_count: max,
            max_profile_size: max,
            max_log_size: max,
            max_span_size: max,
            max_trace_metric_size: max,
            max_statsd_size: max,
            max_metric_buckets_size: max,
            max_replay_compressed_size: max,
            max_replay_message_size: max,
            max_item_count: max,
            max_json_depth: usize::MAX,
        }
    }

    /// The per-item size limit for an item type, if it has one.
    pub fn item_size_limit(&self, ty: &ItemType) -> Option<(LimitKind, u64)> {
        Some(match ty {
            ItemType::Event
            | ItemType::Transaction
            | ItemType::Security
            | ItemType::RawSecurity
            | ItemType::Nel
            | ItemType::UserReport
            | ItemType::UserReportV2
            | ItemType::FormData
            | ItemType::ReplayEvent => (LimitKind::EventSize, self.max_event_size),
            ItemType::Attachment | ItemType::UnrealReport => {
                (LimitKind::AttachmentSize, self.max_attachment_size)
            }
            ItemType::ClientReport => (LimitKind::ClientReportSize, self.max_client_reports_size),
            ItemType::CheckIn => (LimitKind::CheckInSize, self.max_check_in_size),
            ItemType::Session => (LimitKind::EventSize, self.max_event_size),
            ItemType::Sessions => (LimitKind::SessionsSize, self.max_sessions_size),
            ItemType::Profile | ItemType::ProfileChunk => {
                (LimitKind::ProfileSize, self.max_profile_size)
            }
            ItemType::Log | ItemType::OtelLog => (LimitKind::LogSize, self.max_log_size),
            ItemType::Span | ItemType::OtelSpan | ItemType::OtelTracesData => {
                (LimitKind::SpanSize, self.max_span_size)
            }
            ItemType::TraceMetric => (LimitKind::TraceMetricSize, self.max_trace_metric_size),
            ItemType::Statsd => (LimitKind::StatsdSize, self.max_statsd_size),
            ItemType::MetricBuckets => (LimitKind::MetricBucketsSize, self.max_metric_buckets_size),
            ItemType::ReplayRecording => (LimitKind::ReplaySize, self.max_replay_compressed_size),
            ItemType::ReplayVideo => (LimitKind::ReplayVideoSize, self.max_replay_message_size),
            ItemType::Integration | ItemType::Unknown(_) => return None,
        })
    }

    /// Checks every item-level limit of a parsed envelope: the size of each
    /// item for its type, the count and total size of attachments, and the
    /// number of sessions.
    ///
    /// Returns the first limit exceeded, in item order.
    pub fn check(&self, envelope: &Envelope) -> Result<(), LimitError> {
        let mut attachments_size = 0u64;
        let mut attachment_count = 0u64;
        let mut session_count = 0u64;
        for item in envelope.items() {
            let len = item.len() as u64;
            if let Some((kind, max)) = self.item_size_limit(item.ty()) {
                if len > max {
                    return Err(LimitError {
                        item_type: Some(item.ty().clone()),
                        ..LimitError::new(kind, len, max)
                    });
                }
            }
            match item.ty() {
                ItemType::Attachment => {
                    attachments_size += len;
                    attachment_count += 1;
                }
                ItemType::UnrealReport => attachments_size += len,
                ItemType::Session => session_count += 1,
                _ => {}
            }
        }
        if attachment_count > self.max_attachment_count {
            return Err(LimitError::new(
                LimitKind::AttachmentCount,
                attachment_count,
                self.max_attachment_count,
            ));
        }
        if attachments_size > self.max_attachments_size {
            return Err(LimitError::new(
                LimitKind::AttachmentsSize,
                attachments_size,
                self.max_attachments_size,
            ));
        }
        if session_count > self.max_session_count {
            return Err(LimitError::new(
                LimitKind::SessionCount,
                session_count,
                self.max_session_count,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Item;

    #[test]
    fn relay_defaults() {
        let l = Limits::default();
        assert_eq!(l.max_event_size, 1024 * 1024);
        assert_eq!(l.max_envelope_size, 200 * 1024 * 1024);
        assert_eq!(l.max_attachments_size, 200 * 1024 * 1024);
        assert_eq!(l.max_attachment_count, 30);
        assert_eq!(l.max_check_in_size, 100 * 1024);
        assert_eq!(l.max_session_count, 100);
    }

    #[test]
    fn check_names_the_limit() {
        let limits = Limits {
            max_event_size: 10,
            max_attachment_count: 1,
            max_session_count: 2,
            ..Limits::default()
        };
        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Event, "{\"message\":\"hi\"}"));
        let err = limits.check(&envelope).unwrap_err();
        assert_eq!(err.kind, LimitKind::EventSize);
        assert_eq!(
            err.to_string(),
            "event item of 16 bytes exceeds max_event_size (10)"
        );

        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Attachment, "a"));
        envelope.add_item(Item::new(ItemType::Attachment, "b"));
        let err = limits.check(&envelope).unwrap_err();
        assert_eq!(err.kind, LimitKind::AttachmentCount);
        assert_eq!(
            err.to_string(),
            "attachment count of 2 exceeds max_attachment_count (1)"
        );

        let mut envelope = Envelope::default();
        for _ in 0..3 {
            envelope.add_item(Item::new(ItemType::Session, "{}"));
        }
        assert_eq!(
            limits.check(&envelope).unwrap_err().kind,
            LimitKind::SessionCount
        );
        assert!(Limits::default().check(&envelope).is_ok());
    }
}
