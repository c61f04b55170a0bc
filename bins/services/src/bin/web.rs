//! `web`: the API under `/api/0/` and the web UI, on the metadata database
//! and the event store. On an empty database it creates the first
//! organization, project, key and an admin token (`SENTRY_ADMIN_TOKEN`, if
//! set) and prints them. A project change made here removes the project's
//! config from the shared cache, so relays and consumers apply it within
//! seconds. It also answers the ingest endpoints, so a single
//! address serves both when no relay sits in front.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sentry_eventstore::bootstrap;
use sentry_services::Service;
use sentry_web::{AppState, IngestConfig};

fn main() -> ExitCode {
    sentry_services::main("web", "127.0.0.1:9001", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let store = service.metadata().await?;
    let events = service.event_store().await?;
    let broker = service.stream().await?;
    let cache = service.cache().await?;
    let bind = service.bind("127.0.0.1:9000")?;
    let url = service.url(bind);
    if store.organization("sentry").await?.is_none() {
        let token = std::env::var("SENTRY_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        match bootstrap(store.as_ref(), token).await {
            Ok(created) => {
                let (scheme, host) = url.split_once("://").unwrap_or(("http", &url));
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "DSN:   {scheme}://{}@{host}/{}",
                    created.key.public_key, created.project.id
                )?;
                writeln!(out, "Token: {}", created.token)?;
                out.flush()?;
            }
            // Another web process bootstrapped at the same moment.
            Err(e) if store.organization("sentry").await?.is_some() => {
                tracing::info!(error = %e, "already bootstrapped by another process");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let ingest = IngestConfig {
        max_backlog: service.config.max_backlog,
        trust_forwarded_for: service.config.trust_forwarded_for,
        backlog_check_interval: Duration::from_secs(1),
        ..IngestConfig::default()
    };
    let quotas = sentry_relay_core::quota::open_counter(&service.config.quotas)?;
    let state = Arc::new(
        AppState::new(store.clone(), broker, ingest, url)
            .with_quota_counter(quotas)
            .with_configs(service.project_configs(store, cache))
            .with_event_store(events),
    );
    sentry_services::ingest_metrics(&service.ops, &state);
    let flusher = tokio::spawn(
        state
            .clone()
            .run_outcome_flusher(Duration::from_secs(1), service.shutdown.clone()),
    );
    service.serve_http(bind, sentry_web::router(state)).await?;
    flusher.await?;
    Ok(())
}
