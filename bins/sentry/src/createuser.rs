//! `sentry createuser`: adds a user who can sign in to the web UI.
//!
//! It writes to the same database as a running `sentry run` (SQLite in WAL
//! mode lets both do so), so it works while the server runs. With
//! `--database postgres://...` it adds the user to the metadata database of
//! the scaled deployment instead.

use std::path::PathBuf;

use anyhow::{Context, bail};
use sentry_eventstore::Role;
use sentry_eventstore::accounts::hash_password;

/// Arguments of `sentry createuser`.
#[derive(clap::Args, Debug)]
pub(crate) struct CreateUserArgs {
    /// The data directory of the server (where `sentry.db` is).
    #[arg(long, default_value = "./sentry-data", env = "SENTRY_DATA_DIR")]
    data_dir: PathBuf,
    /// The metadata database of the scaled deployment
    /// (`postgres://USER@HOST:PORT/DB`), instead of `DATA_DIR/sentry.db`.
    #[arg(long, env = "SENTRY_METADATA_URL")]
    database: Option<String>,
    /// The user's email address; it is also their login name.
    #[arg(long)]
    email: String,
    /// The password (8 to 256 characters). Without it the user can only use
    /// API tokens until a password is set.
    #[arg(long, env = "SENTRY_CREATEUSER_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Give the user access to every organization.
    #[arg(long)]
    superuser: bool,
    /// The organization to add the user to, if it exists.
    #[arg(long, default_value = "sentry")]
    org: String,
    /// Their role there: member, manager or owner (default: owner for a
    /// superuser, member otherwise).
    #[arg(long)]
    role: Option<Role>,
    /// Update the password, superuser flag and role of an existing user
    /// instead of failing.
    #[arg(long)]
    force_update: bool,
}

pub(crate) fn run(args: CreateUserArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(create(args))
}

async fn create(args: CreateUserArgs) -> anyhow::Result<()> {
    let email = args.email.trim().to_owned();
    if !email.contains('@') || email.len() > 254 {
        bail!("--email must be an email address");
    }
    let hash = args
        .password
        .as_deref()
        .map(hash_password)
        .transpose()
        .context("--password")?;
    let url = match &args.database {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating {}", args.data_dir.display()))?;
            let path = std::fs::canonicalize(&args.data_dir)?.join("sentry.db");
            format!("sqlite://{}", path.display())
        }
    };
    let store = sentry_eventstore::open(&url)
        .await
        .context("opening the database")?;
    let user = match store.user_by_login(&email).await? {
        Some(user) if args.force_update => {
            store.set_superuser(user.id, args.superuser).await?;
            user
        }
        Some(_) => bail!("a user with email {email} exists (use --force-update to change it)"),
        None => store.create_user(&email, &email, args.superuser).await?,
    };
    if hash.is_some() || !args.force_update {
        store.set_password_hash(user.id, hash.as_deref()).await?;
    }
    let role = args.role.unwrap_or(if args.superuser {
        Role::Owner
    } else {
        Role::Member
    });
    match store.organization(&args.org).await? {
        Some(org) => {
            store.set_member(org.id, user.id, role).await?;
            println!(
                "User {email} (id {}) is {} of organization {}{}.",
                user.id,
                role,
                org.slug,
                if args.superuser { ", superuser" } else { "" }
            );
        }
        None => println!(
            "User {email} (id {}) created; organization {:?} does not exist yet, so they belong to none.",
            user.id, args.org
        ),
    }
    Ok(())
}
