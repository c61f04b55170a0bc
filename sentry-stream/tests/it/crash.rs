//! kill -9 durability: every record whose produce returned survives a
//! SIGKILL of the process, exactly once, with its payload.
//!
//! The parent test re-executes this test binary, running only
//! `child_producer_until_killed` with `CRASH_DIR_ENV` set. The child produces
//! from several tasks and prints one `ack` line per acknowledged record. The
//! parent kills it after enough acks, reopens the log (recovering a torn
//! tail, if the kill left one) and checks every ack.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sentry_stream::{Broker, FileLog, LogConfig};

use crate::util::read_all;

/// Set in the child: the log directory. Its presence is the child mode.
const CRASH_DIR_ENV: &str = "SENTRY_STREAM_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "crash::child_producer_until_killed";
const TASKS: u64 = 8;
const ACKS_BEFORE_KILL: usize = 2000;

fn child_config(dir: &std::path::Path) -> LogConfig {
    let mut config = LogConfig::new(dir);
    config.partitions = 2;
    // Small segments, so that the kill may land around a roll too.
    config.segment_bytes = 256 * 1024;
    config
}

/// The payload of record `seq` of `task`: its identity, then filler of a
/// varying length.
fn expected_payload(task: u64, seq: u64) -> Bytes {
    let mut p = format!("task {task} seq {seq} ").into_bytes();
    let filler = (task * 7919 + seq * 104_729) % 4000;
    p.extend((0..filler).map(|i| b'a' + (i % 26) as u8));
    Bytes::from(p)
}

#[test]
#[ignore = "the child process of kill9_keeps_every_acknowledged_record"]
fn child_producer_until_killed() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let log = FileLog::open(child_config(std::path::Path::new(&dir))).unwrap();
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let producer = log.producer();
                // A safety net if the parent dies without killing us.
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut seq = 0;
                while Instant::now() < deadline {
                    let key = (seq % 3 == 0).then(|| Bytes::from(format!("key-{task}")));
                    let p = producer
                        .produce("crash", key, expected_payload(task, seq))
                        .await
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {} {task} {seq}", p.partition, p.offset).unwrap();
                    out.flush().unwrap();
                    seq += 1;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// One parsed `ack partition offset task seq` line.
fn parse_ack(line: &str) -> Option<(u32, u64, u64, u64)> {
    // A line cut by the kill has no newline: it was not fully printed.
    let line = line.strip_suffix('\n')?;
    let mut f = line.split(' ');
    if f.next()? != "ack" {
        return None;
    }
    let ack = (
        f.next()?.parse().ok()?,
        f.next()?.parse().ok()?,
        f.next()?.parse().ok()?,
        f.next()?.parse().ok()?,
    );
    f.next().is_none().then_some(ack)
}

#[test]
fn kill9_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--include-ignored"])
        .env(CRASH_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acks = Vec::new();
    let mut line = String::new();
    let started = Instant::now();
    while acks.len() < ACKS_BEFORE_KILL {
        line.clear();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited after {} acks", acks.len());
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "child too slow"
        );
        acks.extend(parse_ack(&line));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    // Lines printed before the kill are acknowledged records too.
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        acks.extend(parse_ack(&line));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log: Arc<dyn Broker> = Arc::new(FileLog::open(child_config(dir.path())).unwrap());
        let mut consumer = log.consumer("verify", &["crash"]).await.unwrap();
        let records = read_all(consumer.as_mut()).await;
        let mut by_position = BTreeMap::new();
        let mut identities = HashSet::new();
        for r in &records {
            by_position.insert((r.partition, r.offset), r.payload.clone());
            let head = r
                .payload
                .split(|&b| b == b' ')
                .take(4)
                .collect::<Vec<_>>()
                .concat();
            assert!(identities.insert(head), "a record is in the log twice");
        }
        for (partition, offset, task, seq) in &acks {
            let stored = by_position.get(&(*partition, *offset)).unwrap_or_else(|| {
                panic!("acknowledged record {partition}/{offset} (task {task} seq {seq}) is lost")
            });
            assert_eq!(
                *stored,
                expected_payload(*task, *seq),
                "{partition}/{offset}"
            );
        }
        // Offsets of each partition are gap-free from 0.
        for partition in 0..2 {
            let offsets: Vec<u64> = records
                .iter()
                .filter(|r| r.partition == partition)
                .map(|r| r.offset)
                .collect();
            assert_eq!(offsets, (0..offsets.len() as u64).collect::<Vec<_>>());
        }
        println!(
            "{} acks checked, {} records in the log",
            acks.len(),
            records.len()
        );
        assert!(acks.len() >= ACKS_BEFORE_KILL);
        // The recovered log accepts writes at the right offsets.
        let p = log
            .producer()
            .produce("crash", None, Bytes::from_static(b"after"))
            .await
            .unwrap();
        let in_partition = records
            .iter()
            .filter(|r| r.partition == p.partition)
            .count();
        assert_eq!(p.offset, in_partition as u64);
    });
}
