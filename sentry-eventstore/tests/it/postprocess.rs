//! The post-process forwarder on the in-memory stream: it waits for the
//! Snuba consumer's commit log, sends signed service hooks once per event,
//! and only to the hooks that asked for `event.created`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use sentry_eventstore::postprocess::hook_signature;
use sentry_eventstore::{
    Cache, MemoryCache, POST_PROCESS_GROUP, PostProcessConfig, PostProcessStats, bootstrap,
    run_post_process_forwarder,
};
use sentry_snuba::eventstream::{InsertEvent, InsertState, Message};
use sentry_stream::{Broker, MemoryBroker, topics};

use crate::hook_receiver::{Received, answer, header, hook_receiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_go_out_once_after_the_commit_log() {
    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    let project = boot.project.id;
    let (url, received) = hook_receiver("/hook?x=1");
    let hook = store
        .create_service_hook(project, &url, &["event.created".into()])
        .await
        .unwrap();
    // A hook for alerts only gets nothing here.
    let (alert_url, alert_received) = hook_receiver("/alerts");
    store
        .create_service_hook(project, &alert_url, &["event.alert".into()])
        .await
        .unwrap();

    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let stats = Arc::new(PostProcessStats::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let config = PostProcessConfig {
        poll_timeout: Duration::from_millis(50),
        base_url: "http://sentry.example".into(),
        ..PostProcessConfig::default()
    };
    let forwarder = tokio::spawn(run_post_process_forwarder(
        broker.clone(),
        store.clone(),
        cache,
        config,
        stats.clone(),
        shutdown,
    ));

    let event_id = "0f5a3c2e9d8b4a7c6e1f2a3b4c5d6e7f";
    let insert = InsertEvent {
        group_id: 42,
        event_id: event_id.into(),
        organization_id: None,
        project_id: project.unsigned_abs(),
        primary_hash: String::new(),
        message: "ZeroDivisionError: division by zero".into(),
        platform: Some("python".into()),
        datetime: "2026-12-07T10:00:00.000000Z".into(),
        data: serde_json::Value::Null,
    };
    let payload = format!("{{\"event_id\":\"{event_id}\",\"level\":\"error\"}}");
    let message = Message::encode_insert(&insert, payload.as_bytes(), &InsertState::default());
    let producer = broker.producer();
    let key = Some(Bytes::from(project.to_string()));
    let first = producer
        .produce(topics::EVENTS, key.clone(), Bytes::from(message.clone()))
        .await
        .unwrap();

    // Not in the event store yet: no request.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(received.try_recv().is_err(), "sent before the commit log");
    assert_eq!(stats.records.load(Ordering::Relaxed), 1);

    let commit = |next: u64| {
        let key = format!("events:{}:snuba-consumers", first.partition);
        let value = format!("{{\"offset\":{next},\"orig_message_ts\":0}}");
        (Some(Bytes::from(key)), Bytes::from(value))
    };
    // Another group's commit log entry does not count.
    producer
        .produce(
            topics::SNUBA_COMMIT_LOG,
            Some(Bytes::from(format!(
                "events:{}:someone-else",
                first.partition
            ))),
            Bytes::from("{\"offset\":100}"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        received.try_recv().is_err(),
        "another group's commit log counted"
    );

    let (k, v) = commit(first.offset + 1);
    producer
        .produce(topics::SNUBA_COMMIT_LOG, k, v)
        .await
        .unwrap();
    let (headers, body) = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the hook is sent once the event is written");
    assert_eq!(header(&headers, "request-line"), "POST /hook?x=1 HTTP/1.1");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "x-servicehook-guid"), hook.guid);
    assert_eq!(
        header(&headers, "x-servicehook-signature"),
        hook_signature(&hook.secret, &body)
    );
    assert!(
        header(&headers, "x-servicehook-timestamp")
            .parse::<u64>()
            .unwrap()
            > 1_700_000_000
    );
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["action"], "event.created");
    assert_eq!(json["event"]["event_id"], event_id);
    assert_eq!(json["event"]["issue_id"], "42");
    assert_eq!(json["group"]["id"], "42");
    assert_eq!(
        json["group"]["url"],
        "http://sentry.example/organizations/sentry/issues/42/"
    );

    // Announced again (a redelivery): no second request.
    let second = producer
        .produce(topics::EVENTS, key, Bytes::from(message))
        .await
        .unwrap();
    let (k, v) = commit(second.offset + 1);
    producer
        .produce(topics::SNUBA_COMMIT_LOG, k, v)
        .await
        .unwrap();
    let waited = async {
        while stats.duplicates.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waited)
        .await
        .expect("the second announcement is read");
    assert!(received.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(
        alert_received.try_recv().is_err(),
        "an alert-only hook got event.created"
    );
    assert_eq!(stats.processed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.hooks_sent.load(Ordering::Relaxed), 1);
    assert_eq!(stats.hooks_failed.load(Ordering::Relaxed), 0);

    stop.send(true).unwrap();
    forwarder.await.unwrap().unwrap();
}

/// An HTTPS receiver on `localhost` with a certificate of its own; the PEM
/// file of that certificate is the authority to trust.
fn tls_hook_receiver(
    dir: &std::path::Path,
) -> (String, std::path::PathBuf, mpsc::Receiver<Received>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, certified.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    #[allow(deprecated)] // The provider the forwarder uses; see there.
    let provider = rustls::crypto::ring::default_provider();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}/secure",
        listener.local_addr().unwrap().port()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let tls = rustls::StreamOwned::new(connection, stream);
            // A client that refuses the certificate ends the handshake
            // here; wait for the next one.
            let Ok(answered) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(tls, &tx)))
            else {
                continue;
            };
            if !answered {
                return;
            }
        }
    });
    (url, ca, rx)
}

