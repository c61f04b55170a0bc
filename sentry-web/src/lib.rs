//! The HTTP services (layer 2): the ingest edge, the web API and the web UI.
//!
//! - The ingest edge speaks Relay's protocol: `POST /api/{project_id}/envelope/`
//!   and `/store/` with the three auth forms, CORS for browser SDKs, and
//!   Relay's answers (200 `{"id": ...}`, 400, 401, 403, 413, 429 with
//!   `Retry-After` and `X-Sentry-Rate-Limits`, 503). It enforces allowed
//!   domains, key rate limits and quotas, counts outcomes, and answers 200
//!   only after the envelope is durable in the stream.
//! - The web API lives under `/api/0/` with Sentry's paths and JSON shapes,
//!   bearer tokens or the session cookie, roles, and `Link` cursor
//!   pagination: the organization, its members and teams, projects (with their
//!   settings and inbound filters), keys, issues (list, search, bulk and
//!   single update, delete), events and outcome stats.
//! - The web UI (`pages`): sign-in, the issue list and detail, projects and
//!   their settings, keys, members, teams and API tokens, as server-rendered
//!   HTML with CSRF-protected forms.
//! - Health: `/_health/`, `/api/relay/healthcheck/live/` and `/ready/`.
//!
//! [`router`] builds the whole service from an [`AppState`]; tests drive it
//! without a socket (`tower::ServiceExt::oneshot`).
//!
//! ```
//! use std::sync::Arc;
//! use sentry_web::{AppState, IngestConfig, router};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = sentry_eventstore::open("sqlite::memory:").await.unwrap();
//! let broker = sentry_stream::open("memory://").await.unwrap();
//! let state = AppState::new(store, broker, IngestConfig::default(), "http://127.0.0.1:9000");
//! let app: axum::Router = router(Arc::new(state));
//! # });
//! ```

#![forbid(unsafe_code)]

mod api;
mod auth;
mod discover;
mod endpoints;
mod hooks;
mod ingest;
mod pages;
mod serialize;
mod settings;
pub mod snuba_api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use sentry_envelope::DataCategory;
use sentry_envelope::Limits;
use sentry_eventstore::{ConfigCache, INGEST_CONSUMER_GROUP, Store, produce_outcome};
use sentry_relay_core::outcome::{OutcomeAggregator, OutcomeKind};
use sentry_relay_core::quota::{CachedRateLimits, MemoryCounter, QuotaCounter};
use sentry_snuba::store::EventStore;
use sentry_stream::{Broker, Producer, StreamError, topics};
use serde_json::json;

pub use snuba_api::snuba_router;

/// Settings of the ingest edge.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// Size limits (Relay's defaults).
    pub limits: Limits,
    /// The largest request body read, before decompression.
    pub max_body_bytes: usize,
    /// Envelopes waiting for processing above which ingest answers 503.
    pub max_backlog: u64,
    /// The consumer group whose lag is the backlog.
    pub consumer_group: String,
    /// Whether to take the client IP from `X-Forwarded-For` (behind a proxy).
    pub trust_forwarded_for: bool,
    /// How long a project config is cached.
    pub config_ttl: Duration,
    /// How long a measured backlog is trusted before the stream is asked
    /// again. Zero asks on every request (cheap for the embedded log); a
    /// Kafka broker answers over the network, so the relay service waits a
    /// second between asks.
    pub backlog_check_interval: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let limits = Limits::default();
        IngestConfig {
            max_body_bytes: usize::try_from(limits.max_envelope_size).unwrap_or(usize::MAX),
            limits,
            max_backlog: 100_000,
            consumer_group: INGEST_CONSUMER_GROUP.into(),
            trust_forwarded_for: false,
            config_ttl: Duration::from_secs(5),
            backlog_check_interval: Duration::ZERO,
        }
    }
}

/// What the handlers share.
pub struct AppState {
    /// Metadata, issues and events.
    pub store: Arc<dyn Store>,
    /// The stream.
    pub broker: Arc<dyn Broker>,
    /// The stream's producer.
    pub producer: Arc<dyn Producer>,
    /// Project configs, shared with the consumers of this process.
    pub configs: Arc<ConfigCache>,
    /// Counts quota consumption: in memory, or Redis when several edges
    /// share quotas.
    pub quotas: Arc<dyn QuotaCounter>,
    /// Rate limits learned from earlier requests, per project: requests
    /// they cover are refused without counting.
    pub rate_limits: Mutex<HashMap<u64, CachedRateLimits>>,
    /// Outcomes waiting to be written to the `outcomes` stream.
    pub outcomes: Mutex<OutcomeAggregator>,
    /// Ingest settings.
    pub ingest: IngestConfig,
    /// The public URL of this server (`http://127.0.0.1:9000`), for DSNs,
    /// permalinks and `Link` headers.
    pub base_url: String,
    /// The event store behind issue search, stats, tag pages and Discover;
    /// those routes answer 503 without one.
    pub events: Option<Arc<dyn EventStore>>,
    /// The last backlog measured and when, for
    /// [`IngestConfig::backlog_check_interval`].
    pub backlog: Mutex<Option<(std::time::Instant, Result<u64, String>)>>,
    /// Counts since start, for metrics.
    pub counters: IngestCounters,
}

