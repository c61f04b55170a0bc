//! How a request says which client key sent it.
//!
//! SDKs authenticate in one of three ways, and a request may use several:
//!
//! - the `X-Sentry-Auth` header (or `Authorization`), `Sentry sentry_key=<key>,
//!   sentry_version=7, sentry_client=<sdk>/<version>`;
//! - the query string, `?sentry_key=<key>&sentry_version=7` (browser SDKs and
//!   endpoints that cannot set headers);
//! - the `dsn` header of an envelope.
//!
//! [`reconcile`] checks that all of them name the same key and project.

use std::fmt;

use crate::dsn::{Dsn, ProjectId};

/// Credentials found in one place of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The public key of the client key (`sentry_key`).
    pub public_key: String,
    /// The legacy secret key (`sentry_secret`), if sent.
    pub secret_key: Option<String>,
    /// The protocol version (`sentry_version`), if sent.
    pub version: Option<u16>,
    /// The SDK name and version (`sentry_client`), if sent.
    pub client: Option<String>,
}

/// Where a credential came from, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthSource {
    /// The `X-Sentry-Auth` or `Authorization` header.
    Header,
    /// The `sentry_key` query parameter.
    Query,
    /// The envelope's `dsn` header.
    EnvelopeDsn,
    /// The project id in the request path.
    Path,
}

impl fmt::Display for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthSource::Header => "X-Sentry-Auth header",
            AuthSource::Query => "query string",
            AuthSource::EnvelopeDsn => "envelope dsn header",
            AuthSource::Path => "request path",
        })
    }
}

/// Why a request's credentials are not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credential anywhere.
    #[error("missing authentication: no sentry_key in header, query or envelope dsn")]
    Missing,
    /// A header or query without `sentry_key`.
    #[error("invalid authentication in {0}: missing sentry_key")]
    MissingPublicKey(AuthSource),
    /// `sentry_version` is not a number.
    #[error("invalid authentication in {location}: invalid sentry_version {value:?}")]
    InvalidVersion {
        /// Where it was.
        location: AuthSource,
        /// What was sent.
        value: String,
    },
    /// The header is not of the form `Sentry key=value, ...`.
    #[error("invalid authentication header: {0}")]
    Malformed(String),
    /// The envelope's `dsn` header is not a DSN.
    #[error("invalid dsn in envelope header: {0}")]
    InvalidDsn(String),
    /// Two sources name different keys.
    #[error("public key mismatch between {first} and {second}")]
    KeyMismatch {
        /// One source.
        first: AuthSource,
        /// The other.
        second: AuthSource,
    },
    /// The envelope's DSN is for another project than the request path.
    #[error("project id mismatch between envelope dsn ({dsn}) and request path ({path})")]
    ProjectMismatch {
        /// The project of the DSN.
        dsn: ProjectId,
        /// The project of the path.
        path: ProjectId,
    },
}

fn parse_version(location: AuthSource, value: &str) -> Result<u16, AuthError> {
    // Old clients sent "2.0"; the integer part is what matters.
    let int = value.split('.').next().unwrap_or("").trim();
    int.parse().map_err(|_| AuthError::InvalidVersion {
        location,
        value: value.to_owned(),
    })
}

#[derive(Default)]
struct Fields {
    key: Option<String>,
    secret: Option<String>,
    version: Option<String>,
    client: Option<String>,
}

impl Fields {
    fn set(&mut self, name: &str, value: String) {
        let name = name.strip_prefix("sentry_").unwrap_or(name);
        match name {
            "key" => self.key = Some(value),
            "secret" => self.secret = Some(value),
            "version" => self.version = Some(value),
            "client" => self.client = Some(value),
            _ => {}
        }
    }

    fn finish(self, source: AuthSource) -> Result<Option<Auth>, AuthError> {
        let Some(public_key) = self.key.filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        let version = self
            .version
            .map(|v| parse_version(source, &v))
            .transpose()?;
        Ok(Some(Auth {
            public_key,
            secret_key: self.secret.filter(|s| !s.is_empty()),
            version,
            client: self.client,
        }))
    }
}

