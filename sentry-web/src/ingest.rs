//! The ingest edge: Relay's `/api/{project_id}/envelope/` and `/store/`.
//!
//! A request is decompressed (with a cap), parsed, authenticated against the
//! project config, checked against the size limits, and produced to the
//! `ingest-events` stream. The answer is 200 only once the stream says the
//! record is durable; processing happens behind it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sentry_envelope::protocol::{ClientReport, EventId};
use sentry_envelope::store::{StoreBodyError, decode_store_body};
use sentry_envelope::{
    Auth, ContentEncoding, DecompressError, Envelope, EnvelopeError, EnvelopeHeaders, Item,
    ItemType, ProjectId, reconcile,
};
use sentry_eventstore::IngestMessage;
use sentry_relay_core::outcome::{OutcomeKind, client_report_outcomes};
use sentry_relay_core::quota::{RateLimiter, RateLimits, Scoping};
use sentry_relay_core::{ProjectConfig, Rejection, check_auth, check_envelope, check_origin};
use sentry_stream::topics;
use serde_json::json;

use crate::AppState;

/// An ingest error: a status and a reason, sent as Relay does
/// (`{"detail": ...}` and an `X-Sentry-Error` header).
#[derive(Debug)]
pub(crate) struct IngestError {
    status: StatusCode,
    detail: String,
    /// `X-Sentry-Rate-Limits` of a 429.
    rate_limits: Option<String>,
    /// `Retry-After` in seconds of a 429 or 503 (1 when not given).
    retry_after: Option<u64>,
}

impl IngestError {
    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        IngestError {
            status,
            detail: detail.into(),
            rate_limits: None,
            retry_after: None,
        }
    }

    /// A 429: everything in the request was rate limited.
    fn rate_limited(limits: &RateLimits, now: chrono::DateTime<Utc>) -> Self {
        IngestError {
            rate_limits: Some(limits.to_header(now)),
            retry_after: Some(limits.retry_after_secs(now).unwrap_or(1).max(1)),
            ..IngestError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "event submission rejected with_reason: rate limited",
            )
        }
    }
}

impl From<Rejection> for IngestError {
    fn from(r: Rejection) -> Self {
        let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        IngestError::new(status, r.to_string())
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({ "detail": self.detail }))).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.detail) {
            response.headers_mut().insert("x-sentry-error", value);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(self.retry_after.unwrap_or(1)),
            );
        }
        set_rate_limits(&mut response, self.rate_limits.as_deref());
        response
    }
}

/// Adds `X-Sentry-Rate-Limits` when there are limits to report.
fn set_rate_limits(response: &mut Response, limits: Option<&str>) {
    if let Some(value) = limits.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert("x-sentry-rate-limits", value);
    }
}

/// `POST /api/{project_id}/envelope/`.
pub(crate) async fn envelope(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let body = read_body(&state, &origin.headers, body).await?;
    let envelope = Envelope::parse(body, &state.ingest.limits).map_err(|e| match e {
        EnvelopeError::TooLarge(limit) => {
            IngestError::new(StatusCode::PAYLOAD_TOO_LARGE, limit.to_string())
        }
        other => IngestError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid envelope: {other}"),
        ),
    })?;
    origin.path_project = Some(project_id);
    let ingested = ingest_envelope(&state, &origin, envelope).await?;
    Ok(ingested.into_response())
}

/// `POST /api/{project_id}/store/`: the legacy single-event endpoint.
pub(crate) async fn store(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    store_body(state, Some(project_id), origin, body).await
}

/// `POST /api/store/`: the store endpoint without a project in the path;
/// the key names the project.
pub(crate) async fn store_without_project(
    State(state): State<Arc<AppState>>,
    origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    store_body(state, None, origin, body).await
}

