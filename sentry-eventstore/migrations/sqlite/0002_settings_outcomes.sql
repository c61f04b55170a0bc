-- Project settings (filters, data scrubbing, quotas, allowed domains) as
-- the JSON of sentry_relay_core::ProjectSettings; NULL means the settings
-- of a new project.
ALTER TABLE projects ADD COLUMN settings TEXT;

-- A client key's rate limit: at most `count` events per `window` seconds.
ALTER TABLE project_keys ADD COLUMN rate_limit_window INTEGER;
ALTER TABLE project_keys ADD COLUMN rate_limit_count INTEGER;

-- Outcomes summed per minute: what became of the items received.
CREATE TABLE outcomes (
    org_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    -- 0 when the key is unknown.
    key_id INTEGER NOT NULL,
    -- Start of the minute, Unix seconds.
    timestamp INTEGER NOT NULL,
    -- Sentry's outcome code: 0 accepted, 1 filtered, 2 rate limited,
    -- 3 invalid, 4 abuse, 5 client discard, 6 cardinality limited.
    outcome INTEGER NOT NULL,
    -- '' when there is none.
    reason TEXT NOT NULL,
    category TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    times_seen INTEGER NOT NULL,
    PRIMARY KEY (org_id, timestamp, project_id, key_id, outcome, reason, category)
) WITHOUT ROWID;
CREATE INDEX outcomes_project ON outcomes (project_id, timestamp);
