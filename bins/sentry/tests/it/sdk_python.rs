//! The real Python SDK (`sentry-sdk`, pinned in `scripts/install-sdks.sh`)
//! sends the scenarios of `sdk_common` with `tests/sdk/python/send.py`.
//!
//! Needs `bash scripts/install-sdks.sh` first; the Python is
//! `$SENTRY_TEST_PYTHON`, else the venv that script makes
//! (`${SDK_DIR:-$HOME/.cache/sentry-rs-sdks}/venv`).

use std::process::Command;

use crate::sdk_common::{self, entry, exceptions};
use crate::server::Server;

#[test]
fn sdk_python_events_issues_and_scope_data() {
    let python = sdk_common::python();
    let dir = sdk_common::sdk_dir("python");
    let server = Server::start();
    let ids = sdk_common::run_script(
        Command::new(&python)
            .arg(dir.join("send.py"))
            .arg(&server.dsn)
            .current_dir(&dir),
        "send.py",
    );
    let events = sdk_common::check_scenarios(&server, &ids, &sdk_common::python_expect(), 0);

    // Python specifics: the mechanism of a captured exception, the cause's
    // value, and the frames of the chained exception.
    let e = &events["error_same_1"];
    let value = exceptions(e).last().unwrap();
    assert_eq!(value["mechanism"]["handled"], true, "{value:#}");
    let chained = exceptions(&events["chained"]);
    assert!(
        chained[0]["value"]
            .as_str()
            .unwrap()
            .contains("invalid literal for int()")
    );
    assert_eq!(chained[1]["value"], "outer");
    let frames = chained[1]["stacktrace"]["frames"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f["function"] == "parse_quantity" && f["in_app"] == true)
    );
    assert_eq!(events["message_1"]["title"], "Payment 1234 declined");
    assert_eq!(
        entry(&events["message_1"], "message").unwrap()["formatted"],
        "Payment 1234 declined"
    );
}

/// Events the SDK drops itself (here in `before_send`) come back in its
/// client report, and the stats endpoint counts them as `client_discard`.
#[test]
fn sdk_python_client_reports_become_outcomes() {
    let python = sdk_common::python();
    let dir = sdk_common::sdk_dir("python");
    let server = Server::start();
    let out = Command::new(&python)
        .arg(dir.join("send.py"))
        .args([server.dsn.as_str(), "--discard", "3"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "send.py --discard failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stats = server.get_json(
            "/api/0/organizations/sentry/stats_v2/?field=sum(quantity)&groupBy=outcome&groupBy=reason&groupBy=category&statsPeriod=1h",
        );
        let discarded = stats["groups"].as_array().unwrap().iter().find(|g| {
            g["by"]["outcome"] == "client_discard"
                && g["by"]["reason"] == "before_send"
                && g["by"]["category"] == "error"
        });
        if let Some(group) = discarded {
            assert_eq!(group["totals"]["sum(quantity)"], 3, "{stats}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no client_discard outcome: {stats}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Nothing was stored.
    assert!(server.issues("").is_empty());
}
