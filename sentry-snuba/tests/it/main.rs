//! Integration tests of sentry-snuba: the same queries on SQLite and on a
//! real ClickHouse server must give the same results.

mod agreement;
