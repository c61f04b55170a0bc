//! Projects (with their DSN and setup snippet), project settings (data
//! scrubbing, inbound filters), client keys, members and teams.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use maud::{Markup, PreEscaped, html};
use sentry_eventstore::{KeyUpdate, Project, ProjectKey, Role, StoreError};
use sentry_relay_core::filter::LegacyBrowser;
use sentry_relay_core::quota::KeyRateLimit;
use serde_json::{Value, json};

use super::{PageError, PageResult, Viewer, bad_request_if, layout, notice, see_other};
use crate::AppState;
use crate::api::{self, ApiError, Params};
use crate::auth::Access;
use crate::settings::{FILTERS, filter_state, save_filters, settings_of, update_project_with};

/// The platforms a project can be created for, with their SDK's name.
const PLATFORMS: &[(&str, &str)] = &[
    ("python", "Python"),
    ("node", "Node.js"),
    ("javascript", "Browser JavaScript"),
    ("rust", "Rust"),
    ("go", "Go"),
    ("java", "Java"),
    ("php", "PHP"),
    ("ruby", "Ruby"),
    ("other", "Other"),
];

/// How to set up the platform's SDK with `dsn`.
fn snippet(platform: &str, dsn: &str) -> (String, &'static str) {
    let code = match platform {
        "python" => format!(
            "pip install sentry-sdk\n\nimport sentry_sdk\n\nsentry_sdk.init(\n    dsn=\"{dsn}\",\n    send_default_pii=False,\n)\n"
        ),
        "node" => format!(
            "npm install @sentry/node\n\nconst Sentry = require(\"@sentry/node\");\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n"
        ),
        "javascript" => format!(
            "npm install @sentry/browser\n\nimport * as Sentry from \"@sentry/browser\";\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n"
        ),
        "rust" => format!(
            "cargo add sentry\n\nlet _guard = sentry::init((\n    \"{dsn}\",\n    sentry::ClientOptions {{\n        release: sentry::release_name!(),\n        ..Default::default()\n    }},\n));\n"
        ),
        "go" => format!(
            "go get github.com/getsentry/sentry-go\n\nerr := sentry.Init(sentry.ClientOptions{{\n    Dsn: \"{dsn}\",\n}})\n"
        ),
        "java" => format!(
            "// build.gradle: implementation 'io.sentry:sentry'\n\nSentry.init(options -> {{\n    options.setDsn(\"{dsn}\");\n}});\n"
        ),
        "php" => format!("composer require sentry/sentry\n\n\\Sentry\\init(['dsn' => '{dsn}']);\n"),
        "ruby" => format!(
            "gem install sentry-ruby\n\nSentry.init do |config|\n  config.dsn = '{dsn}'\nend\n"
        ),
        _ => format!("SENTRY_DSN={dsn}\n"),
    };
    let label = PLATFORMS
        .iter()
        .find(|(k, _)| *k == platform)
        .map(|(_, v)| *v)
        .unwrap_or("Other");
    (code, label)
}

fn dsn(key: &ProjectKey, base_url: &str) -> String {
    let (scheme, host) = base_url.split_once("://").unwrap_or(("http", base_url));
    format!(
        "{scheme}://{}@{}/{}",
        key.public_key,
        host.trim_end_matches('/'),
        key.project_id
    )
}

/// A read-only field with a copy button (the button needs JavaScript; the
/// field can be selected and copied without it).
fn copy_field(id: &str, label: &str, value: &str) -> Markup {
    html! {
        div.copy {
            label for=(id) { (label) }
            input.copy id=(id) readonly value=(value);
            button type="button" data-copy=(id) { "Copy" }
        }
    }
}

const COPY_SCRIPT: &str = "document.addEventListener('click',function(e){var t=e.target.closest('[data-copy]');if(!t)return;var f=document.getElementById(t.dataset.copy);f.select();if(navigator.clipboard){navigator.clipboard.writeText(f.value)}t.textContent='Copied';});";

fn can(viewer: &Viewer, access: &Access, scope: &str) -> bool {
    viewer.0.user.is_superuser || access.role.scopes().contains(&scope)
}

