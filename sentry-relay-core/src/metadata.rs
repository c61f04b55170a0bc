//! What Sentry derives from an event to show it: its type, title, culprit,
//! location and metadata object.
//!
//! The rules are Sentry's (`sentry/eventtypes/{base,error,transaction}.py`,
//! `sentry/culprit.py`, `get_culprit` in `event_manager.py`); this module is
//! a fresh implementation of that behaviour.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use sentry_envelope::protocol::{Event, Exception, Frame, Stacktrace};

/// The longest culprit Sentry stores (`MAX_CULPRIT_LENGTH`).
pub const MAX_CULPRIT_LENGTH: usize = 200;
/// The longest part of an exception value or message shown in a title.
const TITLE_VALUE_LENGTH: usize = 100;

/// The kind of an event, as Sentry's event types name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EventType {
    /// An event with at least one exception.
    Error,
    /// Anything else: a message, a bare stack trace, an empty event.
    Default,
    /// A transaction.
    Transaction,
}

impl EventType {
    /// The name Sentry stores in the event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Error => "error",
            EventType::Default => "default",
            EventType::Transaction => "transaction",
        }
    }

    /// The type of an event: `transaction` when it says so, else `error`
    /// when it has an exception, else `default` (Relay infers it the same
    /// way; an SDK's `"type": "error"` without exceptions is a default event).
    pub fn of(event: &Event) -> EventType {
        if event.is_transaction() {
            EventType::Transaction
        } else if event
            .exception
            .as_ref()
            .is_some_and(|e| !e.values.is_empty())
        {
            EventType::Error
        } else {
            EventType::Default
        }
    }
}

/// What Sentry shows for an event, and stores with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The event's type.
    pub event_type: EventType,
    /// The title (`ValueError: bad input`, a message's first line, a
    /// transaction name).
    pub title: String,
    /// Where it happened (`app.views in index`), when anything says.
    pub culprit: Option<String>,
    /// The file of the crash frame (errors) or the transaction name.
    pub location: Option<String>,
    /// Sentry's `metadata` object: `type`, `value`, `filename`, `function`
    /// for errors; `title` for default events; `title` and `location` for
    /// transactions.
    pub metadata: Map<String, Value>,
}

/// Computes the type, title, culprit, location and metadata of an event.
///
/// Works on raw and on normalized events; [`normalize_event`] stores the
/// result in the event.
///
/// A custom `title` in the payload is ignored: in Sentry it comes from
/// server-side fingerprint rules, which this crate does not run.
///
/// [`normalize_event`]: crate::normalize_event
pub fn event_metadata(event: &Event) -> EventMetadata {
    let event_type = EventType::of(event);
    let mut metadata = Map::new();
    let (title, location) = match event_type {
        EventType::Error => error_metadata(event, &mut metadata),
        EventType::Transaction => transaction_metadata(event, &mut metadata),
        EventType::Default => {
            let title = default_title(event);
            metadata.insert("title".into(), Value::String(title.clone()));
            (title, None)
        }
    };
    let culprit = culprit(event);
    EventMetadata {
        event_type,
        title,
        culprit: (!culprit.is_empty()).then_some(culprit),
        location,
        metadata,
    }
}

fn error_metadata(event: &Event, metadata: &mut Map<String, Value>) -> (String, Option<String>) {
    let Some(exception) = main_exception(event) else {
        return ("<unknown>".into(), None);
    };
    let value = truncated(exception.value.as_deref().unwrap_or(""), 1024);
    let synthetic = exception
        .mechanism
        .as_ref()
        .and_then(|m| m.synthetic)
        .unwrap_or(false);
    let ty = (!synthetic).then(|| truncated(exception.ty.as_deref().unwrap_or("Error"), 128));
    let (filename, function) = crash_location(event);
    let title = match &ty {
        Some(ty) if value.is_empty() => ty.clone().into_owned(),
        Some(ty) => {
            let first = value.lines().next().unwrap_or("");
            [ty, ": ", &truncated(first, TITLE_VALUE_LENGTH)].concat()
        }
        None => function.unwrap_or("<unknown>").to_owned(),
    };
    metadata.insert("value".into(), Value::String(value.into_owned()));
    if let Some(ty) = ty {
        metadata.insert("type".into(), Value::String(ty.into_owned()));
    }
    if let Some(filename) = filename {
        metadata.insert("filename".into(), Value::String(filename.to_owned()));
    }
    if let Some(function) = function {
        metadata.insert("function".into(), Value::String(function.to_owned()));
    }
    (title, filename.map(str::to_owned))
}

