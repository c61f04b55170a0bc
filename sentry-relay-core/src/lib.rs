//! Ingest-edge logic of the Sentry data flow (layer 1, pure).
//!
//! This crate decides what an ingest edge does with an envelope before it
//! enters the stream, as Relay does in Sentry, and prepares events for
//! storage as Relay and Sentry do:
//!
//! - [`ProjectConfig`], [`PublicKeyConfig`]: a project's keys, state and
//!   limits;
//! - [`check_auth`], [`check_envelope`]: the checks before accepting, each
//!   refusal a [`Rejection`] with its HTTP status and outcome reason;
//! - [`normalize_event`]: timestamps and clock drift, ids, levels,
//!   platform, IP addresses, tags, exceptions, and the title, culprit and
//!   metadata Sentry shows ([`event_metadata`]).
//!
//! - [`filter`]: Relay's inbound filters ([`CompiledFilters`]), each drop
//!   with its outcome reason; [`user_agent`] parses browser, OS and device
//!   contexts from request headers;
//! - [`pii`]: data scrubbing, the simple project settings and the advanced
//!   rules on selectors, with `_meta` recording each redaction;
//! - [`quota`]: quotas, key rate limits and the `X-Sentry-Rate-Limits`
//!   header; a counter trait with an in-memory counter and a conformance
//!   suite for other backends; [`quota::RateLimiter`] splits an envelope
//!   into what passes and what is dropped.
//!
//! - [`outcome`]: what became of each item, summed per minute, and the
//!   outcomes of SDK client reports;
//! - [`CompiledProject`]: a project's filters and scrubbing rules,
//!   compiled once; [`pipeline::process_event`] normalizes, filters and
//!   scrubs an event with them.
//!
//! Everything here is a pure function of its inputs: the current time is
//! an argument, no I/O happens. It builds on [`sentry_envelope`] for the
//! wire format.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use sentry_envelope::protocol::Event;
//! use sentry_relay_core::{NormalizeConfig, normalize_event};
//!
//! let mut event: Event = serde_json::from_str(r#"{
//!     "platform": "python",
//!     "exception": {"values": [{
//!         "type": "ZeroDivisionError",
//!         "value": "division by zero",
//!         "stacktrace": {"frames": [
//!             {"module": "app.views", "function": "index", "filename": "app/views.py", "in_app": true}
//!         ]}
//!     }]}
//! }"#)?;
//! let received = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
//! normalize_event(&mut event, &NormalizeConfig::new(received))?;
//!
//! assert_eq!(event.ty.as_deref(), Some("error"));
//! assert_eq!(event.other["title"], "ZeroDivisionError: division by zero");
//! assert_eq!(event.culprit.as_deref(), Some("app.views in index"));
//! assert_eq!(event.other["location"], "app/views.py");
//! assert_eq!(event.tags.unwrap().get("level").as_deref(), Some("error"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod accept;
mod config;
pub mod filter;
mod metadata;
mod normalize;
pub mod outcome;
pub mod pii;
pub mod pipeline;
pub mod quota;
#[cfg(feature = "redis")]
pub mod redis_pool;
pub mod user_agent;

pub use accept::{Rejection, check_auth, check_envelope, check_origin};
pub use config::{CompiledProject, ProjectConfig, ProjectSettings, PublicKeyConfig};
pub use filter::{CompiledFilters, FilterStatKey, FiltersConfig, should_filter};
pub use metadata::{EventMetadata, EventType, MAX_CULPRIT_LENGTH, event_metadata};
pub use normalize::{
    DEFAULT_MAX_CUSTOM_MEASUREMENTS, DEFAULT_MAX_SECS_IN_FUTURE, DEFAULT_MAX_SECS_IN_PAST,
    MAX_BREADCRUMBS, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH, MINIMUM_CLOCK_DRIFT_SECS,
    NormalizeConfig, NormalizeError, SpanOpsBreakdown, normalize_event,
};
pub use quota::{
    CachedRateLimits, EnvelopeLimits, KeyRateLimit, MemoryCounter, Quota, QuotaCounter, QuotaError,
    QuotaScope, RateLimit, RateLimiter, RateLimits, Scoping,
};
