//! Envelope items: their types, headers and what they count as.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::category::DataCategory;

macro_rules! names {
    (
        $(#[$outer:meta])* $ty:ident, $unknown_doc:literal,
        $($(#[$doc:meta])* $variant:ident => $name:literal,)*
    ) => {
        $(#[$outer])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$doc])* $variant,)*
            #[doc = $unknown_doc]
            Unknown(String),
        }

        impl $ty {
            /// The name on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $($ty::$variant => $name,)*
                    $ty::Unknown(name) => name,
                }
            }

            /// Maps a wire name to its variant; unknown names are kept.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($name => $ty::$variant,)*
                    other => $ty::Unknown(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok($ty::from_name(&name))
            }
        }
    };
}

names! {
    /// The type of an envelope item (its `type` header).
    ///
    /// Unknown types are kept as [`ItemType::Unknown`] and carried through, so
    /// that a newer SDK's items survive an older server.
    ItemType, "A type this version does not know, kept verbatim.",
    /// An error event (JSON).
    Event => "event",
    /// A transaction event (JSON).
    Transaction => "transaction",
    /// A security report (CSP, Expect-CT, HPKP, Expect-Staple) already in event form.
    Security => "security",
    /// A security report as the browser sent it.
    RawSecurity => "raw_security",
    /// A Network Error Logging report.
    Nel => "nel",
    /// A file attached to an event; see [`AttachmentType`].
    Attachment => "attachment",
    /// Form fields of a multipart request (minidump uploads).
    FormData => "form_data",
    /// An Unreal Engine crash report archive.
    UnrealReport => "unreal_report",
    /// Legacy user feedback tied to an event.
    UserReport => "user_report",
    /// User feedback (the feedback widget), an event of its own.
    UserReportV2 => "feedback",
    /// One release-health session update.
    Session => "session",
    /// Pre-aggregated release-health sessions.
    Sessions => "sessions",
    /// Metrics in statsd text format.
    Statsd => "statsd",
    /// Metric buckets (JSON).
    MetricBuckets => "metric_buckets",
    /// An SDK's report of what it dropped.
    ClientReport => "client_report",
    /// A transaction-bound profile.
    Profile => "profile",
    /// A chunk of a continuous profile.
    ProfileChunk => "profile_chunk",
    /// The event of a session replay segment.
    ReplayEvent => "replay_event",
    /// The recording of a session replay segment.
    ReplayRecording => "replay_recording",
    /// A mobile replay video with its event and recording.
    ReplayVideo => "replay_video",
    /// A cron monitor check-in.
    CheckIn => "check_in",
    /// Structured logs (a container of log items).
    Log => "log",
    /// Trace metrics (a container of metric items).
    TraceMetric => "trace_metric",
    /// A standalone span (or a container of spans).
    Span => "span",
    /// An OpenTelemetry span (JSON).
    OtelSpan => "otel_span",
    /// OpenTelemetry trace data (OTLP).
    OtelTracesData => "otel_traces_data",
    /// An OpenTelemetry log (JSON).
    OtelLog => "otel_log",
    /// Data received through an integration endpoint.
    Integration => "integration",
}

impl ItemType {
    /// Whether items of this type are, or become, an event that gets an id.
    ///
    /// An envelope holds at most one of these (see
    /// [`Envelope::validate`](crate::Envelope::validate)).
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            ItemType::Event
                | ItemType::Transaction
                | ItemType::Security
                | ItemType::RawSecurity
                | ItemType::UnrealReport
        )
    }

    /// Whether an envelope carrying this item must have an `event_id`.
    ///
    /// These are the items that are, become, or attach to one event.
    pub fn requires_event(&self) -> bool {
        matches!(
            self,
            ItemType::Event
                | ItemType::Transaction
                | ItemType::Security
                | ItemType::RawSecurity
                | ItemType::Nel
                | ItemType::Attachment
                | ItemType::FormData
                | ItemType::UnrealReport
                | ItemType::UserReport
        )
    }

    /// Whether the item may hold many items of its kind (`item_count` header).
    pub fn is_container(&self) -> bool {
        matches!(
            self,
            ItemType::Log | ItemType::Span | ItemType::TraceMetric | ItemType::OtelLog
        )
    }
}

