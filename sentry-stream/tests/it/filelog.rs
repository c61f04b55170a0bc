//! Behaviour specific to the file log: reopening, recovery of a torn tail,
//! segment rolls, retention, limits, the directory lock, URLs.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sentry_stream::{Broker, CommitOffset, FileLog, LogConfig, StreamError};

use crate::util::{file_log, read_all, read_n, segment_files};

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("payload number {i:05} {}", "x".repeat(60)))
}

fn small_segments(dir: &std::path::Path) -> LogConfig {
    let mut config = LogConfig::new(dir);
    config.segment_bytes = 1024;
    config
}

#[tokio::test]
async fn reopen_after_drop_keeps_records_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = file_log(dir.path(), 3);
    let producer = log.producer();
    for i in 0..90 {
        producer.produce("events", None, payload(i)).await.unwrap();
    }
    let mut consumer = log.consumer("g", &["events"]).await.unwrap();
    let records = read_n(consumer.as_mut(), 30).await;
    let commits: Vec<CommitOffset> = records.iter().map(CommitOffset::after).collect();
    consumer.commit(&commits).await.unwrap();
    drop((consumer, producer, log));

    // Partition count comes from disk, not from the config.
    let log = file_log(dir.path(), 1);
    assert_eq!(log.lag("g", "events").await.unwrap(), 60);
    assert_eq!(log.lag("fresh", "events").await.unwrap(), 90);
    let mut consumer = log.consumer("g", &["events"]).await.unwrap();
    let rest = read_all(consumer.as_mut()).await;
    assert_eq!(rest.len(), 60);
    let mut fresh = log.consumer("fresh", &["events"]).await.unwrap();
    let all = read_all(fresh.as_mut()).await;
    assert_eq!(all.len(), 90);
    let mut seen: Vec<Bytes> = all.iter().map(|r| r.payload.clone()).collect();
    seen.sort();
    assert_eq!(seen, (0..90).map(payload).collect::<Vec<_>>());
    // New records continue the offsets.
    let p = log
        .producer()
        .produce("events", None, payload(90))
        .await
        .unwrap();
    assert_eq!(p.offset, 30);
}

async fn write_and_close(dir: &std::path::Path, count: usize) {
    let log = file_log(dir, 1);
    for i in 0..count {
        log.producer().produce("t", None, payload(i)).await.unwrap();
    }
}

#[tokio::test]
async fn torn_tail_garbage_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    write_and_close(dir.path(), 10).await;
    let segment = &segment_files(&dir.path().join("t/0"))[0];
    let clean_len = std::fs::metadata(segment).unwrap().len();
    let mut file = OpenOptions::new().append(true).open(segment).unwrap();
    file.write_all(b"\x40\x00\x00\x00garbage from a crash mid-write")
        .unwrap();
    drop(file);

    let log = file_log(dir.path(), 1);
    assert_eq!(std::fs::metadata(segment).unwrap().len(), clean_len);
    let mut consumer = log.consumer("g", &["t"]).await.unwrap();
    let records = read_all(consumer.as_mut()).await;
    assert_eq!(records.len(), 10);
    assert_eq!(records[9].payload, payload(9));
    assert_eq!(
        log.producer()
            .produce("t", None, payload(10))
            .await
            .unwrap()
            .offset,
        10
    );
    assert_eq!(read_n(consumer.as_mut(), 1).await[0].payload, payload(10));
}

#[tokio::test]
async fn torn_tail_mid_record_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    write_and_close(dir.path(), 10).await;
    let segment = &segment_files(&dir.path().join("t/0"))[0];
    let len = std::fs::metadata(segment).unwrap().len();
    // Cut the last record in the middle of its payload.
    OpenOptions::new()
        .write(true)
        .open(segment)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let log = file_log(dir.path(), 1);
    let mut consumer = log.consumer("g", &["t"]).await.unwrap();
    let records = read_all(consumer.as_mut()).await;
    let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..9).collect::<Vec<_>>());
    assert_eq!(
        log.producer()
            .produce("t", None, payload(99))
            .await
            .unwrap()
            .offset,
        9
    );
    drop((consumer, log));

    // A flipped bit in the last record is a corrupt tail too.
    let len = std::fs::metadata(segment).unwrap().len();
    let mut bytes = std::fs::read(segment).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x10;
    std::fs::write(segment, &bytes).unwrap();
    let log = file_log(dir.path(), 1);
    assert!(std::fs::metadata(segment).unwrap().len() < len);
    let mut consumer = log.consumer("g", &["t"]).await.unwrap();
    assert_eq!(read_all(consumer.as_mut()).await.len(), 9);
}

