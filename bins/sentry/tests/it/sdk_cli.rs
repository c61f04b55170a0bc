//! The real `sentry-cli` (`@sentry/cli`, pinned in
//! `tests/sdk/node/package-lock.json`): `send-event` and `send-envelope`
//! against the ingest endpoints.
//!
//! Needs `bash scripts/install-sdks.sh` first.

use std::path::PathBuf;
use std::process::Command;

use crate::sdk_common::{self, tag};
use crate::server::Server;

fn cli() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk/node/node_modules/.bin/sentry-cli");
    sdk_common::require_installed(&bin, "sentry-cli (@sentry/cli)");
    bin
}

fn run(server: &Server, args: &[&str]) -> String {
    let out = Command::new(cli())
        .args(args)
        .env("SENTRY_DSN", &server.dsn)
        .env("SENTRY_LOG_LEVEL", "warn")
        .env_remove("SENTRY_AUTH_TOKEN")
        .output()
        .expect("run sentry-cli");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "sentry-cli {args:?} failed: {text}");
    text
}

/// The first 32-hex-digit (or hyphenated) id in a text.
fn event_id(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .map(|w| w.replace('-', ""))
        .find(|w| w.len() == 32)
        .unwrap_or_else(|| panic!("no event id in {text:?}"))
}

#[test]
fn sentry_cli_send_event_and_send_envelope() {
    let server = Server::start();

    let out = run(
        &server,
        &[
            "send-event",
            "-m",
            "Deploy of build 4711 failed",
            "--tag",
            "stage:deploy",
            "--release",
            "cli@1.0",
            "--env",
            "ci",
            "--level",
            "warning",
        ],
    );
    let sent = event_id(&out);

    let dir = tempfile::tempdir().unwrap();
    let envelope_id = "0b5e3b1d3c6f4b7e9d2c1a0f8e7d6c5b";
    let event = format!(
        r#"{{"event_id":"{envelope_id}","message":"sent as an envelope","level":"error"}}"#
    );
    let file = dir.path().join("event.envelope");
    std::fs::write(
        &file,
        format!(
            "{{\"event_id\":\"{envelope_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
            event.len()
        ),
    )
    .unwrap();
    run(&server, &["send-envelope", file.to_str().unwrap()]);

    server.wait_for_events(2);
    let e = sdk_common::event(&server, &sent);
    assert_eq!(e["message"], "Deploy of build 4711 failed", "{e:#}");
    assert_eq!(e["level"], "warning");
    assert_eq!(e["release"]["version"], "cli@1.0");
    assert_eq!(e["environment"], "ci");
    assert_eq!(tag(&e, "stage"), Some("deploy"));
    assert_eq!(e["sdk"]["name"], "sentry-cli", "{:#}", e["sdk"]);

    let e = sdk_common::event(&server, envelope_id);
    assert_eq!(e["message"], "sent as an envelope");
    let titles: Vec<String> = server
        .issues("")
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        titles.contains(&"Deploy of build 4711 failed".to_owned()),
        "{titles:?}"
    );
}