impl Auth {
    /// Parses an `X-Sentry-Auth` (or `Authorization`) header value.
    ///
    /// ```
    /// let auth = sentry_envelope::Auth::from_header(
    ///     "Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.0.0",
    /// )?;
    /// assert_eq!(auth.public_key, "abc");
    /// assert_eq!(auth.version, Some(7));
    /// # Ok::<(), sentry_envelope::AuthError>(())
    /// ```
    pub fn from_header(value: &str) -> Result<Auth, AuthError> {
        let mut rest = value.trim();
        if rest
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("sentry"))
        {
            let after = &rest[6..];
            // "Sentry key=..." or "Sentry,key=..."; but "sentry_key=..." has no prefix.
            if after.starts_with([' ', '\t', ',']) {
                rest = after;
            }
        }
        let mut fields = Fields::default();
        for pair in rest.split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| AuthError::Malformed(format!("expected key=value, got {pair:?}")))?;
            let value = value.trim().trim_matches('"');
            fields.set(name.trim(), value.to_owned());
        }
        fields
            .finish(AuthSource::Header)?
            .ok_or(AuthError::MissingPublicKey(AuthSource::Header))
    }

    /// Reads `sentry_key`, `sentry_secret`, `sentry_version` and
    /// `sentry_client` from a query string (without the `?`).
    ///
    /// Returns `Ok(None)` when the query has no `sentry_key`.
    pub fn from_query(query: &str) -> Result<Option<Auth>, AuthError> {
        let mut fields = Fields::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if name.starts_with("sentry_") {
                fields.set(&name, value.into_owned());
            }
        }
        fields.finish(AuthSource::Query)
    }
}

/// What a request proved about its sender once all sources agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAuth {
    /// The client key.
    pub public_key: String,
    /// The project, from the path or else from the envelope's DSN.
    pub project_id: Option<ProjectId>,
    /// The protocol version, if any source sent one.
    pub version: Option<u16>,
    /// The SDK, if any source named it.
    pub client: Option<String>,
}

