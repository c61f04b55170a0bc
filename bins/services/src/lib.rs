//! The services of the scaled deployment, each its own process (layer 3,
//! assembly).
//!
//! Sentry's data flow split the way self-hosted Sentry runs it, from the
//! same crates `sentry run` puts into one process:
//!
//! | binary | reads | writes |
//! |---|---|---|
//! | `relay` | HTTP from SDKs; project configs from the metadata database | `ingest-events`, `outcomes` |
//! | `ingest-consumer` | `ingest-events` | metadata and nodestore; `events`, `outcomes` |
//! | `snuba-consumer` | `events` | event-store rows; `snuba-commit-log`, `event-replacements` |
//! | `snuba-replacer` | `event-replacements` | event-store changes |
//! | `snuba-api` | SnQL over HTTP | |
//! | `web` | API, pages; metadata and event store | `events` (replacements, passed on by snuba-consumer) |
//! | `worker` | `outcomes` | outcome counts; event-store retention |
//! | `post-process-forwarder` | `events`, `snuba-commit-log` | service hooks (HTTP) |
//!
//! Each reads one TOML file (`--config`, see [`Config`]) with `SENTRY_*`
//! overrides, logs as text or JSON, serves `/metrics` and health checks on
//! its admin address ([`Ops`]) and finishes its in-flight batch on SIGTERM.
//! Consumers of one group may run in several processes: Kafka splits the
//! partitions between them.

#![forbid(unsafe_code)]

mod config;
mod ops;

/// The allocator of every service binary (they all link this library):
/// mimalloc, as in `sentry run`; event processing allocates and frees many
/// small values.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sentry_eventstore::{Cache, ConfigCache, Store};
use sentry_snuba::store::EventStore;
use sentry_stream::Broker;
use tokio::sync::watch;

pub use config::{Config, LogFormat};
pub use ops::{Check, Kind, Ops, Samples};

/// The metrics of an ingest edge (`relay`, `web`): envelopes received and
/// stored, and outcomes by kind, reason and data category.
pub fn ingest_metrics(ops: &Ops, state: &Arc<sentry_web::AppState>) {
    use std::sync::atomic::Ordering;
    let counters = state.clone();
    ops.family(
        "sentry_envelopes_total",
        "Envelopes received by the ingest endpoints, and those the stream acknowledged.",
        Kind::Counter,
        move || {
            let c = &counters.counters;
            vec![
                (
                    vec![("result", "received".into())],
                    c.received.load(Ordering::Relaxed) as f64,
                ),
                (
                    vec![("result", "stored".into())],
                    c.stored.load(Ordering::Relaxed) as f64,
                ),
            ]
        },
    );
    ops.histogram(
        "sentry_envelope_stored_seconds",
        "Seconds from an envelope's arrival to the stream's acknowledgement.",
        state,
        |s| &s.counters.stored_seconds,
    );
    let counters = state.clone();
    ops.family(
        "sentry_outcomes_total",
        "Items by what happened to them (accepted, filtered, rate_limited, invalid...), as written to the outcomes stream.",
        Kind::Counter,
        move || {
            counters
                .counters
                .outcome_totals()
                .into_iter()
                .map(|(kind, reason, category, n)| {
                    (
                        vec![
                            ("outcome", kind.as_str().to_owned()),
                            ("reason", reason),
                            ("category", category.as_str().to_owned()),
                        ],
                        n as f64,
                    )
                })
                .collect()
        },
    );
}

/// The command line every service takes.
#[derive(clap::Parser, Debug)]
struct Args {
    /// The config file (TOML); `SENTRY_*` variables override its keys.
    #[arg(long, env = "SENTRY_CONFIG")]
    config: Option<PathBuf>,
}

/// What a service's body gets.
pub struct Service {
    /// The service's name (`relay`, ...).
    pub name: &'static str,
    /// The settings.
    pub config: Config,
    /// Turns true on SIGTERM or SIGINT: finish the current batch and return.
    pub shutdown: watch::Receiver<bool>,
    /// Metrics and readiness checks, served on the admin address.
    pub ops: Ops,
}

