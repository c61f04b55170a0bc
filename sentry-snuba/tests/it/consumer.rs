//! The Snuba consumer and the replacer, on SQLite and on a real ClickHouse
//! that is stopped and started again mid-stream.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_snuba::clickhouse::ClickHouseEventStore;
use sentry_snuba::consumer::{
    DEAD_LETTER_TOPIC, SNUBA_CONSUMER_GROUP, SnubaConsumerConfig, SnubaConsumerStats,
    run_snuba_consumer,
};
use sentry_snuba::eventstream::{
    DeleteGroups, InsertEvent, InsertState, MergeGroups, Message, TombstoneEvents,
};
use sentry_snuba::replacer::{REPLACER_GROUP, ReplacerStats, run_replacer};
use sentry_snuba::store::{EventStore, run_snql};
use sentry_stream::{Broker, MemoryBroker, topics};
use serde_json::{Value as Json, json};
use tokio::sync::watch;

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600;

fn event_id(i: u64) -> String {
    format!("{i:032x}")
}

/// The `events` message of event `i`: five issues, alternating browsers.
fn insert(project_id: u64, i: u64) -> Bytes {
    let event = InsertEvent {
        group_id: 1 + i % 5,
        event_id: event_id(i),
        organization_id: Some(1),
        project_id,
        primary_hash: format!("hash{}", i % 5),
        message: format!("ValueError: bad {}", i % 5),
        platform: Some("python".into()),
        datetime: String::new(),
        data: json!({
            "timestamp": T0 + (i % 3600) as i64,
            "level": "error",
            "platform": "python",
            "title": format!("ValueError: bad {}", i % 5),
            "tags": [["browser.name", if i % 2 == 0 { "Chrome" } else { "Firefox" }]],
            "user": {"id": i % 7},
            "exception": {"values": [{"type": "ValueError", "value": "bad"}]},
        }),
    };
    Bytes::from(Message::Insert(event, InsertState::default()).encode())
}

async fn count(store: &dyn EventStore, project_id: u64, extra: &str) -> Vec<Json> {
    let query = format!(
        "MATCH (events) SELECT count() AS c, uniq(event_id) AS u WHERE project_id = {project_id} \
         AND timestamp >= '2024-05-01T00:00:00' AND timestamp < '2024-05-02T00:00:00' {extra}"
    );
    let (result, _) = run_snql(store, &query).await.expect("query");
    vec![result.data[0]["c"].clone(), result.data[0]["u"].clone()]
}

