//! `sentry run`: ingest, processing, post-processing (service hooks) and
//! web in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sentry_eventstore::{
    ConsumerStats, IngestConsumerConfig, MemoryCache, PostProcessConfig, PostProcessStats, Store,
    bootstrap, run_ingest_consumer, run_outcomes_consumer, run_post_process_forwarder,
};
use sentry_snuba::consumer::{SnubaConsumerConfig, SnubaConsumerStats, run_snuba_consumer};
use sentry_snuba::replacer::{ReplacerStats, run_replacer};
use sentry_web::{AppState, IngestConfig, router};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Arguments of `sentry run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Where the database, the stream and `bootstrap.json` live.
    #[arg(long, default_value = "./sentry-data", env = "SENTRY_DATA_DIR")]
    data_dir: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000", env = "SENTRY_BIND")]
    bind: SocketAddr,
    /// The URL clients reach this server at (default: `http://` + the bind address).
    #[arg(long, env = "SENTRY_URL")]
    url: Option<String>,
    /// Envelopes waiting for processing above which ingest answers 503.
    #[arg(long, default_value_t = 100_000)]
    max_backlog: u64,
    /// The stream keeps at most this many MiB per topic partition (and
    /// seven days); keep it above the backlog (`--max-backlog` envelopes).
    #[arg(long, default_value_t = 2048)]
    stream_retention_mb: u64,
    /// Where quotas and rate limits are counted: `memory://` (this process
    /// only) or `redis://HOST:PORT/DB` to share the counts between several
    /// servers; `?prefix=P` puts `P` before every Redis key.
    #[arg(long, default_value = "memory://", env = "SENTRY_QUOTAS_URL")]
    quotas: String,
    /// The event store behind search, stats, tags and Discover:
    /// `sqlite://PATH` (default: `DATA_DIR/events.sqlite`) or
    /// `clickhouse://HOST:PORT/DATABASE` (ClickHouse's HTTP port).
    #[arg(long, env = "SENTRY_EVENT_STORE_URL")]
    event_store: Option<String>,
    /// Also serve `snuba-api` (`POST /{dataset}/snql`) on this address. It
    /// has no authentication: bind it to an internal address.
    #[arg(long, env = "SENTRY_SNUBA_BIND")]
    snuba_bind: Option<SocketAddr>,
}

