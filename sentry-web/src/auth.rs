//! Who is calling, and what they may do.
//!
//! A request is authenticated by an API token (`Authorization: Bearer`) or
//! by the session cookie a browser got when signing in. Access to an
//! organization needs membership (or superuser), and each route needs a
//! scope: the role's scopes, narrowed by the token's own scopes. Unsafe
//! requests authenticated by the cookie must carry the session's CSRF token
//! (`X-CSRFToken` for the API, a form field for pages).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::{TimeDelta, Utc};
use sentry_eventstore::{Organization, Project, Role, Session, User, new_token};

use crate::AppState;
use crate::api::{ApiError, ApiResult};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "sentrysid";
/// The cookie holding the sign-in form's CSRF token (before a session
/// exists).
pub(crate) const LOGIN_CSRF_COOKIE: &str = "sentrycsrf";
/// The form field that carries the CSRF token.
pub(crate) const CSRF_FIELD: &str = "csrfmiddlewaretoken";
/// How long a session lasts.
const SESSION_DAYS: i64 = 14;

/// An authenticated caller of the API or of a page.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The user.
    pub(crate) user: User,
    /// The token's scopes when authenticated by a token.
    pub(crate) token_scopes: Option<Vec<String>>,
    /// The session when authenticated by the cookie.
    pub(crate) session: Option<Session>,
}

/// What a caller may do in one organization.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    /// The organization.
    pub(crate) org: Organization,
    /// The caller's role there (owner for superusers).
    pub(crate) role: Role,
}

/// A named cookie's value from the `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`, and Secure when
/// the server is reached over TLS. `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// Starts a session for `user`; returns the cookie to set.
pub(crate) async fn start_session(state: &AppState, user: &User) -> ApiResult<HeaderValue> {
    let key = new_token();
    let session = Session {
        user_id: user.id,
        csrf_token: new_token(),
        expires: Utc::now() + TimeDelta::days(SESSION_DAYS),
    };
    state.store.create_session(&key, &session).await?;
    Ok(set_cookie(
        state,
        SESSION_COOKIE,
        &key,
        SESSION_DAYS * 86_400,
    ))
}

impl Caller {
    /// The caller from a token or the session cookie, if any.
    pub(crate) async fn from_headers(
        state: &AppState,
        headers: &HeaderMap,
    ) -> ApiResult<Option<Caller>> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token header."))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token header."))?;
            let token = state
                .store
                .token(token)
                .await?
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token"))?;
            let user = state
                .store
                .user(token.user_id)
                .await?
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token"))?;
            return Ok(Some(Caller {
                user,
                token_scopes: Some(token.scopes),
                session: None,
            }));
        }
        let Some(key) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(session) = state.store.session(key).await? else {
            return Ok(None);
        };
        let Some(user) = state.store.user(session.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(Caller {
            user,
            token_scopes: None,
            session: Some(session),
        }))
    }

    /// Whether the caller may use `scope` given their role.
    fn allows(&self, role: Role, scope: &str) -> bool {
        let by_role = self.user.is_superuser || role.scopes().contains(&scope);
        let by_token = self
            .token_scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|s| s == scope));
        by_role && by_token
    }

    /// The caller's access to an organization, needing `scope`: 404 when the
    /// organization does not exist, 403 when the caller is not a member or
    /// lacks the scope.
    pub(crate) async fn access(
        &self,
        state: &AppState,
        slug: &str,
        scope: &str,
    ) -> ApiResult<Access> {
        let org = state
            .store
            .organization(slug)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let role = match state.store.role(org.id, self.user.id).await? {
            Some(role) => role,
            None if self.user.is_superuser => Role::Owner,
            None => return Err(ApiError::forbidden()),
        };
        if !self.allows(role, scope) {
            return Err(ApiError::forbidden());
        }
        Ok(Access { org, role })
    }

    /// [`Caller::access`], returning just the organization.
    pub(crate) async fn org(
        &self,
        state: &AppState,
        slug: &str,
        scope: &str,
    ) -> ApiResult<Organization> {
        Ok(self.access(state, slug, scope).await?.org)
    }

    /// An organization's project, needing `scope` in the organization.
    pub(crate) async fn org_project(
        &self,
        state: &AppState,
        org_slug: &str,
        slug: &str,
        scope: &str,
    ) -> ApiResult<(Organization, Project)> {
        let org = self.org(state, org_slug, scope).await?;
        let project = state
            .store
            .project(org.id, slug)
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok((org, project))
    }

    /// One issue of an organization, needing `scope` there.
    pub(crate) async fn issue(
        &self,
        state: &AppState,
        org_slug: &str,
        id: &str,
        scope: &str,
    ) -> ApiResult<(Organization, sentry_eventstore::Issue, Project)> {
        let org = self.org(state, org_slug, scope).await?;
        let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
        let issue = state
            .store
            .issue(org.id, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let project = state
            .store
            .project_by_id(issue.project_id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok((org, issue, project))
    }
}

/// The API's extractor: 401 without credentials; for cookie-authenticated
/// unsafe requests, 403 without the session's `X-CSRFToken`.
impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_headers(state, &parts.headers)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Authentication credentials were not provided.",
                )
            })?;
        if let Some(session) = &caller.session
            && !parts.method.is_safe()
        {
            let sent = parts
                .headers
                .get("x-csrftoken")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent, &session.csrf_token) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "CSRF Failed: CSRF token missing or incorrect.",
                ));
            }
        }
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sentrysid=abc"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=\"2\""));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "sentry"), None);
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
