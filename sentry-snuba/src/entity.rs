//! Entities: what a query may read, with column types and required
//! conditions.
//!
//! An entity's columns are also its storage's columns, under the same names,
//! in the ClickHouse table [`Entity::table`] and the SQLite table of the same
//! name. Nested key/value columns ([`Entity::maps`], such as `tags`) are
//! stored as two arrays, `tags.key` and `tags.value`, and read one key at a
//! time as `tags[key]`.

use std::fmt;
use std::sync::LazyLock;

/// A column type, written as ClickHouse writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `UInt8`, `UInt16`, `UInt32`, `UInt64`: kept apart for the DDL.
    UInt(u8),
    /// `Int64`.
    Int64,
    /// `Float64`.
    Float64,
    /// `String`.
    String,
    /// `DateTime`, seconds since the epoch, UTC.
    DateTime,
    /// `Nullable(T)`.
    Nullable(Box<Type>),
    /// `Array(T)`.
    Array(Box<Type>),
}

impl Type {
    /// Reads a type written as ClickHouse writes it (`Nullable(String)`).
    pub fn parse(text: &str) -> Option<Type> {
        let text = text.trim();
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
        };
        Some(match text {
            "UInt8" => Type::UInt(8),
            "UInt16" => Type::UInt(16),
            "UInt32" => Type::UInt(32),
            "UInt64" => Type::UInt(64),
            "Int64" => Type::Int64,
            "Float64" => Type::Float64,
            "String" => Type::String,
            "DateTime" => Type::DateTime,
            _ => {
                if let Some(inner) = inner("Nullable(") {
                    Type::Nullable(Box::new(Type::parse(inner)?))
                } else if let Some(inner) = inner("Array(") {
                    Type::Array(Box::new(Type::parse(inner)?))
                } else {
                    return None;
                }
            }
        })
    }

    /// The type without `Nullable`.
    pub fn base(&self) -> &Type {
        match self {
            Type::Nullable(inner) => inner.base(),
            other => other,
        }
    }

    /// True for `Nullable(...)`.
    pub fn is_nullable(&self) -> bool {
        matches!(self, Type::Nullable(_))
    }

    /// `Nullable(self)`, unless it already is.
    pub fn nullable(self) -> Type {
        match self {
            Type::Nullable(_) | Type::Array(_) => self,
            other => Type::Nullable(Box::new(other)),
        }
    }

    /// True for the integer and float types.
    pub fn is_number(&self) -> bool {
        matches!(self.base(), Type::UInt(_) | Type::Int64 | Type::Float64)
    }

    /// The element type of an array.
    pub fn element(&self) -> Option<&Type> {
        match self.base() {
            Type::Array(inner) => Some(inner),
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::UInt(bits) => write!(f, "UInt{bits}"),
            Type::Int64 => f.write_str("Int64"),
            Type::Float64 => f.write_str("Float64"),
            Type::String => f.write_str("String"),
            Type::DateTime => f.write_str("DateTime"),
            Type::Nullable(inner) => write!(f, "Nullable({inner})"),
            Type::Array(inner) => write!(f, "Array({inner})"),
        }
    }
}

/// A column of an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name, in queries and in storage.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
}

/// An entity.
#[derive(Debug, PartialEq, Eq)]
pub struct Entity {
    /// The name after `MATCH`.
    pub name: &'static str,
    /// The ClickHouse table (and SQLite table) holding its rows.
    pub table: &'static str,
    /// Its columns.
    pub columns: Vec<Column>,
    /// Nested key/value columns: `tags` means `tags.key` and `tags.value`,
    /// both `Array(String)`, read as `tags[key]`.
    pub maps: &'static [&'static str],
    /// The column every query must restrict with `=` or `IN`.
    pub required_id: &'static str,
    /// The time column every query must bound with `>=` and `<`; the
    /// `time` column buckets it by `GRANULARITY`.
    pub time_column: &'static str,
    /// Rows with a non-zero value here are deleted and never returned.
    pub deleted_column: Option<&'static str>,
    /// The ClickHouse `ORDER BY` key of the table.
    pub order_key: &'static str,
}

impl Entity {
    /// The column called `name`, with the two arrays of each map.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// True when `name` is one of the entity's map columns.
    pub fn is_map(&self, name: &str) -> bool {
        self.maps.contains(&name)
    }
}

