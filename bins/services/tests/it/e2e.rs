//! The real SDK traffic of the all-in-one tests, sent to `relay`, comes out
//! of `web` as the same issues and events.

use std::process::Command;

use crate::cluster::Cluster;
use crate::sdk_common;

#[test]
fn python_sdk_through_every_service() {
    let _shared = crate::faults::SHARED_SERVERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = sdk_common::sdk_dir("python");
    let ids = sdk_common::run_script(
        Command::new(sdk_common::python())
            .arg(dir.join("send.py"))
            .arg(&cluster.web.dsn)
            .current_dir(&dir),
        "send.py",
    );
    sdk_common::check_scenarios(&cluster.web, &ids, &sdk_common::python_expect(), 0);

    // What each service counted on the way.
    let scenarios = sdk_common::SCENARIOS.len() as f64;
    let stored = cluster.metric("relay", "sentry_envelopes_total", &["result=\"stored\""]);
    assert!(stored >= scenarios, "relay stored {stored}");
    let saved = cluster.metric(
        "ingest-consumer",
        "sentry_ingest_events_total",
        &["result=\"saved\""],
    );
    assert_eq!(saved, scenarios);
    let rows = cluster.wait_metric("snuba-consumer", "sentry_snuba_rows_total", &[], scenarios);
    assert!(rows >= scenarios, "snuba-consumer wrote {rows} rows");
    // Latencies and batch sizes, as histograms.
    let timed = cluster.metric("relay", "sentry_envelope_stored_seconds_count", &[]);
    assert!(timed >= scenarios, "relay timed {timed} envelopes");
    let under_30s = cluster.metric(
        "relay",
        "sentry_envelope_stored_seconds_bucket",
        &["le=\"30\""],
    );
    assert_eq!(under_30s, timed);
    let records = cluster.metric("ingest-consumer", "sentry_ingest_batch_records_sum", &[]);
    assert!(
        records >= scenarios,
        "ingest batches held {records} records"
    );
    let written = cluster.metric("snuba-consumer", "sentry_snuba_batch_rows_sum", &[]);
    assert_eq!(written, rows, "rows per batch add up to the rows written");
    let batches = cluster.metric("snuba-consumer", "sentry_snuba_write_seconds_count", &[]);
    assert!(batches >= 1.0);
    // Discover reads ClickHouse: every event is there, once.
    let found = cluster
        .web
        .get_json("/api/0/organizations/sentry/events/?field=count()&statsPeriod=24h");
    assert_eq!(
        found["data"][0]["count()"],
        sdk_common::SCENARIOS.len(),
        "{found:#}"
    );
    // The consumer commits after announcing the events: its lag reaches 0
    // (and the sample is there: a failed read would print none).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = cluster.metrics("ingest-consumer");
        let sample = text
            .lines()
            .find(|l| {
                l.starts_with("sentry_consumer_lag{") && l.contains("topic=\"ingest-events\"")
            })
            .map(str::to_owned);
        if sample.as_deref().is_some_and(|l| l.ends_with(" 0")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lag not 0: {sample:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let rss = cluster.metric("relay", "process_resident_memory_bytes", &[]);
    assert!(rss > 1e6, "relay RSS {rss}");
}

#[test]
fn node_sdk_through_every_service() {
    let _shared = crate::faults::SHARED_SERVERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = sdk_common::node_dir();
    let ids = sdk_common::run_script(
        Command::new("node")
            .arg(dir.join("send.mjs"))
            .arg(&cluster.web.dsn)
            .current_dir(&dir),
        "send.mjs",
    );
    sdk_common::check_scenarios(&cluster.web, &ids, &sdk_common::node_expect(), 0);
}

#[test]
fn rust_sdk_through_every_service() {
    let _shared = crate::faults::SHARED_SERVERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // The SDK runs in this process: `sentry::init` is process-global, and
    // no other test of this binary uses the `sentry` crate.
    crate::sdk_rust_scenario::rust_sdk_scenario(&cluster.web);
}

#[test]
fn sentry_cli_through_every_service() {
    let _shared = crate::faults::SHARED_SERVERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    sdk_common::sentry_cli_scenario(&cluster.web);
}
