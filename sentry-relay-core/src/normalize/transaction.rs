//! Transactions: validation, the name and its source, the trace context,
//! spans and their exclusive time, measurements and span-operation
//! breakdowns.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use sentry_envelope::protocol::{Event, Span, Timestamp};

use super::meta::{MetaTree, Path};
use super::{Errors, NormalizeError, SpanOpsBreakdown};

/// The name of a transaction sent without one (Relay).
pub(crate) const UNLABELED_TRANSACTION: &str = "<unlabeled transaction>";

/// Mobile durations beyond this many milliseconds are outliers and dropped
/// (Relay: `MAX_DURATION_MOBILE_MS`, 3 minutes).
const MAX_DURATION_MOBILE_MS: f64 = 180_000.0;

/// The span operations of Sentry's default `span_ops` breakdown.
const DEFAULT_SPAN_OPS: &[&str] = &["http", "db", "browser", "resource", "ui"];

/// SDKs whose transaction names are raw URLs when they send no source
/// (Relay: `RAW_URL_SDKS`).
const RAW_URL_SDKS: &[&str] = &[
    "sentry.javascript.angular",
    "sentry.javascript.browser",
    "sentry.javascript.ember",
    "sentry.javascript.gatsby",
    "sentry.javascript.react",
    "sentry.javascript.remix",
    "sentry.javascript.vue",
    "sentry.javascript.nextjs",
    "sentry.php.laravel",
    "sentry.php.symfony",
];

/// Trace statuses of the Ruby Rack integration that mean a raw URL name.
const RUBY_URL_STATUSES: &[&str] = &[
    "invalid_argument",
    "unauthenticated",
    "permission_denied",
    "not_found",
    "already_exists",
    "resource_exhausted",
    "cancelled",
    "internal_error",
    "unimplemented",
    "unavailable",
    "deadline_exceeded",
];

/// Measurements Sentry knows, with their units: not subject to the custom
/// measurement limit, and dropped when sent with another unit.
const BUILTIN_MEASUREMENTS: &[(&str, &str)] = &[
    ("app_start_cold", "millisecond"),
    ("app_start_warm", "millisecond"),
    ("cls", "none"),
    ("fcp", "millisecond"),
    ("fid", "millisecond"),
    ("fp", "millisecond"),
    ("frames_frozen", "none"),
    ("frames_frozen_rate", "ratio"),
    ("frames_slow", "none"),
    ("frames_slow_rate", "ratio"),
    ("frames_total", "none"),
    ("inp", "millisecond"),
    ("lcp", "millisecond"),
    ("stall_count", "none"),
    ("stall_longest_time", "millisecond"),
    ("stall_percentage", "ratio"),
    ("stall_total_time", "millisecond"),
    ("time_to_full_display", "millisecond"),
    ("time_to_initial_display", "millisecond"),
    ("ttfb", "millisecond"),
    ("ttfb.requesttime", "millisecond"),
];

fn builtin_unit(name: &str) -> Option<&'static str> {
    BUILTIN_MEASUREMENTS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| BUILTIN_MEASUREMENTS[i].1)
}

// --- ids ----------------------------------------------------------------------

/// A trace id as Relay stores it (32 lower-case hex digits), from that or
/// from a UUID with dashes; `None` when it is neither. Borrowed when it is
/// already in form.
fn trace_id(value: &str) -> Option<Cow<'_, str>> {
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let hex: Cow<'_, str> = match value.len() {
        32 if is_hex(value) => Cow::Borrowed(value),
        36 if [8, 13, 18, 23].iter().all(|&i| value.as_bytes()[i] == b'-') => {
            let hex: String = value.chars().filter(|&c| c != '-').collect();
            if hex.len() != 32 || !is_hex(&hex) {
                return None;
            }
            Cow::Owned(hex)
        }
        _ => return None,
    };
    Some(lower(hex))
}

/// A span id as Relay stores it: 16 lower-case hex digits.
fn span_id(value: &str) -> Option<Cow<'_, str>> {
    (value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| lower(Cow::Borrowed(value)))
}

fn lower(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(value.to_ascii_lowercase())
    } else {
        value
    }
}

