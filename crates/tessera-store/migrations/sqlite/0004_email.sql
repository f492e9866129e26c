-- E-mail flows: verified addresses, single-use link tokens and the durable outbox.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- Only the SHA-256 of a link's token is kept.
CREATE TABLE email_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,
    token_hash BLOB    NOT NULL,
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE UNIQUE INDEX email_tokens_token_hash ON email_tokens (token_hash);
CREATE INDEX email_tokens_user_purpose ON email_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- One row per mail to send: an intent (kind + recipient), rendered when it is sent.
CREATE TABLE mail_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL,
    user_id         TEXT,
    recipient       TEXT    NOT NULL,
    other_email     TEXT,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    failed_at       INTEGER
) STRICT;

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;
