//! Decoding SQLite rows into records. Every failure is [`StoreError::Corrupt`].

use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use tessera_core::model::{
    AuditEvent, Client, NewAuditEvent, RefreshToken, Session, SigningKeyRecord, User,
};
use tessera_core::{ClientId, SessionId, StoreError, UserId};

use crate::decode;

pub(super) const USER_COLUMNS: &str = "id, email, password_hash, locked, created_at, updated_at";
pub(super) const SESSION_COLUMNS: &str = "id, user_id, kind, secret_hash, created_at, \
     last_seen_at, idle_expires_at, expires_at, ip, user_agent, revoked_at";
pub(super) const REFRESH_COLUMNS: &str = "id, family_id, session_id, user_id, token_hash, \
     created_at, expires_at, used_at, successor_id, revoked_at";
pub(super) const KEY_COLUMNS: &str = "kid, algorithm, state, private_key, public_jwk, \
     format_version, created_at, activated_at, retired_at";
pub(super) const CLIENT_COLUMNS: &str = "id, name, secret_hash, created_at";
pub(super) const AUDIT_COLUMNS: &str = "id, kind, at, user_id, session_id, ip, user_agent, detail";

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(column)
        .map_err(|err| decode::column_error(column, &err))
}

fn time(row: &SqliteRow, column: &str) -> Result<time::OffsetDateTime, StoreError> {
    decode::time(column, get(row, column)?)
}

fn opt_time(row: &SqliteRow, column: &str) -> Result<Option<time::OffsetDateTime>, StoreError> {
    decode::opt_time(column, get(row, column)?)
}

fn uuid(row: &SqliteRow, column: &str) -> Result<uuid::Uuid, StoreError> {
    decode::uuid(column, get(row, column)?)
}

fn opt_uuid(row: &SqliteRow, column: &str) -> Result<Option<uuid::Uuid>, StoreError> {
    decode::opt_uuid(column, get(row, column)?)
}

fn hash(row: &SqliteRow, column: &str) -> Result<tessera_core::TokenHash, StoreError> {
    decode::token_hash(column, get(row, column)?)
}

pub(super) fn user(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(uuid(row, "id")?),
        email: decode::email("email", get(row, "email")?)?,
        password_hash: get(row, "password_hash")?,
        locked: get(row, "locked")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn session(row: &SqliteRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId(uuid(row, "id")?),
        user_id: UserId(uuid(row, "user_id")?),
        kind: decode::session_kind("kind", get(row, "kind")?)?,
        secret_hash: hash(row, "secret_hash")?,
        created_at: time(row, "created_at")?,
        last_seen_at: time(row, "last_seen_at")?,
        idle_expires_at: time(row, "idle_expires_at")?,
        expires_at: time(row, "expires_at")?,
        ip: get(row, "ip")?,
        user_agent: get(row, "user_agent")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(super) fn refresh(row: &SqliteRow) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        id: uuid(row, "id")?,
        family_id: uuid(row, "family_id")?,
        session_id: SessionId(uuid(row, "session_id")?),
        user_id: UserId(uuid(row, "user_id")?),
        token_hash: hash(row, "token_hash")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        used_at: opt_time(row, "used_at")?,
        successor_id: opt_uuid(row, "successor_id")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(super) fn key(row: &SqliteRow) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: get(row, "kid")?,
        algorithm: get(row, "algorithm")?,
        state: decode::key_state("state", get(row, "state")?)?,
        private_key: get(row, "private_key")?,
        public_jwk: get(row, "public_jwk")?,
        format_version: get(row, "format_version")?,
        created_at: time(row, "created_at")?,
        activated_at: opt_time(row, "activated_at")?,
        retired_at: opt_time(row, "retired_at")?,
    })
}

pub(super) fn client(row: &SqliteRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: ClientId(get(row, "id")?),
        name: get(row, "name")?,
        secret_hash: hash(row, "secret_hash")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn audit(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: get(row, "id")?,
        event: NewAuditEvent {
            kind: get(row, "kind")?,
            at: time(row, "at")?,
            user_id: opt_uuid(row, "user_id")?.map(UserId),
            session_id: opt_uuid(row, "session_id")?.map(SessionId),
            ip: get(row, "ip")?,
            user_agent: get(row, "user_agent")?,
            detail: decode::json("detail", get(row, "detail")?)?,
        },
    })
}

pub(super) fn all<T>(
    rows: &[SqliteRow],
    decode: fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}
