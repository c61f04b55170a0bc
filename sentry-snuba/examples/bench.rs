//! Event store benchmark: the Snuba consumer's ingest rate, then the
//! latency of the issue list and of Discover queries over what it wrote.
//!
//! ```text
//! cargo run --release -p sentry-snuba --example bench -- sqlite:///tmp/bench.sqlite 1000000
//! cargo run --release -p sentry-snuba --example bench -- clickhouse://127.0.0.1:18123/bench 1000000
//! ```
//!
//! The events (one project, 2,000 issues, 14 days, five browsers, 10,000
//! users) go into an in-memory stream first; the consumer is timed from its
//! start until it has committed the last one. Each query runs seven times;
//! the median and the slowest are printed. The store is emptied first
//! (SQLite: the file is replaced; ClickHouse: the database is dropped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_snuba::clickhouse::ClickHouseEventStore;
use sentry_snuba::consumer::{
    SNUBA_CONSUMER_GROUP, SnubaConsumerConfig, SnubaConsumerStats, run_snuba_consumer,
};
use sentry_snuba::eventstream::{InsertEvent, InsertState, Message};
use sentry_snuba::store::run_snql;
use sentry_stream::{Broker, MemoryBroker, topics};
use serde_json::json;

const DAY: i64 = 86_400;

fn message(i: u64, now: i64) -> Bytes {
    let group = (i * 7919) % 2000;
    let timestamp = now - ((i * 104_729) % (14 * DAY as u64)) as i64;
    let browsers = ["Chrome", "Firefox", "Safari", "Edge", "Opera"];
    let levels = ["error", "error", "error", "warning", "fatal"];
    let event = InsertEvent {
        group_id: group + 1,
        event_id: format!("{:032x}", i + 1),
        organization_id: Some(1),
        project_id: 1,
        primary_hash: format!("{group:032x}"),
        message: format!("ValueError: bad value {group}"),
        platform: Some("python".into()),
        datetime: String::new(),
        data: json!({
            "timestamp": timestamp,
            "level": levels[(i % 5) as usize],
            "platform": "python",
            "release": format!("app@1.{}", i % 20),
            "environment": if i % 3 == 0 { "staging" } else { "production" },
            "title": format!("ValueError: bad value {group}"),
            "culprit": format!("app.views in handler_{group}"),
            "tags": [["browser.name", browsers[(i % 5) as usize]], ["sentry:user", format!("id:{}", i % 10_000)]],
            "user": {"id": i % 10_000, "email": format!("user{}@example.com", i % 10_000)},
            "contexts": {"browser": {"name": browsers[(i % 5) as usize]}, "os": {"name": "Linux"}},
            "exception": {"values": [{"type": "ValueError", "value": format!("bad value {group}"),
                "stacktrace": {"frames": [{"function": "handler", "filename": "app/views.py", "in_app": true}]}}]},
        }),
    };
    Bytes::from(Message::Insert(event, InsertState::default()).encode())
}

fn time_lit(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("'%Y-%m-%dT%H:%M:%S'")
        .to_string()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite:///tmp/sentry-bench-events.sqlite".into());
    let total: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;

    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    } else if let Some(rest) = url.strip_prefix("clickhouse://") {
        let (authority, database) = rest.split_once('/').unwrap_or((rest, "bench"));
        ClickHouseEventStore::new(&format!("http://{authority}/"), database)?
            .drop_database()
            .await?;
    }
    let store = sentry_snuba::store::open(&url).await?;
    let now = unix_now();

    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let producer = broker.producer();
    for i in 0..total {
        producer
            .produce(topics::EVENTS, None, message(i, now))
            .await?;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stats = Arc::new(SnubaConsumerStats::default());
    let started = Instant::now();
    let consumer = tokio::spawn(run_snuba_consumer(
        broker.clone(),
        store.clone(),
        SnubaConsumerConfig::default(),
        stats.clone(),
        stopped,
    ));
    while broker.lag(SNUBA_CONSUMER_GROUP, topics::EVENTS).await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    stop.send(true)?;
    consumer.await??;
    println!(
        "{}: consumer wrote {total} rows in {:.1} s: {:.0} rows/s ({} batches)",
        store.backend(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        stats.batches.load(std::sync::atomic::Ordering::Relaxed)
    );

    let range = format!(
        "project_id IN (1) AND timestamp >= {} AND timestamp < {}",
        time_lit(now - 14 * DAY),
        time_lit(now + 1)
    );
    let queries = [
        (
            "issue list (2,000 issues, top 25 by last seen)",
            format!(
                "MATCH (events) SELECT count() AS times_seen, uniq(user) AS users, \
                 min(timestamp) AS first_seen, max(timestamp) AS last_seen BY group_id \
                 WHERE {range} ORDER BY last_seen DESC LIMIT 25"
            ),
        ),
        (
            "issue search (browser and level, times_seen > 100)",
            format!(
                "MATCH (events) SELECT max(timestamp) AS last_seen BY group_id \
                 WHERE {range} AND tags[browser.name] = 'Firefox' AND level = 'error' \
                 HAVING count() > 100 ORDER BY last_seen DESC LIMIT 10000"
            ),
        ),
        (
            "discover (count and users by browser, level:error)",
            format!(
                "MATCH (events) SELECT count() AS c, uniq(user) AS u BY browser_name \
                 WHERE {range} AND level = 'error' ORDER BY c DESC LIMIT 51"
            ),
        ),
        (
            "discover (latest 50 events with a wildcard email)",
            format!(
                "MATCH (events) SELECT event_id, title, user_email, timestamp \
                 WHERE {range} AND user_email LIKE 'user12%' ORDER BY timestamp DESC LIMIT 51"
            ),
        ),
        (
            "issue stats (one issue, 14 days by hour)",
            format!(
                "MATCH (events) SELECT count() AS c BY time WHERE {range} AND group_id = 7 \
                 LIMIT 1000 GRANULARITY 3600"
            ),
        ),
    ];
    for (name, snql) in &queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..7 {
            let (result, timing) = run_snql(store.as_ref(), snql).await?;
            rows = result.data.len();
            times.push(timing.duration_ms);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{}: {name}: median {:.1} ms, slowest {:.1} ms ({rows} rows)",
            store.backend(),
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    Ok(())
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
