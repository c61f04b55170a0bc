//! A key-value cache shared by the processes of a deployment: project
//! configs read by every relay and consumer, the per-event processing lock
//! of the ingest consumers, and the "post-processed once" marks.
//!
//! [`open_cache`] picks the backend from a URL:
//!
//! - `memory://`: [`MemoryCache`], one process (the all-in-one server);
//! - `redis://HOST:PORT/DB[?prefix=P]` (feature `redis`): [`RedisCache`],
//!   shared by every process that names the same server and prefix.
//!
//! Values are bytes with a time to live. A cache may forget an entry early
//! (eviction, restart), so every user must be able to rebuild what it put
//! there; only [`add`](Cache::add) and [`release`](Cache::release) need the
//! server to be up to be correct, and their callers decide what to do when
//! it is not.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// Why a cache call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The URL names no cache this build has.
    #[error("unsupported cache url {url:?}: expected {expected}")]
    Url {
        /// The URL, without credentials.
        url: String,
        /// What would have been understood.
        expected: &'static str,
    },
    /// The server failed or could not be reached.
    #[error("cache backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A shared key-value cache with expiry. See the [module docs](self).
#[async_trait]
pub trait Cache: Send + Sync + fmt::Debug {
    /// The value of `key`, if set and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;

    /// Sets `key` to `value` for `ttl`.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;

    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;

    /// Sets each key that is not set yet to `value` for `ttl`, in one round
    /// trip; per key, `true` if this call set it. Two callers adding the
    /// same key at once: exactly one gets `true`.
    async fn add(
        &self,
        keys: &[String],
        value: &[u8],
        ttl: Duration,
    ) -> Result<Vec<bool>, CacheError>;

    /// Removes each key that still holds `value` (a lock this caller took
    /// with [`add`](Self::add) and that has not expired and been taken by
    /// another since); returns how many were removed.
    async fn release(&self, keys: &[String], value: &[u8]) -> Result<usize, CacheError>;
}

/// Opens the cache `url` names; see the [module docs](self).
pub fn open_cache(url: &str) -> Result<Arc<dyn Cache>, CacheError> {
    if url == "memory://" || url == "memory" {
        return Ok(Arc::new(MemoryCache::new()));
    }
    #[cfg(feature = "redis")]
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        let (base, prefix) = sentry_relay_core::redis_pool::split_key_prefix(url);
        return Ok(Arc::new(RedisCache::open(base, prefix)?));
    }
    let expected = if cfg!(feature = "redis") {
        "memory:// or redis://HOST:PORT/DB[?prefix=P]"
    } else {
        "memory:// (redis:// needs the feature `redis`)"
    };
    Err(CacheError::Url {
        url: url.split_once('@').map_or(url, |(_, host)| host).into(),
        expected,
    })
}

/// The [`Cache`] of one process: a map behind a mutex. Expired entries are
/// swept when the map has doubled since the last sweep.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<MemoryEntries>,
}

#[derive(Debug, Default)]
struct MemoryEntries {
    map: HashMap<String, (Vec<u8>, Instant)>,
    sweep_at: usize,
}

