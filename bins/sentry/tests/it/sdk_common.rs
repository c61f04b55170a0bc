//! What the end-to-end tests with real SDKs (`sdk_rust`, `sdk_python`,
//! `sdk_node`) share: running an SDK script, and checking through the web
//! API what a server made of the scenarios every SDK sends.
//!
//! The scenarios (the same names in `tests/sdk/python/send.py`,
//! `tests/sdk/node/send.mjs` and `sdk_rust.rs`), all sent with a release, an
//! environment, two tags, a user, an `order` context and two breadcrumbs:
//!
//! | scenario | what | expected issue |
//! |---|---|---|
//! | `error_same_1`, `error_same_2` | the same exception from the same code path | one issue, count 2 |
//! | `error_other` | another exception type from another function | its own issue |
//! | `chained` | an exception caused by another | its own issue, two exception values |
//! | `message_1`, `message_2` | warnings differing only in a number | one issue, count 2 |
//! | `message_info` | another message at level info (from another function) | its own issue |
//! | `fingerprint_1`, `fingerprint_2` | two exception types with fingerprint `["payment-provider-down"]` | one issue, count 2 |
//! | `fingerprint_default_a`, `_b` | the `error_same` exception with `["{{ default }}", "tenant-a"/"tenant-b"]` | one issue each |

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::Server;

/// The events every SDK sends, in order.
pub const SCENARIOS: [&str; 11] = [
    "error_same_1",
    "error_same_2",
    "error_other",
    "chained",
    "message_1",
    "message_2",
    "message_info",
    "fingerprint_1",
    "fingerprint_2",
    "fingerprint_default_a",
    "fingerprint_default_b",
];

/// The issues the scenarios make.
pub const ISSUES: usize = 8;

/// What one SDK's events look like.
pub struct Expect {
    /// `sdk.name`.
    pub sdk: &'static str,
    /// `sdk.version` starts with this.
    pub sdk_version: &'static str,
    pub platform: &'static str,
    pub release: &'static str,
    pub environment: &'static str,
    /// The title of `error_same_*`, e.g. `ZeroDivisionError: division by zero`.
    pub same_title: &'static str,
    /// The title of `error_other`.
    pub other_title: &'static str,
    /// The exception types of `chained`, innermost first.
    pub chained_types: [&'static str; 2],
    /// The title of `chained`.
    pub chained_title: &'static str,
    /// Whether exceptions carry stack traces, so that frames and culprits
    /// can be checked: the application functions on the path of
    /// `error_same_*`, outermost first, as the SDK names them.
    pub functions: &'static [&'static str],
    /// The titles of the issues of `message_1`/`message_2` and of
    /// `message_info`.
    pub message_titles: [&'static str; 2],
    /// Whether the SDK attaches the stack of `capture_message` as a
    /// synthetic exception (@sentry/node does by default). Sentry then
    /// groups by that stack, and titles the issue after the function that
    /// captured the message.
    pub synthetic_message_stack: bool,
    /// The file the application frames are in (a suffix of `filename` or
    /// `abs_path`).
    pub file: &'static str,
}

/// The directory of an SDK's test script (`python`, `node`), under
/// bins/sentry/tests/sdk (also from the tests of bins/services).
pub fn sdk_dir(sdk: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sentry/tests/sdk")
        .join(sdk)
}

/// The Python that has the SDK: `$SENTRY_TEST_PYTHON`, else the venv of
/// scripts/install-sdks.sh (`${SDK_DIR:-$HOME/.cache/sentry-rs-sdks}/venv`).
pub fn python() -> PathBuf {
    let python = match std::env::var_os("SENTRY_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("SDK_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sentry-rs-sdks")
            }
        }
        .join("venv/bin/python"),
    };
    require_installed(&python, "the Python SDK");
    python
}

/// The directory of the Node script, with @sentry/node installed.
pub fn node_dir() -> PathBuf {
    let dir = sdk_dir("node");
    require_installed(
        &dir.join("node_modules/@sentry/node/package.json"),
        "the JavaScript SDK (@sentry/node)",
    );
    dir
}

