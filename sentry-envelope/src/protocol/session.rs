//! Release-health sessions: single updates and pre-aggregated counts.

use serde::{Deserialize, Serialize};

use super::common::{Other, Timestamp};

/// The state of a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Still running.
    Ok,
    /// Ended normally.
    Exited,
    /// Ended by a crash.
    Crashed,
    /// Ended in an unknown way (the app was killed, say).
    Abnormal,
    /// Ended with handled errors (an SDK may send it at the end).
    Errored,
    /// Any other value, kept for normalization to decide.
    #[serde(untagged)]
    Other(String),
}

/// Release and environment of a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionAttributes {
    /// The release (required by Sentry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The client's IP address, or `{{auto}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// One update of one session (`session` item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionUpdate {
    /// The session id.
    pub sid: String,
    /// The distinct id (user or device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// A sequence number to order updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When the update was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// When the session started.
    pub started: Timestamp,
    /// Whether this is the first update of the session.
    #[serde(default)]
    pub init: bool,
    /// Seconds the session lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// The state.
    pub status: SessionStatus,
    /// Errors seen during the session.
    #[serde(default)]
    pub errors: u64,
    /// Release and environment.
    pub attrs: SessionAttributes,
    /// Why an abnormal session ended (`anr_foreground`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abnormal_mechanism: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Session counts of one bucket of start times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionAggregateItem {
    /// The start of the bucket.
    pub started: Timestamp,
    /// The distinct id, if counted per user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// Sessions that ended normally.
    #[serde(default)]
    pub exited: u32,
    /// Sessions with errors.
    #[serde(default)]
    pub errored: u32,
    /// Sessions that ended abnormally.
    #[serde(default)]
    pub abnormal: u32,
    /// Sessions that crashed.
    #[serde(default)]
    pub crashed: u32,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Pre-aggregated sessions (`sessions` item), as server SDKs send them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionAggregates {
    /// The buckets.
    #[serde(default)]
    pub aggregates: Vec<SessionAggregateItem>,
    /// Release and environment of all of them.
    pub attrs: SessionAttributes,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_update() {
        let s: SessionUpdate = serde_json::from_value(json!({
            "sid": "8333339f-5675-4f89-a9a0-1c935255ab58", "init": true,
            "started": "2020-02-07T14:16:00Z", "status": "exited", "errors": 1,
            "attrs": {"release": "app@1.0", "environment": "production"}
        }))
        .unwrap();
        assert_eq!(s.status, SessionStatus::Exited);
        assert_eq!(s.attrs.release.as_deref(), Some("app@1.0"));
        let odd: SessionUpdate = serde_json::from_value(json!({
            "sid": "x", "started": 0, "status": "zombie", "attrs": {}
        }))
        .unwrap();
        assert_eq!(odd.status, SessionStatus::Other("zombie".into()));
        assert_eq!(serde_json::to_value(&odd.status).unwrap(), json!("zombie"));
    }

    #[test]
    fn aggregates() {
        let a: SessionAggregates = serde_json::from_value(json!({
            "aggregates": [{"started": "2020-02-07T14:16:00Z", "exited": 2, "errored": 1}],
            "attrs": {"release": "app@1.0"}
        }))
        .unwrap();
        assert_eq!(a.aggregates[0].exited, 2);
        assert_eq!(a.aggregates[0].crashed, 0);
    }
}
