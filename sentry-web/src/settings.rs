//! Project settings and stats: the project details endpoint, inbound
//! filters, and the organization stats built from outcomes.
//!
//! Settings changed here apply to the next request without a restart:
//! the project's cached config is dropped at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, TimeDelta, Utc};
use sentry_envelope::DataCategory;
use sentry_eventstore::{OutcomeQuery, Project, ProjectUpdate, slugify};
use sentry_relay_core::filter::LegacyBrowser;
use sentry_relay_core::outcome::OutcomeKind;
use sentry_relay_core::pii::{CompiledPiiConfig, PiiConfig};
use sentry_relay_core::quota::Quota;
use sentry_relay_core::{CompiledProject, ProjectSettings};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::api::{ApiError, ApiResult, Caller, Params};
use crate::serialize;

/// The inbound filters of the filters endpoint, by Sentry's ids.
pub(crate) const FILTERS: &[(&str, &str, &str)] = &[
    (
        "browser-extensions",
        "Filter out errors known to be caused by browser extensions",
        "Certain browser extensions will inject inline scripts and are known to cause errors.",
    ),
    (
        "localhost",
        "Filter out events coming from localhost",
        "This applies to both IPv4 (``127.0.0.1``) and IPv6 (``::1``) addresses.",
    ),
    (
        "legacy-browsers",
        "Filter out known errors from legacy browsers",
        "Older browsers often give less accurate information, and while they may report valid issues, the context to understand them is incorrect or missing.",
    ),
    (
        "web-crawlers",
        "Filter out known web crawlers",
        "Some crawlers may execute pages in incompatible ways which then cause errors that are unlikely to be seen by a normal user.",
    ),
    (
        "filtered-transaction",
        "Filter out health check transactions",
        "Filter transactions that match most common naming patterns for health checks.",
    ),
];

/// The project as Sentry's project details endpoint shows it: the
/// project, its data scrubbing settings, allowed domains, advanced rules,
/// the filters that take lists, and (beyond Sentry's shape) its quotas.
fn details(project: &Project, settings: &ProjectSettings) -> Value {
    let mut out = serialize::project(project);
    let scrubbing = &settings.datascrubbing_settings;
    let filters = &settings.filter_settings;
    let extra = json!({
        "dataScrubber": scrubbing.scrub_data,
        "dataScrubberDefaults": scrubbing.scrub_defaults,
        "scrubIPAddresses": scrubbing.scrub_ip_addresses,
        "sensitiveFields": scrubbing.sensitive_fields,
        "safeFields": scrubbing.exclude_fields,
        "allowedDomains": settings.allowed_domains,
        "trustedRelays": settings.trusted_relays,
        "relayPiiConfig": settings
            .pii_config
            .as_ref()
            .and_then(|c| serde_json::to_string_pretty(c).ok()),
        "options": {
            "filters:error_messages": filters.error_messages.patterns.join("\n"),
            "filters:releases": filters.releases.releases.join("\n"),
            "filters:blacklisted_ips": filters.client_ips.blacklisted_ips.join("\n"),
        },
        "quotas": settings.quotas,
    });
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

pub(crate) async fn settings_of(state: &AppState, project: &Project) -> ApiResult<ProjectSettings> {
    let config = state
        .store
        .project_config(project.id.unsigned_abs())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(config.settings)
}

/// `GET /api/0/projects/{org}/{project}/`
pub(crate) async fn get_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:read")
        .await?;
    let settings = settings_of(&state, &project).await?;
    Ok(Json(details(&project, &settings)).into_response())
}

/// The fields `PUT /api/0/projects/{org}/{project}/` takes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateProjectBody {
    name: Option<String>,
    slug: Option<String>,
    platform: Option<String>,
    data_scrubber: Option<bool>,
    data_scrubber_defaults: Option<bool>,
    #[serde(rename = "scrubIPAddresses")]
    scrub_ip_addresses: Option<bool>,
    sensitive_fields: Option<Vec<String>>,
    safe_fields: Option<Vec<String>>,
    allowed_domains: Option<Vec<String>>,
    trusted_relays: Option<Vec<String>>,
    /// The advanced rules as a JSON string, as Sentry's settings page
    /// sends them; empty or `null` removes them.
    #[serde(default, deserialize_with = "string_or_object")]
    relay_pii_config: Option<Option<String>>,
    options: Option<Map<String, Value>>,
    quotas: Option<Vec<Quota>>,
}

/// `relayPiiConfig` is a JSON string in Sentry's API; an object is taken
/// too. `null` becomes `Some(None)`.
fn string_or_object<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }))
}

