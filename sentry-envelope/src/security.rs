//! Security reports that browsers post to `/api/<project_id>/security/`
//! (and the legacy `/csp-report/`), turned into events.
//!
//! Four kinds are read, each recognized by its top-level key:
//!
//! | kind | body | event `type` |
//! | --- | --- | --- |
//! | Content Security Policy | `{"csp-report": {...}}` (`report-uri`), or `{"type": "csp-violation", "body": {...}}` and lists of those (`report-to`, `application/reports+json`) | `csp` |
//! | Expect-CT | `{"expect-ct-report": {...}}` | `expectct` |
//! | Expect-Staple | `{"expect-staple-report": {...}}` | `expectstaple` |
//! | HTTP Public Key Pinning | `{"known-pins": [...], "hostname": ...}` | `hpkp` |
//!
//! The event has a title (`logentry`), a culprit, tags, the page as
//! `request`, and the report itself under the kind's interface key (`csp`,
//! `expectct`, `expectstaple`, `hpkp`) with `snake_case` field names; fields
//! this module does not know are kept as sent.
//!
//! A Reporting API list may mix in reports of other types (deprecations,
//! interventions...): those are skipped and named in
//! [`SecurityReports::skipped`], not refused.
//!
//! ```
//! use sentry_envelope::security::{self, ReportKind, SecurityLimits};
//!
//! let body = br#"{"csp-report": {"document-uri": "https://example.com/",
//!     "violated-directive": "script-src 'self'", "blocked-uri": "https://evil.example/x.js"}}"#;
//! let parsed = security::parse(body, &SecurityLimits::default())?;
//! let report = &parsed.reports[0];
//! assert_eq!(report.kind, ReportKind::Csp);
//! assert_eq!(report.event["type"], "csp");
//! assert_eq!(report.event["logentry"]["formatted"], "Blocked 'script' from 'evil.example'");
//! assert_eq!(report.event["csp"]["effective_directive"], "script-src");
//! assert_eq!(report.event["request"]["url"], "https://example.com/");
//! # Ok::<(), sentry_envelope::security::SecurityReportError>(())
//! ```

use std::fmt;

use serde_json::{Map, Value, json};

use crate::limits::{LimitError, LimitKind, Limits};
use crate::protocol::{PayloadError, from_json_slice};

/// Limits on a security report request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityLimits {
    /// The body ([`Limits::max_event_size`]).
    pub max_size: usize,
    /// JSON nesting ([`Limits::max_json_depth`]).
    pub max_json_depth: usize,
    /// Reports in one Reporting API list.
    pub max_reports: usize,
}

impl SecurityLimits {
    /// The limits under the given envelope limits, with at most 100
    /// reports in a list.
    pub fn from_limits(limits: &Limits) -> Self {
        SecurityLimits {
            max_size: usize::try_from(limits.max_event_size).unwrap_or(usize::MAX),
            max_json_depth: limits.max_json_depth,
            max_reports: 100,
        }
    }
}

impl Default for SecurityLimits {
    fn default() -> Self {
        SecurityLimits::from_limits(&Limits::default())
    }
}

/// The kind of a security report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// A Content Security Policy violation.
    Csp,
    /// An Expect-CT (certificate transparency) failure.
    ExpectCt,
    /// An Expect-Staple (OCSP stapling) failure.
    ExpectStaple,
    /// An HTTP Public Key Pinning failure.
    Hpkp,
}

impl ReportKind {
    /// The event `type`, which is also the key of the report's interface.
    pub fn event_type(self) -> &'static str {
        match self {
            ReportKind::Csp => "csp",
            ReportKind::ExpectCt => "expectct",
            ReportKind::ExpectStaple => "expectstaple",
            ReportKind::Hpkp => "hpkp",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReportKind::Csp => "csp",
            ReportKind::ExpectCt => "expect-ct",
            ReportKind::ExpectStaple => "expect-staple",
            ReportKind::Hpkp => "hpkp",
        })
    }
}

