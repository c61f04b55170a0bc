//! The real JavaScript SDK (`@sentry/node`, pinned in
//! `tests/sdk/node/package-lock.json`) sends the scenarios of `sdk_common`
//! with `tests/sdk/node/send.mjs`.
//!
//! Needs `bash scripts/install-sdks.sh` first (`npm ci` there) and `node` on
//! the PATH.

use std::path::PathBuf;
use std::process::Command;

use crate::sdk_common::{self, Expect, exceptions};
use crate::server::Server;

#[test]
fn sdk_node_events_issues_and_scope_data() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/node");
    sdk_common::require_installed(
        &dir.join("node_modules/@sentry/node/package.json"),
        "the JavaScript SDK (@sentry/node)",
    );
    let server = Server::start();
    let ids = sdk_common::run_script(
        Command::new("node")
            .arg(dir.join("send.mjs"))
            .arg(&server.dsn)
            .current_dir(&dir),
        "send.mjs",
    );
    let x = Expect {
        sdk: "sentry.javascript.node",
        sdk_version: "11.12.0",
        platform: "node",
        release: "node-app@2.0.1",
        environment: "staging",
        same_title: "RangeError: division by zero",
        other_title: "TypeError: Cannot read properties of undefined (reading 'sku')",
        chained_types: ["SyntaxError", "Error"],
        chained_title: "Error: outer",
        functions: &["checkout", "computeTotal", "divide"],
        message_titles: ["reportDeclinedPayment", "reportCacheWarmed"],
        synthetic_message_stack: true,
        file: "send.mjs",
    };
    let events = sdk_common::check_scenarios(&server, &ids, &x, 0);

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