/// What `tests/sdk/python/send.py` sends.
pub fn python_expect() -> Expect {
    Expect {
        sdk: "sentry.python",
        sdk_version: "2.75.0",
        platform: "python",
        release: "python-app@1.2.3",
        environment: "staging",
        same_title: "ZeroDivisionError: division by zero",
        other_title: "KeyError: 'sku-42'",
        chained_types: ["ValueError", "RuntimeError"],
        chained_title: "RuntimeError: outer",
        functions: &["checkout", "compute_total", "divide"],
        message_titles: ["Payment 1234 declined", "Cache warmed"],
        synthetic_message_stack: false,
        file: "send.py",
    }
}

/// What `tests/sdk/node/send.mjs` sends.
pub fn node_expect() -> Expect {
    Expect {
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
    }
}

/// Runs an SDK script to completion; it prints `{"scenario": "event id"}`.
/// Fails with the script's output when it exits non-zero.
pub fn run_script(cmd: &mut Command, what: &str) -> BTreeMap<String, String> {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({cmd:?}): {e}; run scripts/install-sdks.sh")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}); is the SDK installed (`bash scripts/install-sdks.sh`)?\n\
         stdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    eprintln!("{what} ran in {:?}", started.elapsed());
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{what} printed no JSON:\nstdout: {stdout}\nstderr: {stderr}"));
    let ids: BTreeMap<String, String> = serde_json::from_str(line).unwrap();
    for name in SCENARIOS {
        let id = ids
            .get(name)
            .unwrap_or_else(|| panic!("{what} sent no {name}: {ids:?}"));
        assert_eq!(id.len(), 32, "{name}: event id {id}");
    }
    ids
}

/// Fails unless `path` exists, telling how to install the SDKs.
pub fn require_installed(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is not installed ({} is missing): run `bash scripts/install-sdks.sh` \
         (or set SENTRY_TEST_PYTHON for Python)",
        path.display()
    );
}

