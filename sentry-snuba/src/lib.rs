//! Snuba for this project: the query language over the event store (layers 1 and 2).
//!
//! - [`snql`]: SnQL (`MATCH (events) SELECT count() BY group_id WHERE ...`),
//!   a parser, an AST with a printer, and errors with positions;
//! - [`search`]: Sentry's issue search (`is:unresolved level:error
//!   times_seen:>10`), parsed and compiled into SnQL conditions;
//! - [`entity`]: the entities (`events`, `transactions`, `outcomes`) with
//!   their columns, types and required conditions;
//! - [`validate`]: a parsed query checked against its entity, giving a
//!   typed [`plan::Plan`];
//! - [`render`]: the plan as ClickHouse SQL or as SQLite SQL;
//! - [`sqlite`] and [`clickhouse`]: the event stores that run them, with
//!   [`storage`] for what they share (rows, results, table definitions),
//!   both behind the [`store::EventStore`] trait, opened by URL;
//! - [`eventstream`]: the messages of the `events` stream; [`row`]: a saved
//!   event as a row;
//! - [`consumer`]: the Snuba consumer (`events` into the store, in batches,
//!   then `snuba-commit-log`); [`replacer`]: deletions and merges applied
//!   to stored rows.

#![forbid(unsafe_code)]

pub mod clickhouse;
pub mod consumer;
pub mod entity;
pub mod eventstream;
mod functions;
pub mod plan;
pub mod render;
pub mod replacer;
pub mod row;
pub mod search;
pub mod snql;
pub mod sqlite;
pub mod storage;
pub mod store;
pub mod validate;
