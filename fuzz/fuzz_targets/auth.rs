//! Request authentication.
//!
//! The input is up to four lines: an `X-Sentry-Auth` header value, a query
//! string, a DSN (the envelope's `dsn` header) and a project id (the request
//! path). Properties:
//!
//! - `Auth::from_header`, `Auth::from_query` and `reconcile` never panic
//!   (the whole input is also tried as a header and as a query);
//! - what they return is consistent: a parsed credential has a non-empty
//!   key, and a reconciled one has the key of every source given and the
//!   project of the path, else of the DSN.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_envelope::{Auth, Dsn, ProjectId, reconcile};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Auth::from_header(&text);
    let _ = Auth::from_query(&text);

    let mut lines = text.splitn(4, '\n');
    let header_text = lines.next().unwrap_or("");
    let query_text = lines.next().unwrap_or("");
    let dsn_text = lines.next().unwrap_or("");
    let path_text = lines.next().unwrap_or("");

    let header = Auth::from_header(header_text).ok();
    let query = Auth::from_query(query_text).ok().flatten();
    let dsn = dsn_text.parse::<Dsn>().ok();
    let path = path_text.trim().parse::<ProjectId>().ok();
    for auth in header.iter().chain(query.iter()) {
        assert!(!auth.public_key.is_empty(), "{auth:?}");
    }

    let result = reconcile(header.clone(), query.clone(), dsn.as_ref(), path);
    let Ok(auth) = result else {
        return;
    };
    let keys = header
        .iter()
        .map(|a| a.public_key.as_str())
        .chain(query.iter().map(|a| a.public_key.as_str()))
        .chain(dsn.iter().map(|d| d.public_key()));
    for key in keys {
        assert_eq!(auth.public_key, key, "input: {text:?}");
    }
    assert_eq!(
        auth.project_id,
        path.or(dsn.as_ref().map(|d| d.project_id())),
        "input: {text:?}"
    );
});
