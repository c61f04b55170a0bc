//! `sentry run` itself: first start, restart, the admin token from the
//! environment, backpressure and CORS preflight.

use std::os::unix::fs::PermissionsExt;

use crate::server::{Server, free_port};

#[test]
fn first_start_bootstraps_and_restart_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let token = "0123456789abcdef0123456789abcdef-from-env";
    let (dsn, project) = {
        let server = Server::start_in(tmp.path(), free_port(), &[("SENTRY_ADMIN_TOKEN", token)]);
        assert_eq!(
            server.token, token,
            "the token comes from SENTRY_ADMIN_TOKEN"
        );
        let path = tmp.path().join("bootstrap.json");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "bootstrap.json is private");
        let boot: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(boot["org"], "sentry");
        assert_eq!(boot["project"], "internal");
        assert_eq!(boot["url"], server.url.as_str());
        assert!(server.dsn.starts_with("http://"));
        assert!(server.dsn.ends_with(&format!(
            "@127.0.0.1:{}/{}",
            server.url.rsplit(':').next().unwrap(),
            server.project_id()
        )));
        let projects = server.get_json("/api/0/organizations/sentry/projects/");
        assert_eq!(projects.as_array().unwrap().len(), 1);
        let teams_project = server.get_json("/api/0/projects/sentry/internal/keys/");
        assert_eq!(teams_project[0]["public"], server.public_key().as_str());
        (server.dsn.clone(), server.project_id())
    };
    // A restart on another port: same project and key, DSN on the new address.
    let server = Server::start_in(tmp.path(), free_port(), &[]);
    assert_eq!(server.token, token);
    assert_eq!(server.project_id(), project);
    assert_eq!(
        server.dsn.split_once('@').unwrap().0,
        dsn.split_once('@').unwrap().0,
        "same key"
    );
    assert_eq!(
        server
            .get_json("/api/0/organizations/sentry/projects/")
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_full_backlog_answers_503_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(tmp.path(), free_port(), &["--max-backlog", "0"], &[]);
    let event = "{\"message\":\"pushed back\"}";
    let body = format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    let r = server.post_envelope(body.as_bytes());
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["detail"].as_str().unwrap().contains("backlog"));
    assert_eq!(server.get("/api/relay/healthcheck/ready/").status, 503);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(server.issues("").is_empty());
}

#[test]
fn cors_preflight_for_browser_sdks() {
    let server = Server::start();
    let r = server.options(&format!("/api/{}/envelope/", server.project_id()));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("x-sentry-auth")
    );
}