/// The full event with id `event_id` (32 hex digits), waiting for it to be
/// stored.
pub fn event(server: &Server, event_id: &str) -> Value {
    let path = format!("/api/0/projects/sentry/internal/events/{event_id}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = server.get(&path);
        if r.status == 200 {
            return r.json();
        }
        assert!(
            r.status == 404 && Instant::now() < deadline,
            "GET {path}: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of a tag of an event.
pub fn tag<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no tags: {event}"))
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
}

/// The `data` of the event's entry of a type.
pub fn entry<'a>(event: &'a Value, ty: &str) -> Option<&'a Value> {
    event["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == ty)
        .map(|e| &e["data"])
}

/// The exception values of an event (innermost first).
pub fn exceptions(event: &Value) -> &Vec<Value> {
    entry(event, "exception").unwrap_or_else(|| panic!("no exception entry: {event:#}"))["values"]
        .as_array()
        .unwrap()
}

/// Asserts what every event of the scenarios carries from the SDK's
/// options and scope.
pub fn check_scope_data(name: &str, e: &Value, x: &Expect) {
    let ctx = format!("{name}: {e:#}");
    assert_eq!(e["sdk"]["name"], x.sdk, "{ctx}");
    assert!(
        e["sdk"]["version"]
            .as_str()
            .unwrap_or("")
            .starts_with(x.sdk_version),
        "{ctx}"
    );
    assert_eq!(e["platform"], x.platform, "{ctx}");
    assert_eq!(e["release"]["version"], x.release, "{ctx}");
    assert_eq!(e["environment"], x.environment, "{ctx}");
    assert_eq!(e["user"]["id"], "user-42", "{ctx}");
    assert_eq!(e["user"]["email"], "jane@example.com", "{ctx}");
    assert_eq!(e["user"]["username"], "jane", "{ctx}");
    assert_eq!(tag(e, "customer.tier"), Some("gold"), "{ctx}");
    assert_eq!(tag(e, "feature"), Some("checkout"), "{ctx}");
    assert_eq!(tag(e, "environment"), Some(x.environment), "{ctx}");
    assert_eq!(tag(e, "sentry:release"), Some(x.release), "{ctx}");
    assert_eq!(tag(e, "level"), e["level"].as_str(), "{ctx}");
    let user_tag = tag(e, "sentry:user").unwrap_or_else(|| panic!("no sentry:user tag: {ctx}"));
    assert!(user_tag.contains("user-42"), "{ctx}");
    let order = &e["contexts"]["order"];
    assert_eq!(order["id"], "order-9", "{ctx}");
    assert_eq!(order["items"], 3, "{ctx}");
    let crumbs =
        entry(e, "breadcrumbs").unwrap_or_else(|| panic!("no breadcrumbs: {ctx}"))["values"]
            .as_array()
            .unwrap();
    let login = crumbs
        .iter()
        .find(|c| c["message"] == "User jane logged in")
        .unwrap_or_else(|| panic!("no login breadcrumb: {ctx}"));
    assert_eq!(login["category"], "auth", "{ctx}");
    // A new project scrubs with Sentry's defaults: the value "password"
    // matches the password rule.
    assert_eq!(login["data"]["method"], "[Filtered]", "{ctx}");
    assert!(
        crumbs
            .iter()
            .any(|c| c["message"] == "Added 3 items to cart"),
        "{ctx}"
    );
}

/// Asserts that the last (outermost) exception's stack trace holds the
/// application functions `x.functions`, outermost first, in `x.file`, in_app.
pub fn check_app_frames(name: &str, e: &Value, x: &Expect) {
    let values = exceptions(e);
    let frames = values.last().unwrap()["stacktrace"]["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no frames: {e:#}"));
    let mut positions = Vec::new();
    for function in x.functions {
        let (i, frame) = frames
            .iter()
            .enumerate()
            .find(|(_, f)| {
                f["function"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(function))
            })
            .unwrap_or_else(|| panic!("{name}: no frame of {function}: {frames:#?}"));
        assert_eq!(frame["in_app"], true, "{name}: {frame:#}");
        let file = frame["abs_path"]
            .as_str()
            .or(frame["filename"].as_str())
            .unwrap_or("");
        assert!(file.ends_with(x.file), "{name}: {frame:#}");
        assert!(
            frame["lineno"].as_u64().unwrap_or(0) > 0,
            "{name}: {frame:#}"
        );
        positions.push(i);
    }
    // Sentry orders frames oldest call first: the crashing one is last.
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{name}: {frames:#?}"
    );
    assert!(
        e["culprit"].as_str().is_some_and(|c| !c.is_empty()),
        "{name}: empty culprit: {e:#}"
    );
}

