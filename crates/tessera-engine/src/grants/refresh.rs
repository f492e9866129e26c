//! `grant_type=refresh_token`: rotation with reuse detection.
//!
//! The token crate rotates and says what it found; the consequences of each verdict live here,
//! together: a reused token ends its family and its session (and with the session every access
//! token) and is audited as theft.

use tessera_core::{SecretToken, SessionId};
use tessera_token::refresh::RotateResult;

use super::{issue_access, Grant};
use crate::error::{EngineError, EngineResult};
use crate::{sessions, AuditKind, Caller, Engine};

/// The session a refresh token belongs to, if that token exists at all: for a transport's CSRF
/// check of cookie-borne refreshes, which must happen before the token is spent.
pub async fn session_of(
    engine: &Engine,
    presented: &SecretToken,
) -> EngineResult<Option<SessionId>> {
    Ok(engine
        .store
        .refresh_by_hash(&presented.hash())
        .await?
        .map(|t| t.session_id))
}

pub async fn grant(
    engine: &Engine,
    presented: &SecretToken,
    client_id: &str,
    caller: &Caller,
) -> EngineResult<Grant> {
    let now = engine.clock.now();
    let outcome = tessera_token::refresh::rotate(
        engine.store.as_ref(),
        presented,
        &engine.secrets.refresh,
        now,
        &engine.tokens.refresh,
    )
    .await?;
    let rotation = match outcome {
        RotateResult::Rotated(r) => r,
        RotateResult::GraceReplay(r) => {
            metrics::counter!("tessera_refresh_total", "result" => "grace_replay").increment(1);
            r
        }
        RotateResult::Reused {
            family_id,
            session_id,
            user_id,
        } => {
            engine.store.revoke_refresh_family(family_id, now).await?;
            sessions::revoke(
                engine,
                session_id,
                user_id,
                AuditKind::RefreshReused,
                Some(caller),
            )
            .await?;
            tracing::warn!(%session_id, "refresh token reuse detected; family and session revoked");
            metrics::counter!("tessera_refresh_total", "result" => "reused").increment(1);
            return Err(EngineError::InvalidGrant);
        }
        RotateResult::Invalid => {
            metrics::counter!("tessera_refresh_total", "result" => "invalid").increment(1);
            return Err(EngineError::InvalidGrant);
        }
    };
    // The family is only as alive as its session: a revoked, expired or locked one ends it.
    let Some(session) = sessions::live_by_id(engine, rotation.session_id, now).await? else {
        engine
            .store
            .revoke_refresh_family(rotation.family_id, now)
            .await?;
        return Err(EngineError::InvalidGrant);
    };
    if let Some(touch) = engine.tokens.session_lifetimes.touch(&session, now) {
        engine
            .store
            .touch_session(session.id, touch.last_seen_at, touch.idle_expires_at)
            .await?;
    }
    let access = issue_access(engine, rotation.user_id, rotation.session_id, client_id)?;
    metrics::counter!("tessera_refresh_total", "result" => "rotated").increment(1);
    Ok(Grant {
        session_id: rotation.session_id,
        access,
        refresh: Some(rotation),
    })
}
