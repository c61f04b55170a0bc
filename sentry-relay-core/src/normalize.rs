//! Event normalization: what Relay and Sentry do to an event before it is
//! stored.
//!
//! [`normalize_event`] is a pure function of the event and a
//! [`NormalizeConfig`] that carries everything from outside: when the
//! event was received, the SDK's clock, the client's address, the id to
//! give an event without one. The steps, in order:
//!
//! 1. ids and legacy fields (`message` becomes `logentry`, `site` a tag);
//! 2. timestamps: clock-drift correction from `sent_at`, then timestamps
//!    too far in the past or future are moved to the receive time, then
//!    `received` is set;
//! 3. the client's IP address for `{{auto}}` and for browser and Apple
//!    SDKs;
//! 4. validating release, environment, dist, logger; defaults for
//!    platform, level, logger, SDK; breadcrumbs (the last 100, with a type
//!    and a level);
//! 5. stack traces (no empty frames, no empty stack traces, file names from
//!    paths and URLs) and exceptions (type and value, mechanisms);
//! 6. request, contexts (user agent, the trace context's status);
//! 7. transactions: name and source, spans, exclusive times; measurements
//!    and span-operation breakdowns;
//! 8. trimming: Relay's limits on strings, data bags and stack traces;
//! 9. tags: a canonical list of `[key, value]` pairs, with Relay's
//!    validation and the tags Sentry derives when saving (from the trimmed
//!    event, as Sentry sees it);
//! 10. what Sentry shows for the event (see [`event_metadata`]).
//!
//! Transactions that Relay would reject (no timestamps, no trace context,
//! spans without ids or timestamps) fail with [`NormalizeError`].
//!
//! Everything dropped on the way is recorded: in the event's `errors` list,
//! as Sentry shows it under "processing errors", and for values that were
//! cut or removed in part, in the event's `_meta` tree (see `_meta` in the
//! [`pii`](crate::pii) module for its format). Trimmed strings end in
//! `"..."` and carry the remark `["!limit", "s", start, end]` and their
//! original length; lists and objects that lost items carry their original
//! item count.
//!
//! Normalizing an event again with the same config changes nothing.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use sentry_envelope::EventId;
use sentry_envelope::protocol::{
    ClientSdkInfo, Event, Frame, Level, LogEntry, Mechanism, Message, Stacktrace, StringOrNumber,
    Tags, Timestamp, User,
};

use crate::metadata::{event_metadata, truncate_chars, truncate_owned};

mod meta;
mod transaction;
mod trim;

use meta::{MetaTree, Path};

/// Relay's smallest clock drift that is corrected (55 minutes); smaller
/// differences are network latency or small clock skews.
pub const MINIMUM_CLOCK_DRIFT_SECS: i64 = 55 * 60;
/// The longest tag key Sentry stores.
pub const MAX_TAG_KEY_LENGTH: usize = 200;
/// The longest tag value Sentry stores.
pub const MAX_TAG_VALUE_LENGTH: usize = 200;
/// Relay's default for [`NormalizeConfig::max_secs_in_past`] (30 days).
pub const DEFAULT_MAX_SECS_IN_PAST: i64 = 30 * 24 * 3600;
/// Relay's default for [`NormalizeConfig::max_secs_in_future`] (1 minute).
pub const DEFAULT_MAX_SECS_IN_FUTURE: i64 = 60;

/// Sentry's default for [`NormalizeConfig::max_custom_measurements`].
pub const DEFAULT_MAX_CUSTOM_MEASUREMENTS: usize = 10;
/// The most breadcrumbs an event keeps: the last ones (the SDKs' own
/// limit, `MAX_BREADCRUMBS`).
pub const MAX_BREADCRUMBS: usize = 100;

/// In bytes, as Sentry's release parser counts.
const MAX_RELEASE_LENGTH: usize = 200;
/// In bytes, as Sentry's release parser counts.
const MAX_ENVIRONMENT_LENGTH: usize = 64;
const MAX_DIST_LENGTH: usize = 64;
const MAX_LOGGER_LENGTH: usize = 64;

/// Whether Sentry knows the platform; any other becomes `other`.
fn is_valid_platform(platform: &str) -> bool {
    // A `match` compares with constants, cheaper than a search of a list.
    matches!(
        platform,
        "as3"
            | "c"
            | "cfml"
            | "cocoa"
            | "csharp"
            | "elixir"
            | "go"
            | "groovy"
            | "haskell"
            | "java"
            | "javascript"
            | "native"
            | "node"
            | "objc"
            | "other"
            | "perl"
            | "php"
            | "python"
            | "ruby"
    )
}

/// Everything [`normalize_event`] needs from outside the event.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizeConfig {
    /// When the ingest edge received the event.
    pub received_at: DateTime<Utc>,
    /// When the SDK sent it by its own clock (the envelope's `sent_at`
    /// header), for clock-drift correction.
    pub sent_at: Option<DateTime<Utc>>,
    /// The address the request came from.
    pub client_ip: Option<IpAddr>,
    /// The request's `User-Agent`. Kept for user-agent parsing, which is
    /// not done yet.
    pub user_agent: Option<String>,
    /// The SDK of the request (`sentry_client` of the auth header, as
    /// `name/version`): the event's `sdk` when it has none.
    pub client: Option<String>,
    /// Timestamps older than this many seconds before `received_at` are
    /// moved to `received_at` (Relay: 30 days).
    pub max_secs_in_past: i64,
    /// Timestamps more than this many seconds after `received_at` are
    /// moved to `received_at` (Relay: 60 s).
    pub max_secs_in_future: i64,
    /// The project's platform. Not used to default the event's platform:
    /// Relay and Sentry default it to `other` whatever the project says.
    pub project_platform: Option<String>,
    /// The id for an event that has none (the envelope header's id; the
    /// caller generates one when that is missing too).
    pub event_id: Option<EventId>,
    /// The numeric id of the client key, stored as the event's `key_id`.
    pub key_id: Option<String>,
    /// The project, stored as the event's `project`.
    pub project_id: Option<u64>,
    /// How many measurements of a transaction that Sentry does not know
    /// are kept (in name order); `None` keeps all of them and does not
    /// check the units of known ones (Sentry: 10).
    pub max_custom_measurements: Option<usize>,
    /// The span operations whose time a transaction's `span_ops` breakdown
    /// shows.
    pub span_ops_breakdown: SpanOpsBreakdown,
}

/// Which span operations a transaction's `breakdowns.span_ops` shows: for
/// each, the time its spans cover, as `ops.<operation>`, and the total as
/// `total.time`, in milliseconds. Breakdowns sent by SDKs are not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanOpsBreakdown {
    /// Sentry's default: operations starting with `http`, `db`, `browser`,
    /// `resource` and `ui`.
    #[default]
    Default,
    /// No breakdown.
    Disabled,
    /// Operations starting with one of these.
    Matches(Vec<String>),
}

impl NormalizeConfig {
    /// A config with Relay's defaults for an event received at `received_at`.
    pub fn new(received_at: DateTime<Utc>) -> Self {
        NormalizeConfig {
            received_at,
            sent_at: None,
            client_ip: None,
            user_agent: None,
            client: None,
            max_secs_in_past: DEFAULT_MAX_SECS_IN_PAST,
            max_secs_in_future: DEFAULT_MAX_SECS_IN_FUTURE,
            project_platform: None,
            event_id: None,
            key_id: None,
            project_id: None,
            max_custom_measurements: Some(DEFAULT_MAX_CUSTOM_MEASUREMENTS),
            span_ops_breakdown: SpanOpsBreakdown::Default,
        }
    }
}

/// Why an event cannot be stored at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NormalizeError {
    /// A transaction without the timestamps it needs or ending before it
    /// started, without a trace context with ids, or with a span like that
    /// (Relay's outcome reason `invalid_transaction`).
    #[error("invalid transaction: {0}")]
    InvalidTransaction(&'static str),
}

impl NormalizeError {
    /// The outcome reason Relay records for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            NormalizeError::InvalidTransaction(_) => "invalid_transaction",
        }
    }
}

/// The processing errors collected while normalizing; they end up in the
/// event's `errors` list as `{"type", "name", "value", ...}`.
struct Errors(Vec<Value>);

impl Errors {
    fn push(&mut self, ty: &str, name: &str, value: Option<Value>) {
        let mut error = Map::new();
        error.insert("type".into(), Value::String(ty.into()));
        error.insert("name".into(), Value::String(name.into()));
        if let Some(value) = value {
            error.insert("value".into(), value);
        }
        self.0.push(Value::Object(error));
    }

    /// An error with Relay's `reason`.
    fn push_reason(&mut self, ty: &str, name: &str, value: Option<Value>, reason: &str) {
        self.push(ty, name, value);
        if let Some(Value::Object(error)) = self.0.last_mut() {
            error.insert("reason".into(), Value::from(reason));
        }
    }

    fn has_type(&self, types: &[&str]) -> bool {
        self.0.iter().any(|e| {
            e.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| types.contains(&t))
        })
    }
}

