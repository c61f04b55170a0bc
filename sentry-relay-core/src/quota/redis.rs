//! The Redis [`QuotaCounter`] of the scaled deployment (feature `redis`).
//!
//! Many relays share their counters in one Redis server. Every call of
//! [`check_and_add`](QuotaCounter::check_and_add) is one Lua script run on
//! the server, so the all-or-nothing rule of the contract holds across
//! processes: Redis runs a script while no other command runs.
//!
//! # Key layout
//!
//! One string key per counter, holding the count as an integer:
//!
//! ```text
//! {prefix}quota:{quota id}{{organization}}{scope id}:{window slot}
//! ```
//!
//! - `prefix` is empty unless set with [`RedisCounter::with_key_prefix`]
//!   (for several deployments, or test runs, sharing one database);
//! - the rest is [`TrackedQuota::key`], the format of Relay's Redis keys:
//!   organization `0` for global quotas, the scope id (project id, key id)
//!   left out for organization and global quotas, and the window slot from
//!   [`window_slot`](super::window_slot), aligned per organization as
//!   Sentry does. Example, quota `p` of project 42 in organization 17:
//!   `quota:p{17}42:28579413`.
//!
//! Quotas with the same id, organization, scope id and slot share a counter
//! (as in Relay), whatever their categories or limits.
//!
//! A key expires `EXPIRY_GRACE_SECS` (60 s) after the end of its window
//! slot. The expiry is relative to the `now` the caller passes, so the
//! server's clock plays no part in which slot is counted. A key is never
//! read after its slot ended (the next slot has another key), so the grace
//! only keeps the key around for inspection.
//!
//! # The script
//!
//! `KEYS` are the distinct counter keys of one call. `ARGV` holds three
//! integers per key: the smallest limit of the quotas on it (`-1` if none
//! is limited), the summed quantity of the call's checks on it, and its
//! time to live in seconds. The script first reads every counter and
//! decides for each whether it refuses (counter plus quantity above the
//! limit; with quantity `0`, counter at the limit). Only if none refuses
//! does it `INCRBY` and `EXPIRE` each counter with a non-zero quantity. It
//! answers two strings per key: `1` if the key refused, else `0`, and the
//! counter as read before the call. Every command that can fail on a
//! well-formed key runs before the first write, so an error leaves the
//! counters unchanged.
//!
//! The client then names the refusing quotas, each with its own limit,
//! exactly as [`MemoryCounter`](super::MemoryCounter) does.
//!
//! Counts, limits and quantities are exact up to 2^53 (the precision of
//! Lua numbers); larger values are capped there.
//!
//! Redis Cluster is not supported: one call may touch keys of several
//! organizations (a global quota and an organization's), which a cluster
//! refuses in one script.
//!
//! # Connections
//!
//! The client is synchronous (no async runtime), on a
//! [`RedisPool`](crate::redis_pool::RedisPool): a call that finds its
//! pooled connection closed by the server is retried once on a new
//! connection; a timeout is never retried, since the script may have run.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{RedisError, Script};

use crate::redis_pool::RedisPool;

use super::counter::{
    Plan, QuotaCheck, QuotaCounter, QuotaError, TrackedQuota, plan_checks, unix_secs,
};
use super::rate_limit::RateLimits;

/// Seconds a counter is kept after the end of its window slot.
pub const EXPIRY_GRACE_SECS: u64 = 60;

/// The largest count, limit or quantity the script handles exactly.
const MAX_EXACT: u64 = (1 << 53) - 1;

/// Reads every counter, then counts all or none; see the module docs.
const SCRIPT: &str = r"
local n = #KEYS
local reply = {}
local refused = false
for i = 1, n do
    local consumed = redis.call('GET', KEYS[i]) or '0'
    local count = tonumber(consumed)
    if count == nil or count ~= math.floor(count) then
        return redis.error_reply('quota counter is not an integer: ' .. KEYS[i])
    end
    local limit = tonumber(ARGV[3 * i - 2])
    local quantity = tonumber(ARGV[3 * i - 1])
    local refuses = limit >= 0 and (
        (quantity == 0 and count >= limit) or (quantity > 0 and count + quantity > limit))
    if refuses then
        refused = true
    end
    reply[2 * i - 1] = refuses and '1' or '0'
    reply[2 * i] = consumed