names! {
    /// What an attachment is (its `attachment_type` header).
    #[derive(Default)]
    AttachmentType, "An attachment type this version does not know, kept verbatim.",
    /// A plain file (the default).
    #[default]
    Attachment => "event.attachment",
    /// A minidump of a native crash.
    Minidump => "event.minidump",
    /// An Apple crash report.
    AppleCrashReport => "event.applecrashreport",
    /// A MessagePack event payload to merge into the event.
    EventPayload => "event.payload",
    /// MessagePack breadcrumbs to merge into the event.
    Breadcrumbs => "event.breadcrumbs",
    /// A view hierarchy of a mobile app.
    ViewHierarchy => "event.view_hierarchy",
    /// The context XML of an Unreal Engine crash.
    UnrealContext => "unreal.context",
    /// The logs of an Unreal Engine crash.
    UnrealLogs => "unreal.logs",
    /// A PlayStation crash dump.
    Prosperodump => "playstation.prosperodump",
}

/// The headers of an item, the JSON line before its payload.
///
/// `length` is not kept: it is framing, recomputed from the payload when the
/// envelope is written. Headers this version does not know stay in `other`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemHeaders {
    /// The item type.
    #[serde(rename = "type")]
    pub ty: ItemType,
    /// The payload's content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The file name of an attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// What an attachment is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<AttachmentType>,
    /// How many items a container item holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u32>,
    /// The platform of a profile chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Any other header, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ItemHeaders {
    /// Headers of the given type and nothing else.
    pub fn new(ty: ItemType) -> Self {
        ItemHeaders {
            ty,
            content_type: None,
            filename: None,
            attachment_type: None,
            item_count: None,
            platform: None,
            other: Map::new(),
        }
    }
}

/// One item of an envelope: headers and a payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The headers.
    pub headers: ItemHeaders,
    /// The payload bytes; shares the envelope's buffer after parsing.
    pub payload: Bytes,
}

impl Item {
    /// A new item of the given type with a payload.
    pub fn new(ty: ItemType, payload: impl Into<Bytes>) -> Self {
        Item {
            headers: ItemHeaders::new(ty),
            payload: payload.into(),
        }
    }

