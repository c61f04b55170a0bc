//! The behaviour every [`Broker`] shares. Each test is a generic async
//! function over `Arc<dyn Broker>` whose topics have 3 partitions;
//! `broker_test_suite!` instantiates all of them for one backend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_stream::{Broker, CommitOffset, MemoryBroker, StreamError, partition_for_key};

use crate::util::{assert_nothing_more, read_all, read_n};

/// Partitions of every topic in the suite.
pub(crate) const PARTITIONS: u32 = 3;

macro_rules! broker_test_suite {
    ($backend:ident, $make:expr, [$($test:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    // The guard (a temporary directory) outlives the broker.
                    let (broker, _guard) = $make;
                    super::$test(broker).await;
                }
            )*
        }
    };
}

/// The Kafka backend against the real broker of `SENTRY_TEST_KAFKA_URL`;
/// each test has its own topic and group prefix.
#[cfg(feature = "kafka")]
macro_rules! kafka_test_suite {
    ([$($test:ident),* $(,)?]) => {
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(broker) = crate::util::kafka_broker(super::PARTITIONS) else {
                        return;
                    };
                    super::$test(broker).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($test:ident),* $(,)?) => {
        broker_test_suite!(memory, super::memory_broker(), [$($test),*]);
        broker_test_suite!(file_log, super::file_log_broker(), [$($test),*]);
        #[cfg(feature = "kafka")]
        kafka_test_suite!([$($test),*]);
    };
}

/// What the embedded backends promise beyond Kafka's semantics.
macro_rules! embedded_backends {
    ($($test:ident),* $(,)?) => {
        broker_test_suite!(memory_embedded, super::memory_broker(), [$($test),*]);
        broker_test_suite!(file_log_embedded, super::file_log_broker(), [$($test),*]);
    };
}

fn memory_broker() -> (Arc<dyn Broker>, ()) {
    (Arc::new(MemoryBroker::with_partitions(PARTITIONS)), ())
}

/// A file-log broker and the directory it lives in.
fn file_log_broker() -> (Arc<dyn Broker>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (crate::util::file_log(dir.path(), PARTITIONS), dir)
}

all_backends!(
    produce_consume_order_per_partition,
    offsets_increase_per_partition,
    commit_then_new_consumer_resumes_after_commit,
    groups_are_independent,
    poll_timeout_returns_empty,
    poll_wakes_on_produce,
    lag_accounting,
    keyed_records_land_on_a_stable_partition,
    unkeyed_records_spread_round_robin,
    payload_and_key_round_trip_byte_exact,
    max_records_is_respected,
    consumer_reads_several_topics,
    consumer_sees_topics_created_later,
    invalid_names_are_rejected,
);

embedded_backends!(offsets_have_no_gaps);

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("record-{i}"))
}

async fn produce_consume_order_per_partition(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    let mut expected: BTreeMap<u32, Vec<(u64, Bytes)>> = BTreeMap::new();
    for i in 0..60 {
        let key = (i % 4 == 0).then(|| Bytes::from(format!("key-{}", i % 7)));
        let position = producer.produce("order", key, payload(i)).await.unwrap();
        expected
            .entry(position.partition)
            .or_default()
            .push((position.offset, payload(i)));
    }
    let mut consumer = broker.consumer("g", &["order"]).await.unwrap();
    let records = read_n(consumer.as_mut(), 60).await;
    let mut got: BTreeMap<u32, Vec<(u64, Bytes)>> = BTreeMap::new();
    for r in records {
        assert_eq!(r.topic, "order");
        got.entry(r.partition)
            .or_default()
            .push((r.offset, r.payload));
    }
    assert_eq!(got, expected);
    assert_nothing_more(consumer.as_mut(), 10, Duration::from_millis(50)).await;
}

