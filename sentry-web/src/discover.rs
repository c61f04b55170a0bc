//! The API routes served from the event store: issue stats, tag
//! distributions and Discover.
//!
//! Each builds a SnQL query over the `events` entity and runs it through
//! [`sentry_snuba::store::run_snql`], so what the web shows is exactly what
//! `snuba-api` would answer. The search bar's language
//! ([`sentry_snuba::search`]) gives the conditions.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use sentry_eventstore::Project;
use sentry_snuba::search::{Compiled, SearchQuery};
use sentry_snuba::snql::{Condition, Expr};
use sentry_snuba::storage::QueryResult;
use sentry_snuba::store::{EventStore, QueryError, run_snql};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::api::{
    ApiError, ApiResult, Caller, PageRequest, Params, named_projects, paged, paged_as,
};

/// How far back queries look when the request does not say.
const DEFAULT_PERIOD_SECS: i64 = 14 * 24 * 3600;

/// The longest period a request may ask for (the default retention).
const MAX_PERIOD_SECS: i64 = 90 * 24 * 3600;

/// Values listed per tag key on an issue's tag page.
const TOP_VALUES: u64 = 9;

/// Tag keys an issue's tag page lists at most.
const MAX_TAG_KEYS: usize = 40;

pub(crate) fn event_store(state: &AppState) -> ApiResult<&Arc<dyn EventStore>> {
    state.events.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no event store configured",
        )
    })
}

