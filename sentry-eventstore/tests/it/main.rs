//! Integration tests of the store: one conformance suite run against every
//! backend, plus processing of real SDK envelopes. With the `postgres`
//! feature (`cargo test -p sentry-eventstore --features postgres,redis --test it`)
//! the suite also runs against the PostgreSQL server
//! `SENTRY_TEST_POSTGRES_URL` names, with tests of concurrent writers.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod cache;
mod conformance;
mod hook_receiver;
mod outcomes;
#[cfg(feature = "postgres")]
mod postgres;
mod postprocess;
mod process;
