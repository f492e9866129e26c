//! Tessera's token layer: signing keys and the JWKS, access-token (JWT) issue and verification,
//! the revoked-session set every verification consults, and the rotation rules for signing keys
//! and refresh tokens.
//!
//! Nothing here does I/O of its own or reads the wall clock: every rule takes `now` from the
//! caller, and the refresh rules talk to storage only through [`tessera_core::store`] traits.
//!
//! The pieces, in the order a server wires them:
//! 1. [`rotation::ensure_initial`] on start, persisted, then [`KeyRing::from_records`].
//! 2. A [`Verifier`] around the ring, fed revoked session ids ([`RevokedSessions`]).
//! 3. [`KeyRing::issue`] at login and refresh; [`Verifier::check`] on every request.
//! 4. [`refresh::rotate`] for `grant_type=refresh_token`.

mod alg;
mod crypt;
mod error;
mod jwt;
mod keys;
mod revoked;
mod ring;
mod verified;
mod verify;

pub mod refresh;
pub mod rotation;

use time::Duration;

pub use alg::Alg;
pub use crypt::EncryptionKey;
pub use error::{KeyError, VerifyError};
pub use jwt::{AccessClaims, AccessTokenRequest, IssuedToken, ACCESS_TOKEN_TYP, MAX_TOKEN_BYTES};
pub use keys::{generate_key, FORMAT_ENCRYPTED, FORMAT_PLAIN};
pub use revoked::RevokedSessions;
pub use ring::{signing_precedence, KeyRing};
pub use verify::Verifier;

/// The access-token settings of `[token]` in the server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss`, exactly as configured (no slash added or removed).
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    pub access_ttl: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The algorithm of keys created from now on; existing keys keep theirs.
    pub algorithm: Alg,
}

impl TokenConfig {
    pub const DEFAULT_ACCESS_TTL: Duration = Duration::minutes(5);
    pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);

    /// The documented defaults: 5 minute tokens, 30 s leeway, EdDSA.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl: Self::DEFAULT_ACCESS_TTL,
            leeway: Self::DEFAULT_LEEWAY,
            algorithm: Alg::EdDSA,
        }
    }

    /// How long after a key stops signing, or a session is revoked, a token it touched can still
    /// be accepted somewhere: the lifetime of the last token plus the skew we tolerate.
    pub fn token_horizon(&self) -> Duration {
        self.access_ttl + self.leeway
    }
}