/// The offsets 30 records got one after the other (by partition, in
/// order), and those of 200 records 8 concurrent producers sent to one
/// partition (sorted).
async fn produce_for_offsets(broker: Arc<dyn Broker>) -> (BTreeMap<u32, Vec<u64>>, Vec<u64>) {
    let producer = broker.producer();
    let mut sequential: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for i in 0..30 {
        let p = producer.produce("mono", None, payload(i)).await.unwrap();
        assert!(p.partition < PARTITIONS);
        sequential.entry(p.partition).or_default().push(p.offset);
    }
    let mut tasks = Vec::new();
    for t in 0..8 {
        let producer = broker.producer();
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for i in 0..25 {
                let key = Bytes::from_static(b"one-partition");
                let p = producer
                    .produce("mono2", Some(key), payload(t * 100 + i))
                    .await
                    .unwrap();
                positions.push(p);
            }
            positions
        }));
    }
    let mut offsets = Vec::new();
    for task in tasks {
        let positions = task.await.unwrap();
        assert!(positions.windows(2).all(|w| w[0].offset < w[1].offset));
        offsets.extend(positions.iter().map(|p| p.offset));
    }
    offsets.sort_unstable();
    (sequential, offsets)
}

/// Each record gets an offset larger than the records before it in its
/// partition, and no offset is given twice, also to concurrent producers.
/// A Kafka broker may skip offsets (see [`sentry_stream::Record::offset`]).
async fn offsets_increase_per_partition(broker: Arc<dyn Broker>) {
    let (sequential, concurrent) = produce_for_offsets(broker).await;
    for (partition, offsets) in &sequential {
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {partition}: {offsets:?}"
        );
    }
    assert_eq!(concurrent.len(), 200);
    assert!(concurrent.windows(2).all(|w| w[0] < w[1]), "{concurrent:?}");
}

/// The embedded backends number the records of a partition 0, 1, 2, ...,
/// also for concurrent producers.
async fn offsets_have_no_gaps(broker: Arc<dyn Broker>) {
    let (sequential, concurrent) = produce_for_offsets(broker).await;
    for (partition, offsets) in &sequential {
        let expected: Vec<u64> = (0..offsets.len() as u64).collect();
        assert_eq!(offsets, &expected, "partition {partition}");
    }
    assert_eq!(concurrent, (0..200).collect::<Vec<u64>>());
}

async fn commit_then_new_consumer_resumes_after_commit(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    let key = Some(Bytes::from_static(b"k"));
    for i in 0..10 {
        producer
            .produce("resume", key.clone(), payload(i))
            .await
            .unwrap();
    }
    let mut first = broker.consumer("g", &["resume"]).await.unwrap();
    let records = read_n(first.as_mut(), 6).await;
    assert_eq!(records[5].offset, 5);
    // Processed four: commit after the fourth. Records 4 and 5 were read but
    // not committed, so they are delivered again.
    first
        .commit(&[CommitOffset::after(&records[3])])
        .await
        .unwrap();
    drop(first);
    let mut second = broker.consumer("g", &["resume"]).await.unwrap();
    let records = read_n(second.as_mut(), 6).await;
    let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [4, 5, 6, 7, 8, 9]);
    assert_eq!(records[0].payload, payload(4));
    assert_nothing_more(second.as_mut(), 10, Duration::from_millis(50)).await;
    // A commit does not move the reading position of the consumer.
    second
        .commit(&[CommitOffset {
            topic: "resume".into(),
            partition: records[0].partition,
            next_offset: 2,
        }])
        .await
        .unwrap();
    assert_nothing_more(second.as_mut(), 10, Duration::from_millis(50)).await;
    // One live consumer per group: Kafka would split the partitions.
    drop(second);
    let mut third = broker.consumer("g", &["resume"]).await.unwrap();
    assert_eq!(read_n(third.as_mut(), 8).await[0].offset, 2);
}

