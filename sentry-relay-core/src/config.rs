//! Project configs and client keys, as the ingest edge sees them.

use sentry_envelope::{Limits, ProjectId};
use serde::{Deserialize, Serialize};

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
        }
    }

    /// The config of a client key of this project, active or not.
    pub fn key(&self, public_key: &str) -> Option<&PublicKeyConfig> {
        self.public_keys.iter().find(|k| k.public_key == public_key)
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