/// `GET /organizations/{org}/projects/`
pub(crate) async fn projects(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
) -> PageResult {
    let access = viewer.0.access(&state, &org_slug, "project:read").await?;
    let projects = state.store.projects(access.org.id).await?;
    let content = html! {
        h1 { "Projects" }
        @if can(&viewer, &access, "project:write") {
            p { a.button.primary href={ "/organizations/" (access.org.slug) "/projects/new/" } { "Create project" } }
        }
        ul.cards {
            @for p in &projects {
                li {
                    a href={ "/settings/" (access.org.slug) "/projects/" (p.slug) "/" } { (p.name) }
                    " " span.muted { (p.slug) " · " (p.platform.as_deref().unwrap_or("other")) }
                    " · " a href={ "/organizations/" (access.org.slug) "/issues/?project=" (p.id) } { "Issues" }
                }
            }
        }
    };
    Ok(layout(&viewer, Some(&access.org.slug), "Projects", content))
}

fn new_project_page(
    viewer: &Viewer,
    access: &Access,
    teams: &[sentry_eventstore::Team],
    error: Option<&str>,
) -> axum::response::Response {
    let content = html! {
        h1 { "Create a project" }
        @if let Some(error) = error { (notice("error", error)) }
        form.stack method="post" {
            (viewer.csrf_input())
            fieldset.platforms {
                legend { "Platform" }
                @for (i, (key, label)) in PLATFORMS.iter().enumerate() {
                    label.check { input type="radio" name="platform" value=(key) checked[i == 0]; (label) }
                }
            }
            label for="name" { "Project name" }
            input #name name="name" required maxlength="64";
            label for="team" { "Team" }
            select #team name="team" {
                @for t in teams { option value=(t.slug) { (t.name) } }
            }
            button.primary type="submit" { "Create project" }
        }
    };
    bad_request_if(
        error,
        layout(viewer, Some(&access.org.slug), "Create a project", content),
    )
}

/// `GET /organizations/{org}/projects/new/`
pub(crate) async fn new_project_form(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
) -> PageResult {
    let access = viewer.0.access(&state, &org_slug, "project:write").await?;
    let teams = state.store.teams(access.org.id).await?;
    Ok(new_project_page(&viewer, &access, &teams, None))
}

/// `POST /organizations/{org}/projects/new/`: creates the project, then
/// shows its DSN and setup snippet.
pub(crate) async fn new_project(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    let access = viewer.0.access(&state, &org_slug, "project:write").await?;
    let teams = state.store.teams(access.org.id).await?;
    let team = form
        .one("team")
        .and_then(|slug| teams.iter().find(|t| t.slug == slug))
        .map(|t| t.id);
    let platform = form
        .one("platform")
        .filter(|p| PLATFORMS.iter().any(|(k, _)| k == p))
        .map(str::to_owned);
    match api::new_project(
        &state,
        access.org.id,
        team,
        form.one("name").map(str::to_owned),
        None,
        platform,
    )
    .await
    {
        Ok(project) => Ok(see_other(&format!(
            "/settings/{}/projects/{}/?created=1",
            access.org.slug, project.slug
        ))),
        Err(e) if e.status().is_client_error() => {
            Ok(new_project_page(&viewer, &access, &teams, Some(e.detail())))
        }
        Err(e) => Err(e.into()),
    }
}

async fn project_of(
    state: &AppState,
    viewer: &Viewer,
    org: &str,
    project: &str,
    scope: &str,
) -> PageResult<(Access, Project)> {
    let access = viewer.0.access(state, org, scope).await?;
    let project = state
        .store
        .project(access.org.id, project)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((access, project))
}

fn project_nav(org: &str, project: &Project) -> Markup {
    html! {
        nav.tabs aria-label="Project settings" {
            a href={ "/settings/" (org) "/projects/" (project.slug) "/" } { "General, scrubbing and filters" }
            a href={ "/settings/" (org) "/projects/" (project.slug) "/keys/" } { "Client keys (DSN)" }
        }
    }
}

fn lines(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// `GET /settings/{org}/projects/{project}/`
pub(crate) async fn project(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, project_slug)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let params = Params::parse(raw.as_deref());
    let message = match params.one("saved").or(params.one("created")) {
        Some(_) if params.one("created").is_some() => {
            Some("Project created. Send your first event with the DSN below.")
        }
        Some(_) => Some("Saved."),
        None => None,
    };
    project_page(&state, &viewer, &org_slug, &project_slug, message, None).await
}

