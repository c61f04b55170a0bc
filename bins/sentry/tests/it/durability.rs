//! An accepted event survives a SIGKILL of the server.

use std::sync::{Arc, Mutex};

use crate::server::{Server, free_port};

fn envelope(event_id: &str, i: usize) -> Vec<u8> {
    let event = serde_json::json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "exception": {"values": [{
            "type": "DurabilityError",
            "value": format!("event {i}"),
            "stacktrace": {"frames": [{"function": "send", "module": "app.load", "in_app": true}]}
        }]}
    })
    .to_string();
    format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

#[test]
fn acknowledged_events_survive_sigkill() {
    const EVENTS: usize = 400;
    const THREADS: usize = 8;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(tmp.path(), free_port(), &[]);
    let server_ref = &server;
    let acked = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let acked = acked.clone();
            s.spawn(move || {
                for i in (t..EVENTS).step_by(THREADS) {
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    let reply = server_ref.post_envelope(&envelope(&id, i));
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    assert_eq!(reply.json()["id"], id.as_str());
                    acked.lock().unwrap().push(id);
                }
            });
        }
    });
    // Right after the last 200: no chance to process or flush anything.
    server.kill();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), EVENTS);

    let server = Server::start_in(tmp.path(), free_port(), &[]);
    let issues = server.wait_for_events(EVENTS as u64);
    // Give redelivered duplicates a chance to show up before counting.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let issues_after = server.issues("");
    assert_eq!(issues.len(), 1, "one issue: {issues:?}");
    assert_eq!(
        issues_after[0]["count"],
        EVENTS.to_string(),
        "each event once"
    );
    for id in &acked {
        let r = server.get(&format!("/api/0/projects/sentry/internal/events/{id}/"));
        assert_eq!(r.status, 200, "event {id} lost");
    }
}
