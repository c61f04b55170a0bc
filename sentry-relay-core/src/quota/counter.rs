//! Counting quotas: the [`QuotaCounter`] contract, the logic every backend
//! shares, and the in-memory backend.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::model::{ItemScoping, Quota, QuotaScope};
use super::rate_limit::{REJECT_ALL_SECS, RateLimit, RateLimits, RetryAfter};

/// Why a counter could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// The backend (a Redis server, say) failed.
    #[error("quota backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One quota to check for one item, with the quantity the item adds to it.
#[derive(Clone, Copy, Debug)]
pub struct QuotaCheck<'a> {
    /// The quota.
    pub quota: &'a Quota,
    /// Who the item belongs to and its category.
    pub scoping: ItemScoping,
    /// How much the item counts: `1` for an event, its bytes for an
    /// attachment; `0` only checks whether the quota is already used up.
    pub quantity: u64,
}

/// Counts quota consumption: the in-memory [`MemoryCounter`] in the
/// embedded deployment, Redis in the scaled one.
///
/// # Contract
///
/// [`check_and_add`](QuotaCounter::check_and_add) gets every quota check of
/// one item (possibly across several categories) and `now`, and returns the
/// rate limits that refuse the item; empty means the item is accepted.
///
/// - A check whose quota does not [match](Quota::matches) its scoping is
///   ignored.
/// - A matching quota with `limit: 0` refuses without counting anything:
///   the answer is one rate limit per such quota, each lasting
///   [`REJECT_ALL_SECS`].
/// - A quota without `id` or `window` cannot be counted and is ignored.
/// - A counted quota is counted per window slot, aligned as Relay and
///   Sentry do: the slot of a timestamp `t` is `(t - shift) / window` with
///   `shift = organization_id % window` ([`window_slot`]). Checks whose
///   [`TrackedQuota::key`] is equal share one counter; their quantities
///   are added up first.
/// - A counted quota refuses when its counter plus the quantity would go
///   over its limit; with a total quantity of `0`, when the counter has
///   reached the limit. `limit: None` never refuses but is still counted.
/// - **All or nothing**: if any quota refuses, no counter changes and the
///   answer lists a rate limit for each refusing quota, lasting until the
///   end of its window. Otherwise every counter grows by its quantity.
/// - The whole call is atomic with respect to other calls on the same
///   counters.
///
/// [`plan_checks`] implements everything but the counters themselves, so
/// that backends agree; [`testsuite`](super::testsuite) checks a backend
/// against this contract.
pub trait QuotaCounter: Send + Sync {
    /// Checks the quotas of one item and counts it if none refuses.
    fn check_and_add(
        &self,
        checks: &[QuotaCheck<'_>],
        now: DateTime<Utc>,
    ) -> Result<RateLimits, QuotaError>;
}

/// The offset of a quota's windows from multiples of the window length:
/// spreads window starts across organizations, as Sentry does.
pub fn window_shift(organization_id: u64, window: u64) -> u64 {
    organization_id.checked_rem(window).unwrap_or(0)
}

/// The window slot a timestamp (Unix seconds) falls into.
pub fn window_slot(organization_id: u64, window: u64, timestamp: u64) -> u64 {
    let window = window.max(1);
    timestamp.saturating_sub(window_shift(organization_id, window)) / window
}

/// A quota that is counted, resolved for one item at one time.
#[derive(Clone, Debug)]
pub struct TrackedQuota<'a> {
    /// The quota.
    pub quota: &'a Quota,
    /// The item's scoping.
    pub scoping: ItemScoping,
    /// The counter's key, unique per quota id, scope instance and window
    /// slot, in Relay's Redis key format:
    /// `quota:{id}{{{org}}}{scope id}:{slot}` (the organization is `0` for
    /// global quotas; the scope id is left out for organization and global
    /// quotas).
    pub key: String,
    /// The limit; `None` for unlimited.
    pub limit: Option<u64>,
    /// The quantity of this check.
    pub quantity: u64,
    /// When the window slot ends, in Unix seconds: the counter may be
    /// dropped then (a Redis backend adds some grace).
    pub expires_at: u64,
}

impl TrackedQuota<'_> {
    /// The rate limit this quota causes when it refuses: until the end of
    /// the window slot.
    pub fn rate_limit(&self) -> RateLimit {
        let expires =
            DateTime::<Utc>::from_timestamp(i64::try_from(self.expires_at).unwrap_or(i64::MAX), 0)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        RateLimit::from_quota(self.quota, self.scoping.scoping(), RetryAfter::at(expires))
    }

    /// Whether a counter at `consumed` refuses `total`, the summed quantity
    /// of all checks on this counter in the call.
    pub fn refuses(&self, consumed: u64, total: u64) -> bool {
        match self.limit {
            None => false,
            Some(limit) if total == 0 => consumed >= limit,
            Some(limit) => consumed.saturating_add(total) > limit,
        }
    }
}

