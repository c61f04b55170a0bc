//! The cache conformance suite on every backend: in memory, and with the
//! `redis` feature on the Redis server `SENTRY_TEST_REDIS_URL` names
//! (`scripts/services.sh env` prints it). Without that variable the Redis
//! run is skipped, except under CI (`CI` set), where it fails. Every run
//! uses key prefixes of its own, and every key expires within a minute.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sentry_eventstore::MemoryCache;
use sentry_eventstore::cache::testsuite::cache_conformance_suite;

#[tokio::test]
async fn memory_cache_conforms() {
    cache_conformance_suite(|| Arc::new(MemoryCache::new())).await;
}

/// A prefix no other run or test uses.
#[cfg(feature = "redis")]
fn unique_prefix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-cache-{}-{nanos}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_conforms() {
    const URL_VAR: &str = "SENTRY_TEST_REDIS_URL";
    let url = match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("{URL_VAR} is not set under CI: run scripts/services.sh start redis")
        }
        _ => {
            eprintln!("skipped: {URL_VAR} is not set (bash scripts/services.sh start redis)");
            return;
        }
    };
    cache_conformance_suite(|| {
        let url = format!("{url}?prefix={}", unique_prefix());
        let cache = sentry_eventstore::open_cache(&url).unwrap();
        assert!(format!("{cache:?}").starts_with("RedisCache"));
        cache
    })
    .await;
    // A wrong scheme is named in the error.
    let err = sentry_eventstore::open_cache("memcache://x").unwrap_err();
    assert!(err.to_string().contains("redis://"), "{err}");
}

/// Two processes' config caches over one store and one shared cache: the
/// second reads what the first put in the shared cache, not the store, until
/// an invalidation removes it.
#[tokio::test]
async fn config_cache_reads_through_the_shared_tier() {
    use std::time::Duration;

    use sentry_eventstore::{ConfigCache, ProjectUpdate, bootstrap};
    use sentry_relay_core::ProjectSettings;

    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    let id = boot.project.id.unsigned_abs();
    let shared: Arc<dyn sentry_eventstore::Cache> = Arc::new(MemoryCache::new());
    let tier = |ttl| {
        ConfigCache::new(store.clone(), ttl).with_shared(shared.clone(), Duration::from_secs(60))
    };
    // "a" keeps nothing locally, so every get goes to the shared tier.
    let a = tier(Duration::ZERO);
    let b = tier(Duration::ZERO);

    let first = a.get(id).await.unwrap().unwrap();
    assert_eq!(first.config.settings.allowed_domains, ["*"]);
    let cached = shared
        .get(&format!("projectconfig:{id}"))
        .await
        .unwrap()
        .expect("the config is in the shared cache");
    let decoded: sentry_relay_core::ProjectConfig = serde_json::from_slice(&cached).unwrap();
    assert_eq!(decoded, first.config, "the shared copy round-trips");
    assert!(a.get(id + 1000).await.unwrap().is_none());
    assert!(
        shared
            .get(&format!("projectconfig:{}", id + 1000))
            .await
            .unwrap()
            .is_some()
    );

    // A change written to the store behind the caches' back...
    let settings = ProjectSettings {
        allowed_domains: vec!["example.com".into()],
        ..ProjectSettings::default()
    };
    let update = ProjectUpdate {
        settings: Some(settings),
        ..ProjectUpdate::default()
    };
    store
        .update_project(boot.project.id, &update)
        .await
        .unwrap();
    // ...is not seen through the shared tier,
    let stale = b.get(id).await.unwrap().unwrap();
    assert_eq!(stale.config.settings.allowed_domains, ["*"]);
    // until a process says the project changed.
    a.invalidate(id).await;
    let fresh = b.get(id).await.unwrap().unwrap();
    assert_eq!(fresh.config.settings.allowed_domains, ["example.com"]);
}

