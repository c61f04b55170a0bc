//! Integration tests of `sentry-relay-core`: events from real SDKs, and
//! properties of normalization.

// Tests read their own fixtures whole and fail loudly: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod filter;
mod fixtures;
mod pii;
mod properties;
mod quota;
