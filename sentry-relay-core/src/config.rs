//! Project configs and client keys, as the ingest edge sees them.

use sentry_envelope::{Limits, ProjectId};
use serde::{Deserialize, Serialize};

use crate::filter::{CompiledFilters, FiltersConfig};
use crate::pii::{CompiledPiiConfig, DataScrubbingConfig, PiiConfig, PiiError, scrub_event_with};
use crate::quota::{KeyRateLimit, Quota, Scoping};

/// One client key (DSN) of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyConfig {
    /// The public key, the user part of the DSN (32 hex digits).
    pub public_key: String,
    /// Whether the key may send data; a disabled key is refused with 403.
    #[serde(default = "default_true")]
    pub active: bool,
    /// The key's numeric id in the metadata store (Sentry's `key_id`),
    /// written into events and outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_id: Option<u64>,
    /// The key's rate limit (errors per window), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<KeyRateLimit>,
}

impl PublicKeyConfig {
    /// An active key without a numeric id or rate limit.
    pub fn new(public_key: impl Into<String>) -> Self {
        PublicKeyConfig {
            public_key: public_key.into(),
            active: true,
            numeric_id: None,
            rate_limit: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// What the ingest edge needs to know about a project.
///
/// The limits are the size and count limits of [`Limits`], which a project
/// may tighten below the server's; in serialized form every limit is
/// optional and defaults to Relay's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectConfig {
    /// The project.
    #[serde(with = "project_id_serde")]
    pub project_id: ProjectId,
    /// The organization that owns it.
    pub organization_id: u64,
    /// The project's slug.
    pub slug: String,
    /// The platform chosen for the project (`python`, `javascript-react`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Its client keys.
    #[serde(default)]
    pub public_keys: Vec<PublicKeyConfig>,
    /// A disabled project accepts nothing (403).
    #[serde(default)]
    pub disabled: bool,
    /// Size and count limits for envelopes of this project.
    #[serde(default, with = "limits_serde")]
    pub limits: Limits,
    /// What the project's owners set: filters, scrubbing, quotas, domains.
    #[serde(default)]
    pub settings: ProjectSettings,
}

/// The settings of a project that decide what is kept: the part of a
/// project config its owners edit, in Relay's camelCase JSON
/// (`allowedDomains`, `trustedRelays`, `piiConfig`, `datascrubbingSettings`,
/// `filterSettings`, `quotas`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProjectSettings {
    /// Origins browsers may send events from: host names, `*.example.com`
    /// wildcards, or `*` for any. Requests whose `Origin` (or `Referer`)
    /// matches none are refused with 403. An empty list allows none.
    pub allowed_domains: Vec<String>,
    /// Public keys of relays trusted to forward this project's data.
    pub trusted_relays: Vec<String>,
    /// Advanced data scrubbing rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pii_config: Option<PiiConfig>,
    /// The simple data scrubbing settings.
    pub datascrubbing_settings: DataScrubbingConfig,
    /// Inbound filters.
    pub filter_settings: FiltersConfig,
    /// Quotas for the project, its organization and its keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<Quota>,
}

impl Default for ProjectSettings {
    /// Everything allowed and nothing scrubbed, filtered or limited.
    fn default() -> Self {
        ProjectSettings {
            allowed_domains: vec!["*".to_owned()],
            trusted_relays: Vec::new(),
            pii_config: None,
            datascrubbing_settings: DataScrubbingConfig::default(),
            filter_settings: FiltersConfig::default(),
            quotas: Vec::new(),
        }
    }
}

impl ProjectSettings {
    /// The settings Sentry gives a new project: data scrubbing with the
    /// default scrubbers (IP addresses kept), and the browser-extension,
    /// legacy-browser, web-crawler and health-check filters on.
    pub fn new_project() -> Self {
        let mut settings = ProjectSettings::default();
        settings.datascrubbing_settings.scrub_data = true;
        settings.datascrubbing_settings.scrub_defaults = true;
        let filters = &mut settings.filter_settings;
        filters.browser_extensions.is_enabled = true;
        filters.web_crawlers.is_enabled = true;
        filters.health_check.is_enabled = true;
        filters.legacy_browsers.is_enabled = true;
        filters.legacy_browsers.browsers = [crate::filter::LegacyBrowser::Default]
            .into_iter()
            .collect();
        settings
    }
}

impl ProjectConfig {
    /// A project with no keys, enabled, with Relay's default limits.
    pub fn new(project_id: ProjectId, organization_id: u64, slug: impl Into<String>) -> Self {
        ProjectConfig {
            project_id,
            organization_id,
            slug: slug.into(),
            platform: None,
            public_keys: Vec::new(),
            disabled: false,
            limits: Limits::default(),
            settings: ProjectSettings::default(),
        }
    }

    /// Who data sent with a key belongs to, for quotas and outcomes.
    pub fn scoping(&self, public_key: Option<&str>) -> Scoping {
        let scoping = Scoping::new(self.organization_id, self.project_id);
        match public_key
            .and_then(|k| self.key(k))
            .and_then(|k| k.numeric_id)
        {
            Some(id) => scoping.with_key_id(id),
            None => scoping,
        }
    }

