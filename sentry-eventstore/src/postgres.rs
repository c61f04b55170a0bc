//! The store of the scaled deployment: PostgreSQL through sqlx.
//!
//! Several processes share the database (ingest consumers, the web
//! server), so nothing here relies on a single writer:
//!
//! - migrations run under a transaction-scoped advisory lock: processes
//!   that start together apply each migration once, the others wait and
//!   find it done;
//! - saving a batch of events takes an advisory lock per project of the
//!   batch, in project id order, for the length of its transaction. Within
//!   a project, batches are saved one after the other, as SQLite's single
//!   writer does: the issue a hash belongs to, the events already stored
//!   and the next short id are read once and stay true until the commit,
//!   so two consumers never open two issues for one hash or count a
//!   redelivered event twice. Batches of other projects run beside it;
//!   the rows projects of an organization share (releases, environments)
//!   are inserted in a fixed order with `ON CONFLICT`, so two batches
//!   never deadlock;
//! - every other write is one statement or one transaction, with
//!   `ON CONFLICT` for upserts (memberships, outcome sums).
//!
//! Times are `TIMESTAMPTZ`; many-row writes bind arrays and `unnest` them,
//! one statement per table per batch.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentry_envelope::protocol::EventId;
use sentry_relay_core::outcome::Outcome;
use sentry_relay_core::{ProjectConfig, ProjectSettings};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use crate::error::{Result, StoreError};
use crate::models::{
    ApiToken, EventSelector, Issue, IssueQuery, IssueSort, IssueStatus, KeyUpdate, Member,
    NewEvent, NewProject, Organization, OutcomeQuery, OutcomeTotal, Project, ProjectKey,
    ProjectUpdate, ReadRange, Role, SaveOutcome, ServiceHook, Session, StoredEvent, Team, User,
};
use crate::sql::{
    Columns, Known, NODESTORE_CODEC, Plan, Planner, already_added, compress_missing, conflict,
    contains_pattern, issue, key, key_project_missing, last_characters, new_hook_secret, new_key,
    organization, outcome_total, parse_role, payload_views, project, releases_and_environments,
    service_hook, settings_json, slugify, sql_int, stored_event, stream_offsets, team, token,
    token_hash, user,
};
use crate::store::Store;

/// The migrations, in order: the same versions, and the same meaning, as
/// SQLite's. Each runs once, in a transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "settings_outcomes",
        include_str!("../migrations/postgres/0002_settings_outcomes.sql"),
    ),
    (
        3,
        "accounts",
        include_str!("../migrations/postgres/0003_accounts.sql"),
    ),
    (
        4,
        "service_hooks",
        include_str!("../migrations/postgres/0004_service_hooks.sql"),
    ),
    (
        5,
        "stream_offsets",
        include_str!("../migrations/postgres/0005_stream_offsets.sql"),
    ),
];

/// The first key of this crate's advisory locks (`pg_advisory_xact_lock(
/// int, int)`); the second is what is locked.
const LOCK_CLASS_MIGRATIONS: i32 = 0x5e47_0001;
const LOCK_CLASS_PROJECT: i32 = 0x5e47_0002;

/// Connections per process, unless the URL says otherwise.
const POOL_SIZE: u32 = 10;

/// The PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database a `postgres://USER[:PASSWORD]@HOST[:PORT]/
    /// DATABASE` URL names and brings its schema up to date.
    ///
    /// The tables go to the first schema of the `search_path` (`public`
    /// unless the URL sets it, e.g. `?options=-csearch_path%3Dsentry`).
    /// Needs PostgreSQL 14 or later.
    pub async fn open(url: &str) -> Result<PostgresStore> {
        let options = PgConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl {
            url: sentry_envelope::redact_url(url),
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        for &(version, description, sql) in MIGRATIONS {
            let fail = |source| StoreError::Migration { version, source };
            let mut tx = self.pool.begin().await.map_err(fail)?;
            // One process migrates; the others wait here, then find the
            // migration done.
            sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
                .bind(LOCK_CLASS_MIGRATIONS)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    description TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL)",
            )
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?;
            if done.is_some() {
                tx.commit().await.map_err(fail)?;
                continue;
            }
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO schema_migrations VALUES ($1, $2, $3)")
                .bind(version)
                .bind(description)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            tracing::info!(version, description, "applied migration");
        }
        Ok(())
    }
}

