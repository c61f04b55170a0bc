//! The event stream between the services (layer 2, transport).
//!
//! Services of self-hosted Sentry hand data to each other through topics
//! (`ingest-events`, `events`, `snuba-commit-log`, ...; see [`topics`]). This
//! crate is that stream:
//!
//! - [`Producer`] appends a record to a topic and returns its [`Position`]
//!   once the record is durable.
//! - [`Consumer`] reads the records of some topics for a consumer group and
//!   [commits](Consumer::commit) the group's progress as [`CommitOffset`]s.
//! - [`Broker`] hands out producers and consumers and reports a group's
//!   [lag](Broker::lag) for backpressure.
//! - [`open`] picks a backend from a URL: [`MemoryBroker`] (`memory://`, for
//!   tests), [`FileLog`] (`file:///abs/dir`, the embedded durable log of
//!   the one-process deployment) or, with the cargo feature `kafka`,
//!   `KafkaBroker` (`kafka://host:port`, the scaled deployment).
//!
//! Semantics follow Kafka's: a topic has partitions, a record's offset grows
//! with each record of its partition (the embedded backends number them 0,
//! 1, 2, ...; a Kafka broker may skip offsets), a keyed record goes to the partition chosen by a
//! stable hash of its key ([`partition_for_key`]) and unkeyed records are
//! spread round-robin. Order is kept within a partition. Delivery is
//! at-least-once: a consumer that restarts resumes after the last commit, so
//! records read but not committed are read again.
//!
//! With the memory and file backends, one consumer per group reads every
//! partition of its topics (there is no rebalancing between several
//! consumers of one group). With Kafka, the consumers of a group split the
//! partitions between them: that is how the scaled deployment adds consumer
//! processes.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use sentry_stream::{topics, Broker, CommitOffset, MemoryBroker};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sentry_stream::StreamError> {
//! let broker = MemoryBroker::new();
//! let producer = broker.producer();
//! let position = producer
//!     .produce(topics::INGEST_EVENTS, None, Bytes::from_static(b"{\"event_id\":\"...\"}"))
//!     .await?;
//! assert_eq!(position.offset, 0);
//!
//! let mut consumer = broker.consumer("ingest-consumer", &[topics::INGEST_EVENTS]).await?;
//! let records = consumer.poll(100, Duration::from_secs(1)).await?;
//! assert_eq!(records.len(), 1);
//! assert_eq!(broker.lag("ingest-consumer", topics::INGEST_EVENTS).await?, 1);
//!
//! consumer.commit(&[CommitOffset::after(&records[0])]).await?;
//! assert_eq!(broker.lag("ingest-consumer", topics::INGEST_EVENTS).await?, 0);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod error;
mod file;
mod histogram;
#[cfg(feature = "kafka")]
mod kafka;
mod memory;
mod partition;
mod record;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use error::StreamError;
pub use file::{FileLog, LogConfig};
pub use histogram::{Histogram, HistogramSnapshot, SECONDS_BUCKETS, SIZE_BUCKETS};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaBroker, KafkaConfig};
pub use memory::MemoryBroker;
pub use partition::partition_for_key;
pub use record::{CommitOffset, Position, Record, topics};