async fn store_body(
    state: Arc<AppState>,
    project_id: Option<ProjectId>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let body = read_body(&state, &origin.headers, body).await?;
    let max_event = usize::try_from(state.ingest.limits.max_event_size).unwrap_or(usize::MAX);
    let json = decode_store_body(body, max_event).map_err(|e| {
        let status = match e {
            StoreBodyError::Decompress(DecompressError::TooLarge(_)) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        IngestError::new(status, format!("invalid store body: {e}"))
    })?;
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.add_item(Item::new(ItemType::Event, json));
    origin.path_project = project_id;
    let ingested = ingest_envelope(&state, &origin, envelope).await?;
    Ok(ingested.into_response())
}

pub(crate) fn parse_project_id(raw: &str) -> Result<ProjectId, IngestError> {
    raw.parse::<u64>()
        .map(ProjectId::new)
        .map_err(|_| IngestError::new(StatusCode::BAD_REQUEST, "invalid project id in path"))
}

/// Reads the body with a cap on its compressed size, then decompresses it
/// with a cap on the result.
pub(crate) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, IngestError> {
    let raw = axum::body::to_bytes(body, state.ingest.max_body_bytes)
        .await
        .map_err(|e| {
            IngestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body over {} bytes: {e}",
                    state.ingest.max_body_bytes
                ),
            )
        })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(ContentEncoding::parse)
        .unwrap_or(ContentEncoding::Identity);
    if encoding == ContentEncoding::Identity {
        return Ok(raw);
    }
    let cap = usize::try_from(state.ingest.limits.max_envelope_size).unwrap_or(usize::MAX);
    sentry_envelope::decompress(encoding, &raw, cap).map_err(|e| match e {
        DecompressError::TooLarge(limit) => {
            IngestError::new(StatusCode::PAYLOAD_TOO_LARGE, limit.to_string())
        }
        other => IngestError::new(StatusCode::BAD_REQUEST, other.to_string()),
    })
}

fn auth_header(headers: &HeaderMap) -> Result<Option<Auth>, IngestError> {
    // `Authorization` counts only in Sentry's scheme: a proxy's or an API
    // client's `Bearer ...` is not an ingest credential.
    let value = headers
        .get("x-sentry-auth")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .filter(|v| {
                    v.get(..7)
                        .is_some_and(|p| p.eq_ignore_ascii_case("sentry "))
                })
        });
    match value {
        Some(v) => Auth::from_header(v)
            .map(Some)
            .map_err(|e| IngestError::new(StatusCode::UNAUTHORIZED, e.to_string())),
        None => Ok(None),
    }
}

/// Where a request came from, for authentication and the client's address.
///
/// An extractor: handlers take it and fill in what their path says.
pub(crate) struct Origin {
    /// The project id of the path, if it has one.
    pub(crate) path_project: Option<ProjectId>,
    /// A key in the path (`/cron/{slug}/{key}/`, `/unreal/{key}/`).
    pub(crate) path_key: Option<String>,
    /// The query string.
    pub(crate) query: Option<String>,
    /// The request headers.
    pub(crate) headers: HeaderMap,
    /// The peer address.
    pub(crate) peer: SocketAddr,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = IngestError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| {
                IngestError::new(StatusCode::INTERNAL_SERVER_ERROR, "no peer address")
            })?;
        Ok(Origin {
            path_project: None,
            path_key: None,
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            peer,
        })
    }
}

/// What became of an accepted request.
pub(crate) struct Ingested {
    /// The event id of the envelope, if it has an event.
    pub(crate) event_id: Option<EventId>,
    /// Limits that dropped part of the envelope, for `X-Sentry-Rate-Limits`.
    pub(crate) rate_limits: Option<String>,
}

impl IntoResponse for Ingested {
    fn into_response(self) -> Response {
        let mut response = ok_response(self.event_id);
        set_rate_limits(&mut response, self.rate_limits.as_deref());
        response
    }
}

/// Authenticates, checks and produces an envelope; returns its event id.
pub(crate) async fn ingest(
    state: &AppState,
    origin: &Origin,
    envelope: Envelope,
) -> Result<Option<EventId>, IngestError> {
    ingest_envelope(state, origin, envelope)
        .await
        .map(|ingested| ingested.event_id)
}

