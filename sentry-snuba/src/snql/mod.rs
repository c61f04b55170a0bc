//! SnQL, Snuba's query language: the tree, the parser and the printer.
//!
//! ```text
//! MATCH (events)
//! SELECT count() AS times_seen, uniq(user) AS users BY group_id
//! WHERE project_id IN tuple(1, 2)
//!   AND timestamp >= toDateTime('2024-05-01T00:00:00')
//!   AND timestamp < toDateTime('2024-05-02T00:00:00')
//!   AND tags[environment] = 'production'
//! HAVING times_seen > 10
//! ORDER BY times_seen DESC
//! LIMIT 100 OFFSET 0
//! ```

mod ast;
mod parse;
mod print;

pub use ast::{
    ArithOp, CompareOp, Condition, EntityRef, Expr, Function, LimitBy, Literal, OrderBy, Query,
    Relationship, Selected, Source,
};
pub use parse::{MAX_CHAIN, MAX_NESTING, MAX_QUERY_LEN, ParseError, parse};

#[cfg(test)]
mod tests;
