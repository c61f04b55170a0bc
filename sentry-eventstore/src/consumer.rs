//! The ingest consumer: reads accepted envelopes from `ingest-events`,
//! processes them and saves the events, then commits its offsets.
//!
//! Offsets are committed only after the batch's transaction is committed,
//! so a crash at any point redelivers the batch; saving is idempotent on
//! (project, event id), so redelivery stores nothing twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sentry_stream::{Broker, CommitOffset, Record, StreamError, topics};
use tokio::sync::watch;

use crate::error::StoreError;
use crate::message::IngestMessage;
use crate::models::NewEvent;
use crate::process::process_message;
use crate::store::Store;

/// Where records go whose processing panicked (a bug): kept, not lost.
pub const INGEST_EVENTS_DLQ: &str = "ingest-events-dlq";

/// The consumer group of the ingest consumer.
pub const INGEST_CONSUMER_GROUP: &str = "ingest-consumer";

/// Settings of the ingest consumer.
#[derive(Clone, Debug)]
pub struct IngestConsumerConfig {
    /// The consumer group.
    pub group: String,
    /// Records per batch (one database transaction).
    pub batch_size: usize,
    /// How long a poll waits for the first record.
    pub poll_timeout: Duration,
    /// Threads that process one batch together.
    pub processing_threads: usize,
}