/// What the ingest edge did since the process started, for `/metrics`.
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Envelopes (and store, security, minidump... requests) received.
    pub received: std::sync::atomic::AtomicU64,
    /// Envelopes acknowledged by the stream (answered 200).
    pub stored: std::sync::atomic::AtomicU64,
    /// Seconds from an envelope's arrival (its body read) to the stream's
    /// acknowledgement, for the stored ones.
    pub stored_seconds: sentry_stream::Histogram,
    /// Outcomes written to the `outcomes` stream, summed by kind, reason and
    /// data category.
    pub outcomes: Mutex<std::collections::BTreeMap<(OutcomeKind, String, DataCategory), u64>>,
}

impl IngestCounters {
    /// The outcome sums: (kind, reason or empty, category, quantity).
    pub fn outcome_totals(&self) -> Vec<(OutcomeKind, String, DataCategory, u64)> {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((kind, reason, category), n)| (*kind, reason.clone(), *category, *n))
            .collect()
    }
}

impl AppState {
    /// Builds the state, with an in-memory quota counter.
    pub fn new(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        ingest: IngestConfig,
        base_url: impl Into<String>,
    ) -> Self {
        AppState {
            configs: Arc::new(ConfigCache::new(store.clone(), ingest.config_ttl)),
            quotas: Arc::new(MemoryCounter::new()),
            rate_limits: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(OutcomeAggregator::default()),
            producer: broker.producer(),
            store,
            broker,
            ingest,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            events: None,
            backlog: Mutex::new(None),
            counters: IngestCounters::default(),
        }
    }

    /// Envelopes waiting for the ingest consumers: the lag of their group on
    /// `ingest-events`, remembered for [`IngestConfig::backlog_check_interval`].
    pub async fn backlog(&self) -> Result<u64, StreamError> {
        let interval = self.ingest.backlog_check_interval;
        if !interval.is_zero() {
            let last = self
                .backlog
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some((_, answer)) = last.filter(|(at, _)| at.elapsed() < interval) {
                // A failure is remembered too: while the broker is away,
                // requests do not each wait for it.
                return answer.map_err(StreamError::Closed);
            }
        }
        let answer = self
            .broker
            .lag(&self.ingest.consumer_group, topics::INGEST_EVENTS)
            .await;
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner) = Some((
            std::time::Instant::now(),
            answer.as_ref().map(|lag| *lag).map_err(ToString::to_string),
        ));
        answer
    }

    /// Serves search, stats, tags and Discover from `events`.
    pub fn with_event_store(mut self, events: Arc<dyn EventStore>) -> Self {
        self.events = Some(events);
        self
    }

    /// Forgets what this process cached about a project after its config
    /// changed: the config itself and the rate limits learned from it.
    pub async fn project_changed(&self, project_id: u64) {
        self.configs.invalidate(project_id).await;
        self.rate_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&project_id);
    }

    /// Uses another project-config cache (one with a shared tier, say:
    /// [`ConfigCache::with_shared`]).
    pub fn with_configs(mut self, configs: Arc<ConfigCache>) -> Self {
        self.configs = configs;
        self
    }

    /// Uses another quota counter (Redis, say).
    pub fn with_quota_counter(mut self, counter: Arc<dyn QuotaCounter>) -> Self {
        self.quotas = counter;
        self
    }

    /// Writes the outcomes collected so far to the `outcomes` stream.
    /// Those that could not be written are kept for the next flush.
    pub async fn flush_outcomes(&self) -> Result<usize, StreamError> {
        let outcomes = self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain();
        let count = outcomes.len();
        for (i, outcome) in outcomes.iter().enumerate() {
            if let Err(e) = produce_outcome(self.producer.as_ref(), outcome).await {
                let mut waiting = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
                for outcome in &outcomes[i..] {
                    waiting.add_outcome(outcome);
                }
                return Err(e);
            }
            let key = (
                outcome.outcome,
                outcome.reason.clone().unwrap_or_default(),
                outcome.category,
            );
            let mut totals = self
                .counters
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *totals.entry(key).or_default() += outcome.quantity;
        }
        Ok(count)
    }

    /// Flushes outcomes every `every` until `shutdown` turns true, then
    /// once more.
    pub async fn run_outcome_flusher(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let stop = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = shutdown.changed() => true,
            };
            if let Err(e) = self.flush_outcomes().await {
                tracing::warn!(error = %e, "writing outcomes failed; will retry");
            }
            if stop || *shutdown.borrow() {
                return;
            }
        }
    }
}