/// The exception the title is about: the one named by `main_exception_id`
/// (exception groups), else the last (outermost) one.
fn main_exception(event: &Event) -> Option<&Exception> {
    let values = &event.exception.as_ref()?.values;
    let main_id = event.other.get("main_exception_id").and_then(Value::as_u64);
    main_id
        .and_then(|id| {
            values.iter().find(|e| {
                e.mechanism
                    .as_ref()
                    .is_some_and(|m| m.exception_id == Some(id))
            })
        })
        .or_else(|| values.last())
}

/// The frames Sentry looks for the crash in: the last exception's, else the
/// event's stack trace, else the stack of the only thread.
fn crash_frames(event: &Event) -> &[Frame] {
    fn non_empty(s: Option<&Stacktrace>) -> Option<&[Frame]> {
        s.map(|s| &s.frames[..]).filter(|f| !f.is_empty())
    }
    event
        .exception
        .as_ref()
        .and_then(|e| e.values.last())
        .and_then(|e| non_empty(e.stacktrace.as_ref()))
        .or_else(|| non_empty(event.stacktrace.as_ref()))
        .or_else(|| {
            let threads = &event.threads.as_ref()?.values;
            match threads.as_slice() {
                [only] => non_empty(only.stacktrace.as_ref()),
                _ => None,
            }
        })
        .unwrap_or(&[])
}

/// The file and function of the crash frame: the innermost in-app frame
/// with a real function name, else the innermost frame with one.
fn crash_location(event: &Event) -> (Option<&str>, Option<&str>) {
    let has_function = |f: &&Frame| {
        !matches!(
            f.function.as_deref(),
            None | Some("<redacted>") | Some("<unknown>")
        )
    };
    let frames = crash_frames(event);
    let frame = frames
        .iter()
        .rev()
        .filter(has_function)
        .find(|f| f.in_app == Some(true))
        .or_else(|| frames.iter().rev().find(has_function));
    let Some(frame) = frame else {
        return (None, None);
    };
    let filename =
        non_empty(frame.filename.as_deref()).or_else(|| non_empty(frame.abs_path.as_deref()));
    let platform = frame.platform.as_deref().or(event.platform.as_deref());
    (filename, function_name(frame, platform))
}

/// The function name Sentry shows for a frame: as sent when the frame
/// keeps a `raw_function`, else trimmed for native platforms.
fn function_name<'a>(frame: &'a Frame, platform: Option<&str>) -> Option<&'a str> {
    let function = non_empty(frame.function.as_deref())?;
    if frame.raw_function.is_some() {
        return Some(function);
    }
    Some(if is_native(platform) {
        trim_native_function(function)
    } else {
        function
    })
}

fn is_native(platform: Option<&str>) -> bool {
    matches!(platform, Some("objc" | "cocoa" | "swift" | "native" | "c"))
}

/// A light version of Sentry's native function trimming: drops the hash
/// suffix of Rust symbols (`::h0123456789abcdef`). Sentry also collapses
/// argument lists and generics; that is left out here.
fn trim_native_function(function: &str) -> &str {
    if let Some((head, hash)) = function.rsplit_once("::h") {
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return head;
        }
    }
    function
}

fn default_title(event: &Event) -> String {
    match event
        .message_text()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(message) => truncate_chars(message.lines().next().unwrap_or(""), TITLE_VALUE_LENGTH),
        None => "<unlabeled event>".into(),
    }
}

fn transaction_metadata(
    event: &Event,
    metadata: &mut Map<String, Value>,
) -> (String, Option<String>) {
    let description = event
        .contexts
        .as_ref()
        .and_then(|c| c.0.get("trace"))
        .and_then(|t| t.get("description"))
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty());
    let transaction = non_empty(event.transaction.as_deref());
    let title = description.or(transaction);
    if let Some(title) = title {
        metadata.insert("title".into(), Value::String(title.to_owned()));
    }
    if let Some(location) = transaction {
        metadata.insert("location".into(), Value::String(location.to_owned()));
    }
    (
        title.unwrap_or("<untitled>").to_owned(),
        transaction.map(str::to_owned),
    )
}

/// The culprit: the event's own, else its transaction name, else one made
/// from the stack trace or the request URL; at most 200 characters.
pub(crate) fn culprit(event: &Event) -> String {
    if let Some(culprit) = non_empty(event.culprit.as_deref()) {
        return culprit.to_owned();
    }
    if let Some(transaction) = non_empty(event.transaction.as_deref()) {
        return transaction.to_owned();
    }
    generate_culprit(event)
}