impl Default for IngestConsumerConfig {
    fn default() -> Self {
        IngestConsumerConfig {
            group: INGEST_CONSUMER_GROUP.into(),
            batch_size: 1000,
            poll_timeout: Duration::from_millis(200),
            processing_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Counters of the consumer, readable while it runs.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Records read.
    pub records: AtomicU64,
    /// Events saved for the first time.
    pub saved: AtomicU64,
    /// Events that were already stored (redeliveries).
    pub duplicates: AtomicU64,
    /// Items dropped, with an outcome logged.
    pub dropped: AtomicU64,
}

/// Why the consumer stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The stream failed.
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Runs the ingest consumer until `shutdown` turns true.
///
/// A failing save is retried with backoff, never skipped: the batch's
/// offsets stay uncommitted until it is stored.
pub async fn run_ingest_consumer(
    broker: Arc<dyn Broker>,
    store: Arc<dyn Store>,
    config: IngestConsumerConfig,
    stats: Arc<ConsumerStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    let mut consumer = broker
        .consumer(&config.group, &[topics::INGEST_EVENTS])
        .await?;
    // Saving batch n overlaps with reading and processing batch n + 1;
    // offsets are still committed in order, each after its batch is saved.
    let mut pending: Option<(SaveTask, Vec<CommitOffset>)> = None;
    loop {
        let records = if *shutdown.borrow() {
            Vec::new()
        } else {
            let timeout = if pending.is_some() {
                Duration::from_millis(5)
            } else {
                config.poll_timeout
            };
            tokio::select! {
                r = consumer.poll(config.batch_size, timeout) => r?,
                _ = shutdown.changed() => Vec::new(),
            }
        };
        if records.is_empty() {
            if let Some((save, offsets)) = pending.take() {
                finish(save, &offsets, consumer.as_mut()).await?;
            }
            if *shutdown.borrow() {
                return Ok(());
            }
            continue;
        }
        stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let offsets = next_offsets(&records);
        let count = records.len();
        let started = std::time::Instant::now();
        let Some(Batch {
            events,
            dropped,
            dead,
        }) = process_parallel(records, config.processing_threads).await
        else {
            // Unreachable: panics are caught per record. Without a commit the
            // batch is read again.
            return Err(StreamError::Closed("processing task failed".into()).into());
        };
        stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        let processed = started.elapsed();
        if let Some((save, offsets)) = pending.take() {
            finish(save, &offsets, consumer.as_mut()).await?;
        }
        tracing::debug!(
            records = count,
            process_ms = processed.as_millis() as u64,
            wait_ms = (started.elapsed() - processed).as_millis() as u64,
            "batch processed"
        );
        let producer = broker.producer();
        for record in dead {
            tracing::error!(
                offset = record.offset,
                "processing panicked; record moved to {INGEST_EVENTS_DLQ}"
            );
            producer
                .produce(INGEST_EVENTS_DLQ, record.key, record.payload)
                .await?;
        }
        let save = tokio::spawn(save_with_retry(
            store.clone(),
            events,
            stats.clone(),
            shutdown.clone(),
        ));
        pending = Some((save, offsets));
    }
}

/// A batch being saved in the background.
type SaveTask = tokio::task::JoinHandle<Result<(), StoreError>>;

/// Waits for a batch's save, then commits its offsets.
async fn finish(
    save: SaveTask,
    offsets: &[CommitOffset],
    consumer: &mut dyn sentry_stream::Consumer,
) -> Result<(), ConsumerError> {
    match save.await {
        Ok(result) => result?,
        Err(e) => {
            return Err(StreamError::Closed(format!("save task failed: {e}")).into());
        }
    }
    consumer.commit(offsets).await?;
    Ok(())
}

/// Saves a batch, retrying with backoff until it is stored or the consumer
/// shuts down (then the batch stays uncommitted and is read again).
async fn save_with_retry(
    store: Arc<dyn Store>,
    events: Vec<NewEvent>,
    stats: Arc<ConsumerStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut delay = Duration::from_millis(100);
    let outcomes = loop {
        match store.save_events(&events).await {
            Ok(outcomes) => break outcomes,
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), "saving a batch failed; retrying");
                if *shutdown.borrow() {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let created = outcomes.iter().filter(|o| o.created).count() as u64;
    stats.saved.fetch_add(created, Ordering::Relaxed);
    stats
        .duplicates
        .fetch_add(outcomes.len() as u64 - created, Ordering::Relaxed);
    Ok(())
}

fn next_offsets(records: &[Record]) -> Vec<CommitOffset> {
    let mut next: BTreeMap<(&str, u32), u64> = BTreeMap::new();
    for r in records {
        let slot = next.entry((r.topic.as_str(), r.partition)).or_default();
        *slot = (*slot).max(r.offset + 1);
    }
    next.into_iter()
        .map(|((topic, partition), next_offset)| CommitOffset {
            topic: topic.to_owned(),
            partition,
            next_offset,
        })
        .collect()
}

/// What processing a batch gave.
struct Batch {
    /// Events to save.
    events: Vec<NewEvent>,
    /// Items dropped with a logged outcome.
    dropped: u64,
    /// Records whose processing panicked, for the dead-letter topic.
    dead: Vec<Record>,
}

/// Processes a batch in `threads` parts on blocking threads, keeping the
/// records' order in the result.
async fn process_parallel(mut records: Vec<Record>, threads: usize) -> Option<Batch> {
    let part = records.len().div_ceil(threads.max(1)).max(1);
    let mut parts = Vec::new();
    while records.len() > part {
        let rest = records.split_off(part);
        parts.push(records);
        records = rest;
    }
    parts.push(records);
    let tasks: Vec<_> = parts
        .into_iter()
        .map(|p| tokio::task::spawn_blocking(move || process_records(p)))
        .collect();
    let mut out = Batch {
        events: Vec::new(),
        dropped: 0,
        dead: Vec::new(),
    };
    for task in tasks {
        let batch = task.await.ok()?;
        out.events.extend(batch.events);
        out.dropped += batch.dropped;
        out.dead.extend(batch.dead);
    }
    Some(out)
}

/// Processes a batch. A record that makes processing panic is set aside
/// whole, so one bad record neither stops the consumer nor gets lost.
fn process_records(records: Vec<Record>) -> Batch {
    let mut batch = Batch {
        events: Vec::with_capacity(records.len()),
        dropped: 0,
        dead: Vec::new(),
    };
    for record in records {
        let outcome = std::panic::catch_unwind(|| process_record(&record));
        match outcome {
            Ok((events, dropped)) => {
                batch.events.extend(events);
                batch.dropped += dropped;
            }
            Err(_) => batch.dead.push(record),
        }
    }
    batch
}

fn process_record(record: &Record) -> (Vec<NewEvent>, u64) {
    let mut events = Vec::new();
    let mut dropped = 0;
    {
        let message = match IngestMessage::decode(record.payload.clone()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(offset = record.offset, error = %e, outcome = "invalid", "dropped record");
                return (events, 1);
            }
        };
        match process_message(&message) {
            Ok(processed) => {
                events.extend(processed.events);
                for (item_type, reason) in processed.skipped {
                    dropped += 1;
                    tracing::debug!(project_id = message.project_id, %item_type, reason, "item not stored");
                }
                for error in processed.failed {
                    dropped += 1;
                    tracing::warn!(project_id = message.project_id, %error, outcome = "invalid", "dropped event");
                }
            }
            Err(e) => {
                dropped += 1;
                tracing::warn!(project_id = message.project_id, error = %e, outcome = "invalid", "dropped envelope");
            }
        }
    }
    (events, dropped)
}
