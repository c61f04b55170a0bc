//! The replacer: changes to rows already stored.
//!
//! Deleting an issue, merging issues and removing single events reach the
//! event store as messages of the `events` stream. The Snuba consumer
//! passes them on, in order, to the `event-replacements` stream, and
//! [`run_replacer`] applies them:
//!
//! - `end_delete_groups`: the issues' rows are marked deleted (queries skip
//!   them);
//! - `end_merge`: the rows of the merged issues move to the issue that stays;
//! - `tombstone_events`: single rows are marked deleted.
//!
//! In ClickHouse a change is an `ALTER TABLE ... UPDATE` mutation, which the
//! server applies in the background; in SQLite it is an `UPDATE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sentry_stream::{Broker, CommitOffset};
use tokio::sync::watch;

use crate::consumer::ConsumerError;
use crate::entity::EVENTS;
use crate::eventstream::{Message, normalize_event_id};
use crate::render::{Dialect, quote_string};
use crate::store::EventStore;

/// The stream the replacer reads.
pub const EVENT_REPLACEMENTS: &str = "event-replacements";

/// The replacer's consumer group.
pub const REPLACER_GROUP: &str = "snuba-replacers";

/// A change to stored rows of the `events` entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// Hide every row of these issues.
    DeleteGroups {
        /// The project.
        project_id: u64,
        /// The issues.
        group_ids: Vec<u64>,
    },
    /// Move the rows of `from` to `to`.
    MergeGroups {
        /// The project.
        project_id: u64,
        /// The issues that go away.
        from: Vec<u64>,
        /// The issue that stays.
        to: u64,
    },
    /// Hide single events.
    TombstoneEvents {
        /// The project.
        project_id: u64,
        /// The events, 32 hex digits.
        event_ids: Vec<String>,
    },
}

impl Replacement {
    /// The change a stream message asks for, if it asks for one
    /// (`start_delete_groups` only announces a deletion).
    pub fn from_message(message: &Message) -> Option<Replacement> {
        match message {
            Message::EndDeleteGroups(m) => Some(Replacement::DeleteGroups {
                project_id: m.project_id,
                group_ids: m.group_ids.clone(),
            }),
            Message::EndMerge(m) => Some(Replacement::MergeGroups {
                project_id: m.project_id,
                from: m.previous_group_ids.clone(),
                to: m.new_group_id,
            }),
            Message::TombstoneEvents(m) => Some(Replacement::TombstoneEvents {
                project_id: m.project_id,
                event_ids: m
                    .event_ids
                    .iter()
                    .map(|id| normalize_event_id(id))
                    .collect(),
            }),
            _ => None,
        }
    }

    /// Whether it changes nothing (no issues or events named).
    pub fn is_empty(&self) -> bool {
        match self {
            Replacement::DeleteGroups { group_ids, .. } => group_ids.is_empty(),
            Replacement::MergeGroups { from, .. } => from.is_empty(),
            Replacement::TombstoneEvents { event_ids, .. } => event_ids.is_empty(),
        }
    }

    /// The statement that applies it in `dialect`.
    pub fn sql(&self, dialect: Dialect) -> String {
        let (assignment, project_id, filter) = match self {
            Replacement::DeleteGroups {
                project_id,
                group_ids,
            } => (
                "deleted = 1".to_owned(),
                project_id,
                in_list("group_id", group_ids),
            ),
            Replacement::MergeGroups {
                project_id,
                from,
                to,
            } => (
                format!("group_id = {to}"),
                project_id,
                in_list("group_id", from),
            ),
            Replacement::TombstoneEvents {
                project_id,
                event_ids,
            } => {
                let ids: Vec<String> = event_ids
                    .iter()
                    .map(|id| quote_string(dialect, id))
                    .collect();
                (
                    "deleted = 1".to_owned(),
                    project_id,
                    format!("event_id IN ({})", ids.join(", ")),
                )
            }
        };
        let table = EVENTS.table;
        match dialect {
            Dialect::ClickHouse => format!(
                "ALTER TABLE `{table}` UPDATE {assignment} WHERE project_id = {project_id} AND {filter}"
            ),
            Dialect::Sqlite => format!(
                "UPDATE \"{table}\" SET {assignment} WHERE project_id = {project_id} AND {filter}"
            ),
        }
    }
}

fn in_list(column: &str, ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("{column} IN ({})", ids.join(", "))
}

/// Counters of the replacer.
#[derive(Debug, Default)]
pub struct ReplacerStats {
    /// Replacements applied.
    pub applied: AtomicU64,
    /// Messages that were not replacements, or unreadable (logged).
    pub skipped: AtomicU64,
}

/// Applies the messages of `event-replacements` in order until `shutdown`
/// turns true. A failing change is retried with backoff, never skipped;
/// offsets are committed after each applied batch.
pub async fn run_replacer(
    broker: Arc<dyn Broker>,
    store: Arc<dyn EventStore>,
    stats: Arc<ReplacerStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    let mut consumer = broker
        .consumer(REPLACER_GROUP, &[EVENT_REPLACEMENTS])
        .await?;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let records = tokio::select! {
            r = consumer.poll(100, Duration::from_millis(500)) => r?,
            _ = shutdown.changed() => continue,
        };
        if records.is_empty() {
            continue;
        }
        for record in &records {
            let replacement = match Message::decode(&record.payload) {
                Ok(message) => Replacement::from_message(&message),
                Err(e) => {
                    tracing::warn!(offset = record.offset, error = %e, "unreadable replacement skipped");
                    None
                }
            };
            let Some(replacement) = replacement.filter(|r| !r.is_empty()) else {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let mut delay = Duration::from_millis(100);
            while let Err(e) = store.replace(&replacement).await {
                tracing::error!(error = %e, "applying a replacement failed; retrying");
                if *shutdown.borrow() {
                    return Ok(());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            stats.applied.fetch_add(1, Ordering::Relaxed);
        }
        let offsets = CommitOffset::after_all(&records);
        consumer.commit(&offsets).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_in_both_dialects() {
        let merge = Replacement::MergeGroups {
            project_id: 3,
            from: vec![5, 6],
            to: 4,
        };
        assert_eq!(
            merge.sql(Dialect::ClickHouse),
            "ALTER TABLE `errors_local` UPDATE group_id = 4 WHERE project_id = 3 AND group_id IN (5, 6)"
        );
        assert_eq!(
            merge.sql(Dialect::Sqlite),
            "UPDATE \"errors_local\" SET group_id = 4 WHERE project_id = 3 AND group_id IN (5, 6)"
        );
        let tomb = Replacement::TombstoneEvents {
            project_id: 3,
            event_ids: vec!["ab'c".into()],
        };
        assert_eq!(
            tomb.sql(Dialect::Sqlite),
            "UPDATE \"errors_local\" SET deleted = 1 WHERE project_id = 3 AND event_id IN ('ab''c')"
        );
        assert!(
            tomb.sql(Dialect::ClickHouse)
                .ends_with("event_id IN ('ab\\'c')")
        );
    }
}
