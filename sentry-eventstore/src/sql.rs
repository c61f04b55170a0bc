//! What the SQL backends share: decoding rows into the models, the
//! nodestore codec, error mapping and the small pure helpers.
//!
//! Each backend reads its rows through [`Columns`], which hides the one
//! difference their schemas have: SQLite keeps times as microseconds since
//! the epoch in an integer, PostgreSQL as `TIMESTAMPTZ`.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sentry_envelope::DataCategory;
use sentry_envelope::ProjectId;
use sentry_relay_core::outcome::OutcomeKind;
use sentry_relay_core::quota::KeyRateLimit;
use sentry_relay_core::{ProjectConfig, ProjectSettings, PublicKeyConfig};
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};
use crate::models::{
    ApiToken, Issue, IssueStatus, NewEvent, Organization, OutcomeTotal, Project, ProjectKey,
    ReadRange, Role, SaveOutcome, ServiceHook, StoredEvent, Team, User,
};

/// Typed access to the columns of a result row, by name.
///
/// Like `sqlx::Row::get`, each method panics when the column is missing
/// or has another type: that is a bug in the backend's SQL, not bad data.
pub(crate) trait Columns {
    /// A 64-bit integer.
    fn int(&self, column: &str) -> i64;
    /// A 64-bit integer or NULL.
    fn opt_int(&self, column: &str) -> Option<i64>;
    /// A boolean.
    fn flag(&self, column: &str) -> bool;
    /// Text.
    fn text(&self, column: &str) -> String;
    /// Text or NULL.
    fn opt_text(&self, column: &str) -> Option<String>;
    /// Bytes.
    fn blob(&self, column: &str) -> Vec<u8>;
    /// A point in time.
    fn time(&self, column: &str) -> DateTime<Utc>;
    /// A point in time or NULL.
    fn opt_time(&self, column: &str) -> Option<DateTime<Utc>>;
}

/// Microseconds since the epoch: how SQLite stores times.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time `us` microseconds after the epoch.
pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Maps a unique violation to [`StoreError::Conflict`] about `what`.
pub(crate) fn conflict(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let what = what.into();
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what },
        _ => StoreError::Database(e),
    }
}

/// Maps a foreign key violation of a new key to a missing project.
pub(crate) fn key_project_missing(project_id: i64) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound {
            what: format!("project {project_id}"),
        },
        _ => StoreError::Database(e),
    }
}

/// SHA-256 of a secret (token, session key), hex: what is stored instead.
pub(crate) fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// The last four characters of a token, shown to tell tokens apart.
pub(crate) fn last_characters(secret: &str) -> String {
    let skip = secret.chars().count().saturating_sub(4);
    secret.chars().skip(skip).collect()
}

/// A new random key (public or secret): 32 hex digits.
pub(crate) fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The error of a [`ReadRange`] some of whose records were added already.
pub(crate) fn already_added(range: &ReadRange, stored: i64) -> StoreError {
    StoreError::AlreadyAdded(format!(
        "{} read {}[{}] from offset {}, but offsets up to {stored} were added",
        range.group, range.topic, range.partition, range.first
    ))
}

/// Stored (partition, next offset) rows, as unsigned numbers.
pub(crate) fn stream_offsets(rows: Vec<(i64, i64)>) -> Vec<(u32, u64)> {
    rows.into_iter()
        .filter_map(|(p, n)| Some((u32::try_from(p).ok()?, u64::try_from(n).ok()?)))
        .collect()
}

/// A new service-hook secret: 64 hex digits.
pub(crate) fn new_hook_secret() -> String {
    format!("{}{}", new_key(), new_key())
}

/// Turns a name into a slug: lowercase ASCII letters, digits and dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    slug.chars().take(50).collect()
}

/// A `LIKE` pattern matching text that contains `word`, with `\` as the
/// escape character: `%` and `_` in the word match only themselves.
pub(crate) fn contains_pattern(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// An `i64` for SQL from a count or id, saturating.
pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn parse_role(role: &str) -> Result<Role> {
    role.parse().map_err(|detail| StoreError::Corrupt {
        table: "organization_members",
        detail,
    })
}

pub(crate) fn settings_json(settings: &ProjectSettings) -> Result<String> {
    serde_json::to_string(settings).map_err(|e| StoreError::Corrupt {
        table: "projects",
        detail: format!("settings: {e}"),
    })
}

/// A project's settings; a project without any has a new project's.
pub(crate) fn project_settings(row: &impl Columns) -> Result<ProjectSettings> {
    match row.opt_text("settings") {
        None => Ok(ProjectSettings::new_project()),
        Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
            table: "projects",
            detail: format!("settings: {e}"),
        }),
    }
}

