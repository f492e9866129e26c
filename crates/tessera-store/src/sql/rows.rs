//! Column lists and decoding rows into records. Every failure is [`StoreError::Corrupt`].

use tessera_core::factor::{Amr, ChallengePurpose, Factor, MfaChallenge};
use tessera_core::mail::{EmailToken, OutboxMail};
use tessera_core::model::{
    AuditEvent, Client, NewAuditEvent, RefreshToken, Session, SigningKeyRecord, User,
};
use tessera_core::{ClientId, SessionId, StoreError, TokenHash, UserId};
use time::OffsetDateTime;

use super::Row;
use crate::decode;

pub(super) const USER_COLUMNS: &str =
    "id, email, password_hash, locked, email_verified_at, roles, claims, created_at, updated_at";
pub(super) const EMAIL_TOKEN_COLUMNS: &str =
    "id, user_id, purpose, token_hash, email, created_at, expires_at, used_at";
pub(super) const OUTBOX_COLUMNS: &str = "id, kind, user_id, recipient, other_email, created_at, \
     attempts, next_attempt_at, lease_until, last_error, failed_at";
pub(super) const SESSION_COLUMNS: &str = "id, user_id, kind, secret_hash, created_at, \
     last_seen_at, idle_expires_at, expires_at, ip, user_agent, revoked_at, scope, amr, factor_at";
pub(super) const FACTOR_COLUMNS: &str =
    "id, user_id, kind, secret, secret_format, confirmed_at, last_step, created_at";
pub(super) const CHALLENGE_COLUMNS: &str =
    "id, user_id, token_hash, purpose, client_id, scope, created_at, expires_at, used_at";
pub(super) const REFRESH_COLUMNS: &str = "id, family_id, session_id, user_id, token_hash, \
     created_at, expires_at, used_at, successor_id, revoked_at";
pub(super) const KEY_COLUMNS: &str = "kid, algorithm, state, private_key, public_jwk, \
     format_version, created_at, activated_at, retired_at";
pub(super) const CLIENT_COLUMNS: &str = "id, name, secret_hash, created_at";
/// `detail` is read back as the text it was written as (JSON, not JSONB, on Postgres).
pub(super) const AUDIT_COLUMNS: &str =
    "id, kind, at, user_id, session_id, ip, user_agent, CAST(detail AS TEXT) AS detail";

pub(super) fn time(row: &Row, column: &str) -> Result<OffsetDateTime, StoreError> {
    decode::time(column, row.get(column)?)
}

pub(super) fn opt_time(row: &Row, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    decode::opt_time(column, row.get(column)?)
}

fn hash(row: &Row, column: &str) -> Result<TokenHash, StoreError> {
    decode::token_hash(column, row.get(column)?)
}

pub(super) fn user(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.id("id")?),
        email: decode::email("email", row.get("email")?)?,
        password_hash: row.get("password_hash")?,
        locked: row.get("locked")?,
        email_verified_at: opt_time(row, "email_verified_at")?,
        roles: decode::roles("roles", row.get("roles")?)?,
        claims: decode::claims("claims", row.get("claims")?)?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn session(row: &Row) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId(row.id("id")?),
        user_id: UserId(row.id("user_id")?),
        kind: decode::session_kind("kind", row.get("kind")?)?,
        secret_hash: hash(row, "secret_hash")?,
        created_at: time(row, "created_at")?,
        last_seen_at: time(row, "last_seen_at")?,
        idle_expires_at: time(row, "idle_expires_at")?,
        expires_at: time(row, "expires_at")?,
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
        revoked_at: opt_time(row, "revoked_at")?,
        scope: decode::scope("scope", row.get::<Option<String>>("scope")?.as_deref())?,
        amr: Amr::from_stored(row.get("amr")?),
        factor_at: opt_time(row, "factor_at")?,
    })
}

