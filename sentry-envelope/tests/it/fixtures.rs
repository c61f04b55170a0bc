//! Every request captured from a real SDK (see `fixtures/README.md`) is
//! decompressed, authenticated, framed and parsed, and every payload is
//! parsed into its schema without losing a field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sentry_envelope::protocol::{
    CheckIn, ClientReport, Event, FeedbackContext, LogContainer, SessionAggregates, SessionUpdate,
    Span, UserReport, from_json_slice,
};
use sentry_envelope::store::decode_store_body;
use sentry_envelope::{
    Auth, ContentEncoding, Dsn, Envelope, ItemType, Limits, ProjectId, decompress, reconcile,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const PUBLIC_KEY: &str = "e12d836b15bb49d7bbf99e64295d995b";

struct Fixture {
    name: String,
    meta: Value,
    body: Vec<u8>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn load_fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for sdk in ["python", "node", "rust", "raven-python", "raven-node"] {
        let dir = fixtures_dir().join(sdk);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        for meta_path in names {
            let meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
            let body = std::fs::read(meta_path.with_extension("body")).unwrap();
            let stem = meta_path.file_stem().unwrap().to_string_lossy();
            out.push(Fixture {
                name: format!("{sdk}/{stem}"),
                meta,
                body,
            });
        }
    }
    out
}

/// Every path to a non-null value in a JSON document, with array indexes
/// folded (`a/[]/b`) and the `{"values": [...]}` wrapper folded into its list.
fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            out.insert(prefix.to_owned());
            for (k, v) in map {
                if k == "values" && v.is_array() {
                    paths(v, prefix, out);
                } else {
                    paths(v, &format!("{prefix}/{k}"), out);
                }
            }
        }
        Value::Array(list) => {
            out.insert(prefix.to_owned());
            for v in list {
                paths(v, &format!("{prefix}/[]"), out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// Parses a payload into `T`, writes it back, and checks that no field of
/// the original is missing and that parsing the output gives the same value.
fn check_lossless<T>(payload: &[u8]) -> Result<T, String>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let original: Value = serde_json::from_slice(payload).map_err(|e| format!("not json: {e}"))?;
    let typed: T = from_json_slice(payload, Limits::default().max_json_depth)
        .map_err(|e| format!("schema: {e}"))?;
    let written = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let (mut before, mut after) = (BTreeSet::new(), BTreeSet::new());
    paths(&original, "", &mut before);
    paths(&written, "", &mut after);
    let lost: Vec<_> = before.difference(&after).collect();
    if !lost.is_empty() {
        return Err(format!("fields lost: {lost:?}"));
    }
    let again: T = serde_json::from_value(written).map_err(|e| format!("reparse: {e}"))?;
    if again != typed {
        return Err("parse(write(x)) != x".into());
    }
    Ok(typed)
}

fn header<'a>(meta: &'a Value, name: &str) -> Option<&'a str> {
    meta["headers"].get(name).and_then(Value::as_str)
}

/// What each fixture yields, for the coverage assertions at the end.
#[derive(Default)]
struct Seen {
    item_types: BTreeSet<String>,
    events: BTreeMap<String, Event>,
}

fn check_item(fixture: &str, item: &sentry_envelope::Item, seen: &mut Seen) -> Result<(), String> {
    let payload = &item.payload[..];
    seen.item_types.insert(item.ty().to_string());
    let wrap = |e: String| format!("{} item: {e}", item.ty());
    match item.ty() {
        ItemType::Event | ItemType::Transaction => {
            let event: Event = check_lossless(payload).map_err(wrap)?;
            seen.events.insert(fixture.to_owned(), event);
        }
        ItemType::UserReportV2 => {
            let event: Event = check_lossless(payload).map_err(wrap)?;
            let feedback: FeedbackContext = event
                .contexts
                .as_ref()
                .and_then(|c| c.get_as("feedback"))
                .ok_or_else(|| wrap("no feedback context".into()))?;
            if feedback.message.is_empty() {
                return Err(wrap("empty feedback message".into()));
            }
        }
        ItemType::Session => drop(check_lossless::<SessionUpdate>(payload).map_err(wrap)?),
        ItemType::Sessions => drop(check_lossless::<SessionAggregates>(payload).map_err(wrap)?),
        ItemType::CheckIn => drop(check_lossless::<CheckIn>(payload).map_err(wrap)?),
        ItemType::ClientReport => drop(check_lossless::<ClientReport>(payload).map_err(wrap)?),
        ItemType::UserReport => drop(check_lossless::<UserReport>(payload).map_err(wrap)?),
        ItemType::Log => {
            let logs: LogContainer = check_lossless(payload).map_err(wrap)?;
            let declared = item.headers.item_count.map(|n| n as usize);
            if declared.is_some_and(|n| n != logs.items.len()) {
                return Err(wrap(format!(
                    "item_count {declared:?} != {}",
                    logs.items.len()
                )));
            }
        }
        ItemType::Span => {
            // Streamed spans come as a container `{"items": [...]}` or one span.
            let value: Value = serde_json::from_slice(payload).map_err(|e| wrap(e.to_string()))?;
            if value.get("items").is_none() {
                drop(check_lossless::<Span>(payload).map_err(wrap)?);
            }
        }
        ItemType::Attachment if item.headers.filename.is_none() => {
            return Err(wrap("attachment without filename".into()));
        }
        _ => {}
    }
    Ok(())
}

