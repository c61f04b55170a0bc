//! Parsing throughput of envelope framing.
//!
//! - `error_envelope`: a realistic ~5 KB error envelope as the Python SDK
//!   sends it (event with a stack trace, breadcrumbs, contexts), framing only
//!   and framing plus the event schema;
//! - `attachment_envelope`: an event with a 10 MiB attachment, framing only;
//! - `gzip_error_envelope`: the error envelope gzipped, decompressed and framed.
//!
//! Run with `cargo bench -p sentry-envelope`; figures are in
//! `book/src/benchmarks.md`.

// Tests read their own fixtures whole and fail loudly: the guards for
// untrusted input do not apply here.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::io::Write;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentry_envelope::protocol::{Event, from_json_slice};
use sentry_envelope::{ContentEncoding, Envelope, Limits, decompress};
use serde_json::json;

fn error_event() -> Vec<u8> {
    let frames: Vec<_> = (0..12)
        .map(|i| {
            json!({
                "filename": format!("app/services/module_{i}.py"),
                "abs_path": format!("/srv/app/app/services/module_{i}.py"),
                "function": format!("handle_step_{i}"),
                "module": format!("app.services.module_{i}"),
                "lineno": 40 + i,
                "pre_context": ["    try:", "        value = compute(x)"],
                "context_line": "        return process(value)",
                "post_context": ["    except KeyError:", "        raise"],
                "in_app": i > 3,
                "vars": {"x": "42", "value": "'abc'"}
            })
        })
        .collect();
    let crumbs: Vec<_> = (0..10)
        .map(|i| {
            json!({"timestamp": 1_700_000_000.0 + f64::from(i), "category": "http",
                        "message": format!("GET /api/items/{i}"), "level": "info"})
        })
        .collect();
    let event = json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "timestamp": 1_700_000_010.25, "platform": "python", "level": "error",
        "release": "shop@1.4.2", "environment": "production", "server_name": "web-3",
        "exception": {"values": [{"type": "PaymentError", "value": "card declined",
            "module": "app.payments", "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": frames}}]},
        "breadcrumbs": {"values": crumbs},
        "user": {"id": "1234", "email": "jane@example.com", "ip_address": "{{auto}}"},
        "tags": {"region": "eu-west-1", "customer.tier": "gold"},
        "contexts": {"os": {"name": "Linux", "version": "6.1"},
                     "runtime": {"name": "CPython", "version": "3.11.7"},
                     "trace": {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174"}},
        "sdk": {"name": "sentry.python", "version": "2.75.0"},
    });
    serde_json::to_vec(&event).unwrap()
}

fn envelope_with(event: &[u8], attachment: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(
        b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"sent_at\":\"2023-11-14T22:13:30Z\",\
          \"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.75.0\"},\
          \"trace\":{\"trace_id\":\"5b8efff798038103d269b633813fc60c\",\"public_key\":\"e12d836b15bb49d7bbf99e64295d995b\"}}\n",
    );
    writeln!(
        out,
        "{{\"type\":\"event\",\"content_type\":\"application/json\",\"length\":{}}}",
        event.len()
    )
    .unwrap();
    out.extend_from_slice(event);
    out.push(b'\n');
    if let Some(data) = attachment {
        writeln!(
            out,
            "{{\"type\":\"attachment\",\"filename\":\"core.dump\",\"length\":{}}}",
            data.len()
        )
        .unwrap();
        out.extend_from_slice(data);
        out.push(b'\n');
    }
    out
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let event = error_event();
    let error_envelope = Bytes::from(envelope_with(&event, None));

    let mut group = c.benchmark_group("error_envelope");
    group.throughput(Throughput::Bytes(error_envelope.len() as u64));
    group.bench_function("framing", |b| {
        b.iter(|| Envelope::parse(error_envelope.clone(), &limits).unwrap())
    });
    group.bench_function("framing+event_schema", |b| {
        b.iter(|| {
            let envelope = Envelope::parse(error_envelope.clone(), &limits).unwrap();
            let payload = &envelope.items()[0].payload;
            from_json_slice::<Event>(payload, limits.max_json_depth).unwrap()
        })
    });
    group.finish();

    let attachment: Vec<u8> = (0..10u32 << 20).map(|i| (i % 251) as u8).collect();
    let attachment_envelope = Bytes::from(envelope_with(&event, Some(&attachment)));
    let mut group = c.benchmark_group("attachment_envelope");
    group.throughput(Throughput::Bytes(attachment_envelope.len() as u64));
    group.bench_function("framing", |b| {
        b.iter(|| Envelope::parse(attachment_envelope.clone(), &limits).unwrap())
    });
    group.finish();

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&error_envelope).unwrap();
    let gzipped = gz.finish().unwrap();
    let mut group = c.benchmark_group("gzip_error_envelope");
    group.throughput(Throughput::Bytes(error_envelope.len() as u64));
    group.bench_function("decompress+framing", |b| {
        b.iter(|| {
            let body = decompress(ContentEncoding::Gzip, &gzipped, 1 << 20).unwrap();
            Envelope::parse(body, &limits).unwrap()
        })
    });
    group.finish();

    println!(
        "sizes: error envelope {} bytes (gzip {} bytes), attachment envelope {} bytes",
        error_envelope.len(),
        gzipped.len(),
        attachment_envelope.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
