//! Refresh-token rotation with reuse detection.
//!
//! Every refresh spends the presented token and mints its successor; the tokens of one login
//! form a family bound to one token session. Presenting a spent token again means two parties
//! hold it, so the family and its session must die (`Reused`), unless it happens within the
//! grace window and the successor is still untouched: then it is a client retrying a request
//! whose response it lost, and it gets the same successor again (`GraceReplay`).
//!
//! The successor's secret is derived from the presented secret under a server key
//! ([`SecretToken::derive`]), so the grace replay can hand it out again without any secret
//! being stored; its hash is checked against the stored successor before it is handed out.

use std::fmt;

use tessera_core::model::SpendOutcome;
use tessera_core::store::{RefreshStore, StoreResult};
use tessera_core::{RefreshToken, SecretToken, SessionId, TokenKind, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// `token.refresh_ttl` and `token.refresh_reuse_grace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Lifetime of each refresh token, counted from its own issue (sliding).
    pub ttl: Duration,
    /// How long after a token is spent a second presentation still gets the same successor.
    /// Zero (the default) turns replays off: any second presentation is theft.
    pub grace: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::days(30),
            grace: Duration::ZERO,
        }
    }
}

/// A refresh token handed to a client, with the ids the caller needs for the access token.
#[derive(Clone)]
pub struct Rotation {
    /// The secret for the client (`tsr_…`). Shown once; `Debug` redacts it.
    pub secret: SecretToken,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("secret", &self.secret)
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("family_id", &self.family_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub enum RotateResult {
    /// The token was spent and its successor minted.
    Rotated(Rotation),
    /// The token was already spent moments ago (within the grace window) and its successor is
    /// untouched: the same successor again.
    GraceReplay(Rotation),
    /// A spent token came back: theft. The caller must revoke the family
    /// (`revoke_refresh_family`) and the session, log `refresh_reused`, and answer
    /// `invalid_grant`.
    Reused {
        family_id: Uuid,
        session_id: SessionId,
        user_id: UserId,
    },
    /// Unknown, expired or revoked: `invalid_grant`, nothing else to do.
    Invalid,
}

/// The first refresh token of a new family, for the token session `session_id`.
pub async fn issue_family(
    store: &dyn RefreshStore,
    session_id: SessionId,
    user_id: UserId,
    now: OffsetDateTime,
    policy: &RefreshPolicy,
) -> StoreResult<Rotation> {
    let secret = SecretToken::generate(TokenKind::Refresh);
    let record = new_record(&secret, Uuid::new_v4(), session_id, user_id, now, policy);
    store.insert_refresh(&record).await?;
    Ok(rotation(secret, &record))
}

/// Exchanges `presented` for its successor. `successor_key` is the server secret the
/// successor is derived under; every instance must use the same one, and it must stay secret
/// (at least 32 random bytes): whoever knows it and a spent token can compute the successor.
///
/// The session itself is not consulted here: the caller checks that it is still live before
/// issuing an access token.
pub async fn rotate(
    store: &dyn RefreshStore,
    presented: &SecretToken,
    successor_key: &[u8],
    now: OffsetDateTime,
    policy: &RefreshPolicy,
) -> StoreResult<RotateResult> {
    debug_assert!(
        successor_key.len() >= 32,
        "the successor key must be a server secret of at least 32 bytes"
    );
    if presented.kind() != TokenKind::Refresh {
        return Ok(RotateResult::Invalid);
    }
    let Some(token) = store.refresh_by_hash(&presented.hash()).await? else {
        return Ok(RotateResult::Invalid);
    };
    if token.revoked_at.is_some() || now >= token.expires_at {
        return Ok(RotateResult::Invalid);
    }
    let successor_secret = SecretToken::derive(TokenKind::Refresh, successor_key, presented);
    if token.used_at.is_some() {
        return after_spent(store, &token, successor_secret, now, policy).await;
    }
    let successor = new_record(
        &successor_secret,
        token.family_id,
        token.session_id,
        token.user_id,
        now,
        policy,
    );
    match store.spend_refresh(token.id, now, &successor).await? {
        SpendOutcome::Rotated => Ok(RotateResult::Rotated(rotation(
            successor_secret,
            &successor,
        ))),
        // Another request won the race (or a revocation landed): judge it as a replay.
        SpendOutcome::AlreadySpent(current) => {
            if current.revoked_at.is_some() || current.used_at.is_none() {
                return Ok(RotateResult::Invalid);
            }
            after_spent(store, &current, successor_secret, now, policy).await
        }
        SpendOutcome::NotFound => Ok(RotateResult::Invalid),
    }
}

async fn after_spent(
    store: &dyn RefreshStore,
    spent: &RefreshToken,
    successor_secret: SecretToken,
    now: OffsetDateTime,
    policy: &RefreshPolicy,
) -> StoreResult<RotateResult> {
    let reused = RotateResult::Reused {
        family_id: spent.family_id,
        session_id: spent.session_id,
        user_id: spent.user_id,
    };
    let within_grace = policy.grace > Duration::ZERO
        && spent
            .used_at
            .is_some_and(|used_at| now - used_at <= policy.grace);
    if !within_grace {
        return Ok(reused);
    }
    let Some(successor_id) = spent.successor_id else {
        return Ok(reused);
    };
    let Some(successor) = store.refresh_by_id(successor_id).await? else {
        return Ok(reused);
    };
    let untouched =
        successor.used_at.is_none() && successor.revoked_at.is_none() && now < successor.expires_at;
    if !untouched {
        return Ok(reused);
    }
    // The derivation key is shared by every instance; if it was changed since the successor
    // was minted we cannot reproduce it, and handing out a secret that does not match would
    // only fail later. Not theft either, so just refuse.
    if successor.token_hash != successor_secret.hash() {
        return Ok(RotateResult::Invalid);
    }
    Ok(RotateResult::GraceReplay(rotation(
        successor_secret,
        &successor,
    )))
}

fn new_record(
    secret: &SecretToken,
    family_id: Uuid,
    session_id: SessionId,
    user_id: UserId,
    now: OffsetDateTime,
    policy: &RefreshPolicy,
) -> RefreshToken {
    RefreshToken {
        id: Uuid::new_v4(),
        family_id,
        session_id,
        user_id,
        token_hash: secret.hash(),
        created_at: now,
        expires_at: now + policy.ttl,
        used_at: None,
        successor_id: None,
        revoked_at: None,
    }
}

fn rotation(secret: SecretToken, record: &RefreshToken) -> Rotation {
    Rotation {
        secret,
        session_id: record.session_id,
        user_id: record.user_id,
        family_id: record.family_id,
        expires_at: record.expires_at,
    }
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