/// The whole HTTP service: ingest, API, pages and health checks.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/0/organizations/{org}/", get(api::get_organization))
        .route(
            "/api/0/organizations/{org}/members/",
            get(api::list_members),
        )
        .route("/api/0/organizations/{org}/teams/", get(api::list_teams))
        .route(
            "/api/0/organizations/{org}/projects/",
            get(api::list_projects),
        )
        .route(
            "/api/0/projects/{org}/{project}/",
            get(settings::get_project).put(settings::update_project),
        )
        .route(
            "/api/0/projects/{org}/{project}/filters/",
            get(settings::list_filters),
        )
        .route(
            "/api/0/projects/{org}/{project}/filters/{filter_id}/",
            axum::routing::put(settings::update_filter),
        )
        .route(
            "/api/0/organizations/{org}/stats_v2/",
            get(settings::stats_v2),
        )
        .route(
            "/api/0/projects/{org}/{project}/keys/",
            get(api::list_keys).post(api::create_key),
        )
        .route(
            "/api/0/projects/{org}/{project}/keys/{key_id}/",
            axum::routing::put(api::update_key),
        )
        .route(
            "/api/0/projects/{org}/{project}/hooks/",
            get(hooks::list_hooks).post(hooks::create_hook),
        )
        .route(
            "/api/0/projects/{org}/{project}/hooks/{hook_id}/",
            get(hooks::get_hook)
                .put(hooks::update_hook)
                .delete(hooks::delete_hook),
        )
        .route(
            "/api/0/teams/{org}/{team}/projects/",
            post(api::create_project),
        )
        .route(
            "/api/0/organizations/{org}/issues/",
            get(api::list_issues).put(api::update_issues),
        )
        .route(
            "/api/0/organizations/{org}/issues/{id}/",
            get(api::get_issue)
                .put(api::update_issue)
                .delete(api::delete_issue),
        )
        .route(
            "/api/0/organizations/{org}/issues/{id}/events/",
            get(api::issue_events),
        )
        .route(
            "/api/0/organizations/{org}/issues/{id}/tags/",
            get(discover::issue_tags),
        )
        .route(
            "/api/0/organizations/{org}/issues/{id}/tags/{key}/values/",
            get(discover::issue_tag_values),
        )
        .route(
            "/api/0/organizations/{org}/issues-stats/",
            get(discover::issues_stats),
        )
        .route(
            "/api/0/organizations/{org}/events/",
            get(discover::discover),
        )
        .route(
            "/api/0/organizations/{org}/issues/{id}/events/{event}/",
            get(api::issue_event),
        )
        .route(
            "/api/0/projects/{org}/{project}/events/{event_id}/",
            get(api::project_event),
        )
        .route("/api/0/{*rest}", any(api::not_found));
    Router::new()
        .merge(ingest_routes(state.ingest.max_body_bytes))
        .merge(api)
        .merge(pages::routes())
        .route("/_health/", get(health))
        .route("/api/relay/healthcheck/live/", get(live))
        .route("/api/relay/healthcheck/ready/", get(ready))
        .with_state(state)
}

/// The ingest edge alone (the `relay` service): the SDK endpoints and
/// health checks, no API and no pages.
pub fn ingest_router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(ingest_routes(state.ingest.max_body_bytes))
        .route("/_health/", get(health))
        .route("/api/relay/healthcheck/live/", get(live))
        .route("/api/relay/healthcheck/ready/", get(ready))
        .with_state(state)
}

/// The endpoints SDKs send to, with the body limit and CORS of ingest.
fn ingest_routes(body_limit: usize) -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/{project_id}/envelope/", post(ingest::envelope))
        .route("/api/{project_id}/store/", post(ingest::store))
        .route("/api/store/", post(ingest::store_without_project))
        .route("/api/{project_id}/security/", post(endpoints::security))
        .route("/api/{project_id}/csp-report/", post(endpoints::security))
        .route(
            "/api/{project_id}/cron/{slug}/{key}/",
            get(endpoints::cron).post(endpoints::cron),
        )
        .route("/api/{project_id}/minidump/", post(endpoints::minidump))
        .route(
            "/api/{project_id}/events/{event_id}/attachments/",
            post(endpoints::attachments),
        )
        .route("/api/{project_id}/unreal/{key}/", post(endpoints::unreal))
        .route("/api/{project_id}/nel/", post(endpoints::nel))
        .route(
            "/api/{project_id}/otlp/v1/traces/",
            post(endpoints::otlp_traces),
        )
        .route(
            "/api/{project_id}/otlp/v1/traces",
            post(endpoints::otlp_traces),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(ingest::cors))
}

async fn health() -> &'static str {
    "ok"
}

async fn live() -> Response {
    axum::Json(json!({"is_healthy": true})).into_response()
}

/// Ready when the store answers and the backlog has room.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let store_ok = state.store.organization("sentry").await.is_ok();
    let backlog_ok = state
        .broker
        .lag(&state.ingest.consumer_group, topics::INGEST_EVENTS)
        .await
        .is_ok_and(|lag| lag < state.ingest.max_backlog);
    let healthy = store_ok && backlog_ok;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(json!({"is_healthy": healthy}))).into_response()
}
