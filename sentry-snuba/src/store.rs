//! The event store behind one trait, chosen by URL.
//!
//! - `sqlite:///path/to/events.sqlite` (or `sqlite://relative/path`): the
//!   embedded default, [`SqliteEventStore`];
//! - `clickhouse://host:8123/database`: the scaled deployment,
//!   [`ClickHouseEventStore`] over ClickHouse's HTTP interface.
//!
//! [`run_snql`] is what `snuba-api` does with a query: parse, validate,
//! run, and say how long each step took.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::clickhouse::ClickHouseEventStore;
use crate::entity::Entity;
use crate::plan::Plan;
use crate::replacer::Replacement;
use crate::snql::{self, ParseError, Query};
use crate::sqlite::SqliteEventStore;
use crate::storage::{QueryResult, Row, StorageError};
use crate::validate::{ValidationError, validate};

/// Where rows are written and queries run.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Creates what is missing (database, tables, indexes).
    async fn migrate(&self) -> Result<(), StorageError>;
    /// Stores rows of `entity` in one write. A row of an event that is
    /// already stored replaces it (at once in SQLite; at the next merge in
    /// ClickHouse, whose queries of the same event give the newest row).
    async fn insert(
        &self,
        entity: &'static Entity,
        rows: Arc<[Row]>,
    ) -> Result<usize, StorageError>;
    /// Runs a validated query.
    async fn query(&self, plan: &Plan) -> Result<QueryResult, StorageError>;
    /// Applies a change to stored rows (deletion, merge, tombstones).
    async fn replace(&self, replacement: &Replacement) -> Result<(), StorageError>;
    /// Removes what is older than the retention ([`crate::row::DEFAULT_RETENTION_DAYS`]
    /// before `now`, in seconds since the epoch): whole weekly partitions in
    /// ClickHouse, rows in SQLite. Returns how many partitions (ClickHouse)
    /// or rows (SQLite) went.
    async fn expire(&self, now: i64) -> Result<u64, StorageError>;
    /// A short name of the backend for logs and metrics (`sqlite`,
    /// `clickhouse`).
    fn backend(&self) -> &'static str;
    /// Checks that the store answers (a readiness check): the default
    /// assumes a local store is always there.
    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// The first second that is still kept at `now`.
pub fn retention_cutoff(now: i64) -> i64 {
    now - i64::from(crate::row::DEFAULT_RETENTION_DAYS) * 86_400
}

/// Removes what is past the retention from `events` now and then every
/// `every`, until `shutdown` turns true. Failures are logged and tried again
/// at the next round.
pub async fn run_expiry(
    events: Arc<dyn EventStore>,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        match events.expire(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired event-store data"),
            Err(e) => tracing::error!(error = %e, "expiring event-store data failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Opens the store named by `url` and creates its tables.
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StorageError> {
    let store: Arc<dyn EventStore> = if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default().to_owned();
        if path.is_empty() {
            return Err(StorageError::Invalid(format!(
                "no path in {}",
                sentry_envelope::redact_url(url)
            )));
        }
        Arc::new(
            tokio::task::spawn_blocking(move || SqliteEventStore::open(path))
                .await
                .map_err(|e| StorageError::Invalid(e.to_string()))??,
        )
    } else if let Some(rest) = url.strip_prefix("clickhouse://") {
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let database = database.split('?').next().unwrap_or_default();
        let database = if database.is_empty() {
            "default"
        } else {
            database
        };
        Arc::new(ClickHouseEventStore::new(
            &format!("http://{authority}/"),
            database,
        )?)
    } else {
        return Err(StorageError::Invalid(format!(
            "unknown event store {:?}: use sqlite://PATH or clickhouse://HOST:PORT/DATABASE",
            sentry_envelope::redact_url(url)
        )));
    };
    store.migrate().await?;
    Ok(store)
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn migrate(&self) -> Result<(), StorageError> {
        // Tables are created when the file is opened.
        Ok(())
    }

    async fn insert(
        &self,
        entity: &'static Entity,
        rows: Arc<[Row]>,
    ) -> Result<usize, StorageError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || SqliteEventStore::insert(&store, entity, &rows))
            .await
            .map_err(|e| StorageError::Invalid(e.to_string()))?
    }

    async fn query(&self, plan: &Plan) -> Result<QueryResult, StorageError> {
        let store = self.clone();
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || SqliteEventStore::query(&store, &plan))
            .await
            .map_err(|e| StorageError::Invalid(e.to_string()))?
    }

    async fn replace(&self, replacement: &Replacement) -> Result<(), StorageError> {
        let store = self.clone();
        let replacement = replacement.clone();
        tokio::task::spawn_blocking(move || SqliteEventStore::replace(&store, &replacement))
            .await
            .map_err(|e| StorageError::Invalid(e.to_string()))?
    }

    async fn expire(&self, now: i64) -> Result<u64, StorageError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || SqliteEventStore::expire(&store, retention_cutoff(now)))
            .await
            .map_err(|e| StorageError::Invalid(e.to_string()))?
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

#[async_trait]
impl EventStore for ClickHouseEventStore {
    async fn migrate(&self) -> Result<(), StorageError> {
        ClickHouseEventStore::migrate(self).await
    }

    async fn insert(
        &self,
        entity: &'static Entity,
        rows: Arc<[Row]>,
    ) -> Result<usize, StorageError> {
        ClickHouseEventStore::insert(self, entity, &rows).await
    }

    async fn query(&self, plan: &Plan) -> Result<QueryResult, StorageError> {
        ClickHouseEventStore::query(self, plan).await
    }

    async fn replace(&self, replacement: &Replacement) -> Result<(), StorageError> {
        ClickHouseEventStore::replace(self, replacement).await
    }

    async fn expire(&self, now: i64) -> Result<u64, StorageError> {
        ClickHouseEventStore::expire(self, retention_cutoff(now)).await
    }

    fn backend(&self) -> &'static str {
        "clickhouse"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.execute("SELECT 1", None).await.map(|_| ())
    }
}

/// Why a SnQL query gave no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The text is not SnQL.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The query does not fit its entity.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The store failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl QueryError {
    /// Whether the query itself is at fault (a 400, not a 500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, QueryError::Storage(_))
    }
}

/// How long the steps of a query took, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timing {
    /// Parsing and validation.
    pub parse_ms: f64,
    /// Running the query in the store.
    pub query_ms: f64,
    /// The whole.
    pub duration_ms: f64,
}

/// Parses, validates and runs one SnQL query.
pub async fn run_snql(
    store: &dyn EventStore,
    text: &str,
) -> Result<(QueryResult, Timing), QueryError> {
    run_parsed(store, &snql::parse(text)?, Instant::now()).await
}

/// Validates and runs a parsed query; `started` is when its parsing began,
/// for the timing.
pub async fn run_parsed(
    store: &dyn EventStore,
    query: &Query,
    started: Instant,
) -> Result<(QueryResult, Timing), QueryError> {
    let plan = validate(query)?;
    let parsed = started.elapsed();
    let result = store.query(&plan).await?;
    let total = started.elapsed();
    Ok((
        result,
        Timing {
            parse_ms: parsed.as_secs_f64() * 1e3,
            query_ms: (total - parsed).as_secs_f64() * 1e3,
            duration_ms: total.as_secs_f64() * 1e3,
        },
    ))
}
