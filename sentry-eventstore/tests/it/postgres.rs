//! `PostgresStore` against a real PostgreSQL server: what the conformance
//! suite cannot show with one process, i.e. processes that open the
//! database together and consumers that save batches at the same time.
//!
//! The server comes from `SENTRY_TEST_POSTGRES_URL`, which
//! `scripts/services.sh env` prints after `scripts/services.sh start
//! postgres`. Without it the tests are skipped, except under CI (`CI`
//! set), where they fail. The server may be shared: each test works in a
//! schema of its own (`test_<random>`, through the connection's
//! `search_path`) and drops it at the end, so tests run in parallel.

use std::sync::Arc;

use sentry_envelope::protocol::EventId;
use sentry_eventstore::{IssueQuery, IssueStatus, NewEvent, NewProject, Store, bootstrap};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::conformance::{Fixture, event};

const URL_VAR: &str = "SENTRY_TEST_POSTGRES_URL";

/// The test server's URL; `None` (after saying so) if there is none and
/// this is not CI.
fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{URL_VAR} is not set under CI: run `bash scripts/services.sh start postgres` and \
             `eval \"$(bash scripts/services.sh env)\"` first (scripts/test.sh does)"
        ),
        _ => {
            eprintln!(
                "skipped: {URL_VAR} is not set (bash scripts/services.sh start postgres; \
                 eval \"$(bash scripts/services.sh env)\")"
            );
            None
        }
    }
}

/// A schema of the test server that lives as long as this value.
pub(crate) struct Schema {
    server: String,
    name: String,
}

impl Schema {
    /// Creates a schema with a fresh name; `None` without a test server.
    pub(crate) async fn create() -> Option<Schema> {
        let server = server_url()?;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&server).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Some(Schema { server, name })
    }

    /// The URL of the server with the schema first on the search path.
    pub(crate) fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.server, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on a
        // future: a thread with a runtime of its own drops the schema.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut conn = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}

async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let n = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_opening_together_migrate_once() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.url();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { sentry_eventstore::open(&url).await })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    // One row per migration file.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    let migrations = i64::try_from(migrations).unwrap();
    assert!(migrations >= 5);
    assert_eq!(
        count(&url, "SELECT count(*) FROM schema_migrations").await,
        migrations
    );
    // Opening a migrated database changes nothing.
    sentry_eventstore::open(&url).await.unwrap();
    assert_eq!(
        count(&url, "SELECT count(*) FROM schema_migrations").await,
        migrations
    );
}

#[tokio::test]
async fn data_survives_reopen() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let e = {
        let store = sentry_eventstore::open(&schema.url()).await.unwrap();
        let boot = bootstrap(store.as_ref(), None).await.unwrap();
        let e = event(boot.project.id, "x", 0, None);
        store.save_events(std::slice::from_ref(&e)).await.unwrap();
        e
    };
    let store = sentry_eventstore::open(&schema.url()).await.unwrap();
    let stored = store
        .event(e.project_id, e.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.payload["title"], "Error x");
    assert!(store.organization("sentry").await.unwrap().is_some());
}

/// Consumers in separate processes (here: separate pools) save batches
/// with the same new hash, and the same redelivered event, at the same
/// time: one issue per hash, each event counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_open_one_issue() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.url();
    let f = Fixture::open(&url, None).await;
    const CONSUMERS: usize = 6;
    const ROUNDS: usize = 8;
    // Each round has a new hash, and one event every consumer delivers.
    let redelivered: Vec<NewEvent> = (0..ROUNDS)
        .map(|round| event(f.project, &format!("round-{round}"), 0, Some("id:0")))
        .collect();
    let start = Arc::new(tokio::sync::Barrier::new(CONSUMERS));
    let mut stores = Vec::new();
    for _ in 0..CONSUMERS {
        stores.push(sentry_eventstore::open(&url).await.unwrap());
    }
    let mut tasks = Vec::new();
    for (c, store) in stores.into_iter().enumerate() {
        let (project, redelivered, start) = (f.project, redelivered.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let mut saved = 0;
            for (round, again) in redelivered.iter().enumerate() {
                let minute = i64::try_from(c + 1).unwrap();
                let user = format!("id:{}", c % 4);
                let batch = [
                    event(project, &format!("round-{round}"), minute, Some(&user)),
                    again.clone(),
                    event(project, &format!("own-{c}"), minute, None),
                ];
                // A consumer that failed never arrives: fail, not hang.
                tokio::time::timeout(std::time::Duration::from_secs(30), start.wait())
                    .await
                    .expect("another consumer failed");
                let out = store.save_events(&batch).await.unwrap();
                assert_eq!(out[0].group_id, out[1].group_id);
                saved += out.iter().filter(|o| o.created).count();
            }
            saved
        }));
    }
    let mut saved = 0;
    for task in tasks {
        saved += task.await.unwrap();
    }
    assert_eq!(
        saved,
        ROUNDS * (1 + 2 * CONSUMERS),
        "each redelivered event once"
    );
    let issues = f
        .store
        .issues(
            f.org,
            &IssueQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(issues.len(), ROUNDS + CONSUMERS, "one issue per hash");
    for issue in issues
        .iter()
        .filter(|i| i.title.starts_with("Error round-"))
    {
        assert_eq!(issue.times_seen, i64::try_from(1 + CONSUMERS).unwrap());
        assert_eq!(issue.user_count, 4, "id:0 to id:3");
    }
    let mut short_ids: Vec<i64> = issues.iter().map(|i| i.short_id).collect();
    short_ids.sort_unstable();
    let expected: Vec<i64> = (1..=i64::try_from(issues.len()).unwrap()).collect();
    assert_eq!(short_ids, expected, "short ids without gaps");
    assert_eq!(
        count(&url, "SELECT count(*) FROM group_hashes").await,
        i64::try_from(ROUNDS + CONSUMERS).unwrap()
    );
    assert_eq!(
        count(&url, "SELECT count(*) FROM nodestore").await,
        count(&url, "SELECT count(*) FROM events").await
    );
}