/// Runs SnQL, mapping a bad query to a 400 and a store failure to a 500.
pub(crate) async fn query(store: &dyn EventStore, snql: &str) -> ApiResult<QueryResult> {
    match run_snql(store, snql).await {
        Ok((result, _)) => Ok(result),
        Err(e @ QueryError::Storage(_)) => {
            tracing::error!(error = %e, "event store query failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
        Err(e) => Err(ApiError::bad_request(format!("invalid query: {e}"))),
    }
}

/// A SnQL string literal.
pub(crate) fn lit(text: &str) -> String {
    Expr::string(text).to_string()
}

/// A SnQL time literal.
fn time_lit(secs: i64) -> String {
    lit(&DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string())
}

/// A time in results as Sentry writes it.
fn iso(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Seconds of a `statsPeriod` such as `24h`, `14d`, `30m`, `2w`.
pub(crate) fn parse_period(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// The time range of a request: `statsPeriod=24h`, or `start=` and `end=`
/// (RFC 3339), else the last `default` seconds. Returns `[start, end)`.
pub(crate) fn time_range(params: &Params, default: i64) -> ApiResult<(i64, i64)> {
    let now = Utc::now().timestamp();
    let parse = |key: &str| -> ApiResult<Option<i64>> {
        params
            .one(key)
            .map(|text| {
                sentry_snuba::validate::parse_time(text)
                    .map_err(|_| ApiError::bad_request(format!("invalid {key}: {text:?}")))
            })
            .transpose()
    };
    let (start, end) = match (params.one("statsPeriod"), parse("start")?, parse("end")?) {
        (Some(period), _, _) => {
            let secs = parse_period(period)
                .ok_or_else(|| ApiError::bad_request(format!("invalid statsPeriod {period:?}")))?;
            (now - secs, now + 1)
        }
        (None, Some(start), Some(end)) if start < end => (start, end),
        (None, Some(_), Some(_)) => return Err(ApiError::bad_request("start must be before end")),
        _ => (now - default, now + 1),
    };
    Ok((start.max(end - MAX_PERIOD_SECS), end))
}

pub(crate) fn where_range(project_ids: &[i64], start: i64, end: i64) -> String {
    let ids: Vec<String> = project_ids.iter().map(i64::to_string).collect();
    format!(
        "project_id IN ({}) AND timestamp >= {} AND timestamp < {}",
        ids.join(", "),
        time_lit(start),
        time_lit(end)
    )
}

/// `(start, counts)` per hour or day of `[start, end)` for each issue of
/// `group_ids`, with zeros where nothing happened.
pub(crate) async fn issue_stats(
    store: &dyn EventStore,
    project_ids: &[i64],
    group_ids: &[i64],
    start: i64,
    end: i64,
    bucket: i64,
) -> ApiResult<HashMap<i64, Vec<(i64, u64)>>> {
    let mut out: HashMap<i64, Vec<(i64, u64)>> = HashMap::new();
    if group_ids.is_empty() || project_ids.is_empty() {
        return Ok(out);
    }
    let first = start - start.rem_euclid(bucket);
    let buckets: Vec<i64> = (0..)
        .map(|i| first + i * bucket)
        .take_while(|t| *t < end)
        .collect();
    let ids: Vec<String> = group_ids.iter().map(i64::to_string).collect();
    let snql = format!(
        "MATCH (events) SELECT count() AS count BY group_id, time WHERE {} AND group_id IN ({}) \
         LIMIT 10000 GRANULARITY {bucket}",
        where_range(project_ids, first, end),
        ids.join(", ")
    );
    let result = query(store, &snql).await?;
    let mut counts: HashMap<(i64, i64), u64> = HashMap::new();
    for row in &result.data {
        let group = row["group_id"].as_i64().unwrap_or_default();
        let time = row["time"]
            .as_str()
            .and_then(|t| sentry_snuba::validate::parse_time(t).ok())
            .unwrap_or_default();
        counts.insert((group, time), row["count"].as_u64().unwrap_or_default());
    }
    for id in group_ids {
        let series = buckets
            .iter()
            .map(|t| (*t, counts.get(&(*id, *t)).copied().unwrap_or(0)))
            .collect();
        out.insert(*id, series);
    }
    Ok(out)
}

/// The most issues an event-store search hands to the issue list.
const MAX_MATCHING_ISSUES: u64 = 10_000;

/// The issues of `project_ids` with events matching `where_` in the
/// retention period, and whose aggregates match `having`.
pub(crate) async fn matching_issues(
    store: &dyn EventStore,
    project_ids: &[i64],
    where_: Option<&Condition>,
    having: Option<&Condition>,
) -> ApiResult<Vec<i64>> {
    let now = Utc::now().timestamp();
    let mut snql = format!(
        "MATCH (events) SELECT max(timestamp) AS last_seen BY group_id WHERE {}",
        where_range(project_ids, now - MAX_PERIOD_SECS, now + 1)
    );
    if let Some(condition) = where_ {
        snql.push_str(&format!(" AND ({condition})"));
    }
    if let Some(condition) = having {
        snql.push_str(&format!(" HAVING {condition}"));
    }
    snql.push_str(&format!(
        " ORDER BY last_seen DESC LIMIT {MAX_MATCHING_ISSUES}"
    ));
    let result = query(store, &snql).await?;
    Ok(result
        .data
        .iter()
        .filter_map(|row| row["group_id"].as_i64())
        .collect())
}

/// The series of [`issue_stats`] as Sentry's JSON: `[[ts, count], ...]`.
pub(crate) fn series_json(series: &[(i64, u64)]) -> Value {
    Value::Array(series.iter().map(|(t, c)| json!([t, c])).collect())
}

/// `GET /api/0/organizations/{org}/issues-stats/?groups=1&groups=2&statsPeriod=24h`
pub(crate) async fn issues_stats(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let store = event_store(&state)?;
    let org = caller.org(&state, &org_slug, "event:read").await?;
    let period = params.one("statsPeriod").unwrap_or("24h");
    let (start, end) = time_range(&params, 24 * 3600)?;
    let bucket = if end - start > 2 * 86_400 {
        86_400
    } else {
        3600
    };
    let mut issues = Vec::new();
    for id in params.all("groups") {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::bad_request("invalid group id"))?;
        if let Some(issue) = state.store.issue(org.id, id).await? {
            issues.push(issue);
        }
    }
    let projects: Vec<i64> = issues.iter().map(|i| i.project_id).collect();
    let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
    let stats = issue_stats(store.as_ref(), &projects, &ids, start, end, bucket).await?;
    let body: Vec<Value> = issues
        .iter()
        .map(|issue| {
            let series = stats
                .get(&issue.id)
                .map(|s| series_json(s))
                .unwrap_or(json!([]));
            json!({
                "id": issue.id.to_string(),
                "count": issue.times_seen.to_string(),
                "userCount": issue.user_count,
                "firstSeen": issue.first_seen,
                "lastSeen": issue.last_seen,
                "stats": {period: series},
            })
        })
        .collect();
    Ok(Json(body).into_response())
}

/// A tag key as Sentry names it (`sentry:user` is `user`, `sentry:release`
/// is `release`).
fn public_key(key: &str) -> &str {
    key.strip_prefix("sentry:").unwrap_or(key)
}

/// The stored key of a public tag key.
fn stored_key(key: &str) -> String {
    match key {
        "user" | "release" | "dist" => format!("sentry:{key}"),
        other => other.to_owned(),
    }
}

/// A readable name of a tag key (`browser.name` → `Browser.Name`).
fn key_name(key: &str) -> String {
    key.split(['.', '_'])
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The top values of tag `key` on issue `group_id`.
async fn tag_values(
    store: &dyn EventStore,
    project_id: i64,
    group_id: i64,
    key: &str,
    limit: u64,
    offset: u64,
) -> ApiResult<(u64, Vec<Value>)> {
    let (start, end) = (
        Utc::now().timestamp() - MAX_PERIOD_SECS,
        Utc::now().timestamp() + 1,
    );
    let stored = stored_key(key);
    let column = Expr::Subscript {
        column: "tags".into(),
        key: stored.clone(),
    }
    .to_string();
    let base = format!(
        "{} AND group_id = {group_id} AND has(tags.key, {}) = 1",
        where_range(&[project_id], start, end),
        lit(&stored)
    );
    let total = query(
        store,
        &format!("MATCH (events) SELECT uniq({column}) AS n, count() AS c WHERE {base}"),
    )
    .await?;
    let distinct = total
        .data
        .first()
        .and_then(|r| r["n"].as_u64())
        .unwrap_or(0);
    let result = query(
        store,
        &format!(
            "MATCH (events) SELECT count() AS count, min(timestamp) AS first_seen, \
             max(timestamp) AS last_seen BY {column} AS value WHERE {base} \
             ORDER BY count DESC, value ASC LIMIT {limit} OFFSET {offset}"
        ),
    )
    .await?;
    let values = result
        .data
        .iter()
        .map(|row| {
            let value = row["value"].as_str().unwrap_or_default();
            json!({
                "key": public_key(key),
                "value": value,
                "name": value,
                "count": row["count"],
                "firstSeen": row["first_seen"],
                "lastSeen": row["last_seen"],
            })
        })
        .collect();
    Ok((distinct, values))
}

/// `GET /api/0/organizations/{org}/issues/{id}/tags/`: every tag key of the
/// issue's events with its top values.
pub(crate) async fn issue_tags(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id)): Path<(String, String)>,
) -> ApiResult {
    let store = event_store(&state)?;
    let (_, issue, _) = caller.issue(&state, &org_slug, &id, "event:read").await?;
    Ok(Json(tag_distribution(store.as_ref(), &issue).await?).into_response())
}

/// Every tag key of an issue's events with its top values, as Sentry's
/// `issues/{id}/tags/` answers it.
pub(crate) async fn tag_distribution(
    store: &dyn EventStore,
    issue: &sentry_eventstore::Issue,
) -> ApiResult<Vec<Value>> {
    let (start, end) = (
        Utc::now().timestamp() - MAX_PERIOD_SECS,
        Utc::now().timestamp() + 1,
    );
    // The keys of the issue's latest events.
    let keys = query(
        store,
        &format!(
            "MATCH (events) SELECT tags.key, timestamp WHERE {} AND group_id = {} \
             ORDER BY timestamp DESC LIMIT 1000",
            where_range(&[issue.project_id], start, end),
            issue.id
        ),
    )
    .await?;
    let mut seen: Vec<String> = Vec::new();
    for row in &keys.data {
        for key in row["tags.key"].as_array().into_iter().flatten() {
            if let Some(key) = key.as_str() {
                if !seen.iter().any(|k| k == key) && seen.len() < MAX_TAG_KEYS {
                    seen.push(key.to_owned());
                }
            }
        }
    }
    seen.sort();
    let mut body = Vec::new();
    for key in &seen {
        let public = public_key(key);
        let (distinct, top) =
            tag_values(store, issue.project_id, issue.id, public, TOP_VALUES, 0).await?;
        body.push(json!({
            "key": public,
            "name": key_name(public),
            "totalValues": distinct,
            "uniqueValues": distinct,
            "topValues": top,
        }));
    }
    Ok(body)
}

/// `GET /api/0/organizations/{org}/issues/{id}/tags/{key}/values/`
pub(crate) async fn issue_tag_values(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id, key)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let page = PageRequest::from(&params, 100)?;
    let store = event_store(&state)?;
    let (_, issue, _) = caller.issue(&state, &org_slug, &id, "event:read").await?;
    let (_, values) = tag_values(
        store.as_ref(),
        issue.project_id,
        issue.id,
        &key,
        page.limit + 1,
        page.offset,
    )
    .await?;
    Ok(paged(values, &page, &uri, &state.base_url))
}

/// A Discover field: the SnQL it reads and the type Sentry reports.
struct Field {
    snql: String,
    kind: &'static str,
    aggregate: bool,
}

/// A Discover column name as SnQL, for the `events` dataset.
fn column_of(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "id" | "event_id" => ("event_id", "string"),
        "title" => ("title", "string"),
        "message" => ("message", "string"),
        "culprit" => ("culprit", "string"),
        "location" => ("location", "string"),
        "issue" | "issue.id" | "group_id" => ("group_id", "integer"),
        "project" | "project.id" | "project_id" => ("project_id", "integer"),
        "timestamp" => ("timestamp", "date"),
        "level" => ("level", "string"),
        "release" => ("release", "string"),
        "dist" => ("dist", "string"),
        "environment" => ("environment", "string"),
        "platform" | "platform.name" => ("platform", "string"),
        "transaction" => ("transaction", "string"),
        "logger" => ("logger", "string"),
        "event.type" => ("type", "string"),
        "user" => ("user", "string"),
        "user.id" => ("user_id", "string"),
        "user.email" => ("user_email", "string"),
        "user.username" => ("user_name", "string"),
        "user.ip" => ("ip_address", "string"),
        "sdk.name" => ("sdk_name", "string"),
        "sdk.version" => ("sdk_version", "string"),
        "os.name" => ("os_name", "string"),
        "browser.name" => ("browser_name", "string"),
        "http.method" => ("http_method", "string"),
        "http.url" => ("http_url", "string"),
        "trace" | "trace.id" => ("trace_id", "string"),
        "error.handled" => ("handled", "integer"),
        _ => return None,
    })
}

