//! Sentry's JSON shapes: camelCase names, ids as strings, ISO-8601 dates.

use chrono::{DateTime, SecondsFormat, Utc};
use sentry_eventstore::{
    Issue, Member, Organization, Project, ProjectKey, Role, StoredEvent, Team,
};
use serde_json::{Map, Value, json};

/// A date as Sentry writes it: `2026-11-23T10:00:00.123456Z`.
pub(crate) fn date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Crockford base32, as Sentry's short ids use (`INTERNAL-1A`).
fn base32(mut n: u64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut out = Vec::new();
    loop {
        out.push(ALPHABET[(n % 32) as usize]);
        n /= 32;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

pub(crate) fn short_id(project_slug: &str, seq: i64) -> String {
    format!(
        "{}-{}",
        project_slug.to_uppercase(),
        base32(seq.unsigned_abs())
    )
}

pub(crate) fn organization(o: &Organization, role: Role) -> Value {
    json!({
        "id": o.id.to_string(),
        "slug": o.slug,
        "name": o.name,
        "dateCreated": date(o.date_created),
        "status": {"id": "active", "name": "active"},
        "isEarlyAdopter": false,
        "require2FA": false,
        "features": [],
        "access": role.scopes(),
        "orgRole": role.as_str(),
    })
}

pub(crate) fn member(m: &Member) -> Value {
    json!({
        "id": m.user.id.to_string(),
        "email": m.user.email,
        "name": m.user.email,
        "role": m.role.as_str(),
        "orgRole": m.role.as_str(),
        "roleName": match m.role {
            Role::Member => "Member",
            Role::Manager => "Manager",
            Role::Owner => "Owner",
        },
        "pending": false,
        "expired": false,
        "dateCreated": date(m.date_added),
        "user": {
            "id": m.user.id.to_string(),
            "username": m.user.username,
            "email": m.user.email,
            "name": m.user.email,
            "isSuperuser": m.user.is_superuser,
            "dateJoined": date(m.user.date_joined),
        },
    })
}

pub(crate) fn team(t: &Team, projects: &[Project]) -> Value {
    let projects: Vec<Value> = projects
        .iter()
        .filter(|p| p.team_id == Some(t.id))
        .map(project)
        .collect();
    json!({
        "id": t.id.to_string(),
        "slug": t.slug,
        "name": t.name,
        "dateCreated": date(t.date_created),
        "isMember": true,
        "hasAccess": true,
        "memberCount": null,
        "projects": projects,
    })
}

pub(crate) fn project(p: &Project) -> Value {
    json!({
        "id": p.id.to_string(),
        "slug": p.slug,
        "name": p.name,
        "platform": p.platform,
        "dateCreated": date(p.date_created),
        "isBookmarked": false,
        "isMember": true,
        "hasAccess": true,
        "isPublic": false,
        "status": "active",
        "features": [],
        "firstEvent": null,
        "color": "#3f70bf",
    })
}

/// A client key, with its DSNs built on `base_url`.
pub(crate) fn key(k: &ProjectKey, base_url: &str) -> Value {
    let (scheme, host) = base_url.split_once("://").unwrap_or(("http", base_url));
    let host = host.trim_end_matches('/');
    let dsn = format!("{scheme}://{}@{host}/{}", k.public_key, k.project_id);
    let secret = format!(
        "{scheme}://{}:{}@{host}/{}",
        k.public_key, k.secret_key, k.project_id
    );
    let api = format!("{scheme}://{host}/api/{}", k.project_id);
    json!({
        "id": k.public_key,
        "name": k.label,
        "label": k.label,
        "public": k.public_key,
        "secret": k.secret_key,
        "projectId": k.project_id,
        "isActive": k.is_active,
        "rateLimit": k.rate_limit.map(|l| json!({"window": l.window, "count": l.count})),
        "dsn": {
            "public": dsn,
            "secret": secret,
            "csp": format!("{api}/csp-report/?sentry_key={}", k.public_key),
            "security": format!("{api}/security/?sentry_key={}", k.public_key),
            "minidump": format!("{api}/minidump/?sentry_key={}", k.public_key),
            "unreal": format!("{api}/unreal/{}/", k.public_key),
            "cdn": null,
            "crons": format!("{api}/cron/___MONITOR_SLUG___/{}/", k.public_key),
        },
        "browserSdkVersion": "latest",
        "browserSdk": {"choices": [["latest", "latest"]]},
        "dateCreated": date(k.date_created),
    })
}

pub(crate) fn issue(i: &Issue, p: &Project, org_slug: &str, base_url: &str) -> Value {
    json!({
        "id": i.id.to_string(),
        "shareId": null,
        "shortId": short_id(&p.slug, i.short_id),
        "title": i.title,
        // Sentry's culprit is a string, empty when nothing names one.
        "culprit": i.culprit.as_deref().unwrap_or_default(),
        "permalink": format!("{}/organizations/{org_slug}/issues/{}/", base_url.trim_end_matches('/'), i.id),
        "logger": i.logger,
        "level": i.level,
        "status": i.status.as_str(),
        "statusDetails": {},
        "substatus": match i.status {
            sentry_eventstore::IssueStatus::Unresolved => "ongoing",
            sentry_eventstore::IssueStatus::Resolved => "resolved",
            sentry_eventstore::IssueStatus::Ignored => "archived_forever",
        },
        "isPublic": false,
        "platform": i.platform,
        "project": {
            "id": p.id.to_string(),
            "name": p.name,
            "slug": p.slug,
            "platform": p.platform,
        },
        "type": i.event_type,
        "metadata": i.metadata,
        "numComments": 0,
        "assignedTo": null,
        "isBookmarked": false,
        "isSubscribed": false,
        "subscriptionDetails": null,
        "hasSeen": false,
        "annotations": [],
        "issueType": "error",
        "issueCategory": "error",
        "isUnhandled": i.is_unhandled,
        "count": i.times_seen.to_string(),
        "userCount": i.user_count,
        "firstSeen": date(i.first_seen),
        "lastSeen": date(i.last_seen),
        "firstRelease": i.first_release.as_ref().map(|v| json!({"version": v})),
        "stats": {},
    })
}

/// The tags of a stored event as `[{"key": .., "value": ..}]`, whichever
/// form (object or pair list) the payload holds.
fn tags(payload: &Value) -> Vec<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    match payload.get("tags") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                out.push(json!({"key": k, "value": text(v)}));
            }
        }
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
                    out.push(json!({"key": text(k), "value": text(v)}));
                }
            }
        }
        _ => {}
    }
    out.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    out
}