/// One report, as an event.
#[derive(Clone, Debug, PartialEq)]
pub struct SecurityReport {
    /// Its kind.
    pub kind: ReportKind,
    /// The event: a JSON object that parses as
    /// [`Event`](crate::protocol::Event).
    pub event: Map<String, Value>,
}

/// What a security report request holds.
#[derive(Debug, Default)]
pub struct SecurityReports {
    /// The reports, as events.
    pub reports: Vec<SecurityReport>,
    /// Entries of a list that were not used, and why.
    pub skipped: Vec<SecurityReportError>,
}

/// Why a security report (or one entry of a list) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityReportError {
    /// The body is empty or blank.
    #[error("empty security report")]
    Empty,
    /// The body is over [`SecurityLimits::max_size`].
    #[error("security report too large: {0}")]
    TooLarge(LimitError),
    /// A list of more than [`SecurityLimits::max_reports`] reports.
    #[error("more than {max} security reports in one request")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// Not JSON, or nested deeper than [`SecurityLimits::max_json_depth`].
    #[error("invalid security report: {0}")]
    Json(#[from] PayloadError),
    /// JSON, but none of the known kinds.
    #[error("invalid security report: not a csp, expect-ct, expect-staple or hpkp report")]
    Unrecognized,
    /// An empty list.
    #[error("no security reports in the list")]
    NoReports,
    /// A Reporting API report of another type.
    #[error("unsupported report type {0:?}")]
    Unsupported(String),
    /// A report of a known kind without what that kind needs.
    #[error("invalid {kind} report: {reason}")]
    Invalid {
        /// The kind.
        kind: ReportKind,
        /// What is missing or wrong.
        reason: &'static str,
    },
}

impl SecurityReportError {
    /// Whether a limit was exceeded (HTTP 413), rather than the report
    /// being invalid (HTTP 400).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            SecurityReportError::TooLarge(_) | SecurityReportError::TooMany { .. }
        )
    }
}

/// Reads a security report request body: one report, or a Reporting API
/// list of reports.
///
/// One report that cannot be used is an error; in a list, such entries are
/// skipped (a list with nothing usable gives no reports, not an error).
pub fn parse(body: &[u8], limits: &SecurityLimits) -> Result<SecurityReports, SecurityReportError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SecurityReportError::Empty);
    }
    if body.len() > limits.max_size {
        return Err(SecurityReportError::TooLarge(LimitError::new(
            LimitKind::EventSize,
            body.len() as u64,
            limits.max_size as u64,
        )));
    }
    let mut out = SecurityReports::default();
    match from_json_slice::<Value>(body, limits.max_json_depth)? {
        Value::Object(map) => match report_from_object(&map) {
            Ok(report) => out.reports.push(report),
            Err(SecurityReportError::Unsupported(ty)) => {
                out.skipped.push(SecurityReportError::Unsupported(ty));
            }
            Err(e) => return Err(e),
        },
        Value::Array(list) => {
            if list.is_empty() {
                return Err(SecurityReportError::NoReports);
            }
            if list.len() > limits.max_reports {
                return Err(SecurityReportError::TooMany {
                    max: limits.max_reports,
                });
            }
            for entry in &list {
                let result = match entry {
                    Value::Object(map) => report_from_object(map),
                    _ => Err(SecurityReportError::Unrecognized),
                };
                match result {
                    Ok(report) => out.reports.push(report),
                    Err(e) => out.skipped.push(e),
                }
            }
        }
        _ => return Err(SecurityReportError::Unrecognized),
    }
    Ok(out)
}

