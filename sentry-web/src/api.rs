//! The web API under `/api/0/`, with Sentry's paths and JSON shapes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sentry_envelope::protocol::EventId;
use sentry_eventstore::{
    EventSelector, IssueQuery, IssueSort, IssueStatus, KeyUpdate, NewProject, Project, StoreError,
    slugify,
};
use sentry_relay_core::quota::KeyRateLimit;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
pub(crate) use crate::auth::Caller;
use crate::serialize;

/// The most rows a page holds.
const MAX_PER_PAGE: u64 = 100;

/// An API error: a status and `{"detail": ...}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    detail: String,
    /// A body other than `{"detail": ...}` (field errors).
    body: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            body: None,
        }
    }

    /// An error with its own JSON body, such as Sentry's field errors
    /// (`{"slug": ["Enter a valid slug."]}`).
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        ApiError {
            status,
            detail: body.to_string(),
            body: Some(body),
        }
    }

    pub(crate) fn not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        )
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }

    pub(crate) fn forbidden() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.",
        )
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => {
                ApiError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            StoreError::NotFound { .. } => ApiError::not_found(),
            other => {
                tracing::error!(error = %other, "store error in api");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self
            .body
            .unwrap_or_else(|| json!({ "detail": self.detail }));
        (self.status, Json(body)).into_response()
    }
}

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// Query parameters, with repeated keys (`?id=1&id=2`, `?project=1&project=2`).
pub(crate) struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url_pairs(raw.unwrap_or("")) {
            map.entry(k).or_default().push(v);
        }
        Params(map)
    }

    pub(crate) fn one(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    pub(crate) fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A page request: Sentry's cursor `<value>:<offset>:<is_prev>`.
pub(crate) struct PageRequest {
    pub(crate) offset: u64,
    pub(crate) limit: u64,
}

impl PageRequest {
    pub(crate) fn from(params: &Params, default_limit: u64) -> ApiResult<PageRequest> {
        let limit = match params.one("per_page").or(params.one("limit")) {
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("invalid per_page"))?
                .clamp(1, MAX_PER_PAGE),
            None => default_limit,
        };
        let offset = match params.one("cursor") {
            Some(c) if !c.is_empty() => {
                let mut parts = c.split(':');
                let _value = parts.next();
                parts
                    .next()
                    .and_then(|o| o.parse::<u64>().ok())
                    .ok_or_else(|| ApiError::bad_request("invalid cursor"))?
            }
            _ => 0,
        };
        Ok(PageRequest { offset, limit })
    }

    /// The `Link` header for a page that found `more` rows beyond it.
    fn link(&self, uri: &Uri, base_url: &str, more: bool) -> HeaderValue {
        let path = uri.path();
        let kept: Vec<String> = uri
            .query()
            .map(url_pairs)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| format!("{}={}", encode(&k), encode(&v)))
            .collect();
        let url = |cursor: &str| {
            let mut q = kept.clone();
            q.push(format!("cursor={}", encode(cursor)));
            format!("{}{path}?{}", base_url.trim_end_matches('/'), q.join("&"))
        };
        let prev_offset = self.offset.saturating_sub(self.limit);
        let prev = format!("0:{prev_offset}:1");
        let next = format!("0:{}:0", self.offset + self.limit);
        let value = format!(
            "<{}>; rel=\"previous\"; results=\"{}\"; cursor=\"{prev}\", <{}>; rel=\"next\"; results=\"{more}\"; cursor=\"{next}\"",
            url(&prev),
            self.offset > 0,
            url(&next),
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A page of results with its `Link` header.
pub(crate) fn paged(rows: Vec<Value>, page: &PageRequest, uri: &Uri, base_url: &str) -> Response {
    paged_as(rows, page, uri, base_url, Value::Array)
}

/// A page of results (`page.limit` of them; one more says there is a next
/// page) with its `Link` header, the rows wrapped by `body`.
pub(crate) fn paged_as(
    mut rows: Vec<Value>,
    page: &PageRequest,
    uri: &Uri,
    base_url: &str,
    body: impl FnOnce(Vec<Value>) -> Value,
) -> Response {
    let more = rows.len() as u64 > page.limit;
    rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    let mut response = Json(body(rows)).into_response();
    response
        .headers_mut()
        .insert(header::LINK, page.link(uri, base_url, more));
    response
}

/// `GET /api/0/organizations/{org}/`
pub(crate) async fn get_organization(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
) -> ApiResult {
    let access = caller.access(&state, &org_slug, "org:read").await?;
    Ok(Json(serialize::organization(&access.org, access.role)).into_response())
}

/// `GET /api/0/organizations/{org}/members/`
pub(crate) async fn list_members(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
) -> ApiResult {
    let org = caller.org(&state, &org_slug, "member:read").await?;
    let members = state.store.members(org.id).await?;
    Ok(Json(members.iter().map(serialize::member).collect::<Vec<_>>()).into_response())
}

/// `GET /api/0/organizations/{org}/teams/`
pub(crate) async fn list_teams(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
) -> ApiResult {
    let org = caller.org(&state, &org_slug, "team:read").await?;
    let teams = state.store.teams(org.id).await?;
    let projects = state.store.projects(org.id).await?;
    let body: Vec<Value> = teams
        .iter()
        .map(|t| serialize::team(t, &projects))
        .collect();
    Ok(Json(body).into_response())
}

/// `GET /api/0/organizations/{org}/projects/`
pub(crate) async fn list_projects(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    let page = PageRequest::from(&params, MAX_PER_PAGE)?;
    let org = caller.org(&state, &org_slug, "project:read").await?;
    let projects = state.store.projects(org.id).await?;
    let rows: Vec<Value> = projects
        .iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit + 1).unwrap_or(usize::MAX))
        .map(serialize::project)
        .collect();
    Ok(paged(rows, &page, &uri, &state.base_url))
}

