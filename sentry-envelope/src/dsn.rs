//! Data source names: the URL an SDK is configured with.
//!
//! A DSN looks like `https://<public_key>[:<secret_key>]@<host>[:<port>][/<path>]/<project_id>`.
//! The public key identifies the client key of a project; the secret key is a
//! leftover of old clients and is optional. Everything an SDK talks to is
//! derived from it: the envelope endpoint, the legacy store endpoint, and so on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The numeric id of a project, the last segment of a DSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProjectId(u64);

impl ProjectId {
    /// Wraps a numeric project id.
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The numeric value.
    pub const fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ProjectId {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `u64::from_str` accepts a leading `+`; a project id never has one.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DsnError::InvalidProjectId(s.to_owned()));
        }
        s.parse()
            .map(ProjectId)
            .map_err(|_| DsnError::InvalidProjectId(s.to_owned()))
    }
}

/// Why a string is not a valid DSN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DsnError {
    /// Not a URL at all.
    #[error("invalid dsn: {0}")]
    InvalidUrl(String),
    /// The scheme is neither `http` nor `https`.
    #[error("invalid dsn: unsupported scheme {0:?} (expected http or https)")]
    UnsupportedScheme(String),
    /// There is no public key before the `@`.
    #[error("invalid dsn: missing public key")]
    MissingPublicKey,
    /// The public key contains characters that cannot appear in a key.
    #[error("invalid dsn: invalid public key {0:?}")]
    InvalidPublicKey(String),
    /// There is no host.
    #[error("invalid dsn: missing host")]
    MissingHost,
    /// The path does not end in a project id.
    #[error("invalid dsn: missing project id")]
    MissingProjectId,
    /// The last path segment is not a number.
    #[error("invalid dsn: invalid project id {0:?}")]
    InvalidProjectId(String),
    /// A DSN carries no query string or fragment.
    #[error("invalid dsn: unexpected query or fragment")]
    UnexpectedQuery,
}

/// The scheme of a DSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed and validated DSN.
///
/// ```
/// use sentry_envelope::Dsn;
///
/// let dsn: Dsn = "https://e12d836b15bb49d7bbf99e64295d995b@o1.example.com/42".parse()?;
/// assert_eq!(dsn.public_key(), "e12d836b15bb49d7bbf99e64295d995b");
/// assert_eq!(dsn.project_id().value(), 42);
/// assert_eq!(dsn.envelope_url(), "https://o1.example.com/api/42/envelope/");
/// # Ok::<(), sentry_envelope::DsnError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dsn {
    scheme: Scheme,
    public_key: String,
    secret_key: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
    project_id: ProjectId,
}

fn valid_key(key: &str) -> bool {
    // Keys are hex in practice; accept the URL-safe characters older servers
    // issued, but nothing that would need escaping.
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Dsn {
    /// Builds a DSN from its parts, validating them as [`Dsn::from_str`] does.
    ///
    /// `path` is the prefix before the project id (empty, or starting with
    /// `/` and not ending with one).
    pub fn new(
        scheme: Scheme,
        public_key: &str,
        secret_key: Option<&str>,
        host: &str,
        port: Option<u16>,
        path: &str,
        project_id: ProjectId,
    ) -> Result<Self, DsnError> {
        let port_part = port.map(|p| format!(":{p}")).unwrap_or_default();
        let secret_part = secret_key.map(|s| format!(":{s}")).unwrap_or_default();
        let text = format!(
            "{}://{public_key}{secret_part}@{host}{port_part}{path}/{project_id}",
            scheme.as_str()
        );
        let dsn: Dsn = text.parse()?;
        if dsn.public_key != public_key || dsn.host != host.to_ascii_lowercase() {
            return Err(DsnError::InvalidUrl(text));
        }
        Ok(dsn)
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The public key of the client key.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The legacy secret key, if the DSN has one.
    pub fn secret_key(&self) -> Option<&str> {
        self.secret_key.as_deref()
    }

    /// The host name or IP address (IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if the DSN names one that is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port the DSN points to, defaulted from the scheme.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.scheme.default_port())
    }

    /// The path prefix before the project id: empty, or like `/sentry`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The project id.
    pub fn project_id(&self) -> ProjectId {
        self.project_id
    }

    /// `scheme://host[:port][path]`, the server's base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        let mut out = format!("{}://{}", self.scheme.as_str(), self.host);
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        out.push_str(&self.path);
        out
    }

    /// The project's API root, `<base>/api/<project_id>/`.
    pub fn api_url(&self) -> String {
        format!("{}/api/{}/", self.base_url(), self.project_id)
    }

    /// The envelope endpoint, `<base>/api/<project_id>/envelope/`.
    pub fn envelope_url(&self) -> String {
        format!("{}envelope/", self.api_url())
    }

    /// The legacy store endpoint, `<base>/api/<project_id>/store/`.
    pub fn store_url(&self) -> String {
        format!("{}store/", self.api_url())
    }

    /// The minidump upload endpoint, with the key in the query.
    pub fn minidump_url(&self) -> String {
        format!("{}minidump/?sentry_key={}", self.api_url(), self.public_key)
    }

    /// The security report endpoint (CSP and friends), with the key in the query.
    pub fn security_url(&self) -> String {
        format!("{}security/?sentry_key={}", self.api_url(), self.public_key)
    }

    /// The Network Error Logging endpoint, with the key in the query.
    pub fn nel_url(&self) -> String {
        format!("{}nel/?sentry_key={}", self.api_url(), self.public_key)
    }

    /// The Unreal Engine crash report endpoint, with the key in the path.
    pub fn unreal_url(&self) -> String {
        format!("{}unreal/{}/", self.api_url(), self.public_key)
    }

    /// The cron check-in endpoint of a monitor, with the key in the path.
    pub fn cron_url(&self, monitor_slug: &str) -> String {
        format!(
            "{}cron/{}/{}/",
            self.api_url(),
            url::form_urlencoded::byte_serialize(monitor_slug.as_bytes()).collect::<String>(),
            self.public_key
        )
    }

    /// The OTLP trace endpoint.
    pub fn otlp_traces_url(&self) -> String {
        format!("{}otlp/v1/traces/", self.api_url())
    }

    /// The endpoint that takes attachments for an event that was already sent.
    pub fn attachments_url(&self, event_id: &str) -> String {
        format!("{}events/{event_id}/attachments/", self.api_url())
    }
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s.trim()).map_err(|e| DsnError::InvalidUrl(e.to_string()))?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(DsnError::UnsupportedScheme(other.to_owned())),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(DsnError::UnexpectedQuery);
        }
        let public_key = url.username();
        if public_key.is_empty() {
            return Err(DsnError::MissingPublicKey);
        }
        if !valid_key(public_key) {
            return Err(DsnError::InvalidPublicKey(public_key.to_owned()));
        }
        let secret_key = match url.password() {
            None | Some("") => None,
            Some(secret) if valid_key(secret) => Some(secret.to_owned()),
            Some(secret) => return Err(DsnError::InvalidPublicKey(secret.to_owned())),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            _ => return Err(DsnError::MissingHost),
        };
        // `Url` already drops the scheme's default port.
        let port = url.port();
        let full_path = url.path().trim_end_matches('/');
        let (prefix, id) = match full_path.rsplit_once('/') {
            Some((prefix, id)) if !id.is_empty() => (prefix, id),
            _ => return Err(DsnError::MissingProjectId),
        };
        let project_id = id.parse()?;
        Ok(Dsn {
            scheme,
            public_key: public_key.to_owned(),
            secret_key,
            host,
            port,
            path: prefix.to_owned(),
            project_id,
        })
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.public_key)?;
        if let Some(secret) = &self.secret_key {
            write!(f, ":{secret}")?;
        }
        write!(f, "@{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}/{}", self.path, self.project_id)
    }
}

