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
use tessera_engine::credential::{self, Channel};

use crate::cookies;
use crate::error::ApiError;
use crate::state::AppState;

pub use tessera_engine::credential::{AuthMethod, Principal};

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

/// Finds the request's credential: `Authorization: Bearer` first (a header session's secret
/// or an access token), then the session cookie, then the access-token cookie. What each string
/// is, the engine decides.
async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Credential, ApiError> {
    let valid = |p: Principal| Credential::Valid(Arc::new(p));
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
        let principal = credential::authenticate(state, presented, Channel::Header).await?;
        return Ok(principal.map_or(Credential::Invalid { bearer: true }, valid));
    }
    let session_cookie = cookies::read(headers, state.web.cookies.session);
    if let Some(value) = &session_cookie {
        if let Some(p) = credential::authenticate(state, value, Channel::SessionCookie).await? {
            return Ok(valid(p));
        }
        // A dead session cookie may sit beside a live access-token cookie; fall through.
    }
    if let Some(value) = cookies::read(headers, state.web.cookies.access) {
        if let Some(p) = credential::authenticate(state, &value, Channel::AccessCookie).await? {
            return Ok(valid(p));
        }
        return Ok(Credential::Invalid { bearer: false });
    }
    if session_cookie.is_some() {
        return Ok(Credential::Invalid { bearer: false });
    }
    Ok(Credential::None)
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
