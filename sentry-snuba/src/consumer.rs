//! The Snuba consumer: the `events` stream into the event store.
//!
//! It reads `insert` messages, turns each into a row ([`crate::row`]) and
//! writes the rows in batches: a batch is written when it holds
//! [`SnubaConsumerConfig::batch_rows`] rows or when its first row has waited
//! [`SnubaConsumerConfig::batch_time`]. After a batch is written the
//! consumer publishes one record per partition to `snuba-commit-log` (what
//! post-processing waits for) and then commits its offsets. A write that
//! fails is retried with backoff and never skipped, so a crash or an
//! unreachable store at any point leads to the batch being read again, and
//! rows of the same event replace each other: nothing is lost, nothing is
//! counted twice.
//!
//! Replacement messages (issue deletion, merge, tombstones) are passed on in
//! order to `event-replacements` (see [`crate::replacer`]) after the rows
//! before them are written. Messages that cannot be read go to
//! [`DEAD_LETTER_TOPIC`], with the reason logged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_stream::{Broker, CommitOffset, Histogram, Producer, Record, StreamError, topics};
use tokio::sync::watch;

use crate::entity::EVENTS;
use crate::eventstream::Message;
use crate::replacer::EVENT_REPLACEMENTS;
use crate::row::error_row;
use crate::storage::{Row, StorageError};
use crate::store::EventStore;

/// The consumer group of the Snuba consumer, as in Snuba.
pub const SNUBA_CONSUMER_GROUP: &str = "snuba-consumers";

/// Where messages go that cannot be turned into rows.
pub const DEAD_LETTER_TOPIC: &str = "snuba-dead-letter-events";

/// Settings of the Snuba consumer.
#[derive(Debug, Clone)]
pub struct SnubaConsumerConfig {
    /// The consumer group.
    pub group: String,
    /// Rows that make a batch full.
    pub batch_rows: usize,
    /// The longest a row waits in a batch before the batch is written.
    pub batch_time: Duration,
}

impl Default for SnubaConsumerConfig {
    fn default() -> Self {
        SnubaConsumerConfig {
            group: SNUBA_CONSUMER_GROUP.to_owned(),
            batch_rows: 1000,
            batch_time: Duration::from_secs(1),
        }
    }
}

/// Counters of the consumer, readable while it runs.
#[derive(Debug)]
pub struct SnubaConsumerStats {
    /// Records read.
    pub records: AtomicU64,
    /// Rows written (a row written again after a redelivery counts again).
    pub rows: AtomicU64,
    /// Batches written.
    pub batches: AtomicU64,
    /// Writes that failed and were retried.
    pub write_retries: AtomicU64,
    /// Messages sent to the dead-letter topic.
    pub dead_letters: AtomicU64,
    /// Replacement messages passed on.
    pub replacements: AtomicU64,
    /// Rows per batch written.
    pub batch_rows: Histogram,
    /// Seconds to write a batch, retries included.
    pub write_seconds: Histogram,
}

impl Default for SnubaConsumerStats {
    fn default() -> Self {
        SnubaConsumerStats {
            records: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            write_retries: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            replacements: AtomicU64::new(0),
            batch_rows: Histogram::sizes(),
            write_seconds: Histogram::seconds(),
        }
    }
}

/// Why a consumer stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The stream failed.
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    /// The store failed and the consumer was asked to stop.
    #[error("store: {0}")]
    Storage(#[from] StorageError),
}

/// A batch being filled.
struct Batch {
    rows: Vec<Row>,
    records: Vec<Record>,
    started: Option<Instant>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            rows: Vec::new(),
            records: Vec::new(),
            started: None,
        }
    }
}