async fn project_page(
    state: &AppState,
    viewer: &Viewer,
    org_slug: &str,
    project_slug: &str,
    message: Option<&str>,
    error: Option<&str>,
) -> PageResult {
    let (access, project) =
        project_of(state, viewer, org_slug, project_slug, "project:read").await?;
    let settings = settings_of(state, &project).await?;
    let keys = state.store.keys(project.id).await?;
    let editable = can(viewer, &access, "project:write");
    let first_dsn = keys
        .iter()
        .find(|k| k.is_active)
        .map(|k| dsn(k, &state.base_url));
    let platform = project.platform.as_deref().unwrap_or("other");
    let scrub = &settings.datascrubbing_settings;
    let filters = &settings.filter_settings;
    let content = html! {
        h1 { (project.name) }
        (project_nav(&access.org.slug, &project))
        @if let Some(m) = message { (notice("ok", m)) }
        @if let Some(e) = error { (notice("error", e)) }
        section aria-labelledby="h-setup" {
            h2 #h-setup { "Set up the SDK" }
            @if let Some(dsn) = &first_dsn {
                (copy_field("dsn", "DSN", dsn))
                @let (code, label) = snippet(platform, dsn);
                h3 { (label) }
                pre.snippet { code { (code) } }
            } @else {
                p { "This project has no active client key." }
            }
        }
        form.stack method="post" {
            (viewer.csrf_input())
            fieldset disabled[!editable] {
                legend { "General" }
                label for="name" { "Name" }
                input #name name="name" value=(project.name) required;
                label for="platform" { "Platform" }
                select #platform name="platform" {
                    @for (k, v) in PLATFORMS { option value=(k) selected[*k == platform] { (v) } }
                }
            }
            fieldset disabled[!editable] {
                legend { "Data scrubbing" }
                label.check { input type="checkbox" name="dataScrubber" checked[scrub.scrub_data]; "Scrub sensitive data" }
                label.check { input type="checkbox" name="dataScrubberDefaults" checked[scrub.scrub_defaults]; "Use the default scrubbers (passwords, secrets, credit cards)" }
                label.check { input type="checkbox" name="scrubIPAddresses" checked[scrub.scrub_ip_addresses]; "Do not store IP addresses" }
                label for="sensitiveFields" { "Additional sensitive fields (one per line)" }
                textarea #sensitiveFields name="sensitiveFields" rows="3" { (scrub.sensitive_fields.join("\n")) }
                label for="safeFields" { "Safe fields (one per line)" }
                textarea #safeFields name="safeFields" rows="3" { (scrub.exclude_fields.join("\n")) }
                label for="allowedDomains" { "Allowed domains for browser SDKs (one per line, * for all)" }
                textarea #allowedDomains name="allowedDomains" rows="3" { (settings.allowed_domains.join("\n")) }
            }
            fieldset disabled[!editable] {
                legend { "Inbound filters" }
                @for (id, title, _) in FILTERS {
                    @let on = !matches!(filter_state(&settings, id), Value::Bool(false) | Value::Null);
                    label.check { input type="checkbox" name={ "filter:" (id) } checked[on]; (title) }
                }
                label for="errorMessages" { "Drop errors whose message matches (one glob per line)" }
                textarea #errorMessages name="filters:error_messages" rows="3" { (filters.error_messages.patterns.join("\n")) }
                label for="releases" { "Drop events of these releases (one glob per line)" }
                textarea #releases name="filters:releases" rows="2" { (filters.releases.releases.join("\n")) }
                label for="ips" { "Drop events from these IP addresses or networks (one per line)" }
                textarea #ips name="filters:blacklisted_ips" rows="2" { (filters.client_ips.blacklisted_ips.join("\n")) }
            }
            @if editable { button.primary type="submit" { "Save changes" } }
        }
        script { (PreEscaped(COPY_SCRIPT)) }
    };
    Ok(bad_request_if(
        error,
        layout(viewer, Some(&access.org.slug), &project.name, content),
    ))
}

