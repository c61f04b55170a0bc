//! The quota counter conformance suite on the in-memory counter, and its
//! properties under random request sequences.

use proptest::prelude::*;
use sentry_relay_core::quota::{MemoryCounter, testsuite};

#[test]
fn memory_counter_conformance() {
    testsuite::counter_conformance_suite(|| Box::new(MemoryCounter::new()));
}

proptest! {
    /// For any requests against a quota of limit L in one window, the
    /// accepted total never exceeds L, and a refused request counts nothing
    /// for either of the two quotas it was checked against.
    #[test]
    fn accepted_never_exceeds_limit(
        limit in 0u64..50,
        extra in 0u64..20,
        requests in proptest::collection::vec(0u64..15, 0..40),
    ) {
        let counter = MemoryCounter::new();
        let accepted = testsuite::check_request_sequence(&counter, limit, limit + extra, &requests);
        prop_assert!(accepted <= limit);
    }

    /// The same with the second quota the smaller one.
    #[test]
    fn smaller_second_quota(
        limit in 1u64..50,
        second in 0u64..50,
        requests in proptest::collection::vec(0u64..15, 0..40),
    ) {
        let counter = MemoryCounter::new();
        let accepted = testsuite::check_request_sequence(&counter, limit, second, &requests);
        prop_assert!(accepted <= limit.min(second));
    }
}