/// The message text, read from the stored JSON as
/// `Event::message_text` reads it: `logentry` first, then `message` (a
/// string or an old-style entry object). No full deserialization: this runs
/// for every row of an event list.
fn message_text(payload: &Value) -> String {
    let from_entry = |entry: &Value| {
        entry
            .get("formatted")
            .or_else(|| entry.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    payload
        .get("logentry")
        .and_then(from_entry)
        .or_else(|| match payload.get("message") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(entry @ Value::Object(_)) => from_entry(entry),
            _ => None,
        })
        .unwrap_or_default()
}

fn str_field(payload: &Value, key: &str) -> Value {
    payload.get(key).cloned().unwrap_or(Value::Null)
}

/// The short form of an event, as in event lists.
pub(crate) fn event_summary(e: &StoredEvent) -> Value {
    let p = &e.payload;
    let id = e.event_id.0.simple().to_string();
    json!({
        "id": id,
        "eventID": id,
        "groupID": e.group_id.to_string(),
        "projectID": e.project_id.to_string(),
        "title": str_field(p, "title"),
        "message": message_text(p),
        "culprit": str_field(p, "culprit"),
        "location": str_field(p, "location"),
        "platform": str_field(p, "platform"),
        "event.type": str_field(p, "type"),
        "dateCreated": date(e.timestamp),
        "dateReceived": date(e.received),
        "tags": tags(p),
        "user": str_field(p, "user"),
    })
}

/// The full event, with Sentry's `entries` list.
pub(crate) fn event_detail(
    e: &StoredEvent,
    previous: Option<String>,
    next: Option<String>,
) -> Value {
    let p = &e.payload;
    let mut out = match event_summary(e) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut entries = Vec::new();
    if let Some(exception) = p.get("exception") {
        let values = exception.get("values").cloned().unwrap_or(Value::Null);
        let has_system_frames = values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.pointer("/stacktrace/frames")?.as_array())
            .flatten()
            .any(|f| f.get("in_app") != Some(&Value::Bool(true)));
        entries.push(json!({
            "type": "exception",
            "data": {"values": values, "hasSystemFrames": has_system_frames, "excOmitted": null},
        }));
    }
    if let Some(stacktrace) = p.get("stacktrace") {
        entries.push(json!({"type": "stacktrace", "data": stacktrace}));
    }
    if let Some(threads) = p.get("threads") {
        entries.push(json!({"type": "threads", "data": threads}));
    }
    let logentry = p
        .get("logentry")
        .cloned()
        .or_else(|| match p.get("message") {
            Some(Value::String(s)) => Some(json!({"formatted": s})),
            other => other.cloned(),
        });
    if let Some(logentry) = logentry {
        entries.push(json!({"type": "message", "data": logentry}));
    }
    if let Some(breadcrumbs) = p.get("breadcrumbs") {
        let values = breadcrumbs
            .get("values")
            .cloned()
            .unwrap_or(breadcrumbs.clone());
        entries.push(json!({"type": "breadcrumbs", "data": {"values": values}}));
    }
    if let Some(request) = p.get("request") {
        entries.push(json!({"type": "request", "data": request}));
    }
    let release = p
        .get("release")
        .and_then(Value::as_str)
        .map(|v| json!({"version": v, "shortVersion": v}));
    for (key, value) in [
        ("type", str_field(p, "type")),
        ("metadata", p.get("metadata").cloned().unwrap_or(json!({}))),
        ("entries", Value::Array(entries)),
        ("contexts", p.get("contexts").cloned().unwrap_or(json!({}))),
        ("context", p.get("extra").cloned().unwrap_or(json!({}))),
        ("sdk", str_field(p, "sdk")),
        ("packages", p.get("modules").cloned().unwrap_or(json!({}))),
        (
            "fingerprints",
            p.get("fingerprint").cloned().unwrap_or(json!([])),
        ),
        ("release", release.unwrap_or(Value::Null)),
        ("dist", str_field(p, "dist")),
        ("environment", str_field(p, "environment")),
        ("logger", str_field(p, "logger")),
        ("level", str_field(p, "level")),
        ("errors", p.get("errors").cloned().unwrap_or(json!([]))),
        (
            "size",
            json!(serde_json::to_vec(p).map(|b| b.len()).unwrap_or(0)),
        ),
        ("previousEventID", json!(previous)),
        ("nextEventID", json!(next)),
        ("crashFile", Value::Null),
        ("occurrence", Value::Null),
        ("_meta", json!({})),
    ] {
        out.insert(key.to_owned(), value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_use_crockford_base32() {
        assert_eq!(short_id("internal", 1), "INTERNAL-1");
        assert_eq!(short_id("web", 42), "WEB-1A");
        assert_eq!(short_id("web", 32 * 32), "WEB-100");
    }

    #[test]
    fn message_text_from_any_field() {
        let cases = [
            (
                json!({"logentry": {"formatted": "a", "message": "b"}, "message": "c"}),
                "a",
            ),
            (json!({"logentry": {"message": "b"}}), "b"),
            (json!({"message": "c"}), "c"),
            (json!({"message": {"message": "d"}}), "d"),
            (json!({}), ""),
        ];
        for (payload, want) in cases {
            assert_eq!(message_text(&payload), want, "{payload}");
        }
    }

    #[test]
    fn tags_from_either_form() {
        let map = json!({"tags": {"b": "2", "a": 1}});
        let list = json!({"tags": [["b", "2"], ["a", "1"]]});
        assert_eq!(tags(&map), tags(&list));
        assert_eq!(tags(&map)[0], json!({"key": "a", "value": "1"}));
    }
}