/// A Discover field (`title`, `count()`, `count_unique(user)`,
/// `tags[browser]`, or any other name as a tag).
fn field(name: &str) -> ApiResult<Field> {
    let bad = || ApiError::bad_request(format!("invalid field {name:?}"));
    let plain = |snql: String, kind| Field {
        snql,
        kind,
        aggregate: false,
    };
    let agg = |snql: String, kind| Field {
        snql,
        kind,
        aggregate: true,
    };
    if let Some((function, rest)) = name.split_once('(') {
        let arg = rest.strip_suffix(')').ok_or_else(bad)?.trim();
        let arg_column = || -> ApiResult<String> {
            match column_of(arg) {
                Some((column, _)) => Ok(column.to_owned()),
                None if !arg.is_empty() => Ok(tag_expr(arg)),
                None => Err(bad()),
            }
        };
        return Ok(match (function, arg) {
            ("count", "") => agg("count()".into(), "integer"),
            ("count_unique", _) => agg(format!("uniq({})", arg_column()?), "integer"),
            ("last_seen", "") => agg("max(timestamp)".into(), "date"),
            ("first_seen", "") => agg("min(timestamp)".into(), "date"),
            ("min" | "max", _) => agg(format!("{function}({})", arg_column()?), "number"),
            _ => return Err(bad()),
        });
    }
    if let Some(key) = name.strip_prefix("tags[").and_then(|k| k.strip_suffix(']')) {
        return Ok(plain(tag_expr(key), "string"));
    }
    match column_of(name) {
        Some((column, kind)) => Ok(plain(column.to_owned(), kind)),
        None if name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')) =>
        {
            Ok(plain(tag_expr(name), "string"))
        }
        None => Err(bad()),
    }
}

