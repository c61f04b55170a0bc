//! Integration tests of sentry-snuba: the same queries on SQLite and on a
//! real ClickHouse server must give the same results; the consumer and the
//! replacer keep every row exactly once, through a ClickHouse restart.

mod agreement;
mod consumer;

/// Held by every test that uses ClickHouse: one of them restarts the
/// server.
static CLICKHOUSE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The ClickHouse server to test against, from `SENTRY_TEST_CLICKHOUSE_URL`
/// (`scripts/services.sh start clickhouse` starts one). Without it the
/// ClickHouse tests are skipped, except under CI, where that is a failure.
fn clickhouse_url() -> Option<String> {
    match std::env::var("SENTRY_TEST_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("SENTRY_TEST_CLICKHOUSE_URL is not set under CI: run scripts/test.sh")
        }
        _ => {
            eprintln!("SENTRY_TEST_CLICKHOUSE_URL not set: skipping the ClickHouse tests");
            None
        }
    }
}
