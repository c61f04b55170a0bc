//! The conformance tests every [`QuotaCounter`] backend runs.
//!
//! Each test takes a fresh counter; [`counter_conformance_suite`] runs them
//! all. A backend's test module calls it with its constructor:
//!
//! ```
//! use sentry_relay_core::quota::{MemoryCounter, testsuite};
//!
//! testsuite::counter_conformance_suite(|| Box::new(MemoryCounter::new()));
//! ```
//!
//! A backend shared between test runs (a Redis server) must give every
//! counter fresh quota ids or organizations; the tests use organization
//! ids from [`unique_org`], which a backend may override by wrapping.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sentry_envelope::{DataCategory, ProjectId};

use super::counter::{QuotaCheck, QuotaCounter};
use super::model::{ItemScoping, Quota, QuotaScope, Scoping};
use super::rate_limit::{RateLimitScope, RateLimits};

/// One conformance test.
type ConformanceTest = fn(&dyn QuotaCounter);

/// Runs every conformance test, each on a counter from `make`.
pub fn counter_conformance_suite(make: impl Fn() -> Box<dyn QuotaCounter>) {
    let tests: &[(&str, ConformanceTest)] = &[
        ("counts_up_to_the_limit", counts_up_to_the_limit),
        ("quantities_add_up", quantities_add_up),
        ("all_or_nothing", all_or_nothing),
        (
            "limit_zero_rejects_without_counting",
            limit_zero_rejects_without_counting,
        ),
        ("unlimited_is_counted", unlimited_is_counted),
        ("quantity_zero_only_checks", quantity_zero_only_checks),
        ("windows_are_aligned", windows_are_aligned),
        ("retry_after_is_end_of_window", retry_after_is_end_of_window),
        ("organization_scope", organization_scope),
        ("project_scope", project_scope),
        ("key_scope", key_scope),
        ("global_scope", global_scope),
        ("categories_are_separate", categories_are_separate),
        (
            "untrackable_quotas_are_ignored",
            untrackable_quotas_are_ignored,
        ),
        (
            "same_counter_twice_in_one_call",
            same_counter_twice_in_one_call,
        ),
    ];
    for (name, test) in tests {
        let counter = make();
        eprintln!("quota counter conformance: {name}");
        test(counter.as_ref());
    }
}

