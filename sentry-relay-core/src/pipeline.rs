//! The processing of one event, in Relay's order: normalize, filter,
//! scrub.
//!
//! [`process_event`] is what a consumer of accepted envelopes runs on each
//! event item: [`normalize_event`], then the project's inbound filters
//! (which see normalized data: parsed user agents, inferred IPs), then data
//! scrubbing (which sees everything the event will be stored with), then
//! Sentry's title, culprit and metadata again, computed from the scrubbed
//! event so that they show nothing a rule removed. A drop says which
//! outcome to record.

use std::net::IpAddr;

use sentry_envelope::DataCategory;
use sentry_envelope::protocol::Event;

use crate::config::CompiledProject;
use crate::filter::FilterStatKey;
use crate::normalize::{NormalizeConfig, NormalizeError, normalize_event, store_metadata};
use crate::outcome::OutcomeKind;
use crate::pii::PiiError;

/// Why an event was not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventDrop {
    /// Normalization refused it.
    #[error(transparent)]
    Invalid(#[from] NormalizeError),
    /// An inbound filter dropped it.
    #[error("filtered: {0}")]
    Filtered(FilterStatKey),
    /// Scrubbing failed; the event is dropped rather than kept unscrubbed.
    #[error("data scrubbing failed: {0}")]
    Scrubbing(#[from] PiiError),
    /// The scrubbed event no longer fits the event schema.
    #[error("scrubbed event is not an event: {0}")]
    Corrupt(String),
}

impl EventDrop {
    /// The outcome to record, with its reason.
    pub fn outcome(&self) -> (OutcomeKind, &'static str) {
        match self {
            EventDrop::Invalid(e) => (OutcomeKind::Invalid, e.reason()),
            EventDrop::Filtered(key) => (OutcomeKind::Filtered, key.as_str()),
            EventDrop::Scrubbing(_) | EventDrop::Corrupt(_) => (OutcomeKind::Invalid, "internal"),
        }
    }
}

/// The data category an event counts in: `transaction`, `security` for
/// security reports, `error` for errors and `default` for the rest.
pub fn event_category(event: &Event) -> DataCategory {
    match event.ty.as_deref() {
        Some("transaction") => DataCategory::Transaction,
        Some("csp" | "hpkp" | "expectct" | "expectstaple" | "nel") => DataCategory::Security,
        Some("default") => DataCategory::Default,
        _ if event.is_transaction() => DataCategory::Transaction,
        _ if event
            .exception
            .as_ref()
            .is_some_and(|e| !e.values.is_empty()) =>
        {
            DataCategory::Error
        }
        _ => DataCategory::Default,
    }
}

/// Normalizes, filters and scrubs one event of a project.
///
/// `client_ip` is the address the request came from (for the client-IP
/// filter). On success the event is ready to store. When scrubbing ran and
/// removed nothing, the event's JSON form it scrubbed is returned too:
/// serializing that is the same as serializing the event, and saves the
/// caller a conversion. (Every redaction leaves a `_meta` entry, so an
/// unchanged `_meta` means an unchanged event.)
pub fn process_event(
    event: &mut Event,
    config: &NormalizeConfig,
    project: &CompiledProject,
    client_ip: Option<IpAddr>,
) -> Result<Option<serde_json::Value>, EventDrop> {
    normalize_event(event, config)?;
    project
        .filters
        .should_filter(event, client_ip)
        .map_err(EventDrop::Filtered)?;
    if project.scrubs_nothing() {
        return Ok(None);
    }
    let corrupt = |e: serde_json::Error| EventDrop::Corrupt(e.to_string());
    let mut value = serde_json::to_value(&*event).map_err(corrupt)?;
    let meta_before = value.get("_meta").cloned();
    project.scrub(&mut value)?;
    if value.get("_meta") == meta_before.as_ref() {
        return Ok(Some(value));
    }
    *event = serde_json::from_value(value).map_err(corrupt)?;
    store_metadata(event);
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectSettings;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn event(value: serde_json::Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    fn config() -> NormalizeConfig {
        NormalizeConfig::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap())
    }

    #[test]
    fn filters_see_normalized_events() {
        let mut settings = ProjectSettings::default();
        settings.filter_settings.error_messages.patterns = vec!["*ignore me*".into()];
        let project = CompiledProject::new(&settings);
        let mut e = event(json!({"logentry": {"message": "please %s", "params": ["ignore me"]}}));
        let drop = process_event(&mut e, &config(), &project, None).unwrap_err();
        assert_eq!(drop.outcome(), (OutcomeKind::Filtered, "error-message"));

        let mut kept = event(json!({"message": "keep me"}));
        process_event(&mut kept, &config(), &project, None).unwrap();
    }

    #[test]
    fn titles_come_from_scrubbed_data() {
        let settings = ProjectSettings {
            pii_config: Some(
                serde_json::from_value(json!({
                    "rules": {"card": {"type": "pattern", "pattern": "card-[0-9]+", "redaction": {"method": "replace", "text": "[card]"}}},
                    "applications": {"$error.value": ["card"]}
                }))
                .unwrap(),
            ),
            ..ProjectSettings::default()
        };
        let project = CompiledProject::new(&settings);
        assert!(project.errors.is_empty(), "{:?}", project.errors);
        let mut e = event(json!({
            "exception": {"values": [{"type": "PaymentError", "value": "declined card-4242"}]},
            "extra": {"password": "hunter2"}
        }));
        process_event(&mut e, &config(), &project, None).unwrap();
        assert_eq!(e.other["title"], "PaymentError: declined [card]");
        assert_eq!(
            e.exception.unwrap().values[0].value.as_deref(),
            Some("declined [card]")
        );
        // Only the advanced rule runs: the simple settings are off.
        assert_eq!(e.extra.unwrap()["password"], "hunter2");
        assert!(e.other.contains_key("_meta"));
    }

    #[test]
    fn an_unscrubbed_event_comes_back_as_json() {
        let project = CompiledProject::new(&ProjectSettings::new_project());
        let mut e = event(json!({"message": "nothing secret", "extra": {"fine": "ok"}}));
        let value = process_event(&mut e, &config(), &project, None)
            .unwrap()
            .expect("nothing was scrubbed");
        assert_eq!(value, serde_json::to_value(&e).unwrap());

        let mut secret = event(json!({"message": "x", "extra": {"password": "hunter2"}}));
        let value = process_event(&mut secret, &config(), &project, None).unwrap();
        assert!(value.is_none(), "a scrubbed event is re-read");
        assert_eq!(secret.extra.unwrap()["password"], "[Filtered]");
    }

    #[test]
    fn default_scrubbing_of_a_new_project() {
        let project = CompiledProject::new(&ProjectSettings::new_project());
        let mut e = event(json!({
            "message": "hello",
            "extra": {"password": "hunter2", "fine": "ok"},
            "user": {"ip_address": "203.0.113.9"}
        }));
        process_event(&mut e, &config(), &project, None).unwrap();
        let extra = e.extra.unwrap();
        assert_eq!(extra["password"], "[Filtered]");
        assert_eq!(extra["fine"], "ok");
        // New projects keep IP addresses, as in Sentry.
        assert_eq!(e.user.unwrap().ip_address.as_deref(), Some("203.0.113.9"));
        assert_eq!(
            event_category(&event(json!({"type": "csp"}))),
            DataCategory::Security
        );
    }
}
