//! A small pool of synchronous Redis connections (feature `redis`), shared
//! by the Redis quota counter here and the Redis caches and locks of
//! `sentry-eventstore`.
//!
//! Each connection serves one call at a time and has connect and
//! read/write timeouts. A connection that failed is dropped and a new one
//! made for the next call. A call that finds its pooled connection closed by
//! the server (restart, idle timeout) runs once more on a new connection;
//! one that timed out never does, since the server may have run it.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::{Client, Connection, ConnectionLike as _, ErrorKind, RedisResult};

/// Synchronous Redis connections to one server, reused between calls.
pub struct RedisPool {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection info: it may hold a password.
        f.debug_struct("RedisPool")
            .field("addr", &self.addr())
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl RedisPool {
    /// Default time to connect.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// Default time for one request and its reply.
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(2);
    /// Default number of idle connections kept.
    pub const DEFAULT_MAX_IDLE: usize = 16;

    /// A pool for the server at `url` (`redis://[:password@]host:port/db`,
    /// or `redis+unix:///path?db=N`). Connects only when first used.
    pub fn new(url: &str) -> RedisResult<Self> {
        Ok(RedisPool {
            client: Client::open(url)?,
            idle: Mutex::new(Vec::new()),
            max_idle: Self::DEFAULT_MAX_IDLE,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            io_timeout: Self::DEFAULT_IO_TIMEOUT,
        })
    }

    /// The server's address, without credentials (for logs).
    pub fn addr(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    /// Sets the time to connect and the time for one request and its reply
    /// (both at least a millisecond). Applies to new connections.
    pub fn set_timeouts(&mut self, connect: Duration, io: Duration) {
        let min = Duration::from_millis(1);
        self.connect_timeout = connect.max(min);
        self.io_timeout = io.max(min);
        self.idle
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Sets how many idle connections are kept for later calls; more are
    /// opened when more calls run at once, and closed after them.
    pub fn set_max_idle(&mut self, max_idle: usize) {
        self.max_idle = max_idle;
    }

    fn connect(&self) -> RedisResult<Connection> {
        let con = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        con.set_read_timeout(Some(self.io_timeout))?;
        con.set_write_timeout(Some(self.io_timeout))?;
        Ok(con)
    }

    /// An idle connection (and `true`), or a new one (and `false`).
    fn acquire(&self) -> RedisResult<(Connection, bool)> {
        loop {
            let pooled = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match pooled {
                Some(con) if con.is_open() => return Ok((con, true)),
                Some(_) => continue,
                None => return Ok((self.connect()?, false)),
            }
        }
    }

    fn release(&self, con: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle && con.is_open() {
            idle.push(con);
        }
    }

    /// Runs `call` on a pooled connection (a new one if none is idle). See
    /// the [module docs](self) for when it runs twice.
    pub fn run<T>(
        &self,
        mut call: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let (mut con, pooled) = self.acquire()?;
        match call(&mut con) {
            Ok(reply) => {
                self.release(con);
                Ok(reply)
            }
            // The server answered with an error: the connection is in step.
            Err(e) if matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) => {
                self.release(con);
                Err(e)
            }
            // A pooled connection the server has closed: the others are
            // likely closed too, and the call did not run.
            Err(e) if pooled && e.is_connection_dropped() && !e.is_timeout() => {
                drop(con);
                self.idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                let mut con = self.connect()?;
                let reply = call(&mut con)?;
                self.release(con);
                Ok(reply)
            }
            // Anything else may leave a reply in flight: drop the connection.
            Err(e) => Err(e),
        }
    }
}

/// Splits `redis://host:port/db?prefix=P` into the server's URL and the key
/// prefix (empty without one).
pub fn split_key_prefix(url: &str) -> (&str, &str) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let prefix = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("prefix="))
        .unwrap_or("");
    (base, prefix)
}