/// `POST /settings/{org}/projects/{project}/`
pub(crate) async fn update_project(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, project_slug)): Path<(String, String)>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    let (access, project) =
        project_of(&state, &viewer, &org_slug, &project_slug, "project:write").await?;
    let split = |name: &str| -> Value {
        json!(
            form.one(name)
                .unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        )
    };
    let update = json!({
        "name": form.one("name"),
        "platform": form.one("platform"),
        "dataScrubber": form.one("dataScrubber").is_some(),
        "dataScrubberDefaults": form.one("dataScrubberDefaults").is_some(),
        "scrubIPAddresses": form.one("scrubIPAddresses").is_some(),
        "sensitiveFields": split("sensitiveFields"),
        "safeFields": split("safeFields"),
        "allowedDomains": split("allowedDomains"),
        "options": {
            "filters:error_messages": lines(&split("filters:error_messages")),
            "filters:releases": lines(&split("filters:releases")),
            "filters:blacklisted_ips": lines(&split("filters:blacklisted_ips")),
        },
    });
    if let Err(e) = update_project_with(&state, &project, update).await {
        if e.status().is_client_error() {
            return project_page(
                &state,
                &viewer,
                &org_slug,
                &project_slug,
                None,
                Some(e.detail()),
            )
            .await;
        }
        return Err(e.into());
    }
    // The switchable filters.
    let mut settings = settings_of(&state, &project).await?;
    let on = |id: &str| form.one(&format!("filter:{id}")).is_some();
    let f = &mut settings.filter_settings;
    f.browser_extensions.is_enabled = on("browser-extensions");
    f.localhost.is_enabled = on("localhost");
    f.web_crawlers.is_enabled = on("web-crawlers");
    f.health_check.is_enabled = on("filtered-transaction");
    if on("legacy-browsers") != f.legacy_browsers.is_enabled {
        f.legacy_browsers.is_enabled = on("legacy-browsers");
        f.legacy_browsers.browsers = if on("legacy-browsers") {
            [LegacyBrowser::Default].into_iter().collect()
        } else {
            Default::default()
        };
    }
    save_filters(&state, &project, settings).await?;
    let slug = state
        .store
        .project_by_id(project.id)
        .await?
        .map(|p| p.slug)
        .unwrap_or(project.slug);
    Ok(see_other(&format!(
        "/settings/{}/projects/{slug}/?saved=1",
        access.org.slug
    )))
}

/// `GET /settings/{org}/projects/{project}/keys/`
pub(crate) async fn keys(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, project_slug)): Path<(String, String)>,
) -> PageResult {
    keys_page(&state, &viewer, &org_slug, &project_slug, None).await
}

async fn keys_page(
    state: &AppState,
    viewer: &Viewer,
    org_slug: &str,
    project_slug: &str,
    error: Option<&str>,
) -> PageResult {
    let (access, project) =
        project_of(state, viewer, org_slug, project_slug, "project:read").await?;
    let keys = state.store.keys(project.id).await?;
    let editable = can(viewer, &access, "project:write");
    let content = html! {
        h1 { (project.name) ": client keys" }
        (project_nav(&access.org.slug, &project))
        @if let Some(e) = error { (notice("error", e)) }
        @for key in &keys {
            section.key aria-label={ "Key " (key.label) } {
                h2 { (key.label) " " span.status.(if key.is_active { "active" } else { "disabled" }) { (if key.is_active { "active" } else { "disabled" }) } }
                (copy_field(&format!("dsn-{}", key.id), "DSN", &dsn(key, &state.base_url)))
                p.muted {
                    "Rate limit: "
                    @match key.rate_limit {
                        Some(l) => { (l.count) " events per " (l.window) " s" }
                        None => { "none" }
                    }
                }
                @if editable {
                    form.inline method="post" {
                        (viewer.csrf_input())
                        input type="hidden" name="key" value=(key.id);
                        @if key.is_active {
                            button type="submit" name="action" value="disable" { "Disable" }
                        } @else {
                            button type="submit" name="action" value="enable" { "Enable" }
                        }
                        button type="submit" name="action" value="rotate" { "Rotate" }
                    }
                    form.inline method="post" {
                        (viewer.csrf_input())
                        input type="hidden" name="key" value=(key.id);
                        input type="hidden" name="action" value="rate-limit";
                        label for={ "count-" (key.id) } { "Events" }
                        input.short id={ "count-" (key.id) } type="number" min="0" name="count" value=(key.rate_limit.map(|l| l.count.to_string()).unwrap_or_default());
                        label for={ "window-" (key.id) } { "per seconds" }
                        input.short id={ "window-" (key.id) } type="number" min="1" max="86400" name="window" value=(key.rate_limit.map(|l| l.window.to_string()).unwrap_or_else(|| "60".into()));
                        button type="submit" { "Set rate limit" }
                    }
                }
            }
        }
        @if editable {
            form.inline method="post" {
                (viewer.csrf_input())
                input type="hidden" name="action" value="create";
                label for="label" { "New key name" }
                input #label name="label" value="Default";
                button.primary type="submit" { "Create key" }
            }
        }
        script { (PreEscaped(COPY_SCRIPT)) }
    };
    Ok(bad_request_if(
        error,
        layout(viewer, Some(&access.org.slug), "Client keys", content),
    ))
}

