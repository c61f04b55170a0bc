//! Grouping: which issue an event belongs to.
//!
//! An event's grouping hash is the MD5 of its grouping components, in this
//! order of preference:
//!
//! 1. a custom `fingerprint` sent by the SDK, where `{{ default }}` stands
//!    for the components of the default grouping below, and `{{ type }}`,
//!    `{{ value }}`, `{{ message }}`, `{{ transaction }}`, `{{ logger }}` and
//!    `{{ level }}` for those fields of the event;
//! 2. the exceptions of the chain: each exception's type and its frames
//!    (function, plus module or else the normalized file name). When any
//!    frame of the event is marked in-app, only in-app frames count, so
//!    that library internals do not split an issue. An exception without
//!    frames counts its type and its parameterized value;
//! 3. a stack trace without an exception (threads or `stacktrace`);
//! 4. the log message, with numbers, hex, UUIDs, IPs and dates replaced by
//!    placeholders, so `"timeout after 31 ms"` and `"timeout after 30 ms"`
//!    are one issue;
//! 5. the logger name;
//! 6. else one catch-all group per project.
//!
//! Pure: no I/O.

use std::sync::LazyLock;

use regex::Regex;
use sentry_envelope::protocol::{Event, Exception, Frame, Stacktrace};

/// The outcome of grouping one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    /// Which rule produced the hash.
    pub variant: GroupingVariant,
    /// The components that were hashed, for display and debugging.
    pub components: Vec<String>,
    /// The grouping hash: 32 lowercase hex digits.
    pub hash: String,
}

/// The rule of the default grouping that produced a hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupingVariant {
    /// A custom fingerprint.
    CustomFingerprint,
    /// Exception types and frames.
    Exception,
    /// A stack trace without an exception.
    Stacktrace,
    /// The parameterized message.
    Message,
    /// The logger name.
    Logger,
    /// Nothing to group by.
    Fallback,
}

impl GroupingVariant {
    /// The name shown in the API (`"custom-fingerprint"`, `"app"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupingVariant::CustomFingerprint => "custom-fingerprint",
            GroupingVariant::Exception => "exception",
            GroupingVariant::Stacktrace => "stacktrace",
            GroupingVariant::Message => "message",
            GroupingVariant::Logger => "logger",
            GroupingVariant::Fallback => "fallback",
        }
    }
}

/// Computes the grouping of a normalized event.
///
/// ```
/// use sentry_envelope::protocol::{Event, LogEntry};
/// use sentry_eventstore::grouping::{group_event, GroupingVariant};
///
/// let event = |text: &str| Event {
///     logentry: Some(LogEntry { formatted: Some(text.into()), ..Default::default() }),
///     ..Default::default()
/// };
/// let a = group_event(&event("timeout after 31 ms"));
/// let b = group_event(&event("timeout after 30 ms"));
/// assert_eq!(a.variant, GroupingVariant::Message);
/// assert_eq!(a.hash, b.hash);
/// ```
pub fn group_event(event: &Event) -> Grouping {
    let (variant, default) = default_components(event);
    match event.fingerprint.as_ref().filter(|f| !f.0.is_empty()) {
        Some(fingerprint) if !is_default_only(&fingerprint.0) => {
            let mut components = Vec::new();
            for entry in &fingerprint.0 {
                match variable(entry) {
                    Some("default") => components.extend(default.iter().cloned()),
                    Some(name) => components.push(expand(event, name)),
                    None => components.push(entry.clone()),
                }
            }
            finish(GroupingVariant::CustomFingerprint, components)
        }
        _ => finish(variant, default),
    }
}

fn finish(variant: GroupingVariant, components: Vec<String>) -> Grouping {
    let mut ctx = md5::Context::new();
    ctx.consume(variant.as_str().as_bytes());
    for c in &components {
        ctx.consume([0u8]);
        ctx.consume(c.as_bytes());
    }
    Grouping {
        variant,
        components,
        hash: format!("{:x}", ctx.finalize()),
    }
}

