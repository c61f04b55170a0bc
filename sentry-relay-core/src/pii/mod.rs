//! PII scrubbing of events, with Relay's rules and `_meta` records.
//!
//! Two ways to say what to scrub, both as Sentry stores them per project:
//!
//! - [`DataScrubbingConfig`]: the simple settings (scrub defaults, IP
//!   addresses, sensitive and safe fields), turned into rules by
//!   [`DataScrubbingConfig::to_pii_config`] as Relay does;
//! - [`PiiConfig`]: advanced data scrubbing, rules (built-in `@ip`,
//!   `@password:filter`, ... or custom patterns) applied to the values a
//!   selector picks (`$string`, `$frame.vars.**`, `extra.'foo.bar'`, see
//!   below).
//!
//! Compile a config once into a [`CompiledPiiConfig`], then
//! [`scrub_event`] each normalized event (as JSON), or
//! [`scrub_event_with`] several configs in turn in one walk. Each redaction is
//! recorded in the event's `_meta` tree, at the path of the value:
//! `{"": {"rem": [[rule, type, start, end]], "len": original_length}}`,
//! with type `x` removed, `s` substituted, `m` masked, `p` pseudonymized
//! (hashed); `start..end` is the byte range of the redaction in the new
//! value (absent when the whole value was removed and is now `null`), and
//! `len` the original length in characters. Scrubbing again keeps earlier
//! redactions as they are, so it is idempotent.
//!
//! Which rules may apply to a value depends only on its path shape (the
//! keys and kinds from the root); each thread keeps these decisions for its
//! last few config lists, so the frames, breadcrumbs and fields of later
//! events of the same shape skip the selectors. They are kept under an id
//! that configs share only when their rules and applications are the
//! same (projects with the same settings share them); [`forget_kept_decisions`]
//! drops them.
//!
//! # Selectors
//!
//! ```text
//! selector := and (("||" | "|") and)*
//! and      := not (("&&" | "&") not)*
//! not      := "!" not | "(" selector ")" | path
//! path     := item ("." item)*
//! item     := "**" | "*" | "$" type | "'" key "'" | key
//! ```
//!
//! A path matches the *end* of a value's path: `password` matches a
//! `password` key at any depth, `extra.password` one directly inside
//! `extra`. `*` is one segment, `**` one or more. Keys compare
//! ASCII case-insensitively; a numeric key also matches an array index;
//! the value of a `[key, value]` pair (headers, cookies, tags) is at
//! `key`. Types: `$string`, `$number`, `$boolean`, `$array`, `$object`,
//! `$event`, `$exception` (`$error`), `$stacktrace`, `$frame`, `$http`
//! (`$request`), `$user`, `$logentry`, `$message`, `$thread`,
//! `$breadcrumb`, `$span`, `$sdk`. Anything else is a
//! [`PiiError::InvalidSelector`].
//!
//! Fields that identify nothing personal (ids, timestamps, levels,
//! platform, release, function names, exception types, ...) are never
//! scrubbed. Fields that rarely hold personal data (file paths,
//! `culprit`, `transaction`, `debug_meta`, `server_name`, ...) are scrubbed
//! only by a selector that ends in their name (`$frame.filename`), not by
//! `$string` or `**`.
//!
//! # Differences from Relay
//!
//! - `hash` is HMAC-SHA256 (key `vars.hashKey`, empty by default)
//!   truncated to 40 uppercase hex digits, where Relay uses HMAC-SHA1: same
//!   shape, different digits.
//! - Credit card numbers must have a known issuer prefix and length *and*
//!   a valid Luhn digit; IBANs a valid mod-97 check; IP addresses must
//!   parse; UUIDs are hex only.
//! - A pattern never matches across an earlier redaction in the same
//!   string; a whole-value redaction covers the whole string, newlines
//!   included.
//! - Which fields are never or only explicitly scrubbed is a table of
//!   event fields here, where Relay takes it from its typed schema.