fn report_from_object(map: &Map<String, Value>) -> Result<SecurityReport, SecurityReportError> {
    let inner = |key: &str, kind: ReportKind| match map.get(key) {
        Some(Value::Object(inner)) => Ok(inner),
        _ => Err(SecurityReportError::Invalid {
            kind,
            reason: "the report is not an object",
        }),
    };
    if map.contains_key("csp-report") {
        csp(inner("csp-report", ReportKind::Csp)?, None)
    } else if map.contains_key("expect-ct-report") {
        tls_report(
            ReportKind::ExpectCt,
            inner("expect-ct-report", ReportKind::ExpectCt)?,
        )
    } else if map.contains_key("expect-staple-report") {
        tls_report(
            ReportKind::ExpectStaple,
            inner("expect-staple-report", ReportKind::ExpectStaple)?,
        )
    } else if map.contains_key("known-pins") {
        tls_report(ReportKind::Hpkp, map)
    } else if let Some(ty) = map.get("type").and_then(Value::as_str) {
        if ty == "csp-violation" {
            csp(inner("body", ReportKind::Csp)?, Some(map))
        } else {
            Err(SecurityReportError::Unsupported(ty.to_owned()))
        }
    } else {
        Err(SecurityReportError::Unrecognized)
    }
}

/// CSP directives (CSP Level 3, and older ones browsers still report).
const DIRECTIVES: &[&str] = &[
    "base-uri",
    "block-all-mixed-content",
    "child-src",
    "connect-src",
    "default-src",
    "fenced-frame-src",
    "font-src",
    "form-action",
    "frame-ancestors",
    "frame-src",
    "img-src",
    "manifest-src",
    "media-src",
    "navigate-to",
    "object-src",
    "plugin-types",
    "prefetch-src",
    "referrer",
    "report-to",
    "report-uri",
    "require-sri-for",
    "require-trusted-types-for",
    "sandbox",
    "script-src",
    "script-src-attr",
    "script-src-elem",
    "style-src",
    "style-src-attr",
    "style-src-elem",
    "trusted-types",
    "upgrade-insecure-requests",
    "webrtc",
    "worker-src",
];

/// CSP fields: the interface's name, then the names browsers send
/// (`report-uri` reports are kebab-case, Reporting API bodies camelCase).
const CSP_FIELDS: &[(&str, &[&str])] = &[
    (
        "effective_directive",
        &[
            "effective-directive",
            "effectiveDirective",
            "effective_directive",
        ],
    ),
    (
        "blocked_uri",
        &["blocked-uri", "blockedURL", "blockedURI", "blocked_uri"],
    ),
    (
        "document_uri",
        &["document-uri", "documentURL", "documentURI", "document_uri"],
    ),
    (
        "original_policy",
        &["original-policy", "originalPolicy", "original_policy"],
    ),
    ("referrer", &["referrer"]),
    ("status_code", &["status-code", "statusCode", "status_code"]),
    (
        "violated_directive",
        &[
            "violated-directive",
            "violatedDirective",
            "violated_directive",
        ],
    ),
    ("source_file", &["source-file", "sourceFile", "source_file"]),
    ("line_number", &["line-number", "lineNumber", "line_number"]),
    (
        "column_number",
        &["column-number", "columnNumber", "column_number"],
    ),
    (
        "script_sample",
        &["script-sample", "scriptSample", "sample", "script_sample"],
    ),
    ("disposition", &["disposition"]),
];

const NUMERIC_FIELDS: &[&str] = &["status_code", "line_number", "column_number", "port"];

/// A field as the interface keeps it: numbers for numeric fields (numeric
/// strings are converted), strings for the others; `None` for what does
/// not fit (null, or a non-numeric value of a numeric field).
fn normalize_field(name: &str, value: &Value) -> Option<Value> {
    if NUMERIC_FIELDS.contains(&name) {
        return match value {
            Value::Number(n) => n.as_u64().map(Value::from),
            Value::String(s) => s.trim().parse::<u64>().ok().map(Value::from),
            _ => None,
        };
    }
    match value {
        Value::Null => None,
        Value::String(_) | Value::Array(_) | Value::Object(_) => Some(value.clone()),
        Value::Bool(_) | Value::Number(_) => Some(Value::String(value.to_string())),
    }
}