pub(super) fn factor(row: &Row) -> Result<Factor, StoreError> {
    Ok(Factor {
        id: row.id("id")?,
        user_id: UserId(row.id("user_id")?),
        kind: row
            .get::<&str>("kind")?
            .parse()
            .map_err(|_| decode::corrupt("kind", "unknown factor kind"))?,
        secret: row.get("secret")?,
        secret_format: row.get("secret_format")?,
        confirmed_at: opt_time(row, "confirmed_at")?,
        last_step: row.get("last_step")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn challenge(row: &Row) -> Result<MfaChallenge, StoreError> {
    let scope = decode::scope("scope", row.get::<Option<String>>("scope")?.as_deref())?;
    let purpose = match (
        row.get::<&str>("purpose")?,
        row.get::<Option<String>>("client_id")?,
    ) {
        ("session", _) => ChallengePurpose::Session,
        ("token", Some(client_id)) => ChallengePurpose::Token { client_id, scope },
        _ => return Err(decode::corrupt("purpose", "unknown challenge purpose")),
    };
    Ok(MfaChallenge {
        id: row.id("id")?,
        user_id: UserId(row.id("user_id")?),
        token_hash: hash(row, "token_hash")?,
        purpose,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        used_at: opt_time(row, "used_at")?,
    })
}

pub(super) fn refresh(row: &Row) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        id: row.id("id")?,
        family_id: row.id("family_id")?,
        session_id: SessionId(row.id("session_id")?),
        user_id: UserId(row.id("user_id")?),
        token_hash: hash(row, "token_hash")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        used_at: opt_time(row, "used_at")?,
        successor_id: row.opt_id("successor_id")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(super) fn key(row: &Row) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: row.get("kid")?,
        algorithm: row.get("algorithm")?,
        state: decode::key_state("state", row.get("state")?)?,
        private_key: row.get("private_key")?,
        public_jwk: row.get("public_jwk")?,
        format_version: row.get("format_version")?,
        created_at: time(row, "created_at")?,
        activated_at: opt_time(row, "activated_at")?,
        retired_at: opt_time(row, "retired_at")?,
    })
}

pub(super) fn client(row: &Row) -> Result<Client, StoreError> {
    Ok(Client {
        id: ClientId(row.get("id")?),
        name: row.get("name")?,
        secret_hash: hash(row, "secret_hash")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn audit(row: &Row) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: row.get("id")?,
        event: NewAuditEvent {
            kind: row.get("kind")?,
            at: time(row, "at")?,
            user_id: row.opt_id("user_id")?.map(UserId),
            session_id: row.opt_id("session_id")?.map(SessionId),
            ip: row.get("ip")?,
            user_agent: row.get("user_agent")?,
            detail: decode::json("detail", row.get("detail")?)?,
        },
    })
}

pub(super) fn session_id(row: &Row) -> Result<SessionId, StoreError> {
    row.id("id").map(SessionId)
}

pub(super) fn revoked(row: &Row) -> Result<(SessionId, OffsetDateTime), StoreError> {
    Ok((session_id(row)?, time(row, "revoked_at")?))
}

pub(super) fn email_token(row: &Row) -> Result<EmailToken, StoreError> {
    Ok(EmailToken {
        id: row.id("id")?,
        user_id: UserId(row.id("user_id")?),
        purpose: row
            .get::<&str>("purpose")?
            .parse()
            .map_err(|_| decode::corrupt("purpose", "unknown token purpose"))?,
        token_hash: hash(row, "token_hash")?,
        email: decode::email("email", row.get("email")?)?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        used_at: opt_time(row, "used_at")?,
    })
}

pub(super) fn outbox_mail(row: &Row) -> Result<OutboxMail, StoreError> {
    let attempts: i32 = row.get("attempts")?;
    Ok(OutboxMail {
        id: row.id("id")?,
        kind: row
            .get::<&str>("kind")?
            .parse()
            .map_err(|_| decode::corrupt("kind", "unknown mail kind"))?,
        user_id: row.opt_id("user_id")?.map(UserId),
        recipient: decode::email("recipient", row.get("recipient")?)?,
        other_email: row
            .get::<Option<&str>>("other_email")?
            .map(|e| decode::email("other_email", e))
            .transpose()?,
        created_at: time(row, "created_at")?,
        attempts: u32::try_from(attempts).map_err(|_| decode::corrupt("attempts", "negative"))?,
        next_attempt_at: time(row, "next_attempt_at")?,
        lease_until: opt_time(row, "lease_until")?,
        last_error: row.get("last_error")?,
        failed_at: opt_time(row, "failed_at")?,
    })
}