impl Serialize for Dsn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dsn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_dsn() {
        let dsn: Dsn = "https://pub:sec@sentry.example.com:8443/prefix/path/42"
            .parse()
            .unwrap();
        assert_eq!(dsn.scheme(), Scheme::Https);
        assert_eq!(dsn.public_key(), "pub");
        assert_eq!(dsn.secret_key(), Some("sec"));
        assert_eq!(dsn.host(), "sentry.example.com");
        assert_eq!(dsn.port(), Some(8443));
        assert_eq!(dsn.path(), "/prefix/path");
        assert_eq!(dsn.project_id(), ProjectId::new(42));
        assert_eq!(
            dsn.to_string(),
            "https://pub:sec@sentry.example.com:8443/prefix/path/42"
        );
        assert_eq!(
            dsn.envelope_url(),
            "https://sentry.example.com:8443/prefix/path/api/42/envelope/"
        );
    }

    #[test]
    fn empty_secret_and_default_port_are_dropped() {
        let dsn: Dsn = "http://abc:@localhost:80/7".parse().unwrap();
        assert_eq!(dsn.secret_key(), None);
        assert_eq!(dsn.port(), None);
        assert_eq!(dsn.effective_port(), 80);
        assert_eq!(dsn.to_string(), "http://abc@localhost/7");
    }

    #[test]
    fn trailing_slash_is_tolerated() {
        let dsn: Dsn = "http://abc@127.0.0.1:9000/7/".parse().unwrap();
        assert_eq!(dsn.project_id().value(), 7);
        assert_eq!(dsn.store_url(), "http://127.0.0.1:9000/api/7/store/");
        assert_eq!(
            dsn.cron_url("my job"),
            "http://127.0.0.1:9000/api/7/cron/my+job/abc/"
        );
    }

    #[test]
    fn ipv6_hosts_keep_brackets() {
        let dsn: Dsn = "http://abc@[::1]:9000/7".parse().unwrap();
        assert_eq!(dsn.host(), "[::1]");
        assert_eq!(dsn.to_string(), "http://abc@[::1]:9000/7");
    }

    #[test]
    fn rejects_invalid() {
        let cases: &[(&str, DsnError)] = &[
            (
                "not a url",
                DsnError::InvalidUrl("relative URL without a base".into()),
            ),
            ("ftp://k@h/1", DsnError::UnsupportedScheme("ftp".into())),
            ("https://h/1", DsnError::MissingPublicKey),
            ("https://k@h/", DsnError::MissingProjectId),
            ("https://k@h", DsnError::MissingProjectId),
            ("https://k@h/abc", DsnError::InvalidProjectId("abc".into())),
            ("https://k@h/+1", DsnError::InvalidProjectId("+1".into())),
            ("https://k@h/1?x=1", DsnError::UnexpectedQuery),
            (
                "https://k%20y@h/1",
                DsnError::InvalidPublicKey("k%20y".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(&input.parse::<Dsn>().unwrap_err(), expected, "{input}");
        }
    }

    #[test]
    fn new_validates_parts() {
        let dsn = Dsn::new(
            Scheme::Http,
            "abc",
            None,
            "localhost",
            Some(9000),
            "",
            ProjectId::new(1),
        )
        .unwrap();
        assert_eq!(dsn.to_string(), "http://abc@localhost:9000/1");
        assert!(Dsn::new(Scheme::Http, "a/b", None, "h", None, "", ProjectId::new(1)).is_err());
    }
}