#[tokio::test]
async fn segments_roll_and_are_read_across() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Broker> = Arc::new(FileLog::open(small_segments(dir.path())).unwrap());
    let producer = log.producer();
    for i in 0..100 {
        producer.produce("roll", None, payload(i)).await.unwrap();
    }
    let files = segment_files(&dir.path().join("roll/0"));
    assert!(files.len() >= 8, "{} segments", files.len());
    for file in &files[..files.len() - 1] {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(
            (1024..1024 + 200).contains(&len),
            "{}: {len}",
            file.display()
        );
    }
    // File names are the base offsets: 20 digits.
    let first = files[1].file_stem().unwrap().to_str().unwrap();
    assert_eq!(first.len(), 20);
    assert!(first.parse::<u64>().unwrap() > 0);

    let mut consumer = log.consumer("g", &["roll"]).await.unwrap();
    let records = read_all(consumer.as_mut()).await;
    let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.payload == payload(i))
    );

    // A commit in the middle of a segment is found again after a reopen.
    consumer
        .commit(&[CommitOffset::after(&records[56])])
        .await
        .unwrap();
    drop((consumer, producer, log));
    let log: Arc<dyn Broker> = Arc::new(FileLog::open(small_segments(dir.path())).unwrap());
    let mut consumer = log.consumer("g", &["roll"]).await.unwrap();
    let rest = read_all(consumer.as_mut()).await;
    assert_eq!(rest.first().map(|r| r.offset), Some(57));
    assert_eq!(rest.len(), 43);
}

#[tokio::test]
async fn retention_by_bytes_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_segments(dir.path());
    config.retention_bytes = Some(4096);
    let log: Arc<dyn Broker> = Arc::new(FileLog::open(config).unwrap());
    let producer = log.producer();
    producer.produce("ret", None, payload(0)).await.unwrap();
    // A consumer that read one record, then fell far behind.
    let mut slow = log.consumer("slow", &["ret"]).await.unwrap();
    assert_eq!(read_n(slow.as_mut(), 1).await[0].offset, 0);
    for i in 1..300 {
        producer.produce("ret", None, payload(i)).await.unwrap();
    }
    let files = segment_files(&dir.path().join("ret/0"));
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(
        total <= 4096 + 1300,
        "{total} bytes in {} segments",
        files.len()
    );
    let earliest: u64 = files[0]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(earliest > 200, "earliest {earliest}");

    // The slow consumer continues at the earliest retained record.
    let records = read_all(slow.as_mut()).await;
    assert_eq!(records[0].offset, earliest);
    assert_eq!(records.last().unwrap().offset, 299);
    assert_eq!(records.len() as u64, 300 - earliest);
    // A new group starts there too, and lag counts only retained records.
    assert_eq!(log.lag("new", "ret").await.unwrap(), 300 - earliest);
    let mut fresh = log.consumer("new", &["ret"]).await.unwrap();
    assert_eq!(read_n(fresh.as_mut(), 1).await[0].offset, earliest);
}

#[tokio::test]
async fn retention_by_age_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_segments(dir.path());
    config.retention_age = Some(Duration::from_millis(500));
    let log: Arc<dyn Broker> = Arc::new(FileLog::open(config).unwrap());
    let producer = log.producer();
    for i in 0..50 {
        producer.produce("age", None, payload(i)).await.unwrap();
    }
    let before = segment_files(&dir.path().join("age/0"));
    assert!(before.len() > 3);
    tokio::time::sleep(Duration::from_millis(700)).await;
    // The next roll runs retention.
    for i in 50..70 {
        producer.produce("age", None, payload(i)).await.unwrap();
    }
    let after = segment_files(&dir.path().join("age/0"));
    let earliest: u64 = after[0]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        earliest >= 40,
        "earliest {earliest}, {} segments",
        after.len()
    );
    assert!(!after.contains(&before[0]));
    let mut consumer = log.consumer("g", &["age"]).await.unwrap();
    let records = read_all(consumer.as_mut()).await;
    assert_eq!(records[0].offset, earliest);
    assert_eq!(records.last().unwrap().offset, 69);
}

