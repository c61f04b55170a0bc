//! The web UI: server-rendered HTML pages over the same store and search as
//! the API, with a little CSS and no JavaScript build.
//!
//! Every page needs a signed-in session (anonymous requests are sent to the
//! sign-in page) and membership of the organization in its path. Every form
//! posts the session's CSRF token; a post without it gets 403.

mod account;
mod issues;
mod settings;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::AppState;
use crate::api::{ApiError, Params, encode};
use crate::auth::{CSRF_FIELD, Caller, same_secret};

/// The pages' routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/_static/app.css", get(css))
        .route(
            "/auth/login/",
            get(account::login_form).post(account::login),
        )
        .route("/auth/logout/", axum::routing::post(account::logout))
        .route(
            "/organizations/{org}/issues/",
            get(issues::list).post(issues::bulk),
        )
        .route(
            "/organizations/{org}/issues/{id}/",
            get(issues::detail_latest).post(issues::act),
        )
        .route(
            "/organizations/{org}/issues/{id}/events/{event}/",
            get(issues::detail),
        )
        .route(
            "/organizations/{org}/issues/{id}/events/{event}/json/",
            get(issues::raw_json),
        )
        .route("/organizations/{org}/projects/", get(settings::projects))
        .route(
            "/organizations/{org}/projects/new/",
            get(settings::new_project_form).post(settings::new_project),
        )
        .route(
            "/settings/{org}/projects/{project}/",
            get(settings::project).post(settings::update_project),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/",
            get(settings::keys).post(settings::update_keys),
        )
        .route(
            "/settings/{org}/members/",
            get(settings::members).post(settings::update_members),
        )
        .route(
            "/settings/{org}/teams/",
            get(settings::teams).post(settings::create_team),
        )
        .route(
            "/settings/account/api/auth-tokens/",
            get(account::tokens).post(account::update_tokens),
        )
}

/// A signed-in user of the pages (session cookie only; API tokens do not
/// open pages).
pub(crate) struct Viewer(pub(crate) Caller);

impl Viewer {
    fn csrf(&self) -> &str {
        self.0
            .session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .unwrap_or_default()
    }

    /// The hidden form field carrying the CSRF token.
    pub(crate) fn csrf_input(&self) -> Markup {
        html! { input type="hidden" name=(CSRF_FIELD) value=(self.csrf()); }
    }

    /// A posted form, refused (403) without the session's CSRF token.
    pub(crate) fn form(&self, body: &Bytes) -> Result<Params, PageError> {
        let params = Params::parse(Some(&String::from_utf8_lossy(body)));
        let sent = params.one(CSRF_FIELD).unwrap_or_default();
        if self.csrf().is_empty() || !same_secret(sent, self.csrf()) {
            return Err(PageError(ApiError::new(
                StatusCode::FORBIDDEN,
                "The form was refused: its CSRF token is missing or wrong. Reload the page and try again.",
            )));
        }
        Ok(params)
    }
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_headers(state, &without_authorization(&parts.headers))
            .await
            .map_err(|e| PageError(e).into_response())?;
        match caller {
            Some(caller) if caller.session.is_some() => Ok(Viewer(caller)),
            _ => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(Redirect::to(&format!("/auth/login/?next={}", encode(next))).into_response())
            }
        }
    }
}

fn without_authorization(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    headers.remove(header::AUTHORIZATION);
    headers
}

/// An error shown as a page.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<sentry_eventstore::StoreError> for PageError {
    fn from(e: sentry_eventstore::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            (DOCTYPE)
            html lang="en" {
                head { (head(title)) }
                body {
                    main.narrow {
                        h1 { (status.as_u16()) " " (title) }
                        p { (self.0.detail()) }
                        p { a href="/" { "Back to Sentry" } }
                    }
                }
            }
        };
        (status, Html(body.into_string())).into_response()
    }
}

pub(crate) type PageResult<T = Response> = Result<T, PageError>;

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Sentry" }
        link rel="stylesheet" href="/_static/app.css";
    }
}

/// The frame of every signed-in page: header with navigation, the content
/// in `<main>`, sign-out.
pub(crate) fn layout(viewer: &Viewer, org: Option<&str>, title: &str, content: Markup) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Sentry" }
                    @if let Some(org) = org {
                        nav aria-label="Main" {
                            a href={ "/organizations/" (org) "/issues/" } { "Issues" }
                            a href={ "/organizations/" (org) "/projects/" } { "Projects" }
                            a href={ "/settings/" (org) "/members/" } { "Members" }
                            a href={ "/settings/" (org) "/teams/" } { "Teams" }
                            a href="/settings/account/api/auth-tokens/" { "API tokens" }
                        }
                    }
                    form.signout method="post" action="/auth/logout/" {
                        (viewer.csrf_input())
                        span.who { (viewer.0.user.email) }
                        button type="submit" { "Sign out" }
                    }
                }
                main #content { (content) }
            }
        }
    };
    let mut response = Html(body.into_string()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/`: the first organization's issues, or sign-in.
async fn home(State(state): State<Arc<AppState>>, viewer: Viewer) -> PageResult {
    let orgs = if viewer.0.user.is_superuser {
        state.store.organizations().await?
    } else {
        state
            .store
            .memberships(viewer.0.user.id)
            .await?
            .into_iter()
            .map(|(org, _)| org)
            .collect()
    };
    match orgs.first() {
        Some(org) => {
            Ok(Redirect::to(&format!("/organizations/{}/issues/", org.slug)).into_response())
        }
        None => Ok(layout(
            &viewer,
            None,
            "No organization",
            html! { h1 { "You are not a member of any organization" } p { "Ask an owner or manager to add you." } },
        )),
    }
}

/// A page that shows a form's error answers 400.
pub(crate) fn bad_request_if(error: Option<&str>, mut page: Response) -> Response {
    if error.is_some() {
        *page.status_mut() = StatusCode::BAD_REQUEST;
    }
    page
}

/// A redirect after a successful post (303, so the browser then GETs).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A message box for results and errors on a page.
pub(crate) fn notice(kind: &str, text: &str) -> Markup {
    html! { p.notice.(kind) role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        PreEscaped(include_str!("app.css")).into_string(),
    )
        .into_response()
}
