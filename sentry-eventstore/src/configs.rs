//! A cache of project configs in front of the store, shared by the ingest
//! edge and the consumers.
//!
//! Two tiers: a map in the process, kept for a short TTL, and optionally a
//! [`Cache`] shared by every process of the deployment (Redis in the scaled
//! one), kept longer. A miss in both loads the config from the store and
//! fills both. A change made through the web API removes the shared entry
//! ([`ConfigCache::invalidate`]), so every process sees it once its own
//! short-lived entry expires, without reading the store on every expiry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sentry_relay_core::{CompiledProject, ProjectConfig};

use crate::cache::Cache;
use crate::error::StoreError;
use crate::store::Store;

/// A project's config with its filters and scrubbing rules compiled.
#[derive(Debug)]
pub struct ProjectState {
    /// The config.
    pub config: ProjectConfig,
    /// Its settings, compiled.
    pub compiled: CompiledProject,
}

impl ProjectState {
    /// Compiles a config.
    pub fn new(config: ProjectConfig) -> Self {
        let compiled = CompiledProject::new(&config.settings);
        for error in &compiled.errors {
            tracing::warn!(project_id = config.project_id.value(), %error, "project setting ignored");
        }
        ProjectState { config, compiled }
    }
}

/// A cached state and when it was loaded (`None`: no such project).
type Cached = (Instant, Option<Arc<ProjectState>>);

/// Project configs, loaded from the store and kept for a TTL.
///
/// Changes made through this process ([`invalidate`](Self::invalidate))
/// apply at once; changes made by another process within the TTL.
pub struct ConfigCache {
    store: Arc<dyn Store>,
    ttl: Duration,
    entries: RwLock<HashMap<u64, Cached>>,
    shared: Option<(Arc<dyn Cache>, Duration)>,
}

/// The shared cache's key for a project's config.
fn shared_key(project_id: u64) -> String {
    format!("projectconfig:{project_id}")
}

impl ConfigCache {
    /// A cache over `store` whose entries live for `ttl`.
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        ConfigCache {
            store,
            ttl,
            entries: RwLock::new(HashMap::new()),
            shared: None,
        }
    }

    /// Keeps configs in `shared` too, for `ttl`, as a tier between this
    /// process and the store (see the [module docs](self)).
    pub fn with_shared(mut self, shared: Arc<dyn Cache>, ttl: Duration) -> Self {
        self.shared = Some((shared, ttl));
        self
    }

    /// The state of a project, `None` for an unknown project.
    pub async fn get(&self, project_id: u64) -> Result<Option<Arc<ProjectState>>, StoreError> {
        if let Ok(entries) = self.entries.read() {
            if let Some((at, state)) = entries.get(&project_id) {
                if at.elapsed() < self.ttl {
                    return Ok(state.clone());
                }
            }
        }
        let config = match self.shared_get(project_id).await {
            Some(config) => config,
            None => {
                let config = self.store.project_config(project_id).await?;
                self.shared_set(project_id, &config).await;
                config
            }
        };
        let state = config.map(|config| Arc::new(ProjectState::new(config)));
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(project_id, (Instant::now(), state.clone()));
        }
        Ok(state)
    }

    /// The config in the shared cache (`Some(None)`: known not to exist);
    /// `None` if it is not there or the cache failed (then the store
    /// answers).
    async fn shared_get(&self, project_id: u64) -> Option<Option<ProjectConfig>> {
        let (shared, _) = self.shared.as_ref()?;
        let bytes = match shared.get(&shared_key(project_id)).await {
            Ok(bytes) => bytes?,
            Err(error) => {
                tracing::warn!(project_id, %error, "shared config cache failed; reading the store");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(config) => Some(config),
            Err(error) => {
                tracing::warn!(project_id, %error, "unreadable config in the shared cache");
                None
            }
        }
    }

    async fn shared_set(&self, project_id: u64, config: &Option<ProjectConfig>) {
        let Some((shared, ttl)) = &self.shared else {
            return;
        };
        let result = match serde_json::to_vec(config) {
            Ok(bytes) => shared.set(&shared_key(project_id), &bytes, *ttl).await,
            Err(error) => {
                tracing::warn!(project_id, %error, "config not cached");
                return;
            }
        };
        if let Err(error) = result {
            tracing::warn!(project_id, %error, "shared config cache failed");
        }
    }

    /// Forgets a project's config here and in the shared cache: the next
    /// [`get`](Self::get) of any process loads it from the store once its
    /// own entry (kept for the short TTL) expires.
    ///
    /// A process that read the old config from the store just before the
    /// change may write it to the shared cache just after this call; the
    /// shared entry is therefore removed once more, a moment later.
    pub async fn invalidate(&self, project_id: u64) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&project_id);
        }
        let Some((shared, _)) = &self.shared else {
            return;
        };
        let key = shared_key(project_id);
        if let Err(error) = shared.delete(&key).await {
            tracing::warn!(project_id, %error, "shared config cache failed; its entry expires by itself");
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SECOND_INVALIDATION).await;
            if let Err(error) = shared.delete(&key).await {
                tracing::warn!(project_id, %error, "shared config cache failed; its entry expires by itself");
            }
        });
    }
}

/// How long after a change its shared entry is removed a second time.
const SECOND_INVALIDATION: Duration = Duration::from_secs(2);