mod compiled;
mod config;
mod hash;
mod legacy;
mod plan;
mod prefilter;
mod rules;
mod scrub;
mod selector;

use serde_json::Value;

pub use compiled::CompiledPiiConfig;
pub use config::{PiiConfig, Redaction, RuleSpec, RuleType, Vars};
pub use legacy::DataScrubbingConfig;

/// Why a config cannot be compiled, or an event cannot be scrubbed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PiiError {
    /// A selector does not parse.
    #[error("invalid selector {selector:?}: {reason}")]
    InvalidSelector {
        /// The selector.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A rule's regular expression does not compile.
    #[error("invalid pattern in rule {pattern:?}: {reason}")]
    InvalidPattern {
        /// The rule id (or pattern).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An application names a rule that is neither custom nor built in.
    #[error("unknown rule {0:?}")]
    UnknownRule(String),
    /// Rules refer to each other too deeply (or in a cycle).
    #[error("rule {0:?} nests too deeply")]
    RuleTooDeep(String),
    /// The event is not a JSON object.
    #[error("event is not a json object")]
    NotAnObject,
    /// The event nests deeper than scrubbing descends; it is partly
    /// scrubbed and must not be stored.
    #[error("event nests too deeply to scrub")]
    TooDeep,
}

/// Scrubs `event` (the JSON of a normalized event) with `config`, recording
/// each redaction in its `_meta`.
///
/// ```
/// use sentry_relay_core::pii::{CompiledPiiConfig, DataScrubbingConfig, scrub_event};
/// use serde_json::json;
///
/// let config = DataScrubbingConfig::new_default().to_pii_config().unwrap();
/// let config = CompiledPiiConfig::new(&config)?;
/// let mut event = json!({"extra": {"db_password": "hunter2", "ok": "fine"}});
/// scrub_event(&mut event, &config)?;
/// assert_eq!(event["extra"]["db_password"], "[Filtered]");
/// assert_eq!(event["extra"]["ok"], "fine");
/// assert_eq!(
///     event["_meta"]["extra"]["db_password"][""],
///     json!({"rem": [["@password:filter", "s", 0, 10]], "len": 7})
/// );
/// # Ok::<(), sentry_relay_core::pii::PiiError>(())
/// ```
pub fn scrub_event(event: &mut Value, config: &CompiledPiiConfig) -> Result<(), PiiError> {
    scrub::scrub(event, std::slice::from_ref(config))
}

/// Scrubs `event` with each of `configs` in turn, as [`scrub_event`] with
/// one after the other would, but walking the event once.
///
/// ```
/// use sentry_relay_core::pii::{CompiledPiiConfig, DataScrubbingConfig, PiiConfig, scrub_event_with};
/// use serde_json::json;
///
/// let advanced: PiiConfig = serde_json::from_value(json!({
///     "applications": {"extra.order": ["@anything:remove"]}
/// })).unwrap();
/// let simple = DataScrubbingConfig::new_default().to_pii_config().unwrap();
/// let configs = [CompiledPiiConfig::new(&advanced)?, CompiledPiiConfig::new(&simple)?];
/// let mut event = json!({"extra": {"order": "o-1", "db_password": "hunter2"}});
/// scrub_event_with(&mut event, &configs)?;
/// assert_eq!(event["extra"], json!({"order": null, "db_password": "[Filtered]"}));
/// # Ok::<(), sentry_relay_core::pii::PiiError>(())
/// ```
pub fn scrub_event_with(event: &mut Value, configs: &[CompiledPiiConfig]) -> Result<(), PiiError> {
    scrub::scrub(event, configs)
}

/// Drops what scrubbing worked out and kept on this thread for the next
/// events of the same configs: which rules apply at which path shapes
/// (kept for the last few config lists, and never used for another
/// config). Scrubbing gives the same results either way; this is for
/// measuring the first event of a shape.
pub fn forget_kept_decisions() {
    plan::Plans::forget_kept();
}

#[cfg(test)]
mod tests;
