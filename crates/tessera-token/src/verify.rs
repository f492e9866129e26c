//! The access-token check on every request: signature, claims, then the revoked-session set.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use time::OffsetDateTime;

use crate::error::VerifyError;
use crate::jwt::{self, AccessClaims, Policy};
use crate::revoked::RevokedSessions;
use crate::ring::KeyRing;
use crate::verified::VerifiedTokens;
use crate::TokenConfig;

/// Shared by every request handler. The ring sits behind a lock only long enough to clone an
/// `Arc`, so a rotation swapping in a new ring never waits on, or stalls, a verification.
pub struct Verifier {
    ring: RwLock<Arc<KeyRing>>,
    revoked: RevokedSessions,
    policy: Policy,
    cfg: TokenConfig,
    verified: VerifiedTokens,
}

impl Verifier {
    /// A verifier with an empty revoked-session set whose entries live for
    /// `cfg.token_horizon()`.
    pub fn new(ring: KeyRing, cfg: &TokenConfig) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
            revoked: RevokedSessions::new(cfg.token_horizon()),
            policy: Policy::new(cfg),
            cfg: cfg.clone(),
            verified: VerifiedTokens::default(),
        }
    }

    /// Verifies `token` at `now` and refuses it if its session has been revoked.
    ///
    /// A token seen before (byte for byte) skips the signature check; its time rules and the
    /// revoked-session set are applied every time.
    pub fn check(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, VerifyError> {
        let claims = if let Some(claims) = self.verified.get(token) {
            jwt::check_times(&claims, &self.policy, now)?;
            claims
        } else {
            let claims = jwt::verify(&self.ring(), &self.policy, token, now)?;
            self.verified.insert(token, &claims, now.unix_timestamp());
            claims
        };
        if self.revoked.contains(&claims.sid) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// Verification without the cache: for benchmarks and for callers that must not keep
    /// tokens in memory.
    pub fn check_uncached(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<AccessClaims, VerifyError> {
        let claims = jwt::verify(&self.ring(), &self.policy, token, now)?;
        if self.revoked.contains(&claims.sid) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// Drops cached verifications of expired tokens.
    pub fn prune_verified(&self, now: OffsetDateTime) {
        self.verified.prune(now.unix_timestamp());
    }

    /// The ring in use, for issuing tokens and serving the JWKS.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Swaps in a ring rebuilt after a rotation. Checks already running finish on the old one.
    pub fn replace_ring(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        self.verified.clear();
    }

    pub fn revoked(&self) -> &RevokedSessions {
        &self.revoked
    }

    pub fn config(&self) -> &TokenConfig {
        &self.cfg
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("ring", &self.ring())
            .field("revoked", &self.revoked.len())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}
