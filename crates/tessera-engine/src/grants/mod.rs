//! The OAuth 2.0 grants of the token endpoint, one module each.
//!
//! A grant is added by adding a [`GrantType`] variant (the compiler then lists what must handle
//! it: the token endpoint's dispatch and the metadata's `grant_types_supported`, which is
//! derived from [`GrantType::ALL`]) and a module with its `grant` function.

pub mod mfa;
pub mod password;
pub mod refresh;

use tessera_core::{Scope, Session, SessionId, User};
use tessera_token::refresh::Rotation;
use tessera_token::{AccessTokenRequest, IssuedToken};

use crate::error::{EngineError, EngineResult};
use crate::Engine;

/// The client id put in `client_id` when a first-party client does not name itself.
pub const DEFAULT_CLIENT_ID: &str = "first-party";

/// The grant types the token endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 6749 §4.3.
    Password,
    /// RFC 6749 §6, with rotation and reuse detection.
    RefreshToken,
    /// The second step of a password grant for an account with a second factor.
    MfaOtp,
}

impl GrantType {
    pub const ALL: [Self; 3] = [Self::Password, Self::RefreshToken, Self::MfaOtp];

    /// The `grant_type` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::MfaOtp => "urn:tessera:params:oauth:grant-type:mfa-otp",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

/// What a successful grant hands out.
#[derive(Debug)]
pub struct Grant {
    /// The session every credential of this grant derives from.
    pub session_id: SessionId,
    /// The scope of the access token (RFC 6749 §5.1 `scope`).
    pub scope: Option<Scope>,
    pub access: IssuedToken,
    /// The refresh token, for grants that issue one (every grant so far does).
    pub refresh: Option<Rotation>,
}

/// An access token for `session`, signed with the current key, carrying the user's roles and
/// custom claims as they are now, `scope`, and how the session was authenticated.
pub(crate) fn issue_access(
    engine: &Engine,
    user: &User,
    session: &Session,
    client_id: &str,
    scope: Option<&Scope>,
) -> EngineResult<IssuedToken> {
    let request = AccessTokenRequest {
        sub: user.id,
        sid: session.id,
        amr: session.amr,
        client_id: client_id.to_owned(),
        scope: scope.map(ToString::to_string),
        roles: user.roles.as_slice().to_vec(),
        claims: user.claims.as_map().clone(),
    };
    engine
        .tokens
        .verifier
        .ring()
        .issue(&request, &engine.tokens.cfg, engine.clock.now())
        .map_err(EngineError::internal)
}

/// The first refresh token of a new family for a freshly opened token session, and an access
/// token with the session's scope: what the password grant and a token caller's password change
/// hand out.
pub async fn issue_for_new_session(
    engine: &Engine,
    user: &User,
    session: &Session,
    client_id: &str,
) -> EngineResult<Grant> {
    let family = tessera_token::refresh::issue_family(
        engine.store.as_ref(),
        session.id,
        user.id,
        engine.clock.now(),
        &engine.tokens.refresh,
    )
    .await?;
    let access = issue_access(engine, user, session, client_id, session.scope.as_ref())?;
    Ok(Grant {
        session_id: session.id,
        scope: session.scope.clone(),
        access,
        refresh: Some(family),
    })
}