fn tag_expr(key: &str) -> String {
    Expr::Subscript {
        column: "tags".into(),
        key: stored_key(key),
    }
    .to_string()
}

/// Parses a search from the search bar.
pub(crate) fn parse_search(text: &str) -> ApiResult<SearchQuery> {
    sentry_snuba::search::parse(text)
        .map_err(|e| ApiError::bad_request(format!("invalid search query: {e}")))
}

/// A parsed search as SnQL conditions, at the current time.
pub(crate) fn compile_search(search: &SearchQuery) -> ApiResult<Compiled> {
    sentry_snuba::search::compile(search, Utc::now().timestamp())
        .map_err(|e| ApiError::bad_request(format!("invalid search query: {e}")))
}

/// `GET /api/0/organizations/{org}/events/?field=title&field=count()&query=...&sort=-count()`
pub(crate) async fn discover(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let page = PageRequest::from(&params, 50)?;
    let store = event_store(&state)?;
    let org = caller.org(&state, &org_slug, "event:read").await?;
    let projects = state.store.projects(org.id).await?;
    let project_ids = requested_projects(&params, &projects)?;
    let (start, end) = time_range(&params, DEFAULT_PERIOD_SECS)?;
    let names = params.all("field");
    if names.is_empty() {
        return Err(ApiError::bad_request("at least one field is required"));
    }
    let fields: Vec<Field> = names.iter().map(|n| field(n)).collect::<ApiResult<_>>()?;
    let aliases: Vec<String> = (0..fields.len()).map(|i| format!("f{i}")).collect();
    let grouped = fields.iter().any(|f| f.aggregate);
    let mut select = Vec::new();
    let mut by = Vec::new();
    for (field, alias) in fields.iter().zip(&aliases) {
        if !grouped || field.aggregate {
            select.push(alias_of(&field.snql, alias));
        } else {
            by.push(alias_of(&field.snql, alias));
        }
    }
    if select.is_empty() {
        // Only grouping fields: count the rows of each group too.
        select.push("count() AS _rows".to_owned());
    }
    let mut snql = format!("MATCH (events) SELECT {}", select.join(", "));
    if !by.is_empty() {
        snql.push_str(&format!(" BY {}", by.join(", ")));
    }
    snql.push_str(&format!(" WHERE {}", where_range(&project_ids, start, end)));
    let Compiled {
        where_,
        having,
        issue,
    } = compile_search(&parse_search(params.one("query").unwrap_or(""))?)?;
    if !issue.is_empty() {
        return Err(ApiError::bad_request(
            "issue filters (is:, assigned:) are not supported in Discover",
        ));
    }
    if let Some(condition) = where_ {
        snql.push_str(&format!(" AND ({condition})"));
    }
    if let Some(condition) = having {
        if !grouped {
            return Err(ApiError::bad_request(
                "aggregate filters need an aggregate field",
            ));
        }
        snql.push_str(&format!(" HAVING {condition}"));
    }
    let sort = params.one("sort").unwrap_or("");
    let (descending, sort_name) = match sort.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, sort),
    };
    if !sort_name.is_empty() {
        let index = names.iter().position(|n| n == sort_name).ok_or_else(|| {
            ApiError::bad_request(format!("cannot sort by {sort_name:?}: it is not a field"))
        })?;
        snql.push_str(&format!(
            " ORDER BY {} {}",
            aliases[index],
            if descending { "DESC" } else { "ASC" }
        ));
    } else if !grouped {
        snql.push_str(" ORDER BY timestamp DESC");
    }
    snql.push_str(&format!(" LIMIT {} OFFSET {}", page.limit + 1, page.offset));
    let result = query(store.as_ref(), &snql).await?;
    let slugs: HashMap<i64, &str> = projects.iter().map(|p| (p.id, p.slug.as_str())).collect();
    let rows: Vec<Value> = result
        .data
        .iter()
        .map(|row| {
            let mut out = Map::new();
            for ((name, field), alias) in names.iter().zip(&fields).zip(&aliases) {
                let mut value = row.get(alias.as_str()).cloned().unwrap_or(Value::Null);
                if name == "project" {
                    if let Some(slug) = value.as_i64().and_then(|id| slugs.get(&id)) {
                        value = json!(slug);
                    }
                }
                if field.kind == "date" {
                    if let Some(secs) = value
                        .as_str()
                        .and_then(|t| sentry_snuba::validate::parse_time(t).ok())
                    {
                        value = json!(iso(secs));
                    }
                }
                out.insert(name.clone(), value);
            }
            Value::Object(out)
        })
        .collect();
    let meta: Map<String, Value> = names
        .iter()
        .zip(&fields)
        .map(|(name, field)| {
            let kind = if name == "project" {
                "string"
            } else {
                field.kind
            };
            (name.clone(), json!(kind))
        })
        .collect();
    // Discover wraps its rows with their types.
    Ok(paged_as(
        rows,
        &page,
        &uri,
        &state.base_url,
        |rows| json!({"data": rows, "meta": {"fields": meta}}),
    ))
}

