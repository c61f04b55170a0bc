//! The records the store keeps, as plain data.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sentry_envelope::DataCategory;
use sentry_envelope::protocol::EventId;
use sentry_relay_core::ProjectSettings;
use sentry_relay_core::outcome::OutcomeKind;
use sentry_relay_core::quota::KeyRateLimit;
use serde_json::Value;

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// Numeric id.
    pub id: i64,
    /// URL name, unique.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub date_created: DateTime<Utc>,
}

/// A team of an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Team {
    /// Numeric id.
    pub id: i64,
    /// The organization.
    pub organization_id: i64,
    /// URL name, unique in the organization.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub date_created: DateTime<Utc>,
}

/// A project: the unit that SDKs send to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Numeric id, the one in the DSN.
    pub id: i64,
    /// The organization.
    pub organization_id: i64,
    /// The owning team, if any.
    pub team_id: Option<i64>,
    /// URL name, unique in the organization.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The platform chosen at creation (`python`, `node`, ...).
    pub platform: Option<String>,
    /// When it was created.
    pub date_created: DateTime<Utc>,
}

/// What to create a project with.
#[derive(Clone, Debug, Default)]
pub struct NewProject {
    /// Display name.
    pub name: String,
    /// URL name; derived from the name when `None`.
    pub slug: Option<String>,
    /// Platform.
    pub platform: Option<String>,
}

/// A client key (DSN) of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectKey {
    /// Numeric id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// A name for people.
    pub label: String,
    /// The public key: 32 hex digits, the user part of the DSN.
    pub public_key: String,
    /// The legacy secret key.
    pub secret_key: String,
    /// Whether the key may send.
    pub is_active: bool,
    /// At most this many events per window through the key.
    pub rate_limit: Option<KeyRateLimit>,
    /// When it was created.
    pub date_created: DateTime<Utc>,
}

/// Changes to a client key; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUpdate {
    /// A new name.
    pub label: Option<String>,
    /// Enables or disables the key.
    pub is_active: Option<bool>,
    /// A new rate limit: `Some(None)` removes it.
    pub rate_limit: Option<Option<KeyRateLimit>>,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectUpdate {
    /// A new display name.
    pub name: Option<String>,
    /// A new slug (unique in the organization).
    pub slug: Option<String>,
    /// A new platform.
    pub platform: Option<String>,
    /// New settings: filters, scrubbing, quotas, allowed domains.
    pub settings: Option<ProjectSettings>,
}

/// The records of one stream partition a batch was made of: offsets
/// `first..next`, read by `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRange {
    /// The consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset of the first record.
    pub first: u64,
    /// The offset after the last record.
    pub next: u64,
}

/// Which outcomes to add up, for the stats API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeQuery {
    /// The organization.
    pub org_id: u64,
    /// Only these projects; all when empty.
    pub project_ids: Vec<u64>,
    /// From this time on (inclusive).
    pub start: DateTime<Utc>,
    /// Up to this time (exclusive).
    pub end: DateTime<Utc>,
    /// The length of a time bucket in seconds (at least 60).
    pub interval_secs: u64,
}

/// The sum of one kind of outcome in one time bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeTotal {
    /// The start of the bucket.
    pub bucket: DateTime<Utc>,
    /// The project.
    pub project_id: u64,
    /// The key, if known.
    pub key_id: Option<u64>,
    /// What happened.
    pub outcome: OutcomeKind,
    /// Why, if there was a reason.
    pub reason: Option<String>,
    /// What was counted.
    pub category: DataCategory,
    /// The sum of the quantities.
    pub quantity: u64,
    /// How many outcome records were summed.
    pub times_seen: u64,
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Numeric id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Email.
    pub email: String,
    /// Whether the user may do everything.
    pub is_superuser: bool,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
}

