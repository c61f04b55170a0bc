//! Helpers shared by the test modules.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sentry_stream::{Broker, Consumer, FileLog, LogConfig, Record};

/// Polls until `count` records arrived (or fails after 20 s).
pub(crate) async fn read_n(consumer: &mut dyn Consumer, count: usize) -> Vec<Record> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "got {} of {count} records",
            out.len()
        );
        let batch = consumer
            .poll(count - out.len(), Duration::from_millis(200))
            .await
            .unwrap();
        out.extend(batch);
    }
    out
}

/// Asserts that a poll of up to `max` records, waiting up to `wait`,
/// returns none.
pub(crate) async fn assert_nothing_more(consumer: &mut dyn Consumer, max: usize, wait: Duration) {
    let records = consumer.poll(max, wait).await.unwrap();
    assert!(
        records.is_empty(),
        "expected no more records, got {records:?}"
    );
}

/// Polls until a poll times out, returning everything read.
pub(crate) async fn read_all(consumer: &mut dyn Consumer) -> Vec<Record> {
    let mut out = Vec::new();
    loop {
        let batch = consumer
            .poll(1000, Duration::from_millis(300))
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// Opens a file log in `dir` with `partitions` partitions, as a broker.
pub(crate) fn file_log(dir: &Path, partitions: u32) -> Arc<dyn Broker> {
    let mut config = LogConfig::new(dir);
    config.partitions = partitions;
    Arc::new(FileLog::open(config).unwrap())
}

/// The `.log` files of a partition directory, sorted.
pub(crate) fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// A Kafka broker on the server of `SENTRY_TEST_KAFKA_URL` whose topics and
/// groups carry a prefix of their own, so tests sharing the server do not
/// meet. `None` (after saying so) without the variable, except under CI
/// (`CI` set), where that fails.
#[cfg(feature = "kafka")]
pub(crate) fn kafka_broker(partitions: u32) -> Option<Arc<dyn Broker>> {
    let config = kafka_config(partitions)?;
    Some(Arc::new(sentry_stream::KafkaBroker::new(config).unwrap()))
}

/// The configuration [`kafka_broker`] uses, for a test that changes it.
#[cfg(feature = "kafka")]
pub(crate) fn kafka_config(partitions: u32) -> Option<sentry_stream::KafkaConfig> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const URL_VAR: &str = "SENTRY_TEST_KAFKA_URL";
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var_os("CI").is_some() => panic!(
            "{URL_VAR} is not set under CI: run `bash scripts/services.sh start kafka` and \
             `eval \"$(bash scripts/services.sh env kafka)\"` first (scripts/test.sh does)"
        ),
        _ => {
            eprintln!("skipped: {URL_VAR} is not set (bash scripts/services.sh start kafka)");
            return None;
        }
    };
    let mut config = sentry_stream::KafkaConfig::from_url(&url).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    config.prefix = format!(
        "t{nanos:x}-{}-{}-",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    config.partitions = partitions;
    Some(config)
}
