//! What the event stores share: rows in, results out, table definitions.
//!
//! Rows are JSON objects keyed by column name, as the consumer writes them
//! (`DateTime` as seconds or as text, arrays as JSON arrays). Results are in
//! Snuba's shape: `data` (one object per row) and `meta` (name and type of
//! each column), with times written as `2024-05-01T10:00:00+00:00`.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value as Json};

use crate::entity::{Entity, Type};
use crate::plan::Plan;

/// A row to store: column name to value.
pub type Row = Map<String, Json>;

/// The name and type of a result column.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColumnMeta {
    /// The column's name in `data`.
    pub name: String,
    /// Its ClickHouse type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueryResult {
    /// One object per row.
    pub data: Vec<Map<String, Json>>,
    /// The columns, in order.
    pub meta: Vec<ColumnMeta>,
}

/// Why a store could not read or write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// ClickHouse answered with an error.
    #[error("clickhouse answered {status}: {message}")]
    ClickHouse {
        /// The HTTP status.
        status: u16,
        /// ClickHouse's message.
        message: String,
    },
    /// ClickHouse could not be reached.
    #[error("clickhouse unreachable: {0}")]
    Connection(String),
    /// A row or a result that does not fit the entity.
    #[error("{0}")]
    Invalid(String),
}

/// Seconds since the epoch from a row value (a number or a time text).
pub(crate) fn seconds(value: &Json) -> Option<i64> {
    match value {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Json::String(s) => crate::validate::parse_time(s).ok(),
        _ => None,
    }
}

/// A time as Snuba writes it in results.
pub(crate) fn iso(secs: i64) -> Json {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => Json::String(t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()),
        None => Json::Null,
    }
}

/// A time as ClickHouse reads it in text formats.
pub(crate) fn clickhouse_time(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "1970-01-01 00:00:00".to_owned())
}

/// Brings a raw result value to the form of `ty`.
pub(crate) fn normalize(ty: &Type, raw: Json) -> Json {
    if raw.is_null() {
        return Json::Null;
    }
    match ty {
        Type::Nullable(inner) => normalize(inner, raw),
        Type::DateTime => match &raw {
            Json::String(s) => NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .map(|t| iso(t.and_utc().timestamp()))
                .unwrap_or(raw),
            other => seconds(other).map(iso).unwrap_or(Json::Null),
        },
        Type::UInt(_) | Type::Int64 => match &raw {
            Json::Number(n) if n.is_i64() || n.is_u64() => raw,
            Json::Number(n) => n
                .as_f64()
                .map(|f| Json::from(f as i64))
                .unwrap_or(Json::Null),
            Json::String(s) => s
                .parse::<i64>()
                .map(Json::from)
                .or_else(|_| s.parse::<u64>().map(Json::from))
                .unwrap_or(raw),
            _ => raw,
        },
        Type::Float64 => match &raw {
            Json::Number(n) => n.as_f64().map(Json::from).unwrap_or(Json::Null),
            Json::String(s) => s.parse::<f64>().map(Json::from).unwrap_or(Json::Null),
            _ => raw,
        },
        Type::String => match raw {
            Json::String(_) => raw,
            Json::Number(n) => Json::String(n.to_string()),
            other => Json::String(other.to_string()),
        },
        Type::Array(element) => {
            let items = match raw {
                Json::String(s) => serde_json::from_str(&s).unwrap_or(Json::Array(Vec::new())),
                other => other,
            };
            match items {
                Json::Array(items) => {
                    Json::Array(items.into_iter().map(|v| normalize(element, v)).collect())
                }
                _ => Json::Array(Vec::new()),
            }
        }
    }
}