#[derive(Deserialize)]
pub(crate) struct NewProjectBody {
    name: Option<String>,
    slug: Option<String>,
    platform: Option<String>,
}

/// `POST /api/0/teams/{org}/{team}/projects/`
pub(crate) async fn create_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, team_slug)): Path<(String, String)>,
    Json(body): Json<NewProjectBody>,
) -> ApiResult {
    let org = caller.org(&state, &org_slug, "project:write").await?;
    let team = state
        .store
        .team(org.id, &team_slug)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let project = new_project(
        &state,
        org.id,
        Some(team.id),
        body.name,
        body.slug,
        body.platform,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(serialize::project(&project))).into_response())
}

/// Creates a project (and its first key) after checking its name and slug.
pub(crate) async fn new_project(
    state: &AppState,
    org_id: i64,
    team_id: Option<i64>,
    name: Option<String>,
    slug: Option<String>,
    platform: Option<String>,
) -> ApiResult<Project> {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| slug.clone())
        .ok_or_else(|| ApiError::bad_request("name: This field is required."))?;
    let slug = slug
        .filter(|s| !s.trim().is_empty())
        .map(|s| slugify(&s))
        .unwrap_or_else(|| slugify(&name));
    if slug.is_empty() || slug.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::bad_request("slug: Enter a valid slug."));
    }
    let project = state
        .store
        .create_project(
            org_id,
            team_id,
            NewProject {
                name,
                slug: Some(slug),
                platform: platform.filter(|p| !p.is_empty()),
            },
        )
        .await?;
    state.project_changed(project.id.unsigned_abs()).await;
    Ok(project)
}

/// `GET /api/0/projects/{org}/{project}/keys/`
pub(crate) async fn list_keys(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = Params::parse(query.as_deref());
    let page = PageRequest::from(&params, MAX_PER_PAGE)?;
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:read")
        .await?;
    let keys = state.store.keys(project.id).await?;
    let rows = keys
        .iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit + 1).unwrap_or(usize::MAX))
        .map(|k| serialize::key(k, &state.base_url))
        .collect();
    Ok(paged(rows, &page, &uri, &state.base_url))
}