/// Asserts what the server made of the scenarios: the events, and how they
/// were grouped into issues. `other_issues` more issues of one event each
/// were sent besides the scenarios. Returns the events by scenario.
pub fn check_scenarios(
    server: &Server,
    ids: &BTreeMap<String, String>,
    x: &Expect,
    other_issues: usize,
) -> BTreeMap<String, Value> {
    let issues = server.wait_for_events((SCENARIOS.len() + other_issues) as u64);
    let events: BTreeMap<String, Value> = SCENARIOS
        .iter()
        .map(|name| (name.to_string(), event(server, &ids[*name])))
        .collect();
    for (name, e) in &events {
        assert_eq!(e["eventID"], ids[name.as_str()], "{name}");
        check_scope_data(name, e, x);
    }
    let group = |name: &str| events[name]["groupID"].as_str().unwrap().to_owned();
    let issue = |name: &str| -> &Value {
        let id = group(name);
        issues
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{name}: issue {id} not listed: {issues:#?}"))
    };
    let summary: Vec<String> = issues
        .iter()
        .map(|i| format!("{} x{} [{}]", i["title"], i["count"], i["level"]))
        .collect();

    // The grouping: eight issues, paired as the scenarios intend.
    assert_eq!(issues.len(), ISSUES + other_issues, "{summary:#?}");
    let groups: BTreeSet<String> = SCENARIOS.iter().map(|n| group(n)).collect();
    assert_eq!(groups.len(), ISSUES, "{summary:#?}");
    for (a, b) in [
        ("error_same_1", "error_same_2"),
        ("message_1", "message_2"),
        ("fingerprint_1", "fingerprint_2"),
    ] {
        assert_eq!(
            group(a),
            group(b),
            "{a} and {b} are one issue: {summary:#?}"
        );
        assert_eq!(issue(a)["count"], "2", "{a}: {summary:#?}");
        assert_eq!(issue(a)["userCount"], 1, "{a}: {:#}", issue(a));
    }
    for name in [
        "error_other",
        "chained",
        "message_info",
        "fingerprint_default_a",
    ] {
        assert_eq!(issue(name)["count"], "1", "{name}: {summary:#?}");
    }
    for i in &issues {
        assert_eq!(i["project"]["slug"], "internal");
        assert_eq!(i["status"], "unresolved");
        assert_eq!(i["platform"], x.platform, "{i:#}");
        assert!(i["culprit"].is_string(), "culprit is a string: {i:#}");
    }

    // Exceptions: titles, culprits, levels, metadata.
    let same = issue("error_same_1");
    assert_eq!(same["title"], x.same_title, "{same:#}");
    assert_eq!(same["level"], "error", "{same:#}");
    assert_eq!(same["isUnhandled"], false, "{same:#}");
    let (ty, value) = x.same_title.split_once(": ").unwrap();
    assert_eq!(same["metadata"]["type"], ty, "{same:#}");
    assert_eq!(same["metadata"]["value"], value, "{same:#}");
    assert_eq!(events["error_same_1"]["title"], x.same_title);
    assert_eq!(issue("error_other")["title"], x.other_title);
    assert_eq!(issue("chained")["title"], x.chained_title);
    if !x.functions.is_empty() {
        for name in ["error_same_1", "error_same_2", "error_other", "chained"] {
            assert!(
                issue(name)["culprit"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty()),
                "{name}: empty culprit: {:#}",
                issue(name)
            );
        }
        check_app_frames("error_same_1", &events["error_same_1"], x);
        check_app_frames("error_same_2", &events["error_same_2"], x);
        let metadata = &same["metadata"];
        assert!(
            metadata["function"]
                .as_str()
                .is_some_and(|f| f.ends_with(x.functions.last().unwrap())),
            "{same:#}"
        );
    }
    for name in ["error_same_1", "error_other", "chained", "fingerprint_1"] {
        let e = &events[name];
        assert_eq!(e["level"], "error", "{name}");
        assert!(entry(e, "exception").is_some(), "{name}");
    }

    // The chained exception: both values, innermost first.
    let chained = exceptions(&events["chained"]);
    let types: Vec<&str> = chained
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, x.chained_types, "{chained:#?}");

    // Messages: parameterized into one issue (or grouped by their synthetic
    // stack), with their level.
    let message = issue("message_1");
    assert_eq!(message["level"], "warning", "{message:#}");
    // An issue is titled after its latest event, as in Sentry.
    assert_eq!(
        message["title"],
        x.message_titles[0].replace("1234", "98765"),
        "{message:#}"
    );
    for (name, text) in [
        ("message_1", "Payment 1234 declined"),
        ("message_2", "Payment 98765 declined"),
        ("message_info", "Cache warmed"),
    ] {
        let e = &events[name];
        assert_eq!(e["message"], text, "{name}: {e:#}");
        let logentry = entry(e, "message").unwrap_or_else(|| panic!("{name}: {e:#}"));
        assert_eq!(logentry["formatted"], text, "{name}: {logentry}");
        if x.synthetic_message_stack {
            let values = exceptions(e);
            assert_eq!(values.len(), 1, "{name}: {values:#?}");
            assert_eq!(
                values[0]["mechanism"]["synthetic"], true,
                "{name}: {values:#?}"
            );
            assert_eq!(values[0]["value"], text, "{name}");
        } else {
            assert!(entry(e, "exception").is_none(), "{name}: {e:#}");
        }
    }
    assert_eq!(events["message_1"]["level"], "warning");
    assert_eq!(events["message_2"]["level"], "warning");
    assert_eq!(issue("message_info")["level"], "info");
    assert_eq!(issue("message_info")["title"], x.message_titles[1]);
    assert_eq!(events["message_info"]["level"], "info");

    // Fingerprints: the SDK's list is kept on the event.
    for (name, fingerprint) in [
        ("fingerprint_1", vec!["payment-provider-down"]),
        ("fingerprint_2", vec!["payment-provider-down"]),
        ("fingerprint_default_a", vec!["{{ default }}", "tenant-a"]),
        ("fingerprint_default_b", vec!["{{ default }}", "tenant-b"]),
    ] {
        assert_eq!(
            events[name]["fingerprints"],
            serde_json::json!(fingerprint),
            "{name}"
        );
    }
    // The issue is titled after its latest event (either one when an SDK
    // stamped both in the same millisecond).
    let title = &issue("fingerprint_1")["title"];
    let (t1, t2) = (
        events["fingerprint_1"]["dateCreated"].as_str().unwrap(),
        events["fingerprint_2"]["dateCreated"].as_str().unwrap(),
    );
    let latest: Vec<&Value> = match t1.cmp(t2) {
        std::cmp::Ordering::Less => vec![&events["fingerprint_2"]["title"]],
        std::cmp::Ordering::Greater => vec![&events["fingerprint_1"]["title"]],
        std::cmp::Ordering::Equal => vec![
            &events["fingerprint_1"]["title"],
            &events["fingerprint_2"]["title"],
        ],
    };
    assert!(
        latest.contains(&title),
        "{title} is not the latest of {latest:?}"
    );
    assert_ne!(
        events["fingerprint_1"]["title"], events["fingerprint_2"]["title"],
        "two different exceptions"
    );
    assert_eq!(issue("fingerprint_default_a")["title"], x.same_title);
    assert_eq!(issue("fingerprint_default_b")["title"], x.same_title);

    // The issue's events list holds both events of a pair.
    let listed = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{}/events/",
        group("error_same_1")
    ));
    let listed: BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> =
        [ids["error_same_1"].as_str(), ids["error_same_2"].as_str()].into();
    assert_eq!(listed, expected);
    events
}

