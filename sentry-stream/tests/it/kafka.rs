//! What only the Kafka backend does: consumers of one group split the
//! partitions (and a rebalance moves them), a URL configures it, and it
//! copes with a cluster that will not create topics.
//!
//! Most tests need the broker of `SENTRY_TEST_KAFKA_URL`; those that need a
//! broker to misbehave use librdkafka's mock cluster, in process.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use sentry_stream::{
    Broker, CommitOffset, Consumer, KafkaBroker, KafkaConfig, Producer, Record, StreamError,
};

use crate::util::{kafka_broker, kafka_config, read_n};

/// Produces `count` unkeyed records `{label}{i}` to `topic`: round-robin, so
/// each of its partitions gets the same number. One at a time: after a batch
/// of several records, the test broker (tansu) reports the partition's end
/// offset as if the batch were one record, which would throw `lag` off.
async fn produce(producer: &dyn Producer, topic: &str, label: &str, count: usize) {
    for i in 0..count {
        producer
            .produce(topic, None, Bytes::from(format!("{label}{i}")))
            .await
            .unwrap();
    }
}

/// `broker.consumer(group, topics)` while `member`, already in the group,
/// keeps polling, as a running consumer does (a member takes part in a
/// rebalance only while it polls). Returns the new consumer and what
/// `member` read meanwhile.
async fn join_while_polling(
    broker: &dyn Broker,
    group: &str,
    topics: &[&str],
    member: &mut dyn Consumer,
) -> (Box<dyn Consumer>, Vec<Record>) {
    let mut joining = std::pin::pin!(broker.consumer(group, topics));
    let mut read = Vec::new();
    loop {
        tokio::select! {
            joined = &mut joining => return (joined.unwrap(), read),
            batch = member.poll(1000, Duration::from_millis(100)) => read.extend(batch.unwrap()),
        }
    }
}

/// The payloads starting with `label` among `records`, each once.
fn payloads<'a>(records: impl IntoIterator<Item = &'a Record>, label: &str) -> BTreeSet<Bytes> {
    records
        .into_iter()
        .filter(|r| r.payload.starts_with(label.as_bytes()))
        .map(|r| r.payload.clone())
        .collect()
}

/// Consumers of one group split the partitions: once the second one joined
/// and the group settled, each new record is read once, by the one consumer
/// that holds its partition. (Before that, a partition that moved is read
/// again by its new holder, from the last commit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_of_one_group_split_the_partitions() {
    let Some(broker) = kafka_broker(4) else {
        return;
    };
    let producer = broker.producer();
    produce(producer.as_ref(), "split", "early", 40).await;
    // `a` is given every partition, then `b` joins and takes some of them.
    let mut a = broker.consumer("g", &["split"]).await.unwrap();
    let (mut b, mut ra) = join_while_polling(broker.as_ref(), "g", &["split"], a.as_mut()).await;
    // Once `b` has read, the group with both members is formed. Nothing is
    // committed, so the holder of a moved partition reads it again.
    let mut rb = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rb.is_empty() || payloads(ra.iter().chain(&rb), "early").len() < 40 {
        assert!(
            Instant::now() < deadline,
            "the group did not settle: {} and {} records read",
            ra.len(),
            rb.len()
        );
        let (batch_a, batch_b) = tokio::join!(
            a.poll(1000, Duration::from_millis(200)),
            b.poll(1000, Duration::from_millis(200))
        );
        ra.extend(batch_a.unwrap());
        rb.extend(batch_b.unwrap());
    }
    // Records produced now are read once each, by their partition's holder.
    produce(producer.as_ref(), "split", "late", 40).await;
    let late = |records: &[Record]| -> Vec<Record> {
        records
            .iter()
            .filter(|r| r.payload.starts_with(b"late"))
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (la, lb) = (late(&ra), late(&rb));
        if payloads(la.iter().chain(&lb), "late").len() == 40 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} and {} of the 40 late records read",
            la.len(),
            lb.len()
        );
        let (batch_a, batch_b) = tokio::join!(
            a.poll(1000, Duration::from_millis(200)),
            b.poll(1000, Duration::from_millis(200))
        );
        ra.extend(batch_a.unwrap());
        rb.extend(batch_b.unwrap());
    }
    // Nothing more comes (no late record twice).
    let (batch_a, batch_b) = tokio::join!(
        a.poll(1000, Duration::from_secs(1)),
        b.poll(1000, Duration::from_secs(1))
    );
    ra.extend(batch_a.unwrap());
    rb.extend(batch_b.unwrap());
    let (la, lb) = (late(&ra), late(&rb));
    assert_eq!(la.len() + lb.len(), 40, "every late record once");
    let pa: BTreeSet<u32> = la.iter().map(|r| r.partition).collect();
    let pb: BTreeSet<u32> = lb.iter().map(|r| r.partition).collect();
    assert!(pa.is_disjoint(&pb), "{pa:?} and {pb:?} overlap");
    assert!(
        !la.is_empty() && !lb.is_empty(),
        "{} and {}",
        la.len(),
        lb.len()
    );
    a.commit(&CommitOffset::after_all(&ra)).await.unwrap();
    b.commit(&CommitOffset::after_all(&rb)).await.unwrap();
    assert_eq!(broker.lag("g", "split").await.unwrap(), 0);
}