pub(crate) fn organization(row: &impl Columns) -> Organization {
    Organization {
        id: row.int("id"),
        slug: row.text("slug"),
        name: row.text("name"),
        date_created: row.time("date_created"),
    }
}

pub(crate) fn team(row: &impl Columns) -> Team {
    Team {
        id: row.int("id"),
        organization_id: row.int("organization_id"),
        slug: row.text("slug"),
        name: row.text("name"),
        date_created: row.time("date_created"),
    }
}

pub(crate) fn project(row: &impl Columns) -> Project {
    Project {
        id: row.int("id"),
        organization_id: row.int("organization_id"),
        team_id: row.opt_int("team_id"),
        slug: row.text("slug"),
        name: row.text("name"),
        platform: row.opt_text("platform"),
        date_created: row.time("date_created"),
    }
}

pub(crate) fn key(row: &impl Columns) -> ProjectKey {
    ProjectKey {
        id: row.int("id"),
        project_id: row.int("project_id"),
        label: row.text("label"),
        public_key: row.text("public_key"),
        secret_key: row.text("secret_key"),
        is_active: row.flag("is_active"),
        rate_limit: match (
            row.opt_int("rate_limit_window"),
            row.opt_int("rate_limit_count"),
        ) {
            (Some(window), Some(count)) => Some(KeyRateLimit {
                window: window.unsigned_abs(),
                count: count.unsigned_abs(),
            }),
            _ => None,
        },
        date_created: row.time("date_created"),
    }
}

/// The config the ingest edge checks requests against, from a `projects`
/// row and the project's keys.
pub(crate) fn project_config(row: &impl Columns, keys: Vec<ProjectKey>) -> Result<ProjectConfig> {
    let found = project(row);
    Ok(ProjectConfig {
        project_id: ProjectId::new(found.id.unsigned_abs()),
        organization_id: found.organization_id.unsigned_abs(),
        slug: found.slug,
        platform: found.platform,
        public_keys: keys
            .into_iter()
            .map(|k| PublicKeyConfig {
                public_key: k.public_key,
                active: k.is_active,
                numeric_id: Some(k.id.unsigned_abs()),
                rate_limit: k.rate_limit,
            })
            .collect(),
        disabled: row.text("status") != "active",
        limits: Default::default(),
        settings: project_settings(row)?,
    })
}

pub(crate) fn user(row: &impl Columns) -> User {
    User {
        id: row.int("id"),
        username: row.text("username"),
        email: row.text("email"),
        is_superuser: row.flag("is_superuser"),
        date_joined: row.time("date_joined"),
    }
}

pub(crate) fn token(row: &impl Columns) -> ApiToken {
    ApiToken {
        id: row.int("id"),
        user_id: row.int("user_id"),
        scopes: row
            .text("scopes")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        token_last_characters: row.text("token_last_characters"),
        date_created: row.time("date_created"),
    }
}

pub(crate) fn service_hook(row: &impl Columns) -> ServiceHook {
    ServiceHook {
        id: row.int("id"),
        guid: row.text("guid"),
        project_id: row.int("project_id"),
        url: row.text("url"),
        secret: row.text("secret"),
        events: row
            .text("events")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        status: row.text("status"),
        date_added: row.time("date_added"),
    }
}

pub(crate) fn issue(row: &impl Columns) -> Result<Issue> {
    let corrupt = |detail| StoreError::Corrupt {
        table: "groups",
        detail,
    };
    Ok(Issue {
        id: row.int("id"),
        project_id: row.int("project_id"),
        short_id: row.int("short_id"),
        status: row.text("status").parse().map_err(corrupt)?,
        event_type: row.text("event_type"),
        title: row.text("title"),
        culprit: row.opt_text("culprit"),
        level: row.text("level"),
        platform: row.opt_text("platform"),
        logger: row.opt_text("logger"),
        metadata: serde_json::from_str(&row.text("metadata"))
            .map_err(|e| corrupt(e.to_string()))?,
        is_unhandled: row.flag("is_unhandled"),
        first_seen: row.time("first_seen"),
        last_seen: row.time("last_seen"),
        times_seen: row.int("times_seen"),
        user_count: row.int("user_count"),
        first_release: row.opt_text("first_release"),
        resolved_at: row.opt_time("resolved_at"),
    })
}

