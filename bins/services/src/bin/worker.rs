//! `worker`: the background jobs. Counts the `outcomes` stream into the
//! metadata database (the stats endpoints read it) and removes event-store
//! data past its retention every hour.

use std::process::ExitCode;
use std::time::Duration;

use sentry_eventstore::{OUTCOMES_CONSUMER_GROUP, run_outcomes_consumer};
use sentry_services::Service;
use sentry_stream::topics;

fn main() -> ExitCode {
    sentry_services::main("worker", "127.0.0.1:3051", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let store = service.metadata().await?;
    let events = service.event_store().await?;
    let broker = service.stream().await?;
    service
        .ops
        .lag(broker.clone(), OUTCOMES_CONSUMER_GROUP, topics::OUTCOMES);
    let expiry = tokio::spawn(sentry_snuba::store::run_expiry(
        events,
        Duration::from_secs(3600),
        service.shutdown.clone(),
    ));
    service
        .supervise("outcomes consumer", || {
            run_outcomes_consumer(broker.clone(), store.clone(), service.shutdown.clone())
        })
        .await;
    expiry.await?;
    Ok(())
}