/// A consumer that commits what it read before a rebalance took some of its
/// partitions commits only those it still holds: the others' progress belongs
/// to their new holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_after_a_rebalance_keeps_to_the_partitions_still_held() {
    let Some(broker) = kafka_broker(4) else {
        return;
    };
    produce(broker.producer().as_ref(), "moved", "r", 40).await;
    let mut a = broker.consumer("g", &["moved"]).await.unwrap();
    let before = read_n(a.as_mut(), 40).await;
    let (mut b, _) = join_while_polling(broker.as_ref(), "g", &["moved"], a.as_mut()).await;
    // `a` commits everything it read, as if it had been slow to notice.
    // It may commit nothing until it polled its new partitions in.
    let stale = CommitOffset::after_all(&before);
    assert_eq!(stale.len(), 4);
    let deadline = Instant::now() + Duration::from_secs(30);
    let lag = loop {
        a.commit(&stale).await.unwrap();
        let lag = broker.lag("g", "moved").await.unwrap();
        if lag < 40 {
            break lag;
        }
        assert!(Instant::now() < deadline, "the commits of `a` never took");
        a.poll(1000, Duration::from_millis(100)).await.unwrap();
    };
    assert!(
        lag > 0,
        "the commit of `a` overwrote the progress of the partitions `b` holds"
    );
    // What is left uncommitted is exactly what `b` holds: it reads that.
    let moved = read_n(b.as_mut(), usize::try_from(lag).unwrap()).await;
    assert!(
        b.poll(1000, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty(),
        "`b` holds more than the uncommitted partitions"
    );
    let mut held: Vec<Bytes> = moved.iter().map(|r| r.payload.clone()).collect();
    held.sort();
    held.dedup();
    assert_eq!(held.len(), moved.len());
    assert_eq!(broker.lag("g", "moved").await.unwrap(), lag);
}

/// Dropping a consumer leaves its group (the group need not wait for its
/// session to time out before giving its partitions to another consumer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_consumer_leaves_its_group() {
    let Some(mut config) = kafka_config(2) else {
        return;
    };
    config.session_timeout = Duration::from_secs(30);
    let broker = KafkaBroker::new(config).unwrap();
    produce(broker.producer().as_ref(), "leave", "r", 10).await;
    let mut a = broker.consumer("g", &["leave"]).await.unwrap();
    read_n(a.as_mut(), 10).await;
    drop(a);
    let started = Instant::now();
    let mut b = broker.consumer("g", &["leave"]).await.unwrap();
    read_n(b.as_mut(), 10).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the next consumer waited {:?} for the group: the dropped one did not leave",
        started.elapsed()
    );
}

