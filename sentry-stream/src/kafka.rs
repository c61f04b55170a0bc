//! The Kafka backend of the scaled deployment (feature `kafka`), on
//! librdkafka through the `rdkafka` crate.
//!
//! - Topics are created on first use (by a producer or a consumer) with
//!   [`KafkaConfig::partitions`] partitions; a topic that already exists keeps
//!   its partition count. The topic's metadata is read first and it is
//!   created only when missing, so credentials without the right to create
//!   topics (ACLs) do for topics made beforehand.
//! - The producer picks the partition itself with [`partition_for_key`] (or
//!   round-robin without a key), so one project's events stay in one
//!   partition and the choice is the same as in the other backends. It
//!   answers only after the broker acknowledged the record (`acks=all`).
//!   A send that librdkafka retries after a lost acknowledgement may be
//!   stored twice; the consumers make that harmless (events are saved once
//!   per event id). A record the broker refuses with "unknown server error"
//!   (which librdkafka does not retry) is sent again, up to four times, so
//!   it may also land after records sent later, or twice if the refusal
//!   came after the write: the test broker answers that error when two
//!   produce requests race for a partition's next offset, and topic
//!   creations are retried the same way. Kafka's idempotent producer,
//!   which prevents duplicates, is off by default: with the test broker
//!   (tansu on S3 storage), a restart under load once lost an acknowledged
//!   record with it on, never with it off. Against Apache Kafka,
//!   `enable.idempotence=true` in the URL turns it on (brokers before 2.8
//!   want the `IdempotentWrite` permission).
//! - Consumers of one group split the partitions between them (Kafka's group
//!   protocol); offsets are committed only when [`Consumer::commit`] is called
//!   (no auto-commit). [`Broker::consumer`] waits until the group gave the new
//!   consumer its partitions, so records produced after it returns are read.
//!   A member takes part in a rebalance while it polls.
//! - [`Consumer::commit`] commits only the offsets of partitions the
//!   consumer holds at that moment: after a rebalance moved a partition to
//!   another member, an offset of it read before is dropped (with a debug
//!   log), so it cannot overwrite the new holder's progress.
//! - Dropping a consumer closes it, leaving the group at once (its partitions
//!   go to the other members without waiting for the session timeout). That
//!   waits for the broker, so inside a tokio runtime it is done on a blocking
//!   thread (dropping the runtime waits for it).
//! - [`Broker::lag`] asks the broker (committed offsets and high watermarks):
//!   a round trip, so callers on a hot path cache it.
//!
//! [`KafkaConfig::prefix`] is put before every topic and group name, so that
//! several installations (or tests) can share one cluster; records report the
//! name without it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::partition::{Partitioner, partition_for_key, validate_consumer, validate_name};
use crate::{Broker, CommitOffset, Consumer, Position, Producer, Record, StreamError};

/// How to reach a Kafka cluster and how to create topics in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port` of one or more brokers, comma-separated.
    pub brokers: String,
    /// Partitions of the topics this backend creates (3).
    pub partitions: u32,
    /// Replication factor of the topics it creates (1).
    pub replication_factor: u32,
    /// Put before every topic and consumer-group name (empty).
    pub prefix: String,
    /// How long a consumer may be silent before the group gives its
    /// partitions to another member (6 s). A group join takes about half of
    /// it on some brokers.
    pub session_timeout: Duration,
    /// Timeout of metadata, admin, commit and offset requests (10 s).
    pub request_timeout: Duration,
    /// The largest record the producer sends, key and payload (16 MiB).
    pub max_record_bytes: u32,
    /// Further librdkafka settings for every client (`security.protocol`,
    /// `sasl.mechanism`, ...), applied last.
    pub options: Vec<(String, String)>,
}

