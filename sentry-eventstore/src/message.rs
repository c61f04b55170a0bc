//! The record on the `ingest-events` topic: an accepted envelope with what
//! the ingest edge knew about its request.
//!
//! Layout: one line of JSON (the [`IngestMessage`] fields but the envelope),
//! a newline, then the envelope bytes exactly as accepted (decompressed).

use std::net::IpAddr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest header line accepted when decoding.
const MAX_HEADER: usize = 16 * 1024;

/// An accepted envelope on its way to processing.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestMessage {
    /// The project it was sent to.
    pub project_id: u64,
    /// The numeric id of the client key it was sent with, for outcomes.
    pub key_id: Option<u64>,
    /// When the ingest edge received it.
    pub received_at: DateTime<Utc>,
    /// The client's address, for `{{auto}}` IPs.
    pub remote_addr: Option<IpAddr>,
    /// The request's `User-Agent`.
    pub user_agent: Option<String>,
    /// The envelope, decompressed.
    pub envelope: Bytes,
}

#[derive(Serialize, Deserialize)]
struct Header {
    project_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<u64>,
    received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remote_addr: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
}

/// A record that is not an [`IngestMessage`].
#[derive(Debug, thiserror::Error)]
#[error("invalid ingest message: {0}")]
pub struct MessageError(String);

impl IngestMessage {
    /// Encodes the message as a stream record.
    pub fn encode(&self) -> Bytes {
        let header = Header {
            project_id: self.project_id,
            key_id: self.key_id,
            received_at: self.received_at,
            remote_addr: self.remote_addr,
            user_agent: self.user_agent.clone(),
        };
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.envelope);
        Bytes::from(out)
    }

    /// Decodes a stream record.
    ///
    /// ```
    /// # use sentry_eventstore::IngestMessage;
    /// let message = IngestMessage {
    ///     project_id: 1,
    ///     key_id: Some(3),
    ///     received_at: chrono::Utc::now(),
    ///     remote_addr: None,
    ///     user_agent: Some("sentry.python/2.0".into()),
    ///     envelope: bytes::Bytes::from_static(b"{}\n"),
    /// };
    /// assert_eq!(IngestMessage::decode(message.encode()).unwrap(), message);
    /// ```
    pub fn decode(record: Bytes) -> Result<IngestMessage, MessageError> {
        let end = record
            .iter()
            .take(MAX_HEADER)
            .position(|&b| b == b'\n')
            .ok_or_else(|| MessageError("no header line".into()))?;
        let header: Header = serde_json::from_slice(&record[..end])
            .map_err(|e| MessageError(format!("header: {e}")))?;
        Ok(IngestMessage {
            project_id: header.project_id,
            key_id: header.key_id,
            received_at: header.received_at,
            remote_addr: header.remote_addr,
            user_agent: header.user_agent,
            envelope: record.slice(end + 1..),
        })
    }
}