/// A mock cluster (librdkafka's, in process) where `topic` exists with
/// `partitions` partitions, and a broker on it.
fn mock_broker(
    topic: &str,
    partitions: i32,
) -> (MockCluster<'static, DefaultProducerContext>, KafkaBroker) {
    let cluster = MockCluster::new(1).unwrap();
    cluster
        .create_topic(&format!("m-{topic}"), partitions, 1)
        .unwrap();
    let mut config = KafkaConfig::new(cluster.bootstrap_servers());
    config.prefix = "m-".into();
    config.request_timeout = Duration::from_secs(5);
    let broker = KafkaBroker::new(config).unwrap();
    (cluster, broker)
}

/// A runtime of one thread, for a test that must drop it before the mock
/// cluster (the drop waits for the consumers' closing).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A topic that exists is used without asking the cluster to create it,
/// which the credentials of a service may not allow (the mock cluster does
/// not implement CreateTopics at all).
#[test]
fn existing_topics_are_used_without_creating_them() {
    let (cluster, broker) = mock_broker("events", 2);
    let runtime = runtime();
    runtime.block_on(async {
        let position = broker
            .producer()
            .produce(
                "events",
                Some(Bytes::from_static(b"k")),
                Bytes::from_static(b"v"),
            )
            .await
            .unwrap();
        assert!(position.partition < 2, "{position:?}");
        let mut consumer = broker.consumer("g", &["events"]).await.unwrap();
        let records = read_n(consumer.as_mut(), 1).await;
        assert_eq!(records[0].payload, "v");
        consumer
            .commit(&CommitOffset::after_all(&records))
            .await
            .unwrap();
        assert_eq!(broker.lag("g", "events").await.unwrap(), 0);
        // A topic that is missing is still created: here that fails.
        let missing = broker
            .producer()
            .produce("missing", None, Bytes::from_static(b"v"))
            .await;
        assert!(
            matches!(missing, Err(StreamError::Backend { .. })),
            "{missing:?}"
        );
    });
    drop(runtime);
    drop(broker);
    drop(cluster);
}

/// Dropping a consumer leaves its group, which waits for the broker (slow
/// here): the drop hands that to a blocking thread instead of holding up the
/// async thread it runs on, and the runtime's shutdown waits for it.
#[test]
fn dropping_a_consumer_does_not_block_the_runtime() {
    let (cluster, broker) = mock_broker("slow", 1);
    let runtime = runtime();
    let consumer = runtime.block_on(broker.consumer("g", &["slow"])).unwrap();
    cluster
        .broker_round_trip_time(-1, Duration::from_secs(2))
        .unwrap();
    let dropped = runtime.block_on(async move {
        let started = Instant::now();
        drop(consumer);
        started.elapsed()
    });
    let started = Instant::now();
    drop(runtime);
    let closed = started.elapsed();
    assert!(
        dropped < Duration::from_millis(500),
        "the drop took {dropped:?}"
    );
    assert!(
        closed >= Duration::from_secs(1),
        "closing took {closed:?}: it did not wait for the broker"
    );
    drop(broker);
    drop(cluster);
}

#[test]
fn urls_configure_the_backend() {
    let config = KafkaConfig::from_url(
        "kafka://k1:9092,k2:9092?partitions=12&replication_factor=3&prefix=prod-&security.protocol=ssl",
    )
    .unwrap();
    assert_eq!(config.brokers, "k1:9092,k2:9092");
    assert_eq!(config.partitions, 12);
    assert_eq!(config.replication_factor, 3);
    assert_eq!(config.prefix, "prod-");
    assert_eq!(
        config.options,
        [("security.protocol".to_owned(), "ssl".to_owned())]
    );
    let defaults = KafkaConfig::from_url("kafka://127.0.0.1:9092/").unwrap();
    assert_eq!(defaults, KafkaConfig::new("127.0.0.1:9092"));
    assert_eq!(defaults.session_timeout, Duration::from_secs(6));
    for bad in [
        "kafka://",
        "kafka://host",
        "kafka://h:1?partitions=many",
        "kafka://h:1?colour=blue",
        "kafka://h:1?prefix=a/b",
        "kafka://h:1?novalue",
    ] {
        assert!(
            matches!(
                KafkaConfig::from_url(bad),
                Err(StreamError::InvalidUrl { .. } | StreamError::InvalidName { .. })
            ),
            "{bad}"
        );
    }
}
