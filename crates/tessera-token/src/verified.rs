//! A cache of tokens whose signature has already been verified.
//!
//! A client sends the same access token on every request for its whole lifetime; verifying
//! its signature each time costs tens of microseconds (EdDSA) to a millisecond (RS256 signing
//! side aside), which dominates an otherwise sub-microsecond check. The cache maps the exact
//! token text to its claims, so a hit is only possible for byte-identical input that has
//! passed full verification before. Everything that can change after that — time (`exp`,
//! `nbf`) and revocation — is still checked on every hit by the caller.
//!
//! Bounded: when full, expired entries are dropped, and if that frees nothing the cache starts
//! over. Cleared whenever the key ring changes, so a key removed from the ring cannot keep
//! vouching for tokens it signed.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::jwt::AccessClaims;

const CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, AccessClaims>>,
}

impl VerifiedTokens {
    pub fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    pub fn insert(&self, token: &str, claims: &AccessClaims, now_unix: i64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, c| c.exp > now_unix);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.into(), claims.clone());
    }

    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub fn prune(&self, now_unix: i64) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, c| c.exp > now_unix);
    }
}
