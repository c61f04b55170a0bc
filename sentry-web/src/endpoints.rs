//! Relay's other ingest endpoints: security reports, cron check-ins,
//! attachments, minidumps and Unreal crash reports. Each turns its request
//! into an envelope and goes through the same checks and stream as
//! `/envelope/` ([`ingest`]).
//!
//! The bytes are parsed by the pure, fuzzed modules of `sentry-envelope`
//! (`multipart`, `minidump`, `security`, `nel`): a handler reads the body
//! with a cap (decoding its `Content-Encoding`), calls them with limits from
//! the configuration, and answers 413 for an error that is a limit, 400 for
//! any other.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentry_envelope::minidump::{self, MinidumpError, MinidumpLimits};
use sentry_envelope::multipart::{self, MultipartError, MultipartLimits, Part};
use sentry_envelope::nel::{self, NelError, NelLimits};
use sentry_envelope::protocol::EventId;
use sentry_envelope::security::{self, SecurityLimits, SecurityReportError};
use sentry_envelope::{AttachmentType, Envelope, EnvelopeHeaders, Item, ItemType};
use serde_json::{Map, Value};

use crate::AppState;
use crate::ingest::{IngestError, Origin, ingest, parse_project_id, read_body};

fn bad(detail: impl Into<String>) -> IngestError {
    IngestError::new(StatusCode::BAD_REQUEST, detail)
}

fn too_large(detail: impl Into<String>) -> IngestError {
    IngestError::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
}

fn limit_or_bad(is_limit: bool, detail: String) -> IngestError {
    if is_limit {
        too_large(detail)
    } else {
        bad(detail)
    }
}

fn multipart_error(e: MultipartError) -> IngestError {
    limit_or_bad(e.is_limit(), e.to_string())
}

fn minidump_error(e: MinidumpError) -> IngestError {
    limit_or_bad(e.is_limit(), e.to_string())
}

fn security_error(e: SecurityReportError) -> IngestError {
    limit_or_bad(e.is_limit(), e.to_string())
}

