-- Sign-in: an Argon2 hash in PHC form (`$argon2id$v=19$...`); NULL means
-- the user cannot sign in with a password (API tokens only).
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN is_active BOOLEAN NOT NULL DEFAULT TRUE;
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email ON users (lower(email));

-- Who belongs to which organization, and with which role.
CREATE TABLE organization_members (
    organization_id BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- 'owner', 'manager' or 'member'.
    role TEXT NOT NULL,
    date_added TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);

-- Browser sessions. Like API tokens, only the SHA-256 of the cookie's
-- value is kept; the CSRF token is bound to the session.
CREATE TABLE sessions (
    key_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);
