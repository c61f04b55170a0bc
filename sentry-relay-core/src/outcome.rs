//! Outcomes: what became of every item the edge received.
//!
//! Each accepted, filtered, rate-limited, invalid or client-discarded item
//! is counted by organization, project, key, category and reason. The edge
//! and the consumers collect outcomes in an [`OutcomeAggregator`], which
//! sums equal ones per minute, and write the sums to the `outcomes` stream
//! in the JSON shape of [`Outcome`]. A consumer of that stream stores them
//! for the stats API.
//!
//! [`client_report_outcomes`] turns an SDK's client report into outcomes
//! of the same kinds.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use sentry_envelope::{DataCategory, ProjectId};
//! use sentry_relay_core::outcome::{OutcomeAggregator, OutcomeKind};
//! use sentry_relay_core::quota::Scoping;
//!
//! let scoping = Scoping::new(1, ProjectId::new(42)).with_key_id(7);
//! let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 30).unwrap();
//! let mut outcomes = OutcomeAggregator::default();
//! outcomes.add(now, scoping, OutcomeKind::Filtered, Some("browser-extensions"), DataCategory::Error, 1);
//! outcomes.add(now, scoping, OutcomeKind::Filtered, Some("browser-extensions"), DataCategory::Error, 2);
//!
//! let flushed = outcomes.drain();
//! assert_eq!(flushed.len(), 1);
//! assert_eq!(flushed[0].quantity, 3);
//! assert_eq!(flushed[0].timestamp, Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sentry_envelope::DataCategory;
use sentry_envelope::protocol::ClientReport;
use serde::{Deserialize, Serialize};

use crate::quota::Scoping;

/// The longest reason kept; longer ones are cut (reasons are codes, and
/// client reports may carry anything).
pub const MAX_REASON_LENGTH: usize = 200;

/// How far back a client report's timestamp may lie (Relay keeps reports
/// up to five days old); older ones are counted at receive time.
pub const MAX_CLIENT_REPORT_AGE_SECS: i64 = 5 * 24 * 3600;

/// What happened to an item, with Sentry's numeric codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// Stored.
    Accepted,
    /// Dropped by an inbound filter.
    Filtered,
    /// Dropped by a quota or rate limit.
    RateLimited,
    /// Dropped because it was malformed or over a limit.
    Invalid,
    /// Dropped as abuse.
    Abuse,
    /// Dropped by the SDK before sending (from client reports).
    ClientDiscard,
    /// Dropped by a cardinality limit.
    CardinalityLimited,
}

impl OutcomeKind {
    /// Every kind.
    pub const ALL: [OutcomeKind; 7] = [
        OutcomeKind::Accepted,
        OutcomeKind::Filtered,
        OutcomeKind::RateLimited,
        OutcomeKind::Invalid,
        OutcomeKind::Abuse,
        OutcomeKind::ClientDiscard,
        OutcomeKind::CardinalityLimited,
    ];

    /// Sentry's numeric code (`outcome` in its Kafka messages).
    pub fn code(self) -> u8 {
        match self {
            OutcomeKind::Accepted => 0,
            OutcomeKind::Filtered => 1,
            OutcomeKind::RateLimited => 2,
            OutcomeKind::Invalid => 3,
            OutcomeKind::Abuse => 4,
            OutcomeKind::ClientDiscard => 5,
            OutcomeKind::CardinalityLimited => 6,
        }
    }

    /// The kind of a numeric code.
    pub fn from_code(code: u8) -> Option<Self> {
        OutcomeKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The name the stats API uses (`accepted`, `rate_limited`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Accepted => "accepted",
            OutcomeKind::Filtered => "filtered",
            OutcomeKind::RateLimited => "rate_limited",
            OutcomeKind::Invalid => "invalid",
            OutcomeKind::Abuse => "abuse",
            OutcomeKind::ClientDiscard => "client_discard",
            OutcomeKind::CardinalityLimited => "cardinality_limited",
        }
    }

    /// The kind of a stats API name.
    pub fn from_name(name: &str) -> Option<Self> {
        OutcomeKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OutcomeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for OutcomeKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u8::deserialize(d)?;
        OutcomeKind::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown outcome code {code}")))
    }
}

/// A counted outcome: one message of the `outcomes` stream.
///
/// The JSON shape follows Sentry's outcome messages (`org_id`,
/// `project_id`, `key_id`, `outcome` as a number, `reason`, `category`,
/// `quantity`), except that the category is its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The start of the minute the items were received in.
    pub timestamp: DateTime<Utc>,
    /// The organization.
    pub org_id: u64,
    /// The project.
    pub project_id: u64,
    /// The client key, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<u64>,
    /// What happened.
    pub outcome: OutcomeKind,
    /// Why (a filter, a quota's reason code, an invalid reason, an SDK's
    /// discard reason); none for accepted items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was counted.
    pub category: DataCategory,
    /// How much: items, or bytes for byte categories.
    pub quantity: u64,
}