end
if not refused then
    for i = 1, n do
        local quantity = ARGV[3 * i - 1]
        if quantity ~= '0' then
            redis.call('INCRBY', KEYS[i], quantity)
            redis.call('EXPIRE', KEYS[i], ARGV[3 * i])
        end
    end
end
return reply
";

/// Why the Redis counter failed; boxed into [`QuotaError::Backend`].
#[derive(Debug, thiserror::Error)]
enum RedisCounterError {
    #[error("redis {action}: {source}")]
    Redis {
        action: &'static str,
        source: RedisError,
    },
    #[error("unexpected reply from the quota script: {0}")]
    Reply(String),
}

impl RedisCounterError {
    fn redis(action: &'static str) -> impl FnOnce(RedisError) -> Self {
        move |source| RedisCounterError::Redis { action, source }
    }
}

impl From<RedisCounterError> for QuotaError {
    fn from(e: RedisCounterError) -> Self {
        QuotaError::Backend(Box::new(e))
    }
}

/// The [`QuotaCounter`] on a Redis server: one Lua script per call, so
/// that relays sharing the server count atomically. See the [module
/// docs](self) for the key layout and the script.
///
/// ```no_run
/// use sentry_relay_core::quota::RedisCounter;
///
/// let counter = RedisCounter::open("redis://127.0.0.1:6379/0")?;
/// # Ok::<(), sentry_relay_core::QuotaError>(())
/// ```
pub struct RedisCounter {
    pool: RedisPool,
    script: Script,
    key_prefix: String,
}

impl fmt::Debug for RedisCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCounter")
            .field("pool", &self.pool)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCounter {
    /// Default time to connect.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = RedisPool::DEFAULT_CONNECT_TIMEOUT;
    /// Default time for one request and its reply.
    pub const DEFAULT_IO_TIMEOUT: Duration = RedisPool::DEFAULT_IO_TIMEOUT;
    /// Default number of idle connections kept.
    pub const DEFAULT_MAX_IDLE: usize = RedisPool::DEFAULT_MAX_IDLE;

    /// Connects to the server at `url` (`redis://[:password@]host:port/db`,
    /// or `redis+unix:///path?db=N`) and loads the script, so that a wrong
    /// URL or an unreachable server shows at startup.
    pub fn open(url: &str) -> Result<Self, QuotaError> {
        let pool = RedisPool::new(url).map_err(RedisCounterError::redis("url"))?;
        let counter = RedisCounter {
            pool,
            script: Script::new(SCRIPT),
            key_prefix: String::new(),
        };
        counter
            .pool
            .run(|con| redis::cmd("PING").query::<String>(con))
            .map_err(RedisCounterError::redis("connect"))?;
        counter
            .pool
            .run(|con| counter.script.prepare_invoke().load(con))
            .map_err(RedisCounterError::redis("load script"))?;
        Ok(counter)
    }

    /// Puts `prefix` before every key, to share one database between
    /// deployments (or test runs) whose quota ids and organizations may
    /// collide. Keep braces out of it: Relay's keys use them for the
    /// organization.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the time to connect and the time for one request and its reply
    /// (both at least a millisecond). Applies to new connections.
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Self {
        self.pool.set_timeouts(connect, io);
        self
    }

    /// Sets how many idle connections are kept for later calls; more are
    /// opened when more calls run at once, and closed after them.
    pub fn with_max_idle(mut self, max_idle: usize) -> Self {
        self.pool.set_max_idle(max_idle);
        self
    }

    /// The key prefix (empty by default).
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Runs the script, on a pooled connection if there is one.
    fn run(&self, keys: &[String], args: &[i64]) -> Result<Vec<String>, RedisCounterError> {
        let mut invocation = self.script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        self.pool
            .run(|con| invocation.invoke::<Vec<String>>(con))
            .map_err(RedisCounterError::redis("quota script"))
    }
}