impl KafkaConfig {
    /// The defaults for the brokers at `brokers` (`host:port[,host:port...]`).
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            partitions: 3,
            replication_factor: 1,
            prefix: String::new(),
            session_timeout: Duration::from_secs(6),
            request_timeout: Duration::from_secs(10),
            max_record_bytes: 16 << 20,
            options: Vec::new(),
        }
    }

    /// Reads `kafka://HOST:PORT[,HOST:PORT...][?key=value&...]`.
    ///
    /// Keys: `partitions`, `replication_factor`, `prefix`,
    /// `session_timeout_ms`, `request_timeout_ms`, `max_record_bytes`; a key
    /// with a dot in it is a librdkafka setting, passed through (for example
    /// `security.protocol=ssl`).
    pub fn from_url(url: &str) -> Result<Self, StreamError> {
        let invalid = |reason: String| StreamError::InvalidUrl {
            url: sentry_envelope::redact_url(url),
            reason,
        };
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| invalid("expected kafka://HOST:PORT".into()))?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.trim_end_matches('/');
        if hosts.is_empty()
            || hosts
                .split(',')
                .any(|h| !h.contains(':') || h.contains('/'))
        {
            return Err(invalid(
                "expected one or more HOST:PORT, comma-separated, as in kafka://127.0.0.1:9092"
                    .into(),
            ));
        }
        let mut config = KafkaConfig::new(hosts);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("{pair:?} is not key=value")))?;
            let number = |what: &str| {
                value
                    .parse::<u32>()
                    .map_err(|_| invalid(format!("{what} must be a whole number, not {value:?}")))
            };
            let millis = |what: &str| number(what).map(|ms| Duration::from_millis(u64::from(ms)));
            match key {
                "partitions" => config.partitions = number(key)?.max(1),
                "replication_factor" => config.replication_factor = number(key)?.max(1),
                "prefix" => config.prefix = value.to_owned(),
                "session_timeout_ms" => config.session_timeout = millis(key)?,
                "request_timeout_ms" => config.request_timeout = millis(key)?,
                "max_record_bytes" => config.max_record_bytes = number(key)?,
                _ if key.contains('.') => config.options.push((key.to_owned(), value.to_owned())),
                _ => return Err(invalid(format!("unknown setting {key:?}"))),
            }
        }
        if !config.prefix.is_empty() {
            validate_name("topic", &config.prefix)?;
        }
        Ok(config)
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set(
                "socket.timeout.ms",
                millis(self.request_timeout).to_string(),
            )
            .set("log_level", "4");
        config
    }

    fn apply_options(&self, config: &mut ClientConfig) {
        for (key, value) in &self.options {
            config.set(key, value);
        }
    }
}

/// The settings of the producer (the URL's librdkafka settings last, so
/// they may override these).
fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut producer = config.client();
    producer
        // Topics are made by `ensure_topic` with our partition count,
        // never by the broker's defaults when metadata is asked for.
        .set("allow.auto.create.topics", "false")
        .set("acks", "all")
        // Off unless the URL says otherwise: see the module docs.
        .set("enable.idempotence", "false")
        .set("linger.ms", "2")
        .set("message.max.bytes", config.max_record_bytes.to_string())
        .set("message.timeout.ms", "30000")
        // Our own partitioner decides; this only covers a record sent
        // without an explicit partition (never, here).
        .set("partitioner", "murmur2_random");
    config.apply_options(&mut producer);
    producer
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

fn kafka_error(context: impl Into<String>, error: KafkaError) -> StreamError {
    StreamError::Backend {
        context: context.into(),
        reason: error.to_string(),
    }
}

