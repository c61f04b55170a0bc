//! Rate limits: what was refused, for how long, and the
//! `X-Sentry-Rate-Limits` header that tells SDKs.

use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};
use sentry_envelope::{DataCategory, ProjectId};

use super::model::{ItemScoping, Quota, QuotaScope, Scoping};

/// The name of the header that lists rate limits in a response.
pub const RATE_LIMITS_HEADER: &str = "X-Sentry-Rate-Limits";

/// How long a quota with `limit: 0` refuses data, in seconds.
pub const REJECT_ALL_SECS: u64 = 60;

/// The longest retry delay read from a header (ten years); longer values are
/// cut to it.
const MAX_RETRY_SECS: u64 = 10 * 365 * 24 * 3600;

/// When a rate limit ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetryAfter(DateTime<Utc>);

impl RetryAfter {
    /// A limit that ends at `expires_at`.
    pub fn at(expires_at: DateTime<Utc>) -> Self {
        RetryAfter(expires_at)
    }

    /// A limit that ends `secs` seconds after `now`.
    pub fn from_secs(secs: u64, now: DateTime<Utc>) -> Self {
        let secs = secs.min(MAX_RETRY_SECS);
        let delta = TimeDelta::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
            .unwrap_or(TimeDelta::MAX);
        RetryAfter(
            now.checked_add_signed(delta)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    /// When the limit ends.
    pub fn expires_at(self) -> DateTime<Utc> {
        self.0
    }

    /// Whole seconds left at `now`, rounded up; `0` once expired.
    pub fn remaining_secs(self, now: DateTime<Utc>) -> u64 {
        let millis = (self.0 - now).num_milliseconds();
        u64::try_from(millis).map_or(0, |ms| ms.div_ceil(1000))
    }

    /// Whether the limit has ended at `now`.
    pub fn is_expired(self, now: DateTime<Utc>) -> bool {
        self.0 <= now
    }
}

/// Which data a rate limit covers: everything, or one organization,
/// project or client key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateLimitScope {
    /// Every organization.
    Global,
    /// One organization.
    Organization(u64),
    /// One project.
    Project(ProjectId),
    /// One client key, by numeric id.
    Key(u64),
}

impl RateLimitScope {
    /// The instance of `scope` that `scoping` belongs to.
    ///
    /// The key scope without a known key, and scopes this version does not
    /// know, fall back to the narrowest scope known: the key, else the
    /// project.
    pub fn for_quota(scoping: Scoping, scope: QuotaScope) -> Self {
        match scope {
            QuotaScope::Global => RateLimitScope::Global,
            QuotaScope::Organization => RateLimitScope::Organization(scoping.organization_id),
            QuotaScope::Project => RateLimitScope::Project(scoping.project_id),
            QuotaScope::Key | QuotaScope::Unknown => match scoping.key_id {
                Some(key_id) => RateLimitScope::Key(key_id),
                None => RateLimitScope::Project(scoping.project_id),
            },
        }
    }

    /// The scope's name in the `X-Sentry-Rate-Limits` header.
    pub fn name(&self) -> &'static str {
        match self {
            RateLimitScope::Global => "global",
            RateLimitScope::Organization(_) => "organization",
            RateLimitScope::Project(_) => "project",
            RateLimitScope::Key(_) => "key",
        }
    }

    /// Whether data of this scoping is covered.
    pub fn matches(&self, scoping: &Scoping) -> bool {
        match *self {
            RateLimitScope::Global => true,
            RateLimitScope::Organization(id) => scoping.organization_id == id,
            RateLimitScope::Project(id) => scoping.project_id == id,
            RateLimitScope::Key(id) => scoping.key_id == Some(id),
        }
    }
}

/// A refusal of some data categories in one scope until a point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// The categories refused; empty means all.
    pub categories: Vec<DataCategory>,
    /// Whose data is refused.
    pub scope: RateLimitScope,
    /// The reason code of the quota that was exceeded.
    pub reason_code: Option<String>,
    /// When the limit ends.
    pub retry_after: RetryAfter,
    /// The metric namespaces refused, for metric categories; empty means
    /// all. Carried through the header as sent.
    pub namespaces: Vec<String>,
}

