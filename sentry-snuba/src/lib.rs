//! Snuba for this project: the query language over the event store (layers 1 and 2).
//!
//! This crate will own:
//!
//! - SnQL (`MATCH (events) SELECT count() BY group_id WHERE ...`): a parser, an
//!   AST with a printer, and errors with positions;
//! - the entities (`events`, `transactions`, `outcomes`, `sessions`, ...) with
//!   their columns and required conditions;
//! - two renderers from one AST, ClickHouse SQL and SQLite SQL;
//! - the storage writers, the consumer of the `events` stream, the replacer,
//!   and issue search compiled to SnQL.
//!
//! Nothing is implemented yet.

#![forbid(unsafe_code)]