/// An API token (`Authorization: Bearer ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// Numeric id.
    pub id: i64,
    /// The user it acts as.
    pub user_id: i64,
    /// The scopes granted (`project:read`, `event:admin`, ...).
    pub scopes: Vec<String>,
    /// The last four characters of the token, for display.
    pub token_last_characters: String,
    /// When it was created.
    pub date_created: DateTime<Utc>,
}

/// A service hook: a URL that gets a signed POST for each of a project's
/// events (`event.created`) once it is stored and queryable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceHook {
    /// Numeric id.
    pub id: i64,
    /// The public id (32 hex digits).
    pub guid: String,
    /// The project.
    pub project_id: i64,
    /// Where requests go.
    pub url: String,
    /// The key of the requests' HMAC-SHA256 signatures (64 hex digits).
    pub secret: String,
    /// What it is sent for: `event.created`, `event.alert`.
    pub events: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// When it was created.
    pub date_added: DateTime<Utc>,
}

/// A role in an organization, from least to most powerful.
///
/// - `member`: reads everything and triages issues (resolve, ignore,
///   delete); manages its own API tokens.
/// - `manager`: also creates projects and teams, edits project settings and
///   keys, and adds or removes members and managers.
/// - `owner`: also adds, changes and removes owners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads and triages.
    Member,
    /// Administers projects, teams and members.
    Manager,
    /// Administers everything, owners included.
    Owner,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Member, Role::Manager, Role::Owner];

    /// Sentry's name for the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Manager => "manager",
            Role::Owner => "owner",
        }
    }

    /// The API scopes the role grants, as Sentry names them.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Role::Member => &[
                "org:read",
                "project:read",
                "project:releases",
                "team:read",
                "member:read",
                "event:read",
                "event:write",
                "event:admin",
            ],
            Role::Manager => &[
                "org:read",
                "project:read",
                "project:write",
                "project:admin",
                "project:releases",
                "team:read",
                "team:write",
                "team:admin",
                "member:read",
                "member:write",
                "member:admin",
                "event:read",
                "event:write",
                "event:admin",
            ],
            Role::Owner => crate::ADMIN_SCOPES,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            // Sentry's "admin" role sits between manager and owner; it maps
            // to manager here.
            "manager" | "admin" => Ok(Role::Manager),
            "owner" => Ok(Role::Owner),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A user's membership of an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user: User,
    /// Their role there.
    pub role: Role,
    /// When they joined.
    pub date_added: DateTime<Utc>,
}

/// A signed-in browser session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Whose session it is.
    pub user_id: i64,
    /// The token forms and unsafe API requests of this session must carry.
    pub csrf_token: String,
    /// When it ends.
    pub expires: DateTime<Utc>,
}

/// The resolution state of an issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueStatus {
    /// Open.
    Unresolved,
    /// Fixed; a new event reopens it (a regression).
    Resolved,
    /// Muted.
    Ignored,
}

impl IssueStatus {
    /// Sentry's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IssueStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unresolved" => Ok(IssueStatus::Unresolved),
            "resolved" | "resolvedInNextRelease" => Ok(IssueStatus::Resolved),
            // Sentry renamed "ignored" to "archived"; both are accepted.
            "ignored" | "archived" | "muted" => Ok(IssueStatus::Ignored),
            other => Err(format!("unknown issue status {other:?}")),
        }
    }
}

