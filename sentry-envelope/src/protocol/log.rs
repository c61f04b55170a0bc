//! Structured logs (`log` items hold a container of log entries).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Other, Timestamp};

/// A typed attribute value (`{"value": ..., "type": "string"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// The value.
    pub value: Value,
    /// `string`, `integer`, `double`, `boolean`, or an array type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Anything else (`unit`, ...).
    #[serde(flatten)]
    pub other: Other,
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntryItem {
    /// When it was logged.
    pub timestamp: Timestamp,
    /// The trace it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The span it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// `trace`, `debug`, `info`, `warn`, `error` or `fatal`.
    pub level: String,
    /// The message.
    pub body: String,
    /// The OpenTelemetry severity number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_number: Option<i64>,
    /// Attributes (`sentry.release`, `sentry.message.template`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

impl LogEntryItem {
    /// An attribute read as a typed value, if present and well formed.
    pub fn attribute(&self, key: &str) -> Option<Attribute> {
        self.attributes
            .as_ref()?
            .get(key)
            .and_then(|v| Attribute::deserialize(v).ok())
    }
}

/// The payload of a `log` item: `{"items": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogContainer {
    /// The entries.
    #[serde(default)]
    pub items: Vec<LogEntryItem>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn log_container() {
        let c: LogContainer = serde_json::from_value(json!({"items": [{
            "timestamp": 1_700_000_000.25, "level": "warn", "body": "disk almost full",
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "attributes": {"sentry.release": {"value": "1.0", "type": "string"}}
        }]}))
        .unwrap();
        assert_eq!(c.items[0].level, "warn");
        assert_eq!(
            c.items[0].attribute("sentry.release").unwrap().value,
            json!("1.0")
        );
    }
}