fn generate_culprit(event: &Event) -> String {
    let platform = event.platform.as_deref();
    let exceptions = event.exception.as_ref().map_or(&[][..], |e| &e.values[..]);
    let stacktrace = if let Some(last) = exceptions.last() {
        if last.mechanism.as_ref().and_then(|m| m.synthetic) == Some(true) {
            return String::new();
        }
        exceptions
            .iter()
            .filter_map(|e| e.stacktrace.as_ref())
            .rfind(|s| !s.frames.is_empty())
    } else {
        event.stacktrace.as_ref().filter(|s| !s.frames.is_empty())
    };
    let mut culprit = stacktrace
        .map(|s| stacktrace_culprit(s, platform))
        .unwrap_or_default();
    if culprit.is_empty() {
        if let Some(url) = event.request.as_ref().and_then(|r| r.url.as_deref()) {
            culprit = url.to_owned();
        }
    }
    truncate_owned(culprit, MAX_CULPRIT_LENGTH)
}

/// The culprit of the innermost in-app frame that has one, else of the
/// innermost frame.
fn stacktrace_culprit(stacktrace: &Stacktrace, platform: Option<&str>) -> String {
    let mut fallback = None;
    for frame in stacktrace.frames.iter().rev() {
        if frame.in_app == Some(true) {
            let culprit = frame_culprit(frame, platform);
            if !culprit.is_empty() {
                return culprit;
            }
        } else if fallback.is_none() {
            fallback = Some(frame);
        }
    }
    fallback.map_or_else(String::new, |frame| frame_culprit(frame, platform))
}

fn frame_culprit(frame: &Frame, platform: Option<&str>) -> String {
    let platform = frame.platform.as_deref().or(platform);
    let function = non_empty(frame.function.as_deref()).unwrap_or("?");
    if matches!(platform, Some("objc" | "cocoa" | "native")) {
        return function.to_owned();
    }
    let Some(location) =
        non_empty(frame.module.as_deref()).or_else(|| non_empty(frame.filename.as_deref()))
    else {
        return String::new();
    };
    if matches!(platform, Some("javascript" | "node")) {
        [function, "(", location, ")"].concat()
    } else {
        [location, " in ", function].concat()
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Sentry's `truncatechars`: at most `max` characters, the last three of
/// them `...` when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    truncated(s, max).into_owned()
}

/// [`truncate_chars`] of an owned string, which is kept when it is short
/// enough.
pub(crate) fn truncate_owned(s: String, max: usize) -> String {
    match truncated(&s, max) {
        Cow::Borrowed(_) => s,
        Cow::Owned(cut) => cut,
    }
}

/// [`truncate_chars`], borrowing `s` when it is short enough.
#[inline]
fn truncated(s: &str, max: usize) -> Cow<'_, str> {
    // A string has at most as many characters as bytes: nearly every
    // string is done here, without a call.
    if s.len() <= max {
        Cow::Borrowed(s)
    } else {
        truncated_long(s, max)
    }
}

