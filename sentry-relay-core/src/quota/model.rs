//! Quotas as a project config carries them, and who an item belongs to.

use std::fmt;

use sentry_envelope::{DataCategory, ProjectId};
use serde::{Deserialize, Deserializer, Serialize};

/// The id of the quota a key's rate limit becomes, as Sentry names it.
pub const KEY_QUOTA_ID: &str = "k";

/// The reason code of the quota a key's rate limit becomes.
pub const KEY_QUOTA_REASON: &str = "key_quota";

/// What a quota is counted per.
///
/// A quota is counted separately in every instance of its scope: an
/// organization quota once per organization, a key quota once per client
/// key. Scopes this version does not know read as [`QuotaScope::Unknown`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum QuotaScope {
    /// Shared by every organization of the installation.
    Global,
    /// Per organization (the default).
    #[default]
    Organization,
    /// Per project.
    Project,
    /// Per client key (DSN).
    Key,
    /// A scope this version does not know.
    #[serde(other)]
    Unknown,
}

impl QuotaScope {
    /// The wire name, as in project configs and the `X-Sentry-Rate-Limits`
    /// header.
    pub fn name(self) -> &'static str {
        match self {
            QuotaScope::Global => "global",
            QuotaScope::Organization => "organization",
            QuotaScope::Project => "project",
            QuotaScope::Key => "key",
            QuotaScope::Unknown => "unknown",
        }
    }

    /// The scope with this wire name; [`QuotaScope::Unknown`] for anything
    /// else.
    pub fn from_name(name: &str) -> Self {
        match name {
            "global" => QuotaScope::Global,
            "organization" => QuotaScope::Organization,
            "project" => QuotaScope::Project,
            "key" => QuotaScope::Key,
            _ => QuotaScope::Unknown,
        }
    }
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who data belongs to: its organization, project and client key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scoping {
    /// The organization.
    pub organization_id: u64,
    /// The project.
    pub project_id: ProjectId,
    /// The numeric id of the client key (Sentry's `key_id`), when known.
    ///
    /// Key quotas only apply when it is known.
    pub key_id: Option<u64>,
}

impl Scoping {
    /// The scoping of a project, without a key.
    pub fn new(organization_id: u64, project_id: ProjectId) -> Self {
        Scoping {
            organization_id,
            project_id,
            key_id: None,
        }
    }

    /// The same scoping with a client key.
    pub fn with_key_id(mut self, key_id: u64) -> Self {
        self.key_id = Some(key_id);
        self
    }

    /// The scoping of one kind of data of this organization, project and
    /// key.
    pub fn item(self, category: DataCategory) -> ItemScoping {
        ItemScoping {
            category,
            organization_id: self.organization_id,
            project_id: self.project_id,
            key_id: self.key_id,
        }
    }
}

/// A [`Scoping`] and a data category: what a quota is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemScoping {
    /// The category the data counts in.
    pub category: DataCategory,
    /// The organization.
    pub organization_id: u64,
    /// The project.
    pub project_id: ProjectId,
    /// The numeric id of the client key, when known.
    pub key_id: Option<u64>,
}

impl ItemScoping {
    /// The scoping without the category.
    pub fn scoping(&self) -> Scoping {
        Scoping {
            organization_id: self.organization_id,
            project_id: self.project_id,
            key_id: self.key_id,
        }
    }

    /// The id of the instance of `scope` this item belongs to; `None` for
    /// the global scope, unknown scopes, and the key scope without a key.
    pub fn scope_id(&self, scope: QuotaScope) -> Option<u64> {
        match scope {
            QuotaScope::Organization => Some(self.organization_id),
            QuotaScope::Project => Some(self.project_id.value()),
            QuotaScope::Key => self.key_id,
            QuotaScope::Global | QuotaScope::Unknown => None,
        }
    }
}

/// The unit a category is counted in; a counted quota may only mix
/// categories of one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Count,
    Bytes,
    Batched,
}

fn unit(category: DataCategory) -> Option<Unit> {
    match category {
        DataCategory::Attachment | DataCategory::LogByte => Some(Unit::Bytes),
        DataCategory::Session => Some(Unit::Batched),
        DataCategory::Unknown => None,
        _ => Some(Unit::Count),
    }
}

