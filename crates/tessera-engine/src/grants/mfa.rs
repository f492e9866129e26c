//! `grant_type=urn:tessera:params:oauth:grant-type:mfa-otp`: the second step of a password
//! grant whose account has a second factor. It takes the `mfa_token` the password grant
//! answered with and a TOTP code or a recovery code, and grants what the password grant would
//! have (same client, same scope), on a session that records both factors.

use tessera_core::factor::ChallengePurpose;
use tessera_core::SessionKind;

use super::{issue_for_new_session, Grant};
use crate::error::{EngineError, EngineResult};
use crate::factors::{challenge, Proof};
use crate::{sessions, Caller, Engine};

pub async fn grant(
    engine: &Engine,
    mfa_token: &str,
    proof: Proof,
    caller: &Caller,
) -> EngineResult<Grant> {
    let done = challenge::complete(
        engine,
        mfa_token,
        proof,
        challenge::CompletedAt::TokenEndpoint,
        caller,
    )
    .await?;
    let ChallengePurpose::Token { client_id, scope } = done.purpose else {
        // `complete` admits only a password grant's challenge here.
        return Err(EngineError::InvalidGrant);
    };
    let login = sessions::open_login(
        engine,
        done.user,
        SessionKind::Token,
        scope,
        done.authn,
        caller,
    )
    .await?;
    issue_for_new_session(engine, &login.user, &login.session, &client_id).await
}
