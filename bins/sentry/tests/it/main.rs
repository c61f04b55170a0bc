//! Tests of the `sentry` binary as a user runs it.

// Tests read their own fixtures whole and fail loudly: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, unreachable_pub)]

mod api;
mod bad_input;
mod browser;
mod durability;
mod endpoints;
#[path = "../../../../sentry-eventstore/tests/it/hook_receiver.rs"]
mod hook_receiver;
mod inspect;
mod load;
mod run;
mod sdk_cli;
mod sdk_common;
mod sdk_node;
mod sdk_python;
mod sdk_rust;
mod sdk_rust_scenario;
mod search;
mod security;
mod server;
mod settings;
