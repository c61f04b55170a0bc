//! Relay's other ingest endpoints: security reports, cron check-ins,
//! attachments, minidumps and Unreal crash reports. Each turns its request
//! into an envelope and goes through the same checks and stream as
//! `/envelope/` ([`ingest`]).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentry_envelope::protocol::EventId;
use sentry_envelope::{
    AttachmentType, ContentEncoding, DecompressError, Envelope, EnvelopeHeaders, Item, ItemType,
};
use serde_json::{Map, Value};

use crate::AppState;
use crate::ingest::{IngestError, Origin, ingest, parse_project_id, read_body};

/// The multipart field of a minidump (what Breakpad and Crashpad send).
const MINIDUMP_FIELD: &str = "upload_file_minidump";
/// The most form fields a multipart request may have.
const MAX_FORM_FIELDS: usize = 500;

fn bad(detail: impl Into<String>) -> IngestError {
    IngestError::new(StatusCode::BAD_REQUEST, detail)
}

fn too_large(detail: impl Into<String>) -> IngestError {
    IngestError::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
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
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("empty security report"));
    }
    if body.len() as u64 > state.ingest.limits.max_event_size {
        return Err(too_large("security report over the event size limit"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&body)
        .map_err(|e| bad(format!("invalid security report: {e}")))?;
    let mut item = Item::new(ItemType::RawSecurity, body);
    item.headers.content_type = Some("application/json".into());
    for (param, header) in [
        ("sentry_release", "sentry_release"),
        ("sentry_environment", "sentry_environment"),
    ] {
        if let Some(value) = query_param(origin.query.as_deref(), param) {
            item.headers
                .other
                .insert(header.into(), Value::String(value));
        }
    }
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.headers_mut().event_id = Some(EventId(uuid::Uuid::new_v4()));
    envelope.add_item(item);
    origin.path_project = Some(project_id);
    ingest(&state, &origin, envelope).await?;
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
    if body.len() as u64 > state.ingest.limits.max_event_size {
        return Err(too_large("NEL reports over the event size limit"));
    }
    let reports: Vec<serde::de::IgnoredAny> =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid NEL reports: {e}")))?;
    if reports.is_empty() {
        return Err(bad("no NEL reports"));
    }
    let mut item = Item::new(ItemType::Nel, body);
    item.headers.content_type = Some("application/json".into());
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.add_item(item);
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

/// One part of a multipart upload.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

/// Reads every part of a multipart body, with caps on each file, on all
/// files together and on the number of fields.
async fn read_parts(state: &AppState, request: Request) -> Result<Vec<Part>, IngestError> {
    let limits = &state.ingest.limits;
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(format!("invalid multipart request: {e}")))?;
    let mut parts = Vec::new();
    let mut total = 0u64;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("invalid multipart body: {e}")))?
    {
        if parts.len() >= MAX_FORM_FIELDS {
            return Err(too_large(format!(
                "more than {MAX_FORM_FIELDS} form fields"
            )));
        }
        let name = field.name().unwrap_or("").to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let cap = if filename.is_some() {
            limits.max_attachment_size
        } else {
            limits.max_event_size
        };
        let mut data = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| bad(format!("invalid multipart body: {e}")))?
        {
            data.extend_from_slice(&chunk);
            total += chunk.len() as u64;
            if data.len() as u64 > cap {
                return Err(too_large(format!("field {name:?} over {cap} bytes")));
            }
            if total > limits.max_attachments_size {
                return Err(too_large("attachments over their total size limit"));
            }
        }
        parts.push(Part {
            name,
            filename,
            content_type,
            data: Bytes::from(data),
        });
    }
    Ok(parts)
}

fn attachment_type_of(field: &str) -> AttachmentType {
    match field {
        MINIDUMP_FIELD => AttachmentType::Minidump,
        "__sentry-breadcrumb1" | "__sentry-breadcrumb2" => AttachmentType::Breadcrumbs,
        "__sentry-event" => AttachmentType::EventPayload,
        "view-hierarchy.json" => AttachmentType::ViewHierarchy,
        _ => AttachmentType::Attachment,
    }
}

fn attachment(part: Part, ty: AttachmentType) -> Item {
    let mut item = Item::new(ItemType::Attachment, part.data);
    item.headers.filename = Some(part.filename.unwrap_or_else(|| part.name.clone()));
    item.headers.content_type = part.content_type;
    item.headers.attachment_type = Some(ty);
    item
}