/// A span status as Relay reads it (with the aliases of early SDKs), or by
/// its code.
fn span_status(status: &Value) -> Option<&'static str> {
    match status {
        Value::String(s) => status_from_str(s),
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| STATUSES.get(usize::try_from(i).ok()?))
            .copied(),
        _ => None,
    }
}

/// The span statuses, by code.
const STATUSES: [&str; 17] = [
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal_error",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

fn status_from_str(status: &str) -> Option<&'static str> {
    match status {
        "success" => Some("ok"),
        "failure" => Some("internal_error"),
        "unknown_error" => Some("unknown"),
        other => STATUSES.iter().find(|c| **c == other).copied(),
    }
}

fn invalid_status(errors: &mut Errors, name: &str, value: Value) {
    let mut error = Map::new();
    error.insert("type".into(), Value::from("invalid_data"));
    error.insert("name".into(), Value::from(name));
    error.insert("value".into(), value);
    error.insert("reason".into(), Value::from("expected a trace status"));
    errors.0.push(Value::Object(error));
}

// --- validation ---------------------------------------------------------------

/// Relay's checks of a transaction: both timestamps, in order; a trace
/// context with a trace id and a span id; spans with both timestamps in
/// order, a trace id and a span id.
pub(super) fn validate_transaction(event: &Event) -> Result<(), NormalizeError> {
    let invalid = NormalizeError::InvalidTransaction;
    match (event.start_timestamp, event.timestamp) {
        (Some(start), Some(end)) if end < start => {
            return Err(invalid("end timestamp is smaller than start timestamp"));
        }
        (_, None) => return Err(invalid("timestamp hard-required for transaction events")),
        (None, _) => {
            return Err(invalid(
                "start_timestamp hard-required for transaction events",
            ));
        }
        _ => {}
    }
    let trace = trace_context(event).ok_or(invalid("missing valid trace context"))?;
    let id = |key: &str| trace.get(key).and_then(Value::as_str);
    if id("trace_id").and_then(trace_id).is_none() {
        return Err(invalid("trace context is missing trace_id"));
    }
    if id("span_id").and_then(span_id).is_none() {
        return Err(invalid("trace context is missing span_id"));
    }
    for span in event.spans.iter().flatten() {
        match (span.start_timestamp, span.timestamp) {
            (Some(start), Some(end)) if end < start => {
                return Err(invalid("end timestamp is smaller than start timestamp"));
            }
            (_, None) => return Err(invalid("span is missing timestamp")),
            (None, _) => return Err(invalid("span is missing start_timestamp")),
            _ => {}
        }
        if span.trace_id.as_deref().and_then(trace_id).is_none() {
            return Err(invalid("span is missing trace_id"));
        }
        if span.span_id.as_deref().and_then(span_id).is_none() {
            return Err(invalid("span is missing span_id"));
        }
    }
    Ok(())
}

fn trace_context(event: &Event) -> Option<&Map<String, Value>> {
    event.contexts.as_ref()?.0.get("trace")?.as_object()
}

