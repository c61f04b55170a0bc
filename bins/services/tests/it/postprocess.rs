//! What happens after ingest, through every service: service hooks sent by
//! `post-process-forwarder` once the event is in ClickHouse, and project
//! changes made through `web` reaching `relay` through the shared cache.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::Cluster;
use crate::hook_receiver::hook_receiver;

/// POSTs one event to relay; its status.
fn send_event(cluster: &Cluster, id: &str) -> u16 {
    let dsn = &cluster.web.dsn;
    let (scheme_key, rest) = dsn.split_once('@').unwrap();
    let key = scheme_key.rsplit('/').next().unwrap();
    let (host, project) = rest.rsplit_once('/').unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{{\"event_id\":\"{id}\",\"level\":\"error\",\"message\":\"hooked {id}\"}}\n"
    );
    agent
        .post(format!("http://{host}/api/{project}/envelope/"))
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_version=7, sentry_key={key}"),
        )
        .send(body)
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn service_hook_is_sent_once_the_event_is_queryable() {
    let _shared = crate::faults::SHARED_SERVERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (url, received) = hook_receiver("/sentry-hook");
    let reply = cluster.web.send_json(
        "POST",
        "/api/0/projects/sentry/internal/hooks/",
        &json!({"url": url, "events": ["event.created"]}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let hook = reply.json();
    let secret = hook["secret"].as_str().unwrap().to_owned();

    let id = "5d0c7b2a9e8f4c3b8a1d2e3f4a5b6c7d";
    assert_eq!(send_event(&cluster, id), 200);
    let (headers, body) = received
        .recv_timeout(Duration::from_secs(90))
        .expect("the hook arrives");
    // When the hook arrives, ClickHouse already has the event.
    let rows = cluster.clickhouse(&format!(
        "SELECT count() FROM errors_local FINAL WHERE replaceAll(toString(event_id), '-', '') = '{id}'"
    ));
    assert_eq!(
        rows.trim(),
        "1",
        "the hook came before the event was written"
    );
    let header = |name: &str| crate::hook_receiver::header(&headers, name);
    assert_eq!(header("x-servicehook-guid"), hook["id"].as_str().unwrap());
    assert_eq!(
        header("x-servicehook-signature"),
        sentry_eventstore::postprocess::hook_signature(&secret, &body)
    );
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["event"]["event_id"], id, "{payload:#}");
    assert_eq!(
        payload["event"]["logentry"]["formatted"],
        format!("hooked {id}")
    );
    let issue = cluster.web.get_json(&format!(
        "/api/0/organizations/sentry/issues/{}/",
        payload["group"]["id"].as_str().unwrap()
    ));
    assert_eq!(issue["count"], "1", "{issue:#}");

    // Nothing more for this one event.
    assert!(received.recv_timeout(Duration::from_secs(3)).is_err());
    let sent = cluster.metric(
        "post-process-forwarder",
        "sentry_service_hooks_total",
        &["result=\"sent\""],
    );
    assert_eq!(sent, 1.0);
}

#[test]
fn key_changes_made_in_web_reach_relay() {
    let _shared = crate::faults::SHARED_SERVERS
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    assert_eq!(
        send_event(&cluster, "1d0c7b2a9e8f4c3b8a1d2e3f4a5b6c7d"),
        200
    );
    let keys = cluster
        .web
        .get_json("/api/0/projects/sentry/internal/keys/");
    let path = format!(
        "/api/0/projects/sentry/internal/keys/{}/",
        keys[0]["id"].as_str().unwrap()
    );
    // relay caches configs in Redis for minutes: only the invalidation
    // that web sends makes the change show within seconds.
    let until_status = |want: u16, what: &str| {
        let started = Instant::now();
        let mut n = 0u32;
        loop {
            n += 1;
            let id = format!("{n:08x}9e8f4c3b8a1d2e3f4a5b6c7d");
            if send_event(&cluster, &id) == want {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let reply = cluster
        .web
        .send_json("PUT", &path, &json!({"isActive": false}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let took = until_status(403, "relay still accepts a disabled key");
    eprintln!("disabled key refused after {took:?}");
    let reply = cluster
        .web
        .send_json("PUT", &path, &json!({"isActive": true}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let took = until_status(200, "relay still refuses a re-enabled key");
    eprintln!("re-enabled key accepted after {took:?}");
}