impl RateLimit {
    /// The limit a quota causes for data of `scoping`.
    pub fn from_quota(quota: &Quota, scoping: Scoping, retry_after: RetryAfter) -> Self {
        RateLimit {
            categories: quota.categories.clone(),
            scope: RateLimitScope::for_quota(scoping, quota.scope),
            reason_code: quota.reason_code.clone(),
            retry_after,
            namespaces: Vec::new(),
        }
    }

    /// Whether the limit covers this category (in any scope).
    pub fn matches_category(&self, category: DataCategory) -> bool {
        self.categories.is_empty() || self.categories.contains(&category)
    }

    /// Whether the limit covers this item: its category and its scope.
    pub fn applies_to(&self, scoping: &ItemScoping) -> bool {
        self.matches_category(scoping.category) && self.scope.matches(&scoping.scoping())
    }

    fn same_target(&self, other: &RateLimit) -> bool {
        self.categories == other.categories
            && self.scope == other.scope
            && self.namespaces == other.namespaces
    }
}

/// A set of rate limits.
///
/// Adding a limit for the same categories, scope and namespaces as one
/// already present keeps whichever ends later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    limits: Vec<RateLimit>,
}

impl RateLimits {
    /// No limits.
    pub fn new() -> Self {
        RateLimits::default()
    }

    /// Adds a limit, merging it with one for the same target.
    pub fn add(&mut self, limit: RateLimit) {
        match self.limits.iter_mut().find(|l| l.same_target(&limit)) {
            Some(existing) => {
                if limit.retry_after > existing.retry_after {
                    *existing = limit;
                }
            }
            None => self.limits.push(limit),
        }
    }

    /// Adds every limit of `other`.
    pub fn merge(&mut self, other: RateLimits) {
        for limit in other.limits {
            self.add(limit);
        }
    }

    /// Whether there is no limit.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The number of limits.
    pub fn len(&self) -> usize {
        self.limits.len()
    }

    /// The limits.
    pub fn iter(&self) -> std::slice::Iter<'_, RateLimit> {
        self.limits.iter()
    }

    /// Whether some limit covers this category, in whatever scope.
    ///
    /// Meant for the limits one request produced, which all concern its own
    /// scoping; use [`RateLimits::check`] otherwise.
    pub fn is_limited(&self, category: DataCategory) -> bool {
        self.limits.iter().any(|l| l.matches_category(category))
    }

    /// The limits that cover this item (category and scope).
    pub fn check(&self, scoping: &ItemScoping) -> RateLimits {
        RateLimits {
            limits: self
                .limits
                .iter()
                .filter(|l| l.applies_to(scoping))
                .cloned()
                .collect(),
        }
    }

    /// The limit that ends last.
    pub fn longest(&self) -> Option<&RateLimit> {
        self.limits.iter().max_by_key(|l| l.retry_after)
    }

    /// Drops the limits that have ended at `now`.
    pub fn clean_expired(&mut self, now: DateTime<Utc>) {
        self.limits.retain(|l| !l.retry_after.is_expired(now));
    }

    /// The value of the `Retry-After` header: seconds until the longest
    /// limit ends, rounded up. `None` without limits.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> Option<u64> {
        self.longest().map(|l| l.retry_after.remaining_secs(now))
    }

    /// The value of the `X-Sentry-Rate-Limits` header.
    ///
    /// One entry per limit, entries separated by `", "`; each entry is
    /// `retry_after:categories:scope:reason_code:namespaces`, categories
    /// and namespaces separated by `;`. Trailing empty fields are left out
    /// (`60::organization`), except that the reason code's place is kept
    /// when namespaces follow. An empty string without limits.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use sentry_envelope::{DataCategory, ProjectId};
    /// use sentry_relay_core::quota::{RateLimit, RateLimitScope, RateLimits, RetryAfter};
    ///
    /// let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut limits = RateLimits::new();
    /// limits.add(RateLimit {
    ///     categories: vec![DataCategory::Transaction, DataCategory::Security],
    ///     scope: RateLimitScope::Project(ProjectId::new(21)),
    ///     reason_code: Some("project_quota".into()),
    ///     retry_after: RetryAfter::from_secs(4711, now),
    ///     namespaces: vec![],
    /// });
    /// assert_eq!(limits.to_header(now), "4711:transaction;security:project:project_quota");
    /// ```
    pub fn to_header(&self, now: DateTime<Utc>) -> String {
        let mut header = String::new();
        for limit in &self.limits {
            if !header.is_empty() {
                header.push_str(", ");
            }
            let _ = write!(header, "{}:", limit.retry_after.remaining_secs(now));
            for (i, category) in limit.categories.iter().enumerate() {
                if i > 0 {
                    header.push(';');
                }
                header.push_str(category.as_str());
            }
            header.push(':');
            header.push_str(limit.scope.name());
            match &limit.reason_code {
                Some(reason) => {
                    header.push(':');
                    header.push_str(reason);
                }
                None if !limit.namespaces.is_empty() => header.push(':'),
                None => {}
            }
            for (i, namespace) in limit.namespaces.iter().enumerate() {
                header.push(if i == 0 { ':' } else { ';' });
                header.push_str(namespace);
            }
        }
        header
    }

    /// Reads an `X-Sentry-Rate-Limits` header received for data of
    /// `scoping` at `now`.
    ///
    /// Lenient like Relay and the SDKs: entries without a readable retry
    /// delay are skipped, the delay may be fractional (rounded up), unknown
    /// categories read as [`DataCategory::Unknown`] and an unknown scope as
    /// the narrowest one ([`RateLimitScope::for_quota`]).
    pub fn parse_header(header: &str, scoping: Scoping, now: DateTime<Utc>) -> RateLimits {
        let mut limits = RateLimits::new();
        for entry in header.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let mut fields = entry.split(':');
            let Some(secs) = fields.next().and_then(parse_secs) else {
                continue;
            };
            let categories = fields
                .next()
                .unwrap_or("")
                .split(';')
                .filter(|c| !c.is_empty())
                .map(|c| c.parse().unwrap_or(DataCategory::Unknown))
                .collect();
            let scope = QuotaScope::from_name(fields.next().unwrap_or(""));
            let reason_code = fields.next().filter(|r| !r.is_empty()).map(str::to_owned);
            let namespaces = fields
                .next()
                .unwrap_or("")
                .split(';')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            limits.add(RateLimit {
                categories,
                scope: RateLimitScope::for_quota(scoping, scope),
                reason_code,
                retry_after: RetryAfter::from_secs(secs, now),
                namespaces,
            });
        }
        limits
    }
}

