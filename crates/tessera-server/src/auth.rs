//! Resolving the credential a request carries into a [`Principal`], once per request.
//!
//! The `resolve_credentials` middleware runs before the CSRF check and the handlers; both read
//! its result from the request extensions, so a session is looked up (in the cache, usually)
//! exactly once however many layers need it.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use tessera_core::{Email, SecretToken, Session, SessionId, SessionKind, TokenKind, UserId};
use time::OffsetDateTime;

use crate::cookies;
use crate::error::ApiError;
use crate::service::sessions;
use crate::state::AppState;

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
}

/// What the middleware found; stored in the request extensions.
#[derive(Debug, Clone)]
pub enum Credential {
    None,
    /// A credential was presented but is not valid. `bearer` when it came in `Authorization`.
    Invalid {
        bearer: bool,
    },
    Valid(Arc<Principal>),
}

pub async fn resolve_credentials(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let credential = match resolve(&state, req.headers()).await {
        Ok(c) => c,
        Err(err) => return axum::response::IntoResponse::into_response(err),
    };
    req.extensions_mut().insert(credential);
    next.run(req).await
}

async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Credential, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let presented = auth
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(presented) = presented else {
            return Ok(Credential::Invalid { bearer: true });
        };
        let principal = if presented.starts_with(TokenKind::Session.prefix()) {
            match SecretToken::parse(TokenKind::Session, presented) {
                Some(secret) => session_principal(state, &secret, SessionKind::Header).await?,
                None => None,
            }
        } else {
            crate::service::tokens::access_principal(state, presented, false)
        };
        return Ok(principal.map_or(Credential::Invalid { bearer: true }, |p| {
            Credential::Valid(Arc::new(p))
        }));
    }
    if let Some(value) = cookies::read(headers, state.cookies.session) {
        let principal = match SecretToken::parse(TokenKind::Session, &value) {
            Some(secret) => session_principal(state, &secret, SessionKind::Cookie).await?,
            None => None,
        };
        if let Some(p) = principal {
            return Ok(Credential::Valid(Arc::new(p)));
        }
        // A dead session cookie may sit beside a live access-token cookie; fall through.
    }
    if let Some(value) = cookies::read(headers, state.cookies.access) {
        if let Some(p) = crate::service::tokens::access_principal(state, &value, true) {
            return Ok(Credential::Valid(Arc::new(p)));
        }
        return Ok(Credential::Invalid { bearer: false });
    }
    if cookies::read(headers, state.cookies.session).is_some() {
        return Ok(Credential::Invalid { bearer: false });
    }
    Ok(Credential::None)
}

async fn session_principal(
    state: &AppState,
    secret: &SecretToken,
    expected_kind: SessionKind,
) -> Result<Option<Principal>, ApiError> {
    let Some(entry) = sessions::authenticate(state, secret).await? else {
        return Ok(None);
    };
    // A secret is only valid on the channel it was issued for: a cookie secret replayed as a
    // Bearer token (or the reverse) is refused, so the CSRF rule cannot be side-stepped.
    if entry.session.kind != expected_kind {
        return Ok(None);
    }
    let method = if expected_kind == SessionKind::Cookie {
        AuthMethod::Cookie
    } else {
        AuthMethod::SessionToken
    };
    Ok(Some(Principal {
        user_id: entry.session.user_id,
        session_id: entry.session.id,
        method,
        via_cookie: expected_kind == SessionKind::Cookie,
        expires_at: entry.session.idle_expires_at.min(entry.session.expires_at),
        email: Some(entry.email.clone()),
        session: Some(entry.session.clone()),
        client_id: None,
    }))
}

/// Extractor for handlers that require a valid credential.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Credential>() {
            Some(Credential::Valid(p)) => Ok(Self(p.clone())),
            Some(Credential::Invalid { bearer }) => Err(ApiError::Unauthorized { bearer: *bearer }),
            _ => Err(ApiError::Unauthorized { bearer: false }),
        }
    }
}
