//! The web API: projects, keys, service hooks, issues and events, as
//! `sentry-cli` and the Sentry docs use them.

use serde_json::{Value, json};

use crate::server::Server;

fn error_envelope(ty: &str, value: &str, function: &str, user: &str) -> Vec<u8> {
    let event = json!({
        "platform": "python",
        "release": "app@1.0",
        "environment": "production",
        "user": {"id": user},
        "exception": {"values": [{
            "type": ty,
            "value": value,
            "stacktrace": {"frames": [{"function": function, "module": "app.views", "in_app": true, "lineno": 10}]}
        }]}
    })
    .to_string();
    format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

fn send(server: &Server, path: &str, auth: &str, body: &[u8]) -> String {
    let r = server.post_raw(path, &[("X-Sentry-Auth", auth)], body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

#[test]
fn api_needs_a_valid_token() {
    let mut server = Server::start();
    server.token = "wrong".into();
    assert_eq!(
        server.get("/api/0/organizations/sentry/projects/").status,
        401
    );
    server.token = String::new();
    assert_eq!(
        server.get("/api/0/organizations/sentry/issues/").status,
        401
    );
}

#[test]
fn projects_keys_issues_and_events() {
    let server = Server::start();

    // The bootstrap project is listed.
    let projects = server.get_json("/api/0/organizations/sentry/projects/");
    assert_eq!(projects[0]["slug"], "internal");
    assert!(projects[0]["id"].is_string());

    // The organization, its owner and its team.
    let org = server.get_json("/api/0/organizations/sentry/");
    assert_eq!(
        (org["slug"].as_str(), org["orgRole"].as_str()),
        (Some("sentry"), Some("owner"))
    );
    let members = server.get_json("/api/0/organizations/sentry/members/");
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["email"], "admin@localhost");
    assert_eq!(members[0]["role"], "owner");
    let teams = server.get_json("/api/0/organizations/sentry/teams/");
    assert_eq!(teams[0]["slug"], "sentry");
    assert_eq!(teams[0]["projects"][0]["slug"], "internal");
    assert_eq!(server.get("/api/0/organizations/nope/members/").status, 404);

    // Create a project; the slug comes from the name; a duplicate conflicts.
    let r = server.send_json(
        "POST",
        "/api/0/teams/sentry/sentry/projects/",
        &json!({"name": "My Web App", "platform": "python"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let project = r.json();
    assert_eq!(project["slug"], "my-web-app");
    let r = server.send_json(
        "POST",
        "/api/0/teams/sentry/sentry/projects/",
        &json!({"name": "My Web App"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        server
            .send_json(
                "POST",
                "/api/0/teams/sentry/nope/projects/",
                &json!({"name": "x"})
            )
            .status,
        404
    );

    // It came with a key; create a second one.
    let keys = server.get_json("/api/0/projects/sentry/my-web-app/keys/");
    assert_eq!(keys.as_array().unwrap().len(), 1);
    let r = server.send_json(
        "POST",
        "/api/0/projects/sentry/my-web-app/keys/",
        &json!({"name": "ci"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json();
    assert_eq!(key["name"], "ci");
    let dsn = key["dsn"]["public"].as_str().unwrap();
    let project_id = project["id"].as_str().unwrap();
    assert!(dsn.ends_with(&format!("/{project_id}")), "{dsn}");
    let public = key["public"].as_str().unwrap().to_owned();
    let path = format!("/api/{project_id}/envelope/");
    let auth = format!("Sentry sentry_key={public}, sentry_version=7");

    // Three events: two of one issue (different users), one of another.
    let first = send(
        &server,
        &path,
        &auth,
        &error_envelope("KeyError", "'a'", "index", "1"),
    );
    send(
        &server,
        &path,
        &auth,
        &error_envelope("KeyError", "'b'", "index", "2"),
    );
    send(
        &server,
        &path,
        &auth,
        &error_envelope("ValueError", "bad", "detail", "1"),
    );
    let issues = server.wait_for_events(3);
    assert_eq!(issues.len(), 2);
    let key_error = issues
        .iter()
        .find(|i| i["metadata"]["type"] == "KeyError")
        .unwrap();
    assert_eq!(key_error["count"], "2");
    assert_eq!(key_error["userCount"], 2);
    assert_eq!(
        key_error["title"], "KeyError: 'b'",
        "titled after the latest event"
    );
    assert_eq!(key_error["culprit"], "app.views in index");
    assert_eq!(key_error["status"], "unresolved");
    assert_eq!(key_error["project"]["slug"], "my-web-app");
    assert!(
        key_error["shortId"]
            .as_str()
            .unwrap()
            .starts_with("MY-WEB-APP-")
    );
    assert!(key_error["firstSeen"].as_str().unwrap().ends_with('Z'));
    let issue_id = key_error["id"].as_str().unwrap().to_owned();

    // Disable the key: the project refuses it at once.
    let r = server.send_json(
        "PUT",
        &format!("/api/0/projects/sentry/my-web-app/keys/{public}/"),
        &json!({"isActive": false}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["isActive"], false);
    let r = server.post_raw(
        &path,
        &[("X-Sentry-Auth", &auth)],
        &error_envelope("A", "b", "c", "1"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    server.send_json(
        "PUT",
        &format!("/api/0/projects/sentry/my-web-app/keys/{public}/"),
        &json!({"isActive": true}),
    );

    // Events of the issue: list, latest, oldest, by id, by project.
    let events = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{issue_id}/events/"
    ));
    assert_eq!(events.as_array().unwrap().len(), 2);
    let oldest = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{issue_id}/events/oldest/"
    ));
    assert_eq!(oldest["groupID"], issue_id.as_str());
    assert!(
        oldest["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "exception")
    );
    let latest = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{issue_id}/events/latest/"
    ));
    assert_eq!(latest["previousEventID"], oldest["eventID"]);
    let by_id = server.get_json(&format!(
        "/api/0/organizations/sentry/issues/{issue_id}/events/{first}/"
    ));
    assert_eq!(by_id["eventID"], first.as_str());
    let project_event = server.get_json(&format!(
        "/api/0/projects/sentry/my-web-app/events/{first}/"
    ));
    assert_eq!(project_event["release"]["version"], "app@1.0");
    assert_eq!(project_event["environment"], "production");
    assert_eq!(
        server
            .get(&format!("/api/0/projects/sentry/internal/events/{first}/"))
            .status,
        404,
        "events are looked up in their own project"
    );

    // Search: status and free text.
    assert_eq!(server.issues("is:unresolved").len(), 2);
    assert_eq!(server.issues("is:unresolved KeyError").len(), 1);
    assert_eq!(server.issues("is:resolved").len(), 0);

    // Pagination: one per page, two pages, cursors in the Link header.
    let r = server.get("/api/0/organizations/sentry/issues/?limit=1");
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let link = r.header("link").unwrap();
    assert!(
        link.contains("rel=\"next\"; results=\"true\"; cursor=\"0:1:0\""),
        "{link}"
    );
    let r = server.get("/api/0/organizations/sentry/issues/?limit=1&cursor=0:1:0");
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert!(
        r.header("link")
            .unwrap()
            .contains("rel=\"next\"; results=\"false\"")
    );

    // Resolve one issue; a new event makes it a regression.
    let r = server.send_json(
        "PUT",
        &format!("/api/0/organizations/sentry/issues/{issue_id}/"),
        &json!({"status": "resolved"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "resolved");
    assert_eq!(server.issues("is:resolved").len(), 1);
    send(
        &server,
        &path,
        &auth,
        &error_envelope("KeyError", "'c'", "index", "3"),
    );
    server.wait_for_events(4);
    let issue = server.get_json(&format!("/api/0/organizations/sentry/issues/{issue_id}/"));
    assert_eq!(
        issue["status"], "unresolved",
        "a new event reopens a resolved issue"
    );
    assert_eq!(issue["count"], "3");

    // Bulk update by query, then by id.
    let r = server.send_json(
        "PUT",
        "/api/0/organizations/sentry/issues/?query=is:unresolved",
        &json!({"status": "ignored"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.issues("is:ignored").len(), 2);
    let ids: Vec<String> = server
        .issues("is:ignored")
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let r = server.send_json(
        "PUT",
        &format!(
            "/api/0/organizations/sentry/issues/?id={}&id={}",
            ids[0], ids[1]
        ),
        &json!({"status": "unresolved"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.issues("is:unresolved").len(), 2);

    // Delete.
    assert_eq!(
        server
            .delete(&format!("/api/0/organizations/sentry/issues/{issue_id}/"))
            .status,
        202
    );
    assert_eq!(
        server
            .get(&format!("/api/0/organizations/sentry/issues/{issue_id}/"))
            .status,
        404
    );
    assert_eq!(
        server
            .get(&format!(
                "/api/0/projects/sentry/my-web-app/events/{first}/"
            ))
            .status,
        404
    );
    let left: Vec<Value> = server.issues("");
    assert_eq!(left.len(), 1);
}

#[test]
fn project_service_hooks() {
    let server = Server::start();
    let hooks = "/api/0/projects/sentry/internal/hooks/";
    assert_eq!(server.get_json(hooks), json!([]));

    // Create: a repeated event is kept once.
    let r = server.send_json(
        "POST",
        hooks,
        &json!({
            "url": "http://127.0.0.1:9/hook",
            "events": ["event.created", "event.created"],
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let hook = r.json();
    let id = hook["id"].as_str().unwrap().to_owned();
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(id.len() == 32 && hex(&id), "{id}");
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.len() == 64 && hex(secret), "{secret}");
    assert_eq!(hook["url"], "http://127.0.0.1:9/hook");
    assert_eq!(hook["events"], json!(["event.created"]));
    assert_eq!(hook["status"], "active");
    let created = hook["dateCreated"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );

    // List and read.
    assert_eq!(server.get_json(hooks), json!([hook.clone()]));
    let one = format!("{hooks}{id}/");
    assert_eq!(server.get_json(&one), hook);

    // Update the events; the URL is kept.
    let r = server.send_json(
        "PUT",
        &one,
        &json!({"events": ["event.alert", "event.created"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let updated = r.json();
    assert_eq!(updated["events"], json!(["event.alert", "event.created"]));
    assert_eq!(updated["url"], "http://127.0.0.1:9/hook");
    assert_eq!(updated["secret"], hook["secret"]);
    assert_eq!(server.get_json(&one), updated);

    // Bad URLs and events are refused with field errors and change nothing.
    for url in ["ftp://x", "not a url"] {
        let body = json!({"url": url, "events": ["event.created"]});
        let r = server.send_json("POST", hooks, &body);
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert!(r.json()["url"].is_array(), "{}", r.body);
        let r = server.send_json("PUT", &one, &json!({"url": url}));
        assert_eq!(r.status, 400, "{url}: {}", r.body);
    }
    for events in [json!(["event.updated"]), json!([])] {
        let body = json!({"url": "http://127.0.0.1:9/other", "events": events});
        let r = server.send_json("POST", hooks, &body);
        assert_eq!(r.status, 400, "{events}: {}", r.body);
        assert!(r.json()["events"].is_array(), "{}", r.body);
        let r = server.send_json("PUT", &one, &json!({"events": events}));
        assert_eq!(r.status, 400, "{events}: {}", r.body);
    }
    let r = server.send_json("POST", hooks, &json!({}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(server.get_json(hooks), json!([updated]));

    // Another project's hook id, and an unknown one.
    let r = server.send_json(
        "POST",
        "/api/0/teams/sentry/sentry/projects/",
        &json!({"name": "Other"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let elsewhere = format!("/api/0/projects/sentry/other/hooks/{id}/");
    assert_eq!(server.get(&elsewhere).status, 404);
    assert_eq!(server.delete(&elsewhere).status, 404);
    let unknown = format!("{hooks}{}/", "0".repeat(32));
    assert_eq!(server.get(&unknown).status, 404);
    let r = server.send_json("PUT", &unknown, &json!({"events": ["event.alert"]}));
    assert_eq!(r.status, 404, "{}", r.body);

    // Delete.
    assert_eq!(server.delete(&one).status, 204);
    assert_eq!(server.get(&one).status, 404);
    assert_eq!(server.delete(&one).status, 404);
    assert_eq!(server.get_json(hooks), json!([]));
}

/// The all-in-one server sends a project's `event.created` hooks, signed,
/// once per event, after the event is searchable.
#[test]
fn service_hooks_are_sent_for_stored_events() {
    let server = Server::start();
    let (url, received) = crate::hook_receiver::hook_receiver("/sentry");
    let r = server.send_json(
        "POST",
        "/api/0/projects/sentry/internal/hooks/",
        &json!({"url": url, "events": ["event.created"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let hook = r.json();

    let r = server.post_envelope(&error_envelope("KeyError", "'sku'", "lookup", "u1"));
    assert_eq!(r.status, 200, "{}", r.body);
    let event_id = r.json()["id"].as_str().unwrap().to_owned();
    let (headers, body) = received
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the hook is sent");
    let header = |name: &str| crate::hook_receiver::header(&headers, name);
    assert_eq!(header("request-line"), "POST /sentry HTTP/1.1");
    assert_eq!(header("x-servicehook-guid"), hook["id"].as_str().unwrap());
    assert_eq!(
        header("x-servicehook-signature"),
        sentry_eventstore::postprocess::hook_signature(hook["secret"].as_str().unwrap(), &body)
    );
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["action"], "event.created");
    assert_eq!(
        payload["event"]["event_id"],
        event_id.as_str(),
        "{payload:#}"
    );
    // By then the event store answers for it: search finds its issue.
    let found = server.issues("is:unresolved KeyError");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["id"], payload["group"]["id"]);
    assert!(
        received
            .recv_timeout(std::time::Duration::from_secs(2))
            .is_err(),
        "one request per event"
    );
}