fn is_default_only(entries: &[String]) -> bool {
    entries.iter().all(|e| variable(e) == Some("default"))
}

/// `"{{ default }}"` -> `Some("default")`.
fn variable(entry: &str) -> Option<&str> {
    let inner = entry.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    Some(inner)
}

fn expand(event: &Event, name: &str) -> String {
    let main = event
        .exception
        .as_ref()
        .and_then(|e| e.values.last())
        .cloned()
        .unwrap_or_default();
    let value = match name {
        "type" | "error.type" => main.ty,
        "value" | "error.value" => main.value,
        "message" => event.message_text().map(str::to_owned),
        "transaction" => event.transaction.clone(),
        "logger" => event.logger.clone(),
        "level" => event.level.as_ref().map(|l| l.as_str().to_owned()),
        _ => None,
    };
    value.unwrap_or_else(|| format!("<no value for {name}>"))
}

fn default_components(event: &Event) -> (GroupingVariant, Vec<String>) {
    let exceptions: &[Exception] = event
        .exception
        .as_ref()
        .map(|v| v.values.as_slice())
        .unwrap_or(&[]);
    if !exceptions.is_empty() {
        let in_app_only = exceptions
            .iter()
            .filter_map(|e| e.stacktrace.as_ref())
            .any(has_in_app);
        let mut components = Vec::new();
        for exception in exceptions {
            components.push(format!(
                "type:{}",
                exception.ty.as_deref().unwrap_or("<unknown>")
            ));
            let before = components.len();
            if let Some(stacktrace) = &exception.stacktrace {
                frame_components(stacktrace, in_app_only, &mut components);
            }
            if components.len() == before {
                if let Some(value) = &exception.value {
                    components.push(format!("value:{}", parameterize(value)));
                }
            }
        }
        return (GroupingVariant::Exception, components);
    }

    let stacktraces: Vec<&Stacktrace> = event
        .stacktrace
        .iter()
        .chain(
            event
                .threads
                .iter()
                .flat_map(|t| t.values.iter())
                .filter_map(|t| t.stacktrace.as_ref()),
        )
        .filter(|s| !s.frames.is_empty())
        .collect();
    if !stacktraces.is_empty() {
        let in_app_only = stacktraces.iter().any(|s| has_in_app(s));
        let mut components = Vec::new();
        for stacktrace in stacktraces {
            frame_components(stacktrace, in_app_only, &mut components);
        }
        if !components.is_empty() {
            return (GroupingVariant::Stacktrace, components);
        }
    }

    let template = event
        .logentry
        .as_ref()
        .and_then(|l| l.message.as_deref().or(l.formatted.as_deref()))
        .or_else(|| event.message_text());
    if let Some(message) = template.filter(|m| !m.trim().is_empty()) {
        return (
            GroupingVariant::Message,
            vec![format!("message:{}", parameterize(message))],
        );
    }
    if let Some(logger) = event.logger.as_deref().filter(|l| !l.is_empty()) {
        return (GroupingVariant::Logger, vec![format!("logger:{logger}")]);
    }
    (GroupingVariant::Fallback, Vec::new())
}

fn has_in_app(stacktrace: &Stacktrace) -> bool {
    stacktrace.frames.iter().any(|f| f.in_app == Some(true))
}

fn frame_components(stacktrace: &Stacktrace, in_app_only: bool, out: &mut Vec<String>) {
    for frame in &stacktrace.frames {
        if in_app_only && frame.in_app != Some(true) {
            continue;
        }
        if let Some(component) = frame_component(frame) {
            out.push(component);
        }
    }
}

