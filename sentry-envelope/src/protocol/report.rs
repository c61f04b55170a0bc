//! What SDKs report about themselves and what users report: client
//! reports, user reports and feedback.

use serde::{Deserialize, Serialize};

use super::common::{EventId, Other, Timestamp};
use crate::category::DataCategory;

/// Items an SDK dropped, by reason and category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscardedEvent {
    /// Why (`queue_overflow`, `ratelimit_backoff`, `sample_rate`, ...).
    pub reason: String,
    /// The data category.
    pub category: DataCategory,
    /// How many.
    pub quantity: u64,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// An SDK's report of what it dropped (`client_report` item).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    /// When the report was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Items the SDK dropped.
    #[serde(default)]
    pub discarded_events: Vec<DiscardedEvent>,
    /// Items dropped by rate limits (set by relays).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limited_events: Vec<DiscardedEvent>,
    /// Items dropped by inbound filters (set by relays).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filtered_events: Vec<DiscardedEvent>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Legacy user feedback about one event (`user_report` item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserReport {
    /// The event the feedback is about.
    pub event_id: EventId,
    /// The user's name.
    #[serde(default)]
    pub name: String,
    /// The user's e-mail address.
    #[serde(default)]
    pub email: String,
    /// What the user said.
    #[serde(default)]
    pub comments: String,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// The `feedback` context of a feedback event (`feedback` item, whose
/// payload is an [`Event`](super::Event) with this context).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackContext {
    /// What the user said.
    #[serde(default)]
    pub message: String,
    /// How to reach the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// The user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The page the user was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An error event the feedback is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_event_id: Option<EventId>,
    /// A replay of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
    /// Where the feedback came from (`widget`, `api`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_report() {
        let r: ClientReport = serde_json::from_value(json!({
            "timestamp": 1_700_000_000,
            "discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 3}]
        }))
        .unwrap();
        assert_eq!(r.discarded_events[0].category, DataCategory::Error);
        assert_eq!(r.discarded_events[0].quantity, 3);
    }

    #[test]
    fn user_report_needs_event_id() {
        assert!(serde_json::from_value::<UserReport>(json!({"name": "a"})).is_err());
        let r: UserReport = serde_json::from_value(json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "comments": "it broke"
        }))
        .unwrap();
        assert_eq!(r.comments, "it broke");
    }
}
