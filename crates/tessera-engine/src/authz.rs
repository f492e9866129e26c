//! Roles, custom claims and scopes: what every credential says its holder may do.
//!
//! Roles and custom claims belong to the user. A cookie or `tss_` check reads them with the
//! session (through the session cache), so a change must reach every cache tier on every
//! instance at once: the store is written first, then the user's records are dropped from the
//! shared tier (with the mark that keeps a fill that read the store before the change from
//! writing the old record back), then from this instance's tier, then the feed tells the other
//! instances to drop theirs. An access token carries the copy made when it was issued, so it
//! sees the change at its next refresh — or, with `end_sessions_on_role_removal`, a removal
//! ends the user's sessions and every token with them.
//!
//! A scope belongs to a token session: the password grant fixes it (within what the client may
//! ask for), and a refresh may narrow it for one access token, never widen it.

use serde_json::json;
use tessera_core::{CustomClaims, Roles, Scope, User, UserId};

use crate::error::{EngineError, EngineResult};
use crate::{sessions, AuditKind, Caller, Engine};

/// Compare-and-set rounds before a role change gives up: each lost round means another change
/// of the same user's roles landed in between.
const ROLE_CHANGE_ATTEMPTS: usize = 5;

/// A change of a user's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    /// Exactly these roles.
    Set(Vec<String>),
    /// These roles besides the ones held.
    Add(Vec<String>),
    /// The roles held but these (names not held are ignored).
    Remove(Vec<String>),
}

/// The user, or [`EngineError::NotFound`].
pub async fn user(engine: &Engine, user_id: UserId) -> EngineResult<User> {
    engine
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(EngineError::NotFound)
}

/// Applies `change` to the user's roles and returns the roles now held. A change that changes
/// nothing is not recorded. Concurrent changes of one user are serialised by the store's
/// compare-and-set, so none is lost.
pub async fn change_roles(
    engine: &Engine,
    user_id: UserId,
    change: &RoleChange,
    caller: Option<&Caller>,
) -> EngineResult<Roles> {
    for _ in 0..ROLE_CHANGE_ATTEMPTS {
        let current = user(engine, user_id).await?.roles;
        let next = match change {
            RoleChange::Set(names) => Roles::new(names)?,
            RoleChange::Add(names) => current.with(names)?,
            RoleChange::Remove(names) => current.without(Roles::new(names)?.iter()),
        };
        if next == current {
            return Ok(next);
        }
        let now = engine.clock.now();
        if !engine
            .store
            .replace_roles(user_id, &current, &next, now)
            .await?
        {
            continue;
        }
        let removed = current.missing_from(&next);
        let added = next.missing_from(&current);
        engine
            .audit(
                AuditKind::RolesChanged,
                Some(user_id),
                None,
                caller,
                json!({ "added": added, "removed": removed }),
            )
            .await;
        let end_sessions =
            !removed.is_empty() && engine.settings.authz.end_sessions_on_role_removal;
        user_changed(engine, user_id, end_sessions, caller).await?;
        return Ok(next);
    }
    Err(EngineError::Conflict(
        "the user's roles kept changing concurrently; retry",
    ))
}

/// Replaces the user's custom claims with `value` (a JSON object within the size bound whose
/// names shadow no registered claim) and returns them.
pub async fn set_claims(
    engine: &Engine,
    user_id: UserId,
    value: serde_json::Value,
    caller: Option<&Caller>,
) -> EngineResult<CustomClaims> {
    let claims = CustomClaims::new(value)?;
    let now = engine.clock.now();
    if !engine.store.set_claims(user_id, &claims, now).await? {
        return Err(EngineError::NotFound);
    }
    let names: Vec<&String> = claims.as_map().keys().collect();
    // Names only: values are the deployment's data and may be personal.
    engine
        .audit(
            AuditKind::ClaimsChanged,
            Some(user_id),
            None,
            caller,
            json!({ "names": names }),
        )
        .await;
    user_changed(engine, user_id, false, caller).await?;
    Ok(claims)
}

