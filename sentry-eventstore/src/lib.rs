//! Storage of the processed data (layer 2): metadata, grouping, the event
//! index and the nodestore.
//!
//! - [`Store`] is the trait the ingest consumer and the web API use:
//!   organizations, teams, projects and their keys, users and API tokens,
//!   issues (groups) and their hashes, the events index, releases and
//!   environments, and the nodestore holding each event's full payload.
//! - [`SqliteStore`] implements it on SQLite through sqlx, with migrations:
//!   the embedded default (`sqlite://PATH`, `sqlite::memory:`).
//!   `PostgresStore`, with the `postgres` feature, implements it on
//!   PostgreSQL (`postgres://USER@HOST:PORT/DATABASE`), for the scaled
//!   deployment where several processes share the metadata. [`open`] picks
//!   the backend from a URL.
//! - [`grouping`] computes the grouping hash: custom fingerprint, else
//!   exception types and in-app frames, else the parameterized message, else
//!   the logger.
//! - [`process_message`] turns an accepted envelope from the stream into
//!   [`NewEvent`]s; [`run_ingest_consumer`] is the consumer loop around it.
//!
//! ```
//! use sentry_eventstore::{open, bootstrap, Store};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = open("sqlite::memory:").await?;
//! let boot = bootstrap(store.as_ref(), None).await?;
//! assert_eq!(boot.project.slug, "internal");
//! let config = store.project_config(boot.project.id as u64).await?.unwrap();
//! assert_eq!(config.public_keys[0].public_key, boot.key.public_key);
//! # Ok::<_, sentry_eventstore::StoreError>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod accounts;
mod bootstrap;
pub mod cache;
mod configs;
mod consumer;
mod error;
pub mod grouping;
mod message;
mod models;
mod outcomes;
#[cfg(feature = "postgres")]
mod postgres;
pub mod postprocess;
mod process;
mod sql;
mod sqlite;
mod store;

use std::sync::Arc;

pub use bootstrap::{ADMIN_SCOPES, Bootstrap, bootstrap, new_token};
pub use cache::{Cache, CacheError, MemoryCache, open_cache};
pub use configs::{ConfigCache, ProjectState};
pub use consumer::{
    ConsumerError, ConsumerStats, INGEST_CONSUMER_GROUP, INGEST_EVENTS_DLQ, IngestConsumerConfig,
    run_ingest_consumer,
};
pub use error::{Result, StoreError};
pub use message::{IngestMessage, MessageError};
pub use models::{
    ApiToken, EventSelector, Issue, IssueQuery, IssueSort, IssueStatus, KeyUpdate, Member,
    NewEvent, NewProject, Organization, OutcomeQuery, OutcomeTotal, Project, ProjectKey,
    ProjectUpdate, ReadRange, Role, SaveOutcome, ServiceHook, Session, StoredEvent, Team, User,
};
pub use outcomes::{OUTCOMES_CONSUMER_GROUP, produce_outcome, run_outcomes_consumer};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use postprocess::{
    POST_PROCESS_GROUP, PostProcessConfig, PostProcessStats, run_post_process_forwarder,
};
pub use process::{ProcessError, Processed, process_message};
pub use sentry_envelope::redact_url;
pub use sql::slugify;
pub use sqlite::SqliteStore;
pub use store::Store;

/// Opens the store a URL names and brings its schema up to date:
///
/// - `sqlite://PATH` (created if missing) or `sqlite::memory:`: SQLite;
/// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (or `postgresql://`):
///   PostgreSQL 14 or later, with the `postgres` feature; libpq's URL
///   parameters apply, e.g. `?options=-csearch_path%3Dsentry` for a schema
///   other than `public`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        open_postgres(url).await
    } else {
        Err(StoreError::UnsupportedUrl {
            url: redact_url(url),
        })
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(PostgresStore::open(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str) -> Result<Arc<dyn Store>> {
    Err(StoreError::FeatureDisabled {
        url: redact_url(url),
        feature: "postgres",
    })
}

#[cfg(all(test, not(feature = "postgres")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn postgres_needs_its_feature() {
        let err = open("postgres://u:pw@localhost/sentry")
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                StoreError::FeatureDisabled {
                    feature: "postgres",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}
