//! The in-memory broker, for tests and for trying things out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::partition::{Partitioner, validate_consumer, validate_name};
use crate::{Broker, CommitOffset, Consumer, Position, Producer, Record, StreamError};

/// A broker that keeps every record in memory, forever.
///
/// Same semantics as the file log (partitioning, offsets, commits, lag), no
/// durability. Clones share the same topics.
#[derive(Clone, Debug)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    partitions: u32,
    state: Mutex<State>,
    /// Bumped on every produce; consumers wait on it.
    produced: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    topics: HashMap<String, Topic>,
    /// group -> (topic, partition) -> next offset.
    committed: HashMap<String, BTreeMap<(String, u32), u64>>,
}

#[derive(Debug, Default)]
struct Topic {
    partitions: Vec<Vec<Record>>,
    partitioner: Partitioner,
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBroker {
    /// A broker whose topics have one partition.
    pub fn new() -> Self {
        Self::with_partitions(1)
    }

    /// A broker whose topics have `partitions` partitions (at least 1).
    pub fn with_partitions(partitions: u32) -> Self {
        MemoryBroker {
            inner: Arc::new(Inner {
                partitions: partitions.max(1),
                state: Mutex::new(State::default()),
                produced: watch::Sender::new(0),
            }),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update
        // is a single push or insert), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Producer for MemoryBroker {
    async fn produce(
        &self,
        topic: &str,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<Position, StreamError> {
        validate_name("topic", topic)?;
        let position = {
            let mut state = self.inner.lock();
            let partitions = self.inner.partitions;
            let t = state
                .topics
                .entry(topic.to_owned())
                .or_insert_with(|| Topic {
                    partitions: vec![Vec::new(); partitions as usize],
                    partitioner: Partitioner::default(),
                });
            let partition = t.partitioner.pick(key.as_deref(), partitions);
            let records = &mut t.partitions[partition as usize];
            let offset = records.len() as u64;
            records.push(Record {
                topic: topic.to_owned(),
                partition,
                offset,
                timestamp_ms: now_ms(),
                key,
                payload,
            });
            Position { partition, offset }
        };
        self.inner.produced.send_modify(|n| *n += 1);
        Ok(position)
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn producer(&self) -> Arc<dyn Producer> {
        Arc::new(self.clone())
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Consumer>, StreamError> {
        validate_consumer(group, topics)?;
        Ok(Box::new(MemoryConsumer {
            inner: Arc::clone(&self.inner),
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            positions: HashMap::new(),
            produced: self.inner.produced.subscribe(),
            start: 0,
        }))
    }

    async fn lag(&self, group: &str, topic: &str) -> Result<u64, StreamError> {
        let state = self.inner.lock();
        let Some(t) = state.topics.get(topic) else {
            return Ok(0);
        };
        let committed = state.committed.get(group);
        let lag = t
            .partitions
            .iter()
            .enumerate()
            .map(|(partition, records)| {
                let done = committed
                    .and_then(|c| c.get(&(topic.to_owned(), partition as u32)))
                    .copied()
                    .unwrap_or(0);
                (records.len() as u64).saturating_sub(done)
            })
            .sum();
        Ok(lag)
    }
}

/// A consumer of the in-memory broker.
struct MemoryConsumer {
    inner: Arc<Inner>,
    group: String,
    topics: Vec<String>,
    /// (topic, partition) -> next offset to read; filled lazily from the
    /// group's commits.
    positions: HashMap<(String, u32), u64>,
    produced: watch::Receiver<u64>,
    /// Rotates the first partition looked at, for fairness between partitions.
    start: usize,
}

impl MemoryConsumer {
    fn take_available(&mut self, max_records: usize) -> Vec<Record> {
        let state = self.inner.lock();
        let mut out = Vec::new();
        let mut partitions = Vec::new();
        for topic in &self.topics {
            if let Some(t) = state.topics.get(topic) {
                for partition in 0..t.partitions.len() as u32 {
                    partitions.push((topic, partition));
                }
            }
        }
        if partitions.is_empty() {
            return out;
        }
        self.start = (self.start + 1) % partitions.len();
        for i in 0..partitions.len() {
            let (topic, partition) = partitions[(self.start + i) % partitions.len()];
            let key = (topic.clone(), partition);
            let committed = state
                .committed
                .get(&self.group)
                .and_then(|c| c.get(&key))
                .copied()
                .unwrap_or(0);
            let next = self.positions.entry(key).or_insert(committed);
            let records = &state.topics[topic].partitions[partition as usize];
            while out.len() < max_records {
                match records.get(*next as usize) {
                    Some(record) => {
                        out.push(record.clone());
                        *next += 1;
                    }
                    None => break,
                }
            }
        }
        out
    }
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<Record>, StreamError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark the current generation seen before looking, so a produce
            // that lands after the look wakes the wait below.
            self.produced.borrow_and_update();
            let records = self.take_available(max_records.max(1));
            if !records.is_empty() {
                return Ok(records);
            }
            match tokio::time::timeout_at(deadline, self.produced.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives in `inner`, which this consumer holds.
                Ok(Err(_)) => return Err(StreamError::Closed("memory broker dropped".into())),
                Err(_elapsed) => return Ok(Vec::new()),
            }
        }
    }

    async fn commit(&mut self, offsets: &[CommitOffset]) -> Result<(), StreamError> {
        for offset in offsets {
            validate_name("topic", &offset.topic)?;
        }
        let mut state = self.inner.lock();
        let committed = state.committed.entry(self.group.clone()).or_default();
        for offset in offsets {
            committed.insert((offset.topic.clone(), offset.partition), offset.next_offset);
        }
        Ok(())
    }
}
