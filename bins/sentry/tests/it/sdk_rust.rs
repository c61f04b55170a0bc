//! The Rust SDK scenario (`sdk_rust_scenario`) against the all-in-one
//! server.

use crate::sdk_rust_scenario::rust_sdk_scenario;
use crate::server::Server;

#[test]
fn sdk_rust_events_issues_and_scope_data() {
    rust_sdk_scenario(&Server::start());
}
