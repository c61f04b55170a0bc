//! The ingest consumer: reads accepted envelopes from `ingest-events`,
//! processes them and saves the events, then commits its offsets.
//!
//! Offsets are committed only after the batch's transaction is committed,
//! so a crash at any point redelivers the batch; saving is idempotent on
//! (project, event id), so redelivery stores nothing twice.
//!
//! With [`IngestConsumerConfig::event_locks`] (Redis in the scaled
//! deployment), a consumer also holds a lock on each event of a batch while
//! it saves it: when partitions move between consumers of a group, the one
//! that reads a batch again waits for the one still saving it, instead of
//! saving the same events at the same time.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_relay_core::outcome::{Outcome, OutcomeAggregator};
use sentry_snuba::eventstream::{InsertEvent, InsertState, Message};
use sentry_stream::{Broker, CommitOffset, Histogram, Producer, Record, StreamError, topics};
use tokio::sync::watch;

use crate::cache::Cache;
use crate::configs::{ConfigCache, ProjectState};
use crate::error::StoreError;
use crate::message::IngestMessage;
use crate::models::{NewEvent, SaveOutcome};
use crate::outcomes::produce_outcome;
use crate::process::{ProcessError, process_message};
use crate::store::Store;
use sentry_relay_core::pipeline::EventDrop;

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
    /// Where the per-event processing locks are taken; `None`: no locks
    /// (one consumer, the all-in-one server).
    pub event_locks: Option<Arc<dyn Cache>>,
    /// How long a lock lives if its holder dies without releasing it.
    pub lock_ttl: Duration,
}

impl Default for IngestConsumerConfig {
    fn default() -> Self {
        IngestConsumerConfig {
            group: INGEST_CONSUMER_GROUP.into(),
            batch_size: 1000,
            poll_timeout: Duration::from_millis(200),
            processing_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            event_locks: None,
            lock_ttl: Duration::from_secs(60),
        }
    }
}

/// Counters of the consumer, readable while it runs.
#[derive(Debug)]
pub struct ConsumerStats {
    /// Records read.
    pub records: AtomicU64,
    /// Events saved for the first time.
    pub saved: AtomicU64,
    /// Events that were already stored (redeliveries).
    pub duplicates: AtomicU64,
    /// Items dropped, with an outcome logged.
    pub dropped: AtomicU64,
    /// Events whose lock another consumer held, so this one waited.
    pub lock_waits: AtomicU64,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Seconds from a batch's poll to its commit (processing, saving,
    /// announcing).
    pub batch_seconds: Histogram,
}

impl Default for ConsumerStats {
    fn default() -> Self {
        ConsumerStats {
            records: AtomicU64::new(0),
            saved: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            lock_waits: AtomicU64::new(0),
            batch_records: Histogram::sizes(),
            batch_seconds: Histogram::seconds(),
        }
    }
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
/// Each event is processed with its project's settings from `configs`
/// (filters, scrubbing). A failing save is retried with backoff, never
/// skipped: the batch's offsets stay uncommitted until it is stored. The
/// batch's outcomes (accepted, filtered, invalid) go to the `outcomes`
/// stream after the save and before the commit.
pub async fn run_ingest_consumer(
    broker: Arc<dyn Broker>,
    store: Arc<dyn Store>,
    configs: Arc<ConfigCache>,
    config: IngestConsumerConfig,
    stats: Arc<ConsumerStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConsumerError> {
    let mut consumer = broker
        .consumer(&config.group, &[topics::INGEST_EVENTS])
        .await?;
    // Saving batch n overlaps with reading and processing batch n + 1;
    // offsets are still committed in order, each after its batch is saved.
    let mut pending: Option<(SaveTask, Vec<CommitOffset>, Vec<Outcome>, Instant)> = None;
    let producer = broker.producer();
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
            if let Some((save, offsets, outcomes, polled)) = pending.take() {
                finish(
                    save,
                    &offsets,
                    outcomes,
                    producer.as_ref(),
                    consumer.as_mut(),
                )
                .await?;
                stats.batch_seconds.observe(polled.elapsed().as_secs_f64());
            }
            if *shutdown.borrow() {
                return Ok(());
            }
            continue;
        }
        stats
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let offsets = CommitOffset::after_all(&records);
        let count = records.len();
        stats.batch_records.observe(count as f64);
        let started = Instant::now();
        let projects = Arc::new(load_projects(&records, &configs).await?);
        let Some(Batch {
            events,
            dropped,
            dead,
            mut outcomes,
        }) = process_parallel(records, projects, config.processing_threads).await
        else {
            // Unreachable: panics are caught per record. Without a commit the
            // batch is read again.
            return Err(StreamError::Closed("processing task failed".into()).into());
        };
        stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        let processed = started.elapsed();
        if let Some((save, offsets, outcomes, polled)) = pending.take() {
            finish(
                save,
                &offsets,
                outcomes,
                producer.as_ref(),
                consumer.as_mut(),
            )
            .await?;
            stats.batch_seconds.observe(polled.elapsed().as_secs_f64());
        }
        tracing::debug!(
            records = count,
            process_ms = processed.as_millis() as u64,
            wait_ms = (started.elapsed() - processed).as_millis() as u64,
            "batch processed"
        );
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
            config.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
        pending = Some((save, offsets, outcomes.drain(), started));
    }
}

