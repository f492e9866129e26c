-- Passkeys (issue 14, part 2): WebAuthn credentials, several per user, and the pending
-- ceremonies (serialised webauthn-rs state, single use, short-lived) so that a ceremony may
-- start on one instance and finish on another.
CREATE TABLE passkeys (
    id            TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    credential    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;

CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    user_id    TEXT    REFERENCES users (id) ON DELETE CASCADE,
    state      BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
