//! Integration tests of `sentry-relay-core`: events from real SDKs,
//! properties of normalization, and (feature `redis`) the Redis quota
//! counter against a real server.

// Tests read their own fixtures whole and fail loudly: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod filter;
mod fixtures;
mod normalize_properties;
mod normalize_snapshots;
mod pii;
mod properties;
mod quota;
#[cfg(feature = "redis")]
mod redis;