fn directive_of(value: &str) -> Option<&'static str> {
    let first = value.split_ascii_whitespace().next()?;
    DIRECTIVES
        .iter()
        .find(|d| d.eq_ignore_ascii_case(first))
        .copied()
}

/// A blocked URI that names the page itself, or inline code.
fn is_local(uri: &str) -> bool {
    matches!(uri, "" | "self" | "'self'" | "inline" | "eval")
}

/// How a blocked URI is shown in a title: the host (and port) of web URLs,
/// the scheme of others.
fn normalize_uri(uri: &str) -> String {
    if is_local(uri) {
        return "'self'".into();
    }
    if !uri.contains(':') {
        // Browsers report `data`, `blob`... for such sources.
        return format!("{uri}:");
    }
    let Ok(url) = url::Url::parse(uri) else {
        return uri.to_owned();
    };
    let host = url.host_str().unwrap_or("");
    let base = match url.scheme() {
        "http" | "https" => host.to_owned(),
        scheme if host.is_empty() => format!("{scheme}:"),
        scheme => format!("{scheme}://{host}"),
    };
    match url.port() {
        Some(port) => format!("{base}:{port}"),
        None => base,
    }
}

fn csp_title(directive: &str, blocked: &str) -> String {
    if directive == "script-src" {
        match blocked {
            "inline" => return "Blocked unsafe inline 'script'".into(),
            "eval" => return "Blocked unsafe eval() 'script'".into(),
            _ => {}
        }
    }
    let what = match directive {
        "child-src" => "child",
        "connect-src" => "connect",
        "font-src" => "font",
        "frame-src" => "frame",
        "img-src" => "image",
        "manifest-src" => "manifest",
        "media-src" => "media",
        "object-src" => "object",
        "script-src" | "script-src-elem" | "script-src-attr" => "script",
        "style-src" | "style-src-elem" | "style-src-attr" => "style",
        "worker-src" => "worker",
        other => other,
    };
    if is_local(blocked) {
        if directive == "script-src" {
            "Blocked unsafe (eval() or inline) 'script'".into()
        } else {
            format!("Blocked inline '{what}'")
        }
    } else if directive == "form-action" {
        format!("Blocked 'form' action to '{}'", normalize_uri(blocked))
    } else {
        format!("Blocked '{what}' from '{}'", normalize_uri(blocked))
    }
}

fn tag(key: &str, value: impl Into<Value>) -> Value {
    json!([key, value.into()])
}