/// The real `sentry-cli` of `@sentry/cli` (installed with the Node SDK).
fn cli() -> PathBuf {
    let bin = sdk_dir("node").join("node_modules/.bin/sentry-cli");
    require_installed(&bin, "sentry-cli (@sentry/cli)");
    bin
}

fn run_cli(server: &Server, args: &[&str]) -> String {
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

/// `sentry-cli send-event` and `send-envelope` to `server.dsn`: both
/// events arrive with what the command line said.
pub fn sentry_cli_scenario(server: &Server) {
    let out = run_cli(
        server,
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
    let payload = format!(
        r#"{{"event_id":"{envelope_id}","message":"sent as an envelope","level":"error"}}"#
    );
    let file = dir.path().join("event.envelope");
    std::fs::write(
        &file,
        format!(
            "{{\"event_id\":\"{envelope_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{payload}\n",
            payload.len()
        ),
    )
    .unwrap();
    run_cli(server, &["send-envelope", file.to_str().unwrap()]);

    server.wait_for_events(2);
    let e = event(server, &sent);
    assert_eq!(e["message"], "Deploy of build 4711 failed", "{e:#}");
    assert_eq!(e["level"], "warning");
    assert_eq!(e["release"]["version"], "cli@1.0");
    assert_eq!(e["environment"], "ci");
    assert_eq!(tag(&e, "stage"), Some("deploy"));
    assert_eq!(e["sdk"]["name"], "sentry-cli", "{:#}", e["sdk"]);

    let e = event(server, envelope_id);
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