/// One row of outcome sums; `None` for an outcome code or bucket this
/// build does not know.
pub(crate) fn outcome_total(
    bucket: Option<DateTime<Utc>>,
    row: &impl Columns,
) -> Option<OutcomeTotal> {
    let outcome = OutcomeKind::from_code(u8::try_from(row.int("outcome")).ok()?)?;
    let reason = row.text("reason");
    let key_id = row.int("key_id");
    Some(OutcomeTotal {
        bucket: bucket?,
        project_id: row.int("project_id").unsigned_abs(),
        key_id: (key_id != 0).then_some(key_id.unsigned_abs()),
        outcome,
        reason: (!reason.is_empty()).then_some(reason),
        category: row
            .text("category")
            .parse()
            .unwrap_or(DataCategory::Unknown),
        quantity: row.int("quantity").unsigned_abs(),
        times_seen: row.int("times_seen").unsigned_abs(),
    })
}

/// The largest event payload read back from the nodestore.
const MAX_NODE_BYTES: usize = 64 << 20;

/// The zstd level of nodestore payloads: fast, about 3x on event JSON.
pub(crate) const NODESTORE_ZSTD_LEVEL: i32 = 1;

/// The codec of the nodestore payloads written.
pub(crate) const NODESTORE_CODEC: &str = "zstd";

/// Compresses payloads for the nodestore.
fn compress_payloads(payloads: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>> {
    let fail = |e: std::io::Error| StoreError::Corrupt {
        table: "nodestore",
        detail: format!("compressing: {e}"),
    };
    // One context for the batch: creating one costs more than compressing
    // a small event.
    let mut compressor = zstd::bulk::Compressor::new(NODESTORE_ZSTD_LEVEL).map_err(fail)?;
    payloads
        .iter()
        .map(|p| compressor.compress(p).map_err(fail))
        .collect()
}

/// Compresses the payloads of the events that do not come compressed, on
/// a blocking thread (compression is CPU work), in the events' order.
/// Pair the result with the events through [`payload_views`].
pub(crate) async fn compress_missing(events: &[NewEvent]) -> Result<Vec<Vec<u8>>> {
    let missing: Vec<Vec<u8>> = events
        .iter()
        .filter(|e| e.payload_zstd.is_none())
        .map(|e| e.payload.clone())
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || compress_payloads(missing))
        .await
        .map_err(|e| StoreError::Corrupt {
            table: "nodestore",
            detail: format!("compression task failed: {e}"),
        })?
}

/// The compressed payload of each event: its own, or the next one
/// [`compress_missing`] made.
pub(crate) fn payload_views<'a>(events: &'a [NewEvent], fresh: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
    let mut fresh = fresh.iter();
    events
        .iter()
        .map(|e| match &e.payload_zstd {
            Some(done) => done.as_slice(),
            None => fresh.next().map_or(&[][..], Vec::as_slice),
        })
        .collect()
}

/// An event from its index row joined with its nodestore row (`codec`,
/// `data`).
pub(crate) fn stored_event(row: &impl Columns) -> Result<StoredEvent> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "events",
        detail,
    };
    let event_id = row.text("event_id");
    let codec = row.text("codec");
    let raw = row.blob("data");
    let data = match codec.as_str() {
        "json" => bytes::Bytes::from(raw),
        "zstd" => sentry_envelope::decompress(
            sentry_envelope::ContentEncoding::Zstd,
            &raw,
            MAX_NODE_BYTES,
        )
        .map_err(|e| corrupt(format!("nodestore payload: {e}")))?,
        other => return Err(corrupt(format!("unknown nodestore codec {other:?}"))),
    };
    Ok(StoredEvent {
        project_id: row.int("project_id"),
        event_id: event_id.parse().map_err(|_| corrupt(event_id.clone()))?,
        group_id: row.int("group_id"),
        timestamp: row.time("timestamp"),
        received: row.time("received"),
        payload: serde_json::from_slice(&data).map_err(|e| corrupt(e.to_string()))?,
    })
}

