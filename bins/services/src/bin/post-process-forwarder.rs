//! `post-process-forwarder`: reads `events`, waits until `snuba-commit-log`
//! says the Snuba consumer has written each event to the event store, then
//! post-processes it: sends the project's service hooks (`event.created`).
//! Marks each event done in the shared cache, so redeliveries send nothing
//! twice; commits after each batch.

use std::process::ExitCode;
use std::sync::Arc;

use sentry_eventstore::{PostProcessConfig, PostProcessStats, run_post_process_forwarder};
use sentry_services::Service;
use sentry_stream::topics;

fn main() -> ExitCode {
    sentry_services::main("post-process-forwarder", "127.0.0.1:3061", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let store = service.metadata().await?;
    let broker = service.stream().await?;
    let cache = service.cache().await?;
    let config = PostProcessConfig {
        batch_size: service.config.batch_size,
        base_url: service
            .config
            .url
            .clone()
            .unwrap_or_else(|| PostProcessConfig::default().base_url),
        ..PostProcessConfig::default()
    };
    let stats = Arc::new(PostProcessStats::default());
    let ops = &service.ops;
    ops.counter(
        "sentry_post_process_records_total",
        "Records read from events.",
        &[],
        &stats,
        |s| &s.records,
    );
    let help = "Events post-processed, by result (processed, or skipped as done before).";
    ops.counter(
        "sentry_post_process_events_total",
        help,
        &[("result", "processed")],
        &stats,
        |s| &s.processed,
    );
    ops.counter(
        "sentry_post_process_events_total",
        help,
        &[("result", "duplicate")],
        &stats,
        |s| &s.duplicates,
    );
    let help = "Service hook requests, by result (sent: answered 2xx; failed: three failures).";
    ops.counter(
        "sentry_service_hooks_total",
        help,
        &[("result", "sent")],
        &stats,
        |s| &s.hooks_sent,
    );
    ops.counter(
        "sentry_service_hooks_total",
        help,
        &[("result", "failed")],
        &stats,
        |s| &s.hooks_failed,
    );
    let help = "Seconds from reading an event to its hooks being done, waiting for the commit log included.";
    ops.histogram("sentry_post_process_event_seconds", help, &stats, |s| {
        &s.event_seconds
    });
    ops.lag(broker.clone(), &config.group, topics::EVENTS);
    service
        .supervise("post-process forwarder", || {
            run_post_process_forwarder(
                broker.clone(),
                store.clone(),
                cache.clone(),
                config.clone(),
                stats.clone(),
                service.shutdown.clone(),
            )
        })
        .await;
    Ok(())
}