async fn groups_are_independent(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    for i in 0..9 {
        producer.produce("shared", None, payload(i)).await.unwrap();
    }
    let mut a = broker.consumer("a", &["shared"]).await.unwrap();
    let records = read_n(a.as_mut(), 9).await;
    let commits: Vec<CommitOffset> = records.iter().map(CommitOffset::after).collect();
    a.commit(&commits).await.unwrap();
    assert_eq!(broker.lag("a", "shared").await.unwrap(), 0);
    assert_eq!(broker.lag("b", "shared").await.unwrap(), 9);
    let mut b = broker.consumer("b", &["shared"]).await.unwrap();
    assert_eq!(read_n(b.as_mut(), 9).await.len(), 9);
    drop(a);
    let mut a2 = broker.consumer("a", &["shared"]).await.unwrap();
    assert_nothing_more(a2.as_mut(), 10, Duration::from_millis(100)).await;
}

async fn poll_timeout_returns_empty(broker: Arc<dyn Broker>) {
    let mut consumer = broker.consumer("g", &["quiet"]).await.unwrap();
    let started = Instant::now();
    let records = consumer.poll(10, Duration::from_millis(200)).await.unwrap();
    let waited = started.elapsed();
    assert!(records.is_empty());
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // Also once the topic exists and everything is read.
    broker
        .producer()
        .produce("quiet", None, payload(0))
        .await
        .unwrap();
    assert_eq!(read_n(consumer.as_mut(), 1).await.len(), 1);
    assert_nothing_more(consumer.as_mut(), 10, Duration::from_millis(100)).await;
    assert_nothing_more(consumer.as_mut(), 0, Duration::from_secs(10)).await;
}

