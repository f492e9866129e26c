-- Server-wide secrets shared by every instance (CSRF key, refresh-successor key).
CREATE TABLE server_secrets (
    name       text   NOT NULL PRIMARY KEY,
    value      bytea  NOT NULL,
    created_at bigint NOT NULL
);