/// Reads PostgreSQL rows for the shared decoders.
impl Columns for PgRow {
    fn int(&self, column: &str) -> i64 {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Option<i64> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> bool {
        self.get(column)
    }
    fn text(&self, column: &str) -> String {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Option<String> {
        self.get(column)
    }
    fn blob(&self, column: &str) -> Vec<u8> {
        self.get(column)
    }
    fn time(&self, column: &str) -> DateTime<Utc> {
        self.get(column)
    }
    fn opt_time(&self, column: &str) -> Option<DateTime<Utc>> {
        self.get(column)
    }
}

/// Holds, until the transaction ends, the lock under which a project's
/// events are saved and its issues deleted.
async fn lock_project(tx: &mut Transaction<'_, Postgres>, project_id: i64) -> Result<()> {
    // Project ids past 2^31 share locks with smaller ones: harmless.
    let objid = i32::try_from(project_id & 0x7fff_ffff).unwrap_or_default();
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS_PROJECT)
        .bind(objid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const EVENT_COLUMNS: &str = "e.project_id, e.event_id, e.group_id, e.timestamp, e.received, n.codec, n.data \
     FROM events e JOIN nodestore n ON n.project_id = e.project_id AND n.event_id = e.event_id";

/// Saves a batch inside one transaction, a handful of statements per batch
/// (see the module docs for what keeps concurrent batches apart).
async fn save_batch(
    tx: &mut Transaction<'_, Postgres>,
    events: &[NewEvent],
    compressed: &[&[u8]],
) -> Result<Vec<SaveOutcome>> {
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();

    // In id order, so that two batches wait for each other, never in a
    // circle.
    let projects: BTreeSet<i64> = events.iter().map(|e| e.project_id).collect();
    for &project_id in &projects {
        lock_project(tx, project_id).await?;
    }

    // Read under the locks: each statement sees what batches before this
    // one committed.
    let mut known = Known::default();
    let project_ids: Vec<i64> = projects.into_iter().collect();
    known.org_of.extend(
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT id, organization_id FROM projects WHERE id = ANY($1)",
        )
        .bind(&project_ids)
        .fetch_all(&mut **tx)
        .await?,
    );

    // Events already stored (redeliveries).
    let event_projects: Vec<i64> = events.iter().map(|e| e.project_id).collect();
    let rows = sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT e.project_id, e.event_id, e.group_id
         FROM unnest($1::bigint[], $2::text[]) AS k(project_id, event_id)
         JOIN events e ON e.project_id = k.project_id AND e.event_id = k.event_id",
    )
    .bind(&event_projects)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    for (project, id, group) in rows {
        known.stored.insert((project, id), group);
    }

    // The issues the batch's hashes already belong to, with their status.
    let (hash_projects, hashes): (Vec<i64>, Vec<&str>) = events
        .iter()
        .flat_map(|e| e.hashes.iter().map(move |h| (e.project_id, h.as_str())))
        .collect::<HashSet<_>>()
        .into_iter()
        .unzip();
    if !hashes.is_empty() {
        let rows = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT h.project_id, h.hash, h.group_id
             FROM unnest($1::bigint[], $2::text[]) AS k(project_id, hash)
             JOIN group_hashes h ON h.project_id = k.project_id AND h.hash = k.hash",
        )
        .bind(&hash_projects)
        .bind(&hashes)
        .fetch_all(&mut **tx)
        .await?;
        // The issues' rows are locked (in id order, as resolving issues
        // does) before their status is read: a resolve committed meanwhile
        // waits for this batch, or this batch sees it, so an event after a
        // resolve always reports the regression it causes.
        let mut group_ids: Vec<i64> = rows.iter().map(|(_, _, g)| *g).collect();
        group_ids.sort_unstable();
        group_ids.dedup();
        let statuses: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
            "SELECT id, status FROM groups WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(&group_ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
        for (project, hash, group) in rows {
            if let Some(status) = statuses.get(&group) {
                known
                    .groups
                    .insert((project, hash), (group, status.clone()));
            }
        }
    }