/// One option value as lines: a newline-separated string or a list.
fn lines(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected a list of strings".to_owned())
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err("expected a string of lines".into()),
    }
}

/// Field errors, answered as Sentry does: `{"field": ["message"]}`.
fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::json(StatusCode::BAD_REQUEST, json!({ field: [message.into()] }))
}

fn apply(body: UpdateProjectBody, settings: &mut ProjectSettings) -> ApiResult<()> {
    let scrubbing = &mut settings.datascrubbing_settings;
    if let Some(v) = body.data_scrubber {
        scrubbing.scrub_data = v;
    }
    if let Some(v) = body.data_scrubber_defaults {
        scrubbing.scrub_defaults = v;
    }
    if let Some(v) = body.scrub_ip_addresses {
        scrubbing.scrub_ip_addresses = v;
    }
    if let Some(v) = body.sensitive_fields {
        scrubbing.sensitive_fields = clean_list(v);
    }
    if let Some(v) = body.safe_fields {
        scrubbing.exclude_fields = clean_list(v);
    }
    if let Some(v) = body.allowed_domains {
        let domains = clean_list(v);
        if let Some(bad) = domains.iter().find(|d| d.contains(char::is_whitespace)) {
            return Err(field_error(
                "allowedDomains",
                format!("{bad:?} is not a valid domain"),
            ));
        }
        settings.allowed_domains = domains;
    }
    if let Some(v) = body.trusted_relays {
        settings.trusted_relays = clean_list(v);
    }
    match body.relay_pii_config {
        None => {}
        Some(None) => settings.pii_config = None,
        Some(Some(raw)) if raw.trim().is_empty() => settings.pii_config = None,
        Some(Some(raw)) => {
            let config: PiiConfig = serde_json::from_str(&raw)
                .map_err(|e| field_error("relayPiiConfig", format!("invalid rules: {e}")))?;
            CompiledPiiConfig::new(&config)
                .map_err(|e| field_error("relayPiiConfig", e.to_string()))?;
            settings.pii_config = Some(config);
        }
    }
    if let Some(options) = body.options {
        let filters = &mut settings.filter_settings;
        for (key, value) in options {
            let list = || lines(&value).map_err(|e| field_error(&key, e));
            match key.as_str() {
                "filters:error_messages" => filters.error_messages.patterns = list()?,
                "filters:releases" => filters.releases.releases = list()?,
                "filters:blacklisted_ips" => filters.client_ips.blacklisted_ips = list()?,
                // Other project options are Sentry's UI preferences.
                _ => {}
            }
        }
    }
    if let Some(quotas) = body.quotas {
        // A quota that limits must be countable: an id and a window.
        let countable = |q: &Quota| q.limit == Some(0) || q.limit.is_none() || q.is_trackable();
        if let Some(bad) = quotas.iter().find(|q| !q.is_valid() || !countable(q)) {
            return Err(field_error(
                "quotas",
                format!("quota {:?} is not valid", bad.id.as_deref().unwrap_or("")),
            ));
        }
        settings.quotas = quotas;
    }
    let compiled = CompiledProject::new(settings);
    if let Some(error) = compiled.errors.first() {
        return Err(field_error("options", error.clone()));
    }
    Ok(())
}

fn clean_list(values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `PUT /api/0/projects/{org}/{project}/`: name, slug, platform, data
/// scrubbing (`dataScrubber`, `dataScrubberDefaults`, `scrubIPAddresses`,
/// `sensitiveFields`, `safeFields`), `allowedDomains`, `relayPiiConfig`,
/// the list filters in `options` (`filters:error_messages`,
/// `filters:releases`, `filters:blacklisted_ips`), `trustedRelays` and
/// `quotas`.
pub(crate) async fn update_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:write")
        .await?;
    let (updated, settings) =
        update_project_with(&state, &project, body.map(|Json(v)| v).unwrap_or(json!({}))).await?;
    Ok(Json(details(&updated, &settings)).into_response())
}

/// Applies an update in the shape of `PUT /api/0/projects/{org}/{project}/`
/// (also what the settings page posts) and tells this process's caches.
pub(crate) async fn update_project_with(
    state: &AppState,
    project: &Project,
    body: Value,
) -> ApiResult<(Project, ProjectSettings)> {
    let body: UpdateProjectBody = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let name = body.name.clone().filter(|n| !n.trim().is_empty());
    let slug = match body.slug.as_deref() {
        Some(raw) => {
            let slug = slugify(raw);
            if slug.is_empty() || slug.chars().all(|c| c.is_ascii_digit()) {
                return Err(field_error("slug", "Enter a valid slug."));
            }
            Some(slug)
        }
        None => None,
    };
    let platform = body.platform.clone();
    let mut settings = settings_of(state, project).await?;
    apply(body, &mut settings)?;
    let updated = state
        .store
        .update_project(
            project.id,
            &ProjectUpdate {
                name,
                slug,
                platform,
                settings: Some(settings.clone()),
            },
        )
        .await?;
    state.project_changed(project.id.unsigned_abs()).await;
    Ok((updated, settings))
}