impl MemoryEntries {
    fn live(&self, key: &str, now: Instant) -> Option<&Vec<u8>> {
        self.map
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value)
    }

    fn insert(&mut self, key: &str, value: &[u8], expires: Instant, now: Instant) {
        self.map.insert(key.to_owned(), (value.to_vec(), expires));
        if self.map.len() > self.sweep_at {
            self.map.retain(|_, (_, expires)| *expires > now);
            self.sweep_at = (self.map.len() * 2).max(1024);
        }
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryEntries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.lock().live(key, Instant::now()).cloned())
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let now = Instant::now();
        self.lock().insert(key, value, now + ttl, now);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.lock().map.remove(key);
        Ok(())
    }

    async fn add(
        &self,
        keys: &[String],
        value: &[u8],
        ttl: Duration,
    ) -> Result<Vec<bool>, CacheError> {
        let now = Instant::now();
        let mut entries = self.lock();
        Ok(keys
            .iter()
            .map(|key| {
                let free = entries.live(key, now).is_none();
                if free {
                    entries.insert(key, value, now + ttl, now);
                }
                free
            })
            .collect())
    }

    async fn release(&self, keys: &[String], value: &[u8]) -> Result<usize, CacheError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let mut removed = 0;
        for key in keys {
            if entries.live(key, now).is_some_and(|v| v == value) {
                entries.map.remove(key);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(feature = "redis")]
pub use self::redis_cache::RedisCache;

#[cfg(feature = "redis")]
mod redis_cache {
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use redis::{RedisError, Script};
    use sentry_relay_core::redis_pool::RedisPool;

    use super::{Cache, CacheError};

    /// Removes the keys that still hold `ARGV[1]`; answers how many.
    const RELEASE: &str = r"
local removed = 0
for i = 1, #KEYS do
    if redis.call('GET', KEYS[i]) == ARGV[1] then
        redis.call('DEL', KEYS[i])
        removed = removed + 1
    end
end
return removed
";

    impl From<RedisError> for CacheError {
        fn from(e: RedisError) -> Self {
            CacheError::Backend(Box::new(e))
        }
    }

    /// The [`Cache`] on a Redis server, shared by every process that uses
    /// the same server and key prefix. Calls run on a blocking thread, on a
    /// [`RedisPool`] connection. `add` is one pipeline of `SET NX PX`;
    /// `release` one Lua script (compare, then delete).
    #[derive(Clone)]
    pub struct RedisCache {
        inner: Arc<Inner>,
    }

    struct Inner {
        pool: RedisPool,
        prefix: String,
        release: Script,
    }

    impl fmt::Debug for RedisCache {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RedisCache")
                .field("pool", &self.inner.pool)
                .field("prefix", &self.inner.prefix)
                .finish()
        }
    }

    impl RedisCache {
        /// Connects to the server at `url` (`redis://[:password@]host:port/db`)
        /// once, so that a wrong URL or an unreachable server shows at
        /// startup. Every key gets `prefix` in front (deployments or test
        /// runs sharing one database).
        pub fn open(url: &str, prefix: &str) -> Result<Self, CacheError> {
            let pool = RedisPool::new(url)?;
            pool.run(|con| redis::cmd("PING").query::<String>(con))?;
            Ok(RedisCache {
                inner: Arc::new(Inner {
                    pool,
                    prefix: prefix.to_owned(),
                    release: Script::new(RELEASE),
                }),
            })
        }

        /// Runs `call` with the prefixed keys on a blocking thread.
        async fn blocking<T: Send + 'static>(
            &self,
            keys: Vec<String>,
            call: impl FnOnce(&Inner, &[String]) -> Result<T, RedisError> + Send + 'static,
        ) -> Result<T, CacheError> {
            let inner = self.inner.clone();
            let keys: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}{k}", inner.prefix))
                .collect();
            tokio::task::spawn_blocking(move || call(&inner, &keys))
                .await
                .map_err(|e| CacheError::Backend(Box::new(e)))?
                .map_err(CacheError::from)
        }
    }

    fn millis(ttl: Duration) -> u64 {
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    #[async_trait]
    impl Cache for RedisCache {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
            self.blocking(vec![key.to_owned()], |inner, keys| {
                inner
                    .pool
                    .run(|con| redis::cmd("GET").arg(&keys[0]).query(con))
            })
            .await
        }

        async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
            let value = value.to_vec();
            self.blocking(vec![key.to_owned()], move |inner, keys| {
                inner.pool.run(|con| {
                    redis::cmd("SET")
                        .arg(&keys[0])
                        .arg(&value)
                        .arg("PX")
                        .arg(millis(ttl))
                        .query::<()>(con)
                })
            })
            .await
        }

        async fn delete(&self, key: &str) -> Result<(), CacheError> {
            self.blocking(vec![key.to_owned()], |inner, keys| {
                inner
                    .pool
                    .run(|con| redis::cmd("DEL").arg(&keys[0]).query::<()>(con))
            })
            .await
        }

        async fn add(
            &self,
            keys: &[String],
            value: &[u8],
            ttl: Duration,
        ) -> Result<Vec<bool>, CacheError> {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let value = value.to_vec();
            self.blocking(keys.to_vec(), move |inner, keys| {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(&value)
                        .arg("NX")
                        .arg("PX")
                        .arg(millis(ttl));
                }
                let replies: Vec<Option<String>> = inner.pool.run(|con| pipe.query(con))?;
                Ok(replies.into_iter().map(|r| r.is_some()).collect())
            })
            .await
        }

        async fn release(&self, keys: &[String], value: &[u8]) -> Result<usize, CacheError> {
            if keys.is_empty() {
                return Ok(0);
            }
            let value = value.to_vec();
            self.blocking(keys.to_vec(), move |inner, keys| {
                let mut invocation = inner.release.prepare_invoke();
                for key in keys {
                    invocation.key(key);
                }
                invocation.arg(&value);
                inner.pool.run(|con| invocation.invoke::<usize>(con))
            })
            .await
        }
    }
}

