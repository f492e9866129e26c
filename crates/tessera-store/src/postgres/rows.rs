//! Decoding Postgres rows into records. Every failure is [`StoreError::Corrupt`].

use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
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
/// `detail` is read back as the text it was written as (see the migration).
pub(super) const AUDIT_COLUMNS: &str =
    "id, kind, at, user_id, session_id, ip, user_agent, detail::text AS detail";

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(column)
        .map_err(|err| decode::column_error(column, &err))
}

fn time(row: &PgRow, column: &str) -> Result<time::OffsetDateTime, StoreError> {
    decode::time(column, get(row, column)?)
}

fn opt_time(row: &PgRow, column: &str) -> Result<Option<time::OffsetDateTime>, StoreError> {
    decode::opt_time(column, get(row, column)?)
}

fn hash(row: &PgRow, column: &str) -> Result<tessera_core::TokenHash, StoreError> {
    decode::token_hash(column, get(row, column)?)
}

pub(super) fn user(row: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(get(row, "id")?),
        email: decode::email("email", get(row, "email")?)?,
        password_hash: get(row, "password_hash")?,
        locked: get(row, "locked")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn session(row: &PgRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId(get(row, "id")?),
        user_id: UserId(get(row, "user_id")?),
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

pub(super) fn refresh(row: &PgRow) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        id: get(row, "id")?,
        family_id: get(row, "family_id")?,
        session_id: SessionId(get(row, "session_id")?),
        user_id: UserId(get(row, "user_id")?),
        token_hash: hash(row, "token_hash")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        used_at: opt_time(row, "used_at")?,
        successor_id: get(row, "successor_id")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(super) fn key(row: &PgRow) -> Result<SigningKeyRecord, StoreError> {
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

pub(super) fn client(row: &PgRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: ClientId(get(row, "id")?),
        name: get(row, "name")?,
        secret_hash: hash(row, "secret_hash")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn audit(row: &PgRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: get(row, "id")?,
        event: NewAuditEvent {
            kind: get(row, "kind")?,
            at: time(row, "at")?,
            user_id: get::<Option<uuid::Uuid>>(row, "user_id")?.map(UserId),
            session_id: get::<Option<uuid::Uuid>>(row, "session_id")?.map(SessionId),
            ip: get(row, "ip")?,
            user_agent: get(row, "user_agent")?,
            detail: decode::json("detail", get(row, "detail")?)?,
        },
    })
}

pub(super) fn revoked(row: &PgRow) -> Result<(SessionId, time::OffsetDateTime), StoreError> {
    Ok((SessionId(get(row, "id")?), time(row, "revoked_at")?))
}

pub(super) fn all<T>(
    rows: &[PgRow],
    decode: fn(&PgRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}
