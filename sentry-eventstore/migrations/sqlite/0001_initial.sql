-- Metadata, grouping and the event index of the embedded deployment.
-- Times are microseconds since the Unix epoch (UTC).

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    date_created INTEGER NOT NULL
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    UNIQUE (organization_id, slug)
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    platform TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    next_short_id INTEGER NOT NULL DEFAULT 1,
    date_created INTEGER NOT NULL,
    UNIQUE (organization_id, slug)
);

CREATE TABLE project_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    secret_key TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    date_created INTEGER NOT NULL
);
CREATE INDEX project_keys_project ON project_keys (project_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    date_joined INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- SHA-256 of the token, hex; the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    token_last_characters TEXT NOT NULL,
    scopes TEXT NOT NULL,
    date_created INTEGER NOT NULL
);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    short_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'unresolved',
    event_type TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT,
    level TEXT NOT NULL,
    platform TEXT,
    logger TEXT,
    metadata TEXT NOT NULL,
    is_unhandled INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 0,
    user_count INTEGER NOT NULL DEFAULT 0,
    first_release TEXT,
    resolved_at INTEGER,
    UNIQUE (project_id, short_id)
);
CREATE INDEX groups_project_last_seen ON groups (project_id, last_seen);
CREATE INDEX groups_status_last_seen ON groups (status, last_seen);

CREATE TABLE group_hashes (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, hash)
);
CREATE INDEX group_hashes_group ON group_hashes (group_id);

CREATE TABLE group_users (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_key TEXT NOT NULL,
    PRIMARY KEY (group_id, user_key)
) WITHOUT ROWID;

CREATE TABLE events (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    timestamp INTEGER NOT NULL,
    received INTEGER NOT NULL,
    level TEXT NOT NULL,
    release TEXT,
    environment TEXT,
    user_key TEXT,
    PRIMARY KEY (project_id, event_id)
);
CREATE INDEX events_group_timestamp ON events (group_id, timestamp);

-- The nodestore: the full normalized event, keyed by project and event id.
-- `codec` says how `data` is encoded: 'zstd' (compressed JSON) or 'json'.
-- A rowid table: its rows (kilobytes) are too large for WITHOUT ROWID.
CREATE TABLE nodestore (
    project_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    codec TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (project_id, event_id)
);

CREATE TABLE releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    UNIQUE (organization_id, version)
);

CREATE TABLE release_projects (
    release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    first_event INTEGER,
    last_event INTEGER,
    PRIMARY KEY (release_id, project_id)
) WITHOUT ROWID;

CREATE TABLE environments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE environment_projects (
    environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (environment_id, project_id)
) WITHOUT ROWID;
