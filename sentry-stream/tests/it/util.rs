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
