//! The OAuth 2.0 grants of the token endpoint, one module each.
//!
//! A grant is added by adding a [`GrantType`] variant (the compiler then lists what must handle
//! it: the token endpoint's dispatch and the metadata's `grant_types_supported`, which is
//! derived from [`GrantType::ALL`]) and a module with its `grant` function.

pub mod password;
pub mod refresh;

use tessera_core::{SessionId, UserId};
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
}

impl GrantType {
    pub const ALL: [Self; 2] = [Self::Password, Self::RefreshToken];

    /// The `grant_type` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
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
    pub access: IssuedToken,
    /// The refresh token, for grants that issue one (every grant so far does).
    pub refresh: Option<Rotation>,
}

/// An access token for `session`, signed with the current key.
pub(crate) fn issue_access(
    engine: &Engine,
    user: UserId,
    session: SessionId,
    client_id: &str,
) -> EngineResult<IssuedToken> {
    let request = AccessTokenRequest {
        sub: user,
        sid: session,
        client_id: client_id.to_owned(),
        scope: None,
        roles: Vec::new(),
    };
    engine
        .tokens
        .verifier
        .ring()
        .issue(&request, &engine.tokens.cfg, engine.clock.now())
        .map_err(EngineError::internal)
}

/// The first refresh token of a new family for a freshly opened token session, and an access
/// token: what the password grant and a token caller's password change hand out.
pub async fn issue_for_new_session(
    engine: &Engine,
    user_id: UserId,
    session_id: SessionId,
    client_id: &str,
) -> EngineResult<Grant> {
    let family = tessera_token::refresh::issue_family(
        engine.store.as_ref(),
        session_id,
        user_id,
        engine.clock.now(),
        &engine.tokens.refresh,
    )
    .await?;
    let access = issue_access(engine, user_id, session_id, client_id)?;
    Ok(Grant {
        session_id,
        access,
        refresh: Some(family),
    })
}
