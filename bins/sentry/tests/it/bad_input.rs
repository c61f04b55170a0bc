//! Bad requests get the right status, and the server keeps serving.

use std::io::Write;

use crate::server::Server;

fn event_envelope(payload: &str) -> Vec<u8> {
    format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{payload}\n",
        payload.len()
    )
    .into_bytes()
}

#[test]
fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let server = Server::start();
    let path = format!("/api/{}/envelope/", server.project_id());
    let good_auth = format!(
        "Sentry sentry_key={}, sentry_version=7",
        server.public_key()
    );
    let post = |headers: &[(&str, &str)], body: &[u8]| server.post_raw(&path, headers, body);
    let auth = [("X-Sentry-Auth", good_auth.as_str())];

    // Truncated: the item says 100 bytes, 10 follow.
    let r = post(&auth, b"{}\n{\"type\":\"event\",\"length\":100}\n{\"a\":1}");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("invalid envelope")
    );
    assert!(r.header("x-sentry-error").is_some());

    // Wrong length: the payload is longer than declared.
    let r = post(&auth, b"{}\n{\"type\":\"event\",\"length\":2}\n{\"a\":1}\n");
    assert_eq!(r.status, 400, "{}", r.body);

    // Invalid JSON in the envelope header.
    let r = post(&auth, b"{not json\n{\"type\":\"event\"}\n{}\n");
    assert_eq!(r.status, 400, "{}", r.body);

    // Invalid JSON in the event payload.
    let r = post(&auth, &event_envelope("{\"message\": nope}"));
    assert_eq!(r.status, 400, "{}", r.body);

    // Invalid JSON on the store endpoint.
    let store = format!("/api/{}/store/", server.project_id());
    let r = server.post_raw(&store, &auth, b"{\"message\": ");
    assert_eq!(r.status, 400, "{}", r.body);

    // No auth at all, a wrong key, a project that does not exist.
    let r = post(&[], &event_envelope("{}"));
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post(
        &[(
            "X-Sentry-Auth",
            "Sentry sentry_key=00000000000000000000000000000000",
        )],
        &event_envelope("{}"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = server.post_raw("/api/999/envelope/", &auth, &event_envelope("{}"));
    assert_eq!(r.status, 403, "{}", r.body);

    // An event over the 1 MiB event limit.
    let big = format!("{{\"message\":\"{}\"}}", "x".repeat(1_100_000));
    let r = post(&auth, &event_envelope(&big));
    assert_eq!(r.status, 413, "{}", r.body);

    // A gzip bomb: 1 MiB on the wire, 1 GiB inflated; the cap stops it.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let mut headers = auth.to_vec();
    headers.push(("Content-Encoding", "gzip"));
    let r = post(&headers, &bomb);
    assert_eq!(r.status, 413, "{}", r.body);

    // Corrupt gzip.
    let r = post(&headers, b"\x1f\x8b\x08\x00garbage");
    assert_eq!(r.status, 400, "{}", r.body);

    // Still serving: a good event goes through and is processed.
    let r = post(&auth, &event_envelope("{\"message\":\"still alive\"}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let issues = server.wait_for_events(1);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["title"], "still alive");
}

#[test]
fn all_three_auth_forms_and_cors() {
    let server = Server::start();
    let key = server.public_key();
    let id = server.project_id();
    let path = format!("/api/{id}/envelope/");
    let body = event_envelope("{\"message\":\"auth forms\"}");
    // Header.
    let header = format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0");
    assert_eq!(
        server
            .post_raw(&path, &[("X-Sentry-Auth", &header)], &body)
            .status,
        200
    );
    // Query string.
    let r = server.post_raw(
        &format!("{path}?sentry_key={key}&sentry_version=7"),
        &[],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // The envelope's own DSN header.
    let dsn_body = format!(
        "{{\"dsn\":\"{}\"}}\n{{\"type\":\"event\",\"length\":24}}\n{{\"message\":\"auth forms\"}}\n",
        server.dsn
    );
    let r = server.post_raw(&path, &[], dsn_body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    // A key that disagrees between header and query is refused.
    let r = server.post_raw(
        &format!("{path}?sentry_key=ffffffffffffffffffffffffffffffff"),
        &[("X-Sentry-Auth", &header)],
        &body,
    );
    assert!(
        r.status == 400 || r.status == 401 || r.status == 403,
        "{}",
        r.body
    );

    let issues = server.wait_for_events(3);
    assert_eq!(issues[0]["count"], "3");

    // Health endpoints.
    assert_eq!(server.get("/_health/").status, 200);
    assert_eq!(server.get("/api/relay/healthcheck/live/").status, 200);
    assert_eq!(server.get("/api/relay/healthcheck/ready/").status, 200);
}
