//! `ingest-consumer`: reads `ingest-events`, normalizes, scrubs and groups
//! each event, saves it (metadata, issue, nodestore) and announces it on
//! `events`; commits only after that. Run several in one group to share the
//! partitions.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sentry_eventstore::{ConfigCache, ConsumerStats, IngestConsumerConfig, run_ingest_consumer};
use sentry_services::Service;
use sentry_stream::topics;

fn main() -> ExitCode {
    sentry_services::main("ingest-consumer", "127.0.0.1:3011", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let store = service.metadata().await?;
    let broker = service.stream().await?;
    let configs = Arc::new(ConfigCache::new(store.clone(), Duration::from_secs(5)));
    let mut config = IngestConsumerConfig {
        batch_size: service.config.batch_size,
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