/// One distinct counter of a call.
#[derive(Debug, PartialEq)]
struct Counter<'t> {
    /// [`TrackedQuota::key`], without the prefix.
    key: &'t str,
    /// The smallest limit of the quotas on it.
    limit: Option<u64>,
    /// The summed quantity of the call.
    quantity: u64,
    /// Seconds to live from `now`.
    ttl: u64,
}

/// The distinct counters of a call, in first-seen order, and the counter
/// index of each tracked quota.
fn counters<'t>(tracked: &'t [TrackedQuota<'_>], now: u64) -> (Vec<Counter<'t>>, Vec<usize>) {
    let mut counters: Vec<Counter<'t>> = Vec::new();
    let mut index = Vec::with_capacity(tracked.len());
    for t in tracked {
        let ttl = t
            .expires_at
            .saturating_sub(now)
            .max(1)
            .saturating_add(EXPIRY_GRACE_SECS);
        let i = match counters.iter().position(|c| c.key == t.key) {
            Some(i) => {
                let c = &mut counters[i];
                c.limit = match (c.limit, t.limit) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                c.quantity = c.quantity.saturating_add(t.quantity);
                c.ttl = c.ttl.max(ttl);
                i
            }
            None => {
                counters.push(Counter {
                    key: &t.key,
                    limit: t.limit,
                    quantity: t.quantity,
                    ttl,
                });
                counters.len() - 1
            }
        };
        index.push(i);
    }
    (counters, index)
}