/// The event a minidump upload describes in its form fields: a `sentry`
/// field holding JSON, and `sentry[key][sub]=value` fields, merged.
pub(crate) fn event_from_form(fields: &[(String, String)]) -> Result<Map<String, Value>, String> {
    let mut event = Map::new();
    for (name, value) in fields {
        if name == "sentry" {
            let json: Value =
                serde_json::from_str(value).map_err(|e| format!("invalid sentry field: {e}"))?;
            if let Value::Object(map) = json {
                merge(&mut event, map);
            }
            continue;
        }
        let Some(rest) = name.strip_prefix("sentry[") else {
            continue;
        };
        let mut path = Vec::new();
        for segment in rest.split('[') {
            let key = segment
                .strip_suffix(']')
                .ok_or("malformed form field name")?;
            path.push(key);
        }
        let mut node = &mut event;
        for key in &path[..path.len() - 1] {
            let entry = node
                .entry((*key).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().ok_or("malformed form field name")?;
        }
        if let Some(last) = path.last() {
            node.insert((*last).to_owned(), Value::String(value.clone()));
        }
    }
    Ok(event)
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Unpacks a minidump from a gzip or zstd container (capped), and checks
/// its magic bytes.
fn decode_minidump(data: Bytes, cap: usize) -> Result<Bytes, IngestError> {
    let encoding = match data.as_ref() {
        [0x1f, 0x8b, ..] => Some(ContentEncoding::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(ContentEncoding::Zstd),
        _ => None,
    };
    let data = match encoding {
        Some(encoding) => {
            sentry_envelope::decompress(encoding, &data, cap).map_err(|e| match e {
                DecompressError::TooLarge(limit) => too_large(limit.to_string()),
                other => bad(format!("invalid minidump container: {other}")),
            })?
        }
        None => data,
    };
    if !data.starts_with(b"MDMP") && !data.starts_with(b"PMDM") {
        return Err(bad("invalid minidump: no MDMP header"));
    }
    Ok(data)
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
/// body. Answers the event id as text.
pub(crate) async fn minidump(
    State(state): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    mut origin: Origin,
    request: Request,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let cap = usize::try_from(state.ingest.limits.max_attachment_size).unwrap_or(usize::MAX);
    let event_id = EventId(uuid::Uuid::new_v4());
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    let mime = content_type(&origin.headers);
    if mime == "application/octet-stream" || mime == "application/x-dmp" {
        let body = read_body(&state, &origin.headers, request.into_body()).await?;
        let data = decode_minidump(body, cap)?;
        envelope.add_item(attachment(
            Part {
                name: "Minidump".into(),
                filename: Some("Minidump".into()),
                content_type: Some("application/x-dmp".into()),
                data,
            },
            AttachmentType::Minidump,
        ));
        envelope.add_item(Item::new(
            ItemType::Event,
            serde_json::to_vec(&serde_json::json!({
                "event_id": event_id.to_string(),
                "platform": "native",
                "level": "fatal",
            }))
            .unwrap_or_default(),
        ));
    } else {
        let parts = read_parts(&state, request).await?;
        let mut fields = Vec::new();
        let mut minidump_seen = false;
        for part in parts {
            if part.filename.is_none() && part.name != MINIDUMP_FIELD {
                fields.push((part.name, String::from_utf8_lossy(&part.data).into_owned()));
                continue;
            }
            let ty = attachment_type_of(&part.name);
            let part = if ty == AttachmentType::Minidump {
                minidump_seen = true;
                let data = decode_minidump(part.data, cap)?;
                let filename = part.filename.map(|f| {
                    [".gz", ".zst"]
                        .iter()
                        .find_map(|ext| f.strip_suffix(ext))
                        .unwrap_or(&f)
                        .to_owned()
                });
                Part {
                    data,
                    filename,
                    ..part
                }
            } else {
                part
            };
            envelope.add_item(attachment(part, ty));
        }
        if !minidump_seen {
            return Err(bad(format!("missing {MINIDUMP_FIELD} field")));
        }
        let mut event = event_from_form(&fields).map_err(bad)?;
        event.insert("event_id".into(), Value::String(event_id.to_string()));
        event
            .entry("platform")
            .or_insert_with(|| Value::String("native".into()));
        event
            .entry("level")
            .or_insert_with(|| Value::String("fatal".into()));
        let payload = serde_json::to_vec(&event).map_err(|e| bad(e.to_string()))?;
        envelope.add_item(Item::new(ItemType::Event, payload));
    }
    envelope.headers_mut().event_id = Some(event_id);
    origin.path_project = Some(project_id);
    never_429(ingest(&state, &origin, envelope).await, event_id)
}

/// `POST /api/{project_id}/events/{event_id}/attachments/`: files for an
/// event sent earlier, as a multipart upload. Answers 201.
pub(crate) async fn attachments(
    State(state): State<Arc<AppState>>,
    Path((project_id, event_id)): Path<(String, String)>,
    mut origin: Origin,
    request: Request,
) -> Result<Response, IngestError> {
    let project_id = parse_project_id(&project_id)?;
    let event_id: EventId = event_id
        .parse()
        .map_err(|_| bad("invalid event id in path"))?;
    let parts = read_parts(&state, request).await?;
    let mut envelope = Envelope::new(EnvelopeHeaders::default());
    envelope.headers_mut().event_id = Some(event_id);
    for part in parts.into_iter().filter(|p| p.filename.is_some()) {
        envelope.add_item(attachment(part, AttachmentType::Attachment));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_build_an_event() {
        let fields = vec![
            (
                "sentry".to_owned(),
                r#"{"release":"1.0","tags":{"a":"1"}}"#.to_owned(),
            ),
            ("sentry[tags][b]".to_owned(), "2".to_owned()),
            ("sentry[user][id]".to_owned(), "42".to_owned()),
            ("other".to_owned(), "ignored".to_owned()),
        ];
        let event = event_from_form(&fields).unwrap();
        assert_eq!(
            Value::Object(event),
            serde_json::json!({"release": "1.0", "tags": {"a": "1", "b": "2"}, "user": {"id": "42"}})
        );
        assert!(event_from_form(&[("sentry[tags".into(), "x".into())]).is_err());
        assert!(event_from_form(&[("sentry".into(), "{".into())]).is_err());
    }

    #[test]
    fn minidumps_are_checked_and_unpacked() {
        use std::io::Write;
        assert!(decode_minidump(Bytes::from_static(b"MDMP\x93\xa7"), 100).is_ok());
        assert!(decode_minidump(Bytes::from_static(b"PMDM"), 100).is_ok());
        assert!(decode_minidump(Bytes::from_static(b"garbage"), 100).is_err());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"MDMP").unwrap();
        gz.write_all(&[0u8; 1000]).unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        assert_eq!(decode_minidump(gz.clone(), 2000).unwrap().len(), 1004);
        let err = decode_minidump(gz, 100).unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
