-- Tessera schema, SQLite. Timestamps are INTEGER unix milliseconds, UUIDs hyphenated lower-case
-- TEXT, secret hashes 32-byte BLOBs. STRICT makes SQLite refuse values of the wrong type.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    locked        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    secret_hash     BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    revoked_at      INTEGER
) STRICT;

CREATE UNIQUE INDEX sessions_secret_hash ON sessions (secret_hash);
CREATE INDEX sessions_user_id ON sessions (user_id);
-- The sweep deletes by either expiry or by revocation time; one index each lets SQLite answer
-- the OR with index lookups instead of a scan.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    family_id    TEXT    NOT NULL,
    session_id   TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    successor_id TEXT,
    revoked_at   INTEGER
) STRICT;

CREATE UNIQUE INDEX refresh_tokens_token_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid            TEXT    NOT NULL PRIMARY KEY,
    algorithm      TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    private_key    BLOB    NOT NULL,
    public_jwk     TEXT    NOT NULL,
    format_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    retired_at     INTEGER
) STRICT;

CREATE TABLE clients (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT so that an id is never reused after the newest event is deleted: ids are the
-- pagination cursor and must only grow.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
