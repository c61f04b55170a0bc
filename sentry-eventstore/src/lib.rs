//! Storage of the processed data (layer 2): metadata, grouping, the event
//! index and the nodestore.
//!
//! - [`Store`] is the trait the ingest consumer and the web API use:
//!   organizations, teams, projects and their keys, users and API tokens,
//!   issues (groups) and their hashes, the events index, releases and
//!   environments, and the nodestore holding each event's full payload.
//! - [`SqliteStore`] implements it on SQLite through sqlx, with migrations;
//!   [`open`] picks the backend from a URL.
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
mod configs;
mod consumer;
mod error;
pub mod grouping;
mod message;
mod models;
mod outcomes;
mod process;
mod sqlite;
mod store;

use std::sync::Arc;

pub use bootstrap::{ADMIN_SCOPES, Bootstrap, bootstrap, new_token};
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
    ProjectUpdate, Role, SaveOutcome, Session, StoredEvent, Team, User,
};
pub use outcomes::{OUTCOMES_CONSUMER_GROUP, produce_outcome, run_outcomes_consumer};
pub use process::{ProcessError, Processed, process_message};
pub use sqlite::{SqliteStore, slugify};
pub use store::Store;

/// Opens the store a URL names: `sqlite://PATH` (created if missing) or
/// `sqlite::memory:`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl { url: url.into() })
    }
}
