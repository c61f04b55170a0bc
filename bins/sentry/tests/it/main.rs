//! Tests of the `sentry` binary as a user runs it.

mod inspect;
