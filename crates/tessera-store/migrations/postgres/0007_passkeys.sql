-- Passkeys (issue 14, part 2): WebAuthn credentials, several per user, and the pending
-- ceremonies (serialised webauthn-rs state, single use, short-lived) so that a ceremony may
-- start on one instance and finish on another.
CREATE TABLE passkeys (
    id            UUID   NOT NULL PRIMARY KEY,
    user_id       UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA  NOT NULL,
    name          TEXT   NOT NULL,
    credential    BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);

CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id         UUID   NOT NULL PRIMARY KEY,
    kind       TEXT   NOT NULL,
    user_id    UUID   REFERENCES users (id) ON DELETE CASCADE,
    state      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