/// Trace and span ids of a valid transaction in Relay's form.
fn normalize_ids(event: &mut Event) {
    if let Some(trace) = event
        .contexts
        .as_mut()
        .and_then(|c| c.0.get_mut("trace"))
        .and_then(Value::as_object_mut)
    {
        for (key, normalize) in [
            ("trace_id", trace_id as fn(&str) -> Option<Cow<'_, str>>),
            ("span_id", span_id),
        ] {
            let owned = match trace.get(key).and_then(Value::as_str).and_then(normalize) {
                Some(Cow::Owned(id)) => id,
                _ => continue,
            };
            trace.insert(key.to_owned(), Value::String(owned));
        }
    }
    for span in event.spans.iter_mut().flatten() {
        if let Some(Cow::Owned(id)) = span.trace_id.as_deref().and_then(trace_id) {
            span.trace_id = Some(id);
        }
        if let Some(Cow::Owned(id)) = span.span_id.as_deref().and_then(span_id) {
            span.span_id = Some(id);
        }
    }
}

// --- the trace context ----------------------------------------------------------

/// The trace context's status is valid (invalid ones are removed) and
/// `unknown` by default; a transaction's trace context has an operation
/// (`default` by default).
pub(super) fn normalize_trace_context(event: &mut Event, errors: &mut Errors) {
    let is_transaction = event.is_transaction();
    let Some(trace) = event
        .contexts
        .as_mut()
        .and_then(|c| c.0.get_mut("trace"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let status = trace.get("status").filter(|s| !s.is_null());
    // What the status becomes, and whether it was invalid.
    let (new, invalid) = match status {
        None => (Some("unknown"), false),
        Some(status) => match span_status(status) {
            Some(valid) if status.as_str() == Some(valid) => (None, false),
            Some(valid) => (Some(valid), false),
            None => (Some("unknown"), true),
        },
    };
    if let Some(new) = new {
        let old = trace.insert("status".into(), Value::from(new));
        if invalid {
            invalid_status(errors, "contexts.trace.status", old.unwrap_or_default());
        }
    }
    if is_transaction && trace.get("op").is_none_or(Value::is_null) {
        trace.insert("op".into(), Value::from("default"));
    }
}

// --- transactions ----------------------------------------------------------------

/// A transaction's name (never empty), its source, its spans' operations
/// and statuses, and the exclusive time of every span.
pub(super) fn normalize_transaction(event: &mut Event, errors: &mut Errors, meta: &mut MetaTree) {
    if !event.is_transaction() {
        return;
    }
    normalize_ids(event);
    if event.transaction.as_deref().is_none_or(str::is_empty) {
        event.transaction = Some(UNLABELED_TRANSACTION.to_owned());
    }
    let source = event
        .transaction_info
        .as_ref()
        .and_then(|i| i.get("source"))
        .and_then(Value::as_str);
    if source.is_none() && !is_high_cardinality_transaction(event) {
        set_source(event, "unknown");
    }
    let source = event
        .transaction_info
        .as_ref()
        .and_then(|i| i.get("source"))
        .and_then(Value::as_str);
    let is_url = matches!(source, Some("url" | "sanitized"))
        || (source.is_none()
            && event
                .transaction
                .as_deref()
                .is_some_and(|t| t.contains('/')));
    if is_url {
        if let Some(name) = &mut event.transaction {
            scrub_identifiers(name, meta);
        }
        set_source(event, "sanitized");
    }

    if let Some(spans) = &mut event.spans {
        for (i, span) in spans.iter_mut().enumerate() {
            if span.op.is_none() {
                span.op = Some("default".into());
            }
            if let Some(status) = &span.status {
                match status_from_str(status) {
                    Some(valid) if valid != status => span.status = Some(valid.to_owned()),
                    Some(_) => {}
                    None => {
                        let old = span.status.take().map(Value::String).unwrap_or_default();
                        invalid_status(errors, &format!("spans.{i}.status"), old);
                    }
                }
            }
        }
    }
    compute_exclusive_time(event);
}

fn set_source(event: &mut Event, source: &str) {
    let info = event.transaction_info.get_or_insert_with(Map::new);
    if info.get("source").and_then(Value::as_str) != Some(source) {
        info.insert("source".into(), Value::from(source));
    }
}

/// Whether a transaction without a source is named after a raw URL: it has
/// slashes and comes from an SDK known to send those (Relay).
fn is_high_cardinality_transaction(event: &Event) -> bool {
    if !event
        .transaction
        .as_deref()
        .is_some_and(|t| t.contains('/'))
    {
        return false;
    }
    let Some(sdk) = &event.sdk else {
        return false;
    };
    let name = sdk.name.as_deref().unwrap_or("unknown");
    if RAW_URL_SDKS.contains(&name) {
        return true;
    }
    let has_integration = |wanted: &str| {
        sdk.integrations
            .iter()
            .flatten()
            .any(|i| i.as_str() == Some(wanted))
    };
    let tag = |key: &str| event.tags.as_ref().and_then(|t| t.get(key));
    if name == "sentry.python"
        && tag("http.status_code").as_deref() == Some("404")
        && has_integration("django")
    {
        return true;
    }
    let method = event.request.as_ref().and_then(|r| r.method.as_deref());
    if name == "sentry.javascript.node"
        && method.is_some_and(|m| m.eq_ignore_ascii_case("options"))
        && has_integration("Express")
    {
        return true;
    }
    if name == "sentry.ruby"
        && event
            .modules
            .as_ref()
            .is_some_and(|m| m.contains_key("rack"))
    {
        let status = event
            .contexts
            .as_ref()
            .and_then(|c| c.0.get("trace"))
            .and_then(|t| t.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        return RUBY_URL_STATUSES.contains(&status);
    }
    false
}

/// Replaces path segments that look like identifiers (UUIDs, SHA-1 and MD5
/// hashes, hex numbers, numbers of two digits or more) with `*`, as Relay
/// does for URL transaction names; each replacement is a remark on the
/// original text, which is kept in `_meta`.
fn scrub_identifiers(name: &mut String, meta: &mut MetaTree) {
    let mut remarks: Vec<(&'static str, usize, usize)> = Vec::new();
    let mut start = 0;
    for segment in name.split(['/', '\\']) {
        let end = start + segment.len();
        if let Some(rule) = identifier_kind(segment) {
            remarks.push((rule, start, end));
        }
        start = end + 1;
    }
    if remarks.is_empty() {
        return;
    }
    let mut scrubbed = String::with_capacity(name.len());
    let mut last = 0;
    for &(_, start, end) in &remarks {
        scrubbed.push_str(&name[last..start]);
        scrubbed.push('*');
        last = end;
    }
    scrubbed.push_str(&name[last..]);
    if scrubbed == "*" {
        return;
    }
    let root = Path::ROOT;
    let path = root.key("transaction");
    for &(rule, start, end) in &remarks {
        meta.add_remark(&path, rule, "s", Some((start, end)));
    }
    meta.set_original(&path, Value::String(std::mem::replace(name, scrubbed)));
}

/// What kind of identifier a path segment contains, if any.
fn identifier_kind(segment: &str) -> Option<&'static str> {
    if segment.is_empty() {
        return None;
    }
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = segment.as_bytes();
    // UUIDs (with dashes).
    for i in 0..bytes.len().saturating_sub(35) {
        let window = &bytes[i..i + 36];
        let shape = window.iter().enumerate().all(|(j, &b)| match j {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        let bounded =
            (i == 0 || !is_word(bytes[i - 1])) && bytes.get(i + 36).is_none_or(|&b| !is_word(b));
        if shape && bounded {
            return Some("uuid");
        }
    }
    // Words: hashes and hex numbers, the first one found.
    for word in segment.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let hex = word.bytes().all(|b| b.is_ascii_hexdigit());
        let found = match word.len() {
            40 if hex => Some("sha1"),
            32 if hex => Some("md5"),
            _ => word
                .strip_prefix("0x")
                .or_else(|| word.strip_prefix("0X"))
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(|_| "hex"),
        };
        if found.is_some() {
            return found;
        }
    }
    // Numbers of two digits or more.
    bytes
        .windows(2)
        .any(|w| w[0].is_ascii_digit() && w[1].is_ascii_digit())
        .then_some("int")
}

// --- exclusive time ------------------------------------------------------------

/// A time interval in microseconds, start first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Interval {
    start: i64,
    end: i64,
}

impl Interval {
    fn new(start: Timestamp, end: Timestamp) -> Self {
        let (a, b) = (
            start.datetime().timestamp_micros(),
            end.datetime().timestamp_micros(),
        );
        Interval {
            start: a.min(b),
            end: a.max(b),
        }
    }

    fn of(span: &Span) -> Option<Self> {
        Some(Interval::new(span.start_timestamp?, span.timestamp?))
    }
}

fn millis(micros: i64) -> f64 {
    micros as f64 / 1000.0
}

/// The time of `parent` not covered by `children` (sorted by start).
fn exclusive_time(mut parent: Interval, children: &[Interval]) -> i64 {
    let mut exclusive = 0;
    for child in children {
        if child.start >= parent.end {
            break;
        }
        exclusive += (child.start - parent.start).max(0);
        parent.start = child.end.clamp(parent.start, parent.end);
    }
    exclusive + (parent.end - parent.start)
}

/// Every span's `exclusive_time` in milliseconds: its duration minus the
/// time its child spans cover; the same for the transaction's own span in
/// the trace context, unless the SDK set it.
fn compute_exclusive_time(event: &mut Event) {
    let (Some(start), Some(end)) = (event.start_timestamp, event.timestamp) else {
        return;
    };
    let Some(spans) = &mut event.spans else {
        return;
    };
    let mut children: Vec<(&str, Interval)> = spans
        .iter()
        .filter_map(|s| Some((s.parent_span_id.as_deref()?, Interval::of(s)?)))
        .collect();
    children.sort_unstable();
    let children_of = |id: &str| -> Vec<Interval> {
        let from = children.partition_point(|(p, _)| *p < id);
        children[from..]
            .iter()
            .take_while(|(p, _)| *p == id)
            .map(|(_, i)| *i)
            .collect()
    };
    let times: Vec<Option<f64>> = spans
        .iter()
        .map(|span| {
            let interval = Interval::of(span)?;
            Some(millis(exclusive_time(
                interval,
                &children_of(span.span_id.as_deref()?),
            )))
        })
        .collect();
    let trace = event
        .contexts
        .as_mut()
        .and_then(|c| c.0.get_mut("trace"))
        .and_then(Value::as_object_mut);
    if let Some(trace) = trace {
        if !trace.contains_key("exclusive_time") {
            if let Some(id) = trace.get("span_id").and_then(Value::as_str) {
                let time = exclusive_time(Interval::new(start, end), &children_of(id));
                trace.insert("exclusive_time".into(), Value::from(millis(time)));
            }
        }
    }
    for (span, time) in spans.iter_mut().zip(times) {
        if let Some(time) = time {
            span.other
                .insert("exclusive_time".into(), Value::from(time));
        }
    }
}

// --- measurements ----------------------------------------------------------------

/// Relay's measurement rules. Only transactions keep measurements. Names
/// are trimmed and lower case, of `a-z0-9._` and starting with a letter;
/// values are numbers; units default by name (or `none`); `app.start.*`
/// becomes `app_start_*`; mobile outliers over 3 minutes are dropped; with
/// a limit, built-in measurements must have their unit and at most `limit`
/// others are kept (in name order). Then the derived rates: frozen and slow
/// frame rates, stall percentage. Every drop but the outliers is an error
/// in `_meta.measurements` and in `errors`.
pub(super) fn normalize_measurements(
    event: &mut Event,
    max_custom: Option<usize>,
    errors: &mut Errors,
    meta: &mut MetaTree,
) {
    if !event.is_transaction() {
        event.measurements = None;
        return;
    }
    let Some(measurements) = event.measurements.take() else {
        return;
    };
    let root = Path::ROOT;
    let path = root.key("measurements");
    let mut reasons: Vec<String> = Vec::new();
    let mut out = Map::new();
    for (name, value) in measurements {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            reasons.push(format!("measurement name '{trimmed}' cannot be empty"));
            continue;
        }
        if !is_valid_name(trimmed) {
            reasons.push(format!(
                "measurement name '{trimmed}' can contain only characters a-z0-9._"
            ));
            continue;
        }
        let number = value.get("value").and_then(Value::as_f64);
        let Some(number) = number.filter(|n| n.is_finite()) else {
            let child = path.key(trimmed);
            let reason = if value.is_object() {
                "expected a floating point number"
            } else {
                "expected measurement"
            };
            meta.add_error(&child, "invalid_data", Some(json!({"reason": reason})));
            meta.set_original(&child, value);
            push_error(errors, &child.dotted(), reason);
            continue;
        };
        let unit = value.get("unit").and_then(Value::as_str).map(str::to_owned);
        let mut name = trimmed.to_ascii_lowercase();
        if name == "app.start.cold" || name == "app.start.warm" {
            name = name.replace('.', "_");
        }
        out.insert(name, measurement(number, unit));
    }
    for key in [
        "app_start_cold",
        "app_start_warm",
        "time_to_initial_display",
        "time_to_full_display",
    ] {
        if value_of(&out, key).is_some_and(|v| v > MAX_DURATION_MOBILE_MS) {
            out.remove(key);
        }
    }
    for (name, measurement) in out.iter_mut() {
        if let Some(m) = measurement.as_object_mut() {
            if !m.contains_key("unit") {
                let unit = builtin_unit(name).unwrap_or("none");
                m.insert("unit".into(), Value::from(unit));
            }
        }
    }
    if let Some(max_custom) = max_custom {
        let mut custom = 0;
        let mut removed = Map::new();
        out.retain(|name, measurement| {
            let unit = measurement.get("unit").and_then(Value::as_str);
            if let Some(builtin) = builtin_unit(name) {
                return unit == Some(builtin);
            }
            if custom < max_custom {
                custom += 1;
                return true;
            }
            reasons.push(format!("Too many measurements: {name}"));
            removed.insert(name.clone(), measurement.take());
            false
        });
        if !removed.is_empty() {
            meta.set_original(&path, Value::Object(removed));
        }
    }
    for reason in reasons {
        meta.add_error(&path, "invalid_data", Some(json!({"reason": reason})));
        push_error(errors, "measurements", &reason);
    }
    compute_measurements(event, &mut out);
    if !out.is_empty() {
        event.measurements = Some(out);
    }
}

fn push_error(errors: &mut Errors, name: &str, reason: &str) {
    let mut error = Map::new();
    error.insert("type".into(), Value::from("invalid_data"));
    error.insert("name".into(), Value::from(name));
    error.insert("reason".into(), Value::from(reason));
    errors.0.push(Value::Object(error));
}

fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fn measurement(value: f64, unit: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), Value::from(value));
    if let Some(unit) = unit {
        m.insert("unit".into(), Value::String(unit));
    }
    Value::Object(m)
}

fn value_of(measurements: &Map<String, Value>, name: &str) -> Option<f64> {
    measurements.get(name)?.get("value")?.as_f64()
}

/// Frozen and slow frame rates and the stall percentage (Relay:
/// `compute_measurements`).
fn compute_measurements(event: &Event, out: &mut Map<String, Value>) {
    let ratio = |v: f64| measurement(v, Some("ratio".into()));
    if let Some(total) = value_of(out, "frames_total").filter(|t| *t > 0.0) {
        if let Some(frozen) = value_of(out, "frames_frozen") {
            out.insert("frames_frozen_rate".into(), ratio(frozen / total));
        }
        if let Some(slow) = value_of(out, "frames_slow") {
            out.insert("frames_slow_rate".into(), ratio(slow / total));
        }
    }
    let duration = match (event.start_timestamp, event.timestamp) {
        (Some(start), Some(end)) => millis(
            (end.datetime() - start.datetime())
                .num_microseconds()
                .unwrap_or(0),
        )
        .max(0.0),
        _ => 0.0,
    };
    if duration > 0.0 {
        let stall = out.get("stall_total_time").and_then(|stall| {
            let unit = stall.get("unit").and_then(Value::as_str);
            matches!(unit, None | Some("millisecond" | "none"))
                .then(|| stall.get("value").and_then(Value::as_f64))
                .flatten()
        });
        if let Some(total) = stall {
            out.insert("stall_percentage".into(), ratio(total / duration));
        }
    }
}

// --- breakdowns ------------------------------------------------------------------

/// Relay's `span_ops` breakdown: for each configured operation prefix, the
/// time spans of that operation cover (overlaps counted once), and the
/// total over all operations. Breakdowns sent by the SDK are not kept.
pub(super) fn normalize_breakdowns(event: &mut Event, config: &SpanOpsBreakdown) {
    event.other.remove("breakdowns");
    let Some(spans) = event.spans.as_ref().filter(|s| !s.is_empty()) else {
        return;
    };
    let matches: Vec<&str> = match config {
        SpanOpsBreakdown::Default => DEFAULT_SPAN_OPS.to_vec(),
        SpanOpsBreakdown::Disabled => return,
        SpanOpsBreakdown::Matches(m) => m.iter().map(String::as_str).collect(),
    };
    if matches.is_empty() {
        return;
    }
    // (group, emitted, intervals): a group per matched prefix, or per
    // operation that matches none (counted in the total only).
    let mut groups: Vec<(&str, bool, Vec<Interval>)> = Vec::new();
    for span in spans {
        let (Some(op), Some(interval)) = (span.op.as_deref(), Interval::of(span)) else {
            continue;
        };
        let (key, emit) = match matches.iter().find(|m| op.starts_with(**m)) {
            Some(m) => (*m, true),
            None => (op, false),
        };
        match groups.iter_mut().find(|(k, e, _)| *k == key && *e == emit) {
            Some((_, _, intervals)) => intervals.push(interval),
            None => groups.push((key, emit, vec![interval])),
        }
    }
    if groups.is_empty() {
        return;
    }
    let mut breakdown = Map::new();
    let mut total = 0;
    for (key, emit, mut intervals) in groups {
        let time = covered_time(&mut intervals);
        total += time;
        if emit {
            breakdown.insert(
                format!("ops.{key}"),
                measurement(millis(time), Some("millisecond".into())),
            );
        }
    }
    breakdown.insert(
        "total.time".into(),
        measurement(millis(total), Some("millisecond".into())),
    );
    let mut breakdowns = Map::new();
    breakdowns.insert("span_ops".into(), Value::Object(breakdown));
    event
        .other
        .insert("breakdowns".into(), Value::Object(breakdowns));
}

/// The time a set of intervals covers, overlaps counted once.
fn covered_time(intervals: &mut [Interval]) -> i64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut last_end: Option<i64> = None;
    for interval in intervals.iter() {
        let (start, end) = match last_end {
            Some(cutoff) => (interval.start.max(cutoff), interval.end.max(cutoff)),
            None => (interval.start, interval.end),
        };
        total += end - start;
        last_end = Some(end);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    fn at(secs: i64, millis: u32) -> Timestamp {
        let dt: DateTime<Utc> = Utc.timestamp_opt(secs, millis * 1_000_000).unwrap();
        Timestamp::from_datetime(dt)
    }

    fn span(id: &str, parent: &str, start: Timestamp, end: Timestamp, op: &str) -> Span {
        Span {
            span_id: Some(id.into()),
            parent_span_id: Some(parent.into()),
            trace_id: Some("3c79f60c11214eb38604f4ae0781bfb2".into()),
            op: Some(op.into()),
            start_timestamp: Some(start),
            timestamp: Some(end),
            ..Span::default()
        }
    }

    fn transaction(spans: Vec<Span>) -> Event {
        serde_json::from_value::<Event>(json!({
            "type": "transaction",
            "contexts": {"trace": {"trace_id": "3c79f60c11214eb38604f4ae0781bfb2", "span_id": "aaaaaaaaaaaaaaaa"}}
        }))
        .map(|mut e| {
            e.start_timestamp = Some(at(1_609_455_600, 0));
            e.timestamp = Some(at(1_609_455_605, 0));
            e.spans = Some(spans);
            e
        })
        .unwrap()
    }

    #[test]
    fn exclusive_times() {
        // Relay's example of three overlapping children.
        let mut event = transaction(vec![
            span(
                "bbbbbbbbbbbbbbbb",
                "aaaaaaaaaaaaaaaa",
                at(1_609_455_601, 0),
                at(1_609_455_604, 0),
                "db",
            ),
            span(
                "cccccccccccccccc",
                "aaaaaaaaaaaaaaaa",
                at(1_609_455_601, 0),
                at(1_609_455_603, 500),
                "db",
            ),
            span(
                "dddddddddddddddd",
                "aaaaaaaaaaaaaaaa",
                at(1_609_455_603, 0),
                at(1_609_455_604, 877),
                "db",
            ),
        ]);
        compute_exclusive_time(&mut event);
        let times: Vec<&Value> = event
            .spans
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| &s.other["exclusive_time"])
            .collect();
        assert_eq!(times, [&json!(3000.0), &json!(2500.0), &json!(1877.0)]);
        assert_eq!(
            event.contexts.unwrap().0["trace"]["exclusive_time"],
            json!(1123.0)
        );

        // Nested spans.
        let mut event = transaction(vec![
            span(
                "bbbbbbbbbbbbbbbb",
                "aaaaaaaaaaaaaaaa",
                at(1_609_455_601, 0),
                at(1_609_455_602, 0),
                "db",
            ),
            span(
                "cccccccccccccccc",
                "bbbbbbbbbbbbbbbb",
                at(1_609_455_601, 200),
                at(1_609_455_601, 800),
                "db",
            ),
            span(
                "dddddddddddddddd",
                "cccccccccccccccc",
                at(1_609_455_601, 400),
                at(1_609_455_601, 600),
                "db",
            ),
        ]);
        compute_exclusive_time(&mut event);
        let times: Vec<f64> = event
            .spans
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.other["exclusive_time"].as_f64().unwrap())
            .collect();
        assert_eq!(times, [400.0, 400.0, 200.0]);
    }

    #[test]
    fn breakdowns() {
        // Relay's example: http for an hour, overlapping db spans for two.
        let t = |h: i64, m: i64| at(1_577_836_800 + h * 3600 + m * 60, 0);
        let mut event = transaction(vec![
            span("1111111111111111", "a", t(0, 0), t(1, 0), "http"),
            span("2222222222222222", "a", t(2, 0), t(3, 0), "db"),
            span("3333333333333333", "a", t(2, 30), t(3, 30), "db.postgres"),
            span("4444444444444444", "a", t(4, 0), t(4, 30), "db.mongo"),
            span("5555555555555555", "a", t(5, 0), t(6, 0), "browser"),
        ]);
        event.other.insert("breakdowns".into(), json!({"sdk": {}}));
        let config = SpanOpsBreakdown::Matches(vec!["http".into(), "db".into()]);
        normalize_breakdowns(&mut event, &config);
        assert_eq!(
            event.other["breakdowns"],
            json!({"span_ops": {
                "ops.http": {"value": 3_600_000.0, "unit": "millisecond"},
                "ops.db": {"value": 7_200_000.0, "unit": "millisecond"},
                "total.time": {"value": 14_400_000.0, "unit": "millisecond"}
            }})
        );
        let mut event = transaction(Vec::new());
        event.other.insert("breakdowns".into(), json!({"sdk": {}}));
        normalize_breakdowns(&mut event, &SpanOpsBreakdown::Default);
        assert!(!event.other.contains_key("breakdowns"));
    }

    #[test]
    fn identifiers() {
        let scrub = |name: &str| {
            let mut name = name.to_owned();
            let mut meta = MetaTree::new(None);
            scrub_identifiers(&mut name, &mut meta);
            (name, meta.into_value())
        };
        let (name, meta) = scrub("/users/123/posts/0xdeadbeef/");
        assert_eq!(name, "/users/*/posts/*/");
        assert_eq!(
            meta.unwrap(),
            json!({"transaction": {"": {
                "rem": [["int", "s", 7, 10], ["hex", "s", 17, 27]],
                "val": "/users/123/posts/0xdeadbeef/"
            }}})
        );
        assert_eq!(
            scrub("/u/3c79f60c-1121-4eb3-8604-f4ae0781bfb2/x").0,
            "/u/*/x"
        );
        assert_eq!(
            scrub("/commit/da39a3ee5e6b4b0d3255bfef95601890afd80709").0,
            "/commit/*"
        );
        assert_eq!(scrub("/v1/users/me").0, "/v1/users/me");
        assert_eq!(scrub("42").0, "42");
    }

    #[test]
    fn statuses_and_ids() {
        assert_eq!(span_status(&json!("success")), Some("ok"));
        assert_eq!(span_status(&json!(16)), Some("unauthenticated"));
        assert_eq!(span_status(&json!("meh")), None);
        assert_eq!(
            trace_id("3C79F60C-1121-4EB3-8604-F4AE0781BFB2").as_deref(),
            Some("3c79f60c11214eb38604f4ae0781bfb2")
        );
        assert!(matches!(
            trace_id("3c79f60c11214eb38604f4ae0781bfb2"),
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(trace_id("3c79"), None);
        assert_eq!(
            span_id("AAAAAAAAAAAAAAAA").as_deref(),
            Some("aaaaaaaaaaaaaaaa")
        );
        assert_eq!(span_id("xyz"), None);
    }
}
