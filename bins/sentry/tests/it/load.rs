//! `sentry load` against a real server: every event is accepted, processed
//! and grouped into the requested number of issues.

use std::process::Command;

use serde_json::Value;

use crate::server::Server;

fn load(server: &Server, n: u64, c: u64, k: u64) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sentry"))
        .arg("load")
        .arg("--bootstrap")
        .arg(server.data_dir.join("bootstrap.json"))
        .args([
            "-n",
            &n.to_string(),
            "-c",
            &c.to_string(),
            "-k",
            &k.to_string(),
        ])
        .args(["--size", "2048", "--timeout", "120", "--json"])
        .args(["--pid", &server.pid().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sentry load failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not json ({e}): {stdout}"))
}

#[test]
fn load_delivers_and_groups_every_event() {
    let server = Server::start();
    let (n, k) = (2000, 10);
    let r = load(&server, n, 16, k);
    assert_eq!(r["accepted"], n, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["processed"], n, "{r}");
    assert_eq!(r["processed_all"], true, "{r}");
    assert_eq!(r["issues"], k, "{r}");
    assert!(r["accepted_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["peak_rss_mib"].as_f64().unwrap() > 0.0, "{r}");

    // A second run on the same server counts from its own baseline.
    let r = load(&server, 500, 4, k);
    assert_eq!(r["accepted"], 500, "{r}");
    assert_eq!(r["processed"], 500, "{r}");
    assert_eq!(r["issues"], k, "{r}");
    assert_eq!(server.wait_for_events(n + 500).len() as u64, k);
}