/// What a batch does to one existing issue, applied in one `UPDATE`.
#[derive(Default)]
pub(crate) struct GroupChange {
    /// New events of the issue.
    pub(crate) events: i64,
    /// New users of the issue.
    pub(crate) users: i64,
    /// The earliest new event.
    pub(crate) first: DateTime<Utc>,
    /// The latest new event, whose level, culprit, title and metadata the
    /// issue takes if it is the latest of all.
    pub(crate) last: DateTime<Utc>,
    pub(crate) level: String,
    pub(crate) culprit: Option<String>,
    pub(crate) title: String,
    pub(crate) metadata: String,
    /// Whether any new event was unhandled.
    pub(crate) unhandled: bool,
}

impl GroupChange {
    pub(crate) fn add(&mut self, e: &NewEvent) {
        let ts = e.timestamp;
        if self.events == 0 || ts < self.first {
            self.first = ts;
        }
        if self.events == 0 || ts >= self.last {
            self.last = ts;
            self.level = e.level.clone();
            self.culprit = e.culprit.clone();
            self.title = e.title.clone();
            self.metadata = e.metadata.to_string();
        }
        self.unhandled |= e.is_unhandled;
        self.events += 1;
    }
}

/// What the database knows about a batch of events, read before saving
/// it.
#[derive(Default)]
pub(crate) struct Known {
    /// The organization of each project of the batch that exists.
    pub(crate) org_of: HashMap<i64, i64>,
    /// The issue of each event of the batch already stored, by (project,
    /// event id).
    pub(crate) stored: HashMap<(i64, String), i64>,
    /// The issue (and its status) each hash of the batch belongs to, by
    /// (project, hash).
    pub(crate) groups: HashMap<(i64, String), (i64, String)>,
}

/// How a batch is saved, decided by a [`Planner`].
pub(crate) struct Plan {
    /// One per event, in order. The events to insert are those `created`:
    /// one per (project, event id).
    pub(crate) outcomes: Vec<SaveOutcome>,
    /// What the new events do to the issues that existed (or were opened
    /// by an earlier event of the batch).
    pub(crate) changes: BTreeMap<i64, GroupChange>,
    /// Hashes to point at an issue: (project, hash, issue), each once.
    pub(crate) new_hashes: Vec<(i64, String, i64)>,
}

/// Decides, event by event, which issue each event of a batch joins:
/// skips events already stored (or twice in the batch) and events of
/// deleted projects, and says which events open a new issue.
///
/// ```text
/// let mut planner = Planner::new(events, &ids, &mut known);
/// for i in 0..events.len() {
///     if let Some(e) = planner.plan(i) {
///         let id = /* insert the issue of `e` */;
///         planner.opened(i, id);
///     }
/// }
/// let plan = planner.finish();
/// ```
///
/// The caller must keep `known` true for the duration: read it in the
/// transaction that saves the plan, with no other writer of the batch's
/// projects in between. (Not an async function taking a callback: the
/// futures of async closures are not known to be `Send`.)
pub(crate) struct Planner<'a, 'k> {
    events: &'a [NewEvent],
    ids: &'a [String],
    known: &'k mut Known,
    outcomes: Vec<SaveOutcome>,
    changes: BTreeMap<i64, GroupChange>,
    new_hashes: Vec<(i64, String, i64)>,
    regressing: HashSet<i64>,
    /// The first event of the batch with each (project, event id).
    first_of: HashMap<(i64, &'a str), usize>,
}

impl<'a, 'k> Planner<'a, 'k> {
    /// A planner for `events`, whose ids as text are `ids`.
    pub(crate) fn new(events: &'a [NewEvent], ids: &'a [String], known: &'k mut Known) -> Self {
        Planner {
            events,
            ids,
            known,
            outcomes: Vec::with_capacity(events.len()),
            changes: BTreeMap::new(),
            new_hashes: Vec::new(),
            regressing: HashSet::new(),
            first_of: HashMap::new(),
        }
    }