/// An event whose lock another consumer holds is saved only after that
/// consumer lets go, and the lock this consumer took is released after the
/// save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_consumer_waits_for_an_event_lock_held_elsewhere() {
    use std::time::Duration;

    use sentry_envelope::protocol::EventId;
    use sentry_eventstore::{
        Cache, ConfigCache, ConsumerStats, IngestConsumerConfig, IngestMessage, bootstrap,
        run_ingest_consumer,
    };
    use sentry_stream::{Broker, MemoryBroker, topics};

    let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
    let boot = bootstrap(store.as_ref(), None).await.unwrap();
    let project = boot.project.id;
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());

    let id = "7a1c7e9d0c2b4f7e8a9b0c1d2e3f4a5b";
    let event_id: EventId = id.parse().unwrap();
    let key = vec![format!("eventlock:{project}:{event_id}")];
    let taken = cache
        .add(&key, b"other consumer", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(taken, [true]);

    let envelope = format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{{\"event_id\":\"{id}\",\"message\":\"locked\"}}\n"
    );
    let message = IngestMessage {
        project_id: project.unsigned_abs(),
        key_id: None,
        received_at: chrono::Utc::now(),
        remote_addr: None,
        user_agent: None,
        envelope: envelope.into(),
    };
    broker
        .producer()
        .produce(topics::INGEST_EVENTS, None, message.encode())
        .await
        .unwrap();
    // A second event in the same batch, whose lock nobody holds.
    let free_id = "8b2d8f0e1d3c4a8f9b0c1d2e3f4a5b6c";
    let free_event: EventId = free_id.parse().unwrap();
    let free_key = vec![format!("eventlock:{project}:{free_event}")];
    let envelope = format!(
        "{{\"event_id\":\"{free_id}\"}}\n{{\"type\":\"event\"}}\n{{\"event_id\":\"{free_id}\",\"message\":\"free\"}}\n"
    );
    let message = IngestMessage {
        envelope: envelope.into(),
        ..message
    };
    broker
        .producer()
        .produce(topics::INGEST_EVENTS, None, message.encode())
        .await
        .unwrap();

    let stats = Arc::new(ConsumerStats::default());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let config = IngestConsumerConfig {
        event_locks: Some(cache.clone()),
        poll_timeout: Duration::from_millis(50),
        ..IngestConsumerConfig::default()
    };
    let consumer = tokio::spawn(run_ingest_consumer(
        broker.clone(),
        store.clone(),
        Arc::new(ConfigCache::new(store.clone(), Duration::from_secs(5))),
        config,
        stats.clone(),
        shutdown,
    ));

    let waited = async {
        while stats.lock_waits.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waited)
        .await
        .expect("the consumer meets the lock");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        store.event(project, event_id).await.unwrap().is_none(),
        "saved while another consumer held the lock"
    );

    assert!(
        store.event(project, free_event).await.unwrap().is_none(),
        "the batch waits whole"
    );
    // While it waits, the consumer holds none of the batch's locks: the
    // other consumer can take the free event's lock too (no deadlock of two
    // consumers that each got part of a batch).
    let other_took = async {
        while cache
            .add(&free_key, b"other consumer", Duration::from_secs(60))
            .await
            .unwrap()
            != [true]
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), other_took)
        .await
        .expect("the waiting consumer lets go of the locks it got");
    assert_eq!(
        cache.release(&free_key, b"other consumer").await.unwrap(),
        1
    );
    assert_eq!(cache.release(&key, b"other consumer").await.unwrap(), 1);
    let saved = async {
        while store.event(project, event_id).await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), saved)
        .await
        .expect("saved once the lock is free");
    assert!(store.event(project, free_event).await.unwrap().is_some());
    assert_eq!(stats.saved.load(Ordering::Relaxed), 2);
    assert_eq!(stats.lock_waits.load(Ordering::Relaxed), 1);
    // The consumer released its own locks after the save.
    assert_eq!(cache.get(&key[0]).await.unwrap(), None);
    assert_eq!(cache.get(&free_key[0]).await.unwrap(), None);

    stop.send(true).unwrap();
    consumer.await.unwrap().unwrap();
}
