//! Integration tests of `sentry-envelope`: real-SDK fixtures, property tests
//! and the decompression-bomb allocation check.

// Tests read their own fixtures whole and fail loudly: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[allow(unsafe_code)] // a counting global allocator; see the SAFETY note there
mod alloc;
mod fixtures;
mod properties;
