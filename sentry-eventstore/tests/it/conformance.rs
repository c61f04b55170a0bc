//! The behaviour every [`Store`] must have. `store_test_suite!` instantiates
//! each test for a backend: SQLite in memory, SQLite on disk and, with the
//! `postgres` feature, PostgreSQL (a fresh schema per test on the server
//! `SENTRY_TEST_POSTGRES_URL` names; see `postgres.rs`).

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use sentry_envelope::DataCategory;
use sentry_envelope::protocol::EventId;
use sentry_eventstore::{
    EventSelector, IssueQuery, IssueSort, IssueStatus, KeyUpdate, NewEvent, NewProject,
    OutcomeQuery, ProjectUpdate, ReadRange, Role, Session, Store, StoreError, bootstrap,
};
use sentry_relay_core::ProjectSettings;
use sentry_relay_core::outcome::{Outcome, OutcomeKind};
use sentry_relay_core::quota::KeyRateLimit;
use serde_json::json;

pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    pub org: i64,
    pub project: i64,
    /// What goes when the test ends (a temporary directory, a schema),
    /// after the store.
    _cleanup: Option<Box<dyn Send>>,
}

impl Fixture {
    /// A bootstrapped store at `url`.
    pub(crate) async fn open(url: &str, cleanup: Option<Box<dyn Send>>) -> Fixture {
        let store = sentry_eventstore::open(url).await.unwrap();
        let boot = bootstrap(store.as_ref(), Some("secret-token".into()))
            .await
            .unwrap();
        Fixture {
            store,
            org: boot.organization.id,
            project: boot.project.id,
            _cleanup: cleanup,
        }
    }
}

// Each fixture returns `None` (and the test passes without running) when
// its backend is not available here.

pub(crate) async fn sqlite_memory() -> Option<Fixture> {
    Some(Fixture::open("sqlite::memory:", None).await)
}

pub(crate) async fn sqlite_file() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    Some(Fixture::open(&url, Some(Box::new(dir))).await)
}

#[cfg(feature = "postgres")]
pub(crate) async fn postgres() -> Option<Fixture> {
    let schema = crate::postgres::Schema::create().await?;
    Some(Fixture::open(&schema.url(), Some(Box::new(schema))).await)
}

pub(crate) fn event(project: i64, hash: &str, minute: i64, user: Option<&str>) -> NewEvent {
    let t = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::minutes(minute);
    let id = EventId(uuid::Uuid::new_v4());
    let payload =
        serde_json::to_vec(&json!({"event_id": id.to_string(), "title": format!("Error {hash}")}))
            .unwrap();
    NewEvent {
        project_id: project,
        event_id: id,
        timestamp: t,
        received: t,
        hashes: vec![hash.into()],
        event_type: "error".into(),
        title: if hash == "a" {
            format!("Error a at {minute}")
        } else {
            format!("Error {hash}")
        },
        culprit: Some(format!("app in f{minute}")),
        level: "error".into(),
        platform: Some("python".into()),
        logger: None,
        metadata: json!({"type": "Error", "value": hash, "minute": minute}),
        is_unhandled: minute % 2 == 1,
        release: Some("1.0".into()),
        environment: Some("prod".into()),
        user_key: user.map(str::to_owned),
        payload: payload.clone(),
        // Half the events come compressed by the caller, half not.
        payload_zstd: (minute % 2 == 1).then(|| zstd::bulk::compress(&payload, 3).unwrap()),
    }
}

