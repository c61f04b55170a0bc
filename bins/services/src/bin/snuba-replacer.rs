//! `snuba-replacer`: applies the changes of `event-replacements` (issue
//! deletions, merges, tombstones) to the event store, in order.

use std::process::ExitCode;
use std::sync::Arc;

use sentry_services::Service;
use sentry_snuba::replacer::{REPLACER_GROUP, ReplacerStats, run_replacer};

fn main() -> ExitCode {
    sentry_services::main("snuba-replacer", "127.0.0.1:3031", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let events = service.event_store().await?;
    let broker = service.stream().await?;
    let stats = Arc::new(ReplacerStats::default());
    let ops = &service.ops;
    ops.counter(
        "sentry_replacements_applied_total",
        "Replacements applied.",
        &[],
        &stats,
        |s| &s.applied,
    );
    let help = "Messages skipped: not replacements, or unreadable.";
    ops.counter(
        "sentry_replacements_skipped_total",
        help,
        &[],
        &stats,
        |s| &s.skipped,
    );
    ops.lag(
        broker.clone(),
        REPLACER_GROUP,
        sentry_snuba::replacer::EVENT_REPLACEMENTS,
    );
    service
        .supervise("replacer", || {
            run_replacer(
                broker.clone(),
                events.clone(),
                stats.clone(),
                service.shutdown.clone(),
            )
        })
        .await;
    Ok(())
}
