//! The error type of every stream operation.

use std::io;
use std::path::PathBuf;

/// An error from a broker, producer or consumer.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A file-system operation failed; `context` says which one and on what.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path involved.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Bytes on disk do not match their checksum or framing.
    #[error("corrupt log data in {path}: {reason}")]
    Corrupt {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// What is wrong and where (byte position).
        reason: String,
    },
    /// A record's key plus payload is larger than the configured limit.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// Key plus payload length in bytes.
        size: u64,
        /// The configured `max_record_bytes`.
        limit: u64,
    },
    /// The URL given to [`open`](crate::open) names no known backend.
    #[error("unknown stream url scheme {scheme:?} (expected memory://, file:// or kafka://)")]
    UnknownScheme {
        /// The scheme found in the URL (empty when the URL has none).
        scheme: String,
    },
    /// The URL given to [`open`](crate::open) has a known scheme but is malformed.
    #[error("invalid stream url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A topic or consumer-group name cannot be used (empty, too long, or
    /// characters outside `[A-Za-z0-9._-]`).
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// `"topic"` or `"group"`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A request to a remote broker (Kafka) failed; `context` says which.
    #[error("{context}: {reason}")]
    Backend {
        /// What was being done.
        context: String,
        /// The broker's or the client library's error.
        reason: String,
    },
    /// The URL names a backend this build leaves out (a cargo feature is off).
    #[error("the {backend} stream backend is not in this build (cargo feature {feature:?})")]
    NotBuilt {
        /// The backend, as in its URL scheme.
        backend: &'static str,
        /// The cargo feature of `sentry-stream` that brings it in.
        feature: &'static str,
    },
    /// The log configuration is unusable.
    #[error("invalid log config: {0}")]
    InvalidConfig(String),
    /// Another live process (or this one) already has the log directory open.
    #[error("log directory {dir} is already open by process {pid} (lock file {lock})")]
    Locked {
        /// The log directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The process holding it.
        pid: u32,
    },
    /// The broker has shut down, or an earlier unrecoverable write error
    /// (for example a failed fsync) made it refuse further writes.
    #[error("the stream is closed: {0}")]
    Closed(String),
}

impl StreamError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        StreamError::Io {
            context: context.into(),
            source,
        }
    }
}
