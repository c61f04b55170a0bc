//! First start: the organization, team, project, key, user and token a new
//! installation begins with.

use crate::error::Result;
use crate::models::{NewProject, Organization, Project, ProjectKey};
use crate::store::Store;

/// The scopes of the bootstrap admin token: everything.
pub const ADMIN_SCOPES: &[&str] = &[
    "org:admin",
    "org:read",
    "org:write",
    "project:admin",
    "project:read",
    "project:write",
    "project:releases",
    "team:admin",
    "team:read",
    "team:write",
    "event:admin",
    "event:read",
    "event:write",
    "member:admin",
    "member:read",
    "member:write",
];

/// What [`bootstrap`] created.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// Organization `sentry`.
    pub organization: Organization,
    /// Project `internal`.
    pub project: Project,
    /// Its first key.
    pub key: ProjectKey,
    /// The admin token (only known here: the store keeps its hash).
    pub token: String,
}

/// Creates organization `sentry`, team `sentry`, project `internal` with a
/// key, user `admin` and an admin API token (`token`, or a new random one).
pub async fn bootstrap(store: &dyn Store, token: Option<String>) -> Result<Bootstrap> {
    let organization = store.create_organization("sentry", "Sentry").await?;
    let team = store
        .create_team(organization.id, "sentry", "Sentry")
        .await?;
    let project = store
        .create_project(
            organization.id,
            Some(team.id),
            NewProject {
                name: "Internal".into(),
                slug: Some("internal".into()),
                platform: None,
            },
        )
        .await?;
    let key = store
        .keys(project.id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| crate::StoreError::NotFound {
            what: "key of the new project".into(),
        })?;
    let user = store.create_user("admin", "admin@localhost", true).await?;
    store
        .set_member(organization.id, user.id, crate::Role::Owner)
        .await?;
    let token = token.unwrap_or_else(new_token);
    let scopes: Vec<String> = ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    store.create_token(user.id, &token, &scopes).await?;
    Ok(Bootstrap {
        organization,
        project,
        key,
        token,
    })
}

/// A new random API token: 64 hex digits.
pub fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
