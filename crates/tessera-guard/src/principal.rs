//! What a verified request carries into the handler.

use tessera_core::{SessionId, UserId};
use tessera_token::AccessClaims;
use time::OffsetDateTime;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A JWT access token, verified in process.
    AccessToken,
    /// An opaque `tss_` session token, checked by the server.
    SessionToken,
    /// A session cookie, checked by the server.
    Cookie,
}

/// The verified identity of a request: put in the request's extensions by
/// [`crate::GuardLayer`], and an axum extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub session: SessionId,
    /// The client the access token was issued to; `None` for opaque credentials.
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub roles: Vec<String>,
    /// When the credential stops being valid (`exp` of an access token; the session's expiry
    /// for opaque credentials).
    pub expires_at: OffsetDateTime,
    pub method: AuthMethod,
}

impl Principal {
    /// Whether `scope` is one of the space-separated scopes granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|granted| granted.split(' ').any(|s| s == scope))
    }
}

impl From<AccessClaims> for Principal {
    fn from(claims: AccessClaims) -> Self {
        Self {
            expires_at: claims.expires_at(),
            user: claims.sub,
            session: claims.sid,
            client_id: Some(claims.client_id),
            scope: claims.scope,
            roles: claims.roles,
            method: AuthMethod::AccessToken,
        }
    }
}
