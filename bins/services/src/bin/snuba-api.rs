//! `snuba-api`: SnQL queries over HTTP (`POST /{dataset}/snql`) against the
//! event store. It has no authentication: keep it on an internal address.

use std::process::ExitCode;

use sentry_services::Service;

fn main() -> ExitCode {
    sentry_services::main("snuba-api", "127.0.0.1:3041", run)
}

async fn run(service: Service) -> anyhow::Result<()> {
    let events = service.event_store().await?;
    let bind = service.bind("127.0.0.1:1218")?;
    service
        .serve_http(bind, sentry_web::snuba_router(events))
        .await
}