fn alias_of(snql: &str, alias: &str) -> String {
    format!("{snql} AS {alias}")
}

/// The projects a request names with `project=` (all of the organization's
/// when none or `-1`); a project of another organization is refused.
pub(crate) fn requested_projects(params: &Params, projects: &[Project]) -> ApiResult<Vec<i64>> {
    let mut ids = named_projects(params, projects)?;
    if ids.is_empty() {
        ids = projects.iter().map(|p| p.id).collect();
    }
    if ids.is_empty() {
        // No project: a condition nothing matches.
        ids.push(0);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_period("24h"), Some(86_400));
        assert_eq!(parse_period("14d"), Some(14 * 86_400));
        assert_eq!(parse_period("30m"), Some(1800));
        assert_eq!(parse_period("2w"), Some(14 * 86_400));
        assert_eq!(parse_period("h"), None);
        assert_eq!(parse_period("5y"), None);
    }

    #[test]
    fn fields() {
        assert_eq!(field("count()").unwrap().snql, "count()");
        assert_eq!(field("count_unique(user)").unwrap().snql, "uniq(user)");
        assert_eq!(field("user.email").unwrap().snql, "user_email");
        assert_eq!(field("browser").unwrap().snql, "tags[browser]");
        assert_eq!(field("tags[release]").unwrap().snql, "tags[sentry:release]");
        assert!(field("drop table").is_err());
        assert!(field("count(").is_err());
        assert!(field("explode()").is_err());
    }
}
