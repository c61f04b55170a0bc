//! Integration tests of the services: the scaled deployment, every service
//! its own process on real PostgreSQL, ClickHouse, Kafka and Redis, fed by
//! the real SDKs of the all-in-one tests.

// Tests fail loudly and read their own files whole: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, unreachable_pub)]

// The client, SDK scripts and expectations of the all-in-one tests.
#[path = "../../../sentry/tests/it/sdk_common.rs"]
#[allow(dead_code)]
mod sdk_common;
// The Rust SDK scenario (the `#[test]` wrapping it, in `sdk_rust.rs`, is
// not included: it starts the all-in-one binary).
#[path = "../../../sentry/tests/it/sdk_rust_scenario.rs"]
mod sdk_rust_scenario;
#[path = "../../../sentry/tests/it/server.rs"]
#[allow(dead_code)]
mod server;

mod cluster;
mod e2e;
mod faults;
#[path = "../../../../sentry-eventstore/tests/it/hook_receiver.rs"]
mod hook_receiver;
mod postprocess;
