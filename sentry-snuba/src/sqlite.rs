//! The event store of the embedded deployment: SQLite through `rusqlite`,
//! with the ClickHouse functions SnQL needs registered on every connection.
//!
//! Writes go through one connection; reads use connections of their own,
//! kept for the next read (WAL mode lets them run beside a write). Calls
//! block: from async code, run them in `spawn_blocking` (the
//! [`crate::store::EventStore`] implementation does). Clones share the
//! connections.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value as Json;

use crate::entity::{self, Entity, Type};
use crate::plan::Plan;
use crate::render;
use crate::replacer::Replacement;
use crate::storage::{self, QueryResult, Row, StorageError};

/// The SQLite event store.
#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

/// Read connections kept open between queries.
const MAX_IDLE_READERS: usize = 8;

impl SqliteEventStore {
    /// Opens (and creates) the store at `path`, creating every entity's
    /// table.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_owned();
        let writer = Connection::open(&path)?;
        writer.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
        )?;
        for entity in entity::all() {
            writer.execute_batch(&storage::sqlite_ddl(entity))?;
        }
        prepare(&writer)?;
        Ok(SqliteEventStore {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Stores rows of `entity`; a row whose event is already stored
    /// replaces it. Returns the number of rows written.
    pub fn insert(&self, entity: &Entity, rows: &[Row]) -> Result<usize, StorageError> {
        let mut conn = self.writer()?;
        let names: Vec<String> = entity
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let marks = vec!["?"; names.len()].join(", ");
        let sql = format!(
            "INSERT OR REPLACE INTO \"{}\" ({}) VALUES ({marks})",
            entity.table,
            names.join(", ")
        );
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&sql)?;
            for row in rows {
                let values = entity
                    .columns
                    .iter()
                    .map(|c| to_sql(&c.ty, row.get(c.name), c.name))
                    .collect::<Result<Vec<_>, _>>()?;
                stmt.execute(rusqlite::params_from_iter(values))?;
            }
        }
        tx.commit()?;
        Ok(rows.len())
    }

    /// Runs a query.
    pub fn query(&self, plan: &Plan) -> Result<QueryResult, StorageError> {
        let conn = self.reader()?;
        let result = Self::query_on(&conn, plan);
        if let Ok(mut idle) = self.readers.lock() {
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    /// Applies a change to stored rows.
    pub fn replace(&self, replacement: &Replacement) -> Result<(), StorageError> {
        let conn = self.writer()?;
        conn.execute(&replacement.sql(render::Dialect::Sqlite), [])?;
        Ok(())
    }

    /// Deletes the rows older than `cutoff` (seconds since the epoch) from
    /// every entity's table; returns how many went.
    pub fn expire(&self, cutoff: i64) -> Result<u64, StorageError> {
        let conn = self.writer()?;
        let mut removed = 0;
        for entity in entity::all() {
            removed += conn.execute(
                &format!(
                    "DELETE FROM \"{}\" WHERE \"{}\" < ?1",
                    entity.table, entity.time_column
                ),
                [cutoff],
            )? as u64;
        }
        Ok(removed)
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        self.writer
            .lock()
            .map_err(|_| StorageError::Invalid("the writer lock is poisoned".into()))
    }

    /// An idle read connection, or a new one.
    fn reader(&self) -> Result<Connection, StorageError> {
        if let Some(conn) = self.readers.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        prepare(&conn)?;
        Ok(conn)
    }

    fn query_on(conn: &Connection, plan: &Plan) -> Result<QueryResult, StorageError> {
        let sql = render::sqlite(plan);
        let mut stmt = conn.prepare_cached(&sql)?;
        let width = plan.outputs.len();
        let mut rows = stmt.query([])?;
        let mut raw = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(json_of(row.get_ref(i)?));
            }
            raw.push(values);
        }
        Ok(storage::finish(plan, raw))
    }
}

fn json_of(value: ValueRef<'_>) -> Json {
    match value {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => Json::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => Json::String(String::from_utf8_lossy(t).into()),
    }
}

