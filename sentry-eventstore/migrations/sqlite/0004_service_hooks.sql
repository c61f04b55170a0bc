-- Service hooks: URLs a project's events are posted to after they are
-- stored and queryable (the post-process forwarder sends them).
CREATE TABLE service_hooks (
    id INTEGER PRIMARY KEY,
    -- The public id (32 hex digits), in the API's paths.
    guid TEXT NOT NULL UNIQUE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- Signs each request (HMAC-SHA256 of the body).
    secret TEXT NOT NULL,
    -- Space-separated: 'event.created', 'event.alert'.
    events TEXT NOT NULL,
    -- 'active' or 'disabled'.
    status TEXT NOT NULL,
    date_added INTEGER NOT NULL
);
CREATE INDEX service_hooks_project ON service_hooks (project_id);