/// A Kafka cluster as a [`Broker`].
#[derive(Clone)]
pub struct KafkaBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KafkaBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBroker")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: KafkaConfig,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Full topic name -> its partitioner and partition count, once the
    /// topic is known to exist.
    topics: Mutex<HashMap<String, (u32, Partitioner)>>,
    /// Group name -> a client that reads the group's committed offsets.
    offset_readers: Mutex<HashMap<String, Arc<BaseConsumer>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single insert: a panic cannot
    // leave them half-done.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl KafkaBroker {
    /// Connects (lazily: nothing is sent until the first request) to the
    /// cluster `config` names.
    pub fn new(config: KafkaConfig) -> Result<Self, StreamError> {
        let producer: FutureProducer = producer_config(&config)
            .create()
            .map_err(|e| kafka_error("creating the Kafka producer", e))?;
        let mut admin = config.client();
        config.apply_options(&mut admin);
        let admin = admin
            .create()
            .map_err(|e| kafka_error("creating the Kafka admin client", e))?;
        Ok(KafkaBroker {
            inner: Arc::new(Inner {
                config,
                producer,
                admin,
                topics: Mutex::new(HashMap::new()),
                offset_readers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration this broker was made with.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }
}

impl Inner {
    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.config.prefix)
    }

    /// The partition count of `topic` (its full name), creating the topic
    /// if it does not exist yet.
    async fn ensure_topic(&self, topic: &str) -> Result<u32, StreamError> {
        if let Some((count, _)) = lock(&self.topics).get(topic) {
            return Ok(*count);
        }
        // Creating a topic needs a right that a service's credentials may
        // lack (ACLs): ask for the topic first, create it only if missing.
        let count = self.partition_count(topic).await?;
        if count > 0 {
            return Ok(self.known_topic(topic, count));
        }
        let replication = i32::try_from(self.config.replication_factor).unwrap_or(1);
        let partitions = i32::try_from(self.config.partitions).unwrap_or(1);
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
        let options = AdminOptions::new().operation_timeout(Some(self.config.request_timeout));
        let mut retries = 0;
        loop {
            let results = self
                .admin
                .create_topics([&new], &options)
                .await
                .map_err(|e| kafka_error(format!("creating topic {topic}"), e))?;
            match results.into_iter().find_map(Result::err) {
                None | Some((_, RDKafkaErrorCode::TopicAlreadyExists)) => break,
                // As for a produce (see `resend`): the test broker answers
                // this when two creations race for its cluster's metadata.
                Some((_, RDKafkaErrorCode::Unknown)) if retries < UNKNOWN_ERROR_RETRIES => {
                    pause_before_retry(&mut retries).await;
                }
                Some((name, code)) => {
                    return Err(StreamError::Backend {
                        context: format!("creating topic {name}"),
                        reason: code.to_string(),
                    });
                }
            }
        }
        // The partition count the cluster has (the topic may have been made
        // by someone else, with another count), once its metadata shows it.
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        loop {
            let count = self.partition_count(topic).await?;
            if count > 0 {
                return Ok(self.known_topic(topic, count));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StreamError::Backend {
                    context: format!("creating topic {topic}"),
                    reason: "the cluster does not show its partitions".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Remembers that `topic` exists with `count` partitions; returns the
    /// count remembered first (a concurrent caller may have been first).
    fn known_topic(&self, topic: &str, count: u32) -> u32 {
        lock(&self.topics)
            .entry(topic.to_owned())
            .or_insert_with(|| (count, Partitioner::default()))
            .0
    }

    /// The partitions the cluster's metadata lists for `topic` (0 when the
    /// topic does not exist).
    async fn partition_count(&self, topic: &str) -> Result<u32, StreamError> {
        let producer = self.producer.clone();
        let timeout = self.config.request_timeout;
        let topic = topic.to_owned();
        blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map_err(|e| kafka_error(format!("reading the metadata of topic {topic}"), e))?;
            Ok(metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map_or(0, |t| u32::try_from(t.partitions().len()).unwrap_or(0)))
        })
        .await
    }

    fn pick(&self, topic: &str, key: Option<&[u8]>) -> u32 {
        let mut topics = lock(&self.topics);
        match topics.get_mut(topic) {
            Some((count, partitioner)) => partitioner.pick(key, *count),
            None => key.map_or(0, |k| partition_for_key(k, 1)),
        }
    }

    fn offset_reader(&self, group: &str) -> Result<Arc<BaseConsumer>, StreamError> {
        if let Some(reader) = lock(&self.offset_readers).get(group) {
            return Ok(reader.clone());
        }
        let mut config = self.config.client();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false");
        self.config.apply_options(&mut config);
        let reader: Arc<BaseConsumer> = Arc::new(
            config
                .create()
                .map_err(|e| kafka_error("creating a Kafka offset reader", e))?,
        );
        Ok(lock(&self.offset_readers)
            .entry(group.to_owned())
            .or_insert(reader)
            .clone())
    }
}

/// Runs a blocking librdkafka call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StreamError> + Send + 'static,
) -> Result<T, StreamError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StreamError::Closed(format!("a Kafka request panicked: {e}")))?
}

