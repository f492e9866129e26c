//! Turning stored values back into domain types. A value that does not decode is reported as
//! [`StoreError::Corrupt`], never a panic: it can only come from a bug or a damaged database.

use std::str::FromStr;

use tessera_core::clock::to_unix_millis;
use tessera_core::model::{KeyState, SessionKind};
use tessera_core::{Email, StoreError, TokenHash};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    to_unix_millis(at)
}

pub(crate) fn opt_millis(at: Option<OffsetDateTime>) -> Option<i64> {
    at.map(to_unix_millis)
}

/// Unlike `clock::from_unix_millis`, an out-of-range value is an error rather than the epoch:
/// silently turning a corrupt expiry into 1970 would make a session look expired, or worse.
pub(crate) fn time(column: &str, millis: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|_| corrupt(column, "timestamp out of range"))
}

pub(crate) fn opt_time(
    column: &str,
    millis: Option<i64>,
) -> Result<Option<OffsetDateTime>, StoreError> {
    millis.map(|m| time(column, m)).transpose()
}

pub(crate) fn uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| corrupt(column, "not a UUID"))
}

pub(crate) fn opt_uuid(column: &str, text: Option<&str>) -> Result<Option<Uuid>, StoreError> {
    text.map(|t| uuid(column, t)).transpose()
}

pub(crate) fn token_hash(column: &str, bytes: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::from_slice(bytes).ok_or_else(|| corrupt(column, "hash is not 32 bytes"))
}

pub(crate) fn email(column: &str, text: &str) -> Result<Email, StoreError> {
    let email = Email::parse(text).map_err(|_| corrupt(column, "not a valid email"))?;
    // A stored email that normalisation would change could never be found by `user_by_email`.
    if email.as_str() == text {
        Ok(email)
    } else {
        Err(corrupt(column, "email is not normalised"))
    }
}

pub(crate) fn session_kind(column: &str, text: &str) -> Result<SessionKind, StoreError> {
    SessionKind::from_str(text).map_err(|_| corrupt(column, "unknown session kind"))
}

pub(crate) fn key_state(column: &str, text: &str) -> Result<KeyState, StoreError> {
    KeyState::from_str(text).map_err(|_| corrupt(column, "unknown key state"))
}

pub(crate) fn json(column: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(column, "not valid JSON"))
}

pub(crate) fn corrupt(column: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{column}: {what}"))
}

/// A column that could not be read as the expected type (wrong type, unexpected NULL).
pub(crate) fn column_error(column: &str, err: &sqlx::Error) -> StoreError {
    StoreError::Corrupt(format!("{column}: {err}"))
}

pub(crate) fn roles(column: &str, text: &str) -> Result<tessera_core::Roles, StoreError> {
    tessera_core::Roles::from_json(text).map_err(|_| corrupt(column, "not a valid roles array"))
}

pub(crate) fn claims(column: &str, text: &str) -> Result<tessera_core::CustomClaims, StoreError> {
    tessera_core::CustomClaims::from_json(text)
        .map_err(|_| corrupt(column, "not a valid claims object"))
}

pub(crate) fn scope(
    column: &str,
    text: Option<&str>,
) -> Result<Option<tessera_core::Scope>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => tessera_core::Scope::parse(text)
            .ok()
            .flatten()
            .map(Some)
            .ok_or_else(|| corrupt(column, "not a valid scope")),
    }
}