/// [`truncated`] for a string with more bytes than `max`.
fn truncated_long(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn error_title_and_location() {
        let e = event(json!({
            "platform": "python",
            "exception": {"values": [
                {"type": "KeyError", "value": "inner"},
                {"type": "ValueError", "value": "bad input\nsecond line", "stacktrace": {"frames": [
                    {"function": "main", "module": "app", "filename": "app.py", "in_app": true},
                    {"function": "parse", "module": "lib.parse", "filename": "lib/parse.py", "in_app": false}
                ]}}
            ]}
        }));
        let m = event_metadata(&e);
        assert_eq!(m.event_type, EventType::Error);
        assert_eq!(m.title, "ValueError: bad input");
        assert_eq!(m.location.as_deref(), Some("app.py"));
        assert_eq!(m.culprit.as_deref(), Some("app in main"));
        assert_eq!(
            Value::Object(m.metadata),
            json!({"type": "ValueError", "value": "bad input\nsecond line", "filename": "app.py", "function": "main"})
        );
    }

    #[test]
    fn error_fallbacks() {
        let m = event_metadata(&event(
            json!({"exception": {"values": [{"value": "boom"}]}}),
        ));
        assert_eq!(m.title, "Error: boom");
        let m = event_metadata(&event(json!({"exception": {"values": [{"type": "Oops"}]}})));
        assert_eq!(m.title, "Oops");
        let long = "x".repeat(150);
        let m = event_metadata(&event(
            json!({"exception": {"values": [{"type": "T", "value": long}]}}),
        ));
        assert_eq!(m.title, format!("T: {}...", "x".repeat(97)));
        // Synthetic: no type; the title is the crash function.
        let m = event_metadata(&event(
            json!({"platform": "node", "exception": {"values": [{
                "type": "Error", "value": "x", "mechanism": {"type": "generic", "synthetic": true},
                "stacktrace": {"frames": [{"function": "main", "filename": "a.js", "in_app": true}]}
            }]}}),
        ));
        assert_eq!(m.title, "main");
        assert_eq!(m.culprit, None);
        assert!(!m.metadata.contains_key("type"));
        let m = event_metadata(&event(json!({"exception": {"values": [{
            "value": "x", "mechanism": {"type": "generic", "synthetic": true}
        }]}})));
        assert_eq!(m.title, "<unknown>");
    }

    #[test]
    fn main_exception_id_picks_the_title() {
        let m = event_metadata(&event(json!({
            "main_exception_id": 1,
            "exception": {"values": [
                {"type": "Group", "value": "g", "mechanism": {"type": "chained", "exception_id": 0}},
                {"type": "Inner", "value": "i", "mechanism": {"type": "chained", "exception_id": 1, "parent_id": 0}},
                {"type": "Other", "value": "o", "mechanism": {"type": "chained", "exception_id": 2, "parent_id": 0}}
            ]}
        })));
        assert_eq!(m.title, "Inner: i");
    }

    #[test]
    fn default_titles() {
        let m = event_metadata(&event(json!({"message": "  hello\nworld  "})));
        assert_eq!(m.event_type, EventType::Default);
        assert_eq!(m.title, "hello");
        assert_eq!(Value::Object(m.metadata), json!({"title": "hello"}));
        let m = event_metadata(&event(
            json!({"logentry": {"message": "user %s", "formatted": "user 1"}}),
        ));
        assert_eq!(m.title, "user 1");
        let m = event_metadata(&event(json!({"type": "error"})));
        assert_eq!(m.title, "<unlabeled event>");
        assert_eq!(m.event_type, EventType::Default);
    }

    #[test]
    fn transaction_titles() {
        let m = event_metadata(&event(
            json!({"type": "transaction", "transaction": "GET /x"}),
        ));
        assert_eq!(m.event_type, EventType::Transaction);
        assert_eq!(m.title, "GET /x");
        assert_eq!(m.location.as_deref(), Some("GET /x"));
        assert_eq!(m.culprit.as_deref(), Some("GET /x"));
        let m = event_metadata(&event(json!({"type": "transaction"})));
        assert_eq!(m.title, "<untitled>");
    }

    #[test]
    fn culprit_rules() {
        let frames = json!([
            {"function": "outer", "module": "m", "in_app": true},
            {"function": "inner", "filename": "lib.js", "in_app": false}
        ]);
        let culprit = |platform: &str| {
            culprit(&event(
                json!({"platform": platform, "stacktrace": {"frames": frames}}),
            ))
        };
        assert_eq!(culprit("python"), "m in outer");
        assert_eq!(culprit("node"), "outer(m)");
        assert_eq!(culprit("native"), "outer");
        // No in-app frame: the innermost frame.
        let e = event(json!({"platform": "javascript", "stacktrace": {"frames": [
            {"function": "a", "filename": "a.js"}, {"filename": "b.js"}
        ]}}));
        assert_eq!(super::culprit(&e), "?(b.js)");
        // The request URL when nothing else.
        let e = event(json!({"request": {"url": "https://x.test/a"}, "message": "m"}));
        assert_eq!(super::culprit(&e), "https://x.test/a");
        // The SDK's culprit wins, then the transaction.
        let e = event(
            json!({"culprit": "mine", "transaction": "/t", "stacktrace": {"frames": frames}}),
        );
        assert_eq!(super::culprit(&e), "mine");
        let e = event(json!({"transaction": "/t", "stacktrace": {"frames": frames}}));
        assert_eq!(super::culprit(&e), "/t");
        let long = json!({"stacktrace": {"frames": [{"function": "f".repeat(300), "module": "m", "in_app": true}]}});
        assert_eq!(
            super::culprit(&event(long)).chars().count(),
            MAX_CULPRIT_LENGTH
        );
    }

    #[test]
    fn native_function_names() {
        assert_eq!(
            trim_native_function("app::main::h0123456789abcdef"),
            "app::main"
        );
        assert_eq!(trim_native_function("app::handler"), "app::handler");
    }
}
