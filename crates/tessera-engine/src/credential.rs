//! Turning a presented credential into a [`Principal`].
//!
//! The transport finds the string (an `Authorization` header, a cookie) and says on which
//! [`Channel`] it came; what the string is, is decided once by
//! [`tessera_core::credential::Presented::classify`] and matched here exhaustively.

use tessera_core::credential::Presented;
use tessera_core::{
    Amr, CustomClaims, Email, Roles, Scope, SecretToken, Session, SessionId, SessionKind, UserId,
};
use tessera_token::VerifyError;
use time::OffsetDateTime;

use crate::error::EngineResult;
use crate::{sessions, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Cookie,
    SessionToken,
    AccessToken,
}

impl AuthMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cookie => "cookie",
            Self::SessionToken => "session_token",
            Self::AccessToken => "access_token",
        }
    }

    /// The kind of session a credential of this method belongs to.
    pub const fn session_kind(self) -> SessionKind {
        match self {
            Self::Cookie => SessionKind::Cookie,
            Self::SessionToken => SessionKind::Header,
            Self::AccessToken => SessionKind::Token,
        }
    }
}

/// Where a credential was presented. Each channel takes only the kinds issued for it: a cookie
/// session's secret replayed as a Bearer token (or the reverse) is refused, so the CSRF rule
/// cannot be side-stepped, and neither cookie takes the other's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `Authorization: Bearer …`: a header session's secret or an access token.
    Header,
    /// The session cookie: a cookie session's secret.
    SessionCookie,
    /// The access-token cookie of the token endpoint's cookie transport.
    AccessCookie,
}

impl Channel {
    const fn is_cookie(self) -> bool {
        matches!(self, Self::SessionCookie | Self::AccessCookie)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub method: AuthMethod,
    /// True when the credential came from a cookie: unsafe methods then need the CSRF check.
    pub via_cookie: bool,
    /// The session record, when the credential was a session secret (cookie or `tss_`).
    pub session: Option<Session>,
    pub email: Option<Email>,
    /// When this credential stops working at the latest.
    pub expires_at: OffsetDateTime,
    /// The `client_id` claim of an access token, kept when a password change reissues tokens.
    pub client_id: Option<String>,
    /// The user's roles: as of the check for a session secret, as of issue for an access token.
    pub roles: Roles,
    /// The scope of an access token; `None` for session secrets and unscoped tokens.
    pub scope: Option<Scope>,
    /// The user's custom claims, with the same freshness as `roles`.
    pub claims: CustomClaims,
    /// How the session was authenticated (for an access token: as of its issue).
    pub amr: Amr,
}

/// The principal behind `presented`, or `None` when it is not a valid credential for `channel`.
pub async fn authenticate(
    engine: &Engine,
    presented: &str,
    channel: Channel,
) -> EngineResult<Option<Principal>> {
    match (Presented::classify(presented), channel) {
        (Presented::SessionSecret(secret), Channel::Header) => {
            session_principal(engine, &secret, AuthMethod::SessionToken).await
        }
        (Presented::SessionSecret(secret), Channel::SessionCookie) => {
            session_principal(engine, &secret, AuthMethod::Cookie).await
        }
        (Presented::AccessToken(token), Channel::Header | Channel::AccessCookie) => {
            Ok(access_principal(engine, token, channel).await)
        }
        (Presented::AccessToken(_), Channel::SessionCookie)
        | (Presented::SessionSecret(_), Channel::AccessCookie) => Ok(None),
        // A refresh token is spent at the token endpoint, never presented to an API.
        (Presented::RefreshToken(_) | Presented::Unrecognised, _) => {
            if channel != Channel::SessionCookie {
                metrics::counter!("tessera_access_token_rejected_total", "reason" => "malformed")
                    .increment(1);
            }
            Ok(None)
        }
    }
}

async fn session_principal(
    engine: &Engine,
    secret: &SecretToken,
    method: AuthMethod,
) -> EngineResult<Option<Principal>> {
    let Some(entry) = sessions::authenticate(engine, secret).await? else {
        return Ok(None);
    };
    if entry.session.kind != method.session_kind() {
        return Ok(None);
    }
    Ok(Some(Principal {
        user_id: entry.session.user_id,
        session_id: entry.session.id,
        method,
        via_cookie: method == AuthMethod::Cookie,
        expires_at: entry.session.idle_expires_at.min(entry.session.expires_at),
        email: Some(entry.email.clone()),
        session: Some(entry.session.clone()),
        client_id: None,
        roles: entry.roles.clone(),
        scope: entry.session.scope.clone(),
        claims: entry.claims.clone(),
        amr: entry.session.amr,
    }))
}

/// The principal behind an access token, or `None` when it is not valid. No store call: the
/// signature, the claims and the revoked-session set decide — except for a `kid` this instance
/// has not loaded yet, which reloads the ring (rate-limited) and checks once more.
async fn access_principal(engine: &Engine, token: &str, channel: Channel) -> Option<Principal> {
    let now = engine.clock.now();
    let verifier = &engine.tokens.verifier;
    let mut checked = verifier.check(token, now);
    if matches!(checked, Err(VerifyError::UnknownKey))
        && engine
            .tokens
            .reload_for_unknown_kid(engine.store.as_ref(), now)
            .await
    {
        checked = verifier.check(token, now);
    }
    match checked {
        Ok(claims) => Some(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            method: AuthMethod::AccessToken,
            via_cookie: channel.is_cookie(),
            session: None,
            email: None,
            expires_at: claims.expires_at(),
            roles: Roles::from_signed(claims.roles),
            scope: claims
                .scope
                .as_deref()
                .and_then(|s| Scope::parse(s).ok().flatten()),
            amr: Amr::from_names(claims.amr.iter().map(String::as_str)),
            claims: CustomClaims::from_signed(claims.custom),
            client_id: Some(claims.client_id),
        }),
        Err(reason) => {
            metrics::counter!("tessera_access_token_rejected_total", "reason" => reason.as_str())
                .increment(1);
            None
        }
    }
}
