//! `grant_type=refresh_token`: rotation with reuse detection.
//!
//! The token crate rotates and says what it found; the consequences of each verdict live here,
//! together: a reused token ends its family and its session (and with the session every access
//! token) and is audited as theft.

use tessera_core::{SecretToken, SessionId};
use tessera_token::refresh::RotateResult;

use super::{issue_access, Grant};
use crate::error::{EngineError, EngineResult};
use crate::{authz, sessions, AuditKind, Caller, Engine};

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

/// Rotates `presented` and issues an access token with the session's scope, or `scope` when
/// given and within it ([`authz::narrow_scope`]). A scope that would widen the grant is
/// [`EngineError::InvalidScope`], decided before the token is spent.
pub async fn grant(
    engine: &Engine,
    presented: &SecretToken,
    client_id: &str,
    scope: Option<&str>,
    caller: &Caller,
) -> EngineResult<Grant> {
    let now = engine.clock.now();
    // Checked against the session before anything is spent: a refused widening must leave the
    // refresh token usable.
    if let Some(requested) = scope {
        let session = match session_of(engine, presented).await? {
            Some(id) => engine.store.session_by_id(id).await?,
            None => None,
        };
        if let Some(session) = session {
            authz::narrow_scope(session.scope.as_ref(), Some(requested))?;
        }
    }
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
    let Some((session, user)) = sessions::live_by_id(engine, rotation.session_id, now).await?
    else {
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
    // Narrowing holds for this access token only: the session keeps its grant (RFC 6749 §6).
    let scope = authz::narrow_scope(session.scope.as_ref(), scope)?;
    let access = issue_access(engine, &user, &session, client_id, scope.as_ref())?;
    metrics::counter!("tessera_refresh_total", "result" => "rotated").increment(1);
    Ok(Grant {
        session_id: rotation.session_id,
        scope,
        access,
        refresh: Some(rotation),
    })
}
