//! The web UI in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, from `bash scripts/install-browser.sh`).
//!
//! One user's path through the UI: sign in, find an issue by search, open
//! it, read its top in-app frame, resolve it and see it leave the
//! unresolved list, create a project, copy its DSN, send an event to it with
//! the real Python SDK and see the event's issue appear.
//!
//! With `SENTRY_SCREENSHOTS=DIR` the test also saves the issue list and the
//! issue detail at desktop and phone width (the book's screenshots).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::server::{Server, free_port};

const PASSWORD: &str = "a long browser-test passphrase";

/// `chromedriver` on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} ({e}): run `bash scripts/install-browser.sh`")
            });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(format!("{url}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url,
            _profile: tempfile::tempdir().unwrap(),
        }
    }

    async fn client(&self) -> Client {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--hide-scrollbars", "--window-size=1280,900",
                    format!("--user-data-dir={}", self._profile.path().display()),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn createuser(server: &Server, email: &str, role: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_sentry"))
        .args(["createuser", "--data-dir"])
        .arg(&server.data_dir)
        .args(["--email", email, "--password", PASSWORD, "--role", role])
        .output()
        .unwrap();
    assert!(out.status.success(), "createuser: {out:?}");
}

/// Stores an error event through the store endpoint.
fn send_error(server: &Server, ty: &str, value: &str, function: &str, area: &str) {
    let mut event = json!({
        "platform": "python",
        "level": "error",
        "release": "shop@1.4.0",
        "environment": "production",
        "user": {"id": "7", "email": "buyer@example.com"},
        "tags": {"shop.area": area},
        "exception": {"values": [{
            "type": ty,
            "value": value,
            "mechanism": {"type": "generic", "handled": false},
            "stacktrace": {"frames": [
                {"filename": "django/core/handlers/base.py", "function": "get_response",
                 "lineno": 181, "in_app": false},
                {"filename": "shop/views.py", "function": function, "lineno": 42, "in_app": true,
                 "pre_context": ["def checkout(cart):", "    total = sum(cart)"],
                 "context_line": "    return total / len(cart)",
                 "post_context": [""],
                 "vars": {"cart": "[]", "total": "0"}},
            ]},
        }]},
        "breadcrumbs": {"values": [
            {"timestamp": 1_700_000_000, "category": "http", "message": "POST /cart/checkout"},
        ]},
        "request": {"method": "POST", "url": "https://shop.example.com/cart/checkout",
                    "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"}},
        "contexts": {"os": {"name": "Linux", "version": "6.1"},
                     "runtime": {"name": "CPython", "version": "3.11.4"}},
    });
    if area == "old" {
        // Twenty days ago: outside the list's default range of 14 days.
        event["timestamp"] = json!(chrono::Utc::now().timestamp() - 20 * 86_400);
    }
    let reply = server.post_raw(
        &format!("/api/{}/store/", server.project_id()),
        &[
            ("Content-Type", "application/json"),
            (
                "X-Sentry-Auth",
                &format!(
                    "Sentry sentry_version=7, sentry_key={}",
                    server.public_key()
                ),
            ),
        ],
        event.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(element.text().await.unwrap());
    }
    out
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Clicks something that loads a new page, and waits for that page.
async fn submit(client: &Client, css: &str) {
    let old = client.find(Locator::Css("html")).await.unwrap();
    click(client, css).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    // The old document's element goes stale once the new page replaces it.
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "clicking {css} loaded no page");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    loop {
        let state = client
            .execute("return document.readyState", vec![])
            .await
            .unwrap();
        if state == "complete" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page after {css} did not load"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_owned()
}

/// Saves the page at desktop and phone width when screenshots are asked
/// for; checks either way that a screenshot is a PNG.
async fn screenshots(client: &Client, dir: Option<&Path>, name: &str) {
    for (width, height, suffix) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        client.set_window_size(width, height).await.unwrap();
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        if let Some(dir) = dir {
            std::fs::write(dir.join(format!("{name}-{suffix}.png")), png).unwrap();
        }
    }
    client.set_window_size(1280, 900).await.unwrap();
}