impl Outcome {
    /// Parses a message of the `outcomes` stream.
    pub fn from_json(bytes: &[u8]) -> Result<Outcome, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The JSON message.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The minute a time falls in.
fn bucket(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

fn clean_reason(reason: Option<&str>) -> Option<String> {
    let reason = reason?.trim();
    if reason.is_empty() {
        return None;
    }
    let mut end = reason.len().min(MAX_REASON_LENGTH);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Some(reason[..end].to_owned())
}

type OutcomeKey = (
    DateTime<Utc>,
    u64,
    u64,
    Option<u64>,
    OutcomeKind,
    Option<String>,
    DataCategory,
);

/// Sums outcomes per minute until they are drained.
#[derive(Debug, Default)]
pub struct OutcomeAggregator {
    sums: BTreeMap<OutcomeKey, u64>,
}

impl OutcomeAggregator {
    /// Counts `quantity` items of `category` that had `kind` at `at`.
    /// Zero quantities are not counted.
    pub fn add(
        &mut self,
        at: DateTime<Utc>,
        scoping: Scoping,
        kind: OutcomeKind,
        reason: Option<&str>,
        category: DataCategory,
        quantity: u64,
    ) {
        if quantity == 0 {
            return;
        }
        let key = (
            bucket(at),
            scoping.organization_id,
            scoping.project_id.value(),
            scoping.key_id,
            kind,
            clean_reason(reason),
            category,
        );
        let sum = self.sums.entry(key).or_default();
        *sum = sum.saturating_add(quantity);
    }

    /// Adds an outcome as it is (re-bucketed to its minute).
    pub fn add_outcome(&mut self, outcome: &Outcome) {
        let scoping = Scoping {
            organization_id: outcome.org_id,
            project_id: sentry_envelope::ProjectId::new(outcome.project_id),
            key_id: outcome.key_id,
        };
        self.add(
            outcome.timestamp,
            scoping,
            outcome.outcome,
            outcome.reason.as_deref(),
            outcome.category,
            outcome.quantity,
        );
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// How many distinct outcomes are waiting.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// Takes every sum, oldest minute first.
    pub fn drain(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.sums)
            .into_iter()
            .map(
                |((timestamp, org_id, project_id, key_id, outcome, reason, category), quantity)| {
                    Outcome {
                        timestamp,
                        org_id,
                        project_id,
                        key_id,
                        outcome,
                        reason,
                        category,
                        quantity,
                    }
                },
            )
            .collect()
    }
}

/// The outcomes an SDK's client report stands for: `discarded_events` as
/// `client_discard`, `rate_limited_events` as `rate_limited` and
/// `filtered_events` as `filtered`, each with the reported reason.
///
/// They are counted at the report's timestamp when it lies between
/// [`MAX_CLIENT_REPORT_AGE_SECS`] ago and a minute ahead, otherwise at
/// `received`. Unknown categories are dropped.
pub fn client_report_outcomes(
    report: &ClientReport,
    received: DateTime<Utc>,
    aggregator: &mut OutcomeAggregator,
    scoping: Scoping,
) {
    let at = report
        .timestamp
        .map(|t| t.datetime())
        .filter(|t| {
            *t >= received - TimeDelta::seconds(MAX_CLIENT_REPORT_AGE_SECS)
                && *t <= received + TimeDelta::seconds(60)
        })
        .unwrap_or(received);
    let groups = [
        (&report.discarded_events, OutcomeKind::ClientDiscard),
        (&report.rate_limited_events, OutcomeKind::RateLimited),
        (&report.filtered_events, OutcomeKind::Filtered),
    ];
    for (entries, kind) in groups {
        for entry in entries {
            if entry.category == DataCategory::Unknown {
                continue;
            }
            aggregator.add(
                at,
                scoping,
                kind,
                Some(&entry.reason),
                entry.category,
                entry.quantity,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sentry_envelope::ProjectId;
    use serde_json::json;

    fn scoping() -> Scoping {
        Scoping::new(1, ProjectId::new(42)).with_key_id(3)
    }

    #[test]
    fn codes_and_names_round_trip() {
        for kind in OutcomeKind::ALL {
            assert_eq!(OutcomeKind::from_code(kind.code()), Some(kind));
            assert_eq!(OutcomeKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(OutcomeKind::from_code(7), None);
        assert_eq!(OutcomeKind::RateLimited.code(), 2);
    }

    #[test]
    fn json_shape() {
        let outcome = Outcome {
            timestamp: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
            org_id: 1,
            project_id: 42,
            key_id: Some(3),
            outcome: OutcomeKind::RateLimited,
            reason: Some("project_quota".into()),
            category: DataCategory::Error,
            quantity: 2,
        };
        let value: serde_json::Value = serde_json::from_slice(&outcome.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "timestamp": "2024-05-01T12:00:00Z", "org_id": 1, "project_id": 42, "key_id": 3,
                "outcome": 2, "reason": "project_quota", "category": "error", "quantity": 2
            })
        );
        assert_eq!(Outcome::from_json(&outcome.to_json()).unwrap(), outcome);
        assert!(Outcome::from_json(br#"{"outcome": 9}"#).is_err());
    }

    #[test]
    fn sums_per_minute_and_key() {
        let mut agg = OutcomeAggregator::default();
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 10).unwrap();
        agg.add(
            t,
            scoping(),
            OutcomeKind::Accepted,
            None,
            DataCategory::Error,
            1,
        );
        agg.add(
            t + TimeDelta::seconds(40),
            scoping(),
            OutcomeKind::Accepted,
            Some(""),
            DataCategory::Error,
            1,
        );
        agg.add(
            t + TimeDelta::seconds(60),
            scoping(),
            OutcomeKind::Accepted,
            None,
            DataCategory::Error,
            1,
        );
        agg.add(
            t,
            scoping(),
            OutcomeKind::Accepted,
            None,
            DataCategory::Attachment,
            0,
        );
        agg.add(
            t,
            Scoping::new(1, ProjectId::new(43)),
            OutcomeKind::Accepted,
            None,
            DataCategory::Error,
            5,
        );
        assert_eq!(agg.len(), 3);
        let out = agg.drain();
        assert!(agg.is_empty());
        let quantities: Vec<(u64, Option<u64>, u64)> = out
            .iter()
            .map(|o| (o.project_id, o.key_id, o.quantity))
            .collect();
        assert_eq!(
            quantities,
            vec![(42, Some(3), 2), (43, None, 5), (42, Some(3), 1)]
        );
    }

    #[test]
    fn long_reasons_are_cut_on_char_boundaries() {
        let mut agg = OutcomeAggregator::default();
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let reason = "é".repeat(150);
        agg.add(
            t,
            scoping(),
            OutcomeKind::ClientDiscard,
            Some(&reason),
            DataCategory::Error,
            1,
        );
        let out = agg.drain();
        let kept = out[0].reason.as_deref().unwrap();
        assert!(kept.len() <= MAX_REASON_LENGTH);
        assert_eq!(kept.chars().count(), 100);
    }

    #[test]
    fn client_reports() {
        let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let report: ClientReport = serde_json::from_value(json!({
            "timestamp": "2024-05-01T11:58:30Z",
            "discarded_events": [
                {"reason": "queue_overflow", "category": "error", "quantity": 23},
                {"reason": "sample_rate", "category": "transaction", "quantity": 5},
                {"reason": "sample_rate", "category": "something_new", "quantity": 5}
            ],
            "rate_limited_events": [{"reason": "ratelimit_backoff", "category": "attachment", "quantity": 1024}],
            "filtered_events": [{"reason": "localhost", "category": "error", "quantity": 1}]
        }))
        .unwrap();
        let mut agg = OutcomeAggregator::default();
        client_report_outcomes(&report, received, &mut agg, scoping());
        let out = agg.drain();
        assert_eq!(out.len(), 4);
        let minute = Utc.with_ymd_and_hms(2024, 5, 1, 11, 58, 0).unwrap();
        assert!(out.iter().all(|o| o.timestamp == minute));
        let find = |kind, category| {
            out.iter()
                .find(|o| o.outcome == kind && o.category == category)
                .unwrap()
        };
        let overflow = find(OutcomeKind::ClientDiscard, DataCategory::Error);
        assert_eq!(
            (overflow.reason.as_deref(), overflow.quantity),
            (Some("queue_overflow"), 23)
        );
        assert_eq!(
            find(OutcomeKind::RateLimited, DataCategory::Attachment).quantity,
            1024
        );
        assert_eq!(
            find(OutcomeKind::Filtered, DataCategory::Error)
                .reason
                .as_deref(),
            Some("localhost")
        );

        // A report from far in the past counts at receive time.
        let old: ClientReport = serde_json::from_value(json!({
            "timestamp": "2020-01-01T00:00:00Z",
            "discarded_events": [{"reason": "network_error", "category": "error", "quantity": 1}]
        }))
        .unwrap();
        client_report_outcomes(&old, received, &mut agg, scoping());
        assert_eq!(agg.drain()[0].timestamp, received);
    }
}