/// Runs a forwarder with `ca_file` until one event's hooks are done.
async fn forward_one(
    project: i64,
    store: Arc<dyn sentry_eventstore::Store>,
    ca_file: Option<std::path::PathBuf>,
) -> Arc<PostProcessStats> {
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let stats = Arc::new(PostProcessStats::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let forwarder = tokio::spawn(run_post_process_forwarder(
        broker.clone(),
        store,
        Arc::new(MemoryCache::new()),
        PostProcessConfig {
            poll_timeout: Duration::from_millis(50),
            ca_file,
            ..PostProcessConfig::default()
        },
        stats.clone(),
        shutdown,
    ));
    let insert = InsertEvent {
        group_id: 7,
        event_id: "9a8b7c6d5e4f43218765abcdef012345".into(),
        organization_id: None,
        project_id: project.unsigned_abs(),
        primary_hash: String::new(),
        message: "over TLS".into(),
        platform: None,
        datetime: "2026-12-07T10:00:00.000000Z".into(),
        data: serde_json::Value::Null,
    };
    let message = Message::encode_insert(
        &insert,
        b"{\"message\":\"over TLS\"}",
        &InsertState::default(),
    );
    let producer = broker.producer();
    let at = producer
        .produce(topics::EVENTS, None, Bytes::from(message))
        .await
        .unwrap();
    producer
        .produce(
            topics::SNUBA_COMMIT_LOG,
            Some(Bytes::from(format!(
                "events:{}:snuba-consumers",
                at.partition
            ))),
            Bytes::from(format!("{{\"offset\":{}}}", at.offset + 1)),
        )
        .await
        .unwrap();
    let done = async {
        while stats.processed.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), done)
        .await
        .expect("the event is post-processed");
    stop.send(true).unwrap();
    forwarder.await.unwrap().unwrap();
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_hooks_check_the_certificate() {
    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, ca, received) = tls_hook_receiver(dir.path());
    let hook = store
        .create_service_hook(boot.project.id, &url, &["event.created".into()])
        .await
        .unwrap();

    // A certificate no trusted authority signed: three refused tries.
    let stats = forward_one(boot.project.id, store.clone(), None).await;
    assert_eq!(stats.hooks_failed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.hooks_sent.load(Ordering::Relaxed), 0);
    assert!(received.try_recv().is_err());

    // Trusting its authority, the request goes through, signed.
    let stats = forward_one(boot.project.id, store.clone(), Some(ca)).await;
    assert_eq!(stats.hooks_sent.load(Ordering::Relaxed), 1);
    let (headers, body) = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(header(&headers, "request-line"), "POST /secure HTTP/1.1");
    assert_eq!(
        header(&headers, "x-servicehook-signature"),
        hook_signature(&hook.secret, &body)
    );
}