/// The states of the projects a batch's records were sent to. A project
/// that no longer exists is left out: its records are dropped.
async fn load_projects(
    records: &[Record],
    configs: &ConfigCache,
) -> Result<HashMap<u64, Arc<ProjectState>>, StoreError> {
    let mut projects = HashMap::new();
    for record in records {
        // The edge keys records by project id; decode the header otherwise.
        let id = record
            .key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.parse::<u64>().ok())
            .or_else(|| {
                IngestMessage::decode(record.payload.clone())
                    .ok()
                    .map(|m| m.project_id)
            });
        if let Some(id) = id {
            if let std::collections::hash_map::Entry::Vacant(slot) = projects.entry(id) {
                if let Some(state) = configs.get(id).await? {
                    slot.insert(state);
                }
            }
        }
    }
    Ok(projects)
}

/// Writes a batch's outcomes to the `outcomes` stream.
async fn produce_outcomes(
    producer: &dyn Producer,
    outcomes: Vec<Outcome>,
) -> Result<(), StreamError> {
    for outcome in &outcomes {
        produce_outcome(producer, outcome).await?;
    }
    Ok(())
}

/// A batch being saved in the background; it gives the batch's messages
/// for the `events` stream.
type SaveTask = tokio::task::JoinHandle<Result<Vec<(Option<Bytes>, Bytes)>, StoreError>>;

/// Waits for a batch's save, then announces its events on the `events`
/// stream, writes its outcomes and commits its offsets.
async fn finish(
    save: SaveTask,
    offsets: &[CommitOffset],
    outcomes: Vec<Outcome>,
    producer: &dyn Producer,
    consumer: &mut dyn sentry_stream::Consumer,
) -> Result<(), ConsumerError> {
    let saved = match save.await {
        Ok(result) => result?,
        Err(e) => {
            return Err(StreamError::Closed(format!("save task failed: {e}")).into());
        }
    };
    producer.produce_many(topics::EVENTS, saved).await?;
    produce_outcomes(producer, outcomes).await?;
    consumer.commit(offsets).await?;
    Ok(())
}