fn to_i32(partition: u32) -> i32 {
    i32::try_from(partition).unwrap_or(i32::MAX)
}

fn to_i64(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

fn position(partition: i32, offset: i64) -> Position {
    Position {
        partition: u32::try_from(partition).unwrap_or(0),
        offset: u64::try_from(offset).unwrap_or(0),
    }
}

struct KafkaProducer {
    inner: Arc<Inner>,
}

impl KafkaProducer {
    /// Checks the name and size, makes sure the topic exists, and returns
    /// its full name.
    async fn prepare(
        &self,
        topic: &str,
        records: &[(Option<Bytes>, Bytes)],
    ) -> Result<String, StreamError> {
        validate_name("topic", topic)?;
        let limit = u64::from(self.inner.config.max_record_bytes);
        for (key, payload) in records {
            let size = (key.as_ref().map_or(0, Bytes::len) + payload.len()) as u64;
            if size > limit {
                return Err(StreamError::RecordTooLarge { size, limit });
            }
        }
        let full = self.inner.full_name(topic);
        self.inner.ensure_topic(&full).await?;
        Ok(full)
    }

    /// Hands one record to librdkafka, waiting while its queue is full, and
    /// returns the future of the broker's acknowledgement.
    async fn enqueue(
        &self,
        topic: &str,
        key: Option<&Bytes>,
        payload: &Bytes,
    ) -> Result<rdkafka::producer::DeliveryFuture, StreamError> {
        let partition = self.inner.pick(topic, key.map(|k| &k[..]));
        loop {
            let mut record = FutureRecord::to(topic)
                .partition(to_i32(partition))
                .payload(&payload[..]);
            if let Some(key) = key {
                record = record.key(&key[..]);
            }
            match self.inner.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    let size = key.map_or(0, Bytes::len) + payload.len();
                    return Err(produce_error(
                        topic,
                        e,
                        size,
                        self.inner.config.max_record_bytes,
                    ));
                }
            }
        }
    }
}

/// A produce error; the broker's "too large" becomes
/// [`StreamError::RecordTooLarge`], which callers answer with 413 rather
/// than a retryable error.
fn produce_error(topic: &str, error: KafkaError, size: usize, limit: u32) -> StreamError {
    match error {
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize,
        ) => StreamError::RecordTooLarge {
            size: size as u64,
            limit: u64::from(limit),
        },
        e => kafka_error(format!("producing to {topic}"), e),
    }
}

/// How often a record (or a topic creation) the broker refused with an
/// unexplained error is sent again, after the first try.
const UNKNOWN_ERROR_RETRIES: u32 = 4;

/// Counts a retry and waits before it, longer each time (10 to 80 ms).
async fn pause_before_retry(retries: &mut u32) {
    *retries += 1;
    tokio::time::sleep(Duration::from_millis(5 << *retries)).await;
}

/// Whether the broker's refusal may be sent again as it is: "unknown server
/// error", which librdkafka hands back rather than retrying. The test broker
/// (tansu on S3 storage) answers it when two produce requests for one
/// partition race for the same next offset (its log shows the losing
/// batch's conditional write refused).
fn resend(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::Unknown)
    )
}

