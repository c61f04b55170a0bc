//! Saved events as rows of the event store.
//!
//! [`error_row`] turns an `insert` message of the `events` stream into a
//! row of the `events` entity (`errors_local`): the columns that issue
//! search, tag pages and Discover read, taken from the normalized event.

use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use sentry_envelope::protocol::{Event, Frame};

use crate::eventstream::{InsertEvent, normalize_event_id};
use crate::storage::{Row, StorageError};
use crate::validate::parse_time;

/// Days a row is kept when the project does not say otherwise.
pub const DEFAULT_RETENTION_DAYS: u16 = 90;

/// The longest value kept in a string column; longer ones are cut at a
/// character boundary.
pub const MAX_STRING_BYTES: usize = 8 * 1024;

/// The row of the `events` entity for a saved event.
///
/// Fails only when the message has no usable time or its `data` is not an
/// event object.
pub fn error_row(insert: &InsertEvent) -> Result<Row, StorageError> {
    let event = Event::deserialize(&insert.data)
        .map_err(|e| StorageError::Invalid(format!("event {}: {e}", insert.event_id)))?;
    let timestamp = event
        .timestamp
        .map(|t| t.as_secs_f64() as i64)
        .or_else(|| parse_time(&insert.datetime).ok())
        .ok_or_else(|| {
            StorageError::Invalid(format!("event {} has no timestamp", insert.event_id))
        })?;
    let received = event.received.map_or(timestamp, |t| t.as_secs_f64() as i64);
    let other = |key: &str| event.other.get(key).and_then(Json::as_str).map(clip);
    let tags: Vec<(&str, String)> = event
        .tags
        .as_ref()
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    let tag = |key: &str| tags.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let context = |name: &str, key: &str| {
        event
            .contexts
            .as_ref()
            .and_then(|c| c.0.get(name))
            .and_then(|c| c.get(key))
            .and_then(scalar)
    };
    let exceptions = event
        .exception
        .as_ref()
        .map(|e| e.values.as_slice())
        .unwrap_or_default();
    let frames: Vec<&Frame> = exceptions
        .iter()
        .filter_map(|e| e.stacktrace.as_ref())
        .flat_map(|s| s.frames.iter())
        .collect();
    let handled = if exceptions.is_empty() {
        Json::Null
    } else {
        let unhandled = exceptions
            .iter()
            .any(|e| e.mechanism.as_ref().and_then(|m| m.handled) == Some(false));
        json!(u8::from(!unhandled))
    };
    let user = event.user.as_ref();
    let request = event.request.as_ref();
    let (context_keys, context_values) = flatten_contexts(&event);
    let ty = event.ty.clone().unwrap_or_else(|| {
        if exceptions.is_empty() {
            "default"
        } else {
            "error"
        }
        .to_owned()
    });

    let mut row = Map::new();
    let mut put = |name: &str, value: Json| {
        row.insert(name.to_owned(), value);
    };
    put("project_id", json!(insert.project_id));
    put("timestamp", json!(timestamp));
    put("event_id", json!(normalize_event_id(&insert.event_id)));
    put("group_id", json!(insert.group_id));
    put("primary_hash", json!(insert.primary_hash));
    put("type", json!(ty));
    put(
        "platform",
        json!(
            event
                .platform
                .as_deref()
                .or(insert.platform.as_deref())
                .unwrap_or("other")
        ),
    );
    put("environment", opt(event.environment.as_deref()));
    put("release", opt(event.release.as_deref()));
    put("dist", opt(event.dist.as_deref()));
    put("level", opt(event.level.as_ref().map(|l| l.as_str())));
    put(
        "logger",
        json!(event.logger.as_deref().map(clip).unwrap_or_default()),
    );
    put("message", json!(clip(&insert.message)));
    put("title", json!(other("title").unwrap_or_default()));
    put(
        "culprit",
        json!(event.culprit.as_deref().map(clip).unwrap_or_default()),
    );
    put("location", opt(other("location").as_deref()));
    put(
        "transaction",
        json!(event.transaction.as_deref().map(clip).unwrap_or_default()),
    );
    put("user", json!(tag("sentry:user").unwrap_or_default()));
    put(
        "user_id",
        opt(user
            .and_then(|u| u.id.as_ref())
            .map(|id| id.to_string())
            .as_deref()),
    );
    put("user_name", opt(user.and_then(|u| u.username.as_deref())));
    put("user_email", opt(user.and_then(|u| u.email.as_deref())));
    put(
        "ip_address",
        opt(user.and_then(|u| u.ip_address.as_deref())),
    );
    put(
        "sdk_name",
        opt(event.sdk.as_ref().and_then(|s| s.name.as_deref())),
    );
    put(
        "sdk_version",
        opt(event.sdk.as_ref().and_then(|s| s.version.as_deref())),
    );
    put(
        "http_method",
        opt(request.and_then(|r| r.method.as_deref())),
    );
    put(
        "http_referer",
        opt(request
            .and_then(|r| header(r.headers.as_ref()?, "referer"))
            .as_deref()),
    );
    put("http_url", opt(request.and_then(|r| r.url.as_deref())));
    put("os_name", opt(context("os", "name").as_deref()));
    put("browser_name", opt(context("browser", "name").as_deref()));
    put("trace_id", opt(context("trace", "trace_id").as_deref()));
    put("handled", handled);
    put(
        "exception_stacks.type",
        Json::Array(exceptions.iter().map(|e| opt(e.ty.as_deref())).collect()),
    );
    put(
        "exception_stacks.value",
        Json::Array(exceptions.iter().map(|e| opt(e.value.as_deref())).collect()),
    );
    put(
        "exception_frames.filename",
        Json::Array(
            frames
                .iter()
                .map(|f| opt(f.filename.as_deref().or(f.abs_path.as_deref())))
                .collect(),
        ),
    );
    put(
        "exception_frames.function",
        Json::Array(frames.iter().map(|f| opt(f.function.as_deref())).collect()),
    );
    put(
        "exception_frames.module",
        Json::Array(frames.iter().map(|f| opt(f.module.as_deref())).collect()),
    );
    put(
        "exception_frames.in_app",
        Json::Array(
            frames
                .iter()
                .map(|f| f.in_app.map_or(Json::Null, |b| json!(u8::from(b))))
                .collect(),
        ),
    );
    put("received", json!(received));
    put("deleted", json!(0));
    put("retention_days", json!(DEFAULT_RETENTION_DAYS));
    put(
        "tags.key",
        Json::Array(tags.iter().map(|(k, _)| json!(clip(k))).collect()),
    );
    put(
        "tags.value",
        Json::Array(tags.iter().map(|(_, v)| json!(clip(v))).collect()),
    );
    put("contexts.key", Json::Array(context_keys));
    put("contexts.value", Json::Array(context_values));
    Ok(row)
}