#[derive(Deserialize)]
pub(crate) struct NewKeyBody {
    name: Option<String>,
}

/// `POST /api/0/projects/{org}/{project}/keys/`
pub(crate) async fn create_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug)): Path<(String, String)>,
    body: Option<Json<NewKeyBody>>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:write")
        .await?;
    let label = body
        .and_then(|Json(b)| b.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Default".into());
    let key = state.store.create_key(project.id, &label).await?;
    state.project_changed(project.id.unsigned_abs()).await;
    Ok((
        StatusCode::CREATED,
        Json(serialize::key(&key, &state.base_url)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateKeyBody {
    name: Option<String>,
    is_active: Option<bool>,
    /// `{"window": 60, "count": 100}`; `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    rate_limit: Option<Option<RateLimitBody>>,
}

#[derive(Deserialize)]
pub(crate) struct RateLimitBody {
    window: Option<u64>,
    count: Option<u64>,
}

/// Tells a field set to `null` (`Some(None)`) from a missing one (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PUT /api/0/projects/{org}/{project}/keys/{key_id}/`: `name`,
/// `isActive`, `rateLimit` (`{"window", "count"}` or `null`).
pub(crate) async fn update_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug, key_id)): Path<(String, String, String)>,
    Json(body): Json<UpdateKeyBody>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "project:write")
        .await?;
    let find = |keys: Vec<sentry_eventstore::ProjectKey>| {
        keys.into_iter()
            .find(|k| k.public_key == key_id)
            .ok_or_else(ApiError::not_found)
    };
    let key = find(state.store.keys(project.id).await?)?;
    let rate_limit = match body.rate_limit {
        None => None,
        Some(None) => Some(None),
        // Sentry treats a limit without both numbers as no limit.
        Some(Some(RateLimitBody {
            window: Some(window),
            count: Some(count),
        })) => {
            if window == 0 || window > 86_400 {
                return Err(ApiError::bad_request(
                    "rateLimit.window: must be between 1 and 86400 seconds",
                ));
            }
            Some(Some(KeyRateLimit { window, count }))
        }
        Some(Some(_)) => Some(None),
    };
    let update = KeyUpdate {
        label: body.name.filter(|n| !n.trim().is_empty()),
        is_active: body.is_active,
        rate_limit,
    };
    let key = state.store.update_key(key.id, &update).await?;
    state.project_changed(project.id.unsigned_abs()).await;
    Ok(Json(serialize::key(&key, &state.base_url)).into_response())
}

/// Reads Sentry's issue search syntax: `is:unresolved`, `is:resolved`,
/// `is:ignored` (or `is:archived`), and free text.
fn issue_query(params: &Params, projects: &[Project]) -> ApiResult<IssueQuery> {
    // Sentry's default query is `is:unresolved`.
    let raw = params.one("query").unwrap_or("is:unresolved");
    let mut query = IssueQuery::default();
    for word in raw.split_whitespace() {
        if let Some(status) = word.strip_prefix("is:") {
            query.status =
                Some(status.parse::<IssueStatus>().map_err(|_| {
                    ApiError::bad_request(format!("unknown search term is:{status}"))
                })?);
        } else {
            query.text.push(word.trim_matches('"').to_owned());
        }
    }
    query.project_ids = named_projects(params, projects)?;
    query.sort = match params.one("sort") {
        None | Some("date") => IssueSort::LastSeen,
        Some("new") => IssueSort::FirstSeen,
        Some("freq") => IssueSort::TimesSeen,
        Some("user") => IssueSort::UserCount,
        Some(other) => return Err(ApiError::bad_request(format!("unknown sort {other:?}"))),
    };
    Ok(query)
}

