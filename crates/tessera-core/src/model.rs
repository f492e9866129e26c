//! The records that storage backends persist. Field meanings are part of the store contract and
//! are checked by the conformance suite in `tessera-store`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::authz::{CustomClaims, Roles, Scope};
use crate::error::ValidationError;
use crate::factor::Amr;
use crate::secret::TokenHash;
use crate::types::{ClientId, Email, SessionId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    /// PHC string (`$argon2id$v=19$m=…`). Never serialised into a response.
    pub password_hash: String,
    pub locked: bool,
    /// When the owner proved the address (a link sent to it was used); `None`: not yet.
    pub email_verified_at: Option<OffsetDateTime>,
    /// Carried by every credential of the user (the `roles` claim of access tokens).
    pub roles: Roles,
    /// Put into every access token of the user beside the standard claims.
    pub claims: CustomClaims,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// How the client carries the session secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Browser cookie.
    Cookie,
    /// Opaque `tss_` token in `Authorization: Bearer`.
    Header,
    /// Root of a refresh-token family and of the access tokens that carry its id in `sid`.
    Token,
}

impl SessionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cookie => "cookie",
            Self::Header => "header",
            Self::Token => "token",
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cookie" => Ok(Self::Cookie),
            "header" => Ok(Self::Header),
            "token" => Ok(Self::Token),
            _ => Err(ValidationError::new("kind", "unknown session kind")),
        }
    }
}

/// The root credential. Every other credential a user holds derives from one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub kind: SessionKind,
    /// Hash of the secret the client holds (`tss_…` or the cookie value). Token sessions have
    /// no client-held session secret; they store the hash of a secret nobody was given.
    pub secret_hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub idle_expires_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Set when the session was ended before it expired; kept for a while so that every
    /// instance can learn that access tokens carrying this `sid` are dead.
    pub revoked_at: Option<OffsetDateTime>,
    /// What a token session was granted (the password grant's `scope`): the most its access
    /// tokens may carry. `None` for cookie and header sessions, and token sessions granted none.
    pub scope: Option<Scope>,
    /// How the session was authenticated (RFC 8176 `amr`); its `aal` follows from it.
    pub amr: Amr,
    /// When a second factor was last proven on this session (at login or by a step-up):
    /// sensitive actions want it recent. `None`: never.
    pub factor_at: Option<OffsetDateTime>,
}

/// One refresh token. Tokens rotated from one login form a family that shares `family_id` and
/// belongs to one token session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: Uuid,
    pub family_id: Uuid,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token_hash: TokenHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// When it was exchanged for a successor. A token is spendable only while this is `None`.
    pub used_at: Option<OffsetDateTime>,
    pub successor_id: Option<Uuid>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Outcome of the conditional spend at the heart of refresh rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendOutcome {
    /// This caller won the race: the token is now spent and the successor stored.
    Rotated,
    /// Someone spent it first (or it was revoked). The current row is returned so the caller can
    /// apply the grace-window / theft rules.
    AlreadySpent(RefreshToken),
    /// No such token.
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in JWKS so caches learn it, not yet signing.
    Next,
    /// The one key that signs.
    Current,
    /// No longer signs; published until every token it signed has expired.
    Retired,
}

impl KeyState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }
}

impl FromStr for KeyState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(Self::Next),
            "current" => Ok(Self::Current),
            "retired" => Ok(Self::Retired),
            _ => Err(ValidationError::new("state", "unknown key state")),
        }
    }
}

/// A signing key as persisted. `private_key` is opaque to the store: PKCS#8 DER, or that
/// encrypted when `keys.encryption_key` is set (`format_version` says which).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub algorithm: String,
    pub state: KeyState,
    pub private_key: Vec<u8>,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub format_version: i32,
    pub created_at: OffsetDateTime,
    pub activated_at: Option<OffsetDateTime>,
    pub retired_at: Option<OffsetDateTime>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("private_key", &"<redacted>")
            .field("format_version", &self.format_version)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A resource server allowed to call introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub secret_hash: TokenHash,
    pub created_at: OffsetDateTime,
}

/// An audit event to append. The store assigns the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub kind: String,
    pub at: OffsetDateTime,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Free-form JSON detail; never contains secrets.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Increasing: newer events have larger ids. Used as the pagination cursor.
    pub id: i64,
    pub event: NewAuditEvent,
}

/// Filter for listing audit events, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub kind: Option<String>,
    /// Only events with an id strictly below this one.
    pub before_id: Option<i64>,
    pub limit: u32,
}
