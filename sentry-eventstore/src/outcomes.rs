//! The outcomes consumer: reads the `outcomes` stream and adds it up in the
//! store, where the stats API reads it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sentry_relay_core::outcome::{Outcome, OutcomeAggregator};
use sentry_stream::{Broker, Producer, StreamError, topics};
use tokio::sync::watch;

use crate::consumer::ConsumerError;
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
/// Each poll's outcomes are summed, written in one transaction and then
/// committed; a failing write is retried. A record that is not an outcome
/// is logged and skipped.
pub async fn run_outcomes_consumer(
    broker: Arc<dyn Broker>,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    let mut consumer = broker
        .consumer(OUTCOMES_CONSUMER_GROUP, &[topics::OUTCOMES])
        .await?;
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
        let mut sums = OutcomeAggregator::default();
        for record in &records {
            match Outcome::from_json(&record.payload) {
                Ok(outcome) => sums.add_outcome(&outcome),
                Err(e) => {
                    tracing::warn!(offset = record.offset, error = %e, "skipped a record that is not an outcome");
                }
            }
        }
        let outcomes = sums.drain();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = store.record_outcomes(&outcomes).await {
            tracing::error!(error = %e, "storing outcomes failed; retrying");
            if *shutdown.borrow() {
                return Err(e.into());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        consumer
            .commit(&sentry_stream::CommitOffset::after_all(&records))
            .await?;
    }
}