/// A row value as SQLite stores it for a column of type `ty`.
fn to_sql(ty: &Type, value: Option<&Json>, column: &str) -> Result<SqlValue, StorageError> {
    let default;
    let value = match value {
        Some(v) if !v.is_null() => v,
        _ if ty.is_nullable() => return Ok(SqlValue::Null),
        _ => {
            default = storage::default_value(ty);
            &default
        }
    };
    let bad = || StorageError::Invalid(format!("column {column}: {value} is not a {ty}"));
    Ok(match ty.base() {
        Type::DateTime => SqlValue::Integer(storage::seconds(value).ok_or_else(bad)?),
        Type::UInt(_) | Type::Int64 => match value {
            Json::Number(n) => SqlValue::Integer(
                n.as_i64()
                    .or_else(|| n.as_u64().map(|u| u as i64))
                    .ok_or_else(bad)?,
            ),
            Json::Bool(b) => SqlValue::Integer(i64::from(*b)),
            _ => return Err(bad()),
        },
        Type::Float64 => SqlValue::Real(value.as_f64().ok_or_else(bad)?),
        Type::String => match value {
            Json::String(s) => SqlValue::Text(s.clone()),
            other => SqlValue::Text(other.to_string()),
        },
        Type::Array(_) => match value {
            Json::Array(_) => SqlValue::Text(value.to_string()),
            _ => return Err(bad()),
        },
        Type::Nullable(_) => return Err(bad()),
    })
}

/// Registers the functions and settings the SQLite dialect needs.
pub fn prepare(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch("PRAGMA case_sensitive_like = ON;")?;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("snuba_map_get", 3, flags, |ctx| {
        let keys = text(ctx, 0);
        let values = text(ctx, 1);
        let key = text(ctx, 2);
        let keys: Vec<Json> = serde_json::from_str(&keys).unwrap_or_default();
        let values: Vec<Json> = serde_json::from_str(&values).unwrap_or_default();
        let found = keys
            .iter()
            .position(|k| k.as_str() == Some(key.as_str()))
            .and_then(|i| values.get(i))
            .and_then(Json::as_str)
            .unwrap_or("");
        Ok(found.to_owned())
    })?;
    conn.create_aggregate_function("snuba_quantile", 2, flags, Quantile)?;
    conn.create_aggregate_function("snuba_arg_max", 2, flags, ArgBy { max: true })?;
    conn.create_aggregate_function("snuba_arg_min", 2, flags, ArgBy { max: false })?;
    conn.create_aggregate_function("snuba_any", 1, flags, Pick { last: false })?;
    conn.create_aggregate_function("snuba_any_last", 1, flags, Pick { last: true })?;
    conn.create_aggregate_function("snuba_group_array", 1, flags, GroupArray { uniq: false })?;
    conn.create_aggregate_function(
        "snuba_group_uniq_array",
        1,
        flags,
        GroupArray { uniq: true },
    )?;
    Ok(())
}

fn text(ctx: &Context<'_>, i: usize) -> String {
    match ctx.get_raw(i) {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    }
}

fn number(value: ValueRef<'_>) -> Option<f64> {
    match value {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        _ => None,
    }
}

