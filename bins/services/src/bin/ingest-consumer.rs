//! `ingest-consumer`: reads `ingest-events`, normalizes, scrubs and groups
//! each event, saves it (metadata, issue, nodestore) and announces it on
//! `events`; commits only after that. Holds a lock per event in the shared
//! cache (Redis) while saving, so that two consumers never save one event
//! at once while partitions move between them. Run several in one group to share the
//! partitions.

use std::process::ExitCode;
use std::sync::Arc;

use sentry_eventstore::{ConsumerStats, IngestConsumerConfig, run_ingest_consumer};
use sentry_services::Service;
use sentry_stream::topics;

fn main() -> ExitCode {
    sentry_services::main("ingest-consumer", "127.0.0.1:3011", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let store = service.metadata().await?;
    let broker = service.stream().await?;
    let cache = service.cache().await?;
    let configs = service.project_configs(store.clone(), cache.clone());
    let mut config = IngestConsumerConfig {
        batch_size: service.config.batch_size,
        event_locks: Some(cache),
        ..IngestConsumerConfig::default()
    };
    if let Some(threads) = service.config.processing_threads {
        config.processing_threads = threads.max(1);
    }
    let stats = Arc::new(ConsumerStats::default());
    let ops = &service.ops;
    let help = "Records read from ingest-events.";
    ops.counter("sentry_ingest_records_total", help, &[], &stats, |s| {
        &s.records
    });
    let help = "Events saved, by result (saved for the first time, or a redelivery).";
    ops.counter(
        "sentry_ingest_events_total",
        help,
        &[("result", "saved")],
        &stats,
        |s| &s.saved,
    );
    ops.counter(
        "sentry_ingest_events_total",
        help,
        &[("result", "duplicate")],
        &stats,
        |s| &s.duplicates,
    );
    let help = "Items dropped by the consumer (an outcome says why).";
    ops.counter("sentry_ingest_dropped_total", help, &[], &stats, |s| {
        &s.dropped
    });
    let help = "Events another consumer held the lock of, so this one waited.";
    ops.counter("sentry_ingest_lock_waits_total", help, &[], &stats, |s| {
        &s.lock_waits
    });
    let help = "Records per batch of ingest-events.";
    ops.histogram("sentry_ingest_batch_records", help, &stats, |s| {
        &s.batch_records
    });
    let help =
        "Seconds from a batch's poll to its commit: processing, saving, announcing on events.";
    ops.histogram("sentry_ingest_batch_seconds", help, &stats, |s| {
        &s.batch_seconds
    });
    ops.lag(broker.clone(), &config.group, topics::INGEST_EVENTS);
    service
        .supervise("ingest consumer", || {
            run_ingest_consumer(
                broker.clone(),
                store.clone(),
                configs.clone(),
                config.clone(),
                stats.clone(),
                service.shutdown.clone(),
            )
        })
        .await;
    Ok(())
}