/// The broker's answer for one record.
async fn acknowledged(
    delivery: rdkafka::producer::DeliveryFuture,
) -> Result<Result<Position, KafkaError>, StreamError> {
    match delivery.await {
        Ok(Ok(delivery)) => Ok(Ok(position(delivery.partition, delivery.offset))),
        Ok(Err((e, _))) => Ok(Err(e)),
        Err(_) => Err(StreamError::Closed("the Kafka producer shut down".into())),
    }
}

impl KafkaProducer {
    /// Waits for `delivery`, sending the record again (with a growing pause)
    /// while the broker refuses it with an error [`resend`] accepts.
    async fn delivered(
        &self,
        topic: &str,
        key: Option<&Bytes>,
        payload: &Bytes,
        mut delivery: rdkafka::producer::DeliveryFuture,
    ) -> Result<Position, StreamError> {
        let mut retries = 0;
        loop {
            match acknowledged(delivery).await? {
                Ok(position) => return Ok(position),
                Err(e) if resend(&e) && retries < UNKNOWN_ERROR_RETRIES => {
                    tracing::debug!(topic, retries, error = %e, "sending a refused record again");
                    pause_before_retry(&mut retries).await;
                    delivery = self.enqueue(topic, key, payload).await?;
                }
                Err(e) => {
                    let size = key.map_or(0, Bytes::len) + payload.len();
                    return Err(produce_error(
                        topic,
                        e,
                        size,
                        self.inner.config.max_record_bytes,
                    ));
                }
            }
        }
    }
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn produce(
        &self,
        topic: &str,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<Position, StreamError> {
        let record = [(key, payload)];
        let full = self.prepare(topic, &record).await?;
        let [(key, payload)] = record;
        let delivery = self.enqueue(&full, key.as_ref(), &payload).await?;
        self.delivered(&full, key.as_ref(), &payload, delivery)
            .await
    }

    async fn produce_many(
        &self,
        topic: &str,
        records: Vec<(Option<Bytes>, Bytes)>,
    ) -> Result<Vec<Position>, StreamError> {
        let full = self.prepare(topic, &records).await?;
        // Everything goes to librdkafka first (it batches per partition),
        // then the acknowledgements are awaited in order.
        let mut deliveries = Vec::with_capacity(records.len());
        for (key, payload) in &records {
            deliveries.push(self.enqueue(&full, key.as_ref(), payload).await?);
        }
        let mut positions = Vec::with_capacity(deliveries.len());
        for ((key, payload), delivery) in records.iter().zip(deliveries) {
            positions.push(
                self.delivered(&full, key.as_ref(), payload, delivery)
                    .await?,
            );
        }
        Ok(positions)
    }
}

struct KafkaConsumer {
    inner: Arc<Inner>,
    consumer: Arc<StreamConsumer>,
    /// Records received while waiting for the group to assign partitions.
    pending: std::collections::VecDeque<Record>,
    /// Another handle on `consumer`, which closes it. Declared after
    /// `consumer`, so dropped after it (fields drop in declaration order):
    /// it holds the last handle, unless a commit still running on a
    /// blocking thread holds one, and then the consumer is closed there.
    _close: CloseOnDrop,
}

/// Closes a consumer when dropped: librdkafka leaves the group (a last
/// revoke, then LeaveGroup), which waits for the broker, so inside a tokio
/// runtime this is done on a blocking thread rather than on the (maybe
/// async) thread that dropped it. Dropping the runtime waits for blocking
/// tasks that started; one not started yet, or refused by a runtime that is
/// shutting down, is dropped where it is, closing the consumer there: the
/// group is left either way.
struct CloseOnDrop(Option<Arc<StreamConsumer>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(consumer))),
            Err(_) => drop(consumer),
        }
    }
}

