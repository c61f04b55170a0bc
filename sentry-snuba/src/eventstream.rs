//! The messages of the `events` stream, between the ingest consumer and the
//! Snuba consumer.
//!
//! The shape is the one self-hosted Sentry's event stream uses, so that a
//! custom consumer written for it reads ours: a JSON array of a protocol
//! version (2), a message type, and its body.
//!
//! - `[2, "insert", {event}, {state}]`: an event was saved. `event` holds
//!   the issue (`group_id`), the ids, `primary_hash`, `datetime` and the
//!   normalized event as `data`; `state` says whether the event opened a new
//!   issue or reopened a resolved one.
//! - `[2, "start_delete_groups" | "end_delete_groups", {body}]`,
//!   `[2, "end_merge", {body}]`, `[2, "tombstone_events", {body}]`: changes
//!   to stored rows, for the replacer (see [`crate::replacer`]).
//!
//! ```
//! use sentry_snuba::eventstream::{InsertEvent, InsertState, Message};
//!
//! let insert = InsertEvent {
//!     group_id: 7,
//!     event_id: "9ec79c33ec9942ab8353589fcb2e04dc".into(),
//!     organization_id: Some(1),
//!     project_id: 42,
//!     primary_hash: "c4ca4238a0b923820dcc509a6f75849b".into(),
//!     message: "ValueError: bad".into(),
//!     platform: Some("python".into()),
//!     datetime: "2024-05-01T10:00:00.000000Z".into(),
//!     data: serde_json::json!({"level": "error"}),
//! };
//! let bytes = Message::Insert(insert.clone(), InsertState::default()).encode();
//! match Message::decode(&bytes)? {
//!     Message::Insert(decoded, state) => {
//!         assert_eq!(decoded, insert);
//!         assert!(!state.is_new);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), sentry_snuba::eventstream::DecodeError>(())
//! ```

use serde::de::{IgnoredAny, SeqAccess};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The protocol version this crate writes and reads.
pub const VERSION: u64 = 2;

/// The largest message accepted by [`Message::decode`] (the stream's own
/// record limit is smaller; this guards custom producers).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// An event id as the event store keeps it: 32 lower-case hex digits, no
/// dashes.
pub fn normalize_event_id(id: &str) -> String {
    id.replace('-', "").to_ascii_lowercase()
}

/// A saved event, as the ingest consumer announces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsertEvent {
    /// The issue the event was grouped into.
    pub group_id: u64,
    /// The event id, 32 hex digits.
    pub event_id: String,
    /// The organization of the project, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<u64>,
    /// The project.
    pub project_id: u64,
    /// The grouping hash that matched the issue.
    #[serde(default)]
    pub primary_hash: String,
    /// The text that issue search matches: the title and the message.
    #[serde(default)]
    pub message: String,
    /// The platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// When the event happened, RFC 3339.
    pub datetime: String,
    /// The normalized event.
    pub data: Json,
}

/// What saving the event did to its issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertState {
    /// The event opened a new issue.
    #[serde(default)]
    pub is_new: bool,
    /// The event reopened a resolved issue.
    #[serde(default)]
    pub is_regression: bool,
    /// The first event of the issue in its environment.
    #[serde(default)]
    pub is_new_group_environment: bool,
}

/// Issues whose events are being deleted (`start_delete_groups`) or were
/// deleted (`end_delete_groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteGroups {
    /// The project.
    pub project_id: u64,
    /// The issues.
    pub group_ids: Vec<u64>,
    /// When the deletion was asked for, RFC 3339.
    pub datetime: String,
}

/// Issues merged into another one: their events now belong to
/// `new_group_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeGroups {
    /// The project.
    pub project_id: u64,
    /// The issues that go away.
    pub previous_group_ids: Vec<u64>,
    /// The issue that stays.
    pub new_group_id: u64,
    /// When the merge was asked for, RFC 3339.
    pub datetime: String,
}

/// Single events removed (for example by a reprocessing or a deletion of
/// one event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneEvents {
    /// The project.
    pub project_id: u64,
    /// The events, 32 hex digits.
    pub event_ids: Vec<String>,
}

/// A message of the `events` stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// An event was saved.
    Insert(InsertEvent, InsertState),
    /// The events of some issues are about to be deleted.
    StartDeleteGroups(DeleteGroups),
    /// The events of some issues were deleted: hide their rows.
    EndDeleteGroups(DeleteGroups),
    /// Issues were merged: move their rows to the new issue.
    EndMerge(MergeGroups),
    /// Single events were removed: hide their rows.
    TombstoneEvents(TombstoneEvents),
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes is larger than the limit of {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// Not JSON, or not of the expected shape.
    #[error("malformed event stream message: {0}")]
    Malformed(String),
    /// A protocol version this crate does not read.
    #[error("unsupported event stream protocol version {0}")]
    Version(u64),
    /// A message type this crate does not know.
    #[error("unknown event stream message type {0:?}")]
    UnknownType(String),
}

