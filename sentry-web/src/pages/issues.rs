//! The issue list and the issue detail pages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use sentry_eventstore::{EventSelector, Issue, IssueStatus, Project, StoredEvent};
use serde_json::Value;

use super::{PageError, PageResult, Viewer, layout, notice, see_other};
use crate::AppState;
use crate::api::{ApiError, PageRequest, Params, delete_issue_and_rows, encode, find_issues};
use crate::serialize::short_id;

/// The time ranges the list offers, as search periods.
const PERIODS: &[(&str, &str)] = &[
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("14d", "Last 14 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
];

const SORTS: &[(&str, &str)] = &[
    ("date", "Last seen"),
    ("new", "First seen"),
    ("freq", "Events"),
    ("user", "Users"),
];

/// "3 minutes ago", for list rows.
fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A small bar chart of counts per bucket, as inline SVG.
fn sparkline(series: &[(i64, u64)]) -> Markup {
    let max = series.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let n = series.len().max(1);
    let width = 120.0;
    let height = 24.0;
    let bar = width / n as f64;
    let total: u64 = series.iter().map(|(_, c)| c).sum();
    html! {
        svg.spark viewBox={ "0 0 " (width) " " (height) } width="120" height="24" role="img"
            aria-label={ (total) " events in the period" } {
            @for (i, (_, count)) in series.iter().enumerate() {
                @let h = if *count == 0 { 0.0 } else { (*count as f64 / max as f64 * (height - 1.0)).max(1.5) };
                rect x=(format!("{:.2}", i as f64 * bar)) y=(format!("{:.2}", height - h))
                    width=(format!("{:.2}", (bar - 1.0).max(0.5))) height=(format!("{:.2}", h)) {}
            }
        }
    }
}

/// The distinct environments of the organization's recent events.
async fn environments(state: &AppState, projects: &[Project]) -> Vec<String> {
    let Some(events) = &state.events else {
        return Vec::new();
    };
    if projects.is_empty() {
        return Vec::new();
    }
    let now = Utc::now().timestamp();
    let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
    let snql = format!(
        "MATCH (events) SELECT count() AS c BY environment WHERE {} ORDER BY c DESC LIMIT 50",
        crate::discover::where_range(&ids, now - 90 * 86_400, now + 1)
    );
    match crate::discover::query(events.as_ref(), &snql).await {
        Ok(result) => result
            .data
            .iter()
            .filter_map(|row| row["environment"].as_str())
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `GET /organizations/{org}/issues/`: search bar, filters, sort, a page of
/// issues with counts and a chart each, and bulk actions.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let access = viewer.0.access(&state, &org_slug, "event:read").await?;
    let org = &access.org;
    let params = Params::parse(raw.as_deref());
    let text = params.one("query").unwrap_or("is:unresolved").to_owned();
    let project = params.one("project").unwrap_or("").to_owned();
    let environment = params.one("environment").unwrap_or("").to_owned();
    let period = params
        .one("statsPeriod")
        .filter(|p| PERIODS.iter().any(|(k, _)| k == p))
        .unwrap_or("14d")
        .to_owned();
    let sort = params
        .one("sort")
        .filter(|s| SORTS.iter().any(|(k, _)| k == s))
        .unwrap_or("date")
        .to_owned();
    let cursor = params.one("cursor").unwrap_or("").to_owned();

    // The filters become part of the search the API would get.
    let mut search = text.clone();
    if !environment.is_empty() {
        search.push_str(&format!(
            " environment:\"{}\"",
            environment.replace('"', "\\\"")
        ));
    }
    let chart = if matches!(period.as_str(), "1h" | "24h") {
        "24h"
    } else {
        "14d"
    };
    let mut api_query = format!(
        "query={}&sort={sort}&statsPeriod={period}&groupStatsPeriod={chart}&cursor={}",
        encode(&search),
        encode(&cursor)
    );
    if !project.is_empty() {
        api_query.push_str(&format!("&project={}", encode(&project)));
    }
    let api_params = Params::parse(Some(&api_query));
    let projects = state.store.projects(org.id).await?;
    let page = PageRequest::from(&api_params, 25)?;
    let (error, mut issues, stats) =
        match find_issues(&state, org.id, &projects, &api_params, &page).await {
            Ok((issues, stats)) => (None, issues, stats),
            Err(e) if e.status() == StatusCode::BAD_REQUEST => {
                (Some(e.detail().to_owned()), Vec::new(), HashMap::new())
            }
            Err(e) => return Err(e.into()),
        };
    let more = issues.len() as u64 > page.limit;
    issues.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    let envs = environments(&state, &projects).await;
    let link = |offset: u64| {
        let mut q = format!(
            "?query={}&statsPeriod={period}&sort={sort}&cursor=0:{offset}:0",
            encode(&text)
        );
        if !project.is_empty() {
            q.push_str(&format!("&project={}", encode(&project)));
        }
        if !environment.is_empty() {
            q.push_str(&format!("&environment={}", encode(&environment)));
        }
        q
    };
    let here = format!(
        "/organizations/{}/issues/{}",
        org.slug,
        raw.as_deref().map(|r| format!("?{r}")).unwrap_or_default()
    );
    let by_id: HashMap<i64, &Project> = projects.iter().map(|p| (p.id, p)).collect();
    let can_delete = viewer.0.user.is_superuser || access.role.scopes().contains(&"event:admin");
    let content = html! {
        h1 { "Issues" }
        form.search role="search" method="get" {
            label.sr for="query" { "Search issues" }
            input #query type="search" name="query" value=(text)
                placeholder="is:unresolved browser.name:Chrome level:error";
            label for="project" { "Project" }
            select #project name="project" {
                option value="" selected[project.is_empty()] { "All projects" }
                @for p in &projects {
                    option value=(p.id) selected[project == p.id.to_string()] { (p.slug) }
                }
            }
            label for="environment" { "Environment" }
            select #environment name="environment" {
                option value="" selected[environment.is_empty()] { "All environments" }
                @for e in &envs {
                    option value=(e) selected[&environment == e] { (e) }
                }
            }
            label for="period" { "Time range" }
            select #period name="statsPeriod" {
                @for (k, v) in PERIODS {
                    option value=(k) selected[period == *k] { (v) }
                }
            }
            label for="sort" { "Sort by" }
            select #sort name="sort" {
                @for (k, v) in SORTS {
                    option value=(k) selected[sort == *k] { (v) }
                }
            }
            button.primary type="submit" { "Search" }
        }
        @if let Some(error) = &error { (notice("error", error)) }
        form #bulk method="post" {
            (viewer.csrf_input())
            input type="hidden" name="back" value=(here);
            div.toolbar {
                button type="submit" name="action" value="resolve" { "Resolve" }
                button type="submit" name="action" value="ignore" { "Ignore" }
                button type="submit" name="action" value="unresolve" { "Unresolve" }
                @if can_delete {
                    button.danger type="submit" name="action" value="delete" { "Delete" }
                }
            }
            @if issues.is_empty() && error.is_none() {
                p.empty { "No issues match this search." }
            } @else {
                table.issues {
                    caption.sr { "Issues" }
                    thead {
                        tr {
                            th scope="col" { span.sr { "Select" } }
                            th scope="col" { "Issue" }
                            th.chart scope="col" { "Graph" }
                            th.num scope="col" { "Events" }
                            th.num scope="col" { "Users" }
                        }
                    }
                    tbody {
                        @for issue in &issues {
                            @let slug = by_id.get(&issue.project_id).map(|p| p.slug.as_str()).unwrap_or("?");
                            tr.issue data-issue-id=(issue.id) {
                                td {
                                    input type="checkbox" name="id" value=(issue.id)
                                        aria-label={ "Select " (short_id(slug, issue.short_id)) };
                                }
                                td {
                                    a.title href={ "/organizations/" (org.slug) "/issues/" (issue.id) "/" } {
                                        (issue.title)
                                    }
                                    div.meta {
                                        span.level.(issue.level.as_str()) { (issue.level) }
                                        " "
                                        span.short { (short_id(slug, issue.short_id)) }
                                        " · "
                                        span.culprit { (issue.culprit.as_deref().unwrap_or("")) }
                                        " · "
                                        span { time datetime=(issue.last_seen.to_rfc3339()) { (ago(issue.last_seen)) } }
                                        " · first seen "
                                        span { (ago(issue.first_seen)) }
                                        @if issue.status != IssueStatus::Unresolved {
                                            " · " span.status { (issue.status) }
                                        }
                                    }
                                }
                                td.chart {
                                    @if let Some(series) = stats.get(&issue.id) { (sparkline(series)) }
                                }
                                td.num { (issue.times_seen) }
                                td.num { (issue.user_count) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page.offset > 0 {
                a rel="prev" href=(link(page.offset.saturating_sub(page.limit))) { "‹ Previous" }
            }
            @if more {
                a rel="next" href=(link(page.offset + page.limit)) { "Next ›" }
            }
        }
    };
    Ok(layout(&viewer, Some(&org.slug), "Issues", content))
}

/// Sets the status of, or deletes, the issues of `ids`.
async fn apply(
    state: &AppState,
    viewer: &Viewer,
    org_slug: &str,
    action: &str,
    ids: &[i64],
) -> PageResult<()> {
    let scope = if action == "delete" {
        "event:admin"
    } else {
        "event:write"
    };
    let org = viewer.0.org(state, org_slug, scope).await?;
    let status = match action {
        "resolve" => Some(IssueStatus::Resolved),
        "ignore" => Some(IssueStatus::Ignored),
        "unresolve" => Some(IssueStatus::Unresolved),
        "delete" => None,
        _ => return Err(ApiError::bad_request("unknown action").into()),
    };
    match status {
        Some(status) => {
            state.store.set_issue_status(org.id, ids, status).await?;
        }
        None => {
            for id in ids {
                if let Some(issue) = state.store.issue(org.id, *id).await? {
                    delete_issue_and_rows(state, org.id, &issue).await?;
                }
            }
        }
    }
    Ok(())
}

/// `POST /organizations/{org}/issues/`: a bulk action on the checked
/// issues, then back to the list.
pub(crate) async fn bulk(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    // Membership first: a non-member gets 403 even with nothing checked.
    viewer.0.org(&state, &org_slug, "event:read").await?;
    let ids: Vec<i64> = form
        .all("id")
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    let action = form.one("action").unwrap_or_default();
    if !ids.is_empty() {
        apply(&state, &viewer, &org_slug, action, &ids).await?;
    }
    let back = form
        .one("back")
        .filter(|b| b.starts_with(&format!("/organizations/{org_slug}/issues/")))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("/organizations/{org_slug}/issues/"));
    Ok(see_other(&back))
}

/// `POST /organizations/{org}/issues/{id}/`: resolve, ignore, unresolve or
/// delete one issue.
pub(crate) async fn act(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, id)): Path<(String, String)>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    let (_, issue, _) = viewer.0.issue(&state, &org_slug, &id, "event:read").await?;
    let action = form.one("action").unwrap_or_default();
    apply(&state, &viewer, &org_slug, action, &[issue.id]).await?;
    if action == "delete" {
        return Ok(see_other(&format!("/organizations/{org_slug}/issues/")));
    }
    Ok(see_other(&format!(
        "/organizations/{org_slug}/issues/{}/",
        issue.id
    )))
}

