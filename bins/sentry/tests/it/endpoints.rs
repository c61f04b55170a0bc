//! Relay's other ingest endpoints: `/api/store/`, security reports, cron
//! check-ins, minidumps, attachments and Unreal reports.

use crate::server::Server;

fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn store_without_a_project_in_the_path() {
    let server = Server::start();
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7",
        server.public_key()
    );
    let r = server.post_raw(
        "/api/store/",
        &[
            ("X-Sentry-Auth", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"message": "stored without a project id"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let issues = server.wait_for_events(1);
    assert_eq!(issues[0]["title"], "stored without a project id");
    let r = server.post_raw(
        "/api/store/",
        &[(
            "X-Sentry-Auth",
            "Sentry sentry_key=00000000000000000000000000000000",
        )],
        b"{}",
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn security_reports_and_check_ins() {
    let server = Server::start();
    let id = server.project_id();
    let key = server.public_key();
    let csp = br#"{"csp-report": {"document-uri": "https://example.com/", "violated-directive": "script-src", "blocked-uri": "https://evil.example/x.js"}}"#;
    let path = format!("/api/{id}/security/?sentry_key={key}&sentry_release=web@1");
    let r = server.post_raw(&path, &[("Content-Type", "application/csp-report")], csp);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post_raw(
        &format!("/api/{id}/csp-report/?sentry_key={key}"),
        &[("Content-Type", "application/json")],
        csp,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post_raw(&path, &[("Content-Type", "text/plain")], csp);
    assert_eq!(r.status, 415, "{}", r.body);
    let r = server.post_raw(&path, &[("Content-Type", "application/csp-report")], b"");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.post_raw(
        &path,
        &[("Content-Type", "application/csp-report")],
        b"{nope",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // JSON, but no known report; a CSP report without a known directive.
    for body in [
        &b"{}"[..],
        br#"{"csp-report": {"violated-directive": "x"}}"#,
    ] {
        let r = server.post_raw(&path, &[("Content-Type", "application/json")], body);
        assert_eq!(r.status, 400, "{}", r.body);
    }
    // The Reporting API's batches, with a report of another type skipped.
    let batch = br#"[{"type": "csp-violation", "url": "https://example.com/", "body": {"blockedURL": "inline", "effectiveDirective": "style-src-elem"}}, {"type": "deprecation", "body": {}}]"#;
    let r = server.post_raw(
        &path,
        &[("Content-Type", "application/reports+json")],
        batch,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post_raw(
        &path,
        &[("Content-Type", "application/reports+json")],
        br#"[{"type": "intervention", "body": {}}]"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let expect_ct =
        br#"{"expect-ct-report": {"hostname": "www.example.com", "port": 443, "scts": []}}"#;
    let r = server.post_raw(
        &path,
        &[("Content-Type", "application/expect-ct-report+json")],
        expect_ct,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let hpkp = br#"{"hostname": "www.example.com", "port": 443, "known-pins": []}"#;
    let r = server.post_raw(&path, &[("Content-Type", "application/json")], hpkp);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post_raw(
        &format!("/api/{id}/security/?sentry_key=00000000000000000000000000000000"),
        &[("Content-Type", "application/csp-report")],
        csp,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // Two CSP reports, one from the batch, Expect-CT and HPKP: stored as
    // events and grouped.
    let issues = server.wait_for_events(5);
    let titles: Vec<&str> = issues
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    eprintln!("security issues: {titles:?}");
    assert!(
        titles.iter().any(|t| t.contains("evil.example")),
        "{titles:?}"
    );

    // Check-ins: query form over GET and POST, JSON form, bad status, bad key.
    let get = server.get(&format!(
        "/api/{id}/cron/nightly-backup/{key}/?status=in_progress"
    ));
    assert_eq!(get.status, 202, "{}", get.body);
    let r = server.post_raw(
        &format!("/api/{id}/cron/nightly-backup/{key}/?status=ok&duration=12.5"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = server.post_raw(
        &format!("/api/{id}/cron/nightly-backup/{key}/"),
        &[("Content-Type", "application/json")],
        br#"{"status": "error", "environment": "prod"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = server.post_raw(
        &format!("/api/{id}/cron/nightly-backup/{key}/?status=exploded"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.get(&format!(
        "/api/{id}/cron/nightly-backup/00000000000000000000000000000000/?status=ok"
    ));
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn minidumps_attachments_and_unreal_reports() {
    let server = Server::start();
    let id = server.project_id();
    let key = server.public_key();
    let boundary = "XyZzyBoundary";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let path = format!("/api/{id}/minidump/?sentry_key={key}");
    let mut dump = b"MDMP\x93\xa7\x00\x00".to_vec();
    dump.extend_from_slice(&[0u8; 256]);

    // A Crashpad-style upload: the minidump, form fields, another file.
    let body = multipart(
        boundary,
        &[
            ("upload_file_minidump", Some("crash.dmp"), &dump),
            ("sentry[release]", None, b"native@3.1"),
            ("sentry[tags][gpu]", None, b"none"),
            ("log.txt", Some("log.txt"), b"last words"),
        ],
    );
    let r = server.post_raw(&path, &[("Content-Type", &content_type)], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let event_id = r.body.trim().replace('-', "");
    assert_eq!(event_id.len(), 32, "{}", r.body);
    server.wait_for_events(1);
    let event = server.get_json(&format!(
        "/api/0/projects/sentry/internal/events/{event_id}/"
    ));
    assert_eq!(event["platform"], "native");
    assert_eq!(event["release"]["version"], "native@3.1");
    let tags = event["tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|t| t["key"] == "gpu" && t["value"] == "none"),
        "{tags:?}"
    );

    // A raw minidump body.
    let r = server.post_raw(
        &path,
        &[("Content-Type", "application/octet-stream")],
        &dump,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Not a minidump; no minidump field; a broken multipart body.
    let r = server.post_raw(
        &path,
        &[("Content-Type", "application/octet-stream")],
        b"garbage",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let body = multipart(boundary, &[("sentry[release]", None, b"x")]);
    let r = server.post_raw(&path, &[("Content-Type", &content_type)], &body);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.post_raw(
        &path,
        &[("Content-Type", &content_type)],
        b"--XyZzyBoundary\r\nbroken",
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Attachments for an event sent earlier.
    let body = multipart(
        boundary,
        &[("file", Some("screenshot.png"), b"\x89PNG....")],
    );
    let r = server.post_raw(
        &format!("/api/{id}/events/{event_id}/attachments/?sentry_key={key}"),
        &[("Content-Type", &content_type)],
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // An Unreal crash report, authenticated by the key in the path.
    let r = server.post_raw(&format!("/api/{id}/unreal/{key}/"), &[], b"CR1\x00archive");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post_raw(
        &format!("/api/{id}/unreal/00000000000000000000000000000000/"),
        &[],
        b"CR1\x00archive",
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

/// A minimal valid minidump (140 bytes): the header, a directory of three
/// streams, a SystemInfo stream (Linux on x86-64, with its empty CSD version
/// string) and empty thread and module lists. The `minidump` crate reads it.
fn minimal_minidump() -> Vec<u8> {
    let u16s = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>();
    let u32s = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>();
    let mut dump = b"MDMP".to_vec();
    // Version, streams, directory offset, checksum, time, flags (u64).
    dump.extend(u32s(&[0xa793, 3, 32, 0, 1_700_000_000, 0, 0]));
    // Directory: (stream type, size, offset) of SystemInfo, ThreadList, ModuleList.
    dump.extend(u32s(&[7, 56, 68, 3, 4, 132, 4, 4, 136]));
    // SystemInfo: AMD64, level 6, revision 0, then 4 CPUs and product type 0.
    dump.extend(u16s(&[9, 6, 0]));
    dump.extend([4, 0]);
    // OS 5.15 build 0 on Linux (0x8201), the CSD string at 124, suite mask.
    dump.extend(u32s(&[5, 15, 0, 0x8201, 124, 0]));
    dump.extend(b"GenuineIntel");
    dump.extend([0; 12]);
    // The CSD version: an empty MINIDUMP_STRING, padded to 4 bytes.
    dump.extend([0; 8]);
    // No threads, no modules.
    dump.extend(u32s(&[0, 0]));
    assert_eq!(dump.len(), 140);
    dump
}

/// Crashpad's upload: `multipart/form-data` with its annotations as text
/// fields and the minidump in `upload_file_minidump`, the whole body gzipped
/// with `Content-Encoding: gzip` (crashpad_http_upload's default).
#[test]
fn a_minidump_upload_as_crashpad_sends_it() {
    use std::io::Write;

    let server = Server::start();
    let id = server.project_id();
    let key = server.public_key();
    let boundary = "---MultipartBoundary-5a7c1e6f0d9b4c2a8e3f1b7d9c0a2e4f---";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let body = multipart(
        boundary,
        &[
            ("guid", None, b"3f1c6e0b-8d2a-4b7e-9c5f-1a2b3c4d5e6f"),
            ("prod", None, b"my-native-app"),
            ("ver", None, b"1.2.3"),
            ("plat", None, b"Linux"),
            ("sentry[release]", None, b"my-native-app@1.2.3"),
            ("sentry[environment]", None, b"production"),
            (
                "upload_file_minidump",
                Some("a4a6f2ec-5e8b-4f44-a1a4-1b2f0a3c9d7e.dmp"),
                &minimal_minidump(),
            ),
        ],
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gzipped = gz.finish().unwrap();
    let path = format!("/api/{id}/minidump/?sentry_key={key}");
    let headers = [
        ("Content-Type", content_type.as_str()),
        ("Content-Encoding", "gzip"),
        ("User-Agent", "Crashpad/0.8.0"),
    ];
    let r = server.post_raw(&path, &headers, &gzipped);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // The event id, hyphenated, as Crashpad logs it.
    let id_text = r.body.trim();
    assert_eq!(id_text.len(), 36, "{id_text}");
    assert_eq!(id_text.matches('-').count(), 4, "{id_text}");
    let event_id = id_text.replace('-', "");

    let issues = server.wait_for_events(1);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(server.issues("").len(), 1);
    let event = server.get_json(&format!(
        "/api/0/projects/sentry/internal/events/{event_id}/"
    ));
    assert_eq!(event["platform"], "native");
    assert_eq!(event["release"]["version"], "my-native-app@1.2.3");
    // Crashpad's own annotations land in `extra` (the API's `context`).
    assert_eq!(event["context"]["prod"], "my-native-app", "{event}");
    assert_eq!(event["context"]["ver"], "1.2.3");
    assert_eq!(
        event["context"]["guid"],
        "3f1c6e0b-8d2a-4b7e-9c5f-1a2b3c4d5e6f"
    );

    // A truncated gzip body, and one that is not gzip at all.
    let r = server.post_raw(&path, &headers, &gzipped[..gzipped.len() / 2]);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.post_raw(&path, &headers, &body);
    assert_eq!(r.status, 400, "{}", r.body);
    // The server still serves.
    let r = server.post_raw(&path, &headers, &gzipped);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn nel_reports_and_otlp_traces() {
    let server = Server::start();
    let id = server.project_id();
    let key = server.public_key();
    let nel = br#"[{"age": 0, "type": "network-error", "url": "https://example.com/", "body": {"type": "http.error", "status_code": 500, "elapsed_time": 12, "phase": "application", "method": "GET", "protocol": "h2", "referrer": "", "sampling_fraction": 1, "server_ip": "10.0.0.1"}}]"#;
    let path = format!("/api/{id}/nel/?sentry_key={key}");
    let r = server.post_raw(&path, &[("Content-Type", "application/reports+json")], nel);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post_raw(&path, &[("Content-Type", "text/plain")], nel);
    assert_eq!(r.status, 415, "{}", r.body);
    let r = server.post_raw(&path, &[("Content-Type", "application/json")], b"[]");
    assert_eq!(r.status, 400, "{}", r.body);

    let traces = br#"{"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "GET /", "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000"}]}]}]}"#;
    for path in [
        format!("/api/{id}/otlp/v1/traces/"),
        format!("/api/{id}/otlp/v1/traces"),
    ] {
        let auth = format!("Sentry sentry_key={key}");
        let r = server.post_raw(
            &path,
            &[
                ("Content-Type", "application/json"),
                ("X-Sentry-Auth", &auth),
            ],
            traces,
        );
        assert_eq!(r.status, 202, "{path}: {}", r.body);
    }
    let auth = format!("Sentry sentry_key={key}");
    let r = server.post_raw(
        &format!("/api/{id}/otlp/v1/traces/"),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("X-Sentry-Auth", &auth),
        ],
        b"\x0a\x00",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = server.post_raw(
        &format!("/api/{id}/otlp/v1/traces/"),
        &[("Content-Type", "text/csv"), ("X-Sentry-Auth", &auth)],
        b"a,b",
    );
    assert_eq!(r.status, 415, "{}", r.body);
}