/// Authenticates an envelope, checks it against the project's limits,
/// allowed domains and quotas, counts client reports, and produces what
/// passes. Every item refused after the project is known is counted as an
/// outcome.
pub(crate) async fn ingest_envelope(
    state: &AppState,
    origin: &Origin,
    mut envelope: Envelope,
) -> Result<Ingested, IngestError> {
    let started = std::time::Instant::now();
    state
        .counters
        .received
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let headers = &origin.headers;
    let header = auth_header(headers)?;
    let mut query_auth = Auth::from_query(origin.query.as_deref().unwrap_or(""))
        .map_err(|e| IngestError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    if let (None, Some(key)) = (&query_auth, origin.path_key.as_deref()) {
        query_auth = Auth::from_query(&format!("sentry_key={key}"))
            .map_err(|e| IngestError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    }
    let dsn = envelope
        .headers()
        .dsn
        .as_deref()
        .and_then(|d| d.parse().ok());
    let auth = reconcile(header, query_auth, dsn.as_ref(), origin.path_project)
        .map_err(|e| IngestError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let project_id = match auth.project_id.or(origin.path_project) {
        Some(id) => id,
        None => state
            .store
            .project_for_key(&auth.public_key)
            .await
            .map_err(|e| IngestError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
            .map(|id| ProjectId::new(id.unsigned_abs()))
            .ok_or_else(|| IngestError::new(StatusCode::FORBIDDEN, "unknown key"))?,
    };
    let project = state
        .configs
        .get(project_id.value())
        .await
        .map_err(|e| IngestError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    check_auth(project.as_deref().map(|p| &p.config), &auth)?;
    let Some(project) = project else {
        return Err(IngestError::new(StatusCode::FORBIDDEN, "unknown project"));
    };
    let config = &project.config;
    let scoping = config.scoping(Some(&auth.public_key));
    let now = Utc::now();
    let refuse = |rejection: Rejection, envelope: &Envelope| {
        count_items(
            state,
            envelope,
            scoping,
            now,
            OutcomeKind::Invalid,
            rejection.reason(),
        );
        IngestError::from(rejection)
    };
    let request_origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    check_origin(config, request_origin).map_err(|r| refuse(r, &envelope))?;
    check_envelope(config, &envelope).map_err(|r| refuse(r, &envelope))?;
    for item in envelope.items() {
        let json = matches!(
            item.headers.ty,
            ItemType::Event | ItemType::Transaction | ItemType::Security | ItemType::UserReportV2
        );
        if json {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&item.payload) {
                count_items(
                    state,
                    &envelope,
                    scoping,
                    now,
                    OutcomeKind::Invalid,
                    "invalid_json",
                );
                return Err(IngestError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid {} payload: {e}", item.headers.ty),
                ));
            }
        }
    }
    take_client_reports(state, &mut envelope, scoping, now);
    if envelope.items().is_empty() {
        // Nothing to store: Relay answers 200 to an empty envelope.
        return Ok(Ingested {
            event_id: None,
            rate_limits: None,
        });
    }

    // A full backlog refuses before quotas count: the client retries.
    let lag = state
        .backlog()
        .await
        .map_err(|e| IngestError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if lag >= state.ingest.max_backlog {
        return Err(IngestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("processing backlog is full ({lag} envelopes)"),
        ));
    }

    let (mut envelope, rate_limits) =
        enforce_quotas(state, config, &auth.public_key, envelope, scoping, now)?;
    let event_id = envelope.ensure_event_id(|| EventId(uuid::Uuid::new_v4()));

    let message = IngestMessage {
        project_id: project_id.value(),
        key_id: scoping.key_id,
        received_at: now,
        remote_addr: Some(client_ip(
            headers,
            origin.peer,
            state.ingest.trust_forwarded_for,
        )),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        envelope: Bytes::from(envelope.to_vec()),
    };
    let key = Bytes::from(project_id.value().to_string());
    state
        .producer
        .produce(topics::INGEST_EVENTS, Some(key), message.encode())
        .await
        .map_err(|e| match e {
            // Too large for the stream: sending it again will not help.
            sentry_stream::StreamError::RecordTooLarge { size, limit } => IngestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("envelope of {size} bytes is larger than the stream takes ({limit})"),
            ),
            e => {
                tracing::error!(error = %e, "could not write to the stream");
                IngestError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not store the envelope",
                )
            }
        })?;
    state
        .counters
        .stored
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    state
        .counters
        .stored_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(Ingested {
        event_id,
        rate_limits,
    })
}

/// Counts every item of an envelope as one outcome.
fn count_items(
    state: &AppState,
    envelope: &Envelope,
    scoping: Scoping,
    now: chrono::DateTime<Utc>,
    kind: OutcomeKind,
    reason: &str,
) {
    let mut outcomes = state
        .outcomes
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for item in envelope.items() {
        for (category, quantity) in item.quantities() {
            let quantity = u64::try_from(quantity).unwrap_or(u64::MAX);
            outcomes.add(now, scoping, kind, Some(reason), category, quantity);
        }
    }
}

/// Removes the client reports of an envelope and counts what they report.
/// A report that does not parse is dropped as invalid.
fn take_client_reports(
    state: &AppState,
    envelope: &mut Envelope,
    scoping: Scoping,
    now: chrono::DateTime<Utc>,
) {
    if !envelope
        .items()
        .iter()
        .any(|i| i.headers.ty == ItemType::ClientReport)
    {
        return;
    }
    let mut outcomes = state
        .outcomes
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    envelope.items_mut().retain(|item| {
        if item.headers.ty != ItemType::ClientReport {
            return true;
        }
        match serde_json::from_slice::<ClientReport>(&item.payload) {
            Ok(report) => client_report_outcomes(&report, now, &mut outcomes, scoping),
            Err(e) => tracing::debug!(error = %e, "dropped an invalid client report"),
        }
        false
    });
}

/// Applies the project's quotas and its key's rate limit. Returns what
/// passes with the `X-Sentry-Rate-Limits` value when something was
/// dropped, or a 429 when nothing passes. A failing counter (Redis down)
/// lets everything through: losing data is worse than over-accepting.
fn enforce_quotas(
    state: &AppState,
    config: &ProjectConfig,
    public_key: &str,
    envelope: Envelope,
    scoping: Scoping,
    now: chrono::DateTime<Utc>,
) -> Result<(Envelope, Option<String>), IngestError> {
    let rate_limit = config.key(public_key).and_then(|k| k.rate_limit);
    if config.settings.quotas.is_empty() && rate_limit.is_none() {
        return Ok((envelope, None));
    }
    let project = config.project_id.value();
    let cached = state
        .rate_limits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&project)
        .cloned()
        .unwrap_or_default();
    let limiter = RateLimiter::new(state.quotas.as_ref(), &config.settings.quotas)
        .with_key_rate_limit(scoping.key_id, rate_limit)
        .with_cached(&cached);
    // A remote counter blocks on the network: keep it off the async
    // workers where the runtime allows.
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let result = if multi_thread {
        tokio::task::block_in_place(|| limiter.enforce(&envelope, scoping, now))
    } else {
        limiter.enforce(&envelope, scoping, now)
    };
    let limits = match result {
        Ok(limits) => limits,
        Err(e) => {
            tracing::error!(error = %e, "quota counter failed; accepting without quotas");
            return Ok((envelope, None));
        }
    };
    if limits.dropped.is_empty() {
        return Ok((limits.accepted, None));
    }
    {
        let mut outcomes = state
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for dropped in &limits.dropped {
            outcomes.add(
                now,
                scoping,
                OutcomeKind::RateLimited,
                dropped.reason_code.as_deref(),
                dropped.category,
                dropped.quantity,
            );
        }
    }
    state
        .rate_limits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(project)
        .or_default()
        .merge(limits.rate_limits.clone(), now);
    if limits.is_rejected() {
        return Err(IngestError::rate_limited(&limits.rate_limits, now));
    }
    let header = limits.rate_limits.to_header(now);
    Ok((limits.accepted, Some(header)))
}

fn ok_response(event_id: Option<EventId>) -> Response {
    let id = event_id.map(|id| id.0.simple().to_string());
    axum::Json(json!({ "id": id })).into_response()
}

fn client_ip(headers: &HeaderMap, peer: SocketAddr, trust_forwarded: bool) -> IpAddr {
    if trust_forwarded {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
}

/// CORS for browser SDKs: any origin may post events.
pub(crate) async fn cors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, accept, \
                 content-type, content-encoding, authentication, authorization, sentry-trace, baggage",
            ),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("3600"),
        );
    }
    response
}
