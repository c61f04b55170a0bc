//! The real JavaScript SDK (`@sentry/node`, pinned in
//! `tests/sdk/node/package-lock.json`) sends the scenarios of `sdk_common`
//! with `tests/sdk/node/send.mjs`.
//!
//! Needs `bash scripts/install-sdks.sh` first (`npm ci` there) and `node` on
//! the PATH.

use std::process::Command;

use crate::sdk_common::{self, exceptions};
use crate::server::Server;

#[test]
fn sdk_node_events_issues_and_scope_data() {
    let dir = sdk_common::node_dir();
    let server = Server::start();
    let ids = sdk_common::run_script(
        Command::new("node")
            .arg(dir.join("send.mjs"))
            .arg(&server.dsn)
            .current_dir(&dir),
        "send.mjs",
    );
    let events = sdk_common::check_scenarios(&server, &ids, &sdk_common::node_expect(), 0);

    // Node specifics: the mechanism, the cause linked by `linkedErrors`, and
    // the custom error class's name as the type.
    let value = exceptions(&events["error_same_1"]).last().unwrap().clone();
    assert_eq!(value["mechanism"]["handled"], true, "{value:#}");
    let chained = exceptions(&events["chained"]);
    assert!(
        chained[0]["value"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{chained:#?}"
    );
    assert_eq!(chained[1]["value"], "outer");
    let frames = chained[1]["stacktrace"]["frames"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f["function"] == "parseQuantity" && f["in_app"] == true)
    );
    let types: Vec<&str> = ["fingerprint_1", "fingerprint_2"]
        .iter()
        .map(|n| {
            exceptions(&events[*n]).last().unwrap()["type"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(types, ["PaymentError", "TypeError"]);
}