pub(crate) async fn save_is_idempotent(f: Fixture) {
    let e = event(f.project, "h1", 0, None);
    let first = f.store.save_events(&[e.clone(), e.clone()]).await.unwrap();
    assert!(first[0].created && first[0].new_group);
    assert!(
        !first[1].created,
        "same event twice in a batch is stored once"
    );
    let again = f.store.save_events(std::slice::from_ref(&e)).await.unwrap();
    assert!(!again[0].created);
    assert_eq!(again[0].group_id, first[0].group_id);
    let issue = f
        .store
        .issue(f.org, first[0].group_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(issue.times_seen, 1);
    let stored = f.store.event(f.project, e.event_id).await.unwrap().unwrap();
    assert_eq!(stored.payload["title"], "Error h1");
}

pub(crate) async fn grouping_counts_and_users(f: Fixture) {
    let batch = [
        event(f.project, "a", 0, Some("id:1")),
        event(f.project, "a", 5, Some("id:2")),
        event(f.project, "a", 3, Some("id:1")),
        event(f.project, "b", 1, None),
    ];
    let out = f.store.save_events(&batch).await.unwrap();
    assert_eq!(out[0].group_id, out[1].group_id);
    assert_eq!(out[0].group_id, out[2].group_id);
    assert_ne!(out[0].group_id, out[3].group_id);
    let a = f
        .store
        .issue(f.org, out[0].group_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.times_seen, 3);
    assert_eq!(a.user_count, 2);
    assert_eq!(a.first_seen, batch[0].timestamp);
    assert_eq!(a.last_seen, batch[1].timestamp);
    assert_eq!(
        a.culprit.as_deref(),
        Some("app in f5"),
        "culprit of the latest event"
    );
    assert!(a.is_unhandled, "one event was unhandled");
    assert_eq!(a.short_id, 1);
    assert_eq!(a.first_release.as_deref(), Some("1.0"));
    let latest = f
        .store
        .issue_event(a.id, EventSelector::Latest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.event_id, batch[1].event_id);
    let oldest = f
        .store
        .issue_event(a.id, EventSelector::Oldest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(oldest.event_id, batch[0].event_id);
    let (prev, next) = f.store.neighbours(&oldest).await.unwrap();
    assert_eq!((prev, next), (None, Some(batch[2].event_id)));
    let page = f.store.issue_events(a.id, 1, 1).await.unwrap();
    assert_eq!(
        page[0].event_id, batch[2].event_id,
        "newest first, offset 1"
    );
}

pub(crate) async fn resolved_issue_regresses(f: Fixture) {
    let out = f
        .store
        .save_events(&[event(f.project, "r", 0, None)])
        .await
        .unwrap();
    let id = out[0].group_id;
    assert_eq!(
        f.store
            .set_issue_status(f.org, &[id], IssueStatus::Resolved)
            .await
            .unwrap(),
        1
    );
    let issue = f.store.issue(f.org, id).await.unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Resolved);
    assert!(issue.resolved_at.is_some());
    let out = f
        .store
        .save_events(&[event(f.project, "r", 1, None)])
        .await
        .unwrap();
    assert!(out[0].regressed);
    let issue = f.store.issue(f.org, id).await.unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.resolved_at, None);
    // An ignored issue stays ignored.
    f.store
        .set_issue_status(f.org, &[id], IssueStatus::Ignored)
        .await
        .unwrap();
    let out = f
        .store
        .save_events(&[event(f.project, "r", 2, None)])
        .await
        .unwrap();
    assert!(!out[0].regressed);
    let issue = f.store.issue(f.org, id).await.unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Ignored);
}

