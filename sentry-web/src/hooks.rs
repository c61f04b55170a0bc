//! Project service hooks: `/api/0/projects/{org}/{project}/hooks/`.
//!
//! A hook is a URL the server calls when something happens in a project
//! (`event.created`, `event.alert`), with a signature made from the hook's
//! secret. These endpoints only manage the hooks; sending them is the
//! post-process forwarder's job.
//!
//! Reading needs `project:read`; creating, changing and deleting need
//! `project:write`, as for the project's keys. A hook is looked up within
//! its project only: another project's hook id answers 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use bytes::Bytes;
use sentry_eventstore::{Project, ServiceHook};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::api::{ApiError, ApiResult, Caller, PageRequest, Params, paged};
use crate::serialize;

/// What a hook may be sent for.
pub(crate) const HOOK_EVENTS: &[&str] = &["event.created", "event.alert"];

/// The longest URL a hook may have, in bytes.
const MAX_URL_BYTES: usize = 512;

/// The most hooks a page lists.
const MAX_PER_PAGE: u64 = 100;

/// A hook as Sentry's API shows it.
fn hook_json(hook: &ServiceHook) -> Value {
    json!({
        "id": hook.guid,
        "url": hook.url,
        "secret": hook.secret,
        "status": hook.status,
        "events": hook.events,
        "dateCreated": serialize::date(hook.date_added),
    })
}

/// Checks a hook URL: an absolute `http` or `https` URL with a host, without
/// whitespace or control characters, at most [`MAX_URL_BYTES`] long.
/// Answers the URL as it will be stored (surrounding blanks removed).
fn check_url(value: &Value) -> Result<String, String> {
    let raw = match value {
        Value::String(s) => s.trim(),
        Value::Null => return Err("This field may not be null.".into()),
        _ => return Err("Enter a valid URL.".into()),
    };
    if raw.is_empty() {
        return Err("This field may not be blank.".into());
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(format!(
            "Ensure this field has no more than {MAX_URL_BYTES} characters."
        ));
    }
    // The URL parser quietly drops tabs and newlines and accepts
    // `http:host`; what is stored must be exactly what is called.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Enter a valid URL.".into());
    }
    let lower = raw.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or_else(|| "Enter a valid URL.".to_owned())?;
    // `http:///x` and `http://\x` parse, with the path taken for the host.
    if rest.starts_with(['/', '\\']) {
        return Err("Enter a valid URL.".into());
    }
    let parsed = url::Url::parse(raw).map_err(|_| "Enter a valid URL.".to_owned())?;
    let has_host = parsed.host_str().is_some_and(|h| !h.is_empty());
    if !matches!(parsed.scheme(), "http" | "https") || !has_host {
        return Err("Enter a valid URL.".into());
    }
    Ok(raw.to_owned())
}

/// Checks a hook's events: a non-empty list of known event names. Repeats
/// are dropped; the first mention keeps its place.
fn check_events(value: &Value) -> Result<Vec<String>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Err("This field may not be null.".into()),
        _ => return Err("Expected a list of items.".into()),
    };
    let mut events: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| "Expected a list of event names.".to_owned())?;
        if !HOOK_EVENTS.contains(&name) {
            return Err(format!("Invalid event name: {name}"));
        }
        if !events.iter().any(|e| e == name) {
            events.push(name.to_owned());
        }
    }
    if events.is_empty() {
        return Err("This list may not be empty.".into());
    }
    Ok(events)
}

/// The JSON object of a request body; an empty body is `{}`.
fn body_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "invalid body: expected a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!("invalid body: {e}"))),
    }
}

/// The URL and events of a create (`current` is `None`) or an update
/// (missing fields keep `current`'s values). Every bad field is reported,
/// as the other project endpoints do: `{"field": ["message"]}`.
fn read_body(
    body: &Map<String, Value>,
    current: Option<&ServiceHook>,
) -> ApiResult<(String, Vec<String>)> {
    let mut errors = Map::new();
    let mut field = |name: &str, error: String| {
        errors.insert(name.to_owned(), json!([error]));
    };
    let required = "This field is required.".to_owned();
    let url = match (body.get("url"), current) {
        (Some(value), _) => check_url(value).map_err(|e| field("url", e)).ok(),
        (None, Some(hook)) => Some(hook.url.clone()),
        (None, None) => {
            field("url", required.clone());
            None
        }
    };
    let events = match (body.get("events"), current) {
        (Some(value), _) => check_events(value).map_err(|e| field("events", e)).ok(),
        (None, Some(hook)) => Some(hook.events.clone()),
        (None, None) => {
            field("events", required);
            None
        }
    };
    match (url, events) {
        (Some(url), Some(events)) if errors.is_empty() => Ok((url, events)),
        _ => Err(ApiError::json(
            StatusCode::BAD_REQUEST,
            Value::Object(errors),
        )),
    }
}