/// Normalizes an event for storage, as Relay and Sentry do.
///
/// The event keeps its canonical stored form afterwards: tags as a list of
/// `[key, value]` string pairs; `message` folded into `logentry`;
/// `server_name` moved into the tags (as Relay does); Sentry's `title`,
/// `location` and `metadata` in the event's other fields, `culprit` and
/// `type` in their own. Events from `transaction` items must have
/// `type: "transaction"` before this is called (Relay sets it from the item
/// type).
///
/// Fails only for transactions that cannot be stored; the event is
/// unchanged then.
pub fn normalize_event(event: &mut Event, config: &NormalizeConfig) -> Result<(), NormalizeError> {
    if event.is_transaction() {
        transaction::validate_transaction(event)?;
    }
    let mut errors = Errors(match event.other.remove("errors") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    });
    let mut meta = MetaTree::new(event.other.remove("_meta"));

    if event.event_id.is_none_or(|id| id.is_nil()) {
        if let Some(id) = config.event_id {
            event.event_id = Some(id);
        }
    }

    normalize_logentry(event, &mut errors);
    normalize_timestamps(event, config, &mut errors);
    normalize_ip_addresses(event, config.client_ip);
    normalize_user(event);
    normalize_attributes(event, &mut errors, &mut meta);
    normalize_defaults(event, config, &mut errors);
    normalize_breadcrumbs(event, &mut meta);
    move_event_stacktrace(event);
    normalize_stacktraces(event, &mut errors, &mut meta);
    normalize_exceptions(event, &mut errors);
    normalize_request(event);
    normalize_contexts(event, &mut errors);
    transaction::normalize_transaction(event, &mut errors, &mut meta);
    transaction::normalize_measurements(
        event,
        config.max_custom_measurements,
        &mut errors,
        &mut meta,
    );
    transaction::normalize_breakdowns(event, &config.span_ops_breakdown);
    // Relay trims; Sentry derives its tags from what Relay sends.
    trim::Trimmer::new(&mut meta).trim_event(event);
    normalize_tags(event, &mut errors);
    trim::Trimmer::new(&mut meta).trim_tags(event);

    if let Some(key_id) = &config.key_id {
        event
            .other
            .insert("key_id".into(), Value::String(key_id.clone()));
    }
    if let Some(project) = config.project_id {
        event.other.insert("project".into(), Value::from(project));
    }

    store_metadata(event);
    event.other.insert("errors".into(), Value::Array(errors.0));
    if let Some(meta) = meta.into_value() {
        event.other.insert("_meta".into(), meta);
    }
    Ok(())
}

// --- message and logentry ---------------------------------------------------

fn normalize_logentry(event: &mut Event, errors: &mut Errors) {
    // `message` is an alias of `logentry` in Relay's schema.
    match event.message.take() {
        Some(Message::Plain(text)) => {
            let entry = event.logentry.get_or_insert_with(LogEntry::default);
            if entry.formatted.is_none() && entry.message.is_none() {
                entry.formatted = Some(text);
            }
        }
        Some(Message::Entry(entry)) => {
            event.logentry.get_or_insert(entry);
        }
        None => {}
    }
    let Some(entry) = &mut event.logentry else {
        return;
    };
    let is_empty = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
    if is_empty(&entry.formatted) && is_empty(&entry.message) {
        if entry.params.is_some() || !entry.other.is_empty() {
            errors.push("invalid_data", "logentry", None);
        }
        event.logentry = None;
        return;
    }
    if entry.formatted.is_none() {
        if let (Some(message), Some(params)) = (&entry.message, &entry.params) {
            entry.formatted = format_message(message, params);
        }
    }
    if entry.formatted.is_none() || entry.message == entry.formatted {
        entry.formatted = entry.message.take();
    }
}