fn parse_secs(text: &str) -> Option<u64> {
    let secs: f64 = text.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // Saturating float-to-int conversion; the value is cut to
    // MAX_RETRY_SECS later anyway.
    Some(secs.ceil() as u64)
}

impl IntoIterator for RateLimits {
    type Item = RateLimit;
    type IntoIter = std::vec::IntoIter<RateLimit>;

    fn into_iter(self) -> Self::IntoIter {
        self.limits.into_iter()
    }
}

impl<'a> IntoIterator for &'a RateLimits {
    type Item = &'a RateLimit;
    type IntoIter = std::slice::Iter<'a, RateLimit>;

    fn into_iter(self) -> Self::IntoIter {
        self.limits.iter()
    }
}

impl FromIterator<RateLimit> for RateLimits {
    fn from_iter<I: IntoIterator<Item = RateLimit>>(iter: I) -> Self {
        let mut limits = RateLimits::new();
        for limit in iter {
            limits.add(limit);
        }
        limits
    }
}

/// Rate limits remembered from earlier requests, so that data of a limited
/// category is refused at once, without counting, until the limit ends (as
/// Relay's edge does per project).
///
/// A plain value: a server keeps one per project behind its own lock and
/// merges in the limits each request produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CachedRateLimits {
    limits: RateLimits,
}

impl CachedRateLimits {
    /// Remembers nothing.
    pub fn new() -> Self {
        CachedRateLimits::default()
    }

    /// Remembers these limits (those already ended at `now` are ignored),
    /// and forgets the ones that have ended.
    pub fn merge(&mut self, limits: RateLimits, now: DateTime<Utc>) {
        self.limits.clean_expired(now);
        for limit in limits {
            if !limit.retry_after.is_expired(now) {
                self.limits.add(limit);
            }
        }
    }

    /// The limits still active at `now` that cover this item.
    pub fn check(&self, scoping: &ItemScoping, now: DateTime<Utc>) -> RateLimits {
        let mut hit = self.limits.check(scoping);
        hit.clean_expired(now);
        hit
    }

    /// Whether an active limit covers this item.
    pub fn is_limited(&self, scoping: &ItemScoping, now: DateTime<Utc>) -> bool {
        !self.check(scoping, now).is_empty()
    }

