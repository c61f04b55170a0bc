//! The Rust SDK scenario: the real Rust SDK (the `sentry` crate, a
//! dev-dependency) sends the scenarios of `sdk_common` from this process,
//! and a panic, to a server; the checks read them back. Shared by the
//! all-in-one test (`sdk_rust`) and the scaled deployment's end-to-end
//! test (`bins/services/tests/it/e2e.rs`), which includes this file.
//!
//! `capture_error` sends no stack trace on the exception (the Rust SDK has
//! none for a `std::error::Error`): frames and culprits are checked on the
//! panic, which the SDK's panic integration captures with a stack trace.
//!
//! `sentry::init` is process-global: no other test of a binary including
//! this may use the `sentry` crate (or panic) while the scenario runs.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::num::ParseIntError;
use std::time::Duration;

use sentry::protocol::{Breadcrumb, Context, Level, User, Value as SValue};
use sentry::{ClientOptions, Hub};

use crate::sdk_common::{self, Expect, exceptions};
use crate::server::Server;

// --- application code.

#[derive(Debug)]
struct DivisionError {
    #[allow(dead_code)]
    amount: u32,
}

impl fmt::Display for DivisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("division by zero")
    }
}

impl Error for DivisionError {}

#[derive(Debug)]
struct SkuNotFound(String);

impl fmt::Display for SkuNotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no such sku: {}", self.0)
    }
}

impl Error for SkuNotFound {}

#[derive(Debug)]
struct ConfigError {
    source: ParseIntError,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer")
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

#[derive(Debug)]
struct PaymentDeclined;

impl fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("card declined")
    }
}

impl Error for PaymentDeclined {}

#[derive(Debug)]
struct RefundFailed;

impl fmt::Display for RefundFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refund failed")
    }
}

impl Error for RefundFailed {}

fn divide(a: u32, b: u32) -> Result<u32, DivisionError> {
    a.checked_div(b).ok_or(DivisionError { amount: a })
}

fn compute_total(amount: u32, parts: u32) -> Result<u32, DivisionError> {
    divide(amount, parts)
}

fn checkout(amount: u32) -> Result<u32, DivisionError> {
    compute_total(amount, 0)
}

fn lookup_sku(catalog: &BTreeMap<String, u32>) -> Result<u32, SkuNotFound> {
    catalog
        .get("sku-42")
        .copied()
        .ok_or(SkuNotFound("sku-42".into()))
}

fn parse_quantity(text: &str) -> Result<u32, ConfigError> {
    text.parse().map_err(|source| ConfigError { source })
}

#[inline(never)]
fn settle(amount: u32, accounts: u32) -> u32 {
    if accounts == 0 {
        panic!("cannot settle {amount} over zero accounts");
    }
    amount / accounts
}

#[inline(never)]
fn reconcile(amount: u32) -> u32 {
    settle(amount, 0)
}

fn capture<T, E: Error>(result: Result<T, E>) -> String {
    let err = result.err().expect("the scenario did not fail");
    sentry::capture_error(&err).simple().to_string()
}

fn with_fingerprint(fingerprint: &[&str], send: impl FnOnce() -> String) -> String {
    sentry::with_scope(|scope| scope.set_fingerprint(Some(fingerprint)), send)
}

fn message(text: &str, level: Level) -> String {
    sentry::capture_message(text, level).simple().to_string()
}

