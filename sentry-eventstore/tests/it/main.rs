//! Integration tests of the store: one conformance suite run against every
//! backend, plus processing of real SDK envelopes.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod conformance;
mod process;
