//! A cache of project configs in front of the store, shared by the ingest
//! edge and the consumers.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sentry_relay_core::{CompiledProject, ProjectConfig};

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
}

impl ConfigCache {
    /// A cache over `store` whose entries live for `ttl`.
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        ConfigCache {
            store,
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
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
        let state = self
            .store
            .project_config(project_id)
            .await?
            .map(|config| Arc::new(ProjectState::new(config)));
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(project_id, (Instant::now(), state.clone()));
        }
        Ok(state)
    }

    /// Forgets a project's config: the next [`get`](Self::get) loads it.
    pub fn invalidate(&self, project_id: u64) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&project_id);
        }
    }
}
