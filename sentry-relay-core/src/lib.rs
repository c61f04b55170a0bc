//! Ingest-edge logic of the Sentry data flow (layer 1, pure).
//!
//! This crate will own what an ingest edge decides about an envelope before
//! it enters the stream, as Relay does in Sentry:
//!
//! - project configs and public keys (active, disabled, rate limited);
//! - the checks before accepting an envelope (key, project, size limits);
//! - event normalization (timestamps and clock drift, ids, levels, platform,
//!   titles, culprits, trimming with `_meta` annotations, user agents);
//! - PII scrubbing (default scrubbers and advanced rules);
//! - inbound filters (browser extensions, localhost, crawlers, releases...);
//! - quotas and rate limits per data category, behind a counter trait;
//! - outcomes: why every dropped item was dropped.
//!
//! Everything here is a pure function of its inputs: the current time is an
//! argument, no I/O happens. It builds on [`sentry-envelope`] for the wire
//! format. Nothing is implemented yet.
//!
//! [`sentry-envelope`]: https://docs.rs/sentry-envelope

#![forbid(unsafe_code)]
