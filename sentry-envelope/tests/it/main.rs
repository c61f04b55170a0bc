//! Integration tests of `sentry-envelope`: real-SDK fixtures, property tests
//! and the decompression-bomb allocation check.

#[allow(unsafe_code)] // a counting global allocator; see the SAFETY note there
mod alloc;
mod fixtures;
mod properties;