pub(crate) fn filter_state(settings: &ProjectSettings, id: &str) -> Value {
    let f = &settings.filter_settings;
    match id {
        "browser-extensions" => json!(f.browser_extensions.is_enabled),
        "localhost" => json!(f.localhost.is_enabled),
        "web-crawlers" => json!(f.web_crawlers.is_enabled),
        "filtered-transaction" => json!(f.health_check.is_enabled),
        "legacy-browsers" => {
            if f.legacy_browsers.is_enabled && !f.legacy_browsers.browsers.is_empty() {
                json!(
                    f.legacy_browsers
                        .browsers
                        .iter()
                        .map(LegacyBrowser::as_str)
                        .collect::<Vec<_>>()
                )
            } else {
                json!(false)
            }
        }
        _ => Value::Null,
    }
}

/// `GET /api/0/projects/{org}/{project}/filters/`
pub(crate) async fn list_filters(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:read")
        .await?;
    let settings = settings_of(&state, &project).await?;
    let rows: Vec<Value> = FILTERS
        .iter()
        .map(|(id, name, description)| {
            json!({
                "id": id,
                "active": filter_state(&settings, id),
                "name": name,
                "description": description,
                "hello": format!("{id} - {name}"),
            })
        })
        .collect();
    Ok(Json(rows).into_response())
}

#[derive(Deserialize)]
pub(crate) struct FilterBody {
    active: Option<bool>,
    subfilters: Option<Vec<String>>,
}

/// `PUT /api/0/projects/{org}/{project}/filters/{filter_id}/`:
/// `{"active": true}`, or for `legacy-browsers`
/// `{"subfilters": ["ie_pre_9", ...]}` (an empty list turns it off).
/// Answers 201 with no body, as Sentry does.
pub(crate) async fn update_filter(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug, filter_id)): Path<(String, String, String)>,
    Json(body): Json<FilterBody>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:write")
        .await?;
    let mut settings = settings_of(&state, &project).await?;
    let f = &mut settings.filter_settings;
    let active = body.active;
    let switch = match filter_id.as_str() {
        "browser-extensions" => &mut f.browser_extensions.is_enabled,
        "localhost" => &mut f.localhost.is_enabled,
        "web-crawlers" => &mut f.web_crawlers.is_enabled,
        "filtered-transaction" => &mut f.health_check.is_enabled,
        "legacy-browsers" => {
            let browsers: Vec<LegacyBrowser> = match (body.subfilters, active) {
                (Some(list), _) => list.iter().map(|n| LegacyBrowser::from_name(n)).collect(),
                (None, Some(true)) => vec![LegacyBrowser::Default],
                (None, Some(false)) => Vec::new(),
                (None, None) => return Err(field_error("subfilters", "This field is required.")),
            };
            if let Some(LegacyBrowser::Unknown(name)) = browsers
                .iter()
                .find(|b| matches!(b, LegacyBrowser::Unknown(_)))
            {
                return Err(field_error(
                    "subfilters",
                    format!("unknown subfilter {name:?}"),
                ));
            }
            f.legacy_browsers.is_enabled = !browsers.is_empty();
            f.legacy_browsers.browsers = browsers.into_iter().collect();
            return save_filters(&state, &project, settings).await;
        }
        _ => return Err(ApiError::not_found()),
    };
    *switch = active.ok_or_else(|| field_error("active", "This field is required."))?;
    save_filters(&state, &project, settings).await
}

pub(crate) async fn save_filters(
    state: &AppState,
    project: &Project,
    settings: ProjectSettings,
) -> ApiResult {
    state
        .store
        .update_project(
            project.id,
            &ProjectUpdate {
                settings: Some(settings),
                ..Default::default()
            },
        )
        .await?;
    state.project_changed(project.id.unsigned_abs()).await;
    Ok(StatusCode::CREATED.into_response())
}

/// A duration of Sentry's `statsPeriod` form: `90s`, `30m`, `24h`, `14d`,
/// `2w`.
fn period(raw: &str) -> Option<TimeDelta> {
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = raw.split_at(split);
    let n: i64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        "w" => n.checked_mul(7 * 86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| TimeDelta::seconds(secs))
}