/// An issue: a group of events with the same grouping hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// Numeric id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The per-project sequence number behind the short id (`INTERNAL-3`).
    pub short_id: i64,
    /// Status.
    pub status: IssueStatus,
    /// `error` or `default`.
    pub event_type: String,
    /// Title, from the latest event.
    pub title: String,
    /// Culprit, from the latest event.
    pub culprit: Option<String>,
    /// Level of the latest event.
    pub level: String,
    /// Platform.
    pub platform: Option<String>,
    /// Logger.
    pub logger: Option<String>,
    /// Sentry's metadata object (`type`, `value`, `filename`, ...).
    pub metadata: Value,
    /// Whether any event had an unhandled exception.
    pub is_unhandled: bool,
    /// First event time.
    pub first_seen: DateTime<Utc>,
    /// Latest event time.
    pub last_seen: DateTime<Utc>,
    /// Number of events.
    pub times_seen: i64,
    /// Number of distinct users.
    pub user_count: i64,
    /// Release of the first event.
    pub first_release: Option<String>,
    /// When it was resolved, if it is.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An event ready to be saved: normalized and grouped.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The project.
    pub project_id: i64,
    /// The event id.
    pub event_id: EventId,
    /// When the event happened.
    pub timestamp: DateTime<Utc>,
    /// When the server received it.
    pub received: DateTime<Utc>,
    /// The grouping hashes, most specific first.
    pub hashes: Vec<String>,
    /// `error` or `default`.
    pub event_type: String,
    /// Issue title.
    pub title: String,
    /// Culprit.
    pub culprit: Option<String>,
    /// Level name.
    pub level: String,
    /// Platform.
    pub platform: Option<String>,
    /// Logger.
    pub logger: Option<String>,
    /// Sentry's metadata object.
    pub metadata: Value,
    /// Whether the exception was unhandled.
    pub is_unhandled: bool,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// A stable identity of the user (`id:42`, `email:..`, `ip:..`), for
    /// counting users.
    pub user_key: Option<String>,
    /// The normalized event as JSON, for the nodestore.
    pub payload: Vec<u8>,
    /// The payload compressed with zstd, when the caller has done it (the
    /// ingest consumer does, on its processing threads); else the store
    /// compresses it.
    pub payload_zstd: Option<Vec<u8>>,
}

/// What saving one event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveOutcome {
    /// The issue the event belongs to.
    pub group_id: i64,
    /// False when the event was already stored (a redelivery).
    pub created: bool,
    /// True when the event opened a new issue.
    pub new_group: bool,
    /// True when the event reopened a resolved issue.
    pub regressed: bool,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// The project.
    pub project_id: i64,
    /// The event id.
    pub event_id: EventId,
    /// The issue.
    pub group_id: i64,
    /// Event time.
    pub timestamp: DateTime<Utc>,
    /// Receive time.
    pub received: DateTime<Utc>,
    /// The normalized event.
    pub payload: Value,
}

/// How to sort an issue list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IssueSort {
    /// Most recently seen first (Sentry's `date`).
    #[default]
    LastSeen,
    /// Newest issues first (`new`).
    FirstSeen,
    /// Most events first (`freq`).
    TimesSeen,
    /// Most users first (`user`).
    UserCount,
}

/// A filter over the issues of an organization.
#[derive(Clone, Debug, Default)]
pub struct IssueQuery {
    /// Only these projects; empty means all projects of the organization.
    pub project_ids: Vec<i64>,
    /// Only issues in this status.
    pub status: Option<IssueStatus>,
    /// Words that must all appear in the title, culprit or short id.
    pub text: Vec<String>,
    /// Only these issues (the issues whose events matched a search in the
    /// event store); `None` means no such restriction.
    pub group_ids: Option<Vec<i64>>,
    /// Only issues last seen at or after this time (the time range of the
    /// issue list).
    pub last_seen_after: Option<DateTime<Utc>>,
    /// Sort order.
    pub sort: IssueSort,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u64,
}

/// Which event of an issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSelector {
    /// The newest.
    Latest,
    /// The oldest.
    Oldest,
    /// A given one.
    Id(EventId),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owners once lacked the managers' member scopes, so they could not
    /// manage members.
    #[test]
    fn stronger_roles_keep_every_scope_of_weaker_ones() {
        for weak in Role::ALL {
            for strong in Role::ALL.into_iter().filter(|r| *r > weak) {
                for scope in weak.scopes() {
                    assert!(
                        strong.scopes().contains(scope),
                        "{strong} lacks {scope}, which {weak} has"
                    );
                }
            }
        }
    }
}