pub(crate) async fn issue_queries(f: Fixture) {
    let other = f
        .store
        .create_project(
            f.org,
            None,
            NewProject {
                name: "Other".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    f.store
        .save_events(&[
            event(f.project, "alpha", 0, None),
            event(f.project, "beta", 1, None),
            event(f.project, "beta", 2, None),
            event(other.id, "gamma_100%", 3, None),
        ])
        .await
        .unwrap();
    let q = |f: fn(&mut IssueQuery)| {
        let mut q = IssueQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let all = f.store.issues(f.org, &q(|_| {})).await.unwrap();
    let titles: Vec<_> = all.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Error gamma_100%", "Error beta", "Error alpha"],
        "last seen first"
    );
    let freq = f
        .store
        .issues(f.org, &q(|q| q.sort = IssueSort::TimesSeen))
        .await
        .unwrap();
    assert_eq!(freq[0].title, "Error beta");
    let text = f
        .store
        .issues(f.org, &q(|q| q.text = vec!["BETA".into()]))
        .await
        .unwrap();
    assert_eq!(text.len(), 1, "case-insensitive text search");
    let wild = f
        .store
        .issues(f.org, &q(|q| q.text = vec!["ph_".into()]))
        .await
        .unwrap();
    assert!(wild.is_empty(), "_ is not a wildcard");
    let pct = f
        .store
        .issues(f.org, &q(|q| q.text = vec!["100%".into()]))
        .await
        .unwrap();
    assert_eq!(pct.len(), 1);
    let mut by_project = q(|_| {});
    by_project.project_ids = vec![other.id];
    assert_eq!(f.store.issues(f.org, &by_project).await.unwrap().len(), 1);
    let page = f
        .store
        .issues(
            f.org,
            &IssueQuery {
                offset: 1,
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page[0].title, "Error beta");
    f.store
        .set_issue_status(f.org, &[all[0].id], IssueStatus::Resolved)
        .await
        .unwrap();
    let open = f
        .store
        .issues(f.org, &q(|q| q.status = Some(IssueStatus::Unresolved)))
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    // Another organization sees none of it.
    let org2 = f.store.create_organization("acme", "Acme").await.unwrap();
    assert!(
        f.store
            .issues(org2.id, &q(|_| {}))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.store.issue(org2.id, all[0].id).await.unwrap().is_none());
    assert_eq!(
        f.store
            .set_issue_status(org2.id, &[all[0].id], IssueStatus::Ignored)
            .await
            .unwrap(),
        0
    );
    assert!(!f.store.delete_issue(org2.id, all[0].id).await.unwrap());
}

pub(crate) async fn delete_removes_events(f: Fixture) {
    let e = event(f.project, "d", 0, None);
    let out = f.store.save_events(std::slice::from_ref(&e)).await.unwrap();
    assert!(f.store.delete_issue(f.org, out[0].group_id).await.unwrap());
    assert!(
        f.store
            .issue(f.org, out[0].group_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .event(f.project, e.event_id)
            .await
            .unwrap()
            .is_none()
    );
    // The hash is free again: a new event opens a new issue.
    let again = f
        .store
        .save_events(&[event(f.project, "d", 1, None)])
        .await
        .unwrap();
    assert!(again[0].new_group);
}

pub(crate) async fn projects_keys_and_tokens(f: Fixture) {
    let p = f
        .store
        .create_project(
            f.org,
            None,
            NewProject {
                name: "Web Shop!".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.slug, "web-shop");
    let dup = f
        .store
        .create_project(
            f.org,
            None,
            NewProject {
                name: "web shop".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    let keys = f.store.keys(p.id).await.unwrap();
    assert_eq!(keys.len(), 1, "a new project has a key");
    assert_eq!(keys[0].public_key.len(), 32);
    let second = f.store.create_key(p.id, "ci").await.unwrap();
    f.store.set_key_active(second.id, false).await.unwrap();
    let config = f.store.project_config(p.id as u64).await.unwrap().unwrap();
    assert_eq!(config.public_keys.len(), 2);
    assert!(!config.key(&second.public_key).unwrap().active);
    assert!(f.store.project_config(9999).await.unwrap().is_none());
    assert!(matches!(
        f.store.create_key(9999, "x").await,
        Err(StoreError::NotFound { .. })
    ));
    let token = f.store.token("secret-token").await.unwrap().unwrap();
    assert!(token.scopes.iter().any(|s| s == "event:admin"));
    assert_eq!(token.token_last_characters, "oken");
    assert!(f.store.token("secret-tokeN").await.unwrap().is_none());
    let projects = f.store.projects(f.org).await.unwrap();
    assert_eq!(
        projects.iter().map(|p| p.slug.as_str()).collect::<Vec<_>>(),
        ["internal", "web-shop"]
    );
}

pub(crate) async fn settings_and_key_updates(f: Fixture) {
    let id = f.project as u64;
    let config = f.store.project_config(id).await.unwrap().unwrap();
    assert_eq!(
        config.settings,
        ProjectSettings::new_project(),
        "a new project has Sentry's default settings"
    );
    let mut settings = ProjectSettings {
        allowed_domains: vec!["example.com".into()],
        ..Default::default()
    };
    settings.filter_settings.localhost.is_enabled = true;
    settings.datascrubbing_settings.sensitive_fields = vec!["ssn".into()];
    let updated = f
        .store
        .update_project(
            f.project,
            &ProjectUpdate {
                name: Some("Renamed".into()),
                settings: Some(settings.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.slug, "internal", "fields not given stay");
    let config = f.store.project_config(id).await.unwrap().unwrap();
    assert_eq!(config.settings, settings);

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
    let clash = f
        .store
        .update_project(
            other.id,
            &ProjectUpdate {
                slug: Some("internal".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict { .. })),
        "{clash:?}"
    );
    assert!(matches!(
        f.store
            .update_project(9999, &ProjectUpdate::default())
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let key = f.store.keys(f.project).await.unwrap().remove(0);
    assert_eq!(key.rate_limit, None);
    let limit = KeyRateLimit {
        window: 60,
        count: 100,
    };
    let key = f
        .store
        .update_key(
            key.id,
            &KeyUpdate {
                label: Some("prod".into()),
                rate_limit: Some(Some(limit)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (key.label.as_str(), key.rate_limit, key.is_active),
        ("prod", Some(limit), true)
    );
    let config = f.store.project_config(id).await.unwrap().unwrap();
    assert_eq!(config.key(&key.public_key).unwrap().rate_limit, Some(limit));
    let key = f
        .store
        .update_key(
            key.id,
            &KeyUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (key.rate_limit, key.is_active),
        (Some(limit), false),
        "others stay"
    );
    let key = f
        .store
        .update_key(
            key.id,
            &KeyUpdate {
                rate_limit: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(key.rate_limit, None);
    assert!(matches!(
        f.store.update_key(9999, &KeyUpdate::default()).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub(crate) async fn outcomes_add_up(f: Fixture) {
    let org = f.org as u64;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
    let outcome = |minute: i64, project: u64, kind, reason: Option<&str>, quantity| Outcome {
        timestamp: t0 + Duration::minutes(minute),
        org_id: org,
        project_id: project,
        key_id: Some(1),
        outcome: kind,
        reason: reason.map(str::to_owned),
        category: DataCategory::Error,
        quantity,
    };
    let p = f.project as u64;
    f.store
        .record_outcomes(
            &[
                outcome(0, p, OutcomeKind::Accepted, None, 5),
                outcome(1, p, OutcomeKind::Accepted, None, 2),
                outcome(0, p, OutcomeKind::Filtered, Some("localhost"), 1),
                outcome(0, p + 1000, OutcomeKind::Accepted, None, 7),
                outcome(90, p, OutcomeKind::RateLimited, Some("key_quota"), 3),
            ],
            &[],
        )
        .await
        .unwrap();
    // Recording the same minute again adds to it.
    let read = |partition, first, next| ReadRange {
        group: "outcomes-consumer".into(),
        topic: "outcomes".into(),
        partition,
        first,
        next,
    };
    f.store
        .record_outcomes(
            &[outcome(0, p, OutcomeKind::Accepted, None, 1)],
            &[read(0, 0, 10)],
        )
        .await
        .unwrap();
    assert_eq!(
        f.store
            .stream_offsets("outcomes-consumer", "outcomes")
            .await
            .unwrap(),
        [(0, 10)]
    );
    // Records read again (some of 0..10) add nothing.
    let again = f
        .store
        .record_outcomes(
            &[outcome(0, p, OutcomeKind::Accepted, None, 100)],
            &[read(1, 0, 4), read(0, 5, 12)],
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyAdded(_))),
        "{again:?}"
    );
    assert_eq!(
        f.store
            .stream_offsets("outcomes-consumer", "outcomes")
            .await
            .unwrap(),
        [(0, 10)],
        "a refused call changes no offset"
    );
    // The records after them do; other groups and topics are apart.
    f.store
        .record_outcomes(&[], &[read(0, 10, 12), read(1, 0, 4)])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .stream_offsets("outcomes-consumer", "outcomes")
            .await
            .unwrap(),
        [(0, 12), (1, 4)]
    );
    assert!(
        f.store
            .stream_offsets("other", "outcomes")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.store
            .stream_offsets("outcomes-consumer", "x")
            .await
            .unwrap()
            .is_empty()
    );
    let hourly = f
        .store
        .outcomes(&OutcomeQuery {
            org_id: org,
            project_ids: vec![p],
            start: t0,
            end: t0 + Duration::hours(2),
            interval_secs: 3600,
        })
        .await
        .unwrap();
    let rows: Vec<_> = hourly
        .iter()
        .map(|t| (t.bucket, t.outcome, t.reason.as_deref(), t.quantity))
        .collect();
    assert_eq!(
        rows,
        vec![
            (t0, OutcomeKind::Accepted, None, 8),
            (t0, OutcomeKind::Filtered, Some("localhost"), 1),
            (
                t0 + Duration::hours(1),
                OutcomeKind::RateLimited,
                Some("key_quota"),
                3
            ),
        ]
    );
    assert_eq!(hourly[0].times_seen, 3);
    assert_eq!(hourly[0].key_id, Some(1));
    assert_eq!(hourly[0].category, DataCategory::Error);
    let all_projects = f
        .store
        .outcomes(&OutcomeQuery {
            org_id: org,
            project_ids: Vec::new(),
            start: t0,
            end: t0 + Duration::minutes(1),
            interval_secs: 60,
        })
        .await
        .unwrap();
    let total: u64 = all_projects
        .iter()
        .filter(|t| t.outcome == OutcomeKind::Accepted)
        .map(|t| t.quantity)
        .sum();
    assert_eq!(
        total,
        6 + 7,
        "minute 0 of both projects; minute 1 is outside"
    );
    let other_org = f
        .store
        .outcomes(&OutcomeQuery {
            org_id: org + 1,
            project_ids: Vec::new(),
            start: t0,
            end: t0 + Duration::hours(2),
            interval_secs: 3600,
        })
        .await
        .unwrap();
    assert!(other_org.is_empty());
}

async fn accounts_members_and_sessions(f: Fixture) {
    let store = f.store.as_ref();
    // The bootstrap admin owns the first organization.
    let admin = store.user_by_login("admin").await.unwrap().unwrap();
    assert_eq!(
        store.role(f.org, admin.id).await.unwrap(),
        Some(Role::Owner)
    );

    let dev = store
        .create_user("dev@example.com", "dev@example.com", false)
        .await
        .unwrap();
    assert!(
        matches!(
            store.create_user("dev2", "DEV@example.com", false).await,
            Err(StoreError::Conflict { .. })
        ),
        "emails are unique, whatever their case"
    );
    // Found by email in any case, or by username.
    assert_eq!(
        store
            .user_by_login("Dev@Example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        dev.id
    );
    assert_eq!(
        store.user_by_login(" admin ").await.unwrap().unwrap().id,
        admin.id
    );
    assert!(
        store
            .user_by_login("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.users().await.unwrap().len(), 2);

    // Passwords: set, read back, cleared.
    assert_eq!(store.password_hash(dev.id).await.unwrap(), None);
    store
        .set_password_hash(dev.id, Some("$argon2id$v=19$x"))
        .await
        .unwrap();
    assert_eq!(
        store.password_hash(dev.id).await.unwrap().as_deref(),
        Some("$argon2id$v=19$x")
    );
    assert!(matches!(
        store.set_password_hash(9999, Some("h")).await,
        Err(StoreError::NotFound { .. })
    ));

    // Membership and roles.
    assert_eq!(store.role(f.org, dev.id).await.unwrap(), None);
    store.set_member(f.org, dev.id, Role::Member).await.unwrap();
    assert_eq!(store.role(f.org, dev.id).await.unwrap(), Some(Role::Member));
    store
        .set_member(f.org, dev.id, Role::Manager)
        .await
        .unwrap();
    assert_eq!(
        store.role(f.org, dev.id).await.unwrap(),
        Some(Role::Manager)
    );
    let members = store.members(f.org).await.unwrap();
    let emails: Vec<(&str, Role)> = members
        .iter()
        .map(|m| (m.user.email.as_str(), m.role))
        .collect();
    assert_eq!(
        emails,
        [
            ("admin@localhost", Role::Owner),
            ("dev@example.com", Role::Manager)
        ]
    );
    let other = store.create_organization("other", "Other").await.unwrap();
    store
        .set_member(other.id, dev.id, Role::Owner)
        .await
        .unwrap();
    let orgs: Vec<(String, Role)> = store
        .memberships(dev.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(o, r)| (o.slug, r))
        .collect();
    assert_eq!(
        orgs,
        [
            ("other".to_owned(), Role::Owner),
            ("sentry".to_owned(), Role::Manager)
        ]
    );
    assert_eq!(store.organizations().await.unwrap().len(), 2);
    assert!(store.remove_member(f.org, dev.id).await.unwrap());
    assert!(!store.remove_member(f.org, dev.id).await.unwrap());
    assert_eq!(store.role(f.org, dev.id).await.unwrap(), None);
    assert_eq!(
        store.role(other.id, dev.id).await.unwrap(),
        Some(Role::Owner)
    );
    let teams = store.teams(f.org).await.unwrap();
    assert_eq!(
        teams.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
        ["sentry"]
    );

    // Sessions: found by their key until they expire or end; a new
    // password ends them all.
    let live = Session {
        user_id: dev.id,
        csrf_token: "csrf-1".into(),
        expires: Utc::now() + Duration::hours(1),
    };
    store.create_session("key-1", &live).await.unwrap();
    store.create_session("key-2", &live).await.unwrap();
    let expired = Session {
        expires: Utc::now() - Duration::seconds(1),
        ..live.clone()
    };
    store.create_session("key-old", &expired).await.unwrap();
    let found = store.session("key-1").await.unwrap().unwrap();
    assert_eq!(
        (found.user_id, found.csrf_token.as_str()),
        (dev.id, "csrf-1")
    );
    assert!(store.session("key-old").await.unwrap().is_none(), "expired");
    assert!(store.session("KEY-1").await.unwrap().is_none());
    store.delete_session("key-1").await.unwrap();
    assert!(store.session("key-1").await.unwrap().is_none());
    assert!(store.session("key-2").await.unwrap().is_some());
    store.set_password_hash(dev.id, None).await.unwrap();
    assert!(
        store.session("key-2").await.unwrap().is_none(),
        "a password change ends sessions"
    );
    assert_eq!(store.password_hash(dev.id).await.unwrap(), None);

    // Tokens: listed newest first, deleted only by their owner.
    let a = store
        .create_token(dev.id, "token-a", &["event:read".into()])
        .await
        .unwrap();
    let b = store.create_token(dev.id, "token-b", &[]).await.unwrap();
    let ids: Vec<i64> = store
        .tokens(dev.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [b.id, a.id]);
    assert!(!store.delete_token(admin.id, a.id).await.unwrap());
    assert!(store.delete_token(dev.id, a.id).await.unwrap());
    assert!(store.token("token-a").await.unwrap().is_none());
    assert!(store.token("token-b").await.unwrap().is_some());
    store.set_superuser(dev.id, true).await.unwrap();
    assert!(store.user(dev.id).await.unwrap().unwrap().is_superuser);
}

pub(crate) async fn service_hooks(f: Fixture) {
    let store = f.store.as_ref();
    let project = f.project;
    let other = store
        .create_project(
            f.org,
            None,
            NewProject {
                name: "Other".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    assert!(store.service_hooks(project).await.unwrap().is_empty());
    let events = vec!["event.created".to_owned()];
    let a = store
        .create_service_hook(project, "http://hooks.example/a", &events)
        .await
        .unwrap();
    let b = store
        .create_service_hook(
            project,
            "http://hooks.example/b",
            &["event.alert".into(), "event.created".into()],
        )
        .await
        .unwrap();
    assert_eq!(a.guid.len(), 32);
    assert_eq!(a.secret.len(), 64);
    assert_ne!(a.guid, b.guid);
    assert_ne!(a.secret, b.secret);
    assert_eq!(a.status, "active");
    assert_eq!(b.events, ["event.alert", "event.created"]);
    assert_eq!(
        store.service_hooks(project).await.unwrap(),
        [a.clone(), b.clone()]
    );
    assert!(store.service_hooks(other).await.unwrap().is_empty());

    // Another project's hook cannot be changed or deleted through this one.
    assert_eq!(
        store
            .update_service_hook(other, &a.guid, "http://x", &events)
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_service_hook(other, &a.guid).await.unwrap());

    let changed = store
        .update_service_hook(
            project,
            &a.guid,
            "http://hooks.example/a2",
            &["event.alert".into()],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.url, "http://hooks.example/a2");
    assert_eq!(changed.events, ["event.alert"]);
    assert_eq!(changed.secret, a.secret);
    assert!(store.delete_service_hook(project, &a.guid).await.unwrap());
    assert!(!store.delete_service_hook(project, &a.guid).await.unwrap());
    assert_eq!(store.service_hooks(project).await.unwrap(), [b]);
    assert!(
        store
            .create_service_hook(9_999_999, "http://x", &events)
            .await
            .is_err(),
        "a hook needs an existing project"
    );
}

macro_rules! store_test_suite {
    ($backend:ident) => {
        mod $backend {
            #[tokio::test]
            async fn save_is_idempotent() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::save_is_idempotent(f).await;
            }
            #[tokio::test]
            async fn grouping_counts_and_users() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::grouping_counts_and_users(f).await;
            }
            #[tokio::test]
            async fn resolved_issue_regresses() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::resolved_issue_regresses(f).await;
            }
            #[tokio::test]
            async fn issue_queries() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::issue_queries(f).await;
            }
            #[tokio::test]
            async fn delete_removes_events() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::delete_removes_events(f).await;
            }
            #[tokio::test]
            async fn service_hooks() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::service_hooks(f).await;
            }
            #[tokio::test]
            async fn projects_keys_and_tokens() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::projects_keys_and_tokens(f).await;
            }
            #[tokio::test]
            async fn settings_and_key_updates() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::settings_and_key_updates(f).await;
            }
            #[tokio::test]
            async fn accounts_members_and_sessions() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::accounts_members_and_sessions(f).await;
            }
            #[tokio::test]
            async fn outcomes_add_up() {
                let Some(f) = super::$backend().await else {
                    return;
                };
                super::outcomes_add_up(f).await;
            }
        }
    };
}

store_test_suite!(sqlite_memory);
store_test_suite!(sqlite_file);
#[cfg(feature = "postgres")]
store_test_suite!(postgres);

#[tokio::test]
async fn sqlite_file_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let e = {
        let store = sentry_eventstore::open(&url).await.unwrap();
        let boot = bootstrap(store.as_ref(), None).await.unwrap();
        let e = event(boot.project.id, "x", 0, None);
        store.save_events(std::slice::from_ref(&e)).await.unwrap();
        e
    };
    let store = sentry_eventstore::open(&url).await.unwrap();
    assert!(
        store
            .event(e.project_id, e.event_id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.organization("sentry").await.unwrap().is_some());
}