async fn wait_for_lag_zero(broker: &dyn Broker, group: &str, topic: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        if broker.lag(group, topic).await.expect("lag") == 0 {
            return;
        }
        assert!(started.elapsed() < limit, "{group} still behind on {topic}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn consumer_writes_batches_then_commits_and_the_replacer_applies_changes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.sqlite").display());
    let store = sentry_snuba::store::open(&url).await.unwrap();
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let producer = broker.producer();
    let project = 3;
    for i in 0..2500 {
        producer
            .produce(topics::EVENTS, Some(Bytes::from("3")), insert(project, i))
            .await
            .unwrap();
    }
    // Redelivered events replace their rows; a bad message goes aside.
    for i in 0..10 {
        producer
            .produce(topics::EVENTS, None, insert(project, i))
            .await
            .unwrap();
    }
    producer
        .produce(
            topics::EVENTS,
            None,
            Bytes::from_static(b"[2, \"insert\", {\"nope\": 1}]"),
        )
        .await
        .unwrap();

    let (stop, stopped) = watch::channel(false);
    let stats = Arc::new(SnubaConsumerStats::default());
    let config = SnubaConsumerConfig {
        batch_time: Duration::from_millis(200),
        ..SnubaConsumerConfig::default()
    };
    let consumer = tokio::spawn(run_snuba_consumer(
        broker.clone(),
        store.clone(),
        config,
        stats.clone(),
        stopped.clone(),
    ));
    let replacer_stats = Arc::new(ReplacerStats::default());
    let replacer = tokio::spawn(run_replacer(
        broker.clone(),
        store.clone(),
        replacer_stats.clone(),
        stopped.clone(),
    ));
    wait_for_lag_zero(
        broker.as_ref(),
        SNUBA_CONSUMER_GROUP,
        topics::EVENTS,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        count(store.as_ref(), project, "").await,
        vec![json!(2500), json!(2500)]
    );
    // Full batches of 1000 rows, then the rest.
    assert!(stats.batches.load(Ordering::Relaxed) >= 3);
    assert_eq!(stats.dead_letters.load(Ordering::Relaxed), 1);
    assert_eq!(broker.lag("check", DEAD_LETTER_TOPIC).await.unwrap(), 1);
    // One commit-log record per written batch and partition.
    assert!(broker.lag("check", topics::SNUBA_COMMIT_LOG).await.unwrap() >= 3);

    // Merge issue 2 into 1, delete issue 3, tombstone one event of issue 4.
    let messages = [
        Message::EndMerge(MergeGroups {
            project_id: project,
            previous_group_ids: vec![2],
            new_group_id: 1,
            datetime: "2024-05-01T12:00:00Z".into(),
        }),
        Message::EndDeleteGroups(DeleteGroups {
            project_id: project,
            group_ids: vec![3],
            datetime: "2024-05-01T12:00:00Z".into(),
        }),
        Message::TombstoneEvents(TombstoneEvents {
            project_id: project,
            event_ids: vec![event_id(3)],
        }),
    ];
    for message in &messages {
        producer
            .produce(topics::EVENTS, None, Bytes::from(message.encode()))
            .await
            .unwrap();
    }
    wait_for_lag_zero(
        broker.as_ref(),
        SNUBA_CONSUMER_GROUP,
        topics::EVENTS,
        Duration::from_secs(30),
    )
    .await;
    wait_for_lag_zero(
        broker.as_ref(),
        REPLACER_GROUP,
        sentry_snuba::replacer::EVENT_REPLACEMENTS,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(replacer_stats.applied.load(Ordering::Relaxed), 3);
    for (filter, visible) in [
        ("AND group_id = 2", 0),
        ("AND group_id = 1", 1000),
        ("AND group_id = 3", 0),
        ("AND group_id = 4", 499),
        ("", 2500 - 500 - 1),
    ] {
        assert_eq!(
            count(store.as_ref(), project, filter).await[0],
            json!(visible),
            "{filter}"
        );
    }

    stop.send(true).unwrap();
    consumer.await.unwrap().unwrap();
    replacer.await.unwrap().unwrap();
}

/// An empty database `name` on the ClickHouse server at `url` (its HTTP
/// interface), and the event store opened on it by URL.
async fn fresh_clickhouse(url: &str, name: &str) -> (ClickHouseEventStore, Arc<dyn EventStore>) {
    let http = ClickHouseEventStore::new(url, name).expect("clickhouse url");
    http.drop_database().await.expect("drop database");
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let store = sentry_snuba::store::open(&format!("clickhouse://{authority}/{name}"))
        .await
        .expect("open clickhouse");
    (http, store)
}

/// Runs `scripts/services.sh` with `args`.
fn services(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .expect("running services.sh");
    assert!(status.success(), "services.sh {args:?} failed");
}

