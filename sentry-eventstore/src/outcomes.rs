//! The outcomes consumer: reads the `outcomes` stream and adds it up in the
//! store, where the stats API reads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sentry_relay_core::outcome::{Outcome, OutcomeAggregator};
use sentry_stream::{Broker, Producer, Record, StreamError, topics};
use tokio::sync::watch;

use crate::consumer::ConsumerError;
use crate::error::StoreError;
use crate::models::ReadRange;
use crate::store::Store;

/// The consumer group of the outcomes consumer.
pub const OUTCOMES_CONSUMER_GROUP: &str = "outcomes-consumer";

/// Writes one outcome to the `outcomes` stream, keyed by its project.
pub async fn produce_outcome(
    producer: &dyn Producer,
    outcome: &Outcome,
) -> Result<(), StreamError> {
    let key = Bytes::from(outcome.project_id.to_string());
    producer
        .produce(topics::OUTCOMES, Some(key), Bytes::from(outcome.to_json()))
        .await
        .map(|_| ())
}

/// Runs the outcomes consumer until `shutdown` turns true.
///
/// Each poll's outcomes are summed and written in one transaction, together
/// with how far each partition has been added (see
/// [`Store::record_outcomes`]); then the offsets are committed to the
/// stream. Records read again after a crash between the two are
/// recognized and not added twice. A failing write is retried. A record
/// that is not an outcome is logged and skipped.
pub async fn run_outcomes_consumer(
    broker: Arc<dyn Broker>,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    let mut consumer = broker
        .consumer(OUTCOMES_CONSUMER_GROUP, &[topics::OUTCOMES])
        .await?;
    let mut added = added_offsets(store.as_ref()).await?;
    loop {
        let records = if *shutdown.borrow() {
            Vec::new()
        } else {
            tokio::select! {
                r = consumer.poll(5000, Duration::from_millis(500)) => r?,
                _ = shutdown.changed() => Vec::new(),
            }
        };
        if records.is_empty() {
            if *shutdown.borrow() {
                return Ok(());
            }
            continue;
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let (outcomes, ranges) = fresh_outcomes(&records, &added);
            match store.record_outcomes(&outcomes, &ranges).await {
                Ok(()) => {
                    for range in ranges {
                        added.insert(range.partition, range.next);
                    }
                    break;
                }
                Err(StoreError::AlreadyAdded(detail)) => {
                    tracing::info!(%detail, "outcomes added before (a redelivery); skipping them");
                    added = added_offsets(store.as_ref()).await?;
                }
                Err(e) => {
                    tracing::error!(error = %e, "storing outcomes failed; retrying");
                    if *shutdown.borrow() {
                        return Err(e.into());
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        consumer
            .commit(&sentry_stream::CommitOffset::after_all(&records))
            .await?;
    }
}

/// Per partition of `outcomes`, the offset after the last record added.
async fn added_offsets(store: &dyn Store) -> Result<HashMap<u32, u64>, StoreError> {
    Ok(store
        .stream_offsets(OUTCOMES_CONSUMER_GROUP, topics::OUTCOMES)
        .await?
        .into_iter()
        .collect())
}

/// The summed outcomes of the records not added yet, and the ranges of
/// those records per partition.
fn fresh_outcomes(records: &[Record], added: &HashMap<u32, u64>) -> (Vec<Outcome>, Vec<ReadRange>) {
    let mut sums = OutcomeAggregator::default();
    let mut ranges: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for record in records {
        if record.offset < added.get(&record.partition).copied().unwrap_or(0) {
            continue;
        }
        let range = ranges
            .entry(record.partition)
            .or_insert((record.offset, record.offset + 1));
        range.0 = range.0.min(record.offset);
        range.1 = range.1.max(record.offset + 1);
        match Outcome::from_json(&record.payload) {
            Ok(outcome) => sums.add_outcome(&outcome),
            Err(e) => {
                tracing::warn!(offset = record.offset, error = %e, "skipped a record that is not an outcome");
            }
        }
    }
    let ranges = ranges
        .into_iter()
        .map(|(partition, (first, next))| ReadRange {
            group: OUTCOMES_CONSUMER_GROUP.into(),
            topic: topics::OUTCOMES.into(),
            partition,
            first,
            next,
        })
        .collect();
    (sums.drain(), ranges)
}