/// Makes every instance stop serving the user's cached sessions, whose records carry the old
/// roles and claims (see the module comment), or ends them all when `end_sessions`.
async fn user_changed(
    engine: &Engine,
    user_id: UserId,
    end_sessions: bool,
    caller: Option<&Caller>,
) -> EngineResult<()> {
    if end_sessions {
        sessions::revoke_all(engine, user_id, None, caller).await?;
        return Ok(());
    }
    let now = engine.clock.now();
    for session in engine.store.live_sessions_of_user(user_id, now).await? {
        engine.sessions.invalidate_shared(session.id).await;
    }
    engine.sessions.evict_user_local(user_id);
    if let Err(err) = engine.feed.publish_user_changed(user_id).await {
        tracing::warn!(
            error = %crate::error::chain(&err),
            transport = engine.feed.transport(),
            "could not publish a role or claims change; other instances see it when their \
             cached sessions expire"
        );
        metrics::counter!("tessera_degraded_total", "dependency" => "feed").increment(1);
    }
    Ok(())
}

/// The scope the password grant gives `client_id` for the `scope` it sent (RFC 6749 §3.3).
/// None sent (or only spaces): no scope. Every token must be a scope the server knows and the
/// client may ask for, else [`EngineError::InvalidScope`] — which, with no scopes configured,
/// is the answer to any scope at all.
pub fn grant_scope(
    engine: &Engine,
    client_id: &str,
    requested: Option<&str>,
) -> EngineResult<Option<Scope>> {
    let Some(requested) = parse(requested)? else {
        return Ok(None);
    };
    let policy = &engine.settings.authz;
    let allowed = policy.client_scopes.get(client_id);
    let grantable = |token: &str| {
        policy.known_scopes.contains(token) && allowed.is_some_and(|a| a.contains(token))
    };
    if requested.iter().all(grantable) {
        Ok(Some(requested))
    } else {
        Err(EngineError::InvalidScope)
    }
}

/// The scope of an access token issued by a refresh (RFC 6749 §6): what the session was
/// granted when none is asked for, else what is asked for if the grant covers all of it.
pub fn narrow_scope(
    granted: Option<&Scope>,
    requested: Option<&str>,
) -> EngineResult<Option<Scope>> {
    match (parse(requested)?, granted) {
        (None, granted) => Ok(granted.cloned()),
        (Some(asked), Some(granted)) if asked.is_subset(granted) => Ok(Some(asked)),
        (Some(_), _) => Err(EngineError::InvalidScope),
    }
}

fn parse(requested: Option<&str>) -> EngineResult<Option<Scope>> {
    match requested {
        None => Ok(None),
        Some(raw) => Scope::parse(raw).map_err(|_| EngineError::InvalidScope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap().unwrap()
    }

    #[test]
    fn a_refresh_may_narrow_never_widen() {
        let granted = scope("read write");
        assert_eq!(
            narrow_scope(Some(&granted), None).unwrap(),
            Some(granted.clone())
        );
        assert_eq!(
            narrow_scope(Some(&granted), Some("read")).unwrap(),
            Some(scope("read"))
        );
        assert_eq!(
            narrow_scope(Some(&granted), Some(" ")).unwrap(),
            Some(granted.clone()),
            "an empty scope is no scope: the grant stands"
        );
        assert!(matches!(
            narrow_scope(Some(&granted), Some("read admin")),
            Err(EngineError::InvalidScope)
        ));
        assert!(matches!(
            narrow_scope(None, Some("read")),
            Err(EngineError::InvalidScope)
        ));
        assert!(matches!(
            narrow_scope(Some(&granted), Some("bad\"token")),
            Err(EngineError::InvalidScope)
        ));
        assert_eq!(narrow_scope(None, None).unwrap(), None);
    }
}