async fn poll_wakes_on_produce(broker: Arc<dyn Broker>) {
    let mut consumer = broker.consumer("g", &["wake"]).await.unwrap();
    let producer = broker.producer();
    for round in 0..3 {
        let started = Instant::now();
        let poll = tokio::spawn(async move {
            let records = consumer.poll(10, Duration::from_secs(30)).await.unwrap();
            (consumer, records)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer
            .produce("wake", None, payload(round))
            .await
            .unwrap();
        let (back, records) = poll.await.unwrap();
        consumer = back;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].payload, payload(round));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

async fn lag_accounting(broker: Arc<dyn Broker>) {
    assert_eq!(broker.lag("g", "nothing-here").await.unwrap(), 0);
    let producer = broker.producer();
    for i in 0..12 {
        producer.produce("lag", None, payload(i)).await.unwrap();
    }
    assert_eq!(broker.lag("g", "lag").await.unwrap(), 12);
    let mut consumer = broker.consumer("g", &["lag"]).await.unwrap();
    let records = read_n(consumer.as_mut(), 12).await;
    // Reading alone does not change the lag; committing does.
    assert_eq!(broker.lag("g", "lag").await.unwrap(), 12);
    let p0: Vec<_> = records.iter().filter(|r| r.partition == 0).collect();
    consumer
        .commit(&[CommitOffset::after(p0[1])])
        .await
        .unwrap();
    assert_eq!(broker.lag("g", "lag").await.unwrap(), 10);
    let all: Vec<CommitOffset> = records.iter().map(CommitOffset::after).collect();
    consumer.commit(&all).await.unwrap();
    assert_eq!(broker.lag("g", "lag").await.unwrap(), 0);
    producer.produce("lag", None, payload(99)).await.unwrap();
    assert_eq!(broker.lag("g", "lag").await.unwrap(), 1);
    assert_eq!(broker.lag("other", "lag").await.unwrap(), 13);
}

async fn keyed_records_land_on_a_stable_partition(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    let mut used = std::collections::BTreeSet::new();
    for round in 0..3 {
        for k in 0..12 {
            let key = format!("project:{k}");
            let p = producer
                .produce("keyed", Some(Bytes::from(key.clone())), payload(round))
                .await
                .unwrap();
            assert_eq!(
                p.partition,
                partition_for_key(key.as_bytes(), PARTITIONS),
                "{key}"
            );
            used.insert(p.partition);
        }
    }
    assert!(used.len() > 1, "12 keys all hashed to one partition");
    let mut consumer = broker.consumer("g", &["keyed"]).await.unwrap();
    for r in read_n(consumer.as_mut(), 36).await {
        let key = r.key.unwrap();
        assert_eq!(r.partition, partition_for_key(&key, PARTITIONS));
    }
}

async fn unkeyed_records_spread_round_robin(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    let mut counts = [0; PARTITIONS as usize];
    for i in 0..30 {
        let p = producer.produce("spread", None, payload(i)).await.unwrap();
        counts[p.partition as usize] += 1;
    }
    assert_eq!(counts, [10; PARTITIONS as usize]);
}

async fn payload_and_key_round_trip_byte_exact(broker: Arc<dyn Broker>) {
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let cases: Vec<(Option<Bytes>, Bytes)> = vec![
        (None, Bytes::new()),
        (Some(Bytes::new()), Bytes::from_static(b"empty key")),
        (
            Some(Bytes::from_static(b"\x00\xff\x00key")),
            Bytes::from(all_bytes.clone()),
        ),
        (None, Bytes::from(vec![0u8; 1 << 20])),
        (
            Some(Bytes::from(all_bytes)),
            Bytes::from_static(b"{\"event_id\":\"x\"}\n"),
        ),
    ];
    let producer = broker.producer();
    let mut expected = BTreeMap::new();
    for (key, payload) in &cases {
        let p = producer
            .produce("bytes", key.clone(), payload.clone())
            .await
            .unwrap();
        expected.insert((p.partition, p.offset), (key.clone(), payload.clone()));
    }
    let mut consumer = broker.consumer("g", &["bytes"]).await.unwrap();
    for r in read_n(consumer.as_mut(), cases.len()).await {
        assert_eq!(
            expected[&(r.partition, r.offset)],
            (r.key.clone(), r.payload.clone())
        );
        assert!(r.timestamp_ms > 1_600_000_000_000, "{}", r.timestamp_ms);
    }
}

async fn max_records_is_respected(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    for i in 0..20 {
        producer.produce("max", None, payload(i)).await.unwrap();
    }
    let mut consumer = broker.consumer("g", &["max"]).await.unwrap();
    // Read until all arrived (a slow broker may answer a poll with nothing
    // in between), never more than three at a time.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut total = 0;
    while total < 20 && Instant::now() < deadline {
        let batch = consumer.poll(3, Duration::from_millis(200)).await.unwrap();
        assert!(batch.len() <= 3);
        total += batch.len();
    }
    assert_eq!(total, 20);
    assert_nothing_more(consumer.as_mut(), 3, Duration::from_millis(300)).await;
}

async fn consumer_reads_several_topics(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    for i in 0..5 {
        producer.produce("t1", None, payload(i)).await.unwrap();
        producer.produce("t2", None, payload(i)).await.unwrap();
        producer.produce("t3", None, payload(i)).await.unwrap();
    }
    let mut consumer = broker.consumer("g", &["t1", "t2"]).await.unwrap();
    let mut records = read_n(consumer.as_mut(), 10).await;
    records.extend(read_all(consumer.as_mut()).await);
    assert_eq!(records.iter().filter(|r| r.topic == "t1").count(), 5);
    assert_eq!(records.iter().filter(|r| r.topic == "t2").count(), 5);
    assert_eq!(records.len(), 10);
}

async fn consumer_sees_topics_created_later(broker: Arc<dyn Broker>) {
    let mut consumer = broker.consumer("g", &["later"]).await.unwrap();
    assert_nothing_more(consumer.as_mut(), 10, Duration::from_millis(50)).await;
    let producer = broker.producer();
    producer.produce("later", None, payload(1)).await.unwrap();
    let records = read_n(consumer.as_mut(), 1).await;
    assert_eq!(records[0].payload, payload(1));
}

async fn invalid_names_are_rejected(broker: Arc<dyn Broker>) {
    let producer = broker.producer();
    for topic in ["", "../escape", "a/b", "offsets", "white space"] {
        let err = producer.produce(topic, None, payload(0)).await.unwrap_err();
        assert!(
            matches!(err, StreamError::InvalidName { .. }),
            "{topic:?}: {err}"
        );
    }
    assert!(broker.consumer("../g", &["t"]).await.is_err());
    assert!(broker.consumer("g", &["t/../u"]).await.is_err());
}
