-- Tessera schema, Postgres. Timestamps are BIGINT unix milliseconds, as in the SQLite schema,
-- so that both backends round-trip exactly the same values; secret hashes are 32-byte BYTEA.

CREATE TABLE users (
    id            UUID    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    locked        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id              UUID   NOT NULL PRIMARY KEY,
    user_id         UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT   NOT NULL,
    secret_hash     BYTEA  NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    revoked_at      BIGINT
);

CREATE UNIQUE INDEX sessions_secret_hash ON sessions (secret_hash);
CREATE INDEX sessions_user_id ON sessions (user_id);
-- One index per sweep condition, so the OR becomes a bitmap OR of index scans.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    id           UUID   NOT NULL PRIMARY KEY,
    family_id    UUID   NOT NULL,
    session_id   UUID   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id      UUID   NOT NULL,
    token_hash   BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    successor_id UUID,
    revoked_at   BIGINT
);

CREATE UNIQUE INDEX refresh_tokens_token_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid            TEXT    NOT NULL PRIMARY KEY,
    algorithm      TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    private_key    BYTEA   NOT NULL,
    public_jwk     TEXT    NOT NULL,
    format_version INTEGER NOT NULL,
    created_at     BIGINT  NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT
);

CREATE TABLE clients (
    id          TEXT   NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    secret_hash BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    user_id    UUID,
    session_id UUID,
    ip         TEXT,
    user_agent TEXT,
    -- JSON rather than JSONB: the text is kept as written, so a detail round-trips exactly.
    detail     JSON   NOT NULL
);

CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