/// A CSP report (`body`), and the Reporting API envelope around it.
fn csp(
    body: &Map<String, Value>,
    envelope: Option<&Map<String, Value>>,
) -> Result<SecurityReport, SecurityReportError> {
    let mut iface = Map::new();
    for (key, value) in body {
        let known = CSP_FIELDS
            .iter()
            .find(|(_, aliases)| aliases.contains(&key.as_str()));
        match known {
            Some((name, _)) => {
                if !iface.contains_key(*name) {
                    if let Some(value) = normalize_field(name, value) {
                        iface.insert((*name).to_owned(), value);
                    }
                }
            }
            None => {
                iface.insert(key.clone(), value.clone());
            }
        }
    }
    let text = |iface: &Map<String, Value>, key: &str| {
        iface.get(key).and_then(Value::as_str).map(str::to_owned)
    };
    if iface.get("document_uri").is_none() {
        if let Some(url) = envelope.and_then(|e| e.get("url")).and_then(Value::as_str) {
            iface.insert("document_uri".into(), url.into());
        }
    }
    let violated = text(&iface, "violated_directive").unwrap_or_default();
    let directive = text(&iface, "effective_directive")
        .as_deref()
        .and_then(directive_of)
        .or_else(|| directive_of(&violated))
        .ok_or(SecurityReportError::Invalid {
            kind: ReportKind::Csp,
            reason: "no known directive in effective-directive or violated-directive",
        })?;
    let blocked = text(&iface, "blocked_uri").unwrap_or_else(|| "self".into());
    iface.insert("effective_directive".into(), directive.into());
    iface.insert("blocked_uri".into(), blocked.clone().into());
    iface.insert("violated_directive".into(), violated.clone().into());

    let mut tags = vec![
        tag("effective-directive", directive),
        tag("blocked-uri", blocked.clone()),
    ];
    if let Ok(url) = url::Url::parse(&blocked) {
        if let ("http" | "https", Some(host)) = (url.scheme(), url.host_str()) {
            tags.push(tag("blocked-host", host));
        }
    }
    let mut headers = Vec::new();
    if let Some(referrer) = text(&iface, "referrer").filter(|r| !r.is_empty()) {
        headers.push(json!(["Referer", referrer]));
    }
    if let Some(agent) = envelope
        .and_then(|e| e.get("user_agent"))
        .and_then(Value::as_str)
    {
        headers.push(json!(["User-Agent", agent]));
    }
    let mut request = Map::new();
    if let Some(url) = text(&iface, "document_uri") {
        request.insert("url".into(), url.into());
    }
    if !headers.is_empty() {
        request.insert("headers".into(), headers.into());
    }
    let culprit = if violated.trim().is_empty() {
        directive.to_owned()
    } else {
        violated.trim().to_owned()
    };
    Ok(event(
        ReportKind::Csp,
        csp_title(directive, &blocked),
        culprit,
        tags,
        request,
        iface,
    ))
}

/// An Expect-CT, Expect-Staple or HPKP report: all three name the host
/// whose TLS connection failed the check.
fn tls_report(
    kind: ReportKind,
    report: &Map<String, Value>,
) -> Result<SecurityReport, SecurityReportError> {
    let mut iface = Map::new();
    for (key, value) in report {
        let name = key.replace('-', "_");
        let value = if NUMERIC_FIELDS.contains(&name.as_str()) {
            normalize_field(&name, value)
        } else {
            Some(value.clone()).filter(|v| !v.is_null())
        };
        if let Some(value) = value {
            iface.entry(name).or_insert(value);
        }
    }
    let hostname = iface
        .get("hostname")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .ok_or(SecurityReportError::Invalid {
            kind,
            reason: "no hostname",
        })?;
    let title = match kind {
        ReportKind::ExpectCt => format!("Expect-CT failed for '{hostname}'"),
        ReportKind::ExpectStaple => format!("Expect-Staple failed for '{hostname}'"),
        ReportKind::Hpkp | ReportKind::Csp => {
            format!("Public key pinning validation failed for '{hostname}'")
        }
    };
    let mut tags = vec![tag("hostname", hostname.clone())];
    if let Some(port) = iface.get("port").and_then(Value::as_u64) {
        tags.push(tag("port", port.to_string()));
    }
    let extra_tag = match kind {
        ReportKind::ExpectStaple => Some(("response_status", "response-status")),
        ReportKind::Hpkp => Some(("include_subdomains", "include-subdomains")),
        ReportKind::ExpectCt | ReportKind::Csp => None,
    };
    if let Some((field, key)) = extra_tag {
        match iface.get(field) {
            Some(Value::String(value)) => tags.push(tag(key, value.clone())),
            Some(value @ (Value::Bool(_) | Value::Number(_))) => {
                tags.push(tag(key, value.to_string()));
            }
            _ => {}
        }
    }
    Ok(event(kind, title, hostname, tags, Map::new(), iface))
}

