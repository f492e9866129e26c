//! `grant_type=password` (RFC 6749 §4.3): a login that opens a token session.

use tessera_core::SessionKind;

use super::{issue_for_new_session, Grant};
use crate::error::EngineResult;
use crate::{sessions, Caller, Engine};

/// A token session, the first refresh token of its family, an access token. Every failure is
/// [`crate::EngineError::InvalidGrant`] after the same hashing work (see [`sessions::login`]).
pub async fn grant(
    engine: &Engine,
    username: &str,
    password: &str,
    client_id: &str,
    caller: &Caller,
) -> EngineResult<Grant> {
    let login = sessions::login(engine, username, password, SessionKind::Token, caller)
        .await
        // An unverified address is one more reason a grant fails, with the grant's one answer.
        .map_err(|e| match e {
            crate::EngineError::Forbidden(_) => crate::EngineError::InvalidGrant,
            other => other,
        })?;
    issue_for_new_session(engine, login.user.id, login.session.id, client_id).await
}
