//! The web API and UI (layer 2, service).
//!
//! This crate will own the HTTP API under `/api/0/` with Sentry's paths and
//! JSON shapes (organizations, projects, keys, issues, events, releases),
//! bearer-token auth and cursor pagination, so that `sentry-cli` and users'
//! scripts work against it, and the server-rendered web UI. Nothing is
//! implemented yet.

#![forbid(unsafe_code)]
