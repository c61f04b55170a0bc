//! The event store of the scaled deployment: ClickHouse over its HTTP
//! interface.
//!
//! Queries go out as the ClickHouse dialect of [`crate::render`] with
//! `FORMAT JSONCompact`; rows go in as `JSONEachRow`. Every statement is a
//! `POST` (ClickHouse treats `GET` as read-only).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value as Json};
use tokio::net::TcpStream;

use crate::entity::{self, Entity, Type};
use crate::plan::Plan;
use crate::render;
use crate::replacer::Replacement;
use crate::storage::{self, QueryResult, Row, StorageError};

/// A ClickHouse server and the database holding the tables.
#[derive(Debug, Clone)]
pub struct ClickHouseEventStore {
    host: String,
    port: u16,
    database: String,
}

impl ClickHouseEventStore {
    /// A store on the server at `url` (`http://host:port/`), in `database`.
    pub fn new(url: &str, database: &str) -> Result<Self, StorageError> {
        let bad = || StorageError::Invalid(format!("not a ClickHouse HTTP url: {url}"));
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
            None => (authority, 8123),
        };
        if host.is_empty()
            || database.is_empty()
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad());
        }
        Ok(ClickHouseEventStore {
            host: host.to_owned(),
            port,
            database: database.to_owned(),
        })
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Sends one statement and returns the response body.
    pub async fn execute(&self, sql: &str, body: Option<Bytes>) -> Result<Bytes, StorageError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| StorageError::Connection(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| StorageError::Connection(e.to_string()))?;
        tokio::spawn(connection);
        // The statement goes in the query string when rows follow it.
        let mut path = format!(
            "/?database={}&output_format_json_quote_64bit_integers=0",
            self.database
        );
        let payload = match body {
            Some(rows) => {
                path.push_str("&query=");
                path.push_str(&percent_encode(sql));
                rows
            }
            None => Bytes::from(sql.to_owned()),
        };
        let request = Request::post(path)
            .header("host", format!("{}:{}", self.host, self.port))
            .body(Full::new(payload))
            .map_err(|e| StorageError::Invalid(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| StorageError::Connection(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| StorageError::Connection(e.to_string()))?
            .to_bytes();
        if status != 200 {
            return Err(StorageError::ClickHouse {
                status,
                message: String::from_utf8_lossy(&body).trim().to_owned(),
            });
        }
        Ok(body)
    }

    /// Creates the database and every entity's table if they are missing.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        let create = ClickHouseEventStore {
            database: "default".to_owned(),
            ..self.clone()
        };
        create
            .execute(
                &format!("CREATE DATABASE IF NOT EXISTS `{}`", self.database),
                None,
            )
            .await?;
        for entity in entity::all() {
            self.execute(&storage::clickhouse_ddl(entity), None).await?;
        }
        Ok(())
    }

    /// Drops the database with everything in it.
    pub async fn drop_database(&self) -> Result<(), StorageError> {
        let other = ClickHouseEventStore {
            database: "default".to_owned(),
            ..self.clone()
        };
        other
            .execute(
                &format!("DROP DATABASE IF EXISTS `{}`", self.database),
                None,
            )
            .await?;
        Ok(())
    }

    /// Stores rows of `entity` in one insert.
    pub async fn insert(&self, entity: &Entity, rows: &[Row]) -> Result<usize, StorageError> {
        let mut body = Vec::new();
        for row in rows {
            let mut out = Map::new();
            for column in &entity.columns {
                let Some(value) = row.get(column.name) else {
                    continue;
                };
                out.insert(column.name.to_owned(), to_clickhouse(&column.ty, value));
            }
            serde_json::to_writer(&mut body, &out)
                .map_err(|e| StorageError::Invalid(e.to_string()))?;
            body.push(b'\n');
        }
        let sql = format!("INSERT INTO `{}` FORMAT JSONEachRow", entity.table);
        self.execute(&sql, Some(Bytes::from(body))).await?;
        Ok(rows.len())
    }

    /// Applies a change to stored rows, as a mutation that ClickHouse
    /// carries out in the background.
    pub async fn replace(&self, replacement: &Replacement) -> Result<(), StorageError> {
        self.execute(&replacement.sql(render::Dialect::ClickHouse), None)
            .await?;
        Ok(())
    }

    /// Drops every weekly partition whose whole week lies before `cutoff`
    /// (seconds since the epoch); returns how many were dropped. ClickHouse
    /// 18.16 has no TTL: this is how data expires.
    pub async fn expire(&self, cutoff: i64) -> Result<u64, StorageError> {
        let cutoff_day = chrono::DateTime::from_timestamp(cutoff, 0)
            .map(|t| t.date_naive())
            .unwrap_or_default();
        let mut dropped = 0;
        for entity in entity::all() {
            let sql = format!(
                "SELECT DISTINCT partition FROM system.parts WHERE database = '{}' \
                 AND table = '{}' AND active FORMAT JSONCompact",
                self.database, entity.table
            );
            let body = self.execute(&sql, None).await?;
            let parsed: Json = serde_json::from_slice(&body)
                .map_err(|e| StorageError::Invalid(format!("clickhouse answered bad JSON: {e}")))?;
            let partitions: Vec<String> = parsed["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|row| row[0].as_str().map(str::to_owned))
                .collect();
            for partition in partitions {
                // `partition` is the Monday of the week (`2024-04-29`); its
                // rows are older than the next Monday.
                let partition = partition.trim_matches('\'');
                let monday =
                    chrono::NaiveDate::parse_from_str(partition, "%Y-%m-%d").map_err(|_| {
                        StorageError::Invalid(format!(
                            "unexpected partition {partition} of {}",
                            entity.table
                        ))
                    })?;
                if monday + chrono::Days::new(7) > cutoff_day {
                    continue;
                }
                self.execute(
                    &format!(
                        "ALTER TABLE `{}` DROP PARTITION '{partition}'",
                        entity.table
                    ),
                    None,
                )
                .await?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Runs a query.
    pub async fn query(&self, plan: &Plan) -> Result<QueryResult, StorageError> {
        let sql = format!("{} FORMAT JSONCompact", render::clickhouse(plan));
        let body = self.execute(&sql, None).await?;
        let mut parsed: Json = serde_json::from_slice(&body)
            .map_err(|e| StorageError::Invalid(format!("clickhouse answered bad JSON: {e}")))?;
        let rows = match parsed.get_mut("data").map(Json::take) {
            Some(Json::Array(rows)) => rows
                .into_iter()
                .map(|row| match row {
                    Json::Array(values) => values,
                    _ => Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(storage::finish(plan, rows))
    }
}

/// A row value as ClickHouse's `JSONEachRow` reads it.
fn to_clickhouse(ty: &Type, value: &Json) -> Json {
    match (ty.base(), value) {
        (_, Json::Null) => Json::Null,
        (Type::DateTime, v) => Json::String(storage::clickhouse_time(
            storage::seconds(v).unwrap_or_default(),
        )),
        (Type::UInt(_) | Type::Int64, Json::Bool(b)) => Json::from(u8::from(*b)),
        (Type::Array(inner), Json::Array(items)) => {
            Json::Array(items.iter().map(|v| to_clickhouse(inner, v)).collect())
        }
        (Type::String, Json::String(_)) => value.clone(),
        (Type::String, other) => Json::String(other.to_string()),
        _ => value.clone(),
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