/// Batches that span the same projects in opposite orders, and share an
/// organization's releases and environments, wait for each other instead
/// of deadlocking.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_across_projects_do_not_deadlock() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.url();
    let f = Fixture::open(&url, None).await;
    let other = f
        .store
        .create_project(
            f.org,
            None,
            NewProject {
                name: "other".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let projects = [f.project, other.id];
    let mut tasks = Vec::new();
    for c in 0..4usize {
        let store: Arc<dyn Store> = sentry_eventstore::open(&url).await.unwrap();
        tasks.push(tokio::spawn(async move {
            for round in 0..10usize {
                let mut batch: Vec<NewEvent> = (0..4usize)
                    .map(|k| {
                        let mut e = event(projects[(c + k) % 2], "shared", 0, None);
                        e.release = Some(format!("r{}", (c + k + round) % 3));
                        e.environment = Some(format!("env{}", (c + k) % 3));
                        e
                    })
                    .collect();
                if c % 2 == 1 {
                    batch.reverse();
                }
                store.save_events(&batch).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(count(&url, "SELECT count(*) FROM events").await, 4 * 10 * 4);
    assert_eq!(count(&url, "SELECT count(*) FROM groups").await, 2);
    assert_eq!(count(&url, "SELECT count(*) FROM releases").await, 3);
    assert_eq!(count(&url, "SELECT count(*) FROM environments").await, 3);
    assert_eq!(
        count(&url, "SELECT count(*) FROM release_projects").await,
        6
    );
}

/// The nodestore keeps payloads compressed, as SQLite's does, and reads
/// back events stored as plain JSON.
#[tokio::test]
async fn nodestore_codecs() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.url();
    let f = Fixture::open(&url, None).await;
    let e = event(f.project, "n", 0, None);
    f.store.save_events(std::slice::from_ref(&e)).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let (codec, data): (String, Vec<u8>) =
        sqlx::query_as("SELECT codec, data FROM nodestore WHERE event_id = $1")
            .bind(e.event_id.to_string())
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(codec, "zstd");
    assert_eq!(&data[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    let json = serde_json::json!({"event_id": e.event_id.to_string(), "title": "plain"});
    sqlx::query("UPDATE nodestore SET codec = 'json', data = $1 WHERE event_id = $2")
        .bind(serde_json::to_vec(&json).unwrap())
        .bind(e.event_id.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let stored = f.store.event(f.project, e.event_id).await.unwrap().unwrap();
    assert_eq!(stored.payload["title"], "plain");
    let missing = EventId(uuid::Uuid::new_v4());
    assert!(f.store.event(f.project, missing).await.unwrap().is_none());
}

/// An issue resolved while a batch adds an event to it: either the resolve
/// comes first and the event reports the regression it causes (the issue
/// ends unresolved), or the event comes first and the issue ends resolved.
/// Never an unresolved issue whose event said it regressed nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolving_during_a_save_reports_the_regression() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.url();
    let f = Fixture::open(&url, None).await;
    let saver = sentry_eventstore::open(&url).await.unwrap();
    let (mut regressed, mut resolved_last) = (0, 0);
    for round in 0..40 {
        let hash = format!("race-{round}");
        let first = f
            .store
            .save_events(&[event(f.project, &hash, 0, None)])
            .await
            .unwrap();
        let group = first[0].group_id;
        let batch = [event(f.project, &hash, 1, None)];
        let ids = [group];
        let (save, resolve) = tokio::join!(
            saver.save_events(&batch),
            f.store.set_issue_status(f.org, &ids, IssueStatus::Resolved),
        );
        let outcome = &save.unwrap()[0];
        assert_eq!(resolve.unwrap(), 1);
        let issue = f.store.issue(f.org, group).await.unwrap().unwrap();
        assert_eq!(
            outcome.regressed,
            issue.status == IssueStatus::Unresolved,
            "round {round}: regressed {} but the issue is {:?}",
            outcome.regressed,
            issue.status
        );
        if outcome.regressed {
            regressed += 1;
        } else {
            resolved_last += 1;
        }
    }
    eprintln!("resolve first: {regressed}, save first: {resolved_last}");
}
