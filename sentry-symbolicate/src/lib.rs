//! Symbolication of stack traces (layers 1 and 2).
//!
//! This crate will own the resolution of raw frames into functions, files
//! and lines: native frames through the `symbolic` crates and debug files
//! (uploaded by `sentry-cli` or fetched from symbol sources), JavaScript frames
//! through the `sourcemap` crate, and the caches in front of both. Nothing is
//! implemented yet.

#![forbid(unsafe_code)]
