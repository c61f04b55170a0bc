//! What only the Kafka backend does: consumers of one group split the
//! partitions, and a URL configures it.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use sentry_stream::{CommitOffset, KafkaConfig, StreamError};

use crate::util::{kafka_broker, read_all};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_of_one_group_split_the_partitions() {
    let Some(broker) = kafka_broker(4) else {
        return;
    };
    let producer = broker.producer();
    for i in 0..40 {
        let key = Bytes::from(format!("project:{}", i % 8));
        producer
            .produce("split", Some(key), Bytes::from(format!("r{i}")))
            .await
            .unwrap();
    }
    // Both join before either reads, then each reads what it was given.
    let (a, b) = tokio::join!(
        broker.consumer("g", &["split"]),
        broker.consumer("g", &["split"])
    );
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    let (ra, rb) = tokio::join!(read_all(a.as_mut()), read_all(b.as_mut()));
    let pa: BTreeSet<u32> = ra.iter().map(|r| r.partition).collect();
    let pb: BTreeSet<u32> = rb.iter().map(|r| r.partition).collect();
    assert!(pa.is_disjoint(&pb), "{pa:?} and {pb:?} overlap");
    let mut payloads: Vec<Bytes> = ra.iter().chain(&rb).map(|r| r.payload.clone()).collect();
    payloads.sort();
    payloads.dedup();
    assert_eq!(
        payloads.len(),
        40,
        "every record once: {} and {}",
        ra.len(),
        rb.len()
    );
    assert!(
        !ra.is_empty() && !rb.is_empty(),
        "{} and {}",
        ra.len(),
        rb.len()
    );
    a.commit(&CommitOffset::after_all(&ra)).await.unwrap();
    b.commit(&CommitOffset::after_all(&rb)).await.unwrap();
    assert_eq!(broker.lag("g", "split").await.unwrap(), 0);
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
