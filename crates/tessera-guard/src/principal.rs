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
    /// The scope granted (space-separated, RFC 6749 §3.3); `None` for session credentials and
    /// unscoped tokens.
    pub scope: Option<String>,
    /// The user's roles: as issued for an access token (current as of its last refresh), as of
    /// the check for opaque credentials.
    pub roles: Vec<String>,
    /// The user's custom claims, with the same freshness as `roles`.
    pub claims: serde_json::Map<String, serde_json::Value>,
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

    /// Whether `role` is one of the roles held.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The custom claim `name`, if the user has it.
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
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
            claims: claims.custom,
            method: AuthMethod::AccessToken,
        }
    }
}