/// Builds the result from raw rows (one value per output, in order).
pub(crate) fn finish(plan: &Plan, rows: Vec<Vec<Json>>) -> QueryResult {
    let types: Vec<Type> = plan.outputs.iter().map(|o| o.expr.ty()).collect();
    let data = rows
        .into_iter()
        .map(|row| {
            plan.outputs
                .iter()
                .zip(&types)
                .zip(row)
                .map(|((output, ty), raw)| (output.name.clone(), normalize(ty, raw)))
                .collect()
        })
        .collect();
    QueryResult {
        data,
        meta: plan
            .outputs
            .iter()
            .zip(&types)
            .map(|(o, ty)| ColumnMeta {
                name: o.name.clone(),
                ty: ty.to_string(),
            })
            .collect(),
    }
}

/// The value a column takes when a row does not give one.
pub(crate) fn default_value(ty: &Type) -> Json {
    match ty {
        Type::Nullable(_) => Json::Null,
        Type::Array(_) => Json::Array(Vec::new()),
        Type::String => Json::String(String::new()),
        Type::Float64 => Json::from(0.0),
        _ => Json::from(0),
    }
}

/// `CREATE TABLE` for ClickHouse: a MergeTree partitioned by week (drop a
/// partition to expire data: 18.16 has no TTL); maps and dotted arrays as
/// `Nested`.
pub fn clickhouse_ddl(entity: &Entity) -> String {
    let mut columns: Vec<String> = Vec::new();
    let mut nested: Vec<(String, Vec<String>)> = Vec::new();
    for column in &entity.columns {
        match (column.name.split_once('.'), &column.ty) {
            (Some((prefix, field)), Type::Array(inner)) => {
                let field = format!("`{field}` {inner}");
                match nested.iter_mut().find(|(p, _)| p == prefix) {
                    Some((_, fields)) => fields.push(field),
                    None => nested.push((prefix.to_owned(), vec![field])),
                }
            }
            _ => columns.push(format!("`{}` {}", column.name, column.ty)),
        }
    }
    for (prefix, fields) in nested {
        columns.push(format!("`{prefix}` Nested({})", fields.join(", ")));
    }
    let sample = if entity.column("event_id").is_some() && entity.deleted_column.is_some() {
        " SAMPLE BY cityHash64(event_id)"
    } else {
        ""
    };
    let order_key = if sample.is_empty() {
        entity.order_key.to_owned()
    } else {
        format!(
            "{}, cityHash64(event_id))",
            entity
                .order_key
                .trim_end_matches(')')
                .trim_end_matches(", event_id")
        )
    };
    format!(
        "CREATE TABLE IF NOT EXISTS `{}` ({}) ENGINE = ReplacingMergeTree() \
         PARTITION BY toMonday({}) ORDER BY {order_key}{sample}",
        entity.table,
        columns.join(", "),
        entity.time_column,
    )
}

/// `CREATE TABLE` and indexes for SQLite: times as seconds, arrays as JSON.
pub fn sqlite_ddl(entity: &Entity) -> String {
    let columns: Vec<String> = entity
        .columns
        .iter()
        .map(|c| {
            let sql_type = match c.ty.base() {
                Type::UInt(_) | Type::Int64 | Type::DateTime => "INTEGER",
                Type::Float64 => "REAL",
                _ => "TEXT",
            };
            let null = if c.ty.is_nullable() { "" } else { " NOT NULL" };
            format!("\"{}\" {sql_type}{null}", c.name)
        })
        .collect();
    let mut ddl = format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" ({});\n\
         CREATE INDEX IF NOT EXISTS \"{table}_time\" ON \"{table}\" (\"{id}\", \"{time}\");\n",
        columns.join(", "),
        table = entity.table,
        id = entity.required_id,
        time = entity.time_column,
    );
    if entity.column("event_id").is_some() && entity.deleted_column.is_some() {
        ddl.push_str(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS \"{table}_event\" ON \"{table}\" (\"project_id\", \"event_id\");\n",
            table = entity.table
        ));
    }
    if entity.column("group_id").is_some() {
        ddl.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS \"{table}_group\" ON \"{table}\" (\"project_id\", \"group_id\", \"{time}\");\n",
            table = entity.table,
            time = entity.time_column,
        ));
    }
    ddl
}
