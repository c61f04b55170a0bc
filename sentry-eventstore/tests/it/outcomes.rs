//! The outcomes consumer adds each record once, also when it reads records
//! again that were added before a crash but not committed to the stream.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sentry_envelope::DataCategory;
use sentry_eventstore::{
    OUTCOMES_CONSUMER_GROUP, OutcomeQuery, ReadRange, bootstrap, produce_outcome,
    run_outcomes_consumer,
};
use sentry_relay_core::outcome::{Outcome, OutcomeKind};
use sentry_stream::{Broker, MemoryBroker, topics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_read_again_are_not_added_twice() {
    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    let (org, project) = (
        boot.organization.id.unsigned_abs(),
        boot.project.id.unsigned_abs(),
    );
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let outcome = |quantity| Outcome {
        timestamp: t0,
        org_id: org,
        project_id: project,
        key_id: None,
        outcome: OutcomeKind::Accepted,
        reason: None,
        category: DataCategory::Error,
        quantity,
    };
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let producer = broker.producer();
    // Ten records of 1 each, all in the project's partition.
    for _ in 0..10 {
        produce_outcome(producer.as_ref(), &outcome(1))
            .await
            .unwrap();
    }
    // A run before the crash added the first six and stopped before its
    // stream commit.
    store
        .record_outcomes(
            &[outcome(6)],
            &[ReadRange {
                group: OUTCOMES_CONSUMER_GROUP.into(),
                topic: topics::OUTCOMES.into(),
                partition: partition_of(broker.as_ref()).await,
                first: 0,
                next: 6,
            }],
        )
        .await
        .unwrap();

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(run_outcomes_consumer(
        broker.clone(),
        store.clone(),
        shutdown,
    ));
    let total = || async {
        store
            .outcomes(&OutcomeQuery {
                org_id: org,
                project_ids: vec![project],
                start: t0,
                end: t0 + chrono::Duration::hours(1),
                interval_secs: 3600,
            })
            .await
            .unwrap()
            .iter()
            .map(|t| t.quantity)
            .sum::<u64>()
    };
    let waited = async {
        while broker
            .lag(OUTCOMES_CONSUMER_GROUP, topics::OUTCOMES)
            .await
            .unwrap()
            > 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waited)
        .await
        .expect("the consumer commits");
    assert_eq!(total().await, 10, "six added before, four now");

    // New records after that are added as usual.
    produce_outcome(producer.as_ref(), &outcome(5))
        .await
        .unwrap();
    let waited = async {
        while total().await != 15 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waited)
        .await
        .expect("the new record is added");
    stop.send(true).unwrap();
    consumer.await.unwrap().unwrap();
    assert_eq!(total().await, 15);
}

/// The partition the records of the test went to.
async fn partition_of(broker: &dyn Broker) -> u32 {
    let mut reader = broker.consumer("peek", &[topics::OUTCOMES]).await.unwrap();
    let records = reader.poll(1, Duration::from_secs(1)).await.unwrap();
    records[0].partition
}
