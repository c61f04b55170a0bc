-- Project settings (filters, data scrubbing, quotas, allowed domains) as
-- the JSON text of sentry_relay_core::ProjectSettings; NULL means the
-- settings of a new project.
ALTER TABLE projects ADD COLUMN settings TEXT;

-- A client key's rate limit: at most `count` events per `window` seconds.
ALTER TABLE project_keys ADD COLUMN rate_limit_window BIGINT;
ALTER TABLE project_keys ADD COLUMN rate_limit_count BIGINT;

-- Outcomes summed per minute: what became of the items received.
CREATE TABLE outcomes (
    org_id BIGINT NOT NULL,
    project_id BIGINT NOT NULL,
    -- 0 when the key is unknown.
    key_id BIGINT NOT NULL,
    -- Start of the minute.
    timestamp TIMESTAMPTZ NOT NULL,
    -- Sentry's outcome code: 0 accepted, 1 filtered, 2 rate limited,
    -- 3 invalid, 4 abuse, 5 client discard, 6 cardinality limited.
    outcome BIGINT NOT NULL,
    -- '' when there is none.
    reason TEXT COLLATE "C" NOT NULL,
    category TEXT COLLATE "C" NOT NULL,
    quantity BIGINT NOT NULL,
    times_seen BIGINT NOT NULL,
    PRIMARY KEY (org_id, timestamp, project_id, key_id, outcome, reason, category)
);
CREATE INDEX outcomes_project ON outcomes (project_id, timestamp);