/// `ARGV` of the script: limit (`-1` for none), quantity and time to live
/// per counter.
fn script_args(counters: &[Counter<'_>]) -> Vec<i64> {
    let exact = |v: u64| i64::try_from(v.min(MAX_EXACT)).unwrap_or(i64::MAX);
    counters
        .iter()
        .flat_map(|c| [c.limit.map_or(-1, exact), exact(c.quantity), exact(c.ttl)])
        .collect()
}

/// Per counter: whether it refused, and its count before the call.
fn parse_reply(reply: &[String], n: usize) -> Result<Vec<(bool, u64)>, RedisCounterError> {
    if reply.len() != 2 * n {
        return Err(RedisCounterError::Reply(format!(
            "{} values for {n} counters",
            reply.len()
        )));
    }
    reply
        .chunks_exact(2)
        .map(|pair| {
            let refused = match pair[0].as_str() {
                "0" => false,
                "1" => true,
                other => return Err(RedisCounterError::Reply(format!("flag {other:?}"))),
            };
            // A counter a client set below zero counts as empty.
            let count = match pair[1].parse::<i64>() {
                Ok(count) => u64::try_from(count).unwrap_or(0),
                Err(_) => return Err(RedisCounterError::Reply(format!("count {:?}", pair[1]))),
            };
            Ok((refused, count))
        })
        .collect()
}

/// The rate limits of a refused call: each quota that refuses with its own
/// limit, or, should rounding make none, each limited quota on a counter
/// the script refused.
fn refusals(
    tracked: &[TrackedQuota<'_>],
    index: &[usize],
    counters: &[Counter<'_>],
    reply: &[(bool, u64)],
) -> RateLimits {
    let mut limits = RateLimits::new();
    for (t, &i) in tracked.iter().zip(index) {
        let (refused, count) = reply[i];
        if refused && t.refuses(count, counters[i].quantity) {
            limits.add(t.rate_limit());
        }
    }
    if limits.is_empty() {
        for (t, &i) in tracked.iter().zip(index) {
            if reply[i].0 && t.limit.is_some() {
                limits.add(t.rate_limit());
            }
        }
    }
    limits
}

impl QuotaCounter for RedisCounter {
    fn check_and_add(
        &self,
        checks: &[QuotaCheck<'_>],
        now: DateTime<Utc>,
    ) -> Result<RateLimits, QuotaError> {
        let tracked = match plan_checks(checks, now) {
            Plan::Rejected(limits) => return Ok(limits),
            Plan::Track(tracked) if tracked.is_empty() => return Ok(RateLimits::new()),
            Plan::Track(tracked) => tracked,
        };
        let (counters, index) = counters(&tracked, unix_secs(now));
        let keys: Vec<String> = counters
            .iter()
            .map(|c| format!("{}{}", self.key_prefix, c.key))
            .collect();
        let reply = self.run(&keys, &script_args(&counters))?;
        let reply = parse_reply(&reply, counters.len())?;
        if reply.iter().any(|(refused, _)| *refused) {
            Ok(refusals(&tracked, &index, &counters, &reply))
        } else {
            Ok(RateLimits::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use sentry_envelope::{DataCategory, ProjectId};

    use super::*;
    use crate::quota::model::{Quota, QuotaScope, Scoping};

    fn quota(id: &str, limit: Option<u64>) -> Quota {
        Quota {
            id: Some(id.into()),
            categories: vec![],
            scope: QuotaScope::Organization,
            scope_id: None,
            limit,
            window: Some(60),
            reason_code: None,
        }
    }

    #[test]
    fn counters_merge_equal_keys() {
        let scoping = Scoping::new(7, ProjectId::new(1)).item(DataCategory::Error);
        let (a, a_unlimited, b) = (quota("a", Some(5)), quota("a", None), quota("b", Some(3)));
        let a_small = quota("a", Some(2));
        let checks: Vec<QuotaCheck<'_>> = [(&a, 1), (&b, 4), (&a_unlimited, 2), (&a_small, 0)]
            .into_iter()
            .map(|(quota, quantity)| QuotaCheck {
                quota,
                scoping,
                quantity,
            })
            .collect();
        // Org 7, window 60: slots start at 7 past the minute.
        let now = Utc.timestamp_opt(6007 + 20, 0).unwrap();
        let Plan::Track(tracked) = plan_checks(&checks, now) else {
            panic!("not tracked");
        };
        let (counters, index) = counters(&tracked, unix_secs(now));
        assert_eq!(index, [0, 1, 0, 0]);
        assert_eq!(
            counters,
            [
                Counter {
                    key: "quota:a{7}:100",
                    limit: Some(2),
                    quantity: 3,
                    ttl: 40 + EXPIRY_GRACE_SECS,
                },
                Counter {
                    key: "quota:b{7}:100",
                    limit: Some(3),
                    quantity: 4,
                    ttl: 40 + EXPIRY_GRACE_SECS,
                },
            ]
        );
        assert_eq!(
            script_args(&counters),
            [2, 3, 100, 3, 4, 100],
            "limit, quantity, ttl per counter"
        );
    }

    #[test]
    fn args_are_capped_and_unlimited_is_negative() {
        let counters = [Counter {
            key: "k",
            limit: None,
            quantity: u64::MAX,
            ttl: 1,
        }];
        assert_eq!(script_args(&counters), [-1, (1 << 53) - 1, 1]);
    }

    #[test]
    fn replies_are_checked() {
        let reply = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let ok = parse_reply(&reply(&["0", "3", "1", "-2"]), 2).unwrap();
        assert_eq!(ok, [(false, 3), (true, 0)]);
        assert!(parse_reply(&reply(&["0", "3"]), 2).is_err());
        assert!(parse_reply(&reply(&["2", "3"]), 1).is_err());
        assert!(parse_reply(&reply(&["0", "x"]), 1).is_err());
    }

    #[test]
    fn bad_url_is_a_backend_error() {
        let err = RedisCounter::open("http://localhost").unwrap_err();
        assert!(matches!(err, QuotaError::Backend(_)));
        assert!(err.to_string().contains("redis url"), "{err}");
    }
}