    let Plan {
        outcomes,
        mut changes,
        new_hashes,
    } = {
        let mut planner = Planner::new(events, &ids, &mut known);
        for i in 0..events.len() {
            let Some(e) = planner.plan(i) else { continue };
            let group_id: i64 = sqlx::query_scalar(
                "WITH next AS (
                    UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = $1
                    RETURNING next_short_id - 1 AS short_id)
                 INSERT INTO groups (project_id, short_id, event_type, title, culprit, level,
                    platform, logger, metadata, is_unhandled, first_seen, last_seen, times_seen,
                    first_release)
                 SELECT $1, next.short_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1, $11 FROM next
                 RETURNING id",
            )
            .bind(e.project_id)
            .bind(&e.event_type)
            .bind(&e.title)
            .bind(&e.culprit)
            .bind(&e.level)
            .bind(&e.platform)
            .bind(&e.logger)
            .bind(e.metadata.to_string())
            .bind(e.is_unhandled)
            .bind(e.timestamp)
            .bind(&e.release)
            .fetch_one(&mut **tx)
            .await?;
            planner.opened(i, group_id);
        }
        planner.finish()
    };

    if !new_hashes.is_empty() {
        let mut projects = Vec::with_capacity(new_hashes.len());
        let mut hashes = Vec::with_capacity(new_hashes.len());
        let mut groups = Vec::with_capacity(new_hashes.len());
        for (project, hash, group) in new_hashes {
            projects.push(project);
            hashes.push(hash);
            groups.push(group);
        }
        sqlx::query(
            "INSERT INTO group_hashes (project_id, hash, group_id)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])
             ON CONFLICT (project_id, hash) DO NOTHING",
        )
        .bind(&projects)
        .bind(&hashes)
        .bind(&groups)
        .execute(&mut **tx)
        .await?;
    }

    // The new events, their payloads and their users. `created` is set
    // once per (project, event id), so the rows are unique.
    let rows: Vec<usize> = (0..events.len()).filter(|&i| outcomes[i].created).collect();
    if !rows.is_empty() {
        let column = |f: fn(&NewEvent) -> Option<&str>| -> Vec<Option<&str>> {
            rows.iter().map(|&i| f(&events[i])).collect()
        };
        let projects: Vec<i64> = rows.iter().map(|&i| events[i].project_id).collect();
        let event_ids: Vec<&str> = rows.iter().map(|&i| ids[i].as_str()).collect();
        let groups: Vec<i64> = rows.iter().map(|&i| outcomes[i].group_id).collect();
        let timestamps: Vec<DateTime<Utc>> = rows.iter().map(|&i| events[i].timestamp).collect();
        let received: Vec<DateTime<Utc>> = rows.iter().map(|&i| events[i].received).collect();
        let levels: Vec<&str> = rows.iter().map(|&i| events[i].level.as_str()).collect();
        let releases = column(|e| e.release.as_deref());
        let environments = column(|e| e.environment.as_deref());
        let users = column(|e| e.user_key.as_deref());
        sqlx::query(
            "INSERT INTO events (project_id, event_id, group_id, timestamp, received, level,
                release, environment, user_key)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[],
                $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[])",
        )
        .bind(&projects)
        .bind(&event_ids)
        .bind(&groups)
        .bind(&timestamps)
        .bind(&received)
        .bind(&levels)
        .bind(&releases)
        .bind(&environments)
        .bind(&users)
        .execute(&mut **tx)
        .await?;

        let payloads: Vec<&[u8]> = rows.iter().map(|&i| compressed[i]).collect();
        sqlx::query(
            "INSERT INTO nodestore (project_id, event_id, codec, data)
             SELECT k.project_id, k.event_id, $3, k.data
             FROM unnest($1::bigint[], $2::text[], $4::bytea[]) AS k(project_id, event_id, data)
             ON CONFLICT (project_id, event_id)
             DO UPDATE SET codec = excluded.codec, data = excluded.data",
        )
        .bind(&projects)
        .bind(&event_ids)
        .bind(NODESTORE_CODEC)
        .bind(&payloads)
        .execute(&mut **tx)
        .await?;

        let (user_groups, user_keys): (Vec<i64>, Vec<&str>) = rows
            .iter()
            .filter_map(|&i| Some((outcomes[i].group_id, events[i].user_key.as_deref()?)))
            .unzip();
        if !user_keys.is_empty() {
            // A user twice in the batch counts once: the second row
            // conflicts with the first.
            let new_users: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO group_users (group_id, user_key)
                 SELECT * FROM unnest($1::bigint[], $2::text[])
                 ON CONFLICT (group_id, user_key) DO NOTHING
                 RETURNING group_id",
            )
            .bind(&user_groups)
            .bind(&user_keys)
            .fetch_all(&mut **tx)
            .await?;
            for group in new_users {
                changes.entry(group).or_default().users += 1;
            }
        }
    }

    // One update per touched issue, in id order.
    for (group_id, c) in &changes {
        sqlx::query(
            "UPDATE groups SET
                times_seen = times_seen + $1,
                user_count = user_count + $2,
                first_seen = CASE WHEN $1 > 0 THEN LEAST(first_seen, $3) ELSE first_seen END,
                level = CASE WHEN $1 > 0 AND $4 >= last_seen THEN $5 ELSE level END,
                culprit = CASE WHEN $1 > 0 AND $4 >= last_seen THEN $6 ELSE culprit END,
                title = CASE WHEN $1 > 0 AND $4 >= last_seen THEN $9 ELSE title END,
                metadata = CASE WHEN $1 > 0 AND $4 >= last_seen THEN $10 ELSE metadata END,
                last_seen = CASE WHEN $1 > 0 THEN GREATEST(last_seen, $4) ELSE last_seen END,
                is_unhandled = is_unhandled OR $7,
                resolved_at = CASE WHEN $1 > 0 AND status = 'resolved' THEN NULL ELSE resolved_at END,
                status = CASE WHEN $1 > 0 AND status = 'resolved' THEN 'unresolved' ELSE status END
             WHERE id = $8",
        )
        .bind(c.events)
        .bind(c.users)
        .bind(c.first)
        .bind(c.last)
        .bind(&c.level)
        .bind(&c.culprit)
        .bind(c.unhandled)
        .bind(group_id)
        .bind(&c.title)
        .bind(&c.metadata)
        .execute(&mut **tx)
        .await?;
    }

    // Releases and environments. The organization-wide rows, which other
    // projects' batches may insert at the same time, go in (organization,
    // name) order; the per-project rows are under this batch's locks.
    let named = releases_and_environments(events, &outcomes);
    let org = |project_id: &i64| known.org_of.get(project_id).copied().unwrap_or_default();
    let now = Utc::now();
    if !named.releases.is_empty() {
        let (orgs, versions): (Vec<i64>, Vec<&str>) = named
            .releases
            .keys()
            .map(|(project, version)| (org(project), *version))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .unzip();
        sqlx::query(
            "INSERT INTO releases (organization_id, version, date_created)
             SELECT k.organization_id, k.version, $3
             FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(organization_id, version, n)
             ORDER BY k.n
             ON CONFLICT (organization_id, version) DO NOTHING",
        )
        .bind(&orgs)
        .bind(&versions)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let mut orgs = Vec::new();
        let mut projects = Vec::new();
        let mut versions = Vec::new();
        let mut firsts = Vec::new();
        let mut lasts = Vec::new();
        for ((project, version), (first, last)) in &named.releases {
            orgs.push(org(project));
            projects.push(*project);
            versions.push(*version);
            firsts.push(*first);
            lasts.push(*last);
        }
        sqlx::query(
            "INSERT INTO release_projects (release_id, project_id, first_event, last_event)
             SELECT r.id, k.project_id, k.first_event, k.last_event
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[],
                $5::timestamptz[]) AS k(organization_id, project_id, version, first_event, last_event)
             JOIN releases r ON r.organization_id = k.organization_id AND r.version = k.version
             ON CONFLICT (release_id, project_id) DO UPDATE SET
                first_event = LEAST(release_projects.first_event, excluded.first_event),
                last_event = GREATEST(release_projects.last_event, excluded.last_event)",
        )
        .bind(&orgs)
        .bind(&projects)
        .bind(&versions)
        .bind(&firsts)
        .bind(&lasts)
        .execute(&mut **tx)
        .await?;
    }
    if !named.environments.is_empty() {
        let (orgs, names): (Vec<i64>, Vec<&str>) = named
            .environments
            .iter()
            .map(|(project, name)| (org(project), *name))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .unzip();
        sqlx::query(
            "INSERT INTO environments (organization_id, name, date_created)
             SELECT k.organization_id, k.name, $3
             FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(organization_id, name, n)
             ORDER BY k.n
             ON CONFLICT (organization_id, name) DO NOTHING",
        )
        .bind(&orgs)
        .bind(&names)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let (orgs, (projects, names)): (Vec<i64>, (Vec<i64>, Vec<&str>)) = named
            .environments
            .iter()
            .map(|(project, name)| (org(project), (*project, *name)))
            .unzip();
        sqlx::query(
            "INSERT INTO environment_projects (environment_id, project_id)
             SELECT v.id, k.project_id
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(organization_id, project_id, name)
             JOIN environments v ON v.organization_id = k.organization_id AND v.name = k.name
             ON CONFLICT (environment_id, project_id) DO NOTHING",
        )
        .bind(&orgs)
        .bind(&projects)
        .bind(&names)
        .execute(&mut **tx)
        .await?;
    }
    Ok(outcomes)
}