/// An organization id not used by any other test of this process, so that
/// tests never share counters on a shared backend.
pub fn unique_org() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1_000_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A time at the start of a 60-second window of organization `org`.
pub fn window_start(org: u64) -> DateTime<Utc> {
    let base: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z, a multiple of 60
    let shift = i64::try_from(org % 60).unwrap_or(0);
    Utc.timestamp_opt(base + shift, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A counted quota.
pub fn quota(
    id: &str,
    scope: QuotaScope,
    categories: &[DataCategory],
    limit: Option<u64>,
) -> Quota {
    Quota {
        id: Some(id.to_owned()),
        categories: categories.to_vec(),
        scope,
        scope_id: None,
        limit,
        window: Some(60),
        reason_code: Some(format!("{id}_reason")),
    }
}

fn errors(org: u64) -> ItemScoping {
    Scoping::new(org, ProjectId::new(1))
        .with_key_id(1)
        .item(DataCategory::Error)
}

/// Calls the counter with one quantity for all quotas, panicking on errors.
pub fn call(
    counter: &dyn QuotaCounter,
    quotas: &[&Quota],
    scoping: ItemScoping,
    quantity: u64,
    now: DateTime<Utc>,
) -> RateLimits {
    let checks: Vec<QuotaCheck<'_>> = quotas
        .iter()
        .map(|quota| QuotaCheck {
            quota,
            scoping,
            quantity,
        })
        .collect();
    match counter.check_and_add(&checks, now) {
        Ok(limits) => limits,
        Err(e) => panic!("counter failed: {e}"),
    }
}

fn reasons(limits: &RateLimits) -> Vec<String> {
    let mut reasons: Vec<String> = limits
        .iter()
        .filter_map(|l| l.reason_code.clone())
        .collect();
    reasons.sort();
    reasons
}

fn counts_up_to_the_limit(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota(
        "a",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(3),
    );
    for i in 0..3 {
        assert!(
            call(counter, &[&q], errors(org), 1, now).is_empty(),
            "item {i}"
        );
    }
    let limits = call(counter, &[&q], errors(org), 1, now);
    assert_eq!(reasons(&limits), ["a_reason"]);
    let limit = limits
        .iter()
        .next()
        .map(|l| (l.categories.clone(), l.scope));
    assert_eq!(
        limit,
        Some((vec![DataCategory::Error], RateLimitScope::Organization(org)))
    );
}

fn quantities_add_up(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota(
        "a",
        QuotaScope::Organization,
        &[DataCategory::Attachment],
        Some(100),
    );
    let bytes = Scoping::new(org, ProjectId::new(1)).item(DataCategory::Attachment);
    assert!(call(counter, &[&q], bytes, 60, now).is_empty());
    assert!(
        !call(counter, &[&q], bytes, 41, now).is_empty(),
        "60 + 41 > 100"
    );
    assert!(
        call(counter, &[&q], bytes, 40, now).is_empty(),
        "refused 41 not counted"
    );
    assert!(!call(counter, &[&q], bytes, 1, now).is_empty());
}

fn all_or_nothing(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let small = quota(
        "small",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    let large = quota(
        "large",
        QuotaScope::Project,
        &[DataCategory::Error],
        Some(2),
    );
    assert!(call(counter, &[&small, &large], errors(org), 1, now).is_empty());
    // `small` is full: neither is counted.
    for _ in 0..3 {
        let limits = call(counter, &[&small, &large], errors(org), 1, now);
        assert_eq!(reasons(&limits), ["small_reason"]);
    }
    // `large` has counted exactly one item.
    assert!(call(counter, &[&large], errors(org), 1, now).is_empty());
    let limits = call(counter, &[&small, &large], errors(org), 1, now);
    assert_eq!(reasons(&limits), ["large_reason", "small_reason"]);
}

fn limit_zero_rejects_without_counting(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let reject = Quota::reject_all(vec![], QuotaScope::Organization, Some("get_lost".into()));
    let counted = quota(
        "c",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    let limits = call(counter, &[&reject, &counted], errors(org), 1, now);
    assert_eq!(reasons(&limits), ["get_lost"]);
    let limit = limits
        .iter()
        .next()
        .map(|l| l.retry_after.remaining_secs(now));
    assert_eq!(limit, Some(super::rate_limit::REJECT_ALL_SECS));
    assert!(
        call(counter, &[&counted], errors(org), 1, now).is_empty(),
        "not counted"
    );
}

fn unlimited_is_counted(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    // Both quotas share the counter `u` of the organization.
    let unlimited = quota("u", QuotaScope::Organization, &[DataCategory::Error], None);
    let limited = quota(
        "u",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(5),
    );
    for _ in 0..5 {
        assert!(call(counter, &[&unlimited], errors(org), 1, now).is_empty());
    }
    assert!(call(counter, &[&unlimited], errors(org), 1000, now).is_empty());
    assert!(!call(counter, &[&limited], errors(org), 1, now).is_empty());
}

fn quantity_zero_only_checks(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota(
        "z",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    assert!(call(counter, &[&q], errors(org), 0, now).is_empty());
    assert!(
        call(counter, &[&q], errors(org), 0, now).is_empty(),
        "0 counts nothing"
    );
    assert!(call(counter, &[&q], errors(org), 1, now).is_empty());
    assert!(
        !call(counter, &[&q], errors(org), 0, now).is_empty(),
        "used up"
    );
}

fn windows_are_aligned(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let start = window_start(org);
    let q = quota(
        "w",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    let last_of_previous = start - TimeDelta::seconds(1);
    assert!(call(counter, &[&q], errors(org), 1, last_of_previous).is_empty());
    assert!(
        call(counter, &[&q], errors(org), 1, start).is_empty(),
        "new window"
    );
    let end = start + TimeDelta::seconds(59);
    assert!(
        !call(counter, &[&q], errors(org), 1, end).is_empty(),
        "same window"
    );
    let next = start + TimeDelta::seconds(60);
    assert!(
        call(counter, &[&q], errors(org), 1, next).is_empty(),
        "next window"
    );
}

fn retry_after_is_end_of_window(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let start = window_start(org);
    let q = quota(
        "r",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    assert!(call(counter, &[&q], errors(org), 1, start).is_empty());
    let now = start + TimeDelta::seconds(20);
    let limits = call(counter, &[&q], errors(org), 1, now);
    assert_eq!(limits.retry_after_secs(now), Some(40));
}

fn organization_scope(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota(
        "o",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    let p1 = Scoping::new(org, ProjectId::new(1)).item(DataCategory::Error);
    let p2 = Scoping::new(org, ProjectId::new(2)).item(DataCategory::Error);
    assert!(call(counter, &[&q], p1, 1, now).is_empty());
    assert!(
        !call(counter, &[&q], p2, 1, now).is_empty(),
        "shared by projects"
    );
    let other = unique_org();
    let other_now = window_start(other);
    let p3 = Scoping::new(other, ProjectId::new(3)).item(DataCategory::Error);
    assert!(
        call(counter, &[&q], p3, 1, other_now).is_empty(),
        "per organization"
    );
}

fn project_scope(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota("p", QuotaScope::Project, &[DataCategory::Error], Some(1));
    let p1 = Scoping::new(org, ProjectId::new(1)).item(DataCategory::Error);
    let p2 = Scoping::new(org, ProjectId::new(2)).item(DataCategory::Error);
    assert!(call(counter, &[&q], p1, 1, now).is_empty());
    let limits = call(counter, &[&q], p1, 1, now);
    let scope = limits.iter().next().map(|l| l.scope);
    assert_eq!(scope, Some(RateLimitScope::Project(ProjectId::new(1))));
    assert!(call(counter, &[&q], p2, 1, now).is_empty(), "per project");

    let mut only_p2 = quota("p2", QuotaScope::Project, &[DataCategory::Error], Some(0));
    only_p2.scope_id = Some("2".into());
    assert!(
        call(counter, &[&only_p2], p1, 1, now).is_empty(),
        "scope id"
    );
    assert!(!call(counter, &[&only_p2], p2, 1, now).is_empty());
}

fn key_scope(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota("k", QuotaScope::Key, &[DataCategory::Error], Some(1));
    let k1 = Scoping::new(org, ProjectId::new(1))
        .with_key_id(1)
        .item(DataCategory::Error);
    let k2 = Scoping::new(org, ProjectId::new(1))
        .with_key_id(2)
        .item(DataCategory::Error);
    assert!(call(counter, &[&q], k1, 1, now).is_empty());
    let limits = call(counter, &[&q], k1, 1, now);
    let scope = limits.iter().next().map(|l| l.scope);
    assert_eq!(scope, Some(RateLimitScope::Key(1)));
    assert!(call(counter, &[&q], k2, 1, now).is_empty(), "per key");
}

fn global_scope(counter: &dyn QuotaCounter) {
    let id = format!("g{}", unique_org());
    let q = quota(&id, QuotaScope::Global, &[DataCategory::Error], Some(1));
    // Organizations 60 apart share window alignment.
    let org = unique_org() * 60;
    let now = window_start(org);
    assert!(call(counter, &[&q], errors(org), 1, now).is_empty());
    let limits = call(counter, &[&q], errors(org + 60), 1, now);
    let scope = limits.iter().next().map(|l| l.scope);
    assert_eq!(
        scope,
        Some(RateLimitScope::Global),
        "shared by organizations"
    );
}

fn categories_are_separate(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let q = quota(
        "e",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    let tx = Scoping::new(org, ProjectId::new(1)).item(DataCategory::Transaction);
    for _ in 0..3 {
        assert!(call(counter, &[&q], tx, 1, now).is_empty(), "not an error");
    }
    assert!(call(counter, &[&q], errors(org), 1, now).is_empty());
}

fn untrackable_quotas_are_ignored(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    let mut no_id = quota(
        "x",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    no_id.id = None;
    let mut no_window = quota(
        "y",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(1),
    );
    no_window.window = None;
    for _ in 0..3 {
        assert!(call(counter, &[&no_id, &no_window], errors(org), 1, now).is_empty());
    }
}

fn same_counter_twice_in_one_call(counter: &dyn QuotaCounter) {
    let org = unique_org();
    let now = window_start(org);
    // One quota over two categories, checked for both in one call: the
    // quantities add up on one counter.
    let q = quota(
        "t",
        QuotaScope::Organization,
        &[DataCategory::Transaction, DataCategory::Span],
        Some(3),
    );
    let scoping = Scoping::new(org, ProjectId::new(1));
    let checks = [
        QuotaCheck {
            quota: &q,
            scoping: scoping.item(DataCategory::Transaction),
            quantity: 1,
        },
        QuotaCheck {
            quota: &q,
            scoping: scoping.item(DataCategory::Span),
            quantity: 2,
        },
    ];
    let first = counter.check_and_add(&checks, now);
    assert!(first.is_ok_and(|l| l.is_empty()));
    let second = counter.check_and_add(&checks, now);
    assert!(second.is_ok_and(|l| !l.is_empty()), "3 + 3 > 3");
}

/// The model of one request sequence: `requests` against a quota of
/// `limit` (and a second, larger one) in one window. Asserts that the
/// counter decides exactly as the contract says, so that the accepted total
/// never exceeds the limit and refusals count nothing. Returns the accepted
/// total.
pub fn check_request_sequence(
    counter: &dyn QuotaCounter,
    limit: u64,
    second_limit: u64,
    requests: &[u64],
) -> u64 {
    let org = unique_org();
    let now = window_start(org);
    let first = quota(
        "seq1",
        QuotaScope::Organization,
        &[DataCategory::Error],
        Some(limit),
    );
    let second = quota(
        "seq2",
        QuotaScope::Project,
        &[DataCategory::Error],
        Some(second_limit),
    );
    let (mut a, mut b) = (0u64, 0u64);
    for (i, &quantity) in requests.iter().enumerate() {
        let refused = |count: u64, limit: u64| match quantity {
            0 => count >= limit,
            q => count + q > limit,
        };
        let expect_refused = refused(a, limit) || refused(b, second_limit);
        let limits = call(counter, &[&first, &second], errors(org), quantity, now);
        assert_eq!(
            !limits.is_empty(),
            expect_refused,
            "request {i} of {quantity} with counters {a}/{limit} and {b}/{second_limit}"
        );
        if !expect_refused {
            a += quantity;
            b += quantity;
        }
        assert!(a <= limit && b <= second_limit);
    }
    a
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::quota::counter::{Plan, QuotaError, plan_checks};

    /// Counts every quota that has room, even when another refuses.
    #[derive(Default)]
    struct PartialCounter(Mutex<HashMap<String, u64>>);

    impl QuotaCounter for PartialCounter {
        fn check_and_add(
            &self,
            checks: &[QuotaCheck<'_>],
            now: DateTime<Utc>,
        ) -> Result<RateLimits, QuotaError> {
            let Plan::Track(tracked) = plan_checks(checks, now) else {
                return Ok(RateLimits::new());
            };
            let mut counters = self.0.lock().unwrap();
            let mut refused = RateLimits::new();
            for t in tracked {
                let count = counters.entry(t.key.clone()).or_default();
                if t.refuses(*count, t.quantity) {
                    refused.add(t.rate_limit());
                } else {
                    *count += t.quantity;
                }
            }
            Ok(refused)
        }
    }

    #[test]
    #[should_panic(expected = "assertion")]
    fn suite_catches_partial_counting() {
        all_or_nothing(&PartialCounter::default());
    }

    #[test]
    #[should_panic(expected = "assertion")]
    fn suite_catches_counting_reject_all() {
        // Ignores `limit: 0` entirely.
        limit_zero_rejects_without_counting(&PartialCounter::default());
    }
}