impl Message {
    /// The message type, as written in the message.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Insert(..) => "insert",
            Message::StartDeleteGroups(_) => "start_delete_groups",
            Message::EndDeleteGroups(_) => "end_delete_groups",
            Message::EndMerge(_) => "end_merge",
            Message::TombstoneEvents(_) => "tombstone_events",
        }
    }

    /// The message as JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        let body = match self {
            Message::Insert(event, state) => {
                return serde_json::to_vec(&(VERSION, self.kind(), event, state))
                    .expect("event stream messages serialize");
            }
            Message::StartDeleteGroups(b) | Message::EndDeleteGroups(b) => serde_json::to_value(b),
            Message::EndMerge(b) => serde_json::to_value(b),
            Message::TombstoneEvents(b) => serde_json::to_value(b),
        }
        .expect("event stream messages serialize");
        serde_json::to_vec(&(VERSION, self.kind(), body)).expect("event stream messages serialize")
    }

    /// `[2, "insert", {event}, {state}]` with the event's `data` given as
    /// JSON text and written as it is, not parsed again (`event.data` is
    /// ignored). `data` must be one JSON value: the caller serialized it.
    pub fn encode_insert(event: &InsertEvent, data: &[u8], state: &InsertState) -> Vec<u8> {
        let mut fields = match serde_json::to_value(event) {
            Ok(Json::Object(fields)) => fields,
            _ => unreachable!("an insert event serializes as an object"),
        };
        fields.remove("data");
        let head = serde_json::to_vec(&fields).expect("event stream messages serialize");
        let state = serde_json::to_vec(state).expect("event stream messages serialize");
        let mut out = Vec::with_capacity(head.len() + data.len() + state.len() + 32);
        out.extend_from_slice(b"[2,\"insert\",");
        out.extend_from_slice(&head[..head.len() - 1]);
        if !fields.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"data\":");
        out.extend_from_slice(data);
        out.extend_from_slice(b"},");
        out.extend_from_slice(&state);
        out.push(b']');
        out
    }

    /// Reads a message.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        decode_framed(bytes)
    }

    /// The ids of an insert message, read without building its event
    /// (`data` is skipped): what a consumer that acts on some projects
    /// only needs first. `None` for the other message types.
    pub fn decode_insert_ids(bytes: &[u8]) -> Result<Option<InsertIds>, DecodeError> {
        decode_framed(bytes)
    }
}

/// The ids of an insert message ([`Message::decode_insert_ids`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InsertIds {
    /// The issue the event was grouped into.
    pub group_id: u64,
    /// The event id, 32 hex digits.
    pub event_id: String,
    /// The project.
    pub project_id: u64,
}

/// Reads a message of the stream, `[version, type, body, state?]`, into
/// `T` element by element: straight into the message's types, where a
/// JSON tree converted afterwards would build the event's tree twice.
fn decode_framed<T: ReadBody>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let malformed = |e: serde_json::Error| DecodeError::Malformed(e.to_string());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let visitor = Framed(std::marker::PhantomData::<T>);
    let message = serde::Deserializer::deserialize_seq(&mut de, visitor).map_err(malformed)?;
    de.end().map_err(malformed)?;
    message
}

/// What [`decode_framed`] reads from the body (and state) of a message of
/// a known version.
trait ReadBody: Sized {
    /// Reads the elements after the type, `kind`; the result is what was
    /// read or why it is not a message this crate reads (JSON errors are
    /// the deserializer's).
    fn read<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        kind: String,
    ) -> Result<Result<Self, DecodeError>, A::Error>;
}

/// The error of a message without a body.
fn no_body<T>() -> Result<T, DecodeError> {
    Err(DecodeError::Malformed("no message body".to_owned()))
}

impl ReadBody for Message {
    fn read<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        kind: String,
    ) -> Result<Result<Self, DecodeError>, A::Error> {
        let message = match kind.as_str() {
            "insert" => match seq.next_element::<InsertEvent>()? {
                Some(event) => {
                    let state = seq.next_element::<Option<InsertState>>()?.flatten();
                    Ok(Message::Insert(event, state.unwrap_or_default()))
                }
                None => no_body(),
            },
            "start_delete_groups" => seq
                .next_element()?
                .map_or_else(no_body, |b| Ok(Message::StartDeleteGroups(b))),
            "end_delete_groups" => seq
                .next_element()?
                .map_or_else(no_body, |b| Ok(Message::EndDeleteGroups(b))),
            "end_merge" => seq
                .next_element()?
                .map_or_else(no_body, |b| Ok(Message::EndMerge(b))),
            "tombstone_events" => seq
                .next_element()?
                .map_or_else(no_body, |b| Ok(Message::TombstoneEvents(b))),
            _ => match seq.next_element::<IgnoredAny>()? {
                Some(_) => Err(DecodeError::UnknownType(kind)),
                None => no_body(),
            },
        };
        Ok(message)
    }
}

impl ReadBody for Option<InsertIds> {
    fn read<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        kind: String,
    ) -> Result<Result<Self, DecodeError>, A::Error> {
        // Other types are read as JSON only; unknown ones are no error
        // here, there is nothing to do with them.
        let ids = match kind.as_str() {
            "insert" => seq
                .next_element::<InsertIds>()?
                .map_or_else(no_body, |i| Ok(Some(i))),
            _ => Ok(None),
        };
        Ok(ids)
    }
}

