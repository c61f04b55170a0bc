//! URLs without their secrets, for logs and error messages.

/// `url` fit for logs and errors: the password of its user info becomes
/// `***`, and so does the value of every query setting whose name contains
/// `password`, `secret` or `token` (`sasl.password=...` of a Kafka URL). Use it for every URL that may reach
/// a log line or an error message.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
                    None => base.to_owned(),
                },
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_setting(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

fn is_secret_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_secrets() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db?sslmode=require"),
            "postgres://u:***@h:5432/db?sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:pw@h:6379/0?prefix=a:"),
            "redis://:***@h:6379/0?prefix=a:"
        );
        assert_eq!(
            redact_url("kafka://b:9092?sasl.username=u&sasl.password=pw&partitions=3"),
            "kafka://b:9092?sasl.username=u&sasl.password=***&partitions=3"
        );
        assert_eq!(redact_url("sqlite:///data/s.db"), "sqlite:///data/s.db");
        assert_eq!(redact_url("memory://"), "memory://");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/sentry?x=1"),
            "postgres://u:***@db:5432/sentry?x=1"
        );
        assert_eq!(redact_url("postgres://u@db/s"), "postgres://u@db/s");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
