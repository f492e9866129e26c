//! `grant_type=password` (RFC 6749 §4.3): a login that opens a token session.

use tessera_core::SessionKind;

use super::{issue_for_new_session, Grant};
use crate::error::EngineResult;
use crate::{authz, sessions, Caller, Engine};

/// A token session granted `scope` (see [`authz::grant_scope`]), the first refresh token of its
/// family, an access token. A scope the client may not have is
/// [`crate::EngineError::InvalidScope`], decided before the credentials are looked at; every
/// other failure is [`crate::EngineError::InvalidGrant`] after the same hashing work (see
/// [`sessions::login`]).
pub async fn grant(
    engine: &Engine,
    username: &str,
    password: &str,
    client_id: &str,
    scope: Option<&str>,
    caller: &Caller,
) -> EngineResult<Grant> {
    let scope = authz::grant_scope(engine, client_id, scope)?;
    let login = sessions::login(
        engine,
        username,
        password,
        SessionKind::Token,
        scope,
        caller,
    )
    .await
    // An unverified address is one more reason a grant fails, with the grant's one answer.
    .map_err(|e| match e {
        crate::EngineError::Forbidden(_) => crate::EngineError::InvalidGrant,
        other => other,
    })?;
    issue_for_new_session(engine, &login.user, &login.session, client_id).await
}