impl Service {
    /// The stream the config names, with a readiness check.
    pub async fn stream(&self) -> anyhow::Result<Arc<dyn Broker>> {
        let broker = sentry_stream::open(&self.config.stream)
            .await
            .with_context(|| {
                format!(
                    "opening the stream {}",
                    sentry_eventstore::redact_url(&self.config.stream)
                )
            })?;
        let probe = broker.clone();
        self.ops.check(
            "stream",
            Arc::new(move || {
                let probe = probe.clone();
                Box::pin(async move {
                    probe
                        .lag("health", sentry_stream::topics::INGEST_EVENTS)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        );
        Ok(broker)
    }

    /// The shared cache the config names, with a readiness check.
    pub async fn cache(&self) -> anyhow::Result<Arc<dyn Cache>> {
        let cache = retry("the cache", &self.shutdown, || async {
            sentry_eventstore::open_cache(&self.config.cache)
        })
        .await?;
        let probe = cache.clone();
        self.ops.check(
            "cache",
            Arc::new(move || {
                let probe = probe.clone();
                Box::pin(async move {
                    probe
                        .get("health")
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        );
        Ok(cache)
    }

    /// Project configs from `store`, kept 5 s in this process. With a
    /// shared cache (Redis), also kept there for 5 minutes: a change made
    /// through `web` removes the shared entry, so every service applies it
    /// within 5 s. A `memory://` cache is this process's own, so it adds no
    /// tier (web's changes could not reach it).
    pub fn project_configs(
        &self,
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
    ) -> Arc<ConfigCache> {
        let configs = ConfigCache::new(store, Duration::from_secs(5));
        if is_memory(&self.config.cache) {
            return Arc::new(configs);
        }
        Arc::new(configs.with_shared(cache, Duration::from_secs(300)))
    }

    /// The metadata database the config names (migrated), with a
    /// readiness check.
    pub async fn metadata(&self) -> anyhow::Result<Arc<dyn Store>> {
        let store = retry("the metadata database", &self.shutdown, || {
            sentry_eventstore::open(&self.config.metadata)
        })
        .await?;
        let probe = store.clone();
        self.ops.check(
            "metadata",
            Arc::new(move || {
                let probe = probe.clone();
                Box::pin(async move {
                    probe
                        .organization("sentry")
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        );
        Ok(store)
    }

    /// The event store the config names (tables created), with a
    /// readiness check.
    pub async fn event_store(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        let events = retry("the event store", &self.shutdown, || {
            sentry_snuba::store::open(&self.config.event_store)
        })
        .await?;
        let probe = events.clone();
        self.ops.check(
            "event_store",
            Arc::new(move || {
                let probe = probe.clone();
                Box::pin(async move { probe.ping().await.map_err(|e| e.to_string()) })
            }),
        );
        Ok(events)
    }

    /// The address of the service's HTTP server: the config's, else
    /// `default`.
    pub fn bind(&self, default: &str) -> anyhow::Result<SocketAddr> {
        match self.config.bind {
            Some(addr) => Ok(addr),
            None => default.parse().context("the default bind address"),
        }
    }

    /// The public URL: the config's, else `http://` + `bind`.
    pub fn url(&self, bind: SocketAddr) -> String {
        self.config
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Serves `app` on `addr` until shutdown, finishing open requests.
    pub async fn serve_http(&self, addr: SocketAddr, app: axum::Router) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, service = self.name, "listening");
        self.ops.started();
        let mut stop = self.shutdown.clone();
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
        Ok(())
    }

    /// Runs a consumer loop until shutdown. When it fails (a broker or
    /// database outage, a lost partition), it is logged and started again
    /// after a pause that grows to 30 s: what it had not committed is read
    /// again.
    pub async fn supervise<F, Fut, E>(&self, what: &'static str, mut run: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        const FIRST_PAUSE: Duration = Duration::from_millis(500);
        let mut pause = FIRST_PAUSE;
        self.ops.started();
        loop {
            let started = tokio::time::Instant::now();
            let result = run().await;
            // A loop that ran a while before failing starts the pauses over.
            if started.elapsed() > Duration::from_secs(60) {
                pause = FIRST_PAUSE;
            }
            match result {
                Ok(()) if *self.shutdown.borrow() => return,
                Ok(()) => tracing::warn!(what, "stopped without a shutdown; starting again"),
                Err(e) => tracing::error!(what, error = %e, "failed; starting again"),
            }
            let mut stop = self.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    }
}

/// How long a service keeps trying to open a database at start before it
/// gives up (and its supervisor, systemd or Kubernetes, starts it again).
const OPEN_PATIENCE: Duration = Duration::from_secs(120);

/// Opens a backend, retrying while it does not answer yet (services and
/// their databases start in any order), until it opens, shutdown, or
/// [`OPEN_PATIENCE`] passed (a wrong URL fails that way too, with its error).
/// Whether a cache URL names a per-process cache.
fn is_memory(url: &str) -> bool {
    url == "memory://" || url == "memory"
}

async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &watch::Receiver<bool>,
    mut open: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + OPEN_PATIENCE;
    let mut pause = Duration::from_millis(250);
    loop {
        match open().await {
            Ok(value) => return Ok(value),
            Err(e) => {
                if *shutdown.borrow() || tokio::time::Instant::now() >= deadline {
                    anyhow::bail!("opening {what}: {e}");
                }
                tracing::warn!(what, error = %e, "not reachable yet; retrying");
            }
        }
        let mut stop = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The `main` of every service: reads the command line and config, sets up
/// logs, the admin server and signal handling, then runs `body` until it
/// returns (after shutdown). Exits 1 on an error.
pub fn main<F, Fut>(name: &'static str, admin_default: &str, body: F) -> ExitCode
where
    F: FnOnce(Service) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let args = <Args as clap::Parser>::parse();
    let config = match Config::load(args.config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    init_logs(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "starting the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!(service = name, "shutting down: finishing in-flight work");
            let _ = stop.send(true);
        });
        let ops = Ops::new(name);
        let admin = config
            .admin_bind
            .map_or_else(|| admin_default.parse(), Ok)
            .context("the admin address")?;
        let admin = ops.serve(admin, shutdown.clone()).await?;
        let service = Service {
            name,
            config,
            shutdown,
            ops,
        };
        tracing::info!(service = name, "starting");
        body(service).await?;
        let _ = admin.await;
        tracing::info!(service = name, "stopped");
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(service = name, error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,rdkafka=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