/// A string column's value, cut to [`MAX_STRING_BYTES`].
fn clip(text: &str) -> String {
    if text.len() <= MAX_STRING_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_STRING_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn opt(value: Option<&str>) -> Json {
    value.map_or(Json::Null, |v| Json::String(clip(v)))
}

/// A context field as text, when it is a string, a number or a boolean.
fn scalar(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(clip(s)),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Contexts as `name.field` keys with text values (nested objects and the
/// `type` field are left out), as Snuba flattens them.
fn flatten_contexts(event: &Event) -> (Vec<Json>, Vec<Json>) {
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let Some(contexts) = &event.contexts else {
        return (keys, values);
    };
    for (name, context) in &contexts.0 {
        let Some(fields) = context.as_object() else {
            continue;
        };
        for (field, value) in fields {
            if field == "type" {
                continue;
            }
            if let Some(text) = scalar(value) {
                keys.push(json!(format!("{name}.{field}")));
                values.push(json!(text));
            }
        }
    }
    (keys, values)
}

/// A request header (any case), from headers sent as an object or as a
/// list of pairs.
fn header(headers: &Json, name: &str) -> Option<String> {
    let found = match headers {
        Json::Object(map) => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v),
        Json::Array(pairs) => pairs.iter().find_map(|pair| {
            let pair = pair.as_array()?;
            (pair.first()?.as_str()?.eq_ignore_ascii_case(name)).then(|| pair.get(1))?
        }),
        _ => None,
    };
    found.and_then(Json::as_str).map(clip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(data: Json) -> InsertEvent {
        InsertEvent {
            group_id: 7,
            event_id: "9EC79C33-EC99-42AB-8353-589FCB2E04DC".into(),
            organization_id: Some(1),
            project_id: 42,
            primary_hash: "abc".into(),
            message: "ValueError: bad value".into(),
            platform: Some("python".into()),
            datetime: "2024-05-01T10:00:00Z".into(),
            data,
        }
    }

    #[test]
    fn a_full_event_fills_every_column() {
        let row = error_row(&insert(json!({
            "timestamp": 1714557600.5,
            "received": 1714557601.0,
            "level": "warning",
            "platform": "python",
            "release": "app@1.2",
            "environment": "production",
            "logger": "root",
            "title": "ValueError: bad value",
            "location": "app/models.py",
            "culprit": "app.models in save",
            "transaction": "/checkout",
            "user": {"id": 12, "email": "a@x.com", "username": "ann", "ip_address": "10.0.0.1"},
            "request": {"method": "POST", "url": "https://x.com/checkout",
                        "headers": [["Referer", "https://x.com/cart"]]},
            "contexts": {"browser": {"name": "Chrome", "version": "120", "type": "browser"},
                         "os": {"name": "Linux"}, "trace": {"trace_id": "0af7651916cd43dd8448eb211c80319c"}},
            "tags": [["browser.name", "Chrome"], ["sentry:user", "id:12"]],
            "sdk": {"name": "sentry.python", "version": "2.0.0"},
            "exception": {"values": [
                {"type": "KeyError", "value": "k", "mechanism": {"type": "chained", "handled": true}},
                {"type": "ValueError", "value": "bad value", "mechanism": {"type": "excepthook", "handled": false},
                 "stacktrace": {"frames": [
                    {"filename": "lib.py", "function": "helper", "module": "lib", "in_app": false},
                    {"filename": "app/models.py", "function": "save", "module": "app.models", "in_app": true}]}}
            ]}
        })))
        .unwrap();
        let expected = json!({
            "project_id": 42, "timestamp": 1714557600, "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "group_id": 7, "primary_hash": "abc", "type": "error", "platform": "python",
            "environment": "production", "release": "app@1.2", "dist": null, "level": "warning",
            "logger": "root", "message": "ValueError: bad value", "title": "ValueError: bad value",
            "culprit": "app.models in save", "location": "app/models.py", "transaction": "/checkout",
            "user": "id:12", "user_id": "12", "user_name": "ann", "user_email": "a@x.com",
            "ip_address": "10.0.0.1", "sdk_name": "sentry.python", "sdk_version": "2.0.0",
        });
        let rest = json!({
            "http_method": "POST", "http_referer": "https://x.com/cart", "http_url": "https://x.com/checkout",
            "os_name": "Linux", "browser_name": "Chrome", "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "handled": 0,
            "exception_stacks.type": ["KeyError", "ValueError"],
            "exception_stacks.value": ["k", "bad value"],
            "exception_frames.filename": ["lib.py", "app/models.py"],
            "exception_frames.function": ["helper", "save"],
            "exception_frames.module": ["lib", "app.models"],
            "exception_frames.in_app": [0, 1],
            "received": 1714557601, "deleted": 0, "retention_days": 90,
            "tags.key": ["browser.name", "sentry:user"], "tags.value": ["Chrome", "id:12"],
            "contexts.key": ["browser.name", "browser.version", "os.name", "trace.trace_id"],
            "contexts.value": ["Chrome", "120", "Linux", "0af7651916cd43dd8448eb211c80319c"],
        });
        let mut expected = expected.as_object().unwrap().clone();
        expected.extend(rest.as_object().unwrap().clone());
        assert_eq!(row, expected);
    }

    #[test]
    fn a_bare_message_gets_defaults_and_the_message_time() {
        let row = error_row(&insert(json!({"message": "hello"}))).unwrap();
        assert_eq!(row["type"], "default");
        assert_eq!(row["timestamp"], 1714557600);
        assert_eq!(row["handled"], Json::Null);
        assert_eq!(row["level"], Json::Null);
        assert_eq!(row["tags.key"], json!([]));
        let mut bad = insert(json!({}));
        bad.datetime = "yesterday".into();
        assert!(error_row(&bad).is_err());
        assert!(error_row(&insert(json!([1, 2]))).is_err());
    }

    #[test]
    fn long_strings_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_STRING_BYTES);
        let row = error_row(&insert(json!({"transaction": long}))).unwrap();
        let kept = row["transaction"].as_str().unwrap();
        assert!(kept.len() <= MAX_STRING_BYTES && kept.len() > MAX_STRING_BYTES - 2);
    }
}