/// A quota from a project config: how much of some data may be ingested
/// per time window.
///
/// The serialized form is the one Sentry puts into project configs
/// (camelCase keys), for example
/// `{"id": "p", "categories": ["error"], "scope": "project", "scopeId": "42",
/// "limit": 1000, "window": 3600, "reasonCode": "project_quota"}`.
///
/// - no `categories` (or an empty list) means every category;
/// - `limit: null` (or missing) counts without ever refusing, `limit: 0`
///   refuses everything without counting;
/// - a quota that is counted needs an `id` and a `window`; one without is
///   skipped (Relay does the same, for forward compatibility).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// The counter's name; quotas with the same id, scope and scope
    /// instance share one counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The categories counted; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<DataCategory>,
    /// What the quota is counted per.
    #[serde(default)]
    pub scope: QuotaScope,
    /// Restricts the quota to one instance of its scope (a project id, a
    /// key id...). Sentry sends it as a string; numbers are accepted too.
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub scope_id: Option<String>,
    /// How much may be ingested per window: `None` is unlimited, `0`
    /// refuses everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The window length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
    /// Why data is refused once the quota is exceeded, reported in the
    /// rate-limits header and in outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::Text(text) => text,
        Id::Number(n) => n.to_string(),
    }))
}

impl Quota {
    /// A quota that refuses the given categories (all when empty) in
    /// `scope` without counting.
    pub fn reject_all(
        categories: Vec<DataCategory>,
        scope: QuotaScope,
        reason_code: Option<String>,
    ) -> Self {
        Quota {
            id: None,
            categories,
            scope,
            scope_id: None,
            limit: Some(0),
            window: None,
            reason_code,
        }
    }

    /// Whether this quota can be enforced.
    ///
    /// Invalid are quotas whose categories are all unknown to this version,
    /// and counted quotas (limit other than `0`) that apply to all
    /// categories or mix categories counted in different units (bytes and
    /// items).
    pub fn is_valid(&self) -> bool {
        let mut units = self.categories.iter().filter_map(|c| unit(*c));
        match units.next() {
            None if !self.categories.is_empty() => false,
            _ if self.limit == Some(0) => true,
            None => false,
            Some(first) => units.all(|u| u == first),
        }
    }

    /// Whether this quota is counted: it has an id and a non-zero window.
    pub fn is_trackable(&self) -> bool {
        self.id.is_some() && self.window.is_some_and(|w| w > 0)
    }

    /// Whether this quota applies to the item: its category is one of the
    /// quota's (or the quota has none), and if the quota names a scope
    /// instance, the item belongs to it.
    pub fn matches(&self, scoping: &ItemScoping) -> bool {
        self.matches_scope(scoping) && self.matches_category(scoping.category)
    }

    /// Whether the quota counts this category.
    pub fn matches_category(&self, category: DataCategory) -> bool {
        self.categories.is_empty() || self.categories.contains(&category)
    }

    fn matches_scope(&self, scoping: &ItemScoping) -> bool {
        let Some(scope_id) = &self.scope_id else {
            return true;
        };
        match scope_id.parse::<u64>() {
            Ok(id) => scoping.scope_id(self.scope) == Some(id),
            Err(_) => false,
        }
    }
}

/// The rate limit of a client key, as Sentry's project keys carry it:
/// `{"window": 60, "count": 1000}` allows 1000 errors a minute through the
/// key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRateLimit {
    /// The window in seconds.
    pub window: u64,
    /// How many events the key may send per window.
    pub count: u64,
}

