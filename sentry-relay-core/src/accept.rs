//! The checks an envelope passes before the ingest edge accepts it.
//!
//! [`check_auth`] runs as soon as the request's credentials are known and
//! the project config is loaded; [`check_envelope`] once the envelope is
//! parsed. Each refusal is a [`Rejection`] with the HTTP status to answer
//! and the outcome reason to record, as Relay names them.

use sentry_envelope::{Envelope, ItemType, LimitError, LimitKind, RequestAuth, RuleError};

use crate::config::ProjectConfig;

/// Why an envelope is refused at the edge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No project with this id is known.
    #[error("unknown project")]
    ProjectUnknown,
    /// The project is disabled.
    #[error("project is disabled")]
    ProjectDisabled,
    /// The project has no client key with this public key.
    #[error("unknown public key")]
    KeyUnknown,
    /// The client key is disabled.
    #[error("public key is disabled")]
    KeyDisabled,
    /// The request names another project than the config's.
    #[error("project id does not match the project of the config")]
    ProjectMismatch,
    /// An item, or the envelope, is over a size or count limit.
    #[error("envelope too large: {0}")]
    TooLarge(LimitError),
    /// Two items that each become an event.
    #[error("invalid envelope: {0}")]
    DuplicateItem(RuleError),
    /// Anything else wrong with the envelope.
    #[error("invalid envelope: {0}")]
    Invalid(String),
    /// The request's `Origin` (or `Referer`) is not an allowed domain of
    /// the project.
    #[error("event submission rejected with_reason: origin {0:?} is not allowed")]
    OriginNotAllowed(String),
}

impl Rejection {
    /// The HTTP status to answer with: 403 for key and project problems,
    /// 413 when over a limit, 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Rejection::ProjectUnknown
            | Rejection::ProjectDisabled
            | Rejection::KeyUnknown
            | Rejection::KeyDisabled
            | Rejection::ProjectMismatch
            | Rejection::OriginNotAllowed(_) => 403,
            Rejection::TooLarge(_) => 413,
            Rejection::DuplicateItem(_) | Rejection::Invalid(_) => 400,
        }
    }

    /// The reason recorded with the `invalid` outcome, as Relay names it
    /// (`DiscardReason` in Relay's outcome service).
    ///
    /// Relay reports every key and project problem as `project_id`; an item
    /// over its limit as `too_large:<item type>`; a body over the envelope
    /// limit as `request_too_large`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::ProjectUnknown
            | Rejection::ProjectDisabled
            | Rejection::KeyUnknown
            | Rejection::KeyDisabled
            | Rejection::ProjectMismatch => "project_id",
            Rejection::TooLarge(e) => too_large_reason(e),
            Rejection::DuplicateItem(_) => "duplicate_item",
            Rejection::Invalid(_) => "invalid_envelope",
            Rejection::OriginNotAllowed(_) => "cors",
        }
    }
}

fn too_large_reason(error: &LimitError) -> &'static str {
    let ty = match (&error.item_type, error.kind) {
        (Some(ty), _) => ty.clone(),
        (None, LimitKind::AttachmentCount | LimitKind::AttachmentsSize) => ItemType::Attachment,
        (None, LimitKind::SessionCount) => ItemType::Session,
        (None, _) => return "request_too_large",
    };
    match ty {
        ItemType::Event => "too_large:event",
        ItemType::Transaction => "too_large:transaction",
        ItemType::Security => "too_large:security",
        // The attachment type is not in the error; plain attachments are
        // by far the most common.
        ItemType::Attachment => "too_large:attachment:attachment",
        ItemType::FormData => "too_large:form_data",
        ItemType::RawSecurity => "too_large:raw_security",
        ItemType::UnrealReport => "too_large:unreal_report",
        ItemType::UserReport => "too_large:user_report",
        ItemType::Session => "too_large:session",
        ItemType::Sessions => "too_large:sessions",
        ItemType::Statsd => "too_large:statsd",
        ItemType::MetricBuckets => "too_large:metric_buckets",
        ItemType::ClientReport => "too_large:client_report",
        ItemType::Profile => "too_large:profile",
        ItemType::ReplayEvent => "too_large:replay_event",
        ItemType::ReplayRecording => "too_large:replay_recording",
        ItemType::ReplayVideo => "too_large:replay_video",
        ItemType::CheckIn => "too_large:check_in",
        ItemType::Log => "too_large:log",
        ItemType::TraceMetric => "too_large:trace_metric",
        ItemType::Span => "too_large:span",
        ItemType::UserReportV2 => "too_large:user_report_v2",
        ItemType::ProfileChunk => "too_large:profile_chunk",
        ItemType::Integration => "too_large:integration",
        ItemType::OtelSpan | ItemType::OtelTracesData => "too_large:span",
        ItemType::OtelLog => "too_large:log",
        _ => "too_large:unknown",
    }
}

