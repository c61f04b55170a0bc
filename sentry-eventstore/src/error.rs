//! Errors of the store.

/// An error of a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (connection, I/O, SQL).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The cause.
        source: sqlx::Error,
    },
    /// Something with that name already exists.
    #[error("{what} already exists")]
    Conflict {
        /// What it was (`"project slug \"web\""`).
        what: String,
    },
    /// A referenced record does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// The store URL names no backend this build has.
    #[error(
        "unsupported store url {url:?}: expected sqlite://PATH, sqlite::memory: or \
         postgres://USER@HOST:PORT/DATABASE"
    )]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// The store URL names a backend this build leaves out.
    #[error(
        "store url {url:?} needs the `{feature}` feature of sentry-eventstore, \
         which this build does not have"
    )]
    FeatureDisabled {
        /// The URL, without its password.
        url: String,
        /// The cargo feature that adds the backend.
        feature: &'static str,
    },
    /// Another consumer added some of these stream records already: read
    /// the stored offsets again ([`crate::Store::stream_offsets`]).
    #[error("stream records already added: {0}")]
    AlreadyAdded(String),
    /// A stored value could not be read back.
    #[error("corrupt stored value in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// The result type of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