/// `POST /settings/{org}/projects/{project}/keys/`: create, enable,
/// disable, rotate (a new key with the same name and limit; the old one is
/// disabled) or set a rate limit (empty count removes it).
pub(crate) async fn update_keys(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org_slug, project_slug)): Path<(String, String)>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    let (access, project) =
        project_of(&state, &viewer, &org_slug, &project_slug, "project:write").await?;
    let keys = state.store.keys(project.id).await?;
    let key = form
        .one("key")
        .and_then(|id| id.parse::<i64>().ok())
        .and_then(|id| keys.iter().find(|k| k.id == id));
    let update = |u: KeyUpdate| u;
    match (form.one("action").unwrap_or_default(), key) {
        ("create", _) => {
            let label = form
                .one("label")
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .unwrap_or("Default");
            state.store.create_key(project.id, label).await?;
        }
        ("enable" | "disable", Some(key)) => {
            state
                .store
                .update_key(
                    key.id,
                    &update(KeyUpdate {
                        is_active: Some(form.one("action") == Some("enable")),
                        ..Default::default()
                    }),
                )
                .await?;
        }
        ("rotate", Some(key)) => {
            let new = state.store.create_key(project.id, &key.label).await?;
            if key.rate_limit.is_some() {
                state
                    .store
                    .update_key(
                        new.id,
                        &KeyUpdate {
                            rate_limit: Some(key.rate_limit),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            state
                .store
                .update_key(
                    key.id,
                    &KeyUpdate {
                        is_active: Some(false),
                        ..Default::default()
                    },
                )
                .await?;
        }
        ("rate-limit", Some(key)) => {
            let count = form.one("count").map(str::trim).filter(|c| !c.is_empty());
            let limit = match count {
                None => None,
                Some(count) => {
                    let count: u64 = count
                        .parse()
                        .map_err(|_| ApiError::bad_request("The count must be a whole number."))?;
                    let window: u64 = form
                        .one("window")
                        .and_then(|w| w.trim().parse().ok())
                        .filter(|w| (1..=86_400).contains(w))
                        .ok_or_else(|| {
                            ApiError::bad_request("The window must be 1 to 86400 seconds.")
                        })?;
                    Some(KeyRateLimit { window, count })
                }
            };
            state
                .store
                .update_key(
                    key.id,
                    &KeyUpdate {
                        rate_limit: Some(limit),
                        ..Default::default()
                    },
                )
                .await?;
        }
        _ => return Err(ApiError::bad_request("unknown action or key").into()),
    }
    state.project_changed(project.id.unsigned_abs()).await;
    Ok(see_other(&format!(
        "/settings/{}/projects/{}/keys/",
        access.org.slug, project.slug
    )))
}

/// `GET /settings/{org}/members/`
pub(crate) async fn members(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
) -> PageResult {
    members_page(&state, &viewer, &org_slug, None).await
}

async fn members_page(
    state: &AppState,
    viewer: &Viewer,
    org_slug: &str,
    error: Option<&str>,
) -> PageResult {
    let access = viewer.0.access(state, org_slug, "member:read").await?;
    let members = state.store.members(access.org.id).await?;
    let manage = can(viewer, &access, "member:write");
    let grantable: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| *r <= access.role)
        .collect();
    let content = html! {
        h1 { "Members" }
        @if let Some(e) = error { (notice("error", e)) }
        table {
            caption.sr { "Members" }
            thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { span.sr { "Actions" } } } }
            tbody {
                @for m in &members {
                    tr {
                        td { (m.user.email) }
                        td {
                            @if manage && m.role <= access.role {
                                form.inline method="post" {
                                    (viewer.csrf_input())
                                    input type="hidden" name="user" value=(m.user.id);
                                    input type="hidden" name="action" value="role";
                                    label.sr for={ "role-" (m.user.id) } { "Role of " (m.user.email) }
                                    select id={ "role-" (m.user.id) } name="role" {
                                        @for r in &grantable { option value=(r.as_str()) selected[*r == m.role] { (r) } }
                                    }
                                    button type="submit" { "Change" }
                                }
                            } @else { (m.role) }
                        }
                        td {
                            @if manage && m.role <= access.role {
                                form method="post" {
                                    (viewer.csrf_input())
                                    input type="hidden" name="user" value=(m.user.id);
                                    input type="hidden" name="action" value="remove";
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manage {
            form.inline method="post" {
                (viewer.csrf_input())
                input type="hidden" name="action" value="add";
                label for="email" { "Add a user by email" }
                input #email type="email" name="email" required;
                label for="role" { "Role" }
                select #role name="role" {
                    @for r in &grantable { option value=(r.as_str()) { (r) } }
                }
                button.primary type="submit" { "Add member" }
            }
            p.muted { "New accounts are made with " code { "sentry createuser --email E --password P" } "." }
        }
    };
    Ok(bad_request_if(
        error,
        layout(viewer, Some(&access.org.slug), "Members", content),
    ))
}

/// `POST /settings/{org}/members/`: add, change role, remove. Managers
/// handle members and managers; only owners touch owners; the last owner
/// stays.
pub(crate) async fn update_members(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    let access = viewer.0.access(&state, &org_slug, "member:write").await?;
    let org_id = access.org.id;
    let role = form
        .one("role")
        .map(str::parse::<Role>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    if role.is_some_and(|r| r > access.role) {
        return Err(ApiError::forbidden().into());
    }
    let members = state.store.members(org_id).await?;
    let target = form
        .one("user")
        .and_then(|u| u.parse::<i64>().ok())
        .and_then(|id| members.iter().find(|m| m.user.id == id));
    if target.is_some_and(|t| t.role > access.role) {
        return Err(ApiError::forbidden().into());
    }
    let owners = members.iter().filter(|m| m.role == Role::Owner).count();
    let result: Result<(), String> = match (form.one("action").unwrap_or_default(), target, role) {
        ("add", _, Some(role)) => {
            let email = form.one("email").unwrap_or_default();
            match state.store.user_by_login(email).await? {
                Some(user) => {
                    state.store.set_member(org_id, user.id, role).await?;
                    Ok(())
                }
                None => Err(format!("There is no user with email {email}.")),
            }
        }
        ("role", Some(t), Some(role)) => {
            if t.role == Role::Owner && role != Role::Owner && owners <= 1 {
                Err("An organization needs at least one owner.".into())
            } else {
                state.store.set_member(org_id, t.user.id, role).await?;
                Ok(())
            }
        }
        ("remove", Some(t), _) => {
            if t.role == Role::Owner && owners <= 1 {
                Err("An organization needs at least one owner.".into())
            } else {
                state.store.remove_member(org_id, t.user.id).await?;
                Ok(())
            }
        }
        _ => Err("Unknown action or member.".into()),
    };
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/settings/{}/members/",
            access.org.slug
        ))),
        Err(message) => members_page(&state, &viewer, &org_slug, Some(&message)).await,
    }
}

/// `GET /settings/{org}/teams/`
pub(crate) async fn teams(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
) -> PageResult {
    let access = viewer.0.access(&state, &org_slug, "team:read").await?;
    let teams = state.store.teams(access.org.id).await?;
    let projects = state.store.projects(access.org.id).await?;
    let content = html! {
        h1 { "Teams" }
        ul.cards {
            @for t in &teams {
                li {
                    strong { "#" (t.slug) } " " span.muted { (t.name) }
                    " · projects: "
                    @for p in projects.iter().filter(|p| p.team_id == Some(t.id)) { (p.slug) " " }
                }
            }
        }
        @if can(&viewer, &access, "team:write") {
            form.inline method="post" {
                (viewer.csrf_input())
                label for="team-name" { "New team" }
                input #team-name name="name" required maxlength="64";
                button.primary type="submit" { "Create team" }
            }
        }
    };
    Ok(layout(&viewer, Some(&access.org.slug), "Teams", content))
}

/// `POST /settings/{org}/teams/`
pub(crate) async fn create_team(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org_slug): Path<String>,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    let access = viewer.0.access(&state, &org_slug, "team:write").await?;
    let name = form.one("name").map(str::trim).unwrap_or_default();
    let slug = sentry_eventstore::slugify(name);
    if slug.is_empty() {
        return Err(ApiError::bad_request("Enter a team name.").into());
    }
    match state.store.create_team(access.org.id, &slug, name).await {
        Ok(_) => Ok(see_other(&format!("/settings/{}/teams/", access.org.slug))),
        Err(StoreError::Conflict { .. }) => Err(PageError(ApiError::new(
            StatusCode::CONFLICT,
            "A team with this name exists.",
        ))),
        Err(e) => Err(e.into()),
    }
}