fn frame_component(frame: &Frame) -> Option<String> {
    let place = frame
        .module
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!("module:{m}"))
        .or_else(|| {
            frame
                .filename
                .as_deref()
                .or(frame.abs_path.as_deref())
                .map(|f| format!("file:{}", normalize_filename(f)))
        });
    let function = frame
        .function
        .as_deref()
        .or(frame.raw_function.as_deref())
        .filter(|f| !f.is_empty() && *f != "?" && *f != "<anonymous>");
    match (place, function) {
        (None, None) => None,
        (place, Some(function)) => Some(format!(
            "{} fn:{}",
            place.unwrap_or_default(),
            normalize_function(function)
        )),
        // Without a function name the line number is all that tells frames apart.
        (Some(place), None) => Some(format!("{place} line:{}", frame.lineno.unwrap_or(0))),
    }
}

/// Strips what changes between deploys without changing the code: query
/// strings, fragments, and content hashes or versions in bundle names
/// (`app.3f9a1c2b.js` -> `app.<hash>.js`).
pub fn normalize_filename(filename: &str) -> String {
    static HASH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:[0-9a-f]{7,}|v?\d+\.\d+\.\d+(?:-[0-9a-z.]+)?)\b")
            .expect("valid regex")
    });
    let path = filename
        .split(['?', '#'])
        .next()
        .unwrap_or(filename)
        .trim_start_matches("file://");
    HASH.replace_all(path, "<hash>").into_owned()
}

/// Removes the parts of a function name that differ between builds of the
/// same code: Rust's `::h<hash>` suffix and anonymous-closure numbering.
fn normalize_function(function: &str) -> String {
    static RUST_HASH: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"::h[0-9a-f]{16}$").expect("valid regex"));
    static CLOSURE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\{\{closure\}\}(?:#\d+)?").expect("valid regex"));
    let f = RUST_HASH.replace(function, "");
    CLOSURE.replace_all(&f, "{{closure}}").into_owned()
}