impl KafkaConsumer {
    fn record(&self, message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
        let topic = message.topic();
        Record {
            topic: topic
                .strip_prefix(self.inner.config.prefix.as_str())
                .unwrap_or(topic)
                .to_owned(),
            partition: u32::try_from(message.partition()).unwrap_or(0),
            offset: u64::try_from(message.offset()).unwrap_or(0),
            timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
            key: message.key().map(Bytes::copy_from_slice),
            payload: message
                .payload()
                .map_or_else(Bytes::new, Bytes::copy_from_slice),
        }
    }

    /// The next record if one is already here, without waiting: the
    /// receive is polled once, synchronously, so no await point lies between
    /// taking a record from librdkafka and handing it to the caller.
    fn try_next(&mut self) -> Result<Option<Record>, StreamError> {
        if let Some(record) = self.pending.pop_front() {
            return Ok(Some(record));
        }
        let mut receive = std::pin::pin!(self.consumer.recv());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match receive.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(message)) => Ok(Some(self.record(&message))),
            std::task::Poll::Ready(Err(e)) => Err(kafka_error("reading from Kafka", e)),
            std::task::Poll::Pending => Ok(None),
        }
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<Record>, StreamError> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let mut records = Vec::new();
        // The first record may be waited for; receiving is cancellation
        // safe, so a dropped poll loses nothing.
        if let Some(record) = self.pending.pop_front() {
            records.push(record);
        } else {
            match tokio::time::timeout(timeout, self.consumer.recv()).await {
                Ok(Ok(message)) => records.push(self.record(&message)),
                Ok(Err(e)) => return Err(kafka_error("reading from Kafka", e)),
                Err(_) => return Ok(records),
            }
        }
        while records.len() < max_records {
            match self.try_next() {
                Ok(Some(record)) => records.push(record),
                Ok(None) => break,
                // Hand over what was read; a lasting error shows again at
                // the next poll.
                Err(e) => {
                    tracing::warn!(error = %e, "Kafka reported an error while reading");
                    break;
                }
            }
        }
        Ok(records)
    }

    async fn commit(&mut self, offsets: &[CommitOffset]) -> Result<(), StreamError> {
        if offsets.is_empty() {
            return Ok(());
        }
        for commit in offsets {
            validate_name("topic", &commit.topic)?;
        }
        // Only partitions this consumer holds: after a rebalance, another
        // member holds the others and its progress is not ours to overwrite.
        // The assignment changes only in `poll` (rebalances are served
        // there), which cannot run during this call.
        let assigned = self
            .consumer
            .assignment()
            .map_err(|e| kafka_error("reading the consumer's assignment", e))?;
        let mut list = TopicPartitionList::new();
        for commit in offsets {
            let topic = self.inner.full_name(&commit.topic);
            let partition = to_i32(commit.partition);
            if assigned.find_partition(&topic, partition).is_none() {
                tracing::debug!(
                    topic = %commit.topic,
                    partition = commit.partition,
                    next_offset = commit.next_offset,
                    "not committing the offset of a partition this consumer does not hold"
                );
                continue;
            }
            list.add_partition_offset(
                &topic,
                partition,
                Offset::Offset(to_i64(commit.next_offset)),
            )
            .map_err(|e| kafka_error("committing offsets", e))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        let consumer = self.consumer.clone();
        blocking(move || {
            consumer
                .commit(&list, CommitMode::Sync)
                .map_err(|e| kafka_error("committing offsets to Kafka", e))
        })
        .await
    }
}

