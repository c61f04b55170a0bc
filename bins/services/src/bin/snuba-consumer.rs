//! `snuba-consumer`: reads `events`, writes the rows of the event store
//! (ClickHouse) in batches, then announces them on `snuba-commit-log`;
//! commits only after the write. Messages it cannot turn into rows go to
//! the dead-letter topic.

use std::process::ExitCode;
use std::sync::Arc;

use sentry_services::Service;
use sentry_snuba::consumer::{SnubaConsumerConfig, SnubaConsumerStats, run_snuba_consumer};
use sentry_stream::topics;

fn main() -> ExitCode {
    sentry_services::main("snuba-consumer", "127.0.0.1:3021", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let events = service.event_store().await?;
    let broker = service.stream().await?;
    let config = SnubaConsumerConfig {
        batch_rows: service.config.batch_size,
        ..SnubaConsumerConfig::default()
    };
    let stats = Arc::new(SnubaConsumerStats::default());
    let ops = &service.ops;
    ops.counter(
        "sentry_snuba_records_total",
        "Records read from events.",
        &[],
        &stats,
        |s| &s.records,
    );
    ops.counter(
        "sentry_snuba_rows_total",
        "Rows written.",
        &[],
        &stats,
        |s| &s.rows,
    );
    ops.counter(
        "sentry_snuba_batches_total",
        "Batches written.",
        &[],
        &stats,
        |s| &s.batches,
    );
    let help = "Writes that failed and were tried again.";
    ops.counter("sentry_snuba_write_retries_total", help, &[], &stats, |s| {
        &s.write_retries
    });
    let help = "Messages moved to the dead-letter topic.";
    ops.counter("sentry_snuba_dead_letters_total", help, &[], &stats, |s| {
        &s.dead_letters
    });
    let help = "Replacement messages passed on.";
    ops.counter("sentry_snuba_replacements_total", help, &[], &stats, |s| {
        &s.replacements
    });
    ops.histogram(
        "sentry_snuba_batch_rows",
        "Rows per batch written to the event store.",
        &stats,
        |s| &s.batch_rows,
    );
    ops.histogram(
        "sentry_snuba_write_seconds",
        "Seconds to write one batch, retries included.",
        &stats,
        |s| &s.write_seconds,
    );
    ops.lag(broker.clone(), &config.group, topics::EVENTS);
    service
        .supervise("snuba consumer", || {
            run_snuba_consumer(
                broker.clone(),
                events.clone(),
                config.clone(),
                stats.clone(),
                service.shutdown.clone(),
            )
        })
        .await;
    Ok(())
}