/// `GET /organizations/{org}/issues/{id}/`: the issue with its latest event.
pub(crate) async fn detail_latest(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, id)): Path<(String, String)>,
) -> PageResult {
    render_detail(&state, &viewer, &org_slug, &id, "latest").await
}

/// `GET /organizations/{org}/issues/{id}/events/{event}/` (an event id,
/// `latest` or `oldest`).
pub(crate) async fn detail(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, id, event)): Path<(String, String, String)>,
) -> PageResult {
    render_detail(&state, &viewer, &org_slug, &id, &event).await
}

fn selector(which: &str) -> PageResult<EventSelector> {
    Ok(match which {
        "latest" | "recommended" => EventSelector::Latest,
        "oldest" => EventSelector::Oldest,
        other => EventSelector::Id(other.parse().map_err(|_| ApiError::not_found())?),
    })
}

/// `GET .../events/{event}/json/`: the stored event as JSON.
pub(crate) async fn raw_json(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, id, event)): Path<(String, String, String)>,
) -> PageResult {
    let (_, issue, _) = viewer.0.issue(&state, &org_slug, &id, "event:read").await?;
    let event = state
        .store
        .issue_event(issue.id, selector(&event)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let body = serde_json::to_string_pretty(&event.payload).map_err(|e| {
        PageError(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A table of an object's fields.
fn kv_table(caption: &str, value: &Value) -> Markup {
    html! {
        @if let Some(map) = value.as_object().filter(|m| !m.is_empty()) {
            table.kv {
                caption { (caption) }
                tbody {
                    @for (k, v) in map {
                        @if k != "type" {
                            tr { th scope="row" { (k) } td { (text(v)) } }
                        }
                    }
                }
            }
        }
    }
}

fn frame_markup(frame: &Value) -> Markup {
    let in_app = frame["in_app"].as_bool() == Some(true);
    let file = frame["filename"]
        .as_str()
        .or(frame["abs_path"].as_str())
        .or(frame["module"].as_str())
        .unwrap_or("?");
    let function = frame["function"].as_str().unwrap_or("?");
    let line = frame["lineno"].as_u64();
    let pre = frame["pre_context"].as_array().cloned().unwrap_or_default();
    let post = frame["post_context"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let context_line = frame["context_line"].as_str();
    let start = line.map(|l| l.saturating_sub(pre.len() as u64));
    html! {
        li.frame.in-app[in_app].system[!in_app] {
            details open[in_app] {
                summary {
                    span.file { (file) }
                    @if let Some(line) = line { ":" span.line { (line) } }
                    " in "
                    span.function { (function) }
                    @if in_app { " " span.badge { "In App" } }
                }
                @if context_line.is_some() {
                    ol.context start=(start.unwrap_or(1)) {
                        @for l in &pre { li { code { (text(l)) } } }
                        @if let Some(c) = context_line { li.current { code { (c) } } }
                        @for l in &post { li { code { (text(l)) } } }
                    }
                }
                @if let Some(vars) = frame["vars"].as_object().filter(|v| !v.is_empty()) {
                    table.kv.vars {
                        caption { "Local variables" }
                        tbody {
                            @for (k, v) in vars {
                                tr { th scope="row" { (k) } td { code { (text(v)) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The exception chain, newest exception first and each stack with the
/// most recent call first (as Sentry shows them).
fn exceptions(payload: &Value) -> Markup {
    let values = payload["exception"]["values"]
        .as_array()
        .or(payload["exception"].as_array())
        .cloned()
        .unwrap_or_default();
    html! {
        @if !values.is_empty() {
            section.exceptions aria-labelledby="h-exception" {
                h2 #h-exception { "Exception" }
                @for exc in values.iter().rev() {
                    article.exception {
                        h3 {
                            span.type { (exc["type"].as_str().unwrap_or("Error")) }
                            @if let Some(value) = exc["value"].as_str() { ": " span.value { (value) } }
                        }
                        @if let Some(m) = exc["mechanism"].as_object() {
                            p.mechanism {
                                "mechanism: " (m.get("type").map(text).unwrap_or_default())
                                @if m.get("handled") == Some(&Value::Bool(false)) { " · " strong { "unhandled" } }
                            }
                        }
                        @if let Some(frames) = exc["stacktrace"]["frames"].as_array() {
                            ol.frames {
                                @for frame in frames.iter().rev() { (frame_markup(frame)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn breadcrumbs(payload: &Value) -> Markup {
    let crumbs = payload["breadcrumbs"]["values"]
        .as_array()
        .or(payload["breadcrumbs"].as_array())
        .cloned()
        .unwrap_or_default();
    html! {
        @if !crumbs.is_empty() {
            section aria-labelledby="h-crumbs" {
                h2 #h-crumbs { "Breadcrumbs" }
                table.crumbs {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Category" } th scope="col" { "Level" } th scope="col" { "Message" } } }
                    tbody {
                        @for c in crumbs.iter().rev() {
                            tr {
                                td { (crumb_time(&c["timestamp"])) }
                                td { (c["category"].as_str().or(c["type"].as_str()).unwrap_or("")) }
                                td { (c["level"].as_str().unwrap_or("info")) }
                                td {
                                    (c["message"].as_str().unwrap_or(""))
                                    @if let Some(data) = c["data"].as_object().filter(|d| !d.is_empty()) {
                                        " " code.data { (Value::Object(data.clone())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn crumb_time(v: &Value) -> String {
    let parsed = match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(|f| DateTime::from_timestamp(f.trunc() as i64, (f.fract() * 1e9) as u32)),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|d| d.to_utc()),
        _ => None,
    };
    parsed
        .map(|d| d.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

async fn render_detail(
    state: &AppState,
    viewer: &Viewer,
    org_slug: &str,
    id: &str,
    which: &str,
) -> PageResult {
    let access = viewer.0.access(state, org_slug, "event:read").await?;
    let (org, issue, project) = viewer.0.issue(state, org_slug, id, "event:read").await?;
    let event = state.store.issue_event(issue.id, selector(which)?).await?;
    let (previous, next) = match &event {
        Some(e) => state.store.neighbours(e).await?,
        None => (None, None),
    };
    let tags = match &state.events {
        Some(events) => crate::discover::tag_distribution(events.as_ref(), &issue)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let base = format!("/organizations/{}/issues/{}", org.slug, issue.id);
    let can_write = viewer.0.user.is_superuser || access.role.scopes().contains(&"event:write");
    let content = detail_markup(
        viewer,
        &issue,
        &project,
        event.as_ref(),
        &tags,
        &base,
        can_write,
        previous,
        next,
    );
    Ok(layout(viewer, Some(&org.slug), &issue.title, content))
}

#[allow(clippy::too_many_arguments)]
fn detail_markup(
    viewer: &Viewer,
    issue: &Issue,
    project: &Project,
    event: Option<&StoredEvent>,
    tags: &[Value],
    base: &str,
    can_write: bool,
    previous: Option<sentry_envelope::protocol::EventId>,
    next: Option<sentry_envelope::protocol::EventId>,
) -> Markup {
    let payload = event.map(|e| &e.payload).cloned().unwrap_or(Value::Null);
    let event_id = event.map(|e| e.event_id.0.simple().to_string());
    let id_of = |e: sentry_envelope::protocol::EventId| e.0.simple().to_string();
    html! {
        header.issue-head {
            p.trail { a href={ (base.rsplit_once("/issues/").map(|(o, _)| o).unwrap_or("")) "/issues/" } { "Issues" } " / " (short_id(&project.slug, issue.short_id)) }
            h1 { (issue.title) }
            p.culprit { (issue.culprit.as_deref().unwrap_or("")) }
            p.meta {
                span.status.(issue.status.as_str()) { (issue.status) }
                " · " span.level.(issue.level.as_str()) { (issue.level) }
                " · project " (project.slug)
            }
            @if can_write {
                form.actions method="post" action={ (base) "/" } {
                    (viewer.csrf_input())
                    @if issue.status == IssueStatus::Resolved {
                        button type="submit" name="action" value="unresolve" { "Unresolve" }
                    } @else {
                        button.primary type="submit" name="action" value="resolve" { "Resolve" }
                    }
                    @if issue.status == IssueStatus::Ignored {
                        button type="submit" name="action" value="unresolve" { "Stop ignoring" }
                    } @else {
                        button type="submit" name="action" value="ignore" { "Ignore" }
                    }
                    button.danger type="submit" name="action" value="delete" { "Delete" }
                }
            }
            dl.counts {
                div { dt { "Events" } dd { (issue.times_seen) } }
                div { dt { "Users" } dd { (issue.user_count) } }
                div { dt { "First seen" } dd { time datetime=(issue.first_seen.to_rfc3339()) { (ago(issue.first_seen)) } } }
                div { dt { "Last seen" } dd { time datetime=(issue.last_seen.to_rfc3339()) { (ago(issue.last_seen)) } } }
            }
        }
        @if let Some(event_id) = &event_id {
            nav.events aria-label="Events" {
                span { "Event " code { (event_id) } }
                a href={ (base) "/events/oldest/" } { "Oldest" }
                @if let Some(p) = previous { a rel="prev" href={ (base) "/events/" (id_of(p)) "/" } { "Older" } }
                @if let Some(n) = next { a rel="next" href={ (base) "/events/" (id_of(n)) "/" } { "Newer" } }
                a href={ (base) "/events/latest/" } { "Latest" }
                a href={ (base) "/events/" (event_id) "/json/" } { "JSON" }
            }
        }
        div.detail {
            div.main-col {
                @if let Some(message) = payload["logentry"]["formatted"].as_str().or(payload["logentry"]["message"].as_str()).or(payload["message"].as_str()) {
                    section aria-labelledby="h-message" {
                        h2 #h-message { "Message" }
                        pre.message { (message) }
                    }
                }
                (exceptions(&payload))
                (breadcrumbs(&payload))
                @if payload["request"].is_object() {
                    section aria-labelledby="h-request" {
                        h2 #h-request { "Request" }
                        p { code { (payload["request"]["method"].as_str().unwrap_or("")) " " (payload["request"]["url"].as_str().unwrap_or("")) } }
                        (kv_table("Headers", &headers_object(&payload["request"]["headers"])))
                        (kv_table("Query", &headers_object(&payload["request"]["query_string"])))
                    }
                }
                @if let Some(extra) = payload["extra"].as_object().filter(|e| !e.is_empty()) {
                    section aria-labelledby="h-extra" {
                        h2 #h-extra { "Additional data" }
                        (kv_table("Extra", &Value::Object(extra.clone())))
                    }
                }
            }
            aside.side-col aria-label="Event details" {
                section aria-labelledby="h-tags" {
                    h2 #h-tags { "Tags" }
                    @for tag in tags {
                        @let total: u64 = issue.times_seen.max(1).unsigned_abs();
                        div.tag {
                            h3 { (tag["key"].as_str().unwrap_or("")) }
                            ul.dist {
                                @for v in tag["topValues"].as_array().into_iter().flatten() {
                                    @let count = v["count"].as_u64().unwrap_or(0);
                                    @let pct = (count * 100 / total).min(100);
                                    li {
                                        span.bar style={ "width:" (pct) "%" } {}
                                        span.v { (text(&v["value"])) }
                                        span.pct { (pct) "%" }
                                    }
                                }
                            }
                        }
                    }
                    @if tags.is_empty() {
                        (kv_table("Event tags", &tags_object(&payload["tags"])))
                    }
                }
                @if payload["user"].is_object() {
                    section aria-labelledby="h-user" {
                        h2 #h-user { "User" }
                        (kv_table("User", &payload["user"]))
                    }
                }
                section aria-labelledby="h-contexts" {
                    h2 #h-contexts { "Contexts" }
                    @for (name, ctx) in payload["contexts"].as_object().into_iter().flatten() {
                        (kv_table(name, ctx))
                    }
                }
                section aria-labelledby="h-release" {
                    h2 #h-release { "Release" }
                    dl.kv {
                        dt { "Release" } dd { (payload["release"].as_str().unwrap_or("—")) }
                        dt { "Environment" } dd { (payload["environment"].as_str().unwrap_or("—")) }
                        dt { "SDK" } dd { (payload["sdk"]["name"].as_str().unwrap_or("")) " " (payload["sdk"]["version"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// Headers and query strings come as objects or as pair lists.
fn headers_object(v: &Value) -> Value {
    match v {
        Value::Array(pairs) => Value::Object(
            pairs
                .iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((text(p.first()?), p.get(1).cloned().unwrap_or(Value::Null)))
                })
                .collect(),
        ),
        Value::String(s) if !s.is_empty() => serde_json::json!({ "query": s }),
        other => other.clone(),
    }
}

fn tags_object(v: &Value) -> Value {
    headers_object(v)
}
