//! The one config file every service reads, and its `SENTRY_*` overrides.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// The settings of a service. Every service reads the same file and uses
/// the keys it needs; an environment variable overrides each key (named
/// beside it).
///
/// ```toml
/// stream = "kafka://10.0.0.5:9092"                  # SENTRY_STREAM_URL
/// metadata = "postgres://sentry@10.0.0.6/sentry"    # SENTRY_METADATA_URL
/// event_store = "clickhouse://10.0.0.7:8123/default" # SENTRY_EVENT_STORE_URL
/// quotas = "redis://10.0.0.8:6379/0"                # SENTRY_QUOTAS_URL
/// cache = "redis://10.0.0.8:6379/1"                 # SENTRY_CACHE_URL
/// url = "https://sentry.example.com"                # SENTRY_URL
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The stream: `kafka://HOST:PORT[,HOST:PORT][?settings]` (`file://`
    /// works for services on one machine). `SENTRY_STREAM_URL`.
    pub stream: String,
    /// Metadata, issues and the nodestore: `postgres://USER@HOST:PORT/DB`
    /// (or `sqlite://PATH` on one machine). `SENTRY_METADATA_URL`.
    pub metadata: String,
    /// The event store behind search: `clickhouse://HOST:PORT/DATABASE`
    /// (ClickHouse's HTTP port) or `sqlite://PATH`. `SENTRY_EVENT_STORE_URL`.
    pub event_store: String,
    /// Where quotas are counted: `redis://HOST:PORT/DB[?prefix=P]` to share
    /// them between relays, or `memory://`. `SENTRY_QUOTAS_URL`.
    pub quotas: String,
    /// The cache shared by the services: project configs, the per-event
    /// locks of the ingest consumers, the marks of post-processed events.
    /// `redis://HOST:PORT/DB[?prefix=P]`, or `memory://` (each process its
    /// own: only for a deployment with one process of each service).
    /// `SENTRY_CACHE_URL`.
    pub cache: String,
    /// The address the service's HTTP server listens on (relay, web,
    /// snuba-api); each service has its own default. `SENTRY_BIND`.
    pub bind: Option<SocketAddr>,
    /// The address of `/metrics` and the health checks; each service has
    /// its own default. `SENTRY_ADMIN_BIND`.
    pub admin_bind: Option<SocketAddr>,
    /// The URL users and SDKs reach Sentry at, for DSNs and links
    /// (default: `http://` + the bind address). `SENTRY_URL`.
    pub url: Option<String>,
    /// `text` or `json` (one object per line). `SENTRY_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// Envelopes waiting for the ingest consumers above which relay
    /// answers 503. `SENTRY_MAX_BACKLOG`.
    pub max_backlog: u64,
    /// Records per consumer batch. `SENTRY_BATCH_SIZE`.
    pub batch_size: usize,
    /// Threads that process one ingest batch (default: one per core).
    /// `SENTRY_PROCESSING_THREADS`.
    pub processing_threads: Option<usize>,
    /// Take the client's IP from `X-Forwarded-For` (relay and web behind a
    /// load balancer that sets it). `SENTRY_TRUST_FORWARDED_FOR`
    /// (`true`/`false`).
    pub trust_forwarded_for: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stream: "kafka://127.0.0.1:9092".into(),
            metadata: "postgres://postgres@127.0.0.1:5432/sentry".into(),
            event_store: "clickhouse://127.0.0.1:8123/default".into(),
            quotas: "memory://".into(),
            cache: "memory://".into(),
            bind: None,
            admin_bind: None,
            url: None,
            log_format: LogFormat::Text,
            max_backlog: 100_000,
            batch_size: 1000,
            processing_threads: None,
            trust_forwarded_for: false,
        }
    }
}