/// A replacement after an insert in the same partition gets no commit-log
/// record of its own (the Snuba consumer passes it on and commits it): the
/// insert before it is still post-processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacements_do_not_hold_up_inserts() {
    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    let (url, received) = hook_receiver("/after-replacement");
    store
        .create_service_hook(boot.project.id, &url, &["event.created".into()])
        .await
        .unwrap();
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let producer = broker.producer();
    let key = Some(Bytes::from(boot.project.id.to_string()));
    let insert = InsertEvent {
        group_id: 3,
        event_id: "3b2a1c0d9e8f47a6b5c4d3e2f1a0b9c8".into(),
        organization_id: None,
        project_id: boot.project.id.unsigned_abs(),
        primary_hash: String::new(),
        message: "before a merge".into(),
        platform: None,
        datetime: "2026-12-07T10:00:00.000000Z".into(),
        data: serde_json::Value::Null,
    };
    let first = producer
        .produce(
            topics::EVENTS,
            key.clone(),
            Bytes::from(Message::encode_insert(
                &insert,
                b"{}",
                &InsertState::default(),
            )),
        )
        .await
        .unwrap();
    let merge = Message::EndMerge(sentry_snuba::eventstream::MergeGroups {
        project_id: boot.project.id.unsigned_abs(),
        previous_group_ids: vec![3],
        new_group_id: 4,
        datetime: "2026-12-07T10:00:01.000000Z".into(),
    });
    let second = producer
        .produce(topics::EVENTS, key, Bytes::from(merge.encode()))
        .await
        .unwrap();
    assert_eq!(first.partition, second.partition);
    producer
        .produce(
            topics::SNUBA_COMMIT_LOG,
            Some(Bytes::from(format!(
                "events:{}:snuba-consumers",
                first.partition
            ))),
            Bytes::from(format!("{{\"offset\":{}}}", first.offset + 1)),
        )
        .await
        .unwrap();

    let stats = Arc::new(PostProcessStats::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let forwarder = tokio::spawn(run_post_process_forwarder(
        broker.clone(),
        store.clone(),
        Arc::new(MemoryCache::new()),
        PostProcessConfig {
            poll_timeout: Duration::from_millis(50),
            ..PostProcessConfig::default()
        },
        stats.clone(),
        shutdown,
    ));
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("the insert's hook is sent");
    let committed = async {
        while broker
            .lag(POST_PROCESS_GROUP, topics::EVENTS)
            .await
            .unwrap()
            > 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), committed)
        .await
        .expect("both records are committed");
    assert_eq!(stats.records.load(Ordering::Relaxed), 2);
    assert_eq!(stats.processed.load(Ordering::Relaxed), 1);
    stop.send(true).unwrap();
    forwarder.await.unwrap().unwrap();
}

/// A hook whose receiver fails three times rests: the next events do not
/// try it (so one dead receiver does not hold up every project's hooks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_rests() {
    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    // Accepts connections and closes them at once, counting them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/down", listener.local_addr().unwrap());
    let tries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = tries.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    store
        .create_service_hook(boot.project.id, &url, &["event.created".into()])
        .await
        .unwrap();

    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let producer = broker.producer();
    let key = Some(Bytes::from(boot.project.id.to_string()));
    let mut last = None;
    for n in 0..2u8 {
        let insert = InsertEvent {
            group_id: 9,
            event_id: format!("{n:02x}{}", "a".repeat(30)),
            organization_id: None,
            project_id: boot.project.id.unsigned_abs(),
            primary_hash: String::new(),
            message: "down".into(),
            platform: None,
            datetime: "2026-12-07T10:00:00.000000Z".into(),
            data: serde_json::Value::Null,
        };
        let message = Message::encode_insert(&insert, b"{}", &InsertState::default());
        last = Some(
            producer
                .produce(topics::EVENTS, key.clone(), Bytes::from(message))
                .await
                .unwrap(),
        );
    }
    let last = last.unwrap();
    producer
        .produce(
            topics::SNUBA_COMMIT_LOG,
            Some(Bytes::from(format!(
                "events:{}:snuba-consumers",
                last.partition
            ))),
            Bytes::from(format!("{{\"offset\":{}}}", last.offset + 1)),
        )
        .await
        .unwrap();
    let stats = Arc::new(PostProcessStats::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let forwarder = tokio::spawn(run_post_process_forwarder(
        broker.clone(),
        store.clone(),
        Arc::new(MemoryCache::new()),
        PostProcessConfig {
            poll_timeout: Duration::from_millis(50),
            ..PostProcessConfig::default()
        },
        stats.clone(),
        shutdown,
    ));
    let done = async {
        while stats.processed.load(Ordering::Relaxed) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .expect("both events are post-processed");
    assert_eq!(stats.hooks_failed.load(Ordering::Relaxed), 2);
    assert_eq!(stats.hooks_sent.load(Ordering::Relaxed), 0);
    assert_eq!(tries.load(Ordering::Relaxed), 3, "three tries, then rest");
    stop.send(true).unwrap();
    forwarder.await.unwrap().unwrap();
}
