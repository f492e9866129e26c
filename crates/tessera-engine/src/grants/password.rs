//! `grant_type=password` (RFC 6749 §4.3): a login that opens a token session.

use tessera_core::factor::ChallengePurpose;
use tessera_core::SessionKind;

use super::{issue_for_new_session, Grant};
use crate::error::EngineResult;
use crate::sessions::Authn;
use crate::{authz, factors, sessions, Caller, Engine, EngineError};

/// A token session granted `scope` (see [`authz::grant_scope`]), the first refresh token of its
/// family, an access token. A scope the client may not have is
/// [`crate::EngineError::InvalidScope`], decided before the credentials are looked at; every
/// other failure is [`crate::EngineError::InvalidGrant`] after the same hashing work (see
/// [`sessions::verify_password`]). An account with a second factor gets
/// [`EngineError::SecondFactorRequired`]: the grant is completed by the `mfa-otp` grant
/// ([`super::mfa`]) with what this one would have granted.
pub async fn grant(
    engine: &Engine,
    username: &str,
    password: &str,
    client_id: &str,
    scope: Option<&str>,
    caller: &Caller,
) -> EngineResult<Grant> {
    let scope = authz::grant_scope(engine, client_id, scope)?;
    let user = sessions::verify_password(engine, username, password, caller)
        .await
        // An unverified address is one more reason a grant fails, with the grant's one answer.
        .map_err(|e| match e {
            EngineError::Forbidden(_) => EngineError::InvalidGrant,
            other => other,
        })?;
    let purpose = ChallengePurpose::Token {
        client_id: client_id.to_owned(),
        scope: scope.clone(),
    };
    factors::challenge::require_if_enrolled(engine, &user, purpose, caller).await?;
    let login = sessions::open_login(
        engine,
        user,
        SessionKind::Token,
        scope,
        Authn::password(),
        caller,
    )
    .await?;
    issue_for_new_session(engine, &login.user, &login.session, client_id).await
}