/// Checks that the header, the query and the envelope's `dsn` header agree,
/// and returns the key and project they name.
///
/// `path_project` is the project id of the request path (`/api/<id>/...`);
/// it is `None` for endpoints without one (`/api/store/`), where the
/// envelope's DSN supplies it.
///
/// ```
/// use sentry_envelope::{reconcile, Auth, ProjectId};
///
/// let header = Auth::from_header("Sentry sentry_key=abc, sentry_version=7")?;
/// let query = Auth::from_query("sentry_key=abc")?;
/// let dsn = "https://abc@example.com/42".parse().ok();
/// let auth = reconcile(Some(header), query, dsn.as_ref(), Some(ProjectId::new(42)))?;
/// assert_eq!(auth.public_key, "abc");
///
/// let other = Auth::from_query("sentry_key=xyz")?;
/// assert!(reconcile(None, other, dsn.as_ref(), None).is_err());
/// # Ok::<(), sentry_envelope::AuthError>(())
/// ```
pub fn reconcile(
    header: Option<Auth>,
    query: Option<Auth>,
    envelope_dsn: Option<&Dsn>,
    path_project: Option<ProjectId>,
) -> Result<RequestAuth, AuthError> {
    let mut found: Option<(AuthSource, RequestAuth)> = None;
    let mut merge = |source: AuthSource, auth: RequestAuth| -> Result<(), AuthError> {
        match &mut found {
            None => found = Some((source, auth)),
            Some((first, existing)) => {
                if existing.public_key != auth.public_key {
                    return Err(AuthError::KeyMismatch {
                        first: *first,
                        second: source,
                    });
                }
                existing.version = existing.version.or(auth.version);
                if existing.client.is_none() {
                    existing.client = auth.client;
                }
            }
        }
        Ok(())
    };
    for (source, auth) in [(AuthSource::Header, header), (AuthSource::Query, query)] {
        if let Some(auth) = auth {
            merge(
                source,
                RequestAuth {
                    public_key: auth.public_key,
                    project_id: None,
                    version: auth.version,
                    client: auth.client,
                },
            )?;
        }
    }
    let mut project_id = path_project;
    if let Some(dsn) = envelope_dsn {
        match path_project {
            Some(path) if path != dsn.project_id() => {
                return Err(AuthError::ProjectMismatch {
                    dsn: dsn.project_id(),
                    path,
                });
            }
            _ => project_id = Some(dsn.project_id()),
        }
        merge(
            AuthSource::EnvelopeDsn,
            RequestAuth {
                public_key: dsn.public_key().to_owned(),
                project_id: None,
                version: None,
                client: None,
            },
        )?;
    }
    let (_, mut auth) = found.ok_or(AuthError::Missing)?;
    auth.project_id = project_id;
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        for header in [
            "Sentry sentry_key=abc, sentry_version=7, sentry_client=raven-python/6.10.0",
            "sentry sentry_key=abc,sentry_version=7,sentry_client=raven-python/6.10.0",
            "sentry_key=abc, sentry_version=7, sentry_client=raven-python/6.10.0",
            "Sentry key=abc, version=7, client=raven-python/6.10.0",
            "Sentry sentry_key=\"abc\", sentry_version=7.0, sentry_client=raven-python/6.10.0, sentry_timestamp=1",
        ] {
            let auth = Auth::from_header(header).unwrap();
            assert_eq!(auth.public_key, "abc", "{header}");
            assert_eq!(auth.version, Some(7), "{header}");
            assert_eq!(
                auth.client.as_deref(),
                Some("raven-python/6.10.0"),
                "{header}"
            );
        }
    }

    #[test]
    fn header_secret() {
        let auth = Auth::from_header("Sentry sentry_key=abc, sentry_secret=def").unwrap();
        assert_eq!(auth.secret_key.as_deref(), Some("def"));
        assert_eq!(auth.version, None);
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            Auth::from_header("Sentry sentry_version=7"),
            Err(AuthError::MissingPublicKey(AuthSource::Header))
        );
        assert!(matches!(
            Auth::from_header("Sentry sentry_key"),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            Auth::from_header("Sentry sentry_key=a, sentry_version=x"),
            Err(AuthError::InvalidVersion { .. })
        ));
        assert_eq!(
            Auth::from_header(""),
            Err(AuthError::MissingPublicKey(AuthSource::Header))
        );
    }

    #[test]
    fn query_forms() {
        let auth = Auth::from_query(
            "sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.0.0&x=1",
        )
        .unwrap()
        .unwrap();
        assert_eq!(auth.public_key, "abc");
        assert_eq!(
            auth.client.as_deref(),
            Some("sentry.javascript.browser/8.0.0")
        );
        assert_eq!(Auth::from_query("x=1").unwrap(), None);
        assert_eq!(Auth::from_query("").unwrap(), None);
        assert_eq!(Auth::from_query("sentry_key=").unwrap(), None);
    }

    #[test]
    fn reconcile_rules() {
        let key = |k: &str| Auth::from_header(&format!("Sentry sentry_key={k}")).ok();
        let dsn: Dsn = "https://abc@example.com/42".parse().unwrap();

        let ok = reconcile(key("abc"), None, Some(&dsn), Some(ProjectId::new(42))).unwrap();
        assert_eq!(ok.project_id, Some(ProjectId::new(42)));

        // The envelope dsn alone is enough, and supplies the project.
        let ok = reconcile(None, None, Some(&dsn), None).unwrap();
        assert_eq!(ok.public_key, "abc");
        assert_eq!(ok.project_id, Some(ProjectId::new(42)));

        assert_eq!(
            reconcile(
                key("abc"),
                Auth::from_query("sentry_key=xyz").unwrap(),
                None,
                None
            ),
            Err(AuthError::KeyMismatch {
                first: AuthSource::Header,
                second: AuthSource::Query
            })
        );
        assert_eq!(
            reconcile(key("xyz"), None, Some(&dsn), None),
            Err(AuthError::KeyMismatch {
                first: AuthSource::Header,
                second: AuthSource::EnvelopeDsn
            })
        );
        assert_eq!(
            reconcile(key("abc"), None, Some(&dsn), Some(ProjectId::new(1))),
            Err(AuthError::ProjectMismatch {
                dsn: ProjectId::new(42),
                path: ProjectId::new(1)
            })
        );
        assert_eq!(
            reconcile(None, None, None, Some(ProjectId::new(1))),
            Err(AuthError::Missing)
        );
    }
}
