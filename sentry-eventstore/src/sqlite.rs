//! The embedded store: one SQLite database through sqlx.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives a crash of the process or the machine. Writes go
//! through one connection (SQLite has one writer anyway); reads use a small
//! pool that WAL lets run beside the writer.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentry_envelope::protocol::EventId;
use sentry_relay_core::outcome::Outcome;
use sentry_relay_core::{ProjectConfig, ProjectSettings};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};

use crate::error::{Result, StoreError};
use crate::models::{
    ApiToken, EventSelector, Issue, IssueQuery, IssueSort, IssueStatus, KeyUpdate, Member,
    NewEvent, NewProject, Organization, OutcomeQuery, OutcomeTotal, Project, ProjectKey,
    ProjectUpdate, ReadRange, Role, SaveOutcome, ServiceHook, Session, StoredEvent, Team, User,
};
use crate::sql::{
    Columns, Known, NODESTORE_CODEC, Plan, Planner, already_added, compress_missing, conflict,
    contains_pattern, from_micros, issue, key, key_project_missing, last_characters, micros,
    new_hook_secret, new_key, organization, outcome_total, parse_role, payload_views, project,
    releases_and_environments, service_hook, settings_json, slugify, sql_int, stored_event,
    stream_offsets, team, token, token_hash, user,
};
use crate::store::Store;

/// The migrations, in order. Each runs once, in a transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "settings_outcomes",
        include_str!("../migrations/sqlite/0002_settings_outcomes.sql"),
    ),
    (
        3,
        "accounts",
        include_str!("../migrations/sqlite/0003_accounts.sql"),
    ),
    (
        4,
        "service_hooks",
        include_str!("../migrations/sqlite/0004_service_hooks.sql"),
    ),
    (
        5,
        "stream_offsets",
        include_str!("../migrations/sqlite/0005_stream_offsets.sql"),
    ),
];

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://PATH` URL, or an
    /// in-memory database for `sqlite::memory:`, and runs the migrations.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl { url: url.into() })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A batch writes megabytes: a page cache that holds it keeps
            // SQLite from spilling pages mid-transaction (64 MiB).
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        // A background task checkpoints the WAL every second, beside the
        // writer (see `checkpoint_loop`). The writer checkpoints only when
        // the WAL passes 32 MiB (instead of SQLite's 4 MiB, which would put
        // a copy and an fsync of the database on every batch); that bounds
        // the WAL and lets SQLite start it over.
        let writer_options = options.clone().pragma("wal_autocheckpoint", "8192");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // An in-memory database lives as long as its connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_options)
            .await?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone().read_only(true))
                .await?
        };
        if !in_memory {
            let checkpointer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            tokio::spawn(checkpoint_loop(checkpointer));
        }
        let store = SqliteStore { writer, reader };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(&self.writer)
        .await?;
        for &(version, description, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&self.writer)
                    .await?;
            if done.is_some() {
                continue;
            }
            let fail = |source| StoreError::Migration { version, source };
            let mut tx = self.writer.begin().await.map_err(fail)?;
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO schema_migrations VALUES (?, ?, ?)")
                .bind(version)
                .bind(description)
                .bind(micros(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            tracing::info!(version, description, "applied migration");
        }
        Ok(())
    }
}

/// Copies committed WAL pages into the database file once a second, beside
/// the writer (a passive checkpoint never blocks it). The task ends when the
/// pool is closed.
async fn checkpoint_loop(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "wal checkpoint failed");
        }
    }
}

/// Reads SQLite rows for the shared decoders: times are microseconds
/// since the epoch, booleans integers.
impl Columns for SqliteRow {
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
        from_micros(self.get(column))
    }
    fn opt_time(&self, column: &str) -> Option<DateTime<Utc>> {
        self.get::<Option<i64>, _>(column).map(from_micros)
    }
}

const EVENT_COLUMNS: &str = "e.project_id, e.event_id, e.group_id, e.timestamp, e.received, n.codec, n.data \
     FROM events e JOIN nodestore n ON n.project_id = e.project_id AND n.event_id = e.event_id";

