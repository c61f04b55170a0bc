//! Quotas and rate limits, with Relay's semantics.
//!
//! - [`Quota`]: a limit from a project config (Sentry's JSON shape), per
//!   [`QuotaScope`]; [`KeyRateLimit`] turns a client key's rate limit into
//!   one.
//! - [`QuotaCounter`]: counts consumption per window, all or nothing per
//!   item; [`MemoryCounter`] is the embedded backend, `RedisCounter`
//!   (feature `redis`, module `quota::redis`) the scaled one; both run the
//!   same [`testsuite`].
//! - [`RateLimiter`]: applies quotas to an [`Envelope`](sentry_envelope::Envelope),
//!   giving the accepted items, the dropped quantities for outcomes, and
//!   the [`RateLimits`] to answer with.
//! - [`RateLimits`]: the `X-Sentry-Rate-Limits` and `Retry-After` headers;
//!   [`CachedRateLimits`] remembers them to refuse quickly.
//!
//! Time is always an argument (`now`). [`open_counter`] picks the counter
//! from a URL.

mod counter;
mod envelope;
mod model;
mod rate_limit;
#[cfg(feature = "redis")]
pub mod redis;
#[doc(hidden)]
pub mod testsuite;

#[cfg(feature = "redis")]
pub use self::redis::RedisCounter;
pub use counter::{
    MemoryCounter, Plan, QuotaCheck, QuotaCounter, QuotaError, TrackedQuota, plan_checks,
    totals_by_key, unix_secs, window_shift, window_slot,
};
pub use envelope::{DroppedQuantity, EnvelopeLimits, RateLimiter};
pub use model::{
    ItemScoping, KEY_QUOTA_ID, KEY_QUOTA_REASON, KeyRateLimit, Quota, QuotaScope, Scoping,
};
pub use rate_limit::{
    CachedRateLimits, RATE_LIMITS_HEADER, REJECT_ALL_SECS, RateLimit, RateLimitScope, RateLimits,
    RetryAfter,
};

/// The quota counter a URL names: `memory://` ([`MemoryCounter`], this
/// process only) or, with the feature `redis`,
/// `redis://HOST:PORT/DB[?prefix=P]` (`RedisCounter`, shared by every
/// edge; `P` goes before each key). The Redis client connects lazily.
pub fn open_counter(url: &str) -> Result<std::sync::Arc<dyn QuotaCounter>, QuotaError> {
    if url == "memory://" || url == "memory" {
        return Ok(std::sync::Arc::new(MemoryCounter::new()));
    }
    #[cfg(feature = "redis")]
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        let (base, prefix) = crate::redis_pool::split_key_prefix(url);
        let counter = RedisCounter::open(base)?.with_key_prefix(prefix);
        return Ok(std::sync::Arc::new(counter));
    }
    let expected = if cfg!(feature = "redis") {
        "memory:// or redis://HOST:PORT/DB"
    } else {
        "memory:// (redis:// needs the feature `redis`)"
    };
    Err(QuotaError::Backend(
        format!(
            "unsupported quota counter url {:?}: expected {expected}",
            sentry_envelope::redact_url(url)
        )
        .into(),
    ))
}