    /// The item type.
    pub fn ty(&self) -> &ItemType {
        &self.headers.ty
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The attachment type, defaulted for attachments that name none.
    pub fn attachment_type(&self) -> Option<AttachmentType> {
        match self.ty() {
            ItemType::Attachment => Some(self.headers.attachment_type.clone().unwrap_or_default()),
            _ => None,
        }
    }

    fn count(&self) -> usize {
        match self.ty().is_container() {
            true => self.headers.item_count.unwrap_or(1) as usize,
            false => 1,
        }
    }

    /// The main data category of this item, if it counts towards any.
    ///
    /// This is the category a rate limit on the item is looked up by.
    pub fn data_category(&self) -> Option<DataCategory> {
        self.quantities().first().map(|(category, _)| *category)
    }

    /// What this item counts as, per data category, for quotas and outcomes.
    ///
    /// Attachments count their bytes and one attachment item; logs count
    /// their bytes and their items; transactions count themselves and their
    /// spans (from the `span_count` header, when an SDK or relay set it);
    /// everything else counts one (or `item_count` for containers).
    pub fn quantities(&self) -> Vec<(DataCategory, usize)> {
        use DataCategory as C;
        let n = self.count();
        match self.ty() {
            ItemType::Event | ItemType::UnrealReport => vec![(C::Error, n)],
            ItemType::Transaction => {
                let spans = self
                    .headers
                    .other
                    .get("span_count")
                    .and_then(Value::as_u64)
                    .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
                vec![
                    (C::Transaction, n),
                    (C::TransactionIndexed, n),
                    (C::Span, n.saturating_add(spans)),
                    (C::SpanIndexed, n.saturating_add(spans)),
                ]
            }
            ItemType::Security | ItemType::RawSecurity => vec![(C::Security, n)],
            ItemType::Attachment => vec![(C::Attachment, self.len()), (C::AttachmentItem, n)],
            ItemType::Session | ItemType::Sessions => vec![(C::Session, n)],
            ItemType::UserReport | ItemType::UserReportV2 => vec![(C::UserReportV2, n)],
            ItemType::Profile => vec![(C::Profile, n), (C::ProfileIndexed, n)],
            ItemType::ProfileChunk => match self.headers.platform.as_deref() {
                Some("android" | "cocoa" | "javascript") => vec![(C::ProfileChunkUi, n)],
                Some(_) => vec![(C::ProfileChunk, n)],
                None => vec![],
            },
            ItemType::ReplayEvent | ItemType::ReplayRecording | ItemType::ReplayVideo => {
                vec![(C::Replay, n)]
            }
            ItemType::CheckIn => vec![(C::Monitor, n)],
            ItemType::Span | ItemType::OtelSpan | ItemType::OtelTracesData => {
                vec![(C::Span, n), (C::SpanIndexed, n)]
            }
            ItemType::Log | ItemType::OtelLog => {
                vec![(C::LogItem, n), (C::LogByte, self.len().max(1))]
            }
            ItemType::TraceMetric => vec![(C::TraceMetric, n)],
            ItemType::Nel
            | ItemType::FormData
            | ItemType::Statsd
            | ItemType::MetricBuckets
            | ItemType::ClientReport
            | ItemType::Integration
            | ItemType::Unknown(_) => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_type_names_round_trip() {
        for name in [
            "event",
            "transaction",
            "security",
            "raw_security",
            "nel",
            "attachment",
            "form_data",
            "unreal_report",
            "user_report",
            "feedback",
            "session",
            "sessions",
            "statsd",
            "metric_buckets",
            "client_report",
            "profile",
            "profile_chunk",
            "replay_event",
            "replay_recording",
            "replay_video",
            "check_in",
            "log",
            "trace_metric",
            "span",
            "otel_span",
            "otel_traces_data",
            "otel_log",
            "integration",
        ] {
            let ty = ItemType::from_name(name);
            assert!(
                !matches!(ty, ItemType::Unknown(_)),
                "{name} should be known"
            );
            assert_eq!(ty.as_str(), name);
        }
        assert_eq!(
            ItemType::from_name("brand_new"),
            ItemType::Unknown("brand_new".into())
        );
    }

    #[test]
    fn quantities() {
        let mut attachment = Item::new(ItemType::Attachment, vec![0u8; 1234]);
        assert_eq!(
            attachment.quantities(),
            vec![
                (DataCategory::Attachment, 1234),
                (DataCategory::AttachmentItem, 1)
            ]
        );
        assert_eq!(attachment.data_category(), Some(DataCategory::Attachment));
        assert_eq!(
            attachment.attachment_type(),
            Some(AttachmentType::Attachment)
        );
        attachment.headers.attachment_type = Some(AttachmentType::Minidump);
        assert_eq!(attachment.attachment_type(), Some(AttachmentType::Minidump));

        let mut logs = Item::new(ItemType::Log, "x".repeat(10));
        logs.headers.item_count = Some(3);
        assert_eq!(
            logs.quantities(),
            vec![(DataCategory::LogItem, 3), (DataCategory::LogByte, 10)]
        );

        let mut tx = Item::new(ItemType::Transaction, "{}");
        tx.headers.other.insert("span_count".into(), 4.into());
        assert!(tx.quantities().contains(&(DataCategory::Span, 5)));
        // Found by fuzzing: a huge span_count saturates instead of overflowing.
        tx.headers
            .other
            .insert("span_count".into(), u64::MAX.into());
        assert!(tx.quantities().contains(&(DataCategory::Span, usize::MAX)));
        // item_count only counts for containers.
        let mut event = Item::new(ItemType::Event, "{}");
        event.headers.item_count = Some(9);
        assert_eq!(event.quantities(), vec![(DataCategory::Error, 1)]);
        assert_eq!(
            Item::new(ItemType::ClientReport, "{}").data_category(),
            None
        );
        assert_eq!(
            Item::new(ItemType::Unknown("x".into()), "").data_category(),
            None
        );
    }
}
