//! `relay`: the ingest edge. Takes SDK traffic over HTTP, checks keys,
//! filters, quotas and rate limits with the project configs of the metadata
//! database (kept in the shared cache, Redis), and answers once the envelope is acknowledged by the stream
//! (`ingest-events`). Quotas shared between relays live in Redis
//! (`quotas = "redis://..."`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sentry_eventstore::INGEST_CONSUMER_GROUP;
use sentry_services::Service;
use sentry_stream::topics;
use sentry_web::{AppState, IngestConfig};

fn main() -> ExitCode {
    sentry_services::main("relay", "127.0.0.1:3001", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let store = service.metadata().await?;
    let cache = service.cache().await?;
    let broker = service.stream().await?;
    let bind = service.bind("127.0.0.1:3000")?;
    let quotas =
        sentry_relay_core::quota::open_counter(&service.config.quotas).with_context(|| {
            format!(
                "opening the quota counter {}",
                sentry_eventstore::redact_url(&service.config.quotas)
            )
        })?;
    let ingest = IngestConfig {
        max_backlog: service.config.max_backlog,
        trust_forwarded_for: service.config.trust_forwarded_for,
        // The broker answers the backlog over the network: once a second.
        backlog_check_interval: Duration::from_secs(1),
        ..IngestConfig::default()
    };
    let state = Arc::new(
        AppState::new(store.clone(), broker.clone(), ingest, service.url(bind))
            .with_quota_counter(quotas)
            .with_configs(service.project_configs(store, cache)),
    );
    service
        .ops
        .lag(broker, INGEST_CONSUMER_GROUP, topics::INGEST_EVENTS);
    sentry_services::ingest_metrics(&service.ops, &state);
    let flusher = tokio::spawn(
        state
            .clone()
            .run_outcome_flusher(Duration::from_secs(1), service.shutdown.clone()),
    );
    service
        .serve_http(bind, sentry_web::ingest_router(state))
        .await?;
    flusher.await?;
    Ok(())
}
