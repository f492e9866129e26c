-- Server-wide secrets shared by every instance (CSRF key, refresh-successor key).
CREATE TABLE server_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