pub mod testsuite {
    //! The conformance tests every [`Cache`] backend runs:
    //! [`cache_conformance_suite`] with a fresh cache per test. A backend
    //! shared between runs (Redis) must give each cache a fresh key prefix.
    //! The tests panic on the first call that fails or answers wrongly.

    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::Duration;

    use super::Cache;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// Runs every test, each on a cache from `make`.
    pub async fn cache_conformance_suite(make: impl Fn() -> Arc<dyn Cache>) {
        set_get_delete(make().as_ref()).await;
        entries_expire(make().as_ref()).await;
        add_takes_free_keys_only(make().as_ref()).await;
        add_after_expiry(make().as_ref()).await;
        release_only_own_value(make().as_ref()).await;
        concurrent_add_has_one_winner(make()).await;
    }

    async fn set_get_delete(cache: &dyn Cache) {
        assert_eq!(cache.get("a").await.unwrap(), None);
        cache
            .set("a", b"one", Duration::from_secs(60))
            .await
            .unwrap();
        cache.set("b", b"", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(cache.get("b").await.unwrap().as_deref(), Some(&b""[..]));
        cache
            .set("a", b"two", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
        cache.delete("a").await.unwrap();
        cache.delete("never-set").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
        assert_eq!(cache.get("b").await.unwrap().as_deref(), Some(&b""[..]));
    }

    async fn entries_expire(cache: &dyn Cache) {
        cache
            .set("short", b"x", Duration::from_millis(50))
            .await
            .unwrap();
        cache
            .set("long", b"y", Duration::from_secs(60))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
        assert_eq!(cache.get("long").await.unwrap().as_deref(), Some(&b"y"[..]));
    }

    async fn add_takes_free_keys_only(cache: &dyn Cache) {
        assert!(
            cache
                .add(&[], b"t", Duration::from_secs(60))
                .await
                .unwrap()
                .is_empty()
        );
        cache
            .set("held", b"other", Duration::from_secs(60))
            .await
            .unwrap();
        let got = cache
            .add(
                &keys(&["free", "held", "free2"]),
                b"me",
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(got, [true, false, true]);
        assert_eq!(
            cache.get("held").await.unwrap().as_deref(),
            Some(&b"other"[..])
        );
        assert_eq!(
            cache.get("free").await.unwrap().as_deref(),
            Some(&b"me"[..])
        );
        let again = cache
            .add(&keys(&["free"]), b"you", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(again, [false]);
    }

    async fn add_after_expiry(cache: &dyn Cache) {
        let k = keys(&["lock"]);
        assert_eq!(
            cache
                .add(&k, b"a", Duration::from_millis(50))
                .await
                .unwrap(),
            [true]
        );
        assert_eq!(
            cache
                .add(&k, b"b", Duration::from_millis(50))
                .await
                .unwrap(),
            [false]
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            cache.add(&k, b"b", Duration::from_secs(60)).await.unwrap(),
            [true]
        );
        assert_eq!(cache.get("lock").await.unwrap().as_deref(), Some(&b"b"[..]));
    }

    async fn release_only_own_value(cache: &dyn Cache) {
        assert_eq!(cache.release(&[], b"t").await.unwrap(), 0);
        let ttl = Duration::from_secs(60);
        cache
            .add(&keys(&["mine", "also-mine"]), b"t1", ttl)
            .await
            .unwrap();
        cache.add(&keys(&["theirs"]), b"t2", ttl).await.unwrap();
        let removed = cache
            .release(&keys(&["mine", "theirs", "also-mine", "absent"]), b"t1")
            .await
            .unwrap();
        assert_eq!(removed, 2);
        assert_eq!(cache.get("mine").await.unwrap(), None);
        assert_eq!(cache.get("also-mine").await.unwrap(), None);
        assert_eq!(
            cache.get("theirs").await.unwrap().as_deref(),
            Some(&b"t2"[..])
        );
        // Released keys are free again.
        assert_eq!(
            cache.add(&keys(&["mine"]), b"t3", ttl).await.unwrap(),
            [true]
        );
    }

    async fn concurrent_add_has_one_winner(cache: Arc<dyn Cache>) {
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    let k: Vec<String> = (0..20).map(|n| format!("race-{n}")).collect();
                    cache.add(&k, &[i], Duration::from_secs(60)).await.unwrap()
                })
            })
            .collect();
        let mut wins = [0usize; 20];
        for task in tasks {
            for (n, won) in task.await.unwrap().into_iter().enumerate() {
                wins[n] += usize::from(won);
            }
        }
        assert_eq!(wins, [1; 20], "each key has exactly one winner");
    }
}