/// Appends records to topics.
#[async_trait]
pub trait Producer: Send + Sync {
    /// Appends `payload` to `topic` and returns where it was stored.
    ///
    /// With a `key`, the partition is [`partition_for_key`] of it; without,
    /// partitions are used round-robin. Returns only once the record is
    /// durable (written and fsync'd, for the file log). The topic is created
    /// on first use.
    async fn produce(
        &self,
        topic: &str,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<Position, StreamError>;

    /// Appends `(key, payload)` records to `topic` in order and returns
    /// their positions once all are durable. A backend may write them
    /// together (the file log makes them durable with one fsync), which is
    /// much faster than one [`Producer::produce`] after another. On an error
    /// some of the records may have been stored.
    async fn produce_many(
        &self,
        topic: &str,
        records: Vec<(Option<Bytes>, Bytes)>,
    ) -> Result<Vec<Position>, StreamError> {
        let mut positions = Vec::with_capacity(records.len());
        for (key, payload) in records {
            positions.push(self.produce(topic, key, payload).await?);
        }
        Ok(positions)
    }
}

/// Reads the records of some topics on behalf of a consumer group.
#[async_trait]
pub trait Consumer: Send {
    /// Waits up to `timeout` for at least one record, returns at most
    /// `max_records` (empty Vec on timeout).
    ///
    /// Records of one partition come in offset order. Consecutive polls
    /// continue where the previous one stopped, whether or not anything was
    /// committed. A poll that is cancelled (dropped before it returns) does
    /// not move the position.
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<Record>, StreamError>;

    /// Stores the group's offsets durably. Does not move this consumer's
    /// read position. With Kafka, offsets of partitions this consumer does
    /// not hold (any more, after a rebalance) are skipped.
    async fn commit(&mut self, offsets: &[CommitOffset]) -> Result<(), StreamError>;
}

/// A stream backend.
#[async_trait]
pub trait Broker: Send + Sync {
    /// A producer; it may be cloned and shared by any number of tasks.
    fn producer(&self) -> Arc<dyn Producer>;

    /// A consumer in `group` over `topics`, starting at the group's
    /// committed offsets, or the earliest retained record.
    ///
    /// Topics that do not exist yet are read from as soon as they are
    /// created. Several live consumers of one group: with the memory and
    /// file backends each reads every record; with Kafka they split the
    /// partitions.
    async fn consumer(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Consumer>, StreamError>;

    /// Records of `topic` (all partitions) produced but not yet committed by
    /// `group`: the sum over partitions of the end offset minus the group's
    /// committed offset (or the earliest retained offset, if later or if the
    /// group never committed). Answered from memory, for backpressure.
    async fn lag(&self, group: &str, topic: &str) -> Result<u64, StreamError>;
}

/// Picks the backend from a URL: `memory://` (in-memory, tests),
/// `file:///abs/dir` (the embedded durable log, with [`LogConfig::new`]'s
/// defaults) or `kafka://host:port[,host:port][?settings]` (see
/// `KafkaConfig::from_url`; [`StreamError::NotBuilt`] without the `kafka`
/// feature). Any other scheme is [`StreamError::UnknownScheme`].
pub async fn open(url: &str) -> Result<Arc<dyn Broker>, StreamError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(StreamError::UnknownScheme {
            scheme: String::new(),
        });
    };
    let invalid = |reason: &str| StreamError::InvalidUrl {
        url: sentry_envelope::redact_url(url),
        reason: reason.to_owned(),
    };
    match scheme {
        "memory" => Ok(Arc::new(MemoryBroker::new())),
        "file" => {
            if rest.contains(['?', '#']) {
                return Err(invalid("query strings and fragments are not supported"));
            }
            // `file:///abs/dir` has an empty host; `file://localhost/abs/dir` is allowed too.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(invalid(
                    "expected an absolute path, as in file:///var/lib/sentry/stream",
                ));
            }
            let config = LogConfig::new(PathBuf::from(path));
            let log = tokio::task::spawn_blocking(move || FileLog::open(config))
                .await
                .map_err(|e| {
                    StreamError::Closed(format!("opening the file log panicked: {e}"))
                })??;
            Ok(Arc::new(log))
        }
        #[cfg(feature = "kafka")]
        "kafka" => Ok(Arc::new(KafkaBroker::new(KafkaConfig::from_url(url)?)?)),
        #[cfg(not(feature = "kafka"))]
        "kafka" => Err(StreamError::NotBuilt {
            backend: "kafka",
            feature: "kafka",
        }),
        other => Err(StreamError::UnknownScheme {
            scheme: other.to_owned(),
        }),
    }
}