    /// The limits still active at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> RateLimits {
        let mut limits = self.limits.clone();
        limits.clean_expired(now);
        limits
    }

    /// Forgets the limits that have ended at `now`.
    pub fn clean_expired(&mut self, now: DateTime<Utc>) {
        self.limits.clean_expired(now);
    }

    /// Whether nothing is remembered (expired limits count until cleaned).
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn scoping() -> Scoping {
        Scoping::new(42, ProjectId::new(21)).with_key_id(17)
    }

    fn limit(
        categories: Vec<DataCategory>,
        scope: RateLimitScope,
        reason: Option<&str>,
        secs: u64,
    ) -> RateLimit {
        RateLimit {
            categories,
            scope,
            reason_code: reason.map(str::to_owned),
            retry_after: RetryAfter::from_secs(secs, now()),
            namespaces: vec![],
        }
    }

    #[test]
    fn format_relay_example() {
        let mut limits = RateLimits::new();
        limits.add(limit(
            vec![],
            RateLimitScope::Organization(42),
            Some("my_limit"),
            42,
        ));
        limits.add(limit(
            vec![DataCategory::Transaction, DataCategory::Security],
            RateLimitScope::Project(ProjectId::new(21)),
            None,
            4711,
        ));
        assert_eq!(
            limits.to_header(now()),
            "42::organization:my_limit, 4711:transaction;security:project"
        );
        assert_eq!(limits.retry_after_secs(now()), Some(4711));
        assert_eq!(RateLimits::new().to_header(now()), "");
        assert_eq!(RateLimits::new().retry_after_secs(now()), None);
    }

    #[test]
    fn format_namespaces() {
        let mut with_reason = limit(
            vec![DataCategory::MetricBucket],
            RateLimitScope::Organization(42),
            Some("my_limit"),
            42,
        );
        with_reason.namespaces = vec!["custom".into(), "spans".into()];
        let mut without_reason = with_reason.clone();
        without_reason.reason_code = None;
        without_reason.scope = RateLimitScope::Project(ProjectId::new(21));
        let limits: RateLimits = [with_reason, without_reason].into_iter().collect();
        let header = limits.to_header(now());
        assert_eq!(
            header,
            "42:metric_bucket:organization:my_limit:custom;spans, 42:metric_bucket:project::custom;spans"
        );
        assert_eq!(RateLimits::parse_header(&header, scoping(), now()), limits);
    }

    #[test]
    fn parse_relay_example() {
        let header = "42::organization:my_limit, invalid, 4711:foobar;transaction;security:project";
        let limits = RateLimits::parse_header(header, scoping(), now());
        let expected: RateLimits = [
            limit(
                vec![],
                RateLimitScope::Organization(42),
                Some("my_limit"),
                42,
            ),
            limit(
                vec![
                    DataCategory::Unknown,
                    DataCategory::Transaction,
                    DataCategory::Security,
                ],
                RateLimitScope::Project(ProjectId::new(21)),
                None,
                4711,
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(limits, expected);
    }

    #[test]
    fn parse_lenient() {
        for junk in ["", "invalid", ",,,", "-1:error", "NaN:error", "inf::key"] {
            assert!(
                RateLimits::parse_header(junk, scoping(), now()).is_empty(),
                "{junk}"
            );
        }
        let limits = RateLimits::parse_header("2.1:error:key, 60::whatever", scoping(), now());
        let all: Vec<_> = limits.iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].retry_after.remaining_secs(now()), 3);
        assert_eq!(all[0].scope, RateLimitScope::Key(17));
        assert_eq!(
            all[1].scope,
            RateLimitScope::Key(17),
            "unknown scope is narrowest"
        );
        let keyless =
            RateLimits::parse_header("60::key", Scoping::new(42, ProjectId::new(21)), now());
        assert_eq!(
            keyless.iter().next().unwrap().scope,
            RateLimitScope::Project(ProjectId::new(21))
        );
    }

    #[test]
    fn round_trip_every_scope() {
        let limits: RateLimits = [
            limit(
                vec![DataCategory::Error],
                RateLimitScope::Global,
                Some("g"),
                1,
            ),
            limit(
                vec![DataCategory::Error, DataCategory::Default],
                RateLimitScope::Organization(42),
                None,
                60,
            ),
            limit(
                vec![DataCategory::Attachment],
                RateLimitScope::Project(ProjectId::new(21)),
                Some("p"),
                3600,
            ),
            limit(vec![], RateLimitScope::Key(17), Some("key_quota"), 86400),
        ]
        .into_iter()
        .collect();
        let header = limits.to_header(now());
        assert_eq!(RateLimits::parse_header(&header, scoping(), now()), limits);
    }

    #[test]
    fn merge_keeps_longest() {
        let mut limits = RateLimits::new();
        let org = RateLimitScope::Organization(42);
        limits.add(limit(vec![DataCategory::Error], org, Some("a"), 10));
        limits.add(limit(vec![DataCategory::Error], org, Some("b"), 60));
        limits.add(limit(vec![DataCategory::Error], org, Some("c"), 30));
        limits.add(limit(vec![DataCategory::Transaction], org, Some("d"), 5));
        assert_eq!(limits.len(), 2);
        let longest = limits.longest().unwrap();
        assert_eq!(longest.reason_code.as_deref(), Some("b"));
        assert!(limits.is_limited(DataCategory::Error));
        assert!(limits.is_limited(DataCategory::Transaction));
        assert!(!limits.is_limited(DataCategory::Session));

        let mut other = RateLimits::new();
        other.add(limit(vec![DataCategory::Transaction], org, Some("e"), 500));
        limits.merge(other);
        assert_eq!(limits.len(), 2);
        assert_eq!(limits.retry_after_secs(now()), Some(500));
    }

    #[test]
    fn check_by_scope() {
        let limits: RateLimits = [
            limit(
                vec![DataCategory::Error],
                RateLimitScope::Project(ProjectId::new(21)),
                None,
                10,
            ),
            limit(vec![], RateLimitScope::Key(99), None, 10),
        ]
        .into_iter()
        .collect();
        assert_eq!(limits.check(&scoping().item(DataCategory::Error)).len(), 1);
        assert!(
            limits
                .check(&scoping().item(DataCategory::Session))
                .is_empty()
        );
        let other_project = Scoping::new(42, ProjectId::new(22)).with_key_id(99);
        assert_eq!(
            limits
                .check(&other_project.item(DataCategory::Session))
                .len(),
            1
        );
    }

    #[test]
    fn retry_after() {
        let at = RetryAfter::from_secs(10, now());
        assert_eq!(at.remaining_secs(now()), 10);
        assert_eq!(at.remaining_secs(now() + TimeDelta::milliseconds(9001)), 1);
        assert_eq!(at.remaining_secs(now() + TimeDelta::seconds(10)), 0);
        assert_eq!(at.remaining_secs(now() + TimeDelta::seconds(11)), 0);
        assert!(!at.is_expired(now() + TimeDelta::seconds(9)));
        assert!(at.is_expired(now() + TimeDelta::seconds(10)));
        let far = RetryAfter::from_secs(u64::MAX, now());
        assert_eq!(far.remaining_secs(now()), MAX_RETRY_SECS);
    }

    #[test]
    fn cached_limits_expire() {
        let mut cached = CachedRateLimits::new();
        let project = RateLimitScope::Project(ProjectId::new(21));
        let limits: RateLimits = [
            limit(vec![DataCategory::Error], project, Some("short"), 10),
            limit(vec![DataCategory::Transaction], project, Some("long"), 100),
            limit(vec![DataCategory::Session], project, Some("gone"), 0),
        ]
        .into_iter()
        .collect();
        cached.merge(limits, now());
        let error = scoping().item(DataCategory::Error);
        let transaction = scoping().item(DataCategory::Transaction);
        assert!(!cached.is_limited(&scoping().item(DataCategory::Session), now()));
        assert_eq!(cached.active(now()).len(), 2);
        assert!(cached.is_limited(&error, now() + TimeDelta::seconds(9)));
        assert!(!cached.is_limited(&error, now() + TimeDelta::seconds(10)));
        assert!(cached.is_limited(&transaction, now() + TimeDelta::seconds(10)));
        let elsewhere = Scoping::new(42, ProjectId::new(22)).item(DataCategory::Error);
        assert!(!cached.is_limited(&elsewhere, now()));

        cached.clean_expired(now() + TimeDelta::seconds(50));
        assert_eq!(cached.active(now()).len(), 1);
        cached.clean_expired(now() + TimeDelta::seconds(100));
        assert!(cached.is_empty());
    }
}