impl Config {
    /// Reads `path` (TOML; a missing `path` means the defaults), then
    /// applies the `SENTRY_*` variables of `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(path) => {
                let text = read_small(path, 1 << 20)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?
            }
            None => Config::default(),
        };
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(v) = var("SENTRY_STREAM_URL") {
            config.stream = v;
        }
        if let Some(v) = var("SENTRY_METADATA_URL") {
            config.metadata = v;
        }
        if let Some(v) = var("SENTRY_EVENT_STORE_URL") {
            config.event_store = v;
        }
        if let Some(v) = var("SENTRY_QUOTAS_URL") {
            config.quotas = v;
        }
        if let Some(v) = var("SENTRY_CACHE_URL") {
            config.cache = v;
        }
        if let Some(v) = var("SENTRY_BIND") {
            config.bind = Some(parse("SENTRY_BIND", &v)?);
        }
        if let Some(v) = var("SENTRY_ADMIN_BIND") {
            config.admin_bind = Some(parse("SENTRY_ADMIN_BIND", &v)?);
        }
        if let Some(v) = var("SENTRY_URL") {
            config.url = Some(v);
        }
        if let Some(v) = var("SENTRY_LOG_FORMAT") {
            config.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => anyhow::bail!("SENTRY_LOG_FORMAT must be text or json, not {other:?}"),
            };
        }
        if let Some(v) = var("SENTRY_MAX_BACKLOG") {
            config.max_backlog = parse("SENTRY_MAX_BACKLOG", &v)?;
        }
        if let Some(v) = var("SENTRY_BATCH_SIZE") {
            config.batch_size = parse("SENTRY_BATCH_SIZE", &v)?;
        }
        if let Some(v) = var("SENTRY_PROCESSING_THREADS") {
            config.processing_threads = Some(parse("SENTRY_PROCESSING_THREADS", &v)?);
        }
        if let Some(v) = var("SENTRY_TRUST_FORWARDED_FOR") {
            config.trust_forwarded_for = parse("SENTRY_TRUST_FORWARDED_FOR", &v)?;
        }
        anyhow::ensure!(config.batch_size > 0, "batch_size must be at least 1");
        Ok(config)
    }
}

/// A text file of at most `cap` bytes.
pub(crate) fn read_small(path: &Path, cap: usize) -> std::io::Result<String> {
    let bytes = sentry_envelope::read_capped(std::fs::File::open(path)?, cap)?;
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| anyhow::anyhow!("{name}={value:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sentry.toml");
        std::fs::write(
            &path,
            "stream = \"kafka://k:9092\"\nmetadata = \"postgres://p/s\"\nbatch_size = 50\nlog_format = \"json\"\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "SENTRY_METADATA_URL" => Some("postgres://other/s".to_owned()),
            "SENTRY_BIND" => Some("127.0.0.1:3000".to_owned()),
            "SENTRY_QUOTAS_URL" => Some(String::new()),
            "SENTRY_TRUST_FORWARDED_FOR" => Some("true".to_owned()),
            "SENTRY_CACHE_URL" => Some("redis://r:6379/1".to_owned()),
            _ => None,
        };
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.stream, "kafka://k:9092");
        assert_eq!(config.metadata, "postgres://other/s");
        assert_eq!(config.batch_size, 50);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.bind, Some("127.0.0.1:3000".parse().unwrap()));
        // An empty variable does not override.
        assert_eq!(config.quotas, "memory://");
        assert!(config.trust_forwarded_for);
        assert_eq!(config.cache, "redis://r:6379/1");
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sentry.toml");
        std::fs::write(&path, "strem = \"kafka://k:9092\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&path), |_| None).unwrap_err());
        assert!(err.contains("strem"), "{err}");
        let env = |name: &str| (name == "SENTRY_BATCH_SIZE").then(|| "many".to_owned());
        let err = format!("{:#}", Config::load(None, env).unwrap_err());
        assert!(err.contains("SENTRY_BATCH_SIZE"), "{err}");
        assert!(Config::load(Some(&dir.path().join("missing.toml")), |_| None).is_err());
    }
}