/// What a first start writes to `DATA_DIR/bootstrap.json` (mode 0600).
#[derive(Serialize, Deserialize)]
struct BootstrapFile {
    dsn: String,
    token: String,
    url: String,
    org: String,
    project: String,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args))
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.bind))
        .trim_end_matches('/')
        .to_owned();

    let store = sentry_eventstore::open(&format!(
        "sqlite://{}",
        data_dir.join("sentry.db").display()
    ))
    .await
    .context("opening the database")?;
    let mut log = sentry_stream::LogConfig::new(data_dir.join("stream"));
    log.retention_bytes = Some(args.stream_retention_mb << 20);
    log.retention_age = Some(std::time::Duration::from_secs(7 * 24 * 3600));
    let broker: Arc<dyn sentry_stream::Broker> =
        Arc::new(sentry_stream::FileLog::open(log).context("opening the stream")?);
    let boot = ensure_bootstrap(store.as_ref(), &data_dir, &url).await?;
    let events_url = args
        .event_store
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("events.sqlite").display()));
    let events = sentry_snuba::store::open(&events_url)
        .await
        .with_context(|| {
            format!(
                "opening the event store {}",
                sentry_eventstore::redact_url(&events_url)
            )
        })?;

    let ingest = IngestConfig {
        max_backlog: args.max_backlog,
        ..IngestConfig::default()
    };
    let state = Arc::new(
        AppState::new(store.clone(), broker.clone(), ingest, url.clone())
            .with_quota_counter(
                sentry_relay_core::quota::open_counter(&args.quotas).with_context(|| {
                    format!(
                        "opening the quota counter {}",
                        sentry_eventstore::redact_url(&args.quotas)
                    )
                })?,
            )
            .with_event_store(events.clone()),
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let stats = Arc::new(ConsumerStats::default());
    let consumer = tokio::spawn(run_ingest_consumer(
        broker.clone(),
        store.clone(),
        state.configs.clone(),
        IngestConsumerConfig::default(),
        stats.clone(),
        shutdown_rx.clone(),
    ));
    let outcomes = tokio::spawn(run_outcomes_consumer(
        broker.clone(),
        store.clone(),
        shutdown_rx.clone(),
    ));
    let snuba_consumer = tokio::spawn(run_snuba_consumer(
        broker.clone(),
        events.clone(),
        SnubaConsumerConfig::default(),
        Arc::new(SnubaConsumerStats::default()),
        shutdown_rx.clone(),
    ));
    let replacer = tokio::spawn(run_replacer(
        broker.clone(),
        events.clone(),
        Arc::new(ReplacerStats::default()),
        shutdown_rx.clone(),
    ));
    // Service hooks, once the Snuba consumer has written each event. The
    // "sent" marks live in memory: after a crash, the hooks of the last
    // uncommitted batch go out again (at least once).
    // Started again after an error (a busy database, say), as the
    // services' supervisor does.
    let post_process = {
        let (broker, store, url, stop) = (
            broker.clone(),
            store.clone(),
            url.clone(),
            shutdown_rx.clone(),
        );
        let marks: Arc<dyn sentry_eventstore::Cache> = Arc::new(MemoryCache::new());
        let stats = Arc::new(PostProcessStats::default());
        tokio::spawn(async move {
            loop {
                let config = PostProcessConfig {
                    base_url: url.clone(),
                    ..PostProcessConfig::default()
                };
                let run = run_post_process_forwarder(
                    broker.clone(),
                    store.clone(),
                    marks.clone(),
                    config,
                    stats.clone(),
                    stop.clone(),
                );
                match run.await {
                    Ok(()) => return Ok::<(), anyhow::Error>(()),
                    Err(error) => {
                        tracing::error!(%error, "post-processing failed; starting it again in 5 s");
                    }
                }
                if *stop.borrow() {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        })
    };
    let expiry = tokio::spawn(sentry_snuba::store::run_expiry(
        events.clone(),
        std::time::Duration::from_secs(3600),
        shutdown_rx.clone(),
    ));
    let snuba_api = match args.snuba_bind {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} for snuba-api"))?;
            tracing::info!(%addr, "snuba-api listening");
            let app = sentry_web::snuba_router(events.clone());
            let mut stop = shutdown_rx.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            }))
        }
        None => None,
    };
    let flusher = tokio::spawn(
        state
            .clone()
            .run_outcome_flusher(std::time::Duration::from_secs(1), shutdown_rx.clone()),
    );

    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "Sentry is running at {url}/")?;
    writeln!(out, "DSN:   {}", boot.dsn)?;
    writeln!(out, "Token: {}", boot.token)?;
    writeln!(out, "Data:  {}", data_dir.display())?;
    out.flush()?;
    drop(out);
    tracing::info!(%url, "listening");

    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        })
        .await?;
    flusher.await?;
    consumer.await??;
    outcomes.await??;
    snuba_consumer.await??;
    replacer.await??;
    post_process.await??;
    expiry.await?;
    if let Some(api) = snuba_api {
        api.await??;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Creates the first organization, project, key and token on an empty data
/// dir, or reads what an earlier start wrote.
async fn ensure_bootstrap(
    store: &dyn Store,
    data_dir: &Path,
    url: &str,
) -> anyhow::Result<BootstrapFile> {
    let path = data_dir.join("bootstrap.json");
    if store.organization("sentry").await?.is_some() {
        let file =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        let text = sentry_envelope::read_capped(file, 64 * 1024)?;
        let mut boot: BootstrapFile = serde_json::from_slice(&text)?;
        if boot.url != url {
            // Same key and project, reached at a new address.
            let (_, rest) = boot.dsn.split_once('@').unwrap_or(("", ""));
            let project = rest.rsplit('/').next().unwrap_or("1").to_owned();
            let key = boot
                .dsn
                .split_once("://")
                .and_then(|(_, r)| r.split_once('@'))
                .map(|(k, _)| k.to_owned())
                .unwrap_or_default();
            boot.dsn = dsn(url, &key, &project);
            boot.url = url.to_owned();
        }
        return Ok(boot);
    }
    let token = std::env::var("SENTRY_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let created = bootstrap(store, token).await?;
    let boot = BootstrapFile {
        dsn: dsn(
            url,
            &created.key.public_key,
            &created.project.id.to_string(),
        ),
        token: created.token,
        url: url.to_owned(),
        org: created.organization.slug,
        project: created.project.slug,
    };
    write_private(&path, &serde_json::to_vec_pretty(&boot)?)?;
    Ok(boot)
}

fn dsn(url: &str, key: &str, project_id: &str) -> String {
    let (scheme, host) = url.split_once("://").unwrap_or(("http", url));
    format!("{scheme}://{key}@{host}/{project_id}")
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