/// The caller's project, needing `scope` in its organization.
async fn project(
    state: &AppState,
    caller: &Caller,
    org_slug: &str,
    project_slug: &str,
    scope: &str,
) -> ApiResult<Project> {
    let (_, project) = caller
        .org_project(state, org_slug, project_slug, scope)
        .await?;
    Ok(project)
}

/// One hook of a project, or 404.
async fn find_hook(state: &AppState, project_id: i64, hook_id: &str) -> ApiResult<ServiceHook> {
    state
        .store
        .service_hooks(project_id)
        .await?
        .into_iter()
        .find(|h| h.guid == hook_id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/0/projects/{org}/{project}/hooks/`
pub(crate) async fn list_hooks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    let page = PageRequest::from(&params, MAX_PER_PAGE)?;
    let project = project(&state, &caller, &org_slug, &project_slug, "project:read").await?;
    let hooks = state.store.service_hooks(project.id).await?;
    let rows = hooks
        .iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit + 1).unwrap_or(usize::MAX))
        .map(hook_json)
        .collect();
    Ok(paged(rows, &page, &uri, &state.base_url))
}

/// `POST /api/0/projects/{org}/{project}/hooks/`: `{"url", "events"}`.
pub(crate) async fn create_hook(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let project = project(&state, &caller, &org_slug, &project_slug, "project:write").await?;
    let (url, events) = read_body(&body_object(&body)?, None)?;
    let hook = state
        .store
        .create_service_hook(project.id, &url, &events)
        .await?;
    Ok((StatusCode::CREATED, Json(hook_json(&hook))).into_response())
}

/// `GET /api/0/projects/{org}/{project}/hooks/{hook_id}/`
pub(crate) async fn get_hook(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug, hook_id)): Path<(String, String, String)>,
) -> ApiResult {
    let project = project(&state, &caller, &org_slug, &project_slug, "project:read").await?;
    let hook = find_hook(&state, project.id, &hook_id).await?;
    Ok(Json(hook_json(&hook)).into_response())
}

/// `PUT /api/0/projects/{org}/{project}/hooks/{hook_id}/`: `url` and
/// `events`; a missing field keeps its value.
pub(crate) async fn update_hook(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug, hook_id)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let project = project(&state, &caller, &org_slug, &project_slug, "project:write").await?;
    let current = find_hook(&state, project.id, &hook_id).await?;
    let (url, events) = read_body(&body_object(&body)?, Some(&current))?;
    let hook = state
        .store
        .update_service_hook(project.id, &current.guid, &url, &events)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(hook_json(&hook)).into_response())
}

/// `DELETE /api/0/projects/{org}/{project}/hooks/{hook_id}/`
pub(crate) async fn delete_hook(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug, hook_id)): Path<(String, String, String)>,
) -> ApiResult {
    let project = project(&state, &caller, &org_slug, &project_slug, "project:write").await?;
    if !state
        .store
        .delete_service_hook(project.id, &hook_id)
        .await?
    {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_with_a_host() {
        for good in [
            "http://example.com/hook",
            "https://hooks.example.com:8443/a?b=c",
            "  https://example.com  ",
            "HTTP://EXAMPLE.COM/",
            "http://127.0.0.1:9/",
        ] {
            assert!(check_url(&json!(good)).is_ok(), "{good}");
        }
        assert_eq!(
            check_url(&json!(" https://example.com ")).unwrap(),
            "https://example.com"
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        for bad in [
            json!("ftp://x"),
            json!("not a url"),
            json!("http://"),
            json!("http:example.com"),
            json!("http:///path"),
            json!("https://exa\nmple.com/"),
            json!("https://example.com/a b"),
            json!("javascript:alert(1)"),
            json!("//example.com/"),
            json!(""),
            json!(null),
            json!(5),
            json!(long),
        ] {
            assert!(check_url(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_are_known_names_without_repeats() {
        assert_eq!(
            check_events(&json!(["event.alert", "event.created", "event.alert"])).unwrap(),
            ["event.alert", "event.created"]
        );
        for bad in [
            json!([]),
            json!(["event.updated"]),
            json!(["event.created", 3]),
            json!("event.created"),
            json!(null),
        ] {
            assert!(check_events(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_report_every_bad_field_and_keep_missing_ones() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let err = read_body(&body(json!({})), None).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let detail: Value = serde_json::from_str(err.detail()).unwrap();
        assert_eq!(
            detail,
            json!({"url": ["This field is required."], "events": ["This field is required."]})
        );
        let hook = ServiceHook {
            id: 1,
            guid: "a".repeat(32),
            project_id: 1,
            url: "https://example.com/".into(),
            secret: "b".repeat(64),
            events: vec!["event.created".into()],
            status: "active".into(),
            date_added: chrono::Utc::now(),
        };
        let (url, events) =
            read_body(&body(json!({"events": ["event.alert"]})), Some(&hook)).unwrap();
        assert_eq!(url, "https://example.com/");
        assert_eq!(events, ["event.alert"]);
        assert!(body_object(b"[1]").is_err());
        assert!(body_object(b"{").is_err());
        assert!(body_object(b" ").unwrap().is_empty());
    }
}