/// Replaces the variable parts of a message with placeholders: UUIDs,
/// hex numbers and hashes, IP addresses, ISO dates and times, and numbers.
///
/// ```
/// use sentry_eventstore::grouping::parameterize;
/// assert_eq!(
///     parameterize("user 42 missing from 10.0.0.1 at 2026-11-23T10:00:00Z (0xdeadbeef)"),
///     "user <int> missing from <ip> at <date> (<hex>)"
/// );
/// ```
pub fn parameterize(message: &str) -> String {
    static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (
                r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
                "<uuid>",
            ),
            (
                r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
                "<date>",
            ),
            (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", "<ip>"),
            (r"(?i)\b0x[0-9a-f]+\b", "<hex>"),
            (r"(?i)\b[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b|\b[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b", "<hex?>"),
            (r"\b\d+\.\d+\b", "<float>"),
            (r"\b\d+\b", "<int>"),
        ]
        .into_iter()
        .map(|(re, name)| (Regex::new(re).expect("valid regex"), name))
        .collect()
    });
    let mut out = message.to_owned();
    for (re, name) in RULES.iter() {
        if *name == "<hex?>" {
            // Mixed letters and digits count as a hash only when long
            // enough not to be a word like `e2e` or `h2`.
            out = re
                .replace_all(&out, |caps: &regex::Captures<'_>| {
                    let m = &caps[0];
                    if m.len() >= 8 {
                        "<hex>".to_owned()
                    } else {
                        m.to_owned()
                    }
                })
                .into_owned();
        } else {
            out = re.replace_all(&out, *name).into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_envelope::protocol::{Fingerprint, Values};

    fn frame(function: &str, module: &str, in_app: bool) -> Frame {
        Frame {
            function: Some(function.into()),
            module: Some(module.into()),
            in_app: Some(in_app),
            ..Default::default()
        }
    }

    fn error(ty: &str, value: &str, frames: Vec<Frame>) -> Event {
        Event {
            exception: Some(Values {
                values: vec![Exception {
                    ty: Some(ty.into()),
                    value: Some(value.into()),
                    stacktrace: Some(Stacktrace {
                        frames,
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn exception_value_does_not_split_an_issue_with_frames() {
        let a = error("KeyError", "'a'", vec![frame("handler", "app.views", true)]);
        let b = error("KeyError", "'b'", vec![frame("handler", "app.views", true)]);
        assert_eq!(group_event(&a).hash, group_event(&b).hash);
        assert_eq!(group_event(&a).variant, GroupingVariant::Exception);
    }

    #[test]
    fn different_types_or_in_app_frames_split() {
        let a = error("KeyError", "x", vec![frame("handler", "app.views", true)]);
        let b = error("ValueError", "x", vec![frame("handler", "app.views", true)]);
        let c = error("KeyError", "x", vec![frame("other", "app.views", true)]);
        assert_ne!(group_event(&a).hash, group_event(&b).hash);
        assert_ne!(group_event(&a).hash, group_event(&c).hash);
    }

    #[test]
    fn library_frames_are_ignored_when_in_app_frames_exist() {
        let a = error(
            "KeyError",
            "x",
            vec![
                frame("lib1", "django.core", false),
                frame("handler", "app", true),
            ],
        );
        let b = error(
            "KeyError",
            "x",
            vec![
                frame("lib2", "django.http", false),
                frame("handler", "app", true),
            ],
        );
        assert_eq!(group_event(&a).hash, group_event(&b).hash);
    }

    #[test]
    fn exception_without_frames_groups_by_parameterized_value() {
        let a = error("Timeout", "after 30 s", vec![]);
        let b = error("Timeout", "after 31 s", vec![]);
        let c = error("Timeout", "connection reset", vec![]);
        assert_eq!(group_event(&a).hash, group_event(&b).hash);
        assert_ne!(group_event(&a).hash, group_event(&c).hash);
    }

    #[test]
    fn custom_fingerprint_with_default_extends_default_grouping() {
        let mut a = error("KeyError", "x", vec![frame("handler", "app", true)]);
        let plain = group_event(&a);
        a.fingerprint = Some(Fingerprint(vec!["{{ default }}".into()]));
        assert_eq!(
            group_event(&a).hash,
            plain.hash,
            "default alone is the default"
        );
        a.fingerprint = Some(Fingerprint(vec!["{{ default }}".into(), "tenant-1".into()]));
        let extended = group_event(&a);
        assert_eq!(extended.variant, GroupingVariant::CustomFingerprint);
        assert_ne!(extended.hash, plain.hash);
        a.fingerprint = Some(Fingerprint(vec!["database-unavailable".into()]));
        let b = error("OtherError", "y", vec![]);
        let b = Event {
            fingerprint: Some(Fingerprint(vec!["database-unavailable".into()])),
            ..b
        };
        assert_eq!(group_event(&a).hash, group_event(&b).hash);
    }

    #[test]
    fn fingerprint_variables_expand() {
        let mut a = error("KeyError", "x", vec![]);
        a.fingerprint = Some(Fingerprint(vec!["{{ type }}".into(), "fixed".into()]));
        assert_eq!(group_event(&a).components, vec!["KeyError", "fixed"]);
    }

    #[test]
    fn message_then_logger_then_fallback() {
        let mut e = Event {
            logger: Some("db".into()),
            ..Default::default()
        };
        assert_eq!(group_event(&e).variant, GroupingVariant::Logger);
        e.logger = None;
        assert_eq!(group_event(&e).variant, GroupingVariant::Fallback);
    }

    #[test]
    fn parameterize_keeps_words() {
        assert_eq!(parameterize("e2e test h2 failed"), "e2e test h2 failed");
        assert_eq!(
            parameterize("id 550e8400-e29b-41d4-a716-446655440000 sha 3f9a1c2b7d"),
            "id <uuid> sha <hex>"
        );
        assert_eq!(parameterize("took 1.5 s"), "took <float> s");
    }

    #[test]
    fn filenames_lose_hashes_and_queries() {
        assert_eq!(
            normalize_filename("https://cdn/app.3f9a1c2b.js?v=2"),
            "https://cdn/app.<hash>.js"
        );
        assert_eq!(normalize_filename("lib-1.2.3.js"), "lib-<hash>.js");
    }
}
