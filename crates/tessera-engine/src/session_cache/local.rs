//! The in-process tier of the session cache: the hot path of every cookie and `tss_` request.
//!
//! Keyed by the hash of the session secret, with a short TTL so that changes made by another
//! instance (lock, revoke) are seen soon even without a revocation feed, and with a second index
//! by session id so a revocation can evict the entry without knowing the secret. A general cache
//! crate would give TTL but not that second index, and this map is small enough to own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tessera_core::session::SessionRecord;
use tessera_core::{Session, SessionId, TokenHash};
use time::{Duration, OffsetDateTime};

/// What a session check needs, so a cache hit costs no store call at all: the one record type
/// of every tier, and when this instance took it.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub record: SessionRecord,
    pub(crate) cached_at: OffsetDateTime,
}

impl std::ops::Deref for CachedSession {
    type Target = SessionRecord;
    fn deref(&self) -> &SessionRecord {
        &self.record
    }
}

#[derive(Debug, Default)]
struct Maps {
    by_hash: HashMap<TokenHash, Arc<CachedSession>>,
    by_id: HashMap<SessionId, TokenHash>,
}

#[derive(Debug)]
pub struct LocalSessions {
    ttl: Duration,
    capacity: usize,
    maps: RwLock<Maps>,
}

impl LocalSessions {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            maps: RwLock::new(Maps::default()),
        }
    }

    pub fn get(&self, hash: &TokenHash, now: OffsetDateTime) -> Option<Arc<CachedSession>> {
        let maps = self
            .maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        maps.by_hash
            .get(hash)
            .filter(|c| now - c.cached_at < self.ttl)
            .cloned()
    }

    pub fn insert(&self, record: SessionRecord, now: OffsetDateTime) -> Arc<CachedSession> {
        let entry = Arc::new(CachedSession {
            record,
            cached_at: now,
        });
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if maps.by_hash.len() >= self.capacity {
            // Drop what is stale first; if everything is fresh, start over rather than grow.
            let ttl = self.ttl;
            maps.by_hash.retain(|_, c| now - c.cached_at < ttl);
            if maps.by_hash.len() >= self.capacity {
                maps.by_hash.clear();
            }
            let Maps { by_hash, by_id } = &mut *maps;
            by_id.retain(|_, h| by_hash.contains_key(h));
        }
        let hash = entry.session.secret_hash;
        maps.by_id.insert(entry.session.id, hash);
        maps.by_hash.insert(hash, entry.clone());
        entry
    }

    /// Replaces the cached copy after an activity write, keeping its original age.
    pub fn update(&self, session: &Session) {
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = maps.by_hash.get_mut(&session.secret_hash) {
            let mut fresh = (**entry).clone();
            fresh.record.session = session.clone();
            *entry = Arc::new(fresh);
        }
    }

    pub fn evict(&self, id: SessionId) {
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hash) = maps.by_id.remove(&id) {
            maps.by_hash.remove(&hash);
        }
    }

    /// Forgets everything, after the instance may have missed revocations.
    pub fn clear(&self) {
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        maps.by_hash.clear();
        maps.by_id.clear();
    }

    /// Evicts every cached session of a user (lock, password change).
    pub fn evict_user(&self, user: tessera_core::UserId) {
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Maps { by_hash, by_id } = &mut *maps;
        by_hash.retain(|_, c| c.session.user_id != user);
        by_id.retain(|_, h| by_hash.contains_key(h));
    }
}