    /// The config of a client key of this project, active or not.
    pub fn key(&self, public_key: &str) -> Option<&PublicKeyConfig> {
        self.public_keys.iter().find(|k| k.public_key == public_key)
    }
}

/// A project's filters and scrubbing rules, compiled once per config and
/// applied to every event of the project.
///
/// Scrubbing applies the advanced rules (`pii_config`) first, then the
/// rules the simple data scrubbing settings stand for, as Relay does.
/// Rules that do not compile are left out and listed in
/// [`errors`](Self::errors); the settings API refuses them before they
/// are saved, so this only happens with configs written by other means.
#[derive(Debug)]
pub struct CompiledProject {
    /// The inbound filters.
    pub filters: CompiledFilters,
    /// The scrubbing rules, in the order they apply.
    pub pii: Vec<CompiledPiiConfig>,
    /// Rules that did not compile.
    pub errors: Vec<String>,
}

impl CompiledProject {
    /// Compiles a project's settings.
    pub fn new(settings: &ProjectSettings) -> Self {
        let mut errors = Vec::new();
        let mut pii = Vec::new();
        let configs = [
            settings.pii_config.clone(),
            settings.datascrubbing_settings.to_pii_config(),
        ];
        for config in configs.into_iter().flatten() {
            match CompiledPiiConfig::new(&config) {
                Ok(compiled) if !compiled.is_empty() => pii.push(compiled),
                Ok(_) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        let filters = CompiledFilters::new(&settings.filter_settings);
        errors.extend(
            filters
                .invalid_patterns()
                .iter()
                .map(|p| format!("invalid filter pattern {p:?}")),
        );
        CompiledProject {
            filters,
            pii,
            errors,
        }
    }

    /// Whether scrubbing changes nothing.
    pub fn scrubs_nothing(&self) -> bool {
        self.pii.is_empty()
    }

    /// Scrubs a normalized event (as JSON) with every rule set in turn.
    pub fn scrub(&self, event: &mut serde_json::Value) -> Result<(), PiiError> {
        scrub_event_with(event, &self.pii)
    }
}

mod project_id_serde {
    use sentry_envelope::ProjectId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(id: &ProjectId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(id.value())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ProjectId, D::Error> {
        u64::deserialize(d).map(ProjectId::new)
    }
}

/// `Limits` has no serde support in `sentry-envelope`; this mirror gives it
/// one, every field optional.
mod limits_serde {
    use sentry_envelope::Limits;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    macro_rules! mirror {
        ($($field:ident: $ty:ty),* $(,)?) => {
            #[derive(Serialize, Deserialize)]
            #[serde(default, deny_unknown_fields)]
            struct Mirror {
                $($field: $ty,)*
            }

            impl Default for Mirror {
                fn default() -> Self {
                    Mirror::from(&Limits::default())
                }
            }

            impl From<&Limits> for Mirror {
                fn from(l: &Limits) -> Self {
                    Mirror { $($field: l.$field,)* }
                }
            }

            impl From<Mirror> for Limits {
                fn from(m: Mirror) -> Self {
                    Limits { $($field: m.$field,)* }
                }
            }
        };
    }

    mirror! {
        max_envelope_size: u64,
        max_event_size: u64,
        max_attachment_size: u64,
        max_attachments_size: u64,
        max_attachment_count: u64,
        max_client_reports_size: u64,
        max_check_in_size: u64,
        max_sessions_size: u64,
        max_session_count: u64,
        max_profile_size: u64,
        max_log_size: u64,
        max_span_size: u64,
        max_trace_metric_size: u64,
        max_statsd_size: u64,
        max_metric_buckets_size: u64,
        max_replay_compressed_size: u64,
        max_replay_message_size: u64,
        max_item_count: u64,
        max_json_depth: usize,
    }

    pub(super) fn serialize<S: Serializer>(limits: &Limits, s: S) -> Result<S::Ok, S::Error> {
        Mirror::from(limits).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
        Mirror::deserialize(d).map(Limits::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serde_with_defaults() {
        let config: ProjectConfig = serde_json::from_value(json!({
            "project_id": 42,
            "organization_id": 1,
            "slug": "backend",
            "public_keys": [{"public_key": "abc"}, {"public_key": "def", "active": false, "numeric_id": 7}],
            "limits": {"max_event_size": 1000}
        }))
        .unwrap();
        assert_eq!(config.project_id, ProjectId::new(42));
        assert!(config.key("abc").unwrap().active);
        assert_eq!(config.key("def").unwrap().numeric_id, Some(7));
        assert!(config.key("xyz").is_none());
        assert_eq!(config.limits.max_event_size, 1000);
        assert_eq!(config.limits.max_attachment_count, 30);
        assert!(!config.disabled);

        let again: ProjectConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        assert!(
            serde_json::from_value::<ProjectConfig>(json!({
                "project_id": 1, "organization_id": 1, "slug": "x", "limits": {"max_typo": 1}
            }))
            .is_err()
        );
    }
}