/// Fills a log message's parameters in: `%s`-style placeholders from a
/// list, `%(name)s` from an object, `{0}` and `{name}` either way. Returns
/// `None` when nothing was filled in.
fn format_message(message: &str, params: &Value) -> Option<String> {
    let render = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::with_capacity(message.len());
    let mut positional = params.as_array().map(|a| a.iter());
    let mut filled = false;
    let mut rest = message;
    while let Some(pos) = rest.find(['%', '{']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let mut consumed = 1;
        let mut replacement = None;
        if let Some(after) = tail.strip_prefix('%') {
            if after.starts_with('%') {
                replacement = Some("%".to_owned());
                consumed = 2;
            } else if let Some(named) = after.strip_prefix('(') {
                if let Some(end) = named.find(')') {
                    let spec = named[end + 1..].chars().next();
                    if spec.is_some_and(|c| c.is_ascii_alphabetic()) {
                        if let Some(v) = params.get(&named[..end]) {
                            replacement = Some(render(v));
                            consumed = 1 + 1 + end + 1 + 1;
                        }
                    }
                }
            } else if after.starts_with(['s', 'd', 'i', 'f', 'r', 'u']) {
                if let Some(v) = positional.as_mut().and_then(Iterator::next) {
                    replacement = Some(render(v));
                    consumed = 2;
                }
            }
        } else if let Some(end) = tail.find('}') {
            let key = &tail[1..end];
            let v = match key.parse::<usize>() {
                Ok(i) => params.get(i),
                Err(_) if !key.is_empty() => params.get(key),
                Err(_) => None,
            };
            if let Some(v) = v {
                replacement = Some(render(v));
                consumed = end + 1;
            }
        }
        match replacement {
            Some(r) => {
                filled = true;
                out.push_str(&r);
            }
            None => out.push_str(&tail[..consumed]),
        }
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    filled.then_some(out)
}

// --- timestamps -------------------------------------------------------------

fn normalize_timestamps(event: &mut Event, config: &NormalizeConfig, errors: &mut Errors) {
    let received_at = config.received_at;
    // A corrected event carries the correction in its errors; correcting
    // it again would shift it twice.
    let corrected = errors.has_type(&["clock_drift", "past_timestamp", "future_timestamp"]);
    if !corrected {
        if let Some(sent_at) = config.sent_at {
            let drift = received_at - sent_at;
            if drift.num_seconds().abs() >= MINIMUM_CLOCK_DRIFT_SECS {
                shift_timestamps(event, drift);
                errors
                    .0
                    .push(drift_error("clock_drift", sent_at, received_at));
            }
        }
        if let Some(timestamp) = event.timestamp.map(|t| t.datetime()) {
            let kind = if timestamp > received_at + TimeDelta::seconds(config.max_secs_in_future) {
                Some("future_timestamp")
            } else if timestamp < received_at - TimeDelta::seconds(config.max_secs_in_past) {
                Some("past_timestamp")
            } else {
                None
            };
            if let Some(kind) = kind {
                shift_timestamps(event, received_at - timestamp);
                errors.0.push(drift_error(kind, timestamp, received_at));
            }
        }
    }
    let received = Timestamp::from_datetime(received_at);
    event.received = Some(received);
    event.timestamp.get_or_insert(received);
}

fn drift_error(kind: &str, sdk_time: DateTime<Utc>, server_time: DateTime<Utc>) -> Value {
    json!({
        "type": kind,
        "name": "timestamp",
        "sdk_time": sdk_time.to_rfc3339(),
        "server_time": server_time.to_rfc3339(),
    })
}

/// Moves every timestamp of the event by `delta`: the event's, the start
/// of a transaction, breadcrumbs and spans.
fn shift_timestamps(event: &mut Event, delta: TimeDelta) {
    let shift = |ts: &mut Option<Timestamp>| {
        if let Some(t) = ts {
            if let Some(moved) = t.datetime().checked_add_signed(delta) {
                *t = Timestamp::from_datetime(moved);
            }
        }
    };
    shift(&mut event.timestamp);
    shift(&mut event.start_timestamp);
    if let Some(breadcrumbs) = &mut event.breadcrumbs {
        for b in &mut breadcrumbs.values {
            shift(&mut b.timestamp);
        }
    }
    if let Some(spans) = &mut event.spans {
        for span in spans {
            shift(&mut span.timestamp);
            shift(&mut span.start_timestamp);
        }
    }
}

// --- user and IP addresses --------------------------------------------------

const AUTO_IP: &str = "{{auto}}";

/// Relay's rules: `{{auto}}` is the client's address; a request's
/// `REMOTE_ADDR` is the user's address when the user has none; failing
/// that, browser and Apple SDKs get the client's address.
fn normalize_ip_addresses(event: &mut Event, client_ip: Option<IpAddr>) {
    if let Some(ip) = client_ip {
        let remote = event
            .request
            .as_mut()
            .and_then(|r| r.env.as_mut())
            .and_then(|env| env.get_mut("REMOTE_ADDR"));
        if let Some(remote @ Value::String(_)) = remote {
            if remote.as_str() == Some(AUTO_IP) {
                *remote = Value::String(ip.to_string());
            }
        }
        if let Some(user) = &mut event.user {
            if user.ip_address.as_deref() == Some(AUTO_IP) {
                user.ip_address = Some(ip.to_string());
            }
        }
    }
    // A user's own address is kept: nothing below changes it.
    if event.user.as_ref().is_some_and(|u| u.ip_address.is_some()) {
        return;
    }
    let http_ip = event
        .request
        .as_ref()
        .and_then(|r| r.env.as_ref())
        .and_then(|env| env.get("REMOTE_ADDR"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<IpAddr>().ok());
    if let Some(ip) = http_ip {
        let user = event.user.get_or_insert_with(User::default);
        user.ip_address.get_or_insert_with(|| ip.to_string());
    } else if let Some(ip) = client_ip {
        if matches!(
            event.platform.as_deref(),
            Some("javascript" | "cocoa" | "objc")
        ) {
            let user = event.user.get_or_insert_with(User::default);
            user.ip_address.get_or_insert_with(|| ip.to_string());
        }
    }
}

/// Unknown user fields move into `user.data`, as in Relay.
fn normalize_user(event: &mut Event) {
    if let Some(user) = &mut event.user {
        if !user.other.is_empty() {
            let data = user.data.get_or_insert_with(Map::new);
            data.extend(std::mem::take(&mut user.other));
        }
    }
}

// --- top-level attributes ---------------------------------------------------

/// `s` without leading and trailing whitespace, as [`str::trim`] cuts it;
/// quick for text that starts and ends with a visible ASCII character,
/// as nearly all does.
fn trim_whitespace(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

fn trimmed(value: &mut Option<String>) {
    if let Some(v) = value {
        let t = trim_whitespace(v);
        if t.is_empty() {
            *value = None;
        } else if t.len() != v.len() {
            *v = t.to_owned();
        }
    }
}

fn normalize_attributes(event: &mut Event, errors: &mut Errors, meta: &mut MetaTree) {
    trimmed(&mut event.release);
    if let Some(release) = &event.release {
        if !is_valid_release(release) {
            errors.push(
                "invalid_data",
                "release",
                event.release.take().map(Value::String),
            );
        }
    }
    trimmed(&mut event.environment);
    if let Some(environment) = &event.environment {
        if !is_valid_environment(environment) {
            let value = event.environment.take().map(Value::String);
            errors.push("invalid_data", "environment", value);
        }
    }
    trimmed(&mut event.dist);
    if let Some(dist) = &event.dist {
        if dist.chars().count() > MAX_DIST_LENGTH {
            errors.push(
                "value_too_long",
                "dist",
                event.dist.take().map(Value::String),
            );
        } else if let Some(c) = dist
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            let reason = format!("invalid character {c:?}");
            let value = event.dist.take().map(Value::String);
            errors.push_reason("invalid_data", "dist", value, &reason);
        }
    }
    trimmed(&mut event.transaction);
    trimmed(&mut event.server_name);
    trimmed(&mut event.culprit);
    if event
        .logger
        .as_ref()
        .is_some_and(|l| l.bytes().any(|b| matches!(b, b'\r' | b'\n')))
    {
        let value = event.logger.take().map(Value::String);
        errors.push_reason("invalid_data", "logger", value, "invalid character");
    }
    if let Some(logger) = &mut event.logger {
        shorten_logger(logger, meta);
    }
}

/// Relay's logger rules: trimmed; over 64 characters, the end is kept (the
/// most specific part of a dotted name), without a partial word, after a
/// `*`. Each change is a remark in `_meta`.
fn shorten_logger(logger: &mut String, meta: &mut MetaTree) {
    let root = Path::ROOT;
    let path = root.key("logger");
    let trimmed = trim_whitespace(logger);
    // A string has at most as many characters as bytes.
    if trimmed.len() <= MAX_LOGGER_LENGTH || trimmed.chars().count() <= MAX_LOGGER_LENGTH {
        if trimmed.len() != logger.len() {
            let original = logger.chars().count();
            if trimmed.is_empty() {
                meta.add_remark(&path, "@logger:remove", "x", Some((0, original)));
            } else {
                meta.add_remark(&path, "@logger:trim", "s", None);
            }
            meta.set_len(&path, original);
            *logger = trimmed.to_owned();
        }
        return;
    }
    let len = trimmed.chars().count();
    let original = logger.chars().count();
    // Room for the `*`.
    let cut = len - (MAX_LOGGER_LENGTH - 1);
    let mut kept = trimmed
        .char_indices()
        .nth(cut)
        .map_or("", |(i, _)| &trimmed[i..]);
    let cut_in_word = trimmed.chars().nth(cut - 1).is_some_and(|c| c != '.');
    if cut_in_word {
        if let Some(dot) = kept.find('.') {
            kept = &kept[dot..];
        }
    }
    let removed = len - kept.chars().count();
    meta.add_remark(&path, "@logger:replace", "s", Some((0, removed)));
    meta.set_len(&path, original);
    *logger = format!("*{kept}");
}

/// Sentry's release rules: at most 200 bytes, no line breaks, tabs, form
/// feeds or slashes, not `.`, `..` or `latest`.
fn is_valid_release(release: &str) -> bool {
    release.len() <= MAX_RELEASE_LENGTH
        && !has_forbidden_byte(release)
        && !matches!(release, "." | "..")
        && !release.eq_ignore_ascii_case("latest")
}

/// Whether `text` has a line break, tab, form feed or slash (all ASCII: a
/// search of the bytes finds them).
fn has_forbidden_byte(text: &str) -> bool {
    text.bytes()
        .any(|b| matches!(b, b'\r' | b'\n' | b'\t' | b'\x0c' | b'/'))
}

/// Sentry's environment rules: at most 64 bytes, no line breaks, tabs,
/// form feeds or slashes, not `.`, `..` or `none`.
fn is_valid_environment(environment: &str) -> bool {
    environment.len() <= MAX_ENVIRONMENT_LENGTH
        && !has_forbidden_byte(environment)
        && !matches!(environment, "." | "..")
        && !environment.eq_ignore_ascii_case("none")
}

fn normalize_defaults(event: &mut Event, config: &NormalizeConfig, errors: &mut Errors) {
    if event
        .platform
        .as_deref()
        .is_none_or(|p| !is_valid_platform(p))
    {
        event.platform = Some("other".into());
    }
    if let Some(Level::Other(name)) = &event.level {
        errors.push("invalid_data", "level", Some(Value::String(name.clone())));
        event.level = None;
    }
    event.level.get_or_insert(if event.is_transaction() {
        Level::Info
    } else {
        Level::Error
    });
    event.logger.get_or_insert_with(String::new);
    event.extra.get_or_insert_with(Map::new);
    if event.sdk.is_none() {
        event.sdk = config.client.as_deref().and_then(sdk_from_client);
    }
}

/// `sentry.python/2.0.0` (or `name version`) as SDK info.
fn sdk_from_client(client: &str) -> Option<ClientSdkInfo> {
    let (name, version) = client.split_once('/').or_else(|| client.split_once(' '))?;
    Some(ClientSdkInfo {
        name: Some(name.to_owned()),
        version: Some(version.to_owned()),
        ..ClientSdkInfo::default()
    })
}

/// The last [`MAX_BREADCRUMBS`] breadcrumbs, each with a type (`default`)
/// and a level (`info`).
fn normalize_breadcrumbs(event: &mut Event, meta: &mut MetaTree) {
    if let Some(breadcrumbs) = &mut event.breadcrumbs {
        let count = breadcrumbs.values.len();
        if count > MAX_BREADCRUMBS {
            breadcrumbs.values.drain(..count - MAX_BREADCRUMBS);
            let root = Path::ROOT;
            let path = root.key("breadcrumbs");
            meta.set_len(&path.key("values"), count);
        }
        for b in &mut breadcrumbs.values {
            if b.ty.as_deref().is_none_or(str::is_empty) {
                b.ty = Some("default".into());
            }
            b.level.get_or_insert(Level::Info);
        }
    }
}

// --- stack traces and exceptions ---------------------------------------------

/// A lone exception takes the event's stack trace (Relay).
fn move_event_stacktrace(event: &mut Event) {
    let Some(exceptions) = &mut event.exception else {
        return;
    };
    if let [exception] = exceptions.values.as_mut_slice() {
        if exception.stacktrace.is_none() && event.stacktrace.is_some() {
            exception.stacktrace = event.stacktrace.take();
        }
    }
}

/// Every stack trace: frames without any data are removed, and stack
/// traces left without frames; the others' frames are normalized (raw
/// stack traces are kept as sent, but for empty frames).
fn normalize_stacktraces(event: &mut Event, errors: &mut Errors, meta: &mut MetaTree) {
    let root = Path::ROOT;
    normalize_stacktrace(
        &mut event.stacktrace,
        true,
        &root.key("stacktrace"),
        errors,
        meta,
    );
    if let Some(exceptions) = &mut event.exception {
        let values = root.key("exception");
        let values = values.key("values");
        for (i, exception) in exceptions.values.iter_mut().enumerate() {
            let path = values.index(i);
            normalize_stacktrace(
                &mut exception.stacktrace,
                true,
                &path.key("stacktrace"),
                errors,
                meta,
            );
            normalize_stacktrace(
                &mut exception.raw_stacktrace,
                false,
                &path.key("raw_stacktrace"),
                errors,
                meta,
            );
        }
    }
    if let Some(threads) = &mut event.threads {
        let values = root.key("threads");
        let values = values.key("values");
        for (i, thread) in threads.values.iter_mut().enumerate() {
            let path = values.index(i);
            normalize_stacktrace(
                &mut thread.stacktrace,
                true,
                &path.key("stacktrace"),
                errors,
                meta,
            );
        }
    }
}

fn normalize_stacktrace(
    stacktrace: &mut Option<Stacktrace>,
    normalize_frames: bool,
    path: &Path<'_>,
    errors: &mut Errors,
    meta: &mut MetaTree,
) {
    let Some(stack) = stacktrace else {
        return;
    };
    if normalize_frames {
        stack.frames.iter_mut().for_each(normalize_frame);
    }
    let frames = path.key("frames");
    let empty = Frame::default();
    if stack.frames.contains(&empty) {
        let count = stack.frames.len();
        stack.frames.retain(|f| *f != empty);
        meta.set_len(&frames, count);
    }
    if stack.frames.is_empty() {
        // Relay: `frames` must not be empty.
        errors.push_reason(
            "invalid_data",
            &frames.dotted(),
            None,
            "expected a non-empty value",
        );
        *stacktrace = None;
    }
}

/// Relay's frame rules: `filename` and `abs_path` fill each other (a URL's
/// path for the file name), `?` means no function, missing context lines
/// are empty.
fn normalize_frame(frame: &mut Frame) {
    let empty = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
    if empty(&frame.abs_path) {
        frame.abs_path = frame.filename.take();
    }
    if empty(&frame.filename) {
        if let Some(abs_path) = &frame.abs_path {
            frame.filename = Some(url_path(abs_path).unwrap_or(abs_path).to_owned());
        }
    }
    if frame.function.as_deref() == Some("?") {
        frame.function = None;
    }
    if frame.symbol.as_deref() == Some("?") {
        frame.symbol = None;
    }
    let has_context = fill_lines(&mut frame.pre_context) | fill_lines(&mut frame.post_context);
    if has_context {
        frame.context_line.get_or_insert_with(String::new);
    }
}

/// Missing lines of source context become empty ones; whether there are
/// any lines.
fn fill_lines(lines: &mut Option<Vec<Option<String>>>) -> bool {
    let Some(lines) = lines else {
        return false;
    };
    for line in lines.iter_mut() {
        line.get_or_insert_with(String::new);
    }
    !lines.is_empty()
}

/// The path of a web or file URL, unless it is empty or `/` (Relay: only
/// `http:`, `https:`, `file:` and `applewebdata:` URLs; `app:///x` and
/// `webpack:///x` stay as they are).
fn url_path(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https" | "file" | "applewebdata") {
        return None;
    }
    let path = &rest[rest.find('/')?..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    (!path.is_empty() && path != "/").then_some(path)
}

fn normalize_exceptions(event: &mut Event, errors: &mut Errors) {
    let Some(exceptions) = &mut event.exception else {
        return;
    };
    let mut index = 0;
    exceptions.values.retain_mut(|exception| {
        let i = index;
        index += 1;
        let empty = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
        // `"ValueError: bad"` without a type splits into type and value.
        if empty(&exception.ty) {
            if let Some((ty, value)) = exception.value.as_deref().and_then(split_type_value) {
                exception.ty = Some(ty);
                exception.value = Some(value);
            }
        }
        if empty(&exception.ty) && empty(&exception.value) {
            errors.push("missing_attribute", &format!("exception.values.{i}"), None);
            if let Some(Value::Object(error)) = errors.0.last_mut() {
                error.insert("attribute".into(), Value::from("type or value"));
            }
            return false;
        }
        if let Some(mechanism) = &mut exception.mechanism {
            normalize_mechanism(mechanism);
        }
        true
    });
    if exceptions.values.is_empty() && exceptions.other.is_empty() {
        event.exception = None;
    }
}

fn split_type_value(value: &str) -> Option<(String, String)> {
    let (ty, rest) = value.split_once(':')?;
    let is_word = !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
    is_word.then(|| (ty.to_owned(), rest.trim().to_owned()))
}

fn normalize_mechanism(mechanism: &mut Mechanism) {
    if mechanism.ty.as_deref().is_none_or(str::is_empty) {
        mechanism.ty = Some("generic".into());
    }
}

// --- request and contexts ---------------------------------------------------

/// The query string and fragment of `request.url` move to their own
/// fields; the method is upper case.
fn normalize_request(event: &mut Event) {
    let Some(request) = &mut event.request else {
        return;
    };
    trimmed(&mut request.url);
    // Most URLs have neither: one scan of the bytes shows it.
    let split = |url: &&mut String| url.bytes().any(|b| matches!(b, b'#' | b'?'));
    if let Some(url) = request.url.as_mut().filter(split) {
        if let Some(pos) = url.find('#') {
            let fragment = url[pos + 1..].to_owned();
            url.truncate(pos);
            if request.fragment.is_none() && !fragment.is_empty() {
                request.fragment = Some(fragment);
            }
        }
        if let Some(pos) = url.find('?') {
            let query = url[pos + 1..].to_owned();
            url.truncate(pos);
            if request.query_string.is_none() && !query.is_empty() {
                request.query_string = Some(Value::String(query));
            }
        }
    }
    if let Some(method) = &mut request.method {
        method.make_ascii_uppercase();
    }
}

/// Relay fills the `runtime`, `os` and `browser` fields of those contexts
/// with `"<name> <version>"`; Sentry makes its tags from them.
fn normalize_contexts(event: &mut Event, errors: &mut Errors) {
    crate::user_agent::normalize_user_agent(event);
    transaction::normalize_trace_context(event, errors);
    let Some(contexts) = &mut event.contexts else {
        return;
    };
    const TYPES: [&str; 3] = ["runtime", "os", "browser"];
    for (key, context) in contexts.0.iter_mut() {
        let Some(context) = context.as_object_mut() else {
            continue;
        };
        // One pass over the fields rather than a search for each.
        let (mut ty, mut name, mut version) = (None, None, None);
        let mut present = [false; TYPES.len()];
        for (field, value) in context.iter() {
            match field.as_str() {
                "type" => ty = Some(value),
                "name" => name = Some(value),
                "version" => version = Some(value),
                "runtime" => present[0] = true,
                "os" => present[1] = true,
                "browser" => present[2] = true,
                _ => {}
            }
        }
        let ty = ty.and_then(Value::as_str).unwrap_or(key);
        let Some(ty) = TYPES.iter().position(|t| *t == ty) else {
            continue;
        };
        if present[ty] {
            continue;
        }
        fn text(value: Option<&Value>) -> Option<&str> {
            value?.as_str().filter(|s| !s.is_empty())
        }
        let full = match (text(name), text(version)) {
            (Some(name), Some(version)) => [name, " ", version].concat(),
            (Some(name), None) => name.to_owned(),
            _ => continue,
        };
        context.insert(TYPES[ty].to_owned(), Value::String(full));
    }
}

// --- tags ---------------------------------------------------------------------

/// Tags become a list of `[key, value]` string pairs:
///
/// - an `environment` tag is the environment when the event has none;
/// - `release`, `dist`, `user`, `filename` and `function` are Sentry's own
///   and removed; a key seen before is removed;
/// - keys and values are trimmed; empty ones and ones over 200 characters
///   are removed, with an error;
/// - `server_name` and `site` move into tags (Relay);
/// - then the tags Sentry derives when saving, replacing any of the same
///   key: `level`, `logger`, `environment`, `transaction`,
///   `sentry:release`, `sentry:dist`, `sentry:user`, the tags of contexts
///   (`os`, `os.name`, `runtime`, `browser`, `device`, ...), `url`,
///   `mechanism` and `handled`.
fn normalize_tags(event: &mut Event, errors: &mut Errors) {
    let raw = event.tags.take();
    let count = match &raw {
        Some(Tags::List(list)) => list.len(),
        Some(Tags::Map(map)) => map.len(),
        None => 0,
    };
    // Room for the derived tags too: the final list is built in place.
    let mut tags: Vec<(String, Value)> = Vec::with_capacity(count + 16);
    // The SDK's tags, checked as they are taken from the event (reusing
    // their strings).
    let mut check = |key: String, value: Value| {
        let value = match value {
            Value::Null => return,
            Value::String(s) => s,
            other => other.to_string(),
        };
        let (key, value) = (into_trimmed(key), into_trimmed(value));
        if key == "environment" {
            if event.environment.is_none() && is_valid_environment(&value) && !value.is_empty() {
                event.environment = Some(value);
            }
            return;
        }
        if matches!(
            key.as_str(),
            "release" | "dist" | "user" | "filename" | "function"
        ) || tags.iter().any(|(k, _)| *k == key)
        {
            return;
        }
        // A string has at most as many characters as bytes.
        let too_long = |s: &str, max: usize| s.len() > max && s.chars().count() > max;
        if key.is_empty() || value.is_empty() {
            errors.push("invalid_data", "tags", Some(json!([key, value])));
        } else if too_long(&key, MAX_TAG_KEY_LENGTH) || too_long(&value, MAX_TAG_VALUE_LENGTH) {
            errors.push("value_too_long", "tags", Some(json!([key, value])));
        } else {
            tags.push((key, Value::String(value)));
        }
    };
    match raw {
        Some(Tags::List(list)) => list.into_iter().for_each(|(k, v)| check(k, v)),
        Some(Tags::Map(map)) => map.into_iter().for_each(|(k, v)| check(k, v)),
        None => {}
    }
    // Relay moves these into tags after checking the tags; trimming cuts
    // them to the tag length afterwards.
    let replace = |tags: &mut Vec<(String, Value)>, key: &str, value: String| {
        let value = into_trimmed(value);
        if !value.is_empty() {
            match tags.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = Value::String(value),
                None => tags.push((key.to_owned(), Value::String(value))),
            }
        }
    };
    if let Some(server_name) = event.server_name.take() {
        replace(&mut tags, "server_name", server_name);
    }
    if let Some(Value::String(site)) = event.other.remove("site") {
        replace(&mut tags, "site", site);
    }

    for (key, value) in derived_tags(event) {
        let value = match value {
            Cow::Borrowed(value) => truncate_chars(trim_whitespace(value), MAX_TAG_VALUE_LENGTH),
            Cow::Owned(value) => truncate_owned(into_trimmed(value), MAX_TAG_VALUE_LENGTH),
        };
        if value.is_empty() {
            continue;
        }
        // Sentry's `set_tag`: drop the old entry, append the new one (keys
        // are unique in the list).
        if let Some(old) = tags.iter().position(|(k, _)| *k == key) {
            tags.remove(old);
        }
        tags.push((key.into_owned(), Value::String(value)));
    }
    event.tags = Some(Tags::List(tags));
}

/// `s` without leading and trailing whitespace, in its own buffer when
/// there is nothing to cut.
fn into_trimmed(s: String) -> String {
    let trimmed = trim_whitespace(&s);
    if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_owned()
    }
}