fn nel_error(e: NelError) -> IngestError {
    limit_or_bad(e.is_limit(), e.to_string())
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `POST /api/{project_id}/security/` and `/csp-report/`: CSP, Expect-CT,
/// HPKP and Expect-Staple reports as browsers send them.
pub(crate) async fn security(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let mime = content_type(&origin.headers);
    let allowed = [
        "application/json",
        "application/csp-report",
        "application/expect-ct-report",
        "application/expect-ct-report+json",
        "application/expect-staple-report",
        "application/reports+json",
    ];
    if !allowed.contains(&mime.as_str()) {
        return Ok(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    }
    let body = read_body(&state, &origin.headers, body).await?;
    let limits = SecurityLimits::from_limits(&state.ingest.limits);
    let parsed = security::parse(&body, &limits).map_err(security_error)?;
    for skipped in &parsed.skipped {
        tracing::debug!(project_id = project_id.value(), reason = %skipped, "security report skipped");
    }
    let release = query_param(origin.query.as_deref(), "sentry_release");
    let environment = query_param(origin.query.as_deref(), "sentry_environment");
    origin.path_project = Some(project_id);
    if parsed.reports.is_empty() {
        // Nothing to store (reports of other types): still authenticate.
        ingest(&state, &origin, Envelope::new(EnvelopeHeaders::default())).await?;
    }
    // One envelope per report: an envelope holds one event.
    for report in parsed.reports {
        let mut event = report.event;
        let event_id = EventId(uuid::Uuid::new_v4());
        event.insert("event_id".into(), Value::String(event_id.to_string()));
        for (key, value) in [("release", &release), ("environment", &environment)] {
            if let Some(value) = value {
                event.insert(key.into(), Value::String(value.clone()));
            }
        }
        let payload = serde_json::to_vec(&event).map_err(|e| bad(e.to_string()))?;
        let mut item = Item::new(ItemType::Security, payload);
        item.headers.content_type = Some("application/json".into());
        let mut envelope = Envelope::new(EnvelopeHeaders::default());
        envelope.headers_mut().event_id = Some(event_id);
        envelope.add_item(item);
        ingest(&state, &origin, envelope).await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/{project_id}/nel/`: Network Error Logging reports (a JSON
/// list), as browsers send them. Answers 200.
pub(crate) async fn nel(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let mime = content_type(&origin.headers);
    if mime != "application/json" && mime != "application/reports+json" {
        return Ok(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    }
    let body = read_body(&state, &origin.headers, body).await?;
    let reports =
        nel::split(&body, &NelLimits::from_limits(&state.ingest.limits)).map_err(nel_error)?;
    // One item per report, as Relay splits them.
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    for report in reports {
        let mut item = Item::new(ItemType::Nel, report);
        item.headers.content_type = Some("application/json".into());
        envelope.add_item(item);
    }
    origin.path_project = Some(project_id);
    // Rate limits do not turn into errors for browsers' reports.
    match ingest(&state, &origin, envelope).await {
        Err(e) if e.status() != StatusCode::TOO_MANY_REQUESTS => return Err(e),
        _ => {}
    }
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/{project_id}/otlp/v1/traces/`: OpenTelemetry traces (OTLP
/// over HTTP, JSON or protobuf), kept whole as an `otel_traces_data` item.
/// Answers 202.
pub(crate) async fn otlp_traces(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let mime = content_type(&origin.headers);
    let json = match mime.as_str() {
        "application/json" => true,
        "application/x-protobuf" | "application/protobuf" => false,
        _ => return Ok(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response()),
    };
    let body = read_body(&state, &origin.headers, body).await?;
    if body.len() as u64 > state.ingest.limits.max_event_size {
        return Err(too_large("OTLP request over the event size limit"));
    }
    if json {
        serde_json::from_slice::<Map<String, Value>>(&body)
            .map_err(|e| bad(format!("invalid OTLP JSON: {e}")))?;
    }
    let mut item = Item::new(ItemType::OtelTracesData, body);
    item.headers.content_type = Some(mime);
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.add_item(item);
    origin.path_project = Some(project_id);
    ingest(&state, &origin, envelope).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET|POST /api/{project_id}/cron/{slug}/{key}/`: a monitor check-in,
/// as JSON or as query parameters (`?status=ok&duration=...`). Answers 202.
pub(crate) async fn cron(
    State(state): State<Arc<AppState>>,
    Path((project_id, slug, key)): Path<(String, String, String)>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let mut check_in: Map<String, Value> = if content_type(&origin.headers) == "application/json" {
        let body = read_body(&state, &origin.headers, body).await?;
        if body.len() as u64 > state.ingest.limits.max_check_in_size {
            return Err(too_large("check-in over its size limit"));
        }
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid check-in: {e}")))?
    } else {
        let q = origin.query.as_deref();
        let status = query_param(q, "status").ok_or_else(|| bad("missing check-in status"))?;
        let mut map = Map::new();
        map.insert("status".into(), Value::String(status));
        map.insert(
            "check_in_id".into(),
            Value::String(
                query_param(q, "check_in_id")
                    .unwrap_or_else(|| EventId(uuid::Uuid::nil()).to_string()),
            ),
        );
        if let Some(env) = query_param(q, "environment") {
            map.insert("environment".into(), Value::String(env));
        }
        if let Some(duration) = query_param(q, "duration") {
            let d: f64 = duration
                .parse()
                .map_err(|_| bad("invalid check-in duration"))?;
            map.insert("duration".into(), serde_json::json!(d));
        }
        map
    };
    let status = check_in.get("status").and_then(Value::as_str).unwrap_or("");
    if !["ok", "error", "in_progress", "missed", "timeout"].contains(&status) {
        return Err(bad(format!("invalid check-in status {status:?}")));
    }
    check_in.insert("monitor_slug".into(), Value::String(slug));
    let payload = serde_json::to_vec(&check_in).map_err(|e| bad(e.to_string()))?;
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.add_item(Item::new(ItemType::CheckIn, payload));
    origin.path_project = Some(project_id);
    origin.path_key = Some(key);
    ingest(&state, &origin, envelope).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Splits a collected (size-capped, decoded) multipart body into parts.
fn parts(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<Vec<Part>, IngestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multipart::boundary(content_type).map_err(multipart_error)?;
    let limits = MultipartLimits::from_limits(&state.ingest.limits);
    multipart::parse(body, &boundary, &limits).map_err(multipart_error)
}

/// A response with the event id as plain text, as crash reporters expect.
fn text_id(id: Option<EventId>) -> Response {
    let id = id.map(|i| i.0.hyphenated().to_string()).unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], id).into_response()
}

/// Answers as Relay does for crash uploads: a rate limit is not an error
/// (crash reporters retry forever), any other refusal is.
fn never_429(
    result: Result<Option<EventId>, IngestError>,
    id: EventId,
) -> Result<Response, IngestError> {
    match result {
        Ok(_) => Ok(text_id(Some(id))),
        Err(e) if e.status() == StatusCode::TOO_MANY_REQUESTS => Ok(text_id(Some(id))),
        Err(e) => Err(e),
    }
}

/// `POST /api/{project_id}/minidump/`: a minidump as a multipart upload
/// (`upload_file_minidump`, more files, `sentry[...]` fields) or as the raw
/// body, either possibly gzipped as a whole (`Content-Encoding`, as Crashpad
/// sends it). Answers the event id as text.
pub(crate) async fn minidump(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let limits = MinidumpLimits::from_limits(&state.ingest.limits);
    let mime = content_type(&origin.headers);
    let body = read_body(&state, &origin.headers, body).await?;
    let upload = if mime == "application/octet-stream" || mime == "application/x-dmp" {
        minidump::upload_from_body(body, &limits)
    } else {
        minidump::upload_from_parts(parts(&state, &origin.headers, &body)?, &limits)
    }
    .map_err(minidump_error)?;
    for skipped in &upload.skipped {
        tracing::debug!(project_id = project_id.value(), reason = %skipped, "minidump form field not used");
    }
    let event_id = upload
        .event_id
        .unwrap_or_else(|| EventId(uuid::Uuid::new_v4()));
    let mut event: Map<String, Value> = upload.event;
    event.insert("event_id".into(), Value::String(event_id.to_string()));
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.headers_mut().event_id = Some(event_id);
    for item in upload.attachments {
        envelope.add_item(item);
    }
    let payload = serde_json::to_vec(&event).map_err(|e| bad(e.to_string()))?;
    envelope.add_item(Item::new(ItemType::Event, payload));
    origin.path_project = Some(project_id);
    never_429(ingest(&state, &origin, envelope).await, event_id)
}

/// `POST /api/{project_id}/events/{event_id}/attachments/`: files for an
/// event sent earlier, as a multipart upload. Answers 201.
pub(crate) async fn attachments(
    State(state): State<Arc<AppState>>,
    Path((project_id, event_id)): Path<(String, String)>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let event_id: EventId = event_id
        .parse()
        .map_err(|_| bad("invalid event id in path"))?;
    let body = read_body(&state, &origin.headers, body).await?;
    let parts = parts(&state, &origin.headers, &body)?;
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.headers_mut().event_id = Some(event_id);
    for part in parts.into_iter().filter(Part::is_file) {
        envelope.add_item(minidump::attachment_item(part, AttachmentType::Attachment));
    }
    if envelope.items().is_empty() {
        return Err(bad("no files in the upload"));
    }
    origin.path_project = Some(project_id);
    ingest(&state, &origin, envelope).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `POST /api/{project_id}/unreal/{key}/`: an Unreal Engine crash report
/// archive, kept whole as an `unreal_report` item. Answers the event id.
pub(crate) async fn unreal(
    State(state): State<Arc<AppState>>,
    Path((project_id, key)): Path<(String, String)>,
    mut origin: Origin,
    body: Body,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let body = read_body(&state, &origin.headers, body).await?;
    if body.is_empty() {
        return Err(bad("empty unreal report"));
    }
    if body.len() as u64 > state.ingest.limits.max_attachments_size {
        return Err(too_large("unreal report over the attachments size limit"));
    }
    let event_id = EventId(uuid::Uuid::new_v4());
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.headers_mut().event_id = Some(event_id);
    envelope.add_item(Item::new(ItemType::UnrealReport, body));
    origin.path_project = Some(project_id);
    origin.path_key = Some(key);
    never_429(ingest(&state, &origin, envelope).await, event_id)
}