#[test]
fn browser_sign_in_triage_and_new_project() {
    let server = Server::start();
    createuser(&server, "dev@example.com", "owner");
    send_error(
        &server,
        "ZeroDivisionError",
        "division by zero",
        "checkout",
        "checkout",
    );
    send_error(&server, "KeyError", "'sku'", "add_to_cart", "cart");
    send_error(&server, "TimeoutError", "gateway", "pay", "old");
    server.wait_for_events(3);
    let shots: Option<PathBuf> = std::env::var_os("SENTRY_SCREENSHOTS").map(PathBuf::from);
    if let Some(dir) = &shots {
        std::fs::create_dir_all(dir).unwrap();
    }
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = driver.client().await;
        let base = &server.url;

        // Anonymous: the issue list sends us to sign in, then back.
        client
            .goto(&format!("{base}/organizations/sentry/issues/"))
            .await
            .unwrap();
        assert_eq!(path(&client).await, "/auth/login/");
        fill(&client, "#email", "dev@example.com").await;
        fill(&client, "#password", "not the password").await;
        submit(&client, "form button[type=submit]").await;
        assert!(text(&client, ".notice.error").await.contains("Incorrect"));
        fill(&client, "#email", "dev@example.com").await;
        fill(&client, "#password", PASSWORD).await;
        submit(&client, "form button[type=submit]").await;
        assert_eq!(path(&client).await, "/organizations/sentry/issues/");
        let titles = texts(&client, "tr.issue a.title").await;
        assert_eq!(titles.len(), 2, "{titles:?}");
        screenshots(&client, shots.as_deref(), "issue-list").await;

        // The time range filter: the 20-day-old issue shows in 30 days.
        client
            .find(Locator::Css("#period option[value='30d']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        submit(&client, "form.search button[type=submit]").await;
        let titles = texts(&client, "tr.issue a.title").await;
        assert_eq!(titles.len(), 3, "{titles:?}");
        assert!(titles.contains(&"TimeoutError: gateway".to_owned()));

        // Find the issue by an event-level search.
        fill(&client, "#query", "is:unresolved shop.area:checkout").await;
        submit(&client, "form.search button[type=submit]").await;
        let titles = texts(&client, "tr.issue a.title").await;
        assert_eq!(titles, ["ZeroDivisionError: division by zero"]);

        // Open it and read the top in-app frame.
        submit(&client, "tr.issue a.title").await;
        assert!(
            path(&client)
                .await
                .starts_with("/organizations/sentry/issues/")
        );
        assert_eq!(
            text(&client, "h1").await,
            "ZeroDivisionError: division by zero"
        );
        let top = ".frame.in-app";
        assert_eq!(
            text(&client, &format!("{top} .file")).await,
            "shop/views.py"
        );
        assert_eq!(text(&client, &format!("{top} .function")).await, "checkout");
        assert_eq!(text(&client, &format!("{top} .line")).await, "42");
        assert_eq!(
            text(&client, &format!("{top} li.current")).await.trim(),
            "return total / len(cart)"
        );
        assert!(
            text(&client, &format!("{top} table.vars"))
                .await
                .contains("cart")
        );
        // The system frame is there too, but not in-app.
        assert_eq!(
            text(&client, ".frame.system .function").await,
            "get_response"
        );
        assert!(text(&client, "#h-tags").await.contains("Tags"));
        assert!(text(&client, ".side-col").await.contains("checkout"));
        assert!(
            text(&client, "table.crumbs")
                .await
                .contains("POST /cart/checkout")
        );
        assert!(text(&client, ".side-col").await.contains("CPython"));
        screenshots(&client, shots.as_deref(), "issue-detail").await;

        // Resolve it; it leaves the unresolved list, the other one stays.
        submit(&client, "form.actions button[value=resolve]").await;
        assert_eq!(text(&client, ".issue-head .status").await, "resolved");
        client
            .goto(&format!("{base}/organizations/sentry/issues/"))
            .await
            .unwrap();
        let titles = texts(&client, "tr.issue a.title").await;
        assert_eq!(titles, ["KeyError: 'sku'"]);

        // Create a project for Python and copy its DSN.
        client
            .goto(&format!("{base}/organizations/sentry/projects/new/"))
            .await
            .unwrap();
        click(&client, "input[name=platform][value=python]").await;
        fill(&client, "#name", "Checkout Service").await;
        submit(&client, "form.stack button[type=submit]").await;
        assert_eq!(
            path(&client).await,
            "/settings/sentry/projects/checkout-service/"
        );
        click(&client, "button[data-copy=dsn]").await;
        assert_eq!(text(&client, "button[data-copy=dsn]").await, "Copied");
        let dsn = client
            .find(Locator::Id("dsn"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        assert!(dsn.starts_with("http://") && dsn.contains('@'), "{dsn}");
        assert!(text(&client, "pre.snippet").await.contains(&dsn));
        assert!(
            text(&client, "pre.snippet")
                .await
                .contains("sentry_sdk.init")
        );

        // The real Python SDK sends to that DSN; the issue shows up.
        let python = crate::sdk_common::python();
        let out = Command::new(python)
            .args([
                "-c",
                "import sys, sentry_sdk\n\
                 sentry_sdk.init(dsn=sys.argv[1])\n\
                 sentry_sdk.capture_message('hello from the checkout service')\n\
                 sentry_sdk.flush()",
                &dsn,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            client
                .goto(&format!(
                    "{base}/organizations/sentry/issues/?query=is:unresolved"
                ))
                .await
                .unwrap();
            let titles = texts(&client, "tr.issue a.title").await;
            if titles
                .iter()
                .any(|t| t == "hello from the checkout service")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the new event never showed: {titles:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Filtering by the new project shows only its issue.
        client
            .goto(&format!("{base}/organizations/sentry/projects/"))
            .await
            .unwrap();
        assert!(text(&client, "ul.cards").await.contains("Checkout Service"));

        // Sign out: the list needs signing in again.
        submit(&client, "form.signout button").await;
        assert_eq!(path(&client).await, "/auth/login/");
        client
            .goto(&format!("{base}/organizations/sentry/issues/"))
            .await
            .unwrap();
        assert_eq!(path(&client).await, "/auth/login/");
        client.close().await.unwrap();
    });
}