fn check_fixture(fixture: &Fixture, seen: &mut Seen) -> Result<(), String> {
    let limits = Limits::default();
    let meta = &fixture.meta;
    let path = meta["path"].as_str().ok_or("no path")?;
    let encoding = ContentEncoding::parse(header(meta, "content-encoding").unwrap_or(""));
    let body = decompress(encoding, &fixture.body, limits.max_envelope_size as usize)
        .map_err(|e| format!("decompress ({encoding}): {e}"))?;

    let header_auth = header(meta, "x-sentry-auth")
        .map(Auth::from_header)
        .transpose()
        .map_err(|e| e.to_string())?;
    let query_auth =
        Auth::from_query(meta["query"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
    let path_project = Some(ProjectId::new(42));

    if path.ends_with("/envelope/") {
        let envelope = Envelope::parse(body.clone(), &limits).map_err(|e| e.to_string())?;
        envelope.validate().map_err(|e| e.to_string())?;
        let dsn: Option<Dsn> = envelope
            .headers()
            .dsn
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("dsn header: {e}"))?;
        let auth = reconcile(header_auth, query_auth, dsn.as_ref(), path_project)
            .map_err(|e| e.to_string())?;
        if auth.public_key != PUBLIC_KEY || auth.project_id != path_project {
            return Err(format!("wrong auth {auth:?}"));
        }
        if envelope.event_item().is_some() && envelope.event_id().is_none() {
            return Err("event envelope without event_id header".into());
        }
        // Framing round trip.
        let again = Envelope::parse(Bytes::from(envelope.to_vec()), &limits)
            .map_err(|e| format!("reparse: {e}"))?;
        if again != envelope {
            return Err("parse(write(e)) != e".into());
        }
        for item in envelope.items() {
            check_item(&fixture.name, item, seen)?;
        }
        // The event id of the header is the event's.
        if let (Some(id), Some(event)) = (envelope.event_id(), seen.events.get(&fixture.name)) {
            if event.event_id.is_some_and(|e| e != id) {
                return Err("event_id of header and payload differ".into());
            }
        }
    } else if path.ends_with("/store/") {
        let auth =
            reconcile(header_auth, query_auth, None, path_project).map_err(|e| e.to_string())?;
        if auth.public_key != PUBLIC_KEY {
            return Err(format!("wrong auth {auth:?}"));
        }
        let json =
            decode_store_body(body, limits.max_event_size as usize).map_err(|e| e.to_string())?;
        let event: Event = check_lossless(&json)?;
        seen.item_types.insert("store".into());
        seen.events.insert(fixture.name.clone(), event);
    } else {
        return Err(format!("unexpected path {path}"));
    }
    Ok(())
}

#[test]
fn every_fixture_parses_without_loss() {
    let fixtures = load_fixtures();
    assert!(fixtures.len() >= 60, "only {} fixtures", fixtures.len());
    let mut seen = Seen::default();
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|f| {
            check_fixture(f, &mut seen)
                .err()
                .map(|e| format!("{}: {e}", f.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    for ty in [
        "event",
        "transaction",
        "attachment",
        "session",
        "sessions",
        "check_in",
        "feedback",
        "user_report",
        "log",
        "span",
        "trace_metric",
        "store",
    ] {
        assert!(
            seen.item_types.contains(ty),
            "no fixture has a {ty} item: {:?}",
            seen.item_types
        );
    }

    // What the SDKs sent arrives in the schema's fields.
    let exception = |name: &str| {
        let event = &seen.events[name];
        let values = &event.exception.as_ref().expect("exception").values;
        values.last().expect("one exception").clone()
    };
    let py = exception("python/exception");
    assert_eq!(py.ty.as_deref(), Some("PaymentError"));
    let frames = &py.stacktrace.as_ref().expect("stacktrace").frames;
    assert!(
        frames.iter().any(|f| f.vars.is_some()),
        "python sends local variables"
    );
    assert!(frames.iter().any(|f| f.context_line.is_some()));

    let chain_len = |name: &str| {
        seen.events[name]
            .exception
            .as_ref()
            .map_or(0, |e| e.values.len())
    };
    assert!(chain_len("python/chained_exception") >= 2);
    assert!(chain_len("node/chained_error-2") >= 2);
    assert!(chain_len("rust/error_chain") >= 3);
    assert_eq!(
        exception("python/unhandled").mechanism.unwrap().handled,
        Some(false),
        "unhandled exceptions say so"
    );

    let fp = &seen.events["python/fingerprint"];
    assert!(
        fp.fingerprint
            .as_ref()
            .unwrap()
            .0
            .iter()
            .any(|f| f == "{{ default }}")
    );

    let scope = &seen.events["python/scope_data"];
    assert!(scope.tags.as_ref().is_some_and(|t| !t.is_empty()));
    assert!(scope.user.is_some() && scope.breadcrumbs.is_some() && scope.contexts.is_some());

    let raven = &seen.events["raven-python/exception"];
    assert!(raven.exception.is_some());
    let raven_node = &seen.events["raven-node/message"];
    assert!(raven_node.message_text().is_some());
}

#[test]
fn fixture_set_is_complete() {
    // The regenerate script covers every SDK; a lost scenario shows here.
    let names: BTreeSet<String> = load_fixtures().into_iter().map(|f| f.name).collect();
    for expected in [
        "python/exception",
        "python/message",
        "python/transaction",
        "python/attachment",
        "node/exception-2",
        "node/transaction_static",
        "rust/panic",
        "rust/transaction",
        "raven-python/message",
        "raven-node/exception",
    ] {
        assert!(names.contains(expected), "missing fixture {expected}");
    }
}
