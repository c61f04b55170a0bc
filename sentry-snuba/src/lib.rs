//! Snuba for this project: the query language over the event store (layers 1 and 2).
//!
//! - [`snql`]: SnQL (`MATCH (events) SELECT count() BY group_id WHERE ...`),
//!   a parser, an AST with a printer, and errors with positions.

#![forbid(unsafe_code)]

pub mod snql;
