//! Sign-in, sign-out and the user's API tokens.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use sentry_eventstore::accounts::{hash_password, verify_password};
use sentry_eventstore::new_token;

use super::{PageResult, Viewer, head, layout, notice, see_other};
use crate::AppState;
use crate::api::Params;
use crate::auth::{
    CSRF_FIELD, LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, same_secret, set_cookie, start_session,
};

/// A hash no password is checked against for real (made once, from a
/// random secret).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_token()).unwrap_or_default())
}

/// Where to go after signing in: a local path only (no `//host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn login_page(csrf: &str, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head("Sign in")) }
            body {
                main.narrow #content {
                    h1 { "Sign in to Sentry" }
                    @if let Some(error) = error { (notice("error", error)) }
                    form.stack method="post" action="/auth/login/" {
                        input type="hidden" name=(CSRF_FIELD) value=(csrf);
                        input type="hidden" name="next" value=(next);
                        label for="email" { "Email" }
                        input #email type="email" name="username" autocomplete="username" required value=(email);
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                        button.primary type="submit" { "Sign in" }
                    }
                }
            }
        }
    }
}

/// The sign-in form. Its CSRF token is also set as a cookie (the form is
/// accepted only when both agree).
fn login_response(
    state: &AppState,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let csrf = new_token();
    let mut response = (
        status,
        Html(login_page(&csrf, next, email, error).into_string()),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, 3600),
    );
    response
}

/// `GET /auth/login/`
pub(crate) async fn login_form(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    login_response(
        &state,
        StatusCode::OK,
        &safe_next(params.one("next")),
        "",
        None,
    )
}

/// `POST /auth/login/`: checks the password, starts a session and goes
/// to `next`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let params = Params::parse(Some(&String::from_utf8_lossy(&body)));
    let next = safe_next(params.one("next"));
    let sent = params.one(CSRF_FIELD).unwrap_or_default();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(sent, expected) {
        return Ok(login_response(
            &state,
            StatusCode::FORBIDDEN,
            &next,
            "",
            Some("The form expired or lacked its CSRF token; please sign in again."),
        ));
    }
    let login = params.one("username").unwrap_or_default().trim().to_owned();
    let password = params.one("password").unwrap_or_default();
    let user = state.store.user_by_login(&login).await?;
    let hash = match &user {
        Some(user) => state.store.password_hash(user.id).await?,
        None => None,
    };
    // Unknown users and users without a password cost the same hashing as
    // real ones, so the answer's timing does not tell which emails exist.
    let (hash, real) = match hash {
        Some(hash) => (hash, true),
        None => (decoy_hash().to_owned(), false),
    };
    let password = password.to_owned();
    // Argon2 takes tens of milliseconds: off the async workers.
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
        && real;
    let user_id = user.as_ref().map(|u| u.id);
    let Some(user) = user.filter(|_| verified) else {
        // Not the login text: a password typed into the email box would
        // land in the log.
        tracing::info!(user_id, "sign-in refused");
        return Ok(login_response(
            &state,
            StatusCode::UNAUTHORIZED,
            &next,
            &login,
            Some("Incorrect email or password."),
        ));
    };
    let session = start_session(&state, &user).await?;
    tracing::info!(user_id = user.id, "signed in");
    let mut response = see_other(&next);
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session);
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_CSRF_COOKIE, "", 0),
    );
    Ok(response)
}

/// `POST /auth/logout/`
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    viewer.form(&body)?;
    if let Some(key) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(key).await?;
    }
    let mut response = see_other("/auth/login/");
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

/// The scopes a new token may get: those of the user's strongest role.
const TOKEN_SCOPES: &[&str] = &[
    "org:read",
    "project:read",
    "project:write",
    "project:releases",
    "event:read",
    "event:write",
    "event:admin",
    "member:read",
    "team:read",
];

async fn tokens_page(state: &AppState, viewer: &Viewer, created: Option<&str>) -> PageResult {
    let tokens = state.store.tokens(viewer.0.user.id).await?;
    let content = html! {
        h1 { "API tokens" }
        p { "Tokens act as you through the API (" code { "Authorization: Bearer TOKEN" } "), within your role in each organization." }
        @if let Some(token) = created {
            div.notice.ok role="status" {
                p { "Your new token. Copy it now: it is not shown again." }
                input.copy readonly aria-label="New token" value=(token);
            }
        }
        form.inline method="post" {
            (viewer.csrf_input())
            input type="hidden" name="action" value="create";
            fieldset {
                legend { "Scopes" }
                @for scope in TOKEN_SCOPES {
                    label.check { input type="checkbox" name="scope" value=(scope) checked[scope.ends_with(":read")]; (scope) }
                }
            }
            button.primary type="submit" { "Create token" }
        }
        table {
            caption { "Your tokens" }
            thead { tr { th scope="col" { "Token" } th scope="col" { "Scopes" } th scope="col" { "Created" } th scope="col" { span.sr { "Actions" } } } }
            tbody {
                @for token in &tokens {
                    tr {
                        td { code { "…" (token.token_last_characters) } }
                        td { (token.scopes.join(" ")) }
                        td { (token.date_created.format("%Y-%m-%d %H:%M")) }
                        td {
                            form method="post" {
                                (viewer.csrf_input())
                                input type="hidden" name="action" value="revoke";
                                input type="hidden" name="id" value=(token.id);
                                button.danger type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(viewer, None, "API tokens", content))
}

/// `GET /settings/account/api/auth-tokens/`
pub(crate) async fn tokens(State(state): State<Arc<AppState>>, viewer: Viewer) -> PageResult {
    tokens_page(&state, &viewer, None).await
}

/// `POST /settings/account/api/auth-tokens/`: create or revoke.
pub(crate) async fn update_tokens(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&body)?;
    match form.one("action") {
        Some("create") => {
            let scopes: Vec<String> = form
                .all("scope")
                .iter()
                .filter(|s| TOKEN_SCOPES.contains(&s.as_str()))
                .cloned()
                .collect();
            let token = new_token();
            state
                .store
                .create_token(viewer.0.user.id, &token, &scopes)
                .await?;
            tokens_page(&state, &viewer, Some(&token)).await
        }
        Some("revoke") => {
            let id: i64 = form.one("id").and_then(|v| v.parse().ok()).unwrap_or(-1);
            state.store.delete_token(viewer.0.user.id, id).await?;
            Ok(see_other("/settings/account/api/auth-tokens/"))
        }
        _ => tokens_page(&state, &viewer, None).await,
    }
}