/// Checks a request's credentials against the project config.
///
/// `config` is `None` when the project is unknown. The request's project
/// (from the path or the envelope's DSN), when it has one, must be the
/// config's; the project must be enabled; the key must be one of the
/// project's, and active.
pub fn check_auth(config: Option<&ProjectConfig>, auth: &RequestAuth) -> Result<(), Rejection> {
    let config = config.ok_or(Rejection::ProjectUnknown)?;
    if auth.project_id.is_some_and(|id| id != config.project_id) {
        return Err(Rejection::ProjectMismatch);
    }
    if config.disabled {
        return Err(Rejection::ProjectDisabled);
    }
    match config.key(&auth.public_key) {
        None => Err(Rejection::KeyUnknown),
        Some(key) if !key.active => Err(Rejection::KeyDisabled),
        Some(_) => Ok(()),
    }
}

/// Checks where a browser request comes from against the project's
/// allowed domains (`settings.allowed_domains`), as Sentry does.
///
/// `origin` is the request's `Origin` header, or its `Referer` when it has
/// none; a request with neither (a server SDK) always passes. An entry is
/// `*` (anything), a host (`example.com`, any scheme and port), a host
/// with a port (`example.com:8080`), a wildcard (`*.example.com`, which
/// covers `example.com` and every subdomain), or any of these with a
/// scheme (`https://example.com`). Hosts compare case-insensitively.
pub fn check_origin(config: &ProjectConfig, origin: Option<&str>) -> Result<(), Rejection> {
    let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    let allowed = &config.settings.allowed_domains;
    if allowed.iter().any(|d| d.trim() == "*") {
        return Ok(());
    }
    let refused = || Rejection::OriginNotAllowed(origin.chars().take(200).collect());
    let Some(origin) = OriginParts::parse(origin) else {
        return Err(refused());
    };
    if allowed
        .iter()
        .filter_map(|entry| OriginParts::parse(entry.trim()))
        .any(|pattern| pattern.allows(&origin))
    {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The scheme, host and port of an origin, a referer or an allowed-domain
/// entry.
#[derive(Debug, PartialEq, Eq)]
struct OriginParts {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl OriginParts {
    fn parse(raw: &str) -> Option<OriginParts> {
        let (scheme, rest) = match raw.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, raw),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match authority.rsplit_once(':') {
            // A bare IPv6 address has colons but no port.
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                (host, Some(port.parse::<u16>().ok()?))
            }
            _ => (authority, None),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        Some(OriginParts {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether this allowed-domain entry covers `origin`.
    fn allows(&self, origin: &OriginParts) -> bool {
        if self
            .scheme
            .as_ref()
            .is_some_and(|s| Some(s) != origin.scheme.as_ref())
        {
            return false;
        }
        if self.port.is_some() && self.port != origin.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(base) => {
                origin.host == base
                    || origin
                        .host
                        .strip_suffix(base)
                        .is_some_and(|sub| sub.ends_with('.'))
            }
            None => self.host == "*" || self.host == origin.host,
        }
    }
}

/// Checks a parsed envelope against the project's limits and the envelope
/// rules.
///
/// The project's [`Limits`](sentry_envelope::Limits) may be tighter than the
/// ones the envelope was parsed with, so the whole-envelope limits (total
/// payload size, item count) are checked again here, then the item limits
/// of [`Limits::check`](sentry_envelope::Limits::check), then
/// [`Envelope::validate`].
pub fn check_envelope(config: &ProjectConfig, envelope: &Envelope) -> Result<(), Rejection> {
    let limits = &config.limits;
    let items = envelope.items();
    let count = items.len() as u64;
    if count > limits.max_item_count {
        return Err(Rejection::TooLarge(LimitError::new(
            LimitKind::ItemCount,
            count,
            limits.max_item_count,
        )));
    }
    let size: u64 = items.iter().map(|i| i.len() as u64).sum();
    if size > limits.max_envelope_size {
        return Err(Rejection::TooLarge(LimitError::new(
            LimitKind::EnvelopeSize,
            size,
            limits.max_envelope_size,
        )));
    }
    limits.check(envelope).map_err(Rejection::TooLarge)?;
    envelope.validate().map_err(|e| match e {
        e @ RuleError::DuplicateEventItem { .. } => Rejection::DuplicateItem(e),
        other => Rejection::Invalid(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PublicKeyConfig;
    use sentry_envelope::{Item, Limits, ProjectId};

    fn config() -> ProjectConfig {
        let mut config = ProjectConfig::new(ProjectId::new(42), 1, "backend");
        config.public_keys = vec![
            PublicKeyConfig {
                numeric_id: Some(1),
                ..PublicKeyConfig::new("abc")
            },
            PublicKeyConfig {
                active: false,
                ..PublicKeyConfig::new("off")
            },
        ];
        config
    }

    fn auth(key: &str, project: Option<u64>) -> RequestAuth {
        RequestAuth {
            public_key: key.into(),
            project_id: project.map(ProjectId::new),
            version: Some(7),
            client: None,
        }
    }

    #[test]
    fn auth_rules() {
        let config = config();
        assert_eq!(check_auth(Some(&config), &auth("abc", Some(42))), Ok(()));
        assert_eq!(check_auth(Some(&config), &auth("abc", None)), Ok(()));
        let cases = [
            (None, auth("abc", Some(42)), Rejection::ProjectUnknown),
            (
                Some(&config),
                auth("abc", Some(1)),
                Rejection::ProjectMismatch,
            ),
            (Some(&config), auth("xyz", Some(42)), Rejection::KeyUnknown),
            (Some(&config), auth("off", Some(42)), Rejection::KeyDisabled),
        ];
        for (config, auth, expected) in cases {
            let err = check_auth(config, &auth).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.http_status(), 403);
            assert_eq!(err.reason(), "project_id");
        }
        let mut disabled = config.clone();
        disabled.disabled = true;
        assert_eq!(
            check_auth(Some(&disabled), &auth("abc", None)),
            Err(Rejection::ProjectDisabled)
        );
    }

    #[test]
    fn allowed_domains() {
        let mut config = config();
        assert_eq!(check_origin(&config, Some("https://evil.test")), Ok(()));
        config.settings.allowed_domains = vec![
            "example.com".into(),
            "*.shop.test".into(),
            "https://secure.test".into(),
            "ports.test:8080".into(),
        ];
        let allowed = [
            None,
            Some(""),
            Some("https://example.com"),
            Some("http://EXAMPLE.com:3000"),
            Some("https://example.com/some/page?x=1"),
            Some("https://shop.test"),
            Some("https://eu.shop.test"),
            Some("https://a.b.shop.test"),
            Some("https://secure.test"),
            Some("http://ports.test:8080"),
        ];
        for origin in allowed {
            assert_eq!(check_origin(&config, origin), Ok(()), "{origin:?}");
        }
        let refused = [
            "https://evil.test",
            "https://example.com.evil.test",
            "https://notshop.test",
            "http://secure.test",
            "http://ports.test:9090",
            "http://ports.test",
            "null",
            "https://example.com:99999",
        ];
        for origin in refused {
            let err = check_origin(&config, Some(origin)).unwrap_err();
            assert_eq!(err.http_status(), 403, "{origin}");
            assert_eq!(err.reason(), "cors");
        }
        config.settings.allowed_domains.clear();
        assert!(check_origin(&config, Some("https://example.com")).is_err());
        assert_eq!(check_origin(&config, None), Ok(()));
    }

    #[test]
    fn envelope_limits() {
        let mut config = config();
        config.limits = Limits {
            max_event_size: 10,
            max_attachment_count: 1,
            max_envelope_size: 100,
            ..Limits::default()
        };
        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Event, "{\"message\":\"hello\"}"));
        let err = check_envelope(&config, &envelope).unwrap_err();
        assert_eq!(err.http_status(), 413);
        assert_eq!(err.reason(), "too_large:event");
        assert_eq!(
            err.to_string(),
            "envelope too large: event item of 19 bytes exceeds max_event_size (10)"
        );

        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Attachment, "a"));
        envelope.add_item(Item::new(ItemType::Attachment, "b"));
        let err = check_envelope(&config, &envelope).unwrap_err();
        assert_eq!(err.reason(), "too_large:attachment:attachment");

        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Attachment, vec![b'x'; 101]));
        let err = check_envelope(&config, &envelope).unwrap_err();
        assert_eq!(err.reason(), "request_too_large");
        assert_eq!(err.http_status(), 413);

        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Event, "{}"));
        envelope.add_item(Item::new(ItemType::Transaction, "{}"));
        let err = check_envelope(&config, &envelope).unwrap_err();
        assert_eq!(err.http_status(), 400);
        assert_eq!(err.reason(), "duplicate_item");

        let mut envelope = Envelope::default();
        envelope.add_item(Item::new(ItemType::Event, "{}"));
        envelope.add_item(Item::new(ItemType::Attachment, "a"));
        assert_eq!(check_envelope(&config, &envelope), Ok(()));
    }
}
