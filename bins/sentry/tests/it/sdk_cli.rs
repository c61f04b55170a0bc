//! The real `sentry-cli` (`@sentry/cli`, pinned in
//! `tests/sdk/node/package-lock.json`): `send-event` and `send-envelope`
//! against the ingest endpoints (`sdk_common::sentry_cli_scenario`).
//!
//! Needs `bash scripts/install-sdks.sh` first.

use crate::sdk_common;
use crate::server::Server;

#[test]
fn sentry_cli_send_event_and_send_envelope() {
    let server = Server::start();
    sdk_common::sentry_cli_scenario(&server);
}