/// `(?, ?), (?, ?)` for `rows` rows of `cols` placeholders.
fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; rows].join(", ")
}

/// Rows per multi-row statement: SQLite allows 32,766 bound values.
const CHUNK: usize = 200;

/// Saves a batch inside one transaction with a handful of statements per
/// batch rather than per event: one round trip to SQLite costs more than
/// the work of most statements here.
async fn save_batch(
    tx: &mut Transaction<'_, Sqlite>,
    events: &[NewEvent],
    compressed: &[&[u8]],
) -> Result<Vec<SaveOutcome>> {
    use std::collections::HashSet;

    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();

    let mut known = Known::default();
    // The organization of every project in the batch.
    let projects: Vec<i64> = events
        .iter()
        .map(|e| e.project_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in projects.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, organization_id FROM projects WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        known.org_of.extend(q.fetch_all(&mut **tx).await?);
    }

    // Events already stored (redeliveries).
    for chunk in events.iter().zip(&ids).collect::<Vec<_>>().chunks(CHUNK) {
        let sql = format!(
            "SELECT project_id, event_id, group_id FROM events WHERE (project_id, event_id) IN (VALUES {})",
            placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query_as::<_, (i64, String, i64)>(AssertSqlSafe(sql));
        for (e, id) in chunk {
            q = q.bind(e.project_id).bind(id.as_str());
        }
        for (project, id, group) in q.fetch_all(&mut **tx).await? {
            known.stored.insert((project, id), group);
        }
    }

    // The issues the batch's hashes already belong to, with their status.
    let hashes: Vec<(i64, &str)> = events
        .iter()
        .flat_map(|e| e.hashes.iter().map(move |h| (e.project_id, h.as_str())))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in hashes.chunks(CHUNK) {
        let sql = format!(
            "SELECT h.project_id, h.hash, g.id, g.status FROM group_hashes h
             JOIN groups g ON g.id = h.group_id
             WHERE (h.project_id, h.hash) IN (VALUES {})",
            placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query_as::<_, (i64, String, i64, String)>(AssertSqlSafe(sql));
        for (project, hash) in chunk {
            q = q.bind(*project).bind(*hash);
        }
        for (project, hash, group, status) in q.fetch_all(&mut **tx).await? {
            known.groups.insert((project, hash), (group, status));
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
            let short_id: i64 = sqlx::query_scalar(
                "UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = ?
                 RETURNING next_short_id - 1",
            )
            .bind(e.project_id)
            .fetch_one(&mut **tx)
            .await?;
            let ts = micros(e.timestamp);
            let group_id: i64 = sqlx::query_scalar(
                "INSERT INTO groups (project_id, short_id, event_type, title, culprit, level,
                    platform, logger, metadata, is_unhandled, first_seen, last_seen, times_seen,
                    first_release)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING id",
            )
            .bind(e.project_id)
            .bind(short_id)
            .bind(&e.event_type)
            .bind(&e.title)
            .bind(&e.culprit)
            .bind(&e.level)
            .bind(&e.platform)
            .bind(&e.logger)
            .bind(e.metadata.to_string())
            .bind(e.is_unhandled)
            .bind(ts)
            .bind(ts)
            .bind(&e.release)
            .fetch_one(&mut **tx)
            .await?;
            planner.opened(i, group_id);
        }
        planner.finish()
    };

    for chunk in new_hashes.chunks(CHUNK) {
        let sql = format!(
            "INSERT OR IGNORE INTO group_hashes (project_id, hash, group_id) VALUES {}",
            placeholders(chunk.len(), 3)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (project, hash, group) in chunk {
            q = q.bind(*project).bind(hash.as_str()).bind(*group);
        }
        q.execute(&mut **tx).await?;
    }

    // The new events, their payloads and their users, many rows per statement.
    // `created` is set once per (project, event id), so the rows are unique.
    let rows: Vec<usize> = (0..events.len()).filter(|&i| outcomes[i].created).collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO events (project_id, event_id, group_id, timestamp, received, level, release,
                environment, user_key) VALUES {}",
            placeholders(chunk.len(), 9)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for &i in chunk {
            let e = &events[i];
            q = q
                .bind(e.project_id)
                .bind(ids[i].as_str())
                .bind(outcomes[i].group_id)
                .bind(micros(e.timestamp))
                .bind(micros(e.received))
                .bind(&e.level)
                .bind(&e.release)
                .bind(&e.environment)
                .bind(&e.user_key);
        }
        q.execute(&mut **tx).await?;

        let sql = format!(
            "INSERT OR REPLACE INTO nodestore (project_id, event_id, codec, data) VALUES {}",
            placeholders(chunk.len(), 4)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for &i in chunk {
            q = q
                .bind(events[i].project_id)
                .bind(ids[i].as_str())
                .bind(NODESTORE_CODEC)
                .bind(compressed[i]);
        }
        q.execute(&mut **tx).await?;

        let with_user: Vec<usize> = chunk
            .iter()
            .copied()
            .filter(|&i| events[i].user_key.is_some())
            .collect();
        if !with_user.is_empty() {
            let sql = format!(
                "INSERT OR IGNORE INTO group_users (group_id, user_key) VALUES {} RETURNING group_id",
                placeholders(with_user.len(), 2)
            );
            let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
            for &i in &with_user {
                q = q.bind(outcomes[i].group_id).bind(&events[i].user_key);
            }
            for group in q.fetch_all(&mut **tx).await? {
                changes.entry(group).or_default().users += 1;
            }
        }
    }

    // One update per touched issue.
    for (group_id, c) in &changes {
        sqlx::query(
            "UPDATE groups SET
                times_seen = times_seen + ?1,
                user_count = user_count + ?2,
                first_seen = CASE WHEN ?1 > 0 THEN min(first_seen, ?3) ELSE first_seen END,
                level = CASE WHEN ?1 > 0 AND ?4 >= last_seen THEN ?5 ELSE level END,
                culprit = CASE WHEN ?1 > 0 AND ?4 >= last_seen THEN ?6 ELSE culprit END,
                title = CASE WHEN ?1 > 0 AND ?4 >= last_seen THEN ?9 ELSE title END,
                metadata = CASE WHEN ?1 > 0 AND ?4 >= last_seen THEN ?10 ELSE metadata END,
                last_seen = CASE WHEN ?1 > 0 THEN max(last_seen, ?4) ELSE last_seen END,
                is_unhandled = is_unhandled OR ?7,
                resolved_at = CASE WHEN ?1 > 0 AND status = 'resolved' THEN NULL ELSE resolved_at END,
                status = CASE WHEN ?1 > 0 AND status = 'resolved' THEN 'unresolved' ELSE status END
             WHERE id = ?8",
        )
        .bind(c.events)
        .bind(c.users)
        .bind(micros(c.first))
        .bind(micros(c.last))
        .bind(&c.level)
        .bind(&c.culprit)
        .bind(c.unhandled)
        .bind(group_id)
        .bind(&c.title)
        .bind(&c.metadata)
        .execute(&mut **tx)
        .await?;
    }

    // Releases and environments, once per distinct value.
    let named = releases_and_environments(events, &outcomes);
    let now = micros(Utc::now());
    for ((project_id, version), (first, last)) in named.releases {
        let organization_id = known.org_of.get(&project_id).copied().unwrap_or_default();
        sqlx::query(
            "INSERT INTO releases (organization_id, version, date_created) VALUES (?, ?, ?)
             ON CONFLICT (organization_id, version) DO NOTHING",
        )
        .bind(organization_id)
        .bind(version)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO release_projects (release_id, project_id, first_event, last_event)
             SELECT id, ?1, ?2, ?3 FROM releases WHERE organization_id = ?4 AND version = ?5
             ON CONFLICT (release_id, project_id) DO UPDATE SET
                first_event = min(first_event, excluded.first_event),
                last_event = max(last_event, excluded.last_event)",
        )
        .bind(project_id)
        .bind(micros(first))
        .bind(micros(last))
        .bind(organization_id)
        .bind(version)
        .execute(&mut **tx)
        .await?;
    }
    for (project_id, name) in named.environments {
        let organization_id = known.org_of.get(&project_id).copied().unwrap_or_default();
        sqlx::query(
            "INSERT INTO environments (organization_id, name, date_created) VALUES (?, ?, ?)
             ON CONFLICT (organization_id, name) DO NOTHING",
        )
        .bind(organization_id)
        .bind(name)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT OR IGNORE INTO environment_projects (environment_id, project_id)
             SELECT id, ? FROM environments WHERE organization_id = ? AND name = ?",
        )
        .bind(project_id)
        .bind(organization_id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    }
    Ok(outcomes)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_organization(&self, slug: &str, name: &str) -> Result<Organization> {
        let row = sqlx::query(
            "INSERT INTO organizations (slug, name, date_created) VALUES (?, ?, ?) RETURNING *",
        )
        .bind(slug)
        .bind(name)
        .bind(micros(Utc::now()))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict(format!("organization {slug:?}")))?;
        Ok(organization(&row))
    }

    async fn organization(&self, slug: &str) -> Result<Option<Organization>> {
        let row = sqlx::query("SELECT * FROM organizations WHERE slug = ?")
            .bind(slug)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(organization))
    }

    async fn create_team(&self, organization_id: i64, slug: &str, name: &str) -> Result<Team> {
        let row = sqlx::query(
            "INSERT INTO teams (organization_id, slug, name, date_created) VALUES (?, ?, ?, ?)
             RETURNING *",
        )
        .bind(organization_id)
        .bind(slug)
        .bind(name)
        .bind(micros(Utc::now()))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict(format!("team {slug:?}")))?;
        Ok(team(&row))
    }

    async fn team(&self, organization_id: i64, slug: &str) -> Result<Option<Team>> {
        let row = sqlx::query("SELECT * FROM teams WHERE organization_id = ? AND slug = ?")
            .bind(organization_id)
            .bind(slug)
            .fetch_optional(&self.reader)
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
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "INSERT INTO projects (organization_id, team_id, slug, name, platform, date_created, settings)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(organization_id)
        .bind(team_id)
        .bind(&slug)
        .bind(&new.name)
        .bind(&new.platform)
        .bind(micros(Utc::now()))
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
        let rows = sqlx::query("SELECT * FROM projects WHERE organization_id = ? ORDER BY slug")
            .bind(organization_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(project).collect())
    }

    async fn project(&self, organization_id: i64, slug: &str) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT * FROM projects WHERE organization_id = ? AND slug = ?")
            .bind(organization_id)
            .bind(slug)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(project))
    }

    async fn project_by_id(&self, id: i64) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT * FROM projects WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(project))
    }

    async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey> {
        let mut tx = self.writer.begin().await?;
        let created = insert_key(&mut tx, project_id, label).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>> {
        let rows = sqlx::query("SELECT * FROM project_keys WHERE project_id = ? ORDER BY id")
            .bind(project_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(key).collect())
    }

    async fn set_key_active(&self, key_id: i64, active: bool) -> Result<()> {
        let changed = sqlx::query("UPDATE project_keys SET is_active = ? WHERE id = ?")
            .bind(active)
            .bind(key_id)
            .execute(&self.writer)
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
                label = COALESCE(?, label),
                is_active = COALESCE(?, is_active),
                rate_limit_window = CASE WHEN ? THEN ? ELSE rate_limit_window END,
                rate_limit_count = CASE WHEN ? THEN ? ELSE rate_limit_count END
             WHERE id = ? RETURNING *",
        )
        .bind(&update.label)
        .bind(update.is_active)
        .bind(set_limit)
        .bind(window)
        .bind(set_limit)
        .bind(count)
        .bind(key_id)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(key).ok_or_else(|| StoreError::NotFound {
            what: format!("key {key_id}"),
        })
    }

    async fn update_project(&self, project_id: i64, update: &ProjectUpdate) -> Result<Project> {
        let settings = update.settings.as_ref().map(settings_json).transpose()?;
        let row = sqlx::query(
            "UPDATE projects SET
                name = COALESCE(?, name),
                slug = COALESCE(?, slug),
                platform = COALESCE(?, platform),
                settings = COALESCE(?, settings)
             WHERE id = ? RETURNING *",
        )
        .bind(&update.name)
        .bind(&update.slug)
        .bind(&update.platform)
        .bind(settings)
        .bind(project_id)
        .fetch_optional(&self.writer)
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
        if outcomes.is_empty() && read.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for range in read {
            sqlx::query(
                "INSERT INTO stream_offsets (consumer_group, topic, partition_id, next_offset)
                 VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING",
            )
            .bind(&range.group)
            .bind(&range.topic)
            .bind(i64::from(range.partition))
            .execute(&mut *tx)
            .await?;
            let stored: i64 = sqlx::query_scalar(
                "SELECT next_offset FROM stream_offsets
                 WHERE consumer_group = ? AND topic = ? AND partition_id = ?",
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
                "UPDATE stream_offsets SET next_offset = ?
                 WHERE consumer_group = ? AND topic = ? AND partition_id = ?",
            )
            .bind(sql_int(range.next))
            .bind(&range.group)
            .bind(&range.topic)
            .bind(i64::from(range.partition))
            .execute(&mut *tx)
            .await?;
        }
        for outcome in outcomes {
            let minute = outcome.timestamp.timestamp().div_euclid(60) * 60;
            sqlx::query(
                "INSERT INTO outcomes (org_id, project_id, key_id, timestamp, outcome, reason,
                    category, quantity, times_seen)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
                 ON CONFLICT (org_id, timestamp, project_id, key_id, outcome, reason, category)
                 DO UPDATE SET quantity = quantity + excluded.quantity,
                    times_seen = times_seen + 1",
            )
            .bind(sql_int(outcome.org_id))
            .bind(sql_int(outcome.project_id))
            .bind(sql_int(outcome.key_id.unwrap_or(0)))
            .bind(minute)
            .bind(i64::from(outcome.outcome.code()))
            .bind(outcome.reason.as_deref().unwrap_or(""))
            .bind(outcome.category.as_str())
            .bind(sql_int(outcome.quantity))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn stream_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT partition_id, next_offset FROM stream_offsets
             WHERE consumer_group = ? AND topic = ? ORDER BY partition_id",
        )
        .bind(group)
        .bind(topic)
        .fetch_all(&self.reader)
        .await?;
        Ok(stream_offsets(rows))
    }

    async fn outcomes(&self, query: &OutcomeQuery) -> Result<Vec<OutcomeTotal>> {
        let interval = sql_int(query.interval_secs.max(60));
        let projects = query
            .project_ids
            .iter()
            .filter_map(|id| i64::try_from(*id).ok())
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let project_filter = if query.project_ids.is_empty() {
            String::new()
        } else {
            format!("AND project_id IN ({projects})")
        };
        // The project list is made of integers formatted above.
        let sql = format!(
            "SELECT (timestamp / ?1) * ?1 AS bucket, project_id, key_id, outcome, reason,
                category, SUM(quantity) AS quantity, SUM(times_seen) AS times_seen
             FROM outcomes
             WHERE org_id = ?2 AND timestamp >= ?3 AND timestamp < ?4 {project_filter}
             GROUP BY bucket, project_id, key_id, outcome, reason, category
             ORDER BY bucket, project_id, key_id, outcome, reason, category"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(interval)
            .bind(sql_int(query.org_id))
            .bind(query.start.timestamp())
            .bind(query.end.timestamp())
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| outcome_total(DateTime::from_timestamp(row.get("bucket"), 0), row))
            .collect())
    }

    async fn project_for_key(&self, public_key: &str) -> Result<Option<i64>> {
        let id = sqlx::query_scalar("SELECT project_id FROM project_keys WHERE public_key = ?")
            .bind(public_key)
            .fetch_optional(&self.reader)
            .await?;
        Ok(id)
    }

    async fn project_config(&self, project_id: u64) -> Result<Option<ProjectConfig>> {
        let Ok(id) = i64::try_from(project_id) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT * FROM projects WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let keys = self.keys(id).await?;
        crate::sql::project_config(&row, keys).map(Some)
    }

    async fn create_user(&self, username: &str, email: &str, superuser: bool) -> Result<User> {
        let row = sqlx::query(
            "INSERT INTO users (username, email, is_superuser, date_joined) VALUES (?, ?, ?, ?)
             RETURNING *",
        )
        .bind(username)
        .bind(email)
        .bind(superuser)
        .bind(micros(Utc::now()))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict(format!("user {username:?}")))?;
        Ok(user(&row))
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(user))
    }

    async fn create_token(
        &self,
        user_id: i64,
        secret: &str,
        scopes: &[String],
    ) -> Result<ApiToken> {
        let last = last_characters(secret);
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, token_last_characters, scopes, date_created)
             VALUES (?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(user_id)
        .bind(token_hash(secret))
        .bind(last)
        .bind(scopes.join(" "))
        .bind(micros(Utc::now()))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict("token"))?;
        Ok(token(&row))
    }

    async fn token(&self, secret: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = ?")
            .bind(token_hash(secret))
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(token))
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT * FROM users WHERE email = ?1 COLLATE NOCASE OR username = ?1 \
             ORDER BY email = ?1 COLLATE NOCASE DESC LIMIT 1",
        )
        .bind(login.trim())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.as_ref().map(user))
    }

    async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY email")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(user).collect())
    }

    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("user {user_id}"),
            });
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
                .bind(user_id)
                .fetch_optional(&self.reader)
                .await?
                .flatten(),
        )
    }

    async fn set_superuser(&self, user_id: i64, superuser: bool) -> Result<()> {
        sqlx::query("UPDATE users SET is_superuser = ? WHERE id = ?")
            .bind(superuser)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query("SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id DESC")
            .bind(user_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(token).collect())
    }

    async fn delete_token(&self, user_id: i64, token_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = ? AND id = ?")
            .bind(user_id)
            .bind(token_id)
            .execute(&self.writer)
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
             VALUES (?, ?, ?, ?, ?, 'active', ?) RETURNING *",
        )
        .bind(new_key())
        .bind(project_id)
        .bind(url)
        .bind(new_hook_secret())
        .bind(events.join(" "))
        .bind(micros(Utc::now()))
        .fetch_one(&self.writer)
        .await
        .map_err(key_project_missing(project_id))?;
        Ok(service_hook(&row))
    }

    async fn service_hooks(&self, project_id: i64) -> Result<Vec<ServiceHook>> {
        let rows = sqlx::query("SELECT * FROM service_hooks WHERE project_id = ? ORDER BY id")
            .bind(project_id)
            .fetch_all(&self.reader)
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
            "UPDATE service_hooks SET url = ?, events = ?
             WHERE project_id = ? AND guid = ? RETURNING *",
        )
        .bind(url)
        .bind(events.join(" "))
        .bind(project_id)
        .bind(guid)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.as_ref().map(service_hook))
    }

    async fn delete_service_hook(&self, project_id: i64, guid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM service_hooks WHERE project_id = ? AND guid = ?")
            .bind(project_id)
            .bind(guid)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        let rows = sqlx::query("SELECT * FROM organizations ORDER BY slug")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(organization).collect())
    }

    async fn set_member(&self, organization_id: i64, user_id: i64, role: Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id, role, date_added)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(organization_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(micros(Utc::now()))
        .execute(&self.writer)
        .await
        .map_err(conflict("membership"))?;
        Ok(())
    }

    async fn remove_member(&self, organization_id: i64, user_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM organization_members WHERE organization_id = ? AND user_id = ?",
        )
        .bind(organization_id)
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn role(&self, organization_id: i64, user_id: i64) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM organization_members WHERE organization_id = ? AND user_id = ?",
        )
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(&self.reader)
        .await?;
        role.map(|r| parse_role(&r)).transpose()
    }

    async fn members(&self, organization_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.*, m.role, m.date_added FROM organization_members m
             JOIN users u ON u.id = m.user_id
             WHERE m.organization_id = ? ORDER BY u.email",
        )
        .bind(organization_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Member {
                    user: user(row),
                    role: parse_role(row.get("role"))?,
                    date_added: row.time("date_added"),
                })
            })
            .collect()
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<(Organization, Role)>> {
        let rows = sqlx::query(
            "SELECT o.*, m.role FROM organization_members m
             JOIN organizations o ON o.id = m.organization_id
             WHERE m.user_id = ? ORDER BY o.slug",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((organization(row), parse_role(row.get("role"))?)))
            .collect()
    }

    async fn teams(&self, organization_id: i64) -> Result<Vec<Team>> {
        let rows = sqlx::query("SELECT * FROM teams WHERE organization_id = ? ORDER BY slug")
            .bind(organization_id)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(team).collect())
    }

    async fn create_session(&self, key: &str, session: &Session) -> Result<()> {
        let now = micros(Utc::now());
        let mut tx = self.writer.begin().await?;
        // Expired sessions are swept as new ones start.
        sqlx::query("DELETE FROM sessions WHERE expires < ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (key_hash, user_id, csrf_token, expires) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash(key))
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(micros(session.expires))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, key: &str) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT s.user_id, s.csrf_token, s.expires FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.key_hash = ? AND s.expires > ? AND u.is_active",
        )
        .bind(token_hash(key))
        .bind(micros(Utc::now()))
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|row| Session {
            user_id: row.get("user_id"),
            csrf_token: row.get("csrf_token"),
            expires: row.time("expires"),
        }))
    }

    async fn delete_session(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE key_hash = ?")
            .bind(token_hash(key))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn save_events(&self, events: &[NewEvent]) -> Result<Vec<SaveOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Compression is CPU work: off the async threads, and done before
        // the transaction so the writer holds its lock only to write.
        let fresh = compress_missing(events).await?;
        let compressed = payload_views(events, &fresh);
        let mut tx = self.writer.begin().await?;
        let outcomes = save_batch(&mut tx, events, &compressed).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn issues(&self, organization_id: i64, query: &IssueQuery) -> Result<Vec<Issue>> {
        let mut sql = String::from(
            "SELECT g.* FROM groups g JOIN projects p ON p.id = g.project_id
             WHERE p.organization_id = ?",
        );
        if !query.project_ids.is_empty() {
            sql.push_str(" AND g.project_id IN (");
            sql.push_str(&vec!["?"; query.project_ids.len()].join(", "));
            sql.push(')');
        }
        if query.status.is_some() {
            sql.push_str(" AND g.status = ?");
        }
        if let Some(ids) = &query.group_ids {
            // Integers, written inline: the list may be longer than SQLite
            // allows parameters.
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            sql.push_str(&format!(" AND g.id IN ({})", ids.join(", ")));
        }
        if query.last_seen_after.is_some() {
            sql.push_str(" AND g.last_seen >= ?");
        }
        for _ in &query.text {
            sql.push_str(
                " AND (g.title LIKE ? ESCAPE '\\' OR coalesce(g.culprit, '') LIKE ? ESCAPE '\\'
                  OR (upper(p.slug) || '-' || g.short_id) LIKE ? ESCAPE '\\')",
            );
        }
        sql.push_str(match query.sort {
            IssueSort::LastSeen => " ORDER BY g.last_seen DESC, g.id DESC",
            IssueSort::FirstSeen => " ORDER BY g.first_seen DESC, g.id DESC",
            IssueSort::TimesSeen => " ORDER BY g.times_seen DESC, g.id DESC",
            IssueSort::UserCount => " ORDER BY g.user_count DESC, g.id DESC",
        });
        sql.push_str(" LIMIT ? OFFSET ?");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(organization_id);
        for id in &query.project_ids {
            q = q.bind(*id);
        }
        if let Some(status) = query.status {
            q = q.bind(status.as_str());
        }
        if let Some(after) = query.last_seen_after {
            q = q.bind(micros(after));
        }
        for word in &query.text {
            let pattern = contains_pattern(word);
            q = q.bind(pattern.clone()).bind(pattern.clone()).bind(pattern);
        }
        let limit = sql_int(query.limit);
        let offset = sql_int(query.offset);
        let rows = q.bind(limit).bind(offset).fetch_all(&self.reader).await?;
        rows.iter().map(issue).collect()
    }

    async fn issue(&self, organization_id: i64, id: i64) -> Result<Option<Issue>> {
        let row = sqlx::query(
            "SELECT g.* FROM groups g JOIN projects p ON p.id = g.project_id
             WHERE p.organization_id = ? AND g.id = ?",
        )
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(issue).transpose()
    }

    async fn set_issue_status(
        &self,
        organization_id: i64,
        ids: &[i64],
        status: IssueStatus,
    ) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let mut changed = 0;
        let resolved_at = (status == IssueStatus::Resolved).then(|| micros(Utc::now()));
        for id in ids {
            changed += sqlx::query(
                "UPDATE groups SET status = ?, resolved_at = ?
                 WHERE id = ? AND project_id IN (SELECT id FROM projects WHERE organization_id = ?)",
            )
            .bind(status.as_str())
            .bind(resolved_at)
            .bind(id)
            .bind(organization_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn delete_issue(&self, organization_id: i64, id: i64) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "DELETE FROM nodestore WHERE (project_id, event_id) IN
               (SELECT project_id, event_id FROM events WHERE group_id = ?)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(
            "DELETE FROM groups WHERE id = ?
               AND project_id IN (SELECT id FROM projects WHERE organization_id = ?)",
        )
        .bind(id)
        .bind(organization_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            // Not this organization's issue: keep its events.
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn issue_events(
        &self,
        group_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} WHERE e.group_id = ?
             ORDER BY e.timestamp DESC, e.event_id DESC LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(group_id)
            .bind(sql_int(limit))
            .bind(sql_int(offset))
            .fetch_all(&self.reader)
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
            EventSelector::Id(id) => ("AND e.event_id = ?", Some(id.to_string())),
        };
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.group_id = ? {filter} LIMIT 1");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(group_id);
        if let Some(id) = id {
            q = q.bind(id);
        }
        let row = q.fetch_optional(&self.reader).await?;
        row.as_ref().map(stored_event).transpose()
    }

    async fn event(&self, project_id: i64, event_id: EventId) -> Result<Option<StoredEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.project_id = ? AND e.event_id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(project_id)
            .bind(event_id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(stored_event).transpose()
    }

    async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<EventId>, Option<EventId>)> {
        let ts = micros(event.timestamp);
        let id = event.event_id.to_string();
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM events WHERE group_id = ?1
               AND (timestamp < ?2 OR (timestamp = ?2 AND event_id < ?3))
             ORDER BY timestamp DESC, event_id DESC LIMIT 1",
        )
        .bind(event.group_id)
        .bind(ts)
        .bind(&id)
        .fetch_optional(&self.reader)
        .await?;
        let next: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM events WHERE group_id = ?1
               AND (timestamp > ?2 OR (timestamp = ?2 AND event_id > ?3))
             ORDER BY timestamp ASC, event_id ASC LIMIT 1",
        )
        .bind(event.group_id)
        .bind(ts)
        .bind(&id)
        .fetch_optional(&self.reader)
        .await?;
        Ok((
            previous.and_then(|s| s.parse().ok()),
            next.and_then(|s| s.parse().ok()),
        ))
    }
}

async fn insert_key(
    tx: &mut Transaction<'_, Sqlite>,
    project_id: i64,
    label: &str,
) -> Result<ProjectKey> {
    let row = sqlx::query(
        "INSERT INTO project_keys (project_id, label, public_key, secret_key, is_active, date_created)
         VALUES (?, ?, ?, ?, 1, ?) RETURNING *",
    )
    .bind(project_id)
    .bind(label)
    .bind(new_key())
    .bind(new_key())
    .bind(micros(Utc::now()))
    .fetch_one(&mut **tx)
    .await
    .map_err(key_project_missing(project_id))?;
    Ok(key(&row))
}
