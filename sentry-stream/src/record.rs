//! The values that travel through a stream: records, positions, commits.

use bytes::Bytes;

/// Sentry's topic names, as the services of self-hosted Sentry use them.
pub mod topics {
    /// Error events from the ingest edge (relay) to the ingest consumer.
    pub const INGEST_EVENTS: &str = "ingest-events";
    /// Events with attachments, and the attachment chunks, from relay.
    pub const INGEST_ATTACHMENTS: &str = "ingest-attachments";
    /// Transaction events from relay to the ingest consumer.
    pub const INGEST_TRANSACTIONS: &str = "ingest-transactions";
    /// Processed error events, from the ingest consumer to the snuba consumer.
    pub const EVENTS: &str = "events";
    /// Processed transactions, from the ingest consumer to the snuba consumer.
    pub const TRANSACTIONS: &str = "transactions";
    /// Notices that rows were written to the event store; post-processing
    /// (alerts, webhooks) waits on these.
    pub const SNUBA_COMMIT_LOG: &str = "snuba-commit-log";
    /// Outcomes: what happened to every item (accepted, filtered, rate limited...).
    pub const OUTCOMES: &str = "outcomes";
    /// Release-health session updates from relay.
    pub const INGEST_SESSIONS: &str = "ingest-sessions";
    /// Cron monitor check-ins from relay.
    pub const INGEST_MONITORS: &str = "ingest-monitors";
}

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic it was produced to.
    pub topic: String,
    /// The partition of the topic that holds it.
    pub partition: u32,
    /// Its offset in the partition: larger than those of the records
    /// before it, never reused. The embedded backends number records 0, 1,
    /// 2, ...; a Kafka broker may leave gaps (the test broker did, after
    /// refusing a write that raced another).
    pub offset: u64,
    /// When the broker accepted it, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The partitioning key given to the producer, if any.
    pub key: Option<Bytes>,
    /// The bytes given to the producer.
    pub payload: Bytes,
}

/// Where a produced record was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The partition that holds the record.
    pub partition: u32,
    /// The record's offset in that partition.
    pub offset: u64,
}

/// A consumer group's progress on one partition.
///
/// Kafka semantics: `next_offset` is the offset of the next record to read,
/// i.e. the offset of the last processed record plus one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    /// The topic.
    pub topic: String,
    /// The partition of the topic.
    pub partition: u32,
    /// The offset of the next record the group wants to read.
    pub next_offset: u64,
}

impl CommitOffset {
    /// The commit that marks `record` as processed (its offset plus one).
    pub fn after(record: &Record) -> Self {
        CommitOffset {
            topic: record.topic.clone(),
            partition: record.partition,
            next_offset: record.offset + 1,
        }
    }

    /// The commits that mark every one of `records` as processed: for each
    /// topic and partition, the highest offset plus one, in (topic,
    /// partition) order.
    pub fn after_all(records: &[Record]) -> Vec<Self> {
        let mut next: std::collections::BTreeMap<(&str, u32), u64> = Default::default();
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
}