/// Saves a batch, retrying with backoff until it is stored or the consumer
/// shuts down (then the batch stays uncommitted and is read again), and
/// gives the `events` stream message of every event. Events that were
/// already stored are announced again: the message may not have gone out
/// before a crash, and the Snuba consumer's rows replace each other.
async fn save_with_retry(
    store: Arc<dyn Store>,
    events: Vec<NewEvent>,
    config: IngestConsumerConfig,
    stats: Arc<ConsumerStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<(Option<Bytes>, Bytes)>, StoreError> {
    let locks = match &config.event_locks {
        Some(cache) => Some(EventLocks::take(cache.clone(), &events, &config, &stats).await),
        None => None,
    };
    let mut delay = Duration::from_millis(100);
    let saved = loop {
        match store.save_events(&events).await {
            Ok(outcomes) => break Ok(outcomes),
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), "saving a batch failed; retrying");
                if *shutdown.borrow() {
                    break Err(e);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    if let Some(locks) = locks {
        locks.release().await;
    }
    let outcomes = saved?;
    let created = outcomes.iter().filter(|o| o.created).count() as u64;
    stats.saved.fetch_add(created, Ordering::Relaxed);
    stats
        .duplicates
        .fetch_add(outcomes.len() as u64 - created, Ordering::Relaxed);
    Ok(events
        .iter()
        .zip(&outcomes)
        .map(|(event, outcome)| event_message(event, outcome))
        .collect())
}

/// The processing locks a consumer holds on a batch's events.
struct EventLocks {
    cache: Arc<dyn Cache>,
    keys: Vec<String>,
    token: Vec<u8>,
}

impl EventLocks {
    /// Takes the locks of all the batch's events, or none: if another
    /// consumer holds some, the ones this call got are let go again and the
    /// whole set is tried once more after a pause, so two consumers that
    /// each got part of one batch cannot wait for each other. After
    /// `lock_ttl` of trying, or if the cache fails, the batch goes on
    /// without locks: saving is idempotent, the locks only keep two
    /// consumers from saving the same events at the same time.
    async fn take(
        cache: Arc<dyn Cache>,
        events: &[NewEvent],
        config: &IngestConsumerConfig,
        stats: &ConsumerStats,
    ) -> EventLocks {
        let token = uuid::Uuid::new_v4().simple().to_string().into_bytes();
        let mut keys: Vec<String> = events
            .iter()
            .map(|e| format!("eventlock:{}:{}", e.project_id, e.event_id))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let give_up = tokio::time::Instant::now() + config.lock_ttl;
        let mut waited = false;
        let mut attempt: u64 = 0;
        loop {
            let won = match cache.add(&keys, &token, config.lock_ttl).await {
                Ok(won) => won,
                Err(error) => {
                    tracing::warn!(%error, events = keys.len(), "event locks unavailable; saving without them");
                    return EventLocks::none(cache, token);
                }
            };
            let busy = won.iter().filter(|w| !**w).count();
            if busy == 0 {
                return EventLocks { cache, keys, token };
            }
            let partial: Vec<String> = keys
                .iter()
                .zip(&won)
                .filter(|(_, w)| **w)
                .map(|(k, _)| k.clone())
                .collect();
            if let Err(error) = cache.release(&partial, &token).await {
                tracing::warn!(%error, "event locks not released; they expire by themselves");
            }
            if !waited {
                waited = true;
                stats.lock_waits.fetch_add(busy as u64, Ordering::Relaxed);
                tracing::info!(events = busy, "events locked by another consumer; waiting");
            }
            if tokio::time::Instant::now() >= give_up {
                tracing::warn!(
                    events = busy,
                    "event locks still held elsewhere; saving without them"
                );
                return EventLocks::none(cache, token);
            }
            // 100 to 199 ms, different for each batch and attempt, so that
            // two waiting consumers do not keep colliding.
            attempt += 1;
            let jitter = (u64::from(token[0]) * 31 + attempt * 17) % 100;
            tokio::time::sleep(Duration::from_millis(100 + jitter)).await;
        }
    }

    /// No locks held.
    fn none(cache: Arc<dyn Cache>, token: Vec<u8>) -> EventLocks {
        EventLocks {
            cache,
            keys: Vec::new(),
            token,
        }
    }

    /// Releases the locks this consumer still holds.
    async fn release(self) {
        if let Err(error) = self.cache.release(&self.keys, &self.token).await {
            tracing::warn!(%error, "event locks not released; they expire by themselves");
        }
    }
}

/// The `events` stream record of a saved event, keyed by its project.
fn event_message(event: &NewEvent, outcome: &SaveOutcome) -> (Option<Bytes>, Bytes) {
    let insert = InsertEvent {
        group_id: outcome.group_id as u64,
        event_id: event.event_id.to_string(),
        organization_id: None,
        project_id: event.project_id as u64,
        primary_hash: event.hashes.first().cloned().unwrap_or_default(),
        message: event.title.clone(),
        platform: event.platform.clone(),
        datetime: event
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        data: serde_json::Value::Null,
    };
    let state = InsertState {
        is_new: outcome.new_group,
        is_regression: outcome.regressed,
        is_new_group_environment: false,
    };
    (
        Some(Bytes::from(event.project_id.to_string())),
        Bytes::from(Message::encode_insert(&insert, &event.payload, &state)),
    )
}

/// What processing a batch gave.
struct Batch {
    /// Events to save.
    events: Vec<NewEvent>,
    /// Items dropped with a logged outcome.
    dropped: u64,
    /// Records whose processing panicked, for the dead-letter topic.
    dead: Vec<Record>,
    /// What became of the items.
    outcomes: OutcomeAggregator,
}

/// The projects of a batch, by id.
type Projects = Arc<HashMap<u64, Arc<ProjectState>>>;

/// Processes a batch in `threads` parts on blocking threads, keeping the
/// records' order in the result.
async fn process_parallel(
    mut records: Vec<Record>,
    projects: Projects,
    threads: usize,
) -> Option<Batch> {
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
        .map(|p| {
            let projects = projects.clone();
            tokio::task::spawn_blocking(move || process_records(p, &projects))
        })
        .collect();
    let mut out = Batch {
        events: Vec::new(),
        dropped: 0,
        dead: Vec::new(),
        outcomes: OutcomeAggregator::default(),
    };
    for task in tasks {
        let mut batch = task.await.ok()?;
        out.events.extend(batch.events);
        out.dropped += batch.dropped;
        out.dead.extend(batch.dead);
        for outcome in batch.outcomes.drain() {
            out.outcomes.add_outcome(&outcome);
        }
    }
    Some(out)
}

/// Processes a batch. A record that makes processing panic is set aside
/// whole, so one bad record neither stops the consumer nor gets lost.
fn process_records(records: Vec<Record>, projects: &HashMap<u64, Arc<ProjectState>>) -> Batch {
    let mut batch = Batch {
        events: Vec::with_capacity(records.len()),
        dropped: 0,
        dead: Vec::new(),
        outcomes: OutcomeAggregator::default(),
    };
    for record in records {
        let outcome = std::panic::catch_unwind(|| process_record(&record, projects));
        match outcome {
            Ok((events, dropped, outcomes)) => {
                batch.events.extend(events);
                batch.dropped += dropped;
                for outcome in outcomes {
                    batch.outcomes.add_outcome(&outcome);
                }
            }
            Err(_) => batch.dead.push(record),
        }
    }
    batch
}

fn process_record(
    record: &Record,
    projects: &HashMap<u64, Arc<ProjectState>>,
) -> (Vec<NewEvent>, u64, Vec<Outcome>) {
    let mut events = Vec::new();
    let mut dropped = 0;
    let mut outcomes = Vec::new();
    {
        let message = match IngestMessage::decode(record.payload.clone()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(offset = record.offset, error = %e, outcome = "invalid", "dropped record");
                return (events, 1, outcomes);
            }
        };
        let Some(project) = projects.get(&message.project_id) else {
            tracing::warn!(
                project_id = message.project_id,
                outcome = "invalid",
                "dropped envelope of a deleted project"
            );
            return (events, 1, outcomes);
        };
        match process_message(&message, project) {
            Ok(mut processed) => {
                outcomes = processed.outcomes.drain();
                events.extend(processed.events);
                for (item_type, reason) in processed.skipped {
                    dropped += 1;
                    tracing::debug!(project_id = message.project_id, %item_type, reason, "item not stored");
                }
                for error in processed.failed {
                    dropped += 1;
                    match error {
                        ProcessError::Dropped(EventDrop::Filtered(reason)) => {
                            tracing::debug!(project_id = message.project_id, %reason, "filtered event");
                        }
                        error => {
                            tracing::warn!(project_id = message.project_id, %error, outcome = "invalid", "dropped event");
                        }
                    }
                }
            }
            Err(e) => {
                dropped += 1;
                tracing::warn!(project_id = message.project_id, error = %e, outcome = "invalid", "dropped envelope");
            }
        }
    }
    (events, dropped, outcomes)
}