#[async_trait]
impl Broker for KafkaBroker {
    fn producer(&self) -> Arc<dyn Producer> {
        Arc::new(KafkaProducer {
            inner: self.inner.clone(),
        })
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Consumer>, StreamError> {
        validate_consumer(group, topics)?;
        let inner = &self.inner;
        let full: Vec<String> = topics.iter().map(|t| inner.full_name(t)).collect();
        for topic in &full {
            inner.ensure_topic(topic).await?;
        }
        let mut config = inner.config.client();
        config
            .set("group.id", inner.full_name(group))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set(
                "session.timeout.ms",
                millis(inner.config.session_timeout).to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (millis(inner.config.session_timeout) / 4).to_string(),
            )
            // Long enough for a broker that reads its log from object storage
            // to answer a fetch with data (Kafka answers as soon as data is
            // there, so this is not added latency).
            .set("fetch.wait.max.ms", "500")
            .set(
                "fetch.message.max.bytes",
                inner.config.max_record_bytes.to_string(),
            )
            .set("topic.metadata.refresh.interval.ms", "10000");
        inner.config.apply_options(&mut config);
        let consumer: StreamConsumer = config
            .create()
            .map_err(|e| kafka_error("creating a Kafka consumer", e))?;
        let names: Vec<&str> = full.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| kafka_error(format!("subscribing to {}", names.join(", ")), e))?;
        let consumer = Arc::new(consumer);
        let mut this = KafkaConsumer {
            inner: inner.clone(),
            consumer: consumer.clone(),
            pending: Default::default(),
            _close: CloseOnDrop(Some(consumer)),
        };
        // Join the group before answering: until the group assigns
        // partitions, nothing is read. Records that arrive meanwhile are
        // kept for the first poll. A group with more members than
        // partitions may assign nothing: give up waiting after a while.
        let deadline =
            tokio::time::Instant::now() + inner.config.session_timeout * 2 + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            let assigned = this
                .consumer
                .assignment()
                .map_err(|e| kafka_error("reading the consumer's assignment", e))?
                .count();
            if assigned > 0 {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(100), this.consumer.recv()).await {
                Ok(Ok(message)) => {
                    let record = this.record(&message);
                    this.pending.push_back(record);
                }
                Ok(Err(e)) => return Err(kafka_error("joining the consumer group", e)),
                Err(_) => {}
            }
        }
        Ok(Box::new(this))
    }

    async fn lag(&self, group: &str, topic: &str) -> Result<u64, StreamError> {
        validate_name("group", group)?;
        validate_name("topic", topic)?;
        let inner = self.inner.clone();
        let topic = inner.full_name(topic);
        let count = inner.partition_count(&topic).await?;
        if count == 0 {
            return Ok(0);
        }
        let reader = inner.offset_reader(&inner.full_name(group))?;
        let timeout = inner.config.request_timeout;
        blocking(move || {
            let mut list = TopicPartitionList::new();
            for partition in 0..count {
                list.add_partition(&topic, to_i32(partition));
            }
            let committed = reader
                .committed_offsets(list, timeout)
                .map_err(|e| kafka_error(format!("reading committed offsets of {topic}"), e))?;
            let mut lag = 0u64;
            for partition in 0..count {
                let (low, high) = reader
                    .client()
                    .fetch_watermarks(&topic, to_i32(partition), timeout)
                    .map_err(|e| kafka_error(format!("reading the offsets of {topic}"), e))?;
                let start = match committed
                    .find_partition(&topic, to_i32(partition))
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(offset)) => offset.max(low),
                    _ => low,
                };
                lag += u64::try_from(high.saturating_sub(start)).unwrap_or(0);
            }
            Ok(lag)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_producer_is_idempotent_only_when_the_url_says_so() {
        let config = KafkaConfig::from_url("kafka://127.0.0.1:9092").unwrap();
        let producer = producer_config(&config);
        assert_eq!(producer.get("enable.idempotence"), Some("false"));
        assert_eq!(producer.get("acks"), Some("all"));
        let config =
            KafkaConfig::from_url("kafka://127.0.0.1:9092?enable.idempotence=true").unwrap();
        assert_eq!(
            producer_config(&config).get("enable.idempotence"),
            Some("true")
        );
    }
}