    /// Plans event `i` (call it for each event, in order). Returns the
    /// event when it opens a new issue: insert the issue, then call
    /// [`Planner::opened`] with its id before planning the next event.
    pub(crate) fn plan(&mut self, i: usize) -> Option<&'a NewEvent> {
        let (e, id) = (&self.events[i], self.ids[i].as_str());
        let skip = |group_id| SaveOutcome {
            group_id,
            created: false,
            new_group: false,
            regressed: false,
        };
        if let Some(group) = self.known.stored.get(&(e.project_id, id.to_owned())) {
            self.outcomes.push(skip(*group));
            return None;
        }
        if !self.known.org_of.contains_key(&e.project_id) {
            tracing::warn!(project_id = e.project_id, event_id = %id, "dropped event of a deleted project");
            self.outcomes.push(skip(0));
            return None;
        }
        if let Some(&first) = self.first_of.get(&(e.project_id, id)) {
            // The same event twice in one batch: the first one counts.
            self.outcomes.push(skip(self.outcomes[first].group_id));
            return None;
        }
        let found = e
            .hashes
            .iter()
            .find_map(|h| self.known.groups.get(&(e.project_id, h.clone())).cloned());
        let Some((group_id, status)) = found else {
            return Some(e);
        };
        let regressed =
            status == IssueStatus::Resolved.as_str() && self.regressing.insert(group_id);
        self.changes.entry(group_id).or_default().add(e);
        self.placed(
            i,
            SaveOutcome {
                group_id,
                created: true,
                new_group: false,
                regressed,
            },
        );
        None
    }

    /// Event `i`, which [`Planner::plan`] returned, opened issue
    /// `group_id`.
    pub(crate) fn opened(&mut self, i: usize, group_id: i64) {
        self.placed(
            i,
            SaveOutcome {
                group_id,
                created: true,
                new_group: true,
                regressed: false,
            },
        );
    }

    fn placed(&mut self, i: usize, outcome: SaveOutcome) {
        let e = &self.events[i];
        // Hashes of this event without an issue yet; a hash that has one
        // stays with it.
        for hash in &e.hashes {
            if let Entry::Vacant(slot) = self.known.groups.entry((e.project_id, hash.clone())) {
                slot.insert((
                    outcome.group_id,
                    IssueStatus::Unresolved.as_str().to_owned(),
                ));
                self.new_hashes
                    .push((e.project_id, hash.clone(), outcome.group_id));
            }
        }
        self.first_of
            .insert((e.project_id, self.ids[i].as_str()), i);
        self.outcomes.push(outcome);
    }

    /// The plan, once every event is planned.
    pub(crate) fn finish(self) -> Plan {
        Plan {
            outcomes: self.outcomes,
            changes: self.changes,
            new_hashes: self.new_hashes,
        }
    }
}

/// The first and the last time of some events.
pub(crate) type Span = (DateTime<Utc>, DateTime<Utc>);

/// The releases and environments the new events of a batch name: each
/// release by (project, version) with the span of its events' times, each
/// environment by (project, name).
pub(crate) struct Named<'a> {
    pub(crate) releases: BTreeMap<(i64, &'a str), Span>,
    pub(crate) environments: BTreeSet<(i64, &'a str)>,
}

pub(crate) fn releases_and_environments<'a>(
    events: &'a [NewEvent],
    outcomes: &[SaveOutcome],
) -> Named<'a> {
    let mut named = Named {
        releases: BTreeMap::new(),
        environments: BTreeSet::new(),
    };
    for (e, _) in events.iter().zip(outcomes).filter(|(_, o)| o.created) {
        let ts = e.timestamp;
        if let Some(version) = &e.release {
            let span = named
                .releases
                .entry((e.project_id, version.as_str()))
                .or_insert((ts, ts));
            span.0 = span.0.min(ts);
            span.1 = span.1.max(ts);
        }
        if let Some(name) = &e.environment {
            named.environments.insert((e.project_id, name.as_str()));
        }
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("  Web Shop! "), "web-shop");
        assert_eq!(slugify("a__b--c"), "a__b-c");
        assert_eq!(slugify(&"x".repeat(80)).len(), 50);
    }

    #[test]
    fn last_four() {
        assert_eq!(last_characters("secret-token"), "oken");
        assert_eq!(last_characters("ab"), "ab");
        assert_eq!(last_characters("ééééé"), "éééé");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("100%_a\\"), "%100\\%\\_a\\\\%");
    }
}