/// What a counter has to do for one call.
#[derive(Debug)]
pub enum Plan<'a> {
    /// Refused without counting (a `limit: 0` quota matched).
    Rejected(RateLimits),
    /// Check and count these quotas, all or nothing. Possibly empty.
    Track(Vec<TrackedQuota<'a>>),
}

/// Unix seconds of `now`, `0` before 1970.
pub fn unix_secs(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

/// Resolves the checks of one call as the [`QuotaCounter`] contract says:
/// drops checks that do not match or cannot be counted, answers
/// `limit: 0` quotas, and computes the counter keys of the rest.
pub fn plan_checks<'a>(checks: &[QuotaCheck<'a>], now: DateTime<Utc>) -> Plan<'a> {
    let timestamp = unix_secs(now);
    let mut rejected = RateLimits::new();
    let mut tracked = Vec::new();
    for check in checks {
        let quota = check.quota;
        if !quota.matches(&check.scoping) {
            continue;
        }
        if quota.limit == Some(0) {
            rejected.add(RateLimit::from_quota(
                quota,
                check.scoping.scoping(),
                RetryAfter::from_secs(REJECT_ALL_SECS, now),
            ));
            continue;
        }
        let (Some(id), Some(window)) = (&quota.id, quota.window.filter(|w| *w > 0)) else {
            continue;
        };
        let org = check.scoping.organization_id;
        let slot = window_slot(org, window, timestamp);
        let expires_at = slot
            .saturating_add(1)
            .saturating_mul(window)
            .saturating_add(window_shift(org, window));
        let mut key = String::with_capacity(32);
        let key_org = if quota.scope == QuotaScope::Global {
            0
        } else {
            org
        };
        let _ = write!(key, "quota:{id}{{{key_org}}}");
        if !matches!(quota.scope, QuotaScope::Organization | QuotaScope::Global) {
            if let Some(scope_id) = check.scoping.scope_id(quota.scope) {
                let _ = write!(key, "{scope_id}");
            }
        }
        let _ = write!(key, ":{slot}");
        tracked.push(TrackedQuota {
            quota,
            scoping: check.scoping,
            key,
            limit: quota.limit,
            quantity: check.quantity,
            expires_at,
        });
    }
    if rejected.is_empty() {
        Plan::Track(tracked)
    } else {
        Plan::Rejected(rejected)
    }
}