fn columns(spec: &[(&'static str, &str)], maps: &[&'static str]) -> Vec<Column> {
    let mut out: Vec<Column> = spec
        .iter()
        .map(|(name, ty)| Column {
            name,
            ty: Type::parse(ty).unwrap_or_else(|| panic!("bad type {ty} of {name}")),
        })
        .collect();
    for map in maps {
        for part in ["key", "value"] {
            let name: &'static str = Box::leak(format!("{map}.{part}").into_boxed_str());
            out.push(Column {
                name,
                ty: Type::Array(Box::new(Type::String)),
            });
        }
    }
    out
}

/// Errors (events with a level), Snuba's `events` entity over `errors_local`.
pub static EVENTS: LazyLock<Entity> = LazyLock::new(|| Entity {
    name: "events",
    table: "errors_local",
    columns: columns(
        &[
            ("project_id", "UInt64"),
            ("timestamp", "DateTime"),
            ("event_id", "String"),
            ("group_id", "UInt64"),
            ("primary_hash", "String"),
            ("type", "String"),
            ("platform", "String"),
            ("environment", "Nullable(String)"),
            ("release", "Nullable(String)"),
            ("dist", "Nullable(String)"),
            ("level", "Nullable(String)"),
            ("logger", "String"),
            ("message", "String"),
            ("title", "String"),
            ("culprit", "String"),
            ("location", "Nullable(String)"),
            ("transaction", "String"),
            ("user", "String"),
            ("user_id", "Nullable(String)"),
            ("user_name", "Nullable(String)"),
            ("user_email", "Nullable(String)"),
            ("ip_address", "Nullable(String)"),
            ("sdk_name", "Nullable(String)"),
            ("sdk_version", "Nullable(String)"),
            ("http_method", "Nullable(String)"),
            ("http_referer", "Nullable(String)"),
            ("http_url", "Nullable(String)"),
            ("os_name", "Nullable(String)"),
            ("browser_name", "Nullable(String)"),
            ("trace_id", "Nullable(String)"),
            ("handled", "Nullable(UInt8)"),
            ("exception_stacks.type", "Array(Nullable(String))"),
            ("exception_stacks.value", "Array(Nullable(String))"),
            ("exception_frames.filename", "Array(Nullable(String))"),
            ("exception_frames.function", "Array(Nullable(String))"),
            ("exception_frames.module", "Array(Nullable(String))"),
            ("exception_frames.in_app", "Array(Nullable(UInt8))"),
            ("received", "DateTime"),
            ("deleted", "UInt8"),
            ("retention_days", "UInt16"),
        ],
        &["tags", "contexts"],
    ),
    maps: &["tags", "contexts"],
    required_id: "project_id",
    time_column: "timestamp",
    deleted_column: Some("deleted"),
    order_key: "(project_id, toStartOfDay(timestamp), primary_hash, event_id)",
});

/// Transactions, Snuba's `transactions` entity.
pub static TRANSACTIONS: LazyLock<Entity> = LazyLock::new(|| Entity {
    name: "transactions",
    table: "transactions_local",
    columns: columns(
        &[
            ("project_id", "UInt64"),
            ("timestamp", "DateTime"),
            ("start_ts", "DateTime"),
            ("event_id", "String"),
            ("trace_id", "String"),
            ("span_id", "String"),
            ("transaction", "String"),
            ("transaction_op", "String"),
            ("transaction_status", "UInt8"),
            ("transaction_source", "String"),
            ("duration", "UInt32"),
            ("platform", "String"),
            ("environment", "Nullable(String)"),
            ("release", "Nullable(String)"),
            ("dist", "Nullable(String)"),
            ("user", "String"),
            ("user_id", "Nullable(String)"),
            ("user_email", "Nullable(String)"),
            ("ip_address", "Nullable(String)"),
            ("sdk_name", "Nullable(String)"),
            ("http_method", "Nullable(String)"),
            ("measurements.key", "Array(String)"),
            ("measurements.value", "Array(Float64)"),
            ("spans.op", "Array(String)"),
            ("spans.exclusive_time", "Array(Float64)"),
            ("received", "DateTime"),
            ("deleted", "UInt8"),
            ("retention_days", "UInt16"),
        ],
        &["tags", "contexts"],
    ),
    maps: &["tags", "contexts"],
    required_id: "project_id",
    time_column: "timestamp",
    deleted_column: Some("deleted"),
    order_key: "(project_id, toStartOfDay(timestamp), transaction, event_id)",
});

/// Outcomes, Snuba's `outcomes_raw` entity: one row per item outcome.
pub static OUTCOMES: LazyLock<Entity> = LazyLock::new(|| Entity {
    name: "outcomes",
    table: "outcomes_raw_local",
    columns: columns(
        &[
            ("org_id", "UInt64"),
            ("project_id", "UInt64"),
            ("key_id", "Nullable(UInt64)"),
            ("timestamp", "DateTime"),
            ("outcome", "UInt8"),
            ("reason", "Nullable(String)"),
            ("event_id", "Nullable(String)"),
            ("category", "UInt8"),
            ("quantity", "UInt32"),
        ],
        &[],
    ),
    maps: &[],
    required_id: "org_id",
    time_column: "timestamp",
    deleted_column: None,
    order_key: "(org_id, project_id, timestamp)",
});

/// Every entity, for lookup by name.
pub fn all() -> [&'static Entity; 3] {
    [&EVENTS, &TRANSACTIONS, &OUTCOMES]
}

/// The entity called `name`.
pub fn by_name(name: &str) -> Option<&'static Entity> {
    all().into_iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_and_print_alike() {
        for text in [
            "UInt8",
            "UInt64",
            "String",
            "Nullable(String)",
            "Array(Nullable(UInt8))",
            "DateTime",
            "Float64",
        ] {
            assert_eq!(
                Type::parse(text).map(|t| t.to_string()).as_deref(),
                Some(text)
            );
        }
        assert_eq!(Type::parse("Map(String, String)"), None);
    }

    #[test]
    fn entities_have_their_required_columns() {
        for entity in all() {
            assert!(
                entity.column(entity.required_id).is_some(),
                "{}",
                entity.name
            );
            assert_eq!(
                entity.column(entity.time_column).map(|c| &c.ty),
                Some(&Type::DateTime)
            );
            for map in entity.maps {
                assert!(entity.column(&format!("{map}.key")).is_some());
            }
        }
        assert_eq!(by_name("events").map(|e| e.table), Some("errors_local"));
        assert!(by_name("nope").is_none());
    }
}