impl KeyRateLimit {
    /// The quota Sentry derives from a key's rate limit: id
    /// [`KEY_QUOTA_ID`], scope key restricted to `key_id`, the error
    /// categories (`default`, `error`, `security`), reason
    /// [`KEY_QUOTA_REASON`].
    ///
    /// A zero window cannot be counted; it gives `None` unless the count is
    /// `0`, which refuses everything anyway.
    pub fn to_quota(self, key_id: u64) -> Option<Quota> {
        if self.window == 0 && self.count != 0 {
            return None;
        }
        Some(Quota {
            id: Some(KEY_QUOTA_ID.to_owned()),
            categories: vec![
                DataCategory::Default,
                DataCategory::Error,
                DataCategory::Security,
            ],
            scope: QuotaScope::Key,
            scope_id: Some(key_id.to_string()),
            limit: Some(self.count),
            window: (self.window > 0).then_some(self.window),
            reason_code: Some(KEY_QUOTA_REASON.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scoping() -> ItemScoping {
        Scoping::new(1, ProjectId::new(42))
            .with_key_id(7)
            .item(DataCategory::Error)
    }

    #[test]
    fn serde_relay_shapes() {
        let quota: Quota = serde_json::from_value(json!({
            "id": "p", "categories": ["error", "future"], "scope": "project", "scopeId": "42",
            "limit": 4711, "window": 42, "reasonCode": "not_so_fast", "namespace": null
        }))
        .unwrap();
        assert_eq!(quota.id.as_deref(), Some("p"));
        assert_eq!(
            quota.categories,
            vec![DataCategory::Error, DataCategory::Unknown]
        );
        assert_eq!(quota.scope, QuotaScope::Project);
        assert_eq!(quota.scope_id.as_deref(), Some("42"));
        assert_eq!(quota.limit, Some(4711));
        assert_eq!(quota.reason_code.as_deref(), Some("not_so_fast"));

        let reject: Quota =
            serde_json::from_value(json!({"limit": 0, "reasonCode": "not_yet"})).unwrap();
        assert_eq!(reject.scope, QuotaScope::Organization);
        assert!(reject.categories.is_empty());
        assert!(reject.is_valid());
        assert!(!reject.is_trackable());

        let numeric: Quota =
            serde_json::from_value(json!({"scope": "key", "scopeId": 7, "limit": 0})).unwrap();
        assert_eq!(numeric.scope_id.as_deref(), Some("7"));
        let future: Quota = serde_json::from_value(json!({"scope": "future"})).unwrap();
        assert_eq!(future.scope, QuotaScope::Unknown);

        let again: Quota = serde_json::from_value(serde_json::to_value(&quota).unwrap()).unwrap();
        assert_eq!(again, quota);
        assert_eq!(
            serde_json::to_value(&reject).unwrap(),
            json!({"scope": "organization", "limit": 0, "reasonCode": "not_yet"})
        );
    }

    #[test]
    fn validity() {
        let mut quota = Quota::reject_all(vec![DataCategory::Unknown], QuotaScope::Project, None);
        assert!(!quota.is_valid(), "only unknown categories");
        quota.categories = vec![DataCategory::Error, DataCategory::Attachment];
        assert!(quota.is_valid(), "reject-all may mix units");
        quota.limit = Some(10);
        assert!(!quota.is_valid(), "counted quota mixing units");
        quota.categories = vec![DataCategory::Error, DataCategory::Transaction];
        assert!(quota.is_valid());
        quota.categories.clear();
        assert!(!quota.is_valid(), "counted quota over all categories");
    }

    #[test]
    fn matching() {
        let mut quota = Quota::reject_all(vec![DataCategory::Error], QuotaScope::Project, None);
        assert!(quota.matches(&scoping()));
        assert!(!quota.matches(&Scoping::new(1, ProjectId::new(42)).item(DataCategory::Session)));
        quota.scope_id = Some("42".into());
        assert!(quota.matches(&scoping()));
        quota.scope_id = Some("43".into());
        assert!(!quota.matches(&scoping()));
        quota.scope_id = Some("not a number".into());
        assert!(!quota.matches(&scoping()));
        quota.scope = QuotaScope::Key;
        quota.scope_id = Some("7".into());
        assert!(quota.matches(&scoping()));
        assert!(!quota.matches(&Scoping::new(1, ProjectId::new(42)).item(DataCategory::Error)));
    }

    #[test]
    fn key_rate_limit_quota() {
        let limit: KeyRateLimit =
            serde_json::from_value(json!({"window": 60, "count": 5})).unwrap();
        let quota = limit.to_quota(7).unwrap();
        assert_eq!(quota.id.as_deref(), Some("k"));
        assert_eq!(quota.scope, QuotaScope::Key);
        assert_eq!(quota.scope_id.as_deref(), Some("7"));
        assert_eq!(quota.limit, Some(5));
        assert_eq!(quota.window, Some(60));
        assert_eq!(quota.reason_code.as_deref(), Some("key_quota"));
        assert!(quota.is_valid() && quota.is_trackable());
        assert!(quota.matches(&scoping()));
        assert!(
            !quota.matches(
                &Scoping::new(1, ProjectId::new(42))
                    .with_key_id(8)
                    .item(DataCategory::Error)
            )
        );
        assert!(
            !quota.matches(
                &Scoping::new(1, ProjectId::new(42))
                    .with_key_id(7)
                    .item(DataCategory::Transaction)
            )
        );

        assert_eq!(
            KeyRateLimit {
                window: 0,
                count: 5
            }
            .to_quota(7),
            None
        );
        assert_eq!(
            KeyRateLimit {
                window: 0,
                count: 0
            }
            .to_quota(7)
            .unwrap()
            .limit,
            Some(0)
        );
    }
}