/// A tag Sentry derives, as `(key, value)`: borrowed from the event where
/// the event has the text.
type DerivedTag<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The tags Sentry derives when saving, in its order (see
/// [`normalize_tags`]); some may have empty values after trimming.
fn derived_tags(event: &Event) -> Vec<DerivedTag<'_>> {
    /// Adds the tag `key` unless its value is missing or empty.
    fn add<'a>(out: &mut Vec<DerivedTag<'a>>, key: &'static str, value: Option<&'a str>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.push((Cow::Borrowed(key), Cow::Borrowed(value)));
        }
    }
    let mut out: Vec<DerivedTag<'_>> = Vec::with_capacity(16);
    add(&mut out, "level", event.level.as_ref().map(Level::as_str));
    add(&mut out, "logger", event.logger.as_deref());
    add(&mut out, "environment", event.environment.as_deref());
    add(&mut out, "transaction", event.transaction.as_deref());
    add(&mut out, "sentry:release", event.release.as_deref());
    if event.release.is_some() {
        add(&mut out, "sentry:dist", event.dist.as_deref());
    }
    if let Some(user) = user_tag(event.user.as_ref()) {
        out.push((Cow::Borrowed("sentry:user"), Cow::Owned(user)));
    }
    if let Some(contexts) = &event.contexts {
        for (alias, context) in &contexts.0 {
            context_tags(alias, context, &mut out);
        }
    }
    let url = event.request.as_ref().and_then(|r| r.url.as_deref());
    add(&mut out, "url", url);
    let mechanism = event
        .exception
        .as_ref()
        .and_then(|e| e.values.last())
        .and_then(|e| e.mechanism.as_ref());
    if let Some(mechanism) = mechanism {
        add(&mut out, "mechanism", mechanism.ty.as_deref());
        let handled = mechanism.handled.map(|h| if h { "yes" } else { "no" });
        add(&mut out, "handled", handled);
    }
    out
}

