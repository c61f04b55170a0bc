//! Cron monitor check-ins.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::Other;

/// The state a check-in reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckInStatus {
    /// The job started.
    InProgress,
    /// The job finished.
    Ok,
    /// The job failed.
    Error,
    /// Set by the server when a job missed its schedule.
    Missed,
    /// Set by the server when a job ran too long.
    Timeout,
    /// Any other value, kept for validation to decide.
    #[serde(untagged)]
    Other(String),
}

/// The schedule and thresholds of a monitor, sent to create or update it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// `{"type": "crontab", "value": "0 * * * *"}` or
    /// `{"type": "interval", "value": 10, "unit": "minute"}`.
    pub schedule: Map<String, Value>,
    /// Minutes a check-in may be late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_margin: Option<u64>,
    /// Minutes a job may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime: Option<u64>,
    /// The time zone of a crontab schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Failures in a row before an issue is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_issue_threshold: Option<u64>,
    /// Successes in a row before the issue is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<u64>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

/// A check-in of a cron job (`check_in` item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    /// The id shared by the start and end check-ins of one run.
    pub check_in_id: String,
    /// The monitor.
    pub monitor_slug: String,
    /// The state.
    pub status: CheckInStatus,
    /// The environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Seconds the job took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// The monitor's configuration (upsert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_config: Option<MonitorConfig>,
    /// The trace context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Map<String, Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub other: Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn check_in() {
        let c: CheckIn = serde_json::from_value(json!({
            "check_in_id": "83a7c03ed0a04e1b97e2e3b18d38f244", "monitor_slug": "nightly",
            "status": "in_progress",
            "monitor_config": {"schedule": {"type": "crontab", "value": "0 0 * * *"}, "checkin_margin": 5}
        }))
        .unwrap();
        assert_eq!(c.status, CheckInStatus::InProgress);
        assert_eq!(c.monitor_config.unwrap().checkin_margin, Some(5));
        assert!(
            serde_json::from_value::<CheckIn>(json!({"monitor_slug": "x", "status": "ok"}))
                .is_err()
        );
    }
}
