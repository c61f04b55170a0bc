//! `sentry envelope inspect` on every real-SDK envelope fixture, and on
//! malformed input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn sentry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentry"))
}

fn inspect_file(path: &Path, extra: &[&str]) -> Output {
    sentry()
        .args(["envelope", "inspect"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap()
}

fn inspect_stdin(input: &[u8]) -> Output {
    let mut child = sentry()
        .args(["envelope", "inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sentry-envelope/fixtures")
}

#[test]
fn inspects_every_envelope_fixture() {
    let mut checked = 0;
    for sdk in ["python", "node", "rust"] {
        for entry in std::fs::read_dir(fixtures().join(sdk)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "body") {
                continue;
            }
            let meta: Value =
                serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap())
                    .unwrap();
            let out = inspect_file(&path, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {stderr}", path.display());
            let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
            let expected_encoding = meta["headers"]["content-encoding"]
                .as_str()
                .unwrap_or("identity");
            assert_eq!(summary["encoding"], expected_encoding, "{}", path.display());
            let items = summary["items"].as_array().unwrap();
            assert!(!items.is_empty(), "{}", path.display());
            for item in items {
                assert!(
                    item["type"].is_string() && item["length"].is_u64(),
                    "{item}"
                );
            }
            if items.iter().any(|i| i["type"] == "event") {
                let id = summary["event_id"].as_str().expect("event id");
                assert_eq!(id.len(), 32);
                assert_eq!(
                    items.iter().find(|i| i["type"] == "event").unwrap()["data_category"],
                    "error"
                );
            }
            // Naming the encoding gives the same answer as sniffing it.
            let named = inspect_file(&path, &["--encoding", expected_encoding]);
            assert!(named.status.success(), "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} envelopes inspected");
}

#[test]
fn reads_stdin() {
    let out = inspect_stdin(b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"attachment\",\"length\":3,\"filename\":\"a.txt\"}\nabc\n");
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
    assert_eq!(summary["items"][0]["type"], "attachment");
    assert_eq!(summary["items"][0]["length"], 3);
    assert_eq!(summary["items"][0]["attachment_type"], "event.attachment");
    assert_eq!(summary["items"][0]["quantities"]["attachment"], 3);
}

#[test]
fn rejects_malformed_input_with_one_line() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "missing envelope header at byte 0"),
        (
            b"{}\n{\"type\":\"event\",\"length\":50}\n{}\n",
            "unexpected end of envelope at byte 35",
        ),
        (
            b"{}\n{\"type\":\"event\",\"length\":1}\n{}\n",
            "missing newline after header or payload at byte 32",
        ),
        (b"{}\n{\"type\":\"event\"\n", "invalid item header"),
        (b"not json\n", "invalid envelope header"),
        (
            b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"transaction\"}\n{}\n",
            "duplicate event item: transaction after event",
        ),
    ];
    for (input, expected) in cases {
        let out = inspect_stdin(input);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(input)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(expected),
            "{stderr:?} should contain {expected:?}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn rejects_a_truncated_gzip_body() {
    let path = fixtures().join("python/exception.body");
    let body = std::fs::read(&path).unwrap();
    let out = inspect_stdin(&body[..body.len() / 2]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid gzip body"));
}

#[test]
fn missing_file_is_an_error() {
    let out = inspect_file(Path::new("/nonexistent/envelope"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("opening /nonexistent/envelope"));
}