async fn insert_key(
    tx: &mut Transaction<'_, Postgres>,
    project_id: i64,
    label: &str,
) -> Result<ProjectKey> {
    let row = sqlx::query(
        "INSERT INTO project_keys (project_id, label, public_key, secret_key, is_active, date_created)
         VALUES ($1, $2, $3, $4, TRUE, $5) RETURNING *",
    )
    .bind(project_id)
    .bind(label)
    .bind(new_key())
    .bind(new_key())
    .bind(Utc::now())
    .fetch_one(&mut **tx)
    .await
    .map_err(key_project_missing(project_id))?;
    Ok(key(&row))
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_organization(&self, slug: &str, name: &str) -> Result<Organization> {
        let row = sqlx::query(
            "INSERT INTO organizations (slug, name, date_created) VALUES ($1, $2, $3) RETURNING *",
        )
        .bind(slug)
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(conflict(format!("organization {slug:?}")))?;
        Ok(organization(&row))
    }

    async fn organization(&self, slug: &str) -> Result<Option<Organization>> {
        let row = sqlx::query("SELECT * FROM organizations WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(organization))
    }

    async fn create_team(&self, organization_id: i64, slug: &str, name: &str) -> Result<Team> {
        let row = sqlx::query(
            "INSERT INTO teams (organization_id, slug, name, date_created) VALUES ($1, $2, $3, $4)
             RETURNING *",
        )
        .bind(organization_id)
        .bind(slug)
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(conflict(format!("team {slug:?}")))?;
        Ok(team(&row))
    }

    async fn team(&self, organization_id: i64, slug: &str) -> Result<Option<Team>> {
        let row = sqlx::query("SELECT * FROM teams WHERE organization_id = $1 AND slug = $2")
            .bind(organization_id)
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(team))
    }

    async fn create_project(
        &self,
        organization_id: i64,
        team_id: Option<i64>,
        new: NewProject,
    ) -> Result<Project> {
        let slug = new.slug.unwrap_or_else(|| slugify(&new.name));
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO projects (organization_id, team_id, slug, name, platform, date_created, settings)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(organization_id)
        .bind(team_id)
        .bind(&slug)
        .bind(&new.name)
        .bind(&new.platform)
        .bind(Utc::now())
        .bind(settings_json(&ProjectSettings::new_project())?)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict(format!("project slug {slug:?}")))?;
        let created = project(&row);
        insert_key(&mut tx, created.id, "Default").await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn projects(&self, organization_id: i64) -> Result<Vec<Project>> {
        let rows = sqlx::query("SELECT * FROM projects WHERE organization_id = $1 ORDER BY slug")
            .bind(organization_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(project).collect())
    }

    async fn project(&self, organization_id: i64, slug: &str) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT * FROM projects WHERE organization_id = $1 AND slug = $2")
            .bind(organization_id)
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project))
    }

    async fn project_by_id(&self, id: i64) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project))
    }

    async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey> {
        let mut tx = self.pool.begin().await?;
        let created = insert_key(&mut tx, project_id, label).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>> {
        let rows = sqlx::query("SELECT * FROM project_keys WHERE project_id = $1 ORDER BY id")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(key).collect())
    }

    async fn set_key_active(&self, key_id: i64, active: bool) -> Result<()> {
        let changed = sqlx::query("UPDATE project_keys SET is_active = $1 WHERE id = $2")
            .bind(active)
            .bind(key_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: format!("key {key_id}"),
            });
        }
        Ok(())
    }

    async fn update_key(&self, key_id: i64, update: &KeyUpdate) -> Result<ProjectKey> {
        let (set_limit, window, count) = match update.rate_limit {
            None => (false, None, None),
            Some(None) => (true, None, None),
            Some(Some(limit)) => (
                true,
                Some(sql_int(limit.window)),
                Some(sql_int(limit.count)),
            ),
        };
        let row = sqlx::query(
            "UPDATE project_keys SET
                label = COALESCE($1, label),
                is_active = COALESCE($2, is_active),
                rate_limit_window = CASE WHEN $3 THEN $4 ELSE rate_limit_window END,
                rate_limit_count = CASE WHEN $3 THEN $5 ELSE rate_limit_count END
             WHERE id = $6 RETURNING *",
        )
        .bind(&update.label)
        .bind(update.is_active)
        .bind(set_limit)
        .bind(window)
        .bind(count)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key).ok_or_else(|| StoreError::NotFound {
            what: format!("key {key_id}"),
        })
    }

    async fn update_project(&self, project_id: i64, update: &ProjectUpdate) -> Result<Project> {
        let settings = update.settings.as_ref().map(settings_json).transpose()?;
        let row = sqlx::query(
            "UPDATE projects SET
                name = COALESCE($1, name),
                slug = COALESCE($2, slug),
                platform = COALESCE($3, platform),
                settings = COALESCE($4, settings)
             WHERE id = $5 RETURNING *",
        )
        .bind(&update.name)
        .bind(&update.slug)
        .bind(&update.platform)
        .bind(settings)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(conflict(format!(
            "project slug {:?}",
            update.slug.as_deref().unwrap_or_default()
        )))?;
        row.as_ref()
            .map(project)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("project {project_id}"),
            })
    }

    async fn record_outcomes(&self, outcomes: &[Outcome], read: &[ReadRange]) -> Result<()> {
        use std::collections::BTreeMap;

        if outcomes.is_empty() && read.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        // Partitions in order, so that two consumers wait, not deadlock.
        let mut ranges: Vec<&ReadRange> = read.iter().collect();
        ranges.sort_by(|a, b| {
            (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition))
        });
        for range in ranges {
            sqlx::query(
                "INSERT INTO stream_offsets (consumer_group, topic, partition_id, next_offset)
                 VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
            )
            .bind(&range.group)
            .bind(&range.topic)
            .bind(i64::from(range.partition))
            .execute(&mut *tx)
            .await?;
            let stored: i64 = sqlx::query_scalar(
                "SELECT next_offset FROM stream_offsets
                 WHERE consumer_group = $1 AND topic = $2 AND partition_id = $3 FOR UPDATE",
            )
            .bind(&range.group)
            .bind(&range.topic)
            .bind(i64::from(range.partition))
            .fetch_one(&mut *tx)
            .await?;
            if stored > sql_int(range.first) {
                tx.rollback().await?;
                return Err(already_added(range, stored));
            }
            sqlx::query(
                "UPDATE stream_offsets SET next_offset = $1
                 WHERE consumer_group = $2 AND topic = $3 AND partition_id = $4",
            )
            .bind(sql_int(range.next))
            .bind(&range.group)
            .bind(&range.topic)
            .bind(i64::from(range.partition))
            .execute(&mut *tx)
            .await?;
        }
        if outcomes.is_empty() {
            tx.commit().await?;
            return Ok(());
        }
        // Summed per row first (one statement may not change a row twice),
        // and written in key order, so that two consumers adding to the
        // same minutes wait for each other, never in a circle.
        type Key<'a> = (i64, DateTime<Utc>, i64, i64, i64, &'a str, &'a str);
        let mut sums: BTreeMap<Key<'_>, (i64, i64)> = BTreeMap::new();
        for outcome in outcomes {
            let minute = outcome.timestamp.timestamp().div_euclid(60) * 60;
            let key = (
                sql_int(outcome.org_id),
                DateTime::from_timestamp(minute, 0).unwrap_or_default(),
                sql_int(outcome.project_id),
                sql_int(outcome.key_id.unwrap_or(0)),
                i64::from(outcome.outcome.code()),
                outcome.reason.as_deref().unwrap_or(""),
                outcome.category.as_str(),
            );
            let sum = sums.entry(key).or_default();
            sum.0 = sum.0.saturating_add(sql_int(outcome.quantity));
            sum.1 += 1;
        }
        let mut columns: (
            Vec<i64>,
            Vec<DateTime<Utc>>,
            Vec<i64>,
            Vec<i64>,
            Vec<i64>,
            Vec<&str>,
            Vec<&str>,
        ) = Default::default();
        let mut quantities = Vec::with_capacity(sums.len());
        let mut times_seen = Vec::with_capacity(sums.len());
        for ((org, minute, project, key, outcome, reason, category), (quantity, times)) in sums {
            columns.0.push(org);
            columns.1.push(minute);
            columns.2.push(project);
            columns.3.push(key);
            columns.4.push(outcome);
            columns.5.push(reason);
            columns.6.push(category);
            quantities.push(quantity);
            times_seen.push(times);
        }
        sqlx::query(
            "INSERT INTO outcomes (org_id, timestamp, project_id, key_id, outcome, reason,
                category, quantity, times_seen)
             SELECT k.org_id, k.timestamp, k.project_id, k.key_id, k.outcome, k.reason,
                k.category, k.quantity, k.times_seen
             FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[],
                $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
                WITH ORDINALITY AS k(org_id, timestamp, project_id, key_id, outcome, reason,
                    category, quantity, times_seen, n)
             ORDER BY k.n
             ON CONFLICT (org_id, timestamp, project_id, key_id, outcome, reason, category)
             DO UPDATE SET quantity = outcomes.quantity + excluded.quantity,
                times_seen = outcomes.times_seen + excluded.times_seen",
        )
        .bind(&columns.0)
        .bind(&columns.1)
        .bind(&columns.2)
        .bind(&columns.3)
        .bind(&columns.4)
        .bind(&columns.5)
        .bind(&columns.6)
        .bind(&quantities)
        .bind(&times_seen)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn stream_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT partition_id, next_offset FROM stream_offsets
             WHERE consumer_group = $1 AND topic = $2 ORDER BY partition_id",
        )
        .bind(group)
        .bind(topic)
        .fetch_all(&self.pool)
        .await?;
        Ok(stream_offsets(rows))
    }

    async fn outcomes(&self, query: &OutcomeQuery) -> Result<Vec<OutcomeTotal>> {
        let interval = sql_int(query.interval_secs.max(60));
        let projects: Vec<i64> = query
            .project_ids
            .iter()
            .filter_map(|id| i64::try_from(*id).ok())
            .collect();
        let rows = sqlx::query(
            "SELECT date_bin(make_interval(secs => $1::double precision), timestamp,
                    TIMESTAMPTZ 'epoch') AS bucket,
                project_id, key_id, outcome, reason, category,
                SUM(quantity)::bigint AS quantity, SUM(times_seen)::bigint AS times_seen
             FROM outcomes
             WHERE org_id = $2 AND timestamp >= $3 AND timestamp < $4
                AND ($5 OR project_id = ANY($6))
             GROUP BY bucket, project_id, key_id, outcome, reason, category
             ORDER BY bucket, project_id, key_id, outcome, reason, category",
        )
        .bind(interval)
        .bind(sql_int(query.org_id))
        .bind(query.start)
        .bind(query.end)
        .bind(query.project_ids.is_empty())
        .bind(&projects)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|row| outcome_total(Some(row.time("bucket")), row))
            .collect())
    }

    async fn project_for_key(&self, public_key: &str) -> Result<Option<i64>> {
        let id = sqlx::query_scalar("SELECT project_id FROM project_keys WHERE public_key = $1")
            .bind(public_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id)
    }

    async fn project_config(&self, project_id: u64) -> Result<Option<ProjectConfig>> {
        let Ok(id) = i64::try_from(project_id) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let keys = self.keys(id).await?;
        crate::sql::project_config(&row, keys).map(Some)
    }

    async fn create_user(&self, username: &str, email: &str, superuser: bool) -> Result<User> {
        let row = sqlx::query(
            "INSERT INTO users (username, email, is_superuser, date_joined) VALUES ($1, $2, $3, $4)
             RETURNING *",
        )
        .bind(username)
        .bind(email)
        .bind(superuser)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(conflict(format!("user {username:?}")))?;
        Ok(user(&row))
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user))
    }

    async fn create_token(
        &self,
        user_id: i64,
        secret: &str,
        scopes: &[String],
    ) -> Result<ApiToken> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, token_last_characters, scopes, date_created)
             VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(user_id)
        .bind(token_hash(secret))
        .bind(last_characters(secret))
        .bind(scopes.join(" "))
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(conflict("token"))?;
        Ok(token(&row))
    }

    async fn token(&self, secret: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash(secret))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(token))
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        // An email match first (emails are unique whatever their case),
        // then a username.
        let row = sqlx::query(
            "SELECT * FROM users WHERE lower(email) = lower($1) OR username = $1
             ORDER BY lower(email) = lower($1) DESC LIMIT 1",
        )
        .bind(login.trim())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user))
    }

    async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY email")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user).collect())
    }

    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("user {user_id}"),
            });
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }

    async fn set_superuser(&self, user_id: i64, superuser: bool) -> Result<()> {
        sqlx::query("UPDATE users SET is_superuser = $1 WHERE id = $2")
            .bind(superuser)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query("SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY id DESC")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(token).collect())
    }

    async fn delete_token(&self, user_id: i64, token_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(token_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_service_hook(
        &self,
        project_id: i64,
        url: &str,
        events: &[String],
    ) -> Result<ServiceHook> {
        let row = sqlx::query(
            "INSERT INTO service_hooks (guid, project_id, url, secret, events, status, date_added)
             VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING *",
        )
        .bind(new_key())
        .bind(project_id)
        .bind(url)
        .bind(new_hook_secret())
        .bind(events.join(" "))
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(key_project_missing(project_id))?;
        Ok(service_hook(&row))
    }

    async fn service_hooks(&self, project_id: i64) -> Result<Vec<ServiceHook>> {
        let rows = sqlx::query("SELECT * FROM service_hooks WHERE project_id = $1 ORDER BY id")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(service_hook).collect())
    }

    async fn update_service_hook(
        &self,
        project_id: i64,
        guid: &str,
        url: &str,
        events: &[String],
    ) -> Result<Option<ServiceHook>> {
        let row = sqlx::query(
            "UPDATE service_hooks SET url = $1, events = $2
             WHERE project_id = $3 AND guid = $4 RETURNING *",
        )
        .bind(url)
        .bind(events.join(" "))
        .bind(project_id)
        .bind(guid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(service_hook))
    }

    async fn delete_service_hook(&self, project_id: i64, guid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM service_hooks WHERE project_id = $1 AND guid = $2")
            .bind(project_id)
            .bind(guid)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        let rows = sqlx::query("SELECT * FROM organizations ORDER BY slug")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(organization).collect())
    }

    async fn set_member(&self, organization_id: i64, user_id: i64, role: Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id, role, date_added)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(organization_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(conflict("membership"))?;
        Ok(())
    }

    async fn remove_member(&self, organization_id: i64, user_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn role(&self, organization_id: i64, user_id: i64) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM organization_members WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        role.map(|r| parse_role(&r)).transpose()
    }

    async fn members(&self, organization_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.*, m.role, m.date_added FROM organization_members m
             JOIN users u ON u.id = m.user_id
             WHERE m.organization_id = $1 ORDER BY u.email",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Member {
                    user: user(row),
                    role: parse_role(&row.text("role"))?,
                    date_added: row.time("date_added"),
                })
            })
            .collect()
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<(Organization, Role)>> {
        let rows = sqlx::query(
            "SELECT o.*, m.role FROM organization_members m
             JOIN organizations o ON o.id = m.organization_id
             WHERE m.user_id = $1 ORDER BY o.slug",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((organization(row), parse_role(&row.text("role"))?)))
            .collect()
    }

    async fn teams(&self, organization_id: i64) -> Result<Vec<Team>> {
        let rows = sqlx::query("SELECT * FROM teams WHERE organization_id = $1 ORDER BY slug")
            .bind(organization_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(team).collect())
    }

    async fn create_session(&self, key: &str, session: &Session) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Expired sessions are swept as new ones start.
        sqlx::query("DELETE FROM sessions WHERE expires < $1")
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (key_hash, user_id, csrf_token, expires) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(key))
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(session.expires)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, key: &str) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT s.user_id, s.csrf_token, s.expires FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.key_hash = $1 AND s.expires > $2 AND u.is_active",
        )
        .bind(token_hash(key))
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| Session {
            user_id: row.int("user_id"),
            csrf_token: row.text("csrf_token"),
            expires: row.time("expires"),
        }))
    }

    async fn delete_session(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE key_hash = $1")
            .bind(token_hash(key))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn save_events(&self, events: &[NewEvent]) -> Result<Vec<SaveOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Compression is CPU work: off the async threads, and done before
        // the transaction so that it holds its locks only to write.
        let fresh = compress_missing(events).await?;
        let compressed = payload_views(events, &fresh);
        let mut tx = self.pool.begin().await?;
        let outcomes = save_batch(&mut tx, events, &compressed).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn issues(&self, organization_id: i64, query: &IssueQuery) -> Result<Vec<Issue>> {
        let mut sql = String::from(
            "SELECT g.* FROM groups g JOIN projects p ON p.id = g.project_id
             WHERE p.organization_id = $1",
        );
        let mut n = 1;
        let mut param = || {
            n += 1;
            format!("${n}")
        };
        if !query.project_ids.is_empty() {
            sql.push_str(&format!(" AND g.project_id = ANY({})", param()));
        }
        if query.status.is_some() {
            sql.push_str(&format!(" AND g.status = {}", param()));
        }
        if query.group_ids.is_some() {
            sql.push_str(&format!(" AND g.id = ANY({})", param()));
        }
        if query.last_seen_after.is_some() {
            sql.push_str(&format!(" AND g.last_seen >= {}", param()));
        }
        for _ in &query.text {
            let p = param();
            sql.push_str(&format!(
                " AND (g.title ILIKE {p} ESCAPE '\\' OR coalesce(g.culprit, '') ILIKE {p} ESCAPE '\\'
                  OR (upper(p.slug) || '-' || g.short_id) ILIKE {p} ESCAPE '\\')"
            ));
        }
        sql.push_str(match query.sort {
            IssueSort::LastSeen => " ORDER BY g.last_seen DESC, g.id DESC",
            IssueSort::FirstSeen => " ORDER BY g.first_seen DESC, g.id DESC",
            IssueSort::TimesSeen => " ORDER BY g.times_seen DESC, g.id DESC",
            IssueSort::UserCount => " ORDER BY g.user_count DESC, g.id DESC",
        });
        let (limit, offset) = (param(), param());
        sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
        // Only placeholders are formatted into the statement.
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(organization_id);
        if !query.project_ids.is_empty() {
            q = q.bind(&query.project_ids);
        }
        if let Some(status) = query.status {
            q = q.bind(status.as_str());
        }
        if let Some(ids) = &query.group_ids {
            q = q.bind(ids);
        }
        if let Some(after) = query.last_seen_after {
            q = q.bind(after);
        }
        for word in &query.text {
            q = q.bind(contains_pattern(word));
        }
        let rows = q
            .bind(sql_int(query.limit))
            .bind(sql_int(query.offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(issue).collect()
    }

    async fn issue(&self, organization_id: i64, id: i64) -> Result<Option<Issue>> {
        let row = sqlx::query(
            "SELECT g.* FROM groups g JOIN projects p ON p.id = g.project_id
             WHERE p.organization_id = $1 AND g.id = $2",
        )
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(issue).transpose()
    }

    async fn set_issue_status(
        &self,
        organization_id: i64,
        ids: &[i64],
        status: IssueStatus,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let resolved_at = (status == IssueStatus::Resolved).then(Utc::now);
        // The rows are locked in id order, as saving events does.
        let changed = sqlx::query(
            "UPDATE groups SET status = $1, resolved_at = $2
             WHERE id IN (
                SELECT g.id FROM groups g JOIN projects p ON p.id = g.project_id
                WHERE g.id = ANY($3) AND p.organization_id = $4
                ORDER BY g.id FOR NO KEY UPDATE OF g)",
        )
        .bind(status.as_str())
        .bind(resolved_at)
        .bind(ids)
        .bind(organization_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed)
    }

    async fn delete_issue(&self, organization_id: i64, id: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let project_id: Option<i64> = sqlx::query_scalar(
            "SELECT g.project_id FROM groups g JOIN projects p ON p.id = g.project_id
             WHERE p.organization_id = $1 AND g.id = $2",
        )
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(project_id) = project_id else {
            // Not this organization's issue: keep its events.
            tx.rollback().await?;
            return Ok(false);
        };
        // No batch of the project adds events to the issue meanwhile.
        lock_project(&mut tx, project_id).await?;
        sqlx::query(
            "DELETE FROM nodestore n USING events e
             WHERE e.group_id = $1 AND n.project_id = e.project_id AND n.event_id = e.event_id",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn issue_events(
        &self,
        group_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} WHERE e.group_id = $1
             ORDER BY e.timestamp DESC, e.event_id DESC LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(group_id)
            .bind(sql_int(limit))
            .bind(sql_int(offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_event).collect()
    }

    async fn issue_event(
        &self,
        group_id: i64,
        which: EventSelector,
    ) -> Result<Option<StoredEvent>> {
        let (filter, id) = match which {
            EventSelector::Latest => ("ORDER BY e.timestamp DESC, e.event_id DESC", None),
            EventSelector::Oldest => ("ORDER BY e.timestamp ASC, e.event_id ASC", None),
            EventSelector::Id(id) => ("AND e.event_id = $2", Some(id.to_string())),
        };
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.group_id = $1 {filter} LIMIT 1");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(group_id);
        if let Some(id) = id {
            q = q.bind(id);
        }
        let row = q.fetch_optional(&self.pool).await?;
        row.as_ref().map(stored_event).transpose()
    }

    async fn event(&self, project_id: i64, event_id: EventId) -> Result<Option<StoredEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.project_id = $1 AND e.event_id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(project_id)
            .bind(event_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stored_event).transpose()
    }

    async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<EventId>, Option<EventId>)> {
        let id = event.event_id.to_string();
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM events WHERE group_id = $1
               AND (timestamp, event_id) < ($2, $3)
             ORDER BY timestamp DESC, event_id DESC LIMIT 1",
        )
        .bind(event.group_id)
        .bind(event.timestamp)
        .bind(&id)
        .fetch_optional(&self.pool)
        .await?;
        let next: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM events WHERE group_id = $1
               AND (timestamp, event_id) > ($2, $3)
             ORDER BY timestamp ASC, event_id ASC LIMIT 1",
        )
        .bind(event.group_id)
        .bind(event.timestamp)
        .bind(&id)
        .fetch_optional(&self.pool)
        .await?;
        Ok((
            previous.and_then(|s| s.parse().ok()),
            next.and_then(|s| s.parse().ok()),
        ))
    }
}