/// The [`serde::de::Visitor`] of [`decode_framed`].
struct Framed<T>(std::marker::PhantomData<T>);

impl<'de, T: ReadBody> serde::de::Visitor<'de> for Framed<T> {
    type Value = Result<T, DecodeError>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event stream message, [version, type, body, state]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let malformed = |reason: &str| Err(DecodeError::Malformed(reason.to_owned()));
        let message = match seq.next_element::<Json>()?.and_then(|v| v.as_u64()) {
            None => malformed("no protocol version"),
            Some(version) if version != VERSION => Err(DecodeError::Version(version)),
            Some(_) => match seq.next_element::<Json>()? {
                Some(Json::String(kind)) => T::read(&mut seq, kind)?,
                _ => malformed("no message type"),
            },
        };
        // The rest is read (and must be JSON) whatever the result.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_with_raw_data_reads_back() {
        let event = InsertEvent {
            group_id: 3,
            event_id: "ab".into(),
            organization_id: None,
            project_id: 1,
            primary_hash: "h".into(),
            message: "m".into(),
            platform: None,
            datetime: "2024-05-01T10:00:00Z".into(),
            data: Json::Null,
        };
        let state = InsertState {
            is_new: true,
            ..InsertState::default()
        };
        let bytes =
            Message::encode_insert(&event, br#"{"level":"error","tags":[["a","b"]]}"#, &state);
        let Message::Insert(decoded, decoded_state) = Message::decode(&bytes).unwrap() else {
            panic!("not an insert");
        };
        assert_eq!(
            decoded.data,
            serde_json::json!({"level": "error", "tags": [["a", "b"]]})
        );
        assert_eq!(decoded.group_id, 3);
        assert_eq!(decoded_state, state);
    }

    #[test]
    fn replacements_round_trip() {
        let messages = [
            Message::EndDeleteGroups(DeleteGroups {
                project_id: 1,
                group_ids: vec![2, 3],
                datetime: "2024-05-01T10:00:00Z".into(),
            }),
            Message::EndMerge(MergeGroups {
                project_id: 1,
                previous_group_ids: vec![4],
                new_group_id: 2,
                datetime: "2024-05-01T10:00:00Z".into(),
            }),
            Message::TombstoneEvents(TombstoneEvents {
                project_id: 1,
                event_ids: vec!["ab".into()],
            }),
        ];
        for message in messages {
            let bytes = message.encode();
            assert!(bytes.starts_with(format!("[2,\"{}\",", message.kind()).as_bytes()));
            assert_eq!(Message::decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        assert!(matches!(
            Message::decode(b"[1, \"insert\", {}]"),
            Err(DecodeError::Version(1))
        ));
        assert!(matches!(
            Message::decode(b"[2, \"explode\", {}]"),
            Err(DecodeError::UnknownType(k)) if k == "explode"
        ));
        assert!(matches!(
            Message::decode(b"[2, \"insert\", {\"group_id\": 1}]"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"{}"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"[2]"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"[2, \"insert\"]"),
            Err(DecodeError::Malformed(m)) if m == "no message body"
        ));
        // The version is checked, but the rest must still be JSON.
        assert!(matches!(
            Message::decode(b"[3, \"insert\", {}]"),
            Err(DecodeError::Version(3))
        ));
        assert!(matches!(
            Message::decode(b"[3, \"insert\", {]"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Message::decode(b"[2, \"explode\", {}] x"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn insert_ids_are_read_without_the_event() {
        let bytes = br#"[2, "insert", {"group_id": 7, "event_id": "ab", "project_id": 1,
            "datetime": "2024-05-01T12:00:00Z", "data": {"k": [1, {"x": null}]}}, {"is_new": true}]"#;
        assert_eq!(
            Message::decode_insert_ids(bytes).unwrap(),
            Some(InsertIds {
                group_id: 7,
                event_id: "ab".into(),
                project_id: 1
            })
        );
        let merge = br#"[2, "end_merge", {"anything": 1}]"#;
        assert_eq!(Message::decode_insert_ids(merge).unwrap(), None);
        assert!(matches!(
            Message::decode_insert_ids(b"[1, \"insert\", {}]"),
            Err(DecodeError::Version(1))
        ));
        assert!(matches!(
            Message::decode_insert_ids(b"[2, \"insert\", {\"group_id\": 1}]"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn elements_after_the_state_are_ignored() {
        let bytes = br#"[2, "insert", {"group_id": 7, "event_id": "ab", "project_id": 1,
            "datetime": "2024-05-01T12:00:00Z", "data": {"k": [1, {"x": null}]}}, null, "later", {}]"#;
        let Message::Insert(event, state) = Message::decode(bytes).unwrap() else {
            panic!("not an insert");
        };
        assert_eq!((event.group_id, event.project_id), (7, 1));
        assert_eq!(event.data, serde_json::json!({"k": [1, {"x": null}]}));
        assert_eq!(state, InsertState::default());
    }
}