/// The projects a request names with `project=` (`-1` means all); a
/// project of another organization is refused.
pub(crate) fn named_projects(params: &Params, projects: &[Project]) -> ApiResult<Vec<i64>> {
    let mut ids = Vec::new();
    for id in params.all("project") {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::bad_request("invalid project"))?;
        if id == -1 {
            continue;
        }
        if !projects.iter().any(|p| p.id == id) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn project_of(projects: &[Project], id: i64) -> ApiResult<&Project> {
    projects
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/0/organizations/{org}/issues/`
///
/// A search with event fields (`level:error`, `browser.name:Chrome`,
/// `times_seen:>10`, ...) finds its issues in the event store first; a
/// search of only `is:` and free text is answered from the issues
/// themselves (title, culprit, short id). `statsPeriod=24h` or `14d` adds
/// each issue's event counts per hour or day.
pub(crate) async fn list_issues(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let page = PageRequest::from(&params, 25)?;
    let org = caller.org(&state, &org_slug, "event:read").await?;
    let projects = state.store.projects(org.id).await?;
    let stats_period = params
        .one("groupStatsPeriod")
        .or(params.one("statsPeriod"))
        .unwrap_or("");
    let (issues, stats) = find_issues(&state, org.id, &projects, &params, &page).await?;
    let mut rows = Vec::with_capacity(issues.len());
    for issue in &issues {
        let project = project_of(&projects, issue.project_id)?;
        let mut row = serialize::issue(issue, project, &org.slug, &state.base_url);
        if let Some(series) = stats.get(&issue.id) {
            row["stats"] = json!({ stats_period: crate::discover::series_json(series) });
        }
        rows.push(row);
    }
    Ok(paged(rows, &page, &uri, &state.base_url))
}

/// The issues a list request asks for (`query`, `project`, `sort`, a page
/// of them plus one more), and with `statsPeriod=24h|14d` each one's event
/// counts per hour or day. Shared by the API and the issue list page.
pub(crate) async fn find_issues(
    state: &AppState,
    org_id: i64,
    projects: &[Project],
    params: &Params,
    page: &PageRequest,
) -> ApiResult<(Vec<sentry_eventstore::Issue>, HashMap<i64, Vec<(i64, u64)>>)> {
    let mut query = issue_query(params, projects)?;
    let search = params.one("query").unwrap_or("is:unresolved");
    if let Some(events) = &state.events {
        let parsed = crate::discover::parse_search(search)?;
        if parsed.root.as_ref().is_some_and(needs_events) {
            let compiled = crate::discover::compile_search(&parsed)?;
            let project_ids = crate::discover::requested_projects(params, projects)?;
            query.text.clear();
            query.group_ids = Some(
                crate::discover::matching_issues(
                    events.as_ref(),
                    &project_ids,
                    compiled.where_.as_ref(),
                    compiled.having.as_ref(),
                )
                .await?,
            );
        }
    }
    query.offset = page.offset;
    query.limit = page.limit + 1;
    // As in Sentry, `statsPeriod` is also the time range: issues seen in it.
    if let Some(period) = params.one("statsPeriod") {
        let secs = crate::discover::parse_period(period)
            .ok_or_else(|| ApiError::bad_request(format!("invalid statsPeriod {period:?}")))?;
        query.last_seen_after = Some(chrono::Utc::now() - chrono::TimeDelta::seconds(secs));
    }
    let issues = state.store.issues(org_id, &query).await?;
    let stats_period = params
        .one("groupStatsPeriod")
        .or(params.one("statsPeriod"))
        .unwrap_or("");
    let stats = match (&state.events, stats_period) {
        (Some(events), "24h" | "14d") => {
            let (span, bucket) = if stats_period == "24h" {
                (24 * 3600, 3600)
            } else {
                (14 * 86_400, 86_400)
            };
            let now = chrono::Utc::now().timestamp();
            let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
            let project_ids: Vec<i64> = issues.iter().map(|i| i.project_id).collect();
            crate::discover::issue_stats(
                events.as_ref(),
                &project_ids,
                &ids,
                now - span + bucket,
                now + 1,
                bucket,
            )
            .await?
        }
        _ => HashMap::new(),
    };
    Ok((issues, stats))
}

/// Whether a search needs the event store: it filters on something other
/// than free text and the issue's own attributes.
fn needs_events(term: &sentry_snuba::search::Term) -> bool {
    use sentry_snuba::search::{Key, Term};
    match term {
        Term::And(terms) | Term::Or(terms) => terms.iter().any(needs_events),
        Term::Filter(filter) => !matches!(
            &filter.key,
            Key::Field(name) if matches!(name.as_str(), "is" | "assigned" | "assigned_or_suggested" | "bookmarks")
        ),
        Term::Has { .. } => true,
        Term::Text(_) => false,
    }
}

#[derive(Deserialize)]
pub(crate) struct UpdateBody {
    status: Option<String>,
}

fn parse_status(body: &UpdateBody) -> ApiResult<Option<IssueStatus>> {
    body.status
        .as_deref()
        .map(|s| s.parse::<IssueStatus>().map_err(ApiError::bad_request))
        .transpose()
}

/// `PUT /api/0/organizations/{org}/issues/?id=1&id=2` (or by `query=`).
pub(crate) async fn update_issues(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(org_slug): Path<String>,
    RawQuery(raw): RawQuery,
    Json(body): Json<UpdateBody>,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let org = caller.org(&state, &org_slug, "event:write").await?;
    let Some(status) = parse_status(&body)? else {
        return Ok(Json(json!({})).into_response());
    };
    let ids: Vec<i64> = if params.all("id").is_empty() {
        // No ids: the update applies to what the query matches (up to 1000).
        let projects = state.store.projects(org.id).await?;
        let mut query = issue_query(&params, &projects)?;
        query.limit = 1000;
        state
            .store
            .issues(org.id, &query)
            .await?
            .iter()
            .map(|i| i.id)
            .collect()
    } else {
        params
            .all("id")
            .iter()
            .map(|id| id.parse().map_err(|_| ApiError::bad_request("invalid id")))
            .collect::<ApiResult<_>>()?
    };
    if ids.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    state.store.set_issue_status(org.id, &ids, status).await?;
    Ok(Json(json!({"status": status.as_str(), "statusDetails": {}})).into_response())
}

/// `GET /api/0/organizations/{org}/issues/{id}/`
pub(crate) async fn get_issue(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id)): Path<(String, String)>,
) -> ApiResult {
    issue_response(&state, &caller, &org_slug, &id, "event:read").await
}

/// One issue as Sentry's JSON.
async fn issue_response(
    state: &AppState,
    caller: &Caller,
    org_slug: &str,
    id: &str,
    scope: &str,
) -> ApiResult {
    let (org, issue, project) = caller.issue(state, org_slug, id, scope).await?;
    let body = serialize::issue(&issue, &project, &org.slug, &state.base_url);
    Ok(Json(body).into_response())
}

/// `PUT /api/0/organizations/{org}/issues/{id}/`
pub(crate) async fn update_issue(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id)): Path<(String, String)>,
    Json(body): Json<UpdateBody>,
) -> ApiResult {
    let (org, issue, _) = caller.issue(&state, &org_slug, &id, "event:write").await?;
    if let Some(status) = parse_status(&body)? {
        state
            .store
            .set_issue_status(org.id, &[issue.id], status)
            .await?;
    }
    issue_response(&state, &caller, &org_slug, &id, "event:write").await
}

/// `DELETE /api/0/organizations/{org}/issues/{id}/`
pub(crate) async fn delete_issue(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id)): Path<(String, String)>,
) -> ApiResult {
    let (org, issue, _) = caller.issue(&state, &org_slug, &id, "event:admin").await?;
    delete_issue_and_rows(&state, org.id, &issue).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Deletes an issue and tells the event store (through the replacer) to
/// hide its rows.
pub(crate) async fn delete_issue_and_rows(
    state: &AppState,
    org_id: i64,
    issue: &sentry_eventstore::Issue,
) -> ApiResult<()> {
    state.store.delete_issue(org_id, issue.id).await?;
    // The event store hides the issue's rows when the replacer gets this.
    let message = sentry_snuba::eventstream::Message::EndDeleteGroups(
        sentry_snuba::eventstream::DeleteGroups {
            project_id: issue.project_id.unsigned_abs(),
            group_ids: vec![issue.id.unsigned_abs()],
            datetime: chrono::Utc::now().to_rfc3339(),
        },
    );
    state
        .producer
        .produce(
            sentry_stream::topics::EVENTS,
            Some(issue.project_id.to_string().into()),
            message.encode().into(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "announcing an issue deletion failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })?;
    Ok(())
}

/// `GET /api/0/organizations/{org}/issues/{id}/events/`
pub(crate) async fn issue_events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id)): Path<(String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = Params::parse(raw.as_deref());
    let page = PageRequest::from(&params, MAX_PER_PAGE)?;
    let full = matches!(params.one("full"), Some("true" | "1"));
    let (_, issue, _) = caller.issue(&state, &org_slug, &id, "event:read").await?;
    let events = state
        .store
        .issue_events(issue.id, page.offset, page.limit + 1)
        .await?;
    let rows = events
        .iter()
        .map(|e| {
            if full {
                serialize::event_detail(e, None, None)
            } else {
                serialize::event_summary(e)
            }
        })
        .collect();
    Ok(paged(rows, &page, &uri, &state.base_url))
}

async fn event_response(
    state: &AppState,
    event: Option<sentry_eventstore::StoredEvent>,
) -> ApiResult {
    let event = event.ok_or_else(ApiError::not_found)?;
    let (previous, next) = state.store.neighbours(&event).await?;
    let id = |e: EventId| e.0.simple().to_string();
    Ok(Json(serialize::event_detail(
        &event,
        previous.map(id),
        next.map(id),
    ))
    .into_response())
}

/// `GET /api/0/organizations/{org}/issues/{id}/events/{latest|oldest|event_id}/`
pub(crate) async fn issue_event(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, id, which)): Path<(String, String, String)>,
) -> ApiResult {
    let (_, issue, _) = caller.issue(&state, &org_slug, &id, "event:read").await?;
    let selector = match which.as_str() {
        "latest" | "recommended" => EventSelector::Latest,
        "oldest" => EventSelector::Oldest,
        other => EventSelector::Id(other.parse().map_err(|_| ApiError::not_found())?),
    };
    let event = state.store.issue_event(issue.id, selector).await?;
    event_response(&state, event).await
}

/// `GET /api/0/projects/{org}/{project}/events/{event_id}/`
pub(crate) async fn project_event(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org_slug, project_slug, event_id)): Path<(String, String, String)>,
) -> ApiResult {
    let (_, project) = caller
        .org_project(&state, &org_slug, &project_slug, "event:read")
        .await?;
    let event_id: EventId = event_id.parse().map_err(|_| ApiError::not_found())?;
    let event = state.store.event(project.id, event_id).await?;
    event_response(&state, event).await
}

/// Unknown paths under `/api/0/`.
pub(crate) async fn not_found(_headers: HeaderMap) -> ApiError {
    ApiError::not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let p = Params::parse(Some("query=is%3Aunresolved+foo&id=1&id=2&x"));
        assert_eq!(p.one("query"), Some("is:unresolved foo"));
        assert_eq!(p.all("id"), ["1", "2"]);
        assert_eq!(p.one("x"), Some(""));
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn link_header_has_both_cursors() {
        let page = PageRequest {
            offset: 25,
            limit: 25,
        };
        let uri: Uri = "/api/0/organizations/sentry/issues/?query=is:resolved&cursor=0:25:0"
            .parse()
            .unwrap();
        let link = page.link(&uri, "http://h:9000", true);
        assert_eq!(
            link.to_str().unwrap(),
            "<http://h:9000/api/0/organizations/sentry/issues/?query=is:resolved&cursor=0:0:1>; \
             rel=\"previous\"; results=\"true\"; cursor=\"0:0:1\", \
             <http://h:9000/api/0/organizations/sentry/issues/?query=is:resolved&cursor=0:50:0>; \
             rel=\"next\"; results=\"true\"; cursor=\"0:50:0\""
        );
    }
}