#[tokio::test]
async fn consumer_survives_a_clickhouse_restart_without_losing_or_doubling_rows() {
    let Some(url) = crate::clickhouse_url() else {
        return;
    };
    let _only_user = crate::CLICKHOUSE.lock().await;
    let (http, store) = fresh_clickhouse(&url, "sentry_test_restart").await;
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let (stop, stopped) = watch::channel(false);
    let stats = Arc::new(SnubaConsumerStats::default());
    let consumer = tokio::spawn(run_snuba_consumer(
        broker.clone(),
        store.clone(),
        SnubaConsumerConfig::default(),
        stats.clone(),
        stopped.clone(),
    ));

    // 12,000 events over about six seconds; ClickHouse goes away after
    // the first two seconds and comes back some seconds later.
    let total = 12_000u64;
    let producer = broker.producer();
    let sender = tokio::spawn(async move {
        for i in 0..total {
            producer
                .produce(topics::EVENTS, None, insert(9, i))
                .await
                .unwrap();
            if i % 200 == 199 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::spawn_blocking(|| services(&["stop", "clickhouse"]))
        .await
        .unwrap();
    let written_before = stats.rows.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    tokio::task::spawn_blocking(|| services(&["start", "clickhouse"]))
        .await
        .unwrap();
    sender.await.unwrap();
    wait_for_lag_zero(
        broker.as_ref(),
        SNUBA_CONSUMER_GROUP,
        topics::EVENTS,
        Duration::from_secs(120),
    )
    .await;
    stop.send(true).unwrap();
    consumer.await.unwrap().unwrap();

    assert!(
        written_before > 0 && written_before < total,
        "the restart was mid-stream"
    );
    assert!(
        stats.write_retries.load(Ordering::Relaxed) > 0,
        "writes failed while it was down"
    );
    let raw = http
        .execute(
            "SELECT count(), uniqExact(event_id) FROM errors_local FORMAT TSV",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&raw).trim(),
        format!("{total}\t{total}")
    );
    assert_eq!(
        count(store.as_ref(), 9, "").await,
        vec![json!(total), json!(total)]
    );
    http.drop_database().await.unwrap();
}

/// Rows of `count` events of project 5, `age` seconds old.
fn rows_aged(count: u64, age: i64, first: u64) -> Vec<sentry_snuba::storage::Row> {
    let now = unix_now();
    (first..first + count)
        .map(|i| {
            let Message::Insert(mut event, _) = Message::decode(&insert(5, i)).expect("decode")
            else {
                unreachable!("insert() makes inserts")
            };
            event.data["timestamp"] = json!(now - age);
            sentry_snuba::row::error_row(&event).expect("row")
        })
        .collect()
}

async fn retention_on(store: &dyn EventStore) {
    let day = 86_400;
    store
        .insert(
            &sentry_snuba::entity::EVENTS,
            rows_aged(30, 200 * day, 0).into(),
        )
        .await
        .expect("insert old rows");
    store
        .insert(
            &sentry_snuba::entity::EVENTS,
            rows_aged(20, day, 100).into(),
        )
        .await
        .expect("insert new rows");
    let removed = store.expire(unix_now()).await.expect("expire");
    assert!(removed > 0, "{}: nothing expired", store.backend());
    let text = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .expect("time")
            .format("'%Y-%m-%dT%H:%M:%S'")
            .to_string()
    };
    let now = unix_now();
    let query = format!(
        "MATCH (events) SELECT count() AS c WHERE project_id = 5 \
         AND timestamp >= {} AND timestamp < {}",
        text(now - 400 * day),
        text(now + 1)
    );
    let (all, _) = run_snql(store, &query).await.expect("query");
    assert_eq!(all.data[0]["c"], json!(20), "{}", store.backend());
}

#[tokio::test]
async fn retention_removes_what_is_older_than_ninety_days() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.sqlite").display());
    retention_on(sentry_snuba::store::open(&url).await.unwrap().as_ref()).await;

    let Some(url) = crate::clickhouse_url() else {
        return;
    };
    let _only_user = crate::CLICKHOUSE.lock().await;
    let (http, store) = fresh_clickhouse(&url, "sentry_test_retention").await;
    retention_on(store.as_ref()).await;
    http.drop_database().await.unwrap();
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A batch with nothing but messages for the dead-letter topic is committed
/// (and announced on the commit log) after `batch_time`, not left waiting
/// for a row that may never come.
#[tokio::test]
async fn a_batch_of_dead_letters_only_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.sqlite").display());
    let store = sentry_snuba::store::open(&url).await.unwrap();
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    broker
        .producer()
        .produce(
            topics::EVENTS,
            Some(Bytes::from("3")),
            Bytes::from_static(b"[2, \"insert\", {\"nope\": 1}]"),
        )
        .await
        .unwrap();
    let (stop, stopped) = watch::channel(false);
    let stats = Arc::new(SnubaConsumerStats::default());
    let config = SnubaConsumerConfig {
        batch_time: Duration::from_millis(200),
        ..SnubaConsumerConfig::default()
    };
    let consumer = tokio::spawn(run_snuba_consumer(
        broker.clone(),
        store,
        config,
        stats.clone(),
        stopped,
    ));
    wait_for_lag_zero(
        broker.as_ref(),
        SNUBA_CONSUMER_GROUP,
        topics::EVENTS,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(stats.dead_letters.load(Ordering::Relaxed), 1);
    assert_eq!(
        broker.lag("check", topics::SNUBA_COMMIT_LOG).await.unwrap(),
        1
    );
    stop.send(true).unwrap();
    consumer.await.unwrap().unwrap();
}
