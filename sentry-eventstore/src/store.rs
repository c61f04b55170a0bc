//! The store trait: metadata, issues, the event index and the nodestore.

use async_trait::async_trait;
use sentry_envelope::protocol::EventId;
use sentry_relay_core::ProjectConfig;
use sentry_relay_core::outcome::Outcome;

use crate::error::Result;
use crate::models::{
    ApiToken, EventSelector, Issue, IssueQuery, IssueStatus, KeyUpdate, Member, NewEvent,
    NewProject, Organization, OutcomeQuery, OutcomeTotal, Project, ProjectKey, ProjectUpdate,
    ReadRange, Role, SaveOutcome, ServiceHook, Session, StoredEvent, Team, User,
};

/// Everything the ingest consumer and the web API need from storage.
///
/// Implementations: [`SqliteStore`](crate::SqliteStore) (the embedded
/// default) and, with the `postgres` feature, `PostgresStore` (the scaled
/// deployment's). Pick one by URL with [`open`](crate::open).
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates an organization.
    async fn create_organization(&self, slug: &str, name: &str) -> Result<Organization>;
    /// An organization by slug.
    async fn organization(&self, slug: &str) -> Result<Option<Organization>>;
    /// Creates a team.
    async fn create_team(&self, organization_id: i64, slug: &str, name: &str) -> Result<Team>;
    /// A team by slug.
    async fn team(&self, organization_id: i64, slug: &str) -> Result<Option<Team>>;
    /// Creates a project with one active key, like Sentry does.
    async fn create_project(
        &self,
        organization_id: i64,
        team_id: Option<i64>,
        project: NewProject,
    ) -> Result<Project>;
    /// The projects of an organization, by slug.
    async fn projects(&self, organization_id: i64) -> Result<Vec<Project>>;
    /// A project by slug.
    async fn project(&self, organization_id: i64, slug: &str) -> Result<Option<Project>>;
    /// A project by id.
    async fn project_by_id(&self, id: i64) -> Result<Option<Project>>;
    /// Creates a client key.
    async fn create_key(&self, project_id: i64, label: &str) -> Result<ProjectKey>;
    /// The keys of a project.
    async fn keys(&self, project_id: i64) -> Result<Vec<ProjectKey>>;
    /// Enables or disables a key.
    async fn set_key_active(&self, key_id: i64, active: bool) -> Result<()>;
    /// Changes a key's name, state or rate limit; returns the key as it
    /// is now.
    async fn update_key(&self, key_id: i64, update: &KeyUpdate) -> Result<ProjectKey>;
    /// Changes a project's name, slug, platform or settings; returns the
    /// project as it is now.
    async fn update_project(&self, project_id: i64, update: &ProjectUpdate) -> Result<Project>;
    /// The project a client key belongs to (for `/api/store/` without a
    /// project in the path).
    async fn project_for_key(&self, public_key: &str) -> Result<Option<i64>>;
    /// The config the ingest edge checks requests against.
    async fn project_config(&self, project_id: u64) -> Result<Option<ProjectConfig>>;

    /// Creates a user.
    async fn create_user(&self, username: &str, email: &str, superuser: bool) -> Result<User>;
    /// A user by id.
    async fn user(&self, id: i64) -> Result<Option<User>>;
    /// Stores a token (only its hash is kept).
    async fn create_token(&self, user_id: i64, token: &str, scopes: &[String]) -> Result<ApiToken>;
    /// Looks a token up.
    async fn token(&self, token: &str) -> Result<Option<ApiToken>>;

    /// A user by email address or username.
    async fn user_by_login(&self, login: &str) -> Result<Option<User>>;
    /// Every user.
    async fn users(&self) -> Result<Vec<User>>;
    /// Sets (or, with `None`, clears) a user's password hash (PHC form) and
    /// ends their sessions.
    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<()>;
    /// A user's password hash, if they have one.
    async fn password_hash(&self, user_id: i64) -> Result<Option<String>>;
    /// Makes a user superuser or not.
    async fn set_superuser(&self, user_id: i64, superuser: bool) -> Result<()>;
    /// A user's tokens, newest first.
    async fn tokens(&self, user_id: i64) -> Result<Vec<ApiToken>>;
    /// Deletes one of a user's tokens; false when they have no such token.
    async fn delete_token(&self, user_id: i64, token_id: i64) -> Result<bool>;

    /// Creates a service hook of a project, active, with a new guid and
    /// secret.
    async fn create_service_hook(
        &self,
        project_id: i64,
        url: &str,
        events: &[String],
    ) -> Result<ServiceHook>;
    /// The service hooks of a project, oldest first.
    async fn service_hooks(&self, project_id: i64) -> Result<Vec<ServiceHook>>;
    /// Sets a hook's URL and events; `None` if the project has no such hook.
    async fn update_service_hook(
        &self,
        project_id: i64,
        guid: &str,
        url: &str,
        events: &[String],
    ) -> Result<Option<ServiceHook>>;
    /// Deletes a hook; `false` if the project has no such hook.
    async fn delete_service_hook(&self, project_id: i64, guid: &str) -> Result<bool>;

    /// Every organization, by slug.
    async fn organizations(&self) -> Result<Vec<Organization>>;
    /// Adds a user to an organization, or changes their role there.
    async fn set_member(&self, organization_id: i64, user_id: i64, role: Role) -> Result<()>;
    /// Removes a user from an organization; false when they were not in it.
    async fn remove_member(&self, organization_id: i64, user_id: i64) -> Result<bool>;
    /// A user's role in an organization, if they belong to it.
    async fn role(&self, organization_id: i64, user_id: i64) -> Result<Option<Role>>;
    /// The members of an organization, by email.
    async fn members(&self, organization_id: i64) -> Result<Vec<Member>>;
    /// The organizations a user belongs to, with their roles.
    async fn memberships(&self, user_id: i64) -> Result<Vec<(Organization, Role)>>;
    /// The teams of an organization, by slug.
    async fn teams(&self, organization_id: i64) -> Result<Vec<Team>>;

    /// Starts a session; `key` is the cookie's secret (only its hash is
    /// kept).
    async fn create_session(&self, key: &str, session: &Session) -> Result<()>;
    /// The unexpired session a cookie names.
    async fn session(&self, key: &str) -> Result<Option<Session>>;
    /// Ends a session.
    async fn delete_session(&self, key: &str) -> Result<()>;

    /// Saves events in one transaction. Idempotent on (project, event id):
    /// an event already stored is left alone and reported with
    /// `created: false`.
    async fn save_events(&self, events: &[NewEvent]) -> Result<Vec<SaveOutcome>>;
    /// Issues matching a query, in its sort order.
    async fn issues(&self, organization_id: i64, query: &IssueQuery) -> Result<Vec<Issue>>;
    /// One issue of an organization.
    async fn issue(&self, organization_id: i64, id: i64) -> Result<Option<Issue>>;
    /// Sets the status of issues; returns how many changed.
    async fn set_issue_status(
        &self,
        organization_id: i64,
        ids: &[i64],
        status: IssueStatus,
    ) -> Result<u64>;
    /// Deletes an issue with its events.
    async fn delete_issue(&self, organization_id: i64, id: i64) -> Result<bool>;
    /// The events of an issue, newest first.
    async fn issue_events(
        &self,
        group_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>>;
    /// One event of an issue.
    async fn issue_event(&self, group_id: i64, which: EventSelector)
    -> Result<Option<StoredEvent>>;
    /// An event by id.
    async fn event(&self, project_id: i64, event_id: EventId) -> Result<Option<StoredEvent>>;
    /// Adds outcomes to the per-minute sums. With `read`, the outcomes
    /// come from those stream records, and the store remembers, in the same
    /// transaction, that they were added: if another call already added a
    /// record of `read` (a redelivery), nothing is added and the answer is
    /// [`StoreError::AlreadyAdded`](crate::StoreError::AlreadyAdded).
    async fn record_outcomes(&self, outcomes: &[Outcome], read: &[ReadRange]) -> Result<()>;
    /// Per partition of `topic`, the offset after the last record `group`
    /// added with [`record_outcomes`](Self::record_outcomes).
    async fn stream_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>>;
    /// Sums of outcomes per time bucket, project, key, outcome, reason and
    /// category, oldest bucket first.
    async fn outcomes(&self, query: &OutcomeQuery) -> Result<Vec<OutcomeTotal>>;
    /// The ids of the events before and after one in its issue.
    async fn neighbours(&self, event: &StoredEvent) -> Result<(Option<EventId>, Option<EventId>)>;
}