/// Sends the scenarios of `sdk_common`; returns their event ids.
fn send_scenarios() -> BTreeMap<String, String> {
    sentry::configure_scope(|scope| {
        scope.set_tag("customer.tier", "gold");
        scope.set_tag("feature", "checkout");
        scope.set_user(Some(User {
            id: Some("user-42".into()),
            email: Some("jane@example.com".into()),
            username: Some("jane".into()),
            ..Default::default()
        }));
        let order: BTreeMap<String, SValue> = [
            ("id".to_owned(), SValue::from("order-9")),
            ("items".to_owned(), SValue::from(3)),
            ("total".to_owned(), SValue::from(59.9)),
        ]
        .into();
        scope.set_context("order", Context::Other(order));
    });
    sentry::add_breadcrumb(Breadcrumb {
        category: Some("auth".into()),
        message: Some("User jane logged in".into()),
        level: Level::Info,
        data: [("method".to_owned(), SValue::from("password"))].into(),
        ..Default::default()
    });
    sentry::add_breadcrumb(Breadcrumb {
        category: Some("cart".into()),
        message: Some("Added 3 items to cart".into()),
        level: Level::Info,
        ..Default::default()
    });

    let mut ids = BTreeMap::new();
    let mut send = |name: &str, id: String| {
        ids.insert(name.to_owned(), id);
    };
    for name in ["error_same_1", "error_same_2"] {
        send(name, capture(checkout(10)));
    }
    send("error_other", capture(lookup_sku(&BTreeMap::new())));
    send("chained", capture(parse_quantity("many")));
    send(
        "message_1",
        message("Payment 1234 declined", Level::Warning),
    );
    send(
        "message_2",
        message("Payment 98765 declined", Level::Warning),
    );
    send("message_info", message("Cache warmed", Level::Info));
    send(
        "fingerprint_1",
        with_fingerprint(&["payment-provider-down"], || {
            capture(Err::<(), _>(PaymentDeclined))
        }),
    );
    send(
        "fingerprint_2",
        with_fingerprint(&["payment-provider-down"], || {
            capture(Err::<(), _>(RefundFailed))
        }),
    );
    send(
        "fingerprint_default_a",
        with_fingerprint(&["{{ default }}", "tenant-a"], || capture(checkout(1))),
    );
    send(
        "fingerprint_default_b",
        with_fingerprint(&["{{ default }}", "tenant-b"], || capture(checkout(2))),
    );
    ids
}

/// Runs the Rust SDK scenario against `server` (its DSN receives the
/// events, its API is read back): inits the SDK, sends the scenarios and a
/// panic, flushes, and checks the events and issues.
pub fn rust_sdk_scenario(server: &Server) {
    let mut options = ClientOptions::new();
    options.release = Some("rust-app@3.0.0".into());
    options.environment = Some("staging".into());
    // This test binary's own functions are the application.
    options.in_app_include = vec!["it::"];
    let guard = sentry::init((server.dsn.as_str(), options));
    assert!(guard.is_enabled());
    let ids = send_scenarios();

    // A panic, captured by the SDK's panic hook with a stack trace.
    let panicked = std::panic::catch_unwind(|| reconcile(10));
    assert!(panicked.is_err());
    let panic_id = sentry::last_event_id().expect("the panic was captured");
    let panic_id = panic_id.simple().to_string();
    assert!(
        !ids.values().any(|id| *id == panic_id),
        "the panic has its own event"
    );

    let client = Hub::current().client().expect("a client");
    assert!(
        client.flush(Some(Duration::from_secs(10))),
        "the SDK did not flush"
    );
    drop(guard);

    let x = Expect {
        sdk: "sentry.rust",
        sdk_version: "0.49",
        platform: "native",
        release: "rust-app@3.0.0",
        environment: "staging",
        same_title: "DivisionError: division by zero",
        other_title: "SkuNotFound: no such sku: sku-42",
        chained_types: ["ParseIntError", "ConfigError"],
        chained_title: "ConfigError: outer",
        // `capture_error` sends no frames: they are checked on the panic.
        functions: &[],
        message_titles: ["Payment 1234 declined", "Cache warmed"],
        synthetic_message_stack: false,
        file: "sdk_rust_scenario.rs",
    };
    let panic = sdk_common::event(server, &panic_id);
    sdk_common::check_scope_data("panic", &panic, &x);
    let frames_expect = Expect {
        functions: &["reconcile", "settle"],
        ..x
    };
    sdk_common::check_app_frames("panic", &panic, &frames_expect);
    let value = exceptions(&panic).last().unwrap();
    assert_eq!(value["type"], "panic", "{value:#}");
    assert_eq!(
        value["value"], "cannot settle 10 over zero accounts",
        "{value:#}"
    );
    assert_eq!(value["mechanism"]["handled"], false, "{value:#}");
    assert_eq!(panic["level"], "fatal", "{panic:#}");
    let panic_issue = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{}/",
        panic["groupID"].as_str().unwrap()
    ));
    assert_eq!(
        panic_issue["title"],
        "panic: cannot settle 10 over zero accounts"
    );
    assert_eq!(panic_issue["isUnhandled"], true, "{panic_issue:#}");
    assert_eq!(panic_issue["level"], "fatal");
    assert!(
        panic_issue["culprit"]
            .as_str()
            .is_some_and(|c| c.contains("settle")),
        "{panic_issue:#}"
    );
    sdk_common::check_scenarios(server, &ids, &x, 1);
}
