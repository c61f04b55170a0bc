//! Silo routing for a Sentry deployment split across regions (layer 1, pure).
//!
//! This crate will own the silo modes of Sentry (control, region, monolith),
//! the directory of regions, and the routing rules that decide which silo and
//! which region answers a request (by organization slug, by API path, by
//! project key). It performs no I/O. Nothing is implemented yet.

#![forbid(unsafe_code)]
