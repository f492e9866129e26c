-- Second factors (issue 14): how each session was authenticated, the factors themselves,
-- recovery codes (SHA-256 only) and the pending second step of a login (SHA-256 only).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN factor_at INTEGER;

-- `secret` is the TOTP key, sealed with keys.encryption_key when one is available
-- (`secret_format` says which). At most one factor of a kind per user.
CREATE TABLE factors (
    id            TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    secret        BLOB    NOT NULL,
    secret_format INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX factors_user_kind ON factors (user_id, kind);

CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE mfa_challenges (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB    NOT NULL,
    purpose    TEXT    NOT NULL,
    client_id  TEXT,
    scope      TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE UNIQUE INDEX mfa_challenges_token_hash ON mfa_challenges (token_hash);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