fn owned(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// SQLite's order of values: NULL, numbers, text, blobs.
fn compare(a: &SqlValue, b: &SqlValue) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn rank(v: &SqlValue) -> u8 {
        match v {
            SqlValue::Null => 0,
            SqlValue::Integer(_) | SqlValue::Real(_) => 1,
            SqlValue::Text(_) => 2,
            SqlValue::Blob(_) => 3,
        }
    }
    match (a, b) {
        (SqlValue::Integer(x), SqlValue::Integer(y)) => x.cmp(y),
        (SqlValue::Integer(_) | SqlValue::Real(_), SqlValue::Integer(_) | SqlValue::Real(_)) => {
            let as_f64 = |v: &SqlValue| match v {
                SqlValue::Integer(i) => *i as f64,
                SqlValue::Real(f) => *f,
                _ => 0.0,
            };
            let (x, y) = (as_f64(a), as_f64(b));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (SqlValue::Text(x), SqlValue::Text(y)) => x.cmp(y),
        (SqlValue::Blob(x), SqlValue::Blob(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// `quantile(level)(x)` as ClickHouse computes it on fewer than 8,192
/// values: sorted values, linear interpolation at `level * (n - 1)`.
struct Quantile;

impl Aggregate<(f64, Vec<f64>), Option<f64>> for Quantile {
    fn init(&self, ctx: &mut Context<'_>) -> rusqlite::Result<(f64, Vec<f64>)> {
        Ok((number(ctx.get_raw(0)).unwrap_or(0.5), Vec::new()))
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut (f64, Vec<f64>)) -> rusqlite::Result<()> {
        if let Some(x) = number(ctx.get_raw(1)) {
            acc.1.push(x);
        }
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<(f64, Vec<f64>)>,
    ) -> rusqlite::Result<Option<f64>> {
        let Some((level, mut values)) = acc else {
            return Ok(None);
        };
        if values.is_empty() {
            return Ok(None);
        }
        values.sort_by(f64::total_cmp);
        let position = level * (values.len() - 1) as f64;
        let low = position.floor() as usize;
        let high = (low + 1).min(values.len() - 1);
        let fraction = position - low as f64;
        Ok(Some(values[low] + (values[high] - values[low]) * fraction))
    }
}

/// `argMax(a, b)` / `argMin(a, b)`: `a` of the row with the largest
/// (smallest) `b`; the first such row on ties.
struct ArgBy {
    max: bool,
}

impl Aggregate<Option<(SqlValue, SqlValue)>, SqlValue> for ArgBy {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Option<(SqlValue, SqlValue)>> {
        Ok(None)
    }

    fn step(
        &self,
        ctx: &mut Context<'_>,
        acc: &mut Option<(SqlValue, SqlValue)>,
    ) -> rusqlite::Result<()> {
        let by = owned(ctx.get_raw(1));
        if matches!(by, SqlValue::Null) {
            return Ok(());
        }
        let better = match acc {
            None => true,
            Some((_, best)) => {
                let order = compare(&by, best);
                if self.max {
                    order.is_gt()
                } else {
                    order.is_lt()
                }
            }
        };
        if better {
            *acc = Some((owned(ctx.get_raw(0)), by));
        }
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<Option<(SqlValue, SqlValue)>>,
    ) -> rusqlite::Result<SqlValue> {
        Ok(acc.flatten().map_or(SqlValue::Null, |(value, _)| value))
    }
}

/// `any(x)` / `anyLast(x)`: the first (last) value that is not NULL.
struct Pick {
    last: bool,
}

impl Aggregate<SqlValue, SqlValue> for Pick {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<SqlValue> {
        Ok(SqlValue::Null)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut SqlValue) -> rusqlite::Result<()> {
        let value = ctx.get_raw(0);
        if !matches!(value, ValueRef::Null) && (self.last || matches!(acc, SqlValue::Null)) {
            *acc = owned(value);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<SqlValue>) -> rusqlite::Result<SqlValue> {
        Ok(acc.unwrap_or(SqlValue::Null))
    }
}

/// `groupArray(x)` / `groupUniqArray(x)`: the values that are not NULL, as
/// a JSON array (distinct ones for the second).
struct GroupArray {
    uniq: bool,
}

impl Aggregate<Vec<Json>, String> for GroupArray {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Vec<Json>> {
        Ok(Vec::new())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Vec<Json>) -> rusqlite::Result<()> {
        let value = json_of(ctx.get_raw(0));
        if !value.is_null() {
            acc.push(value);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Vec<Json>>) -> rusqlite::Result<String> {
        let mut values = acc.unwrap_or_default();
        if self.uniq {
            let mut seen = HashSet::new();
            values.retain(|v| seen.insert(v.to_string()));
        }
        Ok(Json::Array(values).to_string())
    }
}
