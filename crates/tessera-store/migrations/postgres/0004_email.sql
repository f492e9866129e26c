-- E-mail flows: verified addresses, single-use link tokens and the durable outbox.
ALTER TABLE users ADD COLUMN email_verified_at bigint;

-- Only the SHA-256 of a link's token is kept.
CREATE TABLE email_tokens (
    id         uuid   NOT NULL PRIMARY KEY,
    user_id    uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text   NOT NULL,
    token_hash bytea  NOT NULL,
    email      text   NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint
);

CREATE UNIQUE INDEX email_tokens_token_hash ON email_tokens (token_hash);
CREATE INDEX email_tokens_user_purpose ON email_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- One row per mail to send: an intent (kind + recipient), rendered when it is sent.
CREATE TABLE mail_outbox (
    id              uuid    NOT NULL PRIMARY KEY,
    kind            text    NOT NULL,
    user_id         uuid,
    recipient       text    NOT NULL,
    other_email     text,
    created_at      bigint  NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint  NOT NULL,
    lease_until     bigint,
    last_error      text,
    failed_at       bigint
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;