/// The summed quantity per counter key of a call.
pub fn totals_by_key(tracked: &[TrackedQuota<'_>]) -> HashMap<String, (u64, u64)> {
    let mut totals: HashMap<String, (u64, u64)> = HashMap::new();
    for t in tracked {
        let entry = totals.entry(t.key.clone()).or_insert((0, t.expires_at));
        entry.0 = entry.0.saturating_add(t.quantity);
        entry.1 = entry.1.max(t.expires_at);
    }
    totals
}

#[derive(Debug, Default)]
struct State {
    /// Counter key to (count, expiry in Unix seconds).
    counters: HashMap<String, (u64, u64)>,
    /// When to look for expired counters next.
    next_purge: u64,
}

/// The in-memory [`QuotaCounter`] of the embedded deployment: one map of
/// counters behind a mutex, counters dropped once their window has ended.
#[derive(Debug, Default)]
pub struct MemoryCounter {
    state: Mutex<State>,
}

impl MemoryCounter {
    /// No counters yet.
    pub fn new() -> Self {
        MemoryCounter::default()
    }

    /// How many counters are kept (including ended ones not yet dropped).
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .counters
            .len()
    }

    /// Whether no counter is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl QuotaCounter for MemoryCounter {
    fn check_and_add(
        &self,
        checks: &[QuotaCheck<'_>],
        now: DateTime<Utc>,
    ) -> Result<RateLimits, QuotaError> {
        let tracked = match plan_checks(checks, now) {
            Plan::Rejected(limits) => return Ok(limits),
            Plan::Track(tracked) => tracked,
        };
        let timestamp = unix_secs(now);
        // Counters are only changed after every check passed, so the state
        // is consistent even if a holder of the lock panicked.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if timestamp >= state.next_purge {
            state
                .counters
                .retain(|_, (_, expires_at)| *expires_at > timestamp);
            state.next_purge = timestamp.saturating_add(1);
        }
        if tracked.is_empty() {
            return Ok(RateLimits::new());
        }
        let totals = totals_by_key(&tracked);
        let mut refused = RateLimits::new();
        for t in &tracked {
            let consumed = state
                .counters
                .get(&t.key)
                .filter(|(_, expires_at)| *expires_at > timestamp)
                .map_or(0, |(count, _)| *count);
            let total = totals.get(&t.key).map_or(t.quantity, |(q, _)| *q);
            if t.refuses(consumed, total) {
                refused.add(t.rate_limit());
            }
        }
        if !refused.is_empty() {
            return Ok(refused);
        }
        for (key, (quantity, expires_at)) in totals {
            if quantity == 0 {
                continue;
            }
            match state.counters.entry(key) {
                Entry::Occupied(mut entry) => {
                    let (count, expiry) = entry.get_mut();
                    if *expiry <= timestamp {
                        *count = 0;
                    }
                    *count = count.saturating_add(quantity);
                    *expiry = (*expiry).max(expires_at);
                }
                Entry::Vacant(entry) => {
                    entry.insert((quantity, expires_at));
                }
            }
        }
        Ok(RateLimits::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::model::Scoping;
    use chrono::{TimeDelta, TimeZone};
    use sentry_envelope::{DataCategory, ProjectId};

    #[test]
    fn slots_are_shifted_by_organization() {
        // org 3, window 10: windows start at ...3, so 102 and 103 differ.
        assert_eq!(window_shift(3, 10), 3);
        assert_eq!(window_slot(3, 10, 102), 9);
        assert_eq!(window_slot(3, 10, 103), 10);
        assert_eq!(window_slot(3, 10, 112), 10);
        assert_eq!(window_slot(3, 10, 113), 11);
        assert_eq!(window_slot(0, 60, 119), 1);
        assert_eq!(window_slot(5, 10, 2), 0, "no underflow");
        assert_eq!(window_slot(5, 0, 100), 100, "zero window is one second");
    }

    #[test]
    fn keys_in_relay_format() {
        let scoping = Scoping::new(69420, ProjectId::new(42))
            .with_key_id(4711)
            .item(DataCategory::Error);
        let now = Utc.timestamp_opt(123_123_123, 0).unwrap();
        let quota = |scope, scope_id: Option<&str>| Quota {
            id: Some("foo".into()),
            categories: vec![],
            scope,
            scope_id: scope_id.map(str::to_owned),
            limit: Some(1),
            window: Some(2),
            reason_code: None,
        };
        let cases = [
            (
                quota(QuotaScope::Project, Some("42")),
                "quota:foo{69420}42:61561561",
            ),
            (
                quota(QuotaScope::Organization, None),
                "quota:foo{69420}:61561561",
            ),
            (
                quota(QuotaScope::Key, None),
                "quota:foo{69420}4711:61561561",
            ),
            (quota(QuotaScope::Global, None), "quota:foo{0}:61561561"),
        ];
        for (quota, expected) in &cases {
            let checks = [QuotaCheck {
                quota,
                scoping,
                quantity: 1,
            }];
            let Plan::Track(tracked) = plan_checks(&checks, now) else {
                panic!("not tracked")
            };
            assert_eq!(tracked[0].key, *expected);
            assert_eq!(tracked[0].expires_at, 123_123_124);
        }
    }

    #[test]
    fn memory_counter_drops_ended_windows() {
        let counter = MemoryCounter::new();
        let quota = Quota {
            id: Some("o".into()),
            categories: vec![DataCategory::Error],
            scope: QuotaScope::Organization,
            scope_id: None,
            limit: Some(1),
            window: Some(60),
            reason_code: None,
        };
        let now = Utc.timestamp_opt(6000, 0).unwrap();
        for org in 0..5 {
            let scoping = Scoping::new(org * 60, ProjectId::new(1)).item(DataCategory::Error);
            let checks = [QuotaCheck {
                quota: &quota,
                scoping,
                quantity: 1,
            }];
            assert!(counter.check_and_add(&checks, now).unwrap().is_empty());
        }
        assert_eq!(counter.len(), 5);
        let later = now + TimeDelta::seconds(60);
        let scoping = Scoping::new(0, ProjectId::new(1)).item(DataCategory::Error);
        let checks = [QuotaCheck {
            quota: &quota,
            scoping,
            quantity: 1,
        }];
        assert!(counter.check_and_add(&checks, later).unwrap().is_empty());
        assert_eq!(counter.len(), 1);
    }
}
