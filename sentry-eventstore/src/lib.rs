//! Where events and their metadata are kept (layer 2, storage).
//!
//! This crate will own:
//!
//! - the nodestore, which keeps the full payload of every event;
//! - grouping: fingerprints and hashes that put events into issues;
//! - the metadata models (organizations, projects, keys, issues, releases,
//!   environments, users, API tokens) with migrations for SQLite and
//!   PostgreSQL, chosen by URL at run time;
//! - saving an event, idempotent on its event id.
//!
//! Nothing is implemented yet.

#![forbid(unsafe_code)]
