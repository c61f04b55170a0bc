//! Produce throughput of the file log: 64 concurrent producers of 5 KB
//! records. Ignored by default; run it in release mode:
//!
//! ```text
//! cargo test -p sentry-stream --release --test it -- --ignored --nocapture rate::
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_stream::{FileLog, LogConfig, Producer};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn produce_rate_64_producers_5kb() {
    const PRODUCERS: usize = 64;
    const RECORD_BYTES: usize = 5 * 1024;
    const DURATION: Duration = Duration::from_secs(5);

    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(LogConfig::new(dir.path())).unwrap();
    let payload = Bytes::from(vec![b'e'; RECORD_BYTES]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..PRODUCERS {
        let log = log.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut count = 0u64;
            while started.elapsed() < DURATION {
                log.produce("ingest-events", None, payload.clone())
                    .await
                    .unwrap();
                count += 1;
            }
            count
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = total as f64 / elapsed;
    println!(
        "file log: {total} records of {RECORD_BYTES} bytes by {PRODUCERS} producers in {elapsed:.2} s: \
         {rate:.0} records/s, {:.1} MB/s",
        rate * RECORD_BYTES as f64 / 1e6
    );
}
