//! Faults under load, each with a count of what relay accepted against what
//! is stored: a consumer killed with SIGKILL mid-stream and started again,
//! ClickHouse stopped for 30 s, the broker restarted. No accepted event may
//! be lost, and none may be stored twice.
//!
//! The load is envelopes POSTed to relay from a thread, each with its own
//! event id; "accepted" means relay answered 200. Stored means: the event
//! is readable through web (metadata and nodestore in PostgreSQL), counted
//! once in its issue, and present once in ClickHouse (after merging, as
//! `FINAL` reads it; row versions written again before a merge are
//! reported).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// Tests that stop a shared server (ClickHouse, the broker) take this for
/// writing; the others for reading.
pub static SHARED_SERVERS: RwLock<()> = RwLock::new(());

/// Messages the load cycles through: that many issues.
const ISSUES: usize = 5;

/// Sends events to relay until stopped or `total` were accepted.
struct Load {
    accepted: Arc<Mutex<Vec<String>>>,
    /// Ids relay did not answer 200 for: it may still have stored them
    /// (an answer lost while the broker was away), so they may appear.
    refused: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    /// Starts sending to the cluster's DSN, at most `per_second` events a
    /// second (0: as fast as relay answers).
    fn start(cluster: &Cluster, total: usize, per_second: u32) -> Load {
        let dsn = cluster.web.dsn.clone();
        let (scheme_key, rest) = dsn.split_once('@').unwrap();
        let key = scheme_key.rsplit('/').next().unwrap().to_owned();
        let (host, project) = rest.rsplit_once('/').unwrap();
        let url = format!("http://{host}/api/{project}/envelope/");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, refused, stop) = (accepted.clone(), refused.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    // Long enough to see relay's own answer while the
                    // broker is away (it waits up to 30 s for an ack).
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let auth = format!(
                    "Sentry sentry_version=7, sentry_key={key}, sentry_client=fault-load/1.0"
                );
                let started = Instant::now();
                let mut sent = 0u32;
                while !stop.load(Ordering::Relaxed) && accepted.lock().unwrap().len() < total {
                    if per_second > 0 {
                        let due = started
                            + Duration::from_secs_f64(f64::from(sent) / f64::from(per_second));
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    sent += 1;
                    let id = uuid_like(sent);
                    let body = format!(
                        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{{\"event_id\":\"{id}\",\"level\":\"error\",\"platform\":\"other\",\"message\":\"fault load {}\",\"tags\":{{\"n\":\"{sent}\"}}}}\n",
                        sent as usize % ISSUES
                    );
                    match agent
                        .post(&url)
                        .header("X-Sentry-Auth", &auth)
                        .header("Content-Type", "application/x-sentry-envelope")
                        .send(body)
                    {
                        Ok(r) if r.status() == 200 => accepted.lock().unwrap().push(id),
                        _ => {
                            refused.lock().unwrap().push(id);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        };
        Load {
            accepted,
            refused,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted_count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Waits until `n` events were accepted (or 120 s passed).
    fn wait_accepted(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.accepted_count() < n {
            assert!(
                Instant::now() < deadline,
                "only {} accepted",
                self.accepted_count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the sender to finish; the accepted and the refused ids.
    fn finish(mut self) -> (Vec<String>, Vec<String>) {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let accepted = self.accepted.lock().unwrap().clone();
        let refused = self.refused.lock().unwrap().clone();
        (accepted, refused)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A distinct 32-hex-digit event id per test run and sequence number.
fn uuid_like(n: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!("{:016x}{:08x}{:08x}", nanos, std::process::id(), n)
}

/// Checks that every accepted event is stored once, and nothing else;
/// prints the counts.
fn check_stored(cluster: &Cluster, fault: &str, accepted: &[String], refused: &[String]) {
    let maybe: BTreeSet<String> = refused.iter().cloned().collect();
    let refused = refused.len();
    let want: BTreeSet<String> = accepted.iter().cloned().collect();
    assert_eq!(want.len(), accepted.len(), "an id was accepted twice");
    let n = accepted.len() as u64;

    // PostgreSQL: the issues count each event once...
    let deadline = Instant::now() + Duration::from_secs(120);
    let counted = loop {
        let issues = cluster.web.issues("");
        let counted: u64 = issues
            .iter()
            .map(|i| i["count"].as_str().unwrap().parse::<u64>().unwrap())
            .sum();
        if counted >= n || Instant::now() >= deadline {
            break counted;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // ... every event is listed in its issue (one page of 100 at a time)...
    let mut listed = BTreeSet::new();
    for issue in cluster.web.issues("") {
        let mut cursor = 0;
        loop {
            let page = cluster.web.get_json(&format!(
                "/api/0/organizations/sentry/issues/{}/events/?per_page=100&cursor=0:{cursor}:0",
                issue["id"].as_str().unwrap()
            ));
            let page = page.as_array().unwrap();
            listed.extend(
                page.iter()
                    .map(|e| e["eventID"].as_str().unwrap().to_owned()),
            );
            if page.len() < 100 {
                break;
            }
            cursor += 100;
        }
    }
    let mut missing: Vec<String> = want.difference(&listed).cloned().collect();
    // ... and readable whole (the nodestore), checked on every 20th.
    for id in accepted.iter().step_by(20) {
        let r = cluster
            .web
            .get(&format!("/api/0/projects/sentry/internal/events/{id}/"));
        if r.status != 200 {
            missing.push(id.clone());
        }
    }

    // ClickHouse: once each after merging; row versions before merging.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (rows, merged) = loop {
        let rows = cluster.clickhouse("SELECT count() FROM errors_local");
        let ids = cluster.clickhouse("SELECT event_id FROM errors_local FINAL");
        let merged: Vec<String> = ids
            .lines()
            .map(|l| l.replace('-', "").to_ascii_lowercase())
            .collect();
        if merged.len() as u64 >= n || Instant::now() >= deadline {
            break (rows.trim().parse::<u64>().unwrap(), merged);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let merged_set: BTreeSet<String> = merged.iter().cloned().collect();
    eprintln!(
        "fault {fault}: accepted {n} (refused {refused}); PostgreSQL: {counted} counted in issues, \
         {} listed, {} missing; ClickHouse: {} events after merge, {rows} row versions before",
        listed.len(),
        missing.len(),
        merged.len()
    );
    assert!(
        missing.is_empty(),
        "{fault}: lost {} events: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Everything accepted is there once; of the refused, some may be.
    let extra: BTreeSet<String> = listed.difference(&want).cloned().collect();
    assert!(
        extra.is_subset(&maybe),
        "{fault}: unknown events stored: {extra:?}"
    );
    assert_eq!(counted, listed.len() as u64, "{fault}: issue counts");
    assert_eq!(
        merged_set, listed,
        "{fault}: ClickHouse and PostgreSQL disagree"
    );
}

/// SIGKILL (or SIGTERM, `graceful`) a consumer mid-stream, start a new one.
fn kill_and_restart(service: &'static str, graceful: bool) {
    let _shared = SHARED_SERVERS.read().unwrap_or_else(|e| e.into_inner());
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let load = Load::start(&cluster, 1500, 0);
    load.wait_accepted(500);
    let topic = if service == "ingest-consumer" {
        "ingest-events"
    } else {
        "events"
    };
    let lag = cluster.metric(
        service,
        "sentry_consumer_lag",
        &[&format!("topic=\"{topic}\"")],
    );
    if graceful {
        let status = cluster.terminate(service);
        assert!(
            status.success(),
            "{service} exited with {status} on SIGTERM"
        );
    } else {
        cluster.kill9(service);
    }
    eprintln!(
        "stopped {service} (graceful: {graceful}) with {lag} records of {topic} not committed"
    );
    load.wait_accepted(1000);
    cluster.spawn(service, None);
    cluster.wait_ready(service);
    let (accepted, refused) = load.finish();
    let fault = if graceful { "SIGTERM" } else { "kill -9" };
    check_stored(&cluster, &format!("{fault} {service}"), &accepted, &refused);
}

#[test]
fn kill_9_ingest_consumer_mid_stream() {
    kill_and_restart("ingest-consumer", false);
}

#[test]
fn sigterm_ingest_consumer_finishes_and_exits_cleanly() {
    kill_and_restart("ingest-consumer", true);
}

#[test]
fn kill_9_snuba_consumer_mid_stream() {
    kill_and_restart("snuba-consumer", false);
}

#[test]
fn clickhouse_stopped_for_30_seconds_under_load() {
    let _exclusive = SHARED_SERVERS.write().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let load = Load::start(&cluster, 2000, 50);
    load.wait_accepted(200);
    crate::cluster::services_sh(&["stop", "clickhouse"]);
    std::thread::sleep(Duration::from_secs(30));
    crate::cluster::services_sh(&["start", "clickhouse"]);
    let (accepted, refused) = load.finish();
    check_stored(&cluster, "ClickHouse down 30 s", &accepted, &refused);
}

#[test]
fn broker_restarted_under_load() {
    let _exclusive = SHARED_SERVERS.write().unwrap_or_else(|e| e.into_inner());
    if std::env::var("SENTRY_TEST_KAFKA_STORAGE").is_ok_and(|s| s == "memory") {
        eprintln!(
            "skipped: the test broker keeps its data in memory (SENTRY_TEST_KAFKA_STORAGE=memory)"
        );
        return;
    }
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let load = Load::start(&cluster, 1500, 50);
    load.wait_accepted(300);
    crate::cluster::services_sh(&["stop", "kafka"]);
    std::thread::sleep(Duration::from_secs(5));
    crate::cluster::services_sh(&["start", "kafka"]);
    let (accepted, refused) = load.finish();
    check_stored(&cluster, "broker restarted", &accepted, &refused);
}