/// Sentry's user tag: the first of `id:`, `email:`, `username:`, `ip:`.
fn user_tag(user: Option<&User>) -> Option<String> {
    fn non_empty(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|s| !s.is_empty())
    }
    let user = user?;
    match &user.id {
        Some(StringOrNumber::Str(id)) if !id.is_empty() => return Some(["id:", id].concat()),
        Some(StringOrNumber::Int(id)) => return Some(format!("id:{id}")),
        _ => {}
    }
    let (prefix, value) = non_empty(&user.email)
        .map(|v| ("email:", v))
        .or_else(|| non_empty(&user.username).map(|v| ("username:", v)))
        .or_else(|| non_empty(&user.ip_address).map(|v| ("ip:", v)))?;
    Some([prefix, value].concat())
}

/// The tags Sentry makes from a context, by the context's type (its `type`
/// field, else its key `alias`), added to `out`: named after the context's
/// key, or the key and a suffix (`os.name`).
fn context_tags<'a>(alias: &'a str, context: &'a Value, out: &mut Vec<DerivedTag<'a>>) {
    let Some(context) = context.as_object() else {
        return;
    };
    let ty = context.get("type").and_then(Value::as_str).unwrap_or(alias);
    let mapping: &[(&'static str, &str)] = match ty {
        "app" => &[("device", "device_app_hash")],
        "device" => &[("", "model"), ("family", "family")],
        "runtime" => &[("", "runtime"), ("name", "name")],
        "browser" => &[("", "browser"), ("name", "name")],
        "os" => &[("", "os"), ("name", "name"), ("rooted", "rooted")],
        "gpu" => &[("name", "name"), ("vendor", "vendor_name")],
        "monitor" => &[("id", "id"), ("slug", "slug")],
        _ => &[],
    };
    // One pass over the context's fields rather than a search for each.
    let mut values: [Option<&Value>; 3] = [None; 3];
    if !mapping.is_empty() {
        for (key, value) in context {
            if let Some(i) = mapping.iter().position(|(_, field)| field == key) {
                values[i] = Some(value);
            }
        }
    }
    for ((suffix, _), value) in mapping.iter().zip(values) {
        let value = match value {
            Some(Value::String(s)) if !s.is_empty() => Cow::Borrowed(s.as_str()),
            // Sentry formats with Python's `str`.
            Some(Value::Bool(true)) => Cow::Borrowed("True"),
            Some(Value::Bool(false)) => Cow::Borrowed("False"),
            Some(Value::Number(n)) => Cow::Owned(n.to_string()),
            _ => continue,
        };
        let key = if suffix.is_empty() {
            Cow::Borrowed(alias)
        } else {
            Cow::Owned([alias, ".", suffix].concat())
        };
        out.push((key, value));
    }
}

// --- metadata -----------------------------------------------------------------

pub(crate) fn store_metadata(event: &mut Event) {
    let metadata = event_metadata(event);
    let ty = metadata.event_type.as_str();
    if matches!(event.ty.as_deref(), None | Some("error" | "default"))
        && event.ty.as_deref() != Some(ty)
    {
        event.ty = Some(ty.to_owned());
    }
    event.culprit = Some(metadata.culprit.map(into_trimmed).unwrap_or_default());
    let other = &mut event.other;
    other.insert("title".into(), Value::String(metadata.title));
    match metadata.location {
        Some(location) => other.insert("location".into(), Value::String(location)),
        None => other.remove("location"),
    };
    other.insert("metadata".into(), Value::Object(metadata.metadata));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    static TRACE: std::sync::LazyLock<Value> = std::sync::LazyLock::new(
        || json!({"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74053"}),
    );

    fn normalized(value: Value, config: &NormalizeConfig) -> Value {
        let mut event: Event = serde_json::from_value(value).unwrap();
        normalize_event(&mut event, config).unwrap();
        serde_json::to_value(&event).unwrap()
    }

    fn ts(secs: i64) -> f64 {
        (now() + TimeDelta::seconds(secs)).timestamp() as f64
    }

    #[test]
    fn defaults() {
        let config = NormalizeConfig {
            event_id: Some("9ec79c33ec9942ab8353589fcb2e04dc".parse().unwrap()),
            ..NormalizeConfig::new(now())
        };
        let e = normalized(json!({"message": "hello"}), &config);
        assert_eq!(e["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
        assert_eq!(e["platform"], "other");
        assert_eq!(e["level"], "error");
        assert_eq!(e["logger"], "");
        assert_eq!(e["type"], "default");
        assert_eq!(e["title"], "hello");
        assert_eq!(e["culprit"], "");
        assert_eq!(e["metadata"], json!({"title": "hello"}));
        assert_eq!(e["timestamp"], ts(0));
        assert_eq!(e["received"], ts(0));
        assert_eq!(e["logentry"], json!({"formatted": "hello"}));
        assert!(e.get("message").is_none());
        assert_eq!(e["tags"], json!([["level", "error"]]));
        assert_eq!(e["errors"], json!([]));
        let e = normalized(
            json!({"platform": "brainfuck", "level": "loud"}),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["platform"], "other");
        assert_eq!(e["level"], "error");
        assert_eq!(
            e["errors"],
            json!([{"type": "invalid_data", "name": "level", "value": "loud"}])
        );
    }

    #[test]
    fn clock_drift_is_corrected() {
        let config = NormalizeConfig {
            sent_at: Some(now() - TimeDelta::hours(2)),
            ..NormalizeConfig::new(now())
        };
        let e = normalized(
            json!({
                "timestamp": ts(-7200),
                "breadcrumbs": [{"timestamp": ts(-7300), "message": "b"}]
            }),
            &config,
        );
        assert_eq!(e["timestamp"], ts(0));
        assert_eq!(e["breadcrumbs"]["values"][0]["timestamp"], ts(-100));
        assert_eq!(e["breadcrumbs"]["values"][0]["type"], "default");
        assert_eq!(e["breadcrumbs"]["values"][0]["level"], "info");
        assert_eq!(e["errors"][0]["type"], "clock_drift");
        assert_eq!(e["errors"][0]["name"], "timestamp");
        assert_eq!(e["errors"][0]["sdk_time"], "2024-05-01T10:00:00+00:00");

        // Under 55 minutes: latency, not drift.
        let config = NormalizeConfig {
            sent_at: Some(now() - TimeDelta::minutes(50)),
            ..NormalizeConfig::new(now())
        };
        let e = normalized(json!({"timestamp": ts(-3000)}), &config);
        assert_eq!(e["timestamp"], ts(-3000));
        assert_eq!(e["errors"], json!([]));
    }

    #[test]
    fn timestamps_out_of_range() {
        let config = NormalizeConfig::new(now());
        let e = normalized(
            json!({"type": "transaction", "transaction": "t", "start_timestamp": ts(-40 * 86400 - 5), "timestamp": ts(-40 * 86400), "contexts": {"trace": TRACE.clone()}}),
            &config,
        );
        assert_eq!(e["timestamp"], ts(0));
        assert_eq!(e["start_timestamp"], ts(-5));
        assert_eq!(e["errors"][0]["type"], "past_timestamp");
        assert_eq!(e["level"], "info");
        let e = normalized(json!({"timestamp": ts(120)}), &config);
        assert_eq!(e["timestamp"], ts(0));
        assert_eq!(e["errors"][0]["type"], "future_timestamp");
        let e = normalized(json!({"timestamp": ts(30)}), &config);
        assert_eq!(e["timestamp"], ts(30));
    }

    #[test]
    fn invalid_transactions() {
        let mut event: Event =
            serde_json::from_value(json!({"type": "transaction", "timestamp": ts(0)})).unwrap();
        let err = normalize_event(&mut event, &NormalizeConfig::new(now())).unwrap_err();
        assert_eq!(err.reason(), "invalid_transaction");
        let mut event: Event = serde_json::from_value(
            json!({"type": "transaction", "start_timestamp": ts(1), "timestamp": ts(0)}),
        )
        .unwrap();
        assert!(normalize_event(&mut event, &NormalizeConfig::new(now())).is_err());
    }

    #[test]
    fn ip_addresses() {
        let config = NormalizeConfig {
            client_ip: Some("203.0.113.7".parse().unwrap()),
            ..NormalizeConfig::new(now())
        };
        let e = normalized(json!({"user": {"ip_address": "{{auto}}"}}), &config);
        assert_eq!(e["user"]["ip_address"], "203.0.113.7");
        assert_eq!(e["tags"][1], json!(["sentry:user", "ip:203.0.113.7"]));
        let e = normalized(json!({"platform": "javascript"}), &config);
        assert_eq!(e["user"]["ip_address"], "203.0.113.7");
        let e = normalized(json!({"platform": "python"}), &config);
        assert!(e.get("user").is_none());
        let e = normalized(
            json!({"platform": "python", "request": {"env": {"REMOTE_ADDR": "198.51.100.1"}}}),
            &config,
        );
        assert_eq!(e["user"]["ip_address"], "198.51.100.1");
        let e = normalized(json!({"user": {"id": 1, "segment": "paid"}}), &config);
        assert_eq!(e["user"], json!({"id": 1, "data": {"segment": "paid"}}));
    }

    #[test]
    fn tags() {
        let long = "v".repeat(201);
        let e = normalized(
            json!({
                "release": " app@1.0 ",
                "dist": "7",
                "environment": "",
                "server_name": "web-1",
                "transaction": "/users/",
                "user": {"email": "a@b.c", "username": "a"},
                "request": {"url": "https://x.test/users/?page=2", "method": "get"},
                "contexts": {
                    "os": {"name": "Linux", "version": "6.1", "rooted": false},
                    "runtime": {"name": "CPython", "version": "3.12.1"},
                    "device": {"model": "Pixel", "family": "Google"},
                    "trace": {"trace_id": "a"}
                },
                "exception": {"values": [{"type": "E", "value": "v", "mechanism": {"type": "generic", "handled": false}}]},
                "tags": {
                    "environment": "prod", " custom ": " x ", "custom": "dup", "release": "no",
                    "empty": "", "big": long, "n": 3, "level": "debug", "null": null
                }
            }),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["environment"], "prod");
        assert_eq!(e["release"], "app@1.0");
        assert_eq!(e["request"]["url"], "https://x.test/users/");
        assert_eq!(e["request"]["query_string"], "page=2");
        assert_eq!(e["request"]["method"], "GET");
        assert!(e.get("server_name").is_none());
        assert_eq!(e["contexts"]["os"]["os"], "Linux 6.1");
        assert_eq!(
            e["tags"],
            json!([
                ["custom", "x"],
                ["n", "3"],
                ["server_name", "web-1"],
                ["level", "error"],
                ["environment", "prod"],
                ["transaction", "/users/"],
                ["sentry:release", "app@1.0"],
                ["sentry:dist", "7"],
                ["sentry:user", "email:a@b.c"],
                ["device", "Pixel"],
                ["device.family", "Google"],
                ["os", "Linux 6.1"],
                ["os.name", "Linux"],
                ["os.rooted", "False"],
                ["runtime", "CPython 3.12.1"],
                ["runtime.name", "CPython"],
                ["url", "https://x.test/users/"],
                ["mechanism", "generic"],
                ["handled", "no"]
            ])
        );
        let types: Vec<&str> = e["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["value_too_long", "invalid_data"]);
        assert_eq!(e["culprit"], "/users/");
    }

    #[test]
    fn attributes() {
        let e = normalized(
            json!({"release": "latest", "environment": "a/b", "dist": "d".repeat(65), "logger": format!("  {}  ", "l".repeat(70))}),
            &NormalizeConfig::new(now()),
        );
        assert!(
            e.get("release").is_none() && e.get("environment").is_none() && e.get("dist").is_none()
        );
        assert_eq!(e["logger"].as_str().unwrap().chars().count(), 64);
        assert!(e["logger"].as_str().unwrap().starts_with('*'));
        assert_eq!(e["errors"].as_array().unwrap().len(), 3);
        let config = NormalizeConfig {
            client: Some("sentry.python/2.1.0".into()),
            key_id: Some("12".into()),
            project_id: Some(42),
            ..NormalizeConfig::new(now())
        };
        let e = normalized(json!({}), &config);
        assert_eq!(
            e["sdk"],
            json!({"name": "sentry.python", "version": "2.1.0"})
        );
        assert_eq!(e["key_id"], "12");
        assert_eq!(e["project"], 42);
    }

    #[test]
    fn logentries() {
        let config = NormalizeConfig::new(now());
        let e = normalized(
            json!({"logentry": {"message": "user %s of %d", "params": ["a", 3]}}),
            &config,
        );
        assert_eq!(e["logentry"]["formatted"], "user a of 3");
        assert_eq!(e["logentry"]["message"], "user %s of %d");
        let e = normalized(
            json!({"logentry": {"message": "hi %(name)s {0}", "params": {"name": "bob"}}}),
            &config,
        );
        assert_eq!(e["logentry"]["formatted"], "hi bob {0}");
        let e = normalized(
            json!({"logentry": {"message": "same", "formatted": "same"}}),
            &config,
        );
        assert_eq!(e["logentry"], json!({"formatted": "same"}));
        let e = normalized(
            json!({"message": {"message": "m {0}", "params": ["x"]}}),
            &config,
        );
        assert_eq!(e["logentry"]["formatted"], "m x");
        assert_eq!(e["title"], "m x");
    }

    #[test]
    fn exceptions_and_frames() {
        let e = normalized(
            json!({
                "platform": "javascript",
                "stacktrace": {"frames": [
                    {"abs_path": "https://app.test/static/app.js?v=1", "function": "?", "in_app": true, "pre_context": [null, "a"]},
                    {"filename": "lib.js", "function": "boom", "in_app": true}
                ]},
                "exception": [{"value": "TypeError: x is undefined", "mechanism": {"handled": true}}, {}]
            }),
            &NormalizeConfig::new(now()),
        );
        let exc = &e["exception"]["values"];
        assert_eq!(exc.as_array().unwrap().len(), 1);
        assert_eq!(exc[0]["type"], "TypeError");
        assert_eq!(exc[0]["value"], "x is undefined");
        assert_eq!(exc[0]["mechanism"]["type"], "generic");
        // Two exceptions at first: the stack trace stays on the event.
        let frames = &e["stacktrace"]["frames"];
        assert_eq!(frames[0]["filename"], "/static/app.js");
        assert!(frames[0].get("function").is_none());
        assert_eq!(frames[0]["pre_context"], json!(["", "a"]));
        assert_eq!(frames[0]["context_line"], "");
        assert_eq!(frames[1]["abs_path"], "lib.js");
        assert_eq!(e["errors"][0]["type"], "missing_attribute");
        assert_eq!(e["title"], "TypeError: x is undefined");

        let e = normalized(
            json!({
                "platform": "python",
                "stacktrace": {"frames": [{"module": "app", "function": "run", "in_app": true}]},
                "exception": [{"type": "E"}]
            }),
            &NormalizeConfig::new(now()),
        );
        assert!(e.get("stacktrace").is_none());
        assert_eq!(
            e["exception"]["values"][0]["stacktrace"]["frames"][0]["function"],
            "run"
        );
        assert_eq!(e["culprit"], "app in run");
        assert_eq!(e["location"], Value::Null);
        assert_eq!(
            e["metadata"],
            json!({"type": "E", "value": "", "function": "run"})
        );
    }

    #[test]
    fn message_formatting() {
        assert_eq!(
            format_message("100%% %s", &json!(["x"])).as_deref(),
            Some("100% x")
        );
        assert_eq!(format_message("no params", &json!([])), None);
        assert_eq!(
            format_message("{a} {b}", &json!({"a": 1})).as_deref(),
            Some("1 {b}")
        );
        assert_eq!(
            format_message("%s %s", &json!(["only"])).as_deref(),
            Some("only %s")
        );
        assert_eq!(format_message("{", &json!(["x"])), None);
    }

    fn transaction(extra: Value) -> Value {
        let mut t = json!({
            "type": "transaction",
            "transaction": "/checkout",
            "start_timestamp": ts(-5),
            "timestamp": ts(0),
            "contexts": {"trace": TRACE.clone()},
        });
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        t
    }

    fn rejection(value: Value) -> &'static str {
        let mut event: Event = serde_json::from_value(value).unwrap();
        let before = event.clone();
        match normalize_event(&mut event, &NormalizeConfig::new(now())) {
            Err(NormalizeError::InvalidTransaction(reason)) => {
                assert_eq!(event, before, "a rejected event is unchanged");
                reason
            }
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[test]
    fn release_and_environment_rules() {
        // Sentry's release parser: bytes, not characters.
        assert!(is_valid_release(&"r".repeat(200)));
        assert!(!is_valid_release(&"é".repeat(101)));
        for bad in [
            "latest", "LATEST", ".", "..", "a/b", "a\nb", "a\tb", "a\x0cb",
        ] {
            assert!(!is_valid_release(bad), "{bad:?}");
        }
        for good in ["1.0", "app@1.0+build", "a\\b", "..."] {
            assert!(is_valid_release(good), "{good:?}");
        }
        assert!(is_valid_environment(&"e".repeat(64)));
        assert!(!is_valid_environment(&"e".repeat(65)));
        for bad in ["none", "None", ".", "..", "a/b", "a\tb"] {
            assert!(!is_valid_environment(bad), "{bad:?}");
        }
        let e = normalized(
            json!({"dist": "build 7", "release": "a/b", "environment": "NONE"}),
            &NormalizeConfig::new(now()),
        );
        assert!(e.get("dist").is_none() && e.get("release").is_none());
        assert_eq!(
            e["errors"],
            json!([
                {"type": "invalid_data", "name": "release", "value": "a/b"},
                {"type": "invalid_data", "name": "environment", "value": "NONE"},
                {"type": "invalid_data", "name": "dist", "value": "build 7", "reason": "invalid character ' '"}
            ])
        );
    }

    #[test]
    fn loggers() {
        let logger = |name: &str| {
            let e = normalized(json!({"logger": name}), &NormalizeConfig::new(now()));
            (e["logger"].clone(), e.get("_meta").cloned())
        };
        // Relay's examples: the end is kept, without a partial word.
        let (name, meta) =
            logger("this_is-exactly-the_max_len.012345678901234567890123456789012345");
        assert_eq!(
            name,
            "this_is-exactly-the_max_len.012345678901234567890123456789012345"
        );
        assert!(meta.is_none());
        let (name, meta) = logger(
            "this.is.a.very.long.prefix.foobarbazqux.this_part-is-kept.this_right_here-is_a-very_long_word",
        );
        assert_eq!(
            name,
            "*.this_part-is-kept.this_right_here-is_a-very_long_word"
        );
        assert_eq!(
            meta.unwrap(),
            json!({"logger": {"": {"rem": [["@logger:replace", "s", 0, 39]], "len": 93}}})
        );
        let (name, _) = logger(&"w".repeat(80));
        assert_eq!(name, format!("*{}", "w".repeat(63)));
        let (name, meta) = logger("  padded  ");
        assert_eq!(name, "padded");
        assert_eq!(
            meta.unwrap(),
            json!({"logger": {"": {"rem": [["@logger:trim", "s"]], "len": 10}}})
        );
        let e = normalized(json!({"logger": "a\nb"}), &NormalizeConfig::new(now()));
        assert_eq!(e["logger"], "");
        assert_eq!(e["errors"][0]["name"], "logger");
    }

    #[test]
    fn breadcrumb_limit() {
        let crumbs: Vec<Value> = (0..120)
            .map(|i| json!({"message": i.to_string()}))
            .collect();
        let e = normalized(json!({"breadcrumbs": crumbs}), &NormalizeConfig::new(now()));
        let values = e["breadcrumbs"]["values"].as_array().unwrap();
        assert_eq!(values.len(), MAX_BREADCRUMBS);
        assert_eq!(values[0]["message"], "20");
        assert_eq!(values[99]["message"], "119");
        assert_eq!(
            e["_meta"],
            json!({"breadcrumbs": {"values": {"": {"len": 120}}}})
        );
    }

    #[test]
    fn empty_frames_and_stack_traces() {
        let e = normalized(
            json!({
                "exception": {"values": [
                    {"type": "A", "stacktrace": {"frames": [{}, {"function": "f"}, {"function": "?"}]}},
                    {"type": "B", "stacktrace": {"frames": []}, "raw_stacktrace": {"frames": [{}]}}
                ]},
                "threads": {"values": [{"id": 1, "stacktrace": {"frames": [{}]}}]}
            }),
            &NormalizeConfig::new(now()),
        );
        let a = &e["exception"]["values"][0];
        assert_eq!(a["stacktrace"]["frames"], json!([{"function": "f"}]));
        let b = &e["exception"]["values"][1];
        assert!(b.get("stacktrace").is_none() && b.get("raw_stacktrace").is_none());
        assert!(e["threads"]["values"][0].get("stacktrace").is_none());
        assert_eq!(
            e["_meta"],
            json!({"exception": {"values": {
                "0": {"stacktrace": {"frames": {"": {"len": 3}}}},
                "1": {"raw_stacktrace": {"frames": {"": {"len": 1}}}}
            }}, "threads": {"values": {"0": {"stacktrace": {"frames": {"": {"len": 1}}}}}}})
        );
        let names: Vec<&str> = e["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "exception.values.1.stacktrace.frames",
                "exception.values.1.raw_stacktrace.frames",
                "threads.values.0.stacktrace.frames"
            ]
        );
        assert_eq!(e["errors"][0]["reason"], "expected a non-empty value");
    }

    #[test]
    fn file_names_from_urls() {
        assert_eq!(url_path("https://a.test/x.js?v=1"), Some("/x.js"));
        assert_eq!(url_path("file:///tmp/x.py"), Some("/tmp/x.py"));
        assert_eq!(url_path("http://a.test/"), None);
        assert_eq!(url_path("app:///index.bundle"), None);
        assert_eq!(url_path("webpack:///./app/index.jsx"), None);
    }

    #[test]
    fn invalid_transactions_are_rejected() {
        assert_eq!(
            rejection(json!({"type": "transaction", "timestamp": ts(0)})),
            "start_timestamp hard-required for transaction events"
        );
        assert_eq!(
            rejection(json!({"type": "transaction", "start_timestamp": ts(0)})),
            "timestamp hard-required for transaction events"
        );
        let mut t = transaction(json!({}));
        t["contexts"] = json!({});
        assert_eq!(rejection(t), "missing valid trace context");
        let mut t = transaction(json!({}));
        t["contexts"]["trace"]["trace_id"] = json!("nope");
        assert_eq!(rejection(t), "trace context is missing trace_id");
        let mut t = transaction(json!({}));
        t["contexts"]["trace"]["span_id"] = json!(null);
        assert_eq!(rejection(t), "trace context is missing span_id");
        let span = json!({"span_id": "fa90fdead5f74052", "trace_id": TRACE["trace_id"], "start_timestamp": ts(-2), "timestamp": ts(-1)});
        for (field, value, reason) in [
            ("timestamp", Value::Null, "span is missing timestamp"),
            (
                "start_timestamp",
                Value::Null,
                "span is missing start_timestamp",
            ),
            (
                "start_timestamp",
                json!(ts(0)),
                "end timestamp is smaller than start timestamp",
            ),
            ("trace_id", Value::Null, "span is missing trace_id"),
            ("span_id", json!("123"), "span is missing span_id"),
        ] {
            let mut bad = span.clone();
            bad[field] = value;
            assert_eq!(
                rejection(transaction(json!({"spans": [span, bad]}))),
                reason
            );
        }
    }

    #[test]
    fn transactions() {
        let e = normalized(
            transaction(json!({
                "transaction": "",
                "contexts": {"trace": {
                    "trace_id": "4C79F60C-1121-4EB3-8604-F4AE0781BFB2",
                    "span_id": "FA90FDEAD5F74053",
                    "status": "success"
                }},
                "spans": [
                    {"span_id": "fa90fdead5f74052", "parent_span_id": "fa90fdead5f74053", "trace_id": TRACE["trace_id"], "start_timestamp": ts(-4), "timestamp": ts(-2), "status": "bogus"},
                    {"span_id": "fa90fdead5f74051", "parent_span_id": "fa90fdead5f74053", "trace_id": TRACE["trace_id"], "start_timestamp": ts(-3), "timestamp": ts(-1), "op": "db.query"}
                ]
            })),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["transaction"], "<unlabeled transaction>");
        assert_eq!(e["transaction_info"], json!({"source": "unknown"}));
        let trace = &e["contexts"]["trace"];
        assert_eq!(trace["trace_id"], "4c79f60c11214eb38604f4ae0781bfb2");
        assert_eq!(trace["span_id"], "fa90fdead5f74053");
        assert_eq!(trace["status"], "ok");
        assert_eq!(trace["op"], "default");
        assert_eq!(trace["exclusive_time"], json!(2000.0));
        let spans = e["spans"].as_array().unwrap();
        assert_eq!(spans[0]["op"], "default");
        assert!(spans[0].get("status").is_none());
        assert_eq!(spans[0]["exclusive_time"], json!(2000.0));
        assert_eq!(
            e["errors"],
            json!([{"type": "invalid_data", "name": "spans.0.status", "value": "bogus", "reason": "expected a trace status"}])
        );
        assert_eq!(
            e["breakdowns"]["span_ops"]["ops.db"],
            json!({"value": 2000.0, "unit": "millisecond"})
        );
        // Every operation counts in the total, each on its own.
        assert_eq!(
            e["breakdowns"]["span_ops"]["total.time"],
            json!({"value": 4000.0, "unit": "millisecond"})
        );

        // URL names lose their identifiers; the name before is in `_meta`.
        let e = normalized(
            transaction(
                json!({"transaction": "/orders/4242/items", "transaction_info": {"source": "url"}}),
            ),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["transaction"], "/orders/*/items");
        assert_eq!(e["transaction_info"]["source"], "sanitized");
        assert_eq!(e["_meta"]["transaction"][""]["val"], "/orders/4242/items");
        // Browser SDKs without a source send raw URLs.
        let e = normalized(
            transaction(
                json!({"transaction": "/orders/4242", "sdk": {"name": "sentry.javascript.browser", "version": "8.0.0"}}),
            ),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["transaction"], "/orders/*");
        assert_eq!(e["transaction_info"]["source"], "sanitized");
        let e = normalized(
            transaction(json!({"transaction": "/orders/4242"})),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["transaction"], "/orders/4242");
        assert_eq!(e["transaction_info"]["source"], "unknown");
    }

    #[test]
    fn trace_context_of_errors() {
        let e = normalized(
            json!({"contexts": {"trace": {"trace_id": "x", "status": 5}}}),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(
            e["contexts"]["trace"],
            json!({"trace_id": "x", "status": "not_found"})
        );
        let e = normalized(
            json!({"contexts": {"trace": {"status": "weird"}}}),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(e["contexts"]["trace"]["status"], "unknown");
        assert_eq!(e["errors"][0]["name"], "contexts.trace.status");
    }

    #[test]
    fn measurements() {
        // Relay's examples: derived rates, and the custom measurement limit.
        let e = normalized(
            transaction(json!({"measurements": {
                "frames_slow": {"value": 1},
                "frames_frozen": {"value": 2},
                "frames_total": {"value": 4},
                "stall_total_time": {"value": 4000, "unit": "millisecond"},
                "LCP": {"value": 420.5},
                "app.start.cold": {"value": 900_000},
                "app.start.warm": {"value": 1200}
            }})),
            &NormalizeConfig::new(now()),
        );
        assert_eq!(
            e["measurements"],
            json!({
                "app_start_warm": {"value": 1200.0, "unit": "millisecond"},
                "frames_frozen": {"value": 2.0, "unit": "none"},
                "frames_frozen_rate": {"value": 0.5, "unit": "ratio"},
                "frames_slow": {"value": 1.0, "unit": "none"},
                "frames_slow_rate": {"value": 0.25, "unit": "ratio"},
                "frames_total": {"value": 4.0, "unit": "none"},
                "lcp": {"value": 420.5, "unit": "millisecond"},
                "stall_percentage": {"value": 0.8, "unit": "ratio"},
                "stall_total_time": {"value": 4000.0, "unit": "millisecond"}
            })
        );
        let config = NormalizeConfig {
            max_custom_measurements: Some(2),
            ..NormalizeConfig::new(now())
        };
        let e = normalized(
            transaction(json!({"measurements": {
                "my_custom_measurement_1": {"value": 123},
                "frames_frozen": {"value": 666, "unit": "invalid_unit"},
                "frames_slow": {"value": 1},
                "my_custom_measurement_3": {"value": 456},
                "my_custom_measurement_2": {"value": 789},
                "bad name": {"value": 1},
                "fp": {"value": "im a first paint"}
            }})),
            &config,
        );
        assert_eq!(
            e["measurements"],
            json!({
                "frames_slow": {"value": 1.0, "unit": "none"},
                "my_custom_measurement_1": {"value": 123.0, "unit": "none"},
                "my_custom_measurement_2": {"value": 789.0, "unit": "none"}
            })
        );
        assert_eq!(
            e["_meta"]["measurements"],
            json!({
                "": {
                    "err": [
                        ["invalid_data", {"reason": "measurement name 'bad name' can contain only characters a-z0-9._"}],
                        ["invalid_data", {"reason": "Too many measurements: my_custom_measurement_3"}]
                    ],
                    "val": {"my_custom_measurement_3": {"value": 456.0, "unit": "none"}}
                },
                "fp": {"": {
                    "err": [["invalid_data", {"reason": "expected a floating point number"}]],
                    "val": {"value": "im a first paint"}
                }}
            })
        );
        assert_eq!(e["errors"].as_array().unwrap().len(), 3);
        // Only transactions have measurements.
        let e = normalized(
            json!({"measurements": {"lcp": {"value": 1}}}),
            &NormalizeConfig::new(now()),
        );
        assert!(e.get("measurements").is_none());
    }

    #[test]
    fn trimming_is_recorded_in_meta() {
        let e = normalized(
            json!({
                "server_name": "s".repeat(230),
                "culprit": "c".repeat(201),
                "extra": {"big": "x".repeat(20_000)},
                "_meta": {"extra": {"big": {"": {"rem": [["@password:filter", "s", 0, 10]], "len": 3}}}}
            }),
            &NormalizeConfig::new(now()),
        );
        let tag = e["tags"]
            .as_array()
            .unwrap()
            .iter()
            .position(|t| t[0] == "server_name")
            .unwrap();
        assert_eq!(e["tags"][tag][1].as_str().unwrap().len(), 200);
        assert_eq!(
            e["_meta"]["tags"][tag.to_string()]["1"][""],
            json!({"rem": [["!limit", "s", 197, 200]], "len": 230})
        );
        // What the event came with stays; a remark past the cut would not.
        assert_eq!(
            e["_meta"]["extra"]["big"][""],
            json!({"rem": [["@password:filter", "s", 0, 10], ["!limit", "s", 16381, 16384]], "len": 3})
        );
        assert_eq!(e["extra"]["big"].as_str().unwrap().len(), 16384);
        assert_eq!(e["culprit"].as_str().unwrap().len(), 200);
        assert_eq!(
            e["_meta"]["culprit"][""],
            json!({"rem": [["!limit", "s", 197, 200]], "len": 201})
        );
        assert!(e["errors"].as_array().unwrap().is_empty());
    }
}