/// Runs the consumer until `shutdown` turns true; the batch in hand is
/// written and committed before it returns.
pub async fn run_snuba_consumer(
    broker: Arc<dyn Broker>,
    store: Arc<dyn EventStore>,
    config: SnubaConsumerConfig,
    stats: Arc<SnubaConsumerStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    let mut consumer = broker.consumer(&config.group, &[topics::EVENTS]).await?;
    let producer = broker.producer();
    let mut batch = Batch::new();
    let writer = Writer {
        config: &config,
        store: store.as_ref(),
        producer: producer.as_ref(),
        stats: &stats,
        shutdown: shutdown.clone(),
    };
    loop {
        let stopping = *shutdown.borrow();
        let due = batch
            .started
            .is_some_and(|t| t.elapsed() >= config.batch_time);
        if stopping || due || batch.rows.len() >= config.batch_rows {
            if !batch.records.is_empty() {
                writer.flush(&mut batch, consumer.as_mut()).await?;
            }
            if stopping {
                return Ok(());
            }
        }
        let wait = match batch.started {
            Some(t) => config.batch_time.saturating_sub(t.elapsed()),
            None => Duration::from_millis(500),
        };
        let want = config.batch_rows.saturating_sub(batch.rows.len()).max(1);
        let records = tokio::select! {
            r = consumer.poll(want, wait.max(Duration::from_millis(1))) => r?,
            _ = shutdown.changed() => Vec::new(),
        };
        stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        for record in records {
            match Message::decode(&record.payload) {
                Ok(Message::Insert(insert, _)) => match error_row(&insert) {
                    Ok(row) => {
                        batch.started.get_or_insert_with(Instant::now);
                        batch.rows.push(row);
                    }
                    Err(e) => {
                        dead_letter(producer.as_ref(), &record, &e.to_string(), &stats).await?
                    }
                },
                Ok(message) => {
                    // Rows before a replacement are written before it is
                    // passed on, so it applies to them too.
                    if !batch.records.is_empty() {
                        writer.flush(&mut batch, consumer.as_mut()).await?;
                    }
                    tracing::info!(kind = message.kind(), "replacement passed on");
                    producer
                        .produce(
                            EVENT_REPLACEMENTS,
                            record.key.clone(),
                            record.payload.clone(),
                        )
                        .await?;
                    stats.replacements.fetch_add(1, Ordering::Relaxed);
                    consumer.commit(&[CommitOffset::after(&record)]).await?;
                    continue;
                }
                Err(e) => dead_letter(producer.as_ref(), &record, &e.to_string(), &stats).await?,
            }
            // A batch of dead letters only is committed (and announced on
            // the commit log) after `batch_time` too.
            batch.started.get_or_insert_with(Instant::now);
            batch.records.push(record);
        }
    }
}

async fn dead_letter(
    producer: &dyn Producer,
    record: &Record,
    reason: &str,
    stats: &SnubaConsumerStats,
) -> Result<(), StreamError> {
    tracing::warn!(
        partition = record.partition,
        offset = record.offset,
        reason,
        "message moved to {DEAD_LETTER_TOPIC}"
    );
    producer
        .produce(
            DEAD_LETTER_TOPIC,
            record.key.clone(),
            record.payload.clone(),
        )
        .await?;
    stats.dead_letters.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// What writing a batch needs.
struct Writer<'a> {
    config: &'a SnubaConsumerConfig,
    store: &'a dyn EventStore,
    producer: &'a dyn Producer,
    stats: &'a SnubaConsumerStats,
    shutdown: watch::Receiver<bool>,
}

impl Writer<'_> {
    /// Writes the batch (retrying until it is stored), publishes the commit
    /// log and commits the offsets.
    async fn flush(
        &self,
        batch: &mut Batch,
        consumer: &mut dyn sentry_stream::Consumer,
    ) -> Result<(), ConsumerError> {
        let Writer {
            config,
            store,
            producer,
            stats,
            shutdown,
        } = self;
        if !batch.rows.is_empty() {
            // Shared by every attempt: a retry does not copy the rows.
            let rows: Arc<[Row]> = std::mem::take(&mut batch.rows).into();
            let count = rows.len();
            let started = Instant::now();
            let mut delay = Duration::from_millis(100);
            let mut retried_since_stop = false;
            loop {
                match store.insert(&EVENTS, Arc::clone(&rows)).await {
                    Ok(_) => break,
                    Err(e) => {
                        stats.write_retries.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, rows = count, "writing a batch failed; retrying");
                        if *shutdown.borrow() {
                            // One more try after the stop was asked for, then
                            // leave the batch uncommitted: it is read again.
                            if retried_since_stop {
                                return Err(e.into());
                            }
                            retried_since_stop = true;
                        }
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            tracing::debug!(
                rows = count,
                write_ms = started.elapsed().as_millis() as u64,
                backend = store.backend(),
                "batch written"
            );
            stats.rows.fetch_add(count as u64, Ordering::Relaxed);
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.batch_rows.observe(count as f64);
            stats.write_seconds.observe(started.elapsed().as_secs_f64());
        }
        let offsets = CommitOffset::after_all(&batch.records);
        for (offset, newest_ms) in offsets.iter().zip(newest_times(&batch.records)) {
            let key = format!("{}:{}:{}", offset.topic, offset.partition, config.group);
            let value = serde_json::json!({
                "offset": offset.next_offset,
                "orig_message_ts": newest_ms as f64 / 1000.0,
            });
            producer
                .produce(
                    topics::SNUBA_COMMIT_LOG,
                    Some(Bytes::from(key)),
                    Bytes::from(value.to_string()),
                )
                .await?;
        }
        consumer.commit(&offsets).await?;
        batch.records.clear();
        batch.started = None;
        Ok(())
    }
}

/// The newest broker time of each (topic, partition), in the order of
/// [`CommitOffset::after_all`].
fn newest_times(records: &[Record]) -> Vec<i64> {
    let mut newest: BTreeMap<(&str, u32), i64> = BTreeMap::new();
    for r in records {
        let slot = newest
            .entry((r.topic.as_str(), r.partition))
            .or_insert(i64::MIN);
        *slot = (*slot).max(r.timestamp_ms);
    }
    newest.into_values().collect()
}