#[tokio::test]
async fn record_over_max_record_bytes_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LogConfig::new(dir.path());
    config.max_record_bytes = 1000;
    let log = FileLog::open(config).unwrap();
    let producer = log.producer();
    let err = producer
        .produce("big", None, Bytes::from(vec![1; 1001]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::RecordTooLarge {
                size: 1001,
                limit: 1000
            }
        ),
        "{err}"
    );
    // The key counts.
    let err = producer
        .produce(
            "big",
            Some(Bytes::from(vec![2; 10])),
            Bytes::from(vec![1; 995]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::RecordTooLarge { .. }));
    let p = producer
        .produce("big", None, Bytes::from(vec![1; 1000]))
        .await
        .unwrap();
    assert_eq!(p.offset, 0);
}

#[tokio::test]
async fn second_open_of_a_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(LogConfig::new(dir.path())).unwrap();
    let err = FileLog::open(LogConfig::new(dir.path())).unwrap_err();
    assert!(
        matches!(err, StreamError::Locked { pid, .. } if pid == std::process::id()),
        "{err}"
    );
    assert!(err.to_string().contains("already open"), "{err}");
    // A producer keeps the log open; the last handle releases the lock.
    let producer = log.producer();
    drop(log);
    assert!(FileLog::open(LogConfig::new(dir.path())).is_err());
    drop(producer);
    FileLog::open(LogConfig::new(dir.path())).unwrap();
}

#[tokio::test]
async fn invalid_config_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LogConfig::new(dir.path());
    config.partitions = 0;
    assert!(matches!(
        FileLog::open(config).unwrap_err(),
        StreamError::InvalidConfig(_)
    ));
    let mut config = LogConfig::new(dir.path());
    config.max_record_bytes = u64::MAX;
    assert!(matches!(
        FileLog::open(config).unwrap_err(),
        StreamError::InvalidConfig(_)
    ));
}

#[tokio::test]
async fn open_picks_the_backend_from_the_url() {
    let memory = sentry_stream::open("memory://").await.unwrap();
    memory
        .producer()
        .produce("t", None, payload(0))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("stream").display());
    let file = sentry_stream::open(&url).await.unwrap();
    file.producer()
        .produce("t", None, payload(0))
        .await
        .unwrap();
    assert!(dir.path().join("stream/t/0").is_dir());

    for url in ["redpanda://localhost:9092", "no-scheme"] {
        let err = sentry_stream::open(url).await.err().unwrap();
        assert!(
            matches!(err, StreamError::UnknownScheme { .. }),
            "{url}: {err}"
        );
    }
    // Kafka: opened (it connects lazily) with the feature, named as left
    // out without it.
    let kafka = sentry_stream::open("kafka://127.0.0.1:9?request_timeout_ms=100").await;
    if cfg!(feature = "kafka") {
        assert!(kafka.is_ok(), "{:?}", kafka.err());
    } else {
        let err = kafka.err().unwrap();
        assert!(matches!(err, StreamError::NotBuilt { .. }), "{err}");
    }
    let err = sentry_stream::open("file://relative/dir")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StreamError::InvalidUrl { .. }), "{err}");
}

/// Regression: a consumer that had read to the end of the active segment
/// kept the file length of that moment; when the segment later rolled, the
/// stale length looked like a gap and records were skipped.
#[tokio::test]
async fn consumer_at_the_tail_keeps_up_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Broker> = Arc::new(FileLog::open(small_segments(dir.path())).unwrap());
    let producer = log.producer();
    let mut consumer = log.consumer("g", &["tail"]).await.unwrap();
    let mut offsets = Vec::new();
    for i in 0..60 {
        producer.produce("tail", None, payload(i)).await.unwrap();
        if i % 4 == 0 {
            offsets.extend(read_all(consumer.as_mut()).await.iter().map(|r| r.offset));
        }
    }
    offsets.extend(read_all(consumer.as_mut()).await.iter().map(|r| r.offset));
    assert!(segment_files(&dir.path().join("tail/0")).len() > 4);
    assert_eq!(offsets, (0..60).collect::<Vec<_>>());
}

/// A cancelled poll does not move the consumer's position.
#[tokio::test]
async fn cancelled_poll_keeps_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let log = file_log(dir.path(), 1);
    let mut consumer = log.consumer("g", &["cancel"]).await.unwrap();
    {
        let poll = consumer.poll(10, Duration::from_secs(30));
        let _ = tokio::time::timeout(Duration::from_millis(50), poll).await;
    }
    for i in 0..5 {
        log.producer()
            .produce("cancel", None, payload(i))
            .await
            .unwrap();
    }
    let offsets: Vec<u64> = read_all(consumer.as_mut())
        .await
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
}