fn time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The category the stats API counts an outcome in: errors, default
/// events and security reports are all `error`, as in Sentry's stats.
fn stats_category(category: DataCategory) -> DataCategory {
    match category {
        DataCategory::Default | DataCategory::Security => DataCategory::Error,
        other => other,
    }
}

/// The values of a stats group (`[("outcome", "accepted"), ...]`).
type GroupKey<'a> = Vec<(&'a str, String)>;

/// The per-bucket sums of one stats group.
struct Series {
    quantity: Vec<u64>,
    times_seen: Vec<u64>,
}

/// `GET /api/0/organizations/{org}/stats_v2/`: outcomes summed by time
/// bucket, with Sentry's parameters (`field=sum(quantity)` or
/// `sum(times_seen)`, `groupBy` any of `outcome`, `category`, `reason`,
/// `project`, `key_id`; `statsPeriod` or `start` and `end`; `interval`;
/// filters `project`, `category`, `outcome`, `reason`) and shape
/// (`start`, `end`, `intervals`, `groups` with `by`, `totals`, `series`).
pub(crate) async fn stats_v2(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    let org = caller.org(&state, &org_slug, "org:read").await?;
    let fields: Vec<&str> = params.all("field").iter().map(String::as_str).collect();
    if fields.is_empty() {
        return Err(ApiError::bad_request("At least one field is required."));
    }
    if let Some(bad) = fields
        .iter()
        .find(|f| !matches!(**f, "sum(quantity)" | "sum(times_seen)"))
    {
        return Err(ApiError::bad_request(format!("Invalid field: {bad:?}")));
    }
    let group_by: Vec<&str> = params.all("groupBy").iter().map(String::as_str).collect();
    if let Some(bad) = group_by.iter().find(|g| {
        !matches!(
            **g,
            "outcome" | "category" | "reason" | "project" | "key_id"
        )
    }) {
        return Err(ApiError::bad_request(format!("Invalid groupBy: {bad:?}")));
    }
    let interval = match params.one("interval") {
        Some(raw) => period(raw).ok_or_else(|| ApiError::bad_request("Invalid interval"))?,
        None => TimeDelta::hours(1),
    };
    let interval_secs = interval.num_seconds().max(60);
    let now = Utc::now();
    let (start, end) = match (params.one("start"), params.one("end")) {
        (Some(s), Some(e)) => (
            time(s).ok_or_else(|| ApiError::bad_request("Invalid start"))?,
            time(e).ok_or_else(|| ApiError::bad_request("Invalid end"))?,
        ),
        _ => {
            let span = match params.one("statsPeriod") {
                Some(raw) => {
                    period(raw).ok_or_else(|| ApiError::bad_request("Invalid statsPeriod"))?
                }
                None => TimeDelta::days(14),
            };
            (now - span, now)
        }
    };
    if end <= start {
        return Err(ApiError::bad_request("start must be before end"));
    }
    // Buckets are aligned to the interval, the last one holding `end`.
    let first = start.timestamp().div_euclid(interval_secs) * interval_secs;
    let last = (end.timestamp() - 1).div_euclid(interval_secs) * interval_secs;
    let buckets = usize::try_from((last - first) / interval_secs + 1).unwrap_or(usize::MAX);
    if buckets > 10_000 {
        return Err(ApiError::bad_request(
            "Your interval and date range would create too many results. Use a larger interval, or a smaller date range.",
        ));
    }
    let projects: Vec<u64> = params
        .all("project")
        .iter()
        .filter(|p| p.as_str() != "-1")
        .map(|p| {
            p.parse::<u64>()
                .map_err(|_| ApiError::bad_request("Invalid project"))
        })
        .collect::<Result<_, _>>()?;
    let categories: Vec<DataCategory> = params
        .all("category")
        .iter()
        .map(|c| c.parse().unwrap_or(DataCategory::Unknown))
        .collect();
    let outcomes: Vec<OutcomeKind> = params
        .all("outcome")
        .iter()
        .map(|o| {
            OutcomeKind::from_name(o)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid outcome: {o:?}")))
        })
        .collect::<Result<_, _>>()?;
    let reasons = params.all("reason");
    let totals = state
        .store
        .outcomes(&OutcomeQuery {
            org_id: org.id.unsigned_abs(),
            project_ids: projects,
            start: DateTime::from_timestamp(first, 0).unwrap_or(start),
            end,
            interval_secs: interval_secs.unsigned_abs(),
        })
        .await?;

    let mut groups: BTreeMap<GroupKey<'_>, Series> = BTreeMap::new();
    for total in &totals {
        let category = stats_category(total.category);
        if !categories.is_empty() && !categories.contains(&category) {
            continue;
        }
        if !outcomes.is_empty() && !outcomes.contains(&total.outcome) {
            continue;
        }
        let reason = total.reason.clone().unwrap_or_else(|| "none".into());
        if !reasons.is_empty() && !reasons.contains(&reason) {
            continue;
        }
        let key: Vec<(&str, String)> = group_by
            .iter()
            .map(|g| {
                let value = match *g {
                    "outcome" => total.outcome.as_str().to_owned(),
                    "category" => category.as_str().to_owned(),
                    "reason" => reason.clone(),
                    "project" => total.project_id.to_string(),
                    _ => total.key_id.map(|k| k.to_string()).unwrap_or_default(),
                };
                (*g, value)
            })
            .collect();
        let index = (total.bucket.timestamp() - first) / interval_secs;
        let Ok(index) = usize::try_from(index) else {
            continue;
        };
        if index >= buckets {
            continue;
        }
        let series = groups.entry(key).or_insert_with(|| Series {
            quantity: vec![0; buckets],
            times_seen: vec![0; buckets],
        });
        series.quantity[index] += total.quantity;
        series.times_seen[index] += total.times_seen;
    }
    let intervals: Vec<String> = (0..buckets)
        .filter_map(|i| DateTime::from_timestamp(first + i as i64 * interval_secs, 0))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(key, sums)| {
            let mut totals = Map::new();
            let mut series = Map::new();
            for field in &fields {
                let values = if *field == "sum(quantity)" {
                    &sums.quantity
                } else {
                    &sums.times_seen
                };
                totals.insert((*field).to_owned(), json!(values.iter().sum::<u64>()));
                series.insert((*field).to_owned(), json!(values));
            }
            // Projects and keys are numbers in Sentry's answer.
            let by: Map<String, Value> = key
                .into_iter()
                .map(|(name, value)| {
                    let value = match (name, value.parse::<u64>()) {
                        ("project" | "key_id", Ok(n)) => json!(n),
                        ("key_id", Err(_)) => Value::Null,
                        _ => json!(value),
                    };
                    (name.to_owned(), value)
                })
                .collect();
            json!({
                "by": by,
                "totals": totals,
                "series": series,
            })
        })
        .collect();
    Ok(Json(json!({
        "start": DateTime::from_timestamp(first, 0).unwrap_or(start).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "end": DateTime::from_timestamp(last + interval_secs, 0).unwrap_or(end).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "intervals": intervals,
        "groups": groups,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(period("24h"), Some(TimeDelta::hours(24)));
        assert_eq!(period("90s"), Some(TimeDelta::seconds(90)));
        assert_eq!(period("2w"), Some(TimeDelta::days(14)));
        assert_eq!(period("0h"), None);
        assert_eq!(period("h"), None);
        assert_eq!(period("5y"), None);
        assert_eq!(period("99999999999999999999d"), None);
    }

    #[test]
    fn updates_validate_rules() {
        let mut settings = ProjectSettings::new_project();
        let body: UpdateProjectBody = serde_json::from_value(json!({
            "dataScrubberDefaults": false,
            "sensitiveFields": ["ssn", " "],
            "allowedDomains": ["example.com"],
            "relayPiiConfig": "{\"applications\": {\"$string\": [\"@ip:replace\"]}}",
            "options": {"filters:error_messages": "ignore*\n\n*timeout*", "sentry:token": "x"}
        }))
        .unwrap();
        apply(body, &mut settings).unwrap();
        assert!(!settings.datascrubbing_settings.scrub_defaults);
        assert_eq!(settings.datascrubbing_settings.sensitive_fields, ["ssn"]);
        assert_eq!(
            settings.filter_settings.error_messages.patterns,
            ["ignore*", "*timeout*"]
        );
        assert!(settings.pii_config.is_some());

        for bad in [
            json!({"relayPiiConfig": "{\"applications\": {\"$string\": [\"@nope\"]}}"}),
            json!({"relayPiiConfig": "not json"}),
            json!({"allowedDomains": ["a b"]}),
            json!({"options": {"filters:releases": 5}}),
            json!({"quotas": [{"id": "q", "categories": ["error"], "scope": "project", "limit": 5}]}),
        ] {
            let body: UpdateProjectBody = serde_json::from_value(bad.clone()).unwrap();
            assert!(apply(body, &mut settings.clone()).is_err(), "{bad}");
        }
        let body: UpdateProjectBody =
            serde_json::from_value(json!({"relayPiiConfig": null})).unwrap();
        apply(body, &mut settings).unwrap();
        assert!(settings.pii_config.is_none());
    }
}