fn event(
    kind: ReportKind,
    title: String,
    culprit: String,
    tags: Vec<Value>,
    request: Map<String, Value>,
    iface: Map<String, Value>,
) -> SecurityReport {
    let mut event = Map::new();
    event.insert("type".into(), kind.event_type().into());
    event.insert("logentry".into(), json!({ "formatted": title }));
    event.insert("culprit".into(), culprit.into());
    event.insert("tags".into(), tags.into());
    if !request.is_empty() {
        event.insert("request".into(), request.into());
    }
    event.insert(kind.event_type().into(), iface.into());
    SecurityReport { kind, event }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::Event;

    fn one(body: &str) -> SecurityReport {
        let mut parsed = parse(body.as_bytes(), &SecurityLimits::default()).unwrap();
        assert_eq!(parsed.reports.len(), 1, "{:?}", parsed.skipped);
        let report = parsed.reports.remove(0);
        // Every event is one the event schema reads.
        let json = serde_json::to_vec(&report.event).unwrap();
        let _: Event = from_json_slice(&json, 200).unwrap();
        report
    }

    #[test]
    fn csp_report_uri() {
        let report = one(r#"{"csp-report": {
                "document-uri": "https://example.com/foo/bar",
                "referrer": "https://www.google.com/",
                "violated-directive": "default-src self",
                "original-policy": "default-src self; report-uri /csp-hotline.php",
                "blocked-uri": "http://evilhackerscripts.com:8080/x.js",
                "status-code": "200",
                "line-number": 24,
                "x-custom": true
            }}"#);
        assert_eq!(report.kind, ReportKind::Csp);
        assert_eq!(
            Value::Object(report.event),
            json!({
                "type": "csp",
                "logentry": {"formatted": "Blocked 'default-src' from 'evilhackerscripts.com:8080'"},
                "culprit": "default-src self",
                "tags": [
                    ["effective-directive", "default-src"],
                    ["blocked-uri", "http://evilhackerscripts.com:8080/x.js"],
                    ["blocked-host", "evilhackerscripts.com"],
                ],
                "request": {
                    "url": "https://example.com/foo/bar",
                    "headers": [["Referer", "https://www.google.com/"]],
                },
                "csp": {
                    "effective_directive": "default-src",
                    "blocked_uri": "http://evilhackerscripts.com:8080/x.js",
                    "document_uri": "https://example.com/foo/bar",
                    "original_policy": "default-src self; report-uri /csp-hotline.php",
                    "referrer": "https://www.google.com/",
                    "violated_directive": "default-src self",
                    "status_code": 200,
                    "line_number": 24,
                    "x-custom": true,
                },
            })
        );
    }

    #[test]
    fn csp_titles() {
        let title = |directive: &str, blocked: &str| {
            let body =
                json!({"csp-report": {"effective-directive": directive, "blocked-uri": blocked}});
            one(&body.to_string()).event["logentry"]["formatted"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            title("script-src", "inline"),
            "Blocked unsafe inline 'script'"
        );
        assert_eq!(
            title("script-src", "eval"),
            "Blocked unsafe eval() 'script'"
        );
        assert_eq!(
            title("script-src", "self"),
            "Blocked unsafe (eval() or inline) 'script'"
        );
        assert_eq!(title("style-src-elem", ""), "Blocked inline 'style'");
        assert_eq!(title("img-src", "data"), "Blocked 'image' from 'data:'");
        assert_eq!(
            title("font-src", "blob:https://a.example/1"),
            "Blocked 'font' from 'blob:'"
        );
        assert_eq!(
            title("form-action", "https://x.example/post"),
            "Blocked 'form' action to 'x.example'"
        );
        assert_eq!(
            title("frame-ancestors", "wss://h.example"),
            "Blocked 'frame-ancestors' from 'wss://h.example'"
        );
        // A missing blocked-uri is the page itself, as Relay reads it.
        let report = one(r#"{"csp-report": {"violated-directive": "img-src 'none'"}}"#);
        assert_eq!(report.event["csp"]["blocked_uri"], "self");
        assert_eq!(report.event["csp"]["effective_directive"], "img-src");
    }

    #[test]
    fn csp_reporting_api_list() {
        let body = r#"[
            {"type": "csp-violation", "age": 10, "url": "https://example.com/page",
             "user_agent": "Mozilla/5.0", "body": {
                "blockedURL": "https://cdn.evil.example/a.js", "effectiveDirective": "script-src-elem",
                "originalPolicy": "script-src 'self'", "disposition": "enforce",
                "statusCode": 200, "sample": "", "lineNumber": "7"}},
            {"type": "deprecation", "url": "https://example.com/", "body": {"id": "x"}},
            {"type": "csp-violation", "body": {"blockedURL": "inline"}},
            42
        ]"#;
        let parsed = parse(body.as_bytes(), &SecurityLimits::default()).unwrap();
        assert_eq!(parsed.reports.len(), 1);
        let event = &parsed.reports[0].event;
        assert_eq!(
            event["logentry"]["formatted"],
            "Blocked 'script' from 'cdn.evil.example'"
        );
        assert_eq!(event["request"]["url"], "https://example.com/page");
        assert_eq!(
            event["request"]["headers"],
            json!([["User-Agent", "Mozilla/5.0"]])
        );
        assert_eq!(event["csp"]["line_number"], 7);
        assert_eq!(event["csp"]["script_sample"], "");
        assert_eq!(parsed.skipped.len(), 3, "{:?}", parsed.skipped);
        assert!(
            matches!(&parsed.skipped[0], SecurityReportError::Unsupported(t) if t == "deprecation")
        );
        assert!(matches!(
            parsed.skipped[1],
            SecurityReportError::Invalid {
                kind: ReportKind::Csp,
                ..
            }
        ));
        assert!(matches!(
            parsed.skipped[2],
            SecurityReportError::Unrecognized
        ));

        // One report of another type is skipped, not refused.
        let parsed = parse(
            br#"{"type": "intervention", "body": {}}"#,
            &SecurityLimits::default(),
        )
        .unwrap();
        assert!(parsed.reports.is_empty());
        assert_eq!(parsed.skipped.len(), 1);
    }

    #[test]
    fn expect_ct() {
        let report = one(r#"{"expect-ct-report": {
                "date-time": "2014-04-06T13:00:50Z", "hostname": "www.example.com", "port": 443,
                "effective-expiration-date": "2014-05-01T12:40:50Z",
                "served-certificate-chain": ["-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"],
                "validated-certificate-chain": [],
                "scts": [{"version": 1, "status": "invalid", "source": "embedded", "serialized_sct": "ABC="}]
            }}"#);
        assert_eq!(report.kind, ReportKind::ExpectCt);
        assert_eq!(report.event["type"], "expectct");
        assert_eq!(
            report.event["logentry"]["formatted"],
            "Expect-CT failed for 'www.example.com'"
        );
        assert_eq!(report.event["culprit"], "www.example.com");
        assert_eq!(
            report.event["tags"],
            json!([["hostname", "www.example.com"], ["port", "443"]])
        );
        assert_eq!(
            report.event["expectct"]["effective_expiration_date"],
            "2014-05-01T12:40:50Z"
        );
        assert_eq!(report.event["expectct"]["scts"][0]["status"], "invalid");
    }

    #[test]
    fn expect_staple() {
        let report = one(r#"{"expect-staple-report": {
                "date-time": "2014-04-06T13:00:50Z", "hostname": "www.example.com", "port": "443",
                "response-status": "ERROR_RESPONSE", "cert-status": "REVOKED",
                "served-certificate-chain": [], "validated-certificate-chain": []
            }}"#);
        assert_eq!(report.event["type"], "expectstaple");
        assert_eq!(
            report.event["logentry"]["formatted"],
            "Expect-Staple failed for 'www.example.com'"
        );
        assert_eq!(
            report.event["tags"],
            json!([
                ["hostname", "www.example.com"],
                ["port", "443"],
                ["response-status", "ERROR_RESPONSE"]
            ])
        );
        assert_eq!(report.event["expectstaple"]["cert_status"], "REVOKED");
        assert_eq!(report.event["expectstaple"]["port"], 443);
    }

    #[test]
    fn hpkp() {
        let report = one(
            r#"{"date-time": "2014-04-06T13:00:50Z", "hostname": "www.example.com", "port": 443,
                "effective-expiration-date": "2014-05-01T12:40:50Z", "include-subdomains": false,
                "served-certificate-chain": [], "validated-certificate-chain": [],
                "known-pins": ["pin-sha256=\"d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=\""]}"#,
        );
        assert_eq!(report.event["type"], "hpkp");
        assert_eq!(
            report.event["logentry"]["formatted"],
            "Public key pinning validation failed for 'www.example.com'"
        );
        assert_eq!(
            report.event["tags"],
            json!([
                ["hostname", "www.example.com"],
                ["port", "443"],
                ["include-subdomains", "false"]
            ])
        );
        assert_eq!(
            report.event["hpkp"]["known_pins"][0],
            "pin-sha256=\"d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=\""
        );
    }

    #[test]
    fn refusals() {
        let limits = SecurityLimits {
            max_size: 100,
            max_json_depth: 5,
            max_reports: 2,
        };
        let err = |body: &str| parse(body.as_bytes(), &limits).unwrap_err();
        assert!(matches!(err(" \n"), SecurityReportError::Empty));
        let e = err(&format!("{{\"csp-report\": \"{}\"}}", "x".repeat(100)));
        assert!(matches!(e, SecurityReportError::TooLarge(_)) && e.is_limit());
        assert!(matches!(err("{nope"), SecurityReportError::Json(_)));
        assert!(matches!(
            err("[[[[[[1]]]]]]"),
            SecurityReportError::Json(PayloadError::TooDeep(5))
        ));
        assert!(matches!(err("{}"), SecurityReportError::Unrecognized));
        assert!(matches!(
            err("\"csp-report\""),
            SecurityReportError::Unrecognized
        ));
        assert!(matches!(err("[]"), SecurityReportError::NoReports));
        let e = err("[{}, {}, {}]");
        assert!(matches!(e, SecurityReportError::TooMany { max: 2 }) && e.is_limit());
        assert!(matches!(
            err(r#"{"csp-report": 1}"#),
            SecurityReportError::Invalid {
                kind: ReportKind::Csp,
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"csp-report": {"violated-directive": "nonsense"}}"#),
            SecurityReportError::Invalid {
                kind: ReportKind::Csp,
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"expect-ct-report": {"port": 1}}"#),
            SecurityReportError::Invalid {
                kind: ReportKind::ExpectCt,
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"known-pins": [], "hostname": ""}"#),
            SecurityReportError::Invalid {
                kind: ReportKind::Hpkp,
                ..
            }
        ));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z:/. '-]{0,12}".prop_map(Value::from),
            Just(Value::from("script-src")),
            Just(Value::from("https://a.example:1/x")),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("csp-report".to_owned()),
                        Just("expect-ct-report".to_owned()),
                        Just("known-pins".to_owned()),
                        Just("hostname".to_owned()),
                        Just("type".to_owned()),
                        Just("body".to_owned()),
                        Just("blocked-uri".to_owned()),
                        Just("effective-directive".to_owned()),
                        Just("port".to_owned()),
                        "[a-z-]{1,8}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_report_is_an_event(value in json_value()) {
            let body = serde_json::to_vec(&value).unwrap();
            if let Ok(parsed) = parse(&body, &SecurityLimits::default()) {
                for report in parsed.reports {
                    prop_assert_eq!(report.event["type"].as_str(), Some(report.kind.event_type()));
                    prop_assert!(report.event["logentry"]["formatted"].is_string());
                    let json = serde_json::to_vec(&report.event).unwrap();
                    prop_assert!(from_json_slice::<Event>(&json, 200).is_ok());
                }
            }
        }
    }
}
