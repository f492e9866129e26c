//! The in-process tier of the session cache: the hot path of every cookie and `tss_` request.
//!
//! Keyed by the hash of the session secret, with a short TTL so that changes made by another
//! instance (lock, revoke) are seen soon even without a revocation feed, and with a second index
//! by session id so a revocation can evict the entry without knowing the secret. A general cache
//! crate would give TTL but not that second index, and this map is small enough to own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tessera_core::session::SessionRecord;
use tessera_core::{Session, SessionId, TokenHash, UserId};
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
    /// Counts [`LocalSessions::evict_user`] calls; a store read is stamped with it when it
    /// starts.
    epoch: u64,
    /// The epoch at which each user's sessions were last evicted: a record of that user read
    /// from the store at an earlier epoch may hold the roles from before, and is not kept.
    user_evicted_at: HashMap<UserId, u64>,
    /// Records read before this epoch are not kept for any user (`user_evicted_at` was
    /// cleared to bound it, and what it said is summed up here).
    evicted_floor: u64,
}

/// Users remembered in `user_evicted_at` before it is folded into `evicted_floor`.
const USER_EPOCHS_MAX: usize = 10_000;

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

    /// The current epoch, to pass to [`insert_read_at`](Self::insert_read_at) for a record read
    /// from the store after this call.
    pub fn epoch(&self) -> u64 {
        self.maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .epoch
    }

    /// As [`insert`](Self::insert) for a record whose store read began at `epoch`: if the user's
    /// sessions were evicted since, the record is returned but not kept.
    pub fn insert_read_at(
        &self,
        record: SessionRecord,
        now: OffsetDateTime,
        epoch: u64,
    ) -> Arc<CachedSession> {
        {
            let maps = self
                .maps
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let evicted = maps
                .user_evicted_at
                .get(&record.session.user_id)
                .copied()
                .unwrap_or(0)
                .max(maps.evicted_floor);
            if evicted > epoch {
                return Arc::new(CachedSession {
                    record,
                    cached_at: now,
                });
            }
        }
        self.insert(record, now)
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
            let Maps { by_hash, by_id, .. } = &mut *maps;
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
    pub fn evict_user(&self, user: UserId) {
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        maps.epoch += 1;
        let epoch = maps.epoch;
        if maps.user_evicted_at.len() >= USER_EPOCHS_MAX {
            maps.user_evicted_at.clear();
            maps.evicted_floor = epoch;
        }
        maps.user_evicted_at.insert(user, epoch);
        let Maps { by_hash, by_id, .. } = &mut *maps;
        by_hash.retain(|_, c| c.session.user_id != user);
        by_id.retain(|_, h| by_hash.contains_key(h));
    }
}

#[cfg(test)]
mod tests {
    use tessera_core::session::{ClientInfo, SessionLifetimes};
    use tessera_core::{Email, SessionKind};

    use super::*;

    fn record(user: UserId, now: OffsetDateTime) -> SessionRecord {
        let lifetimes = SessionLifetimes {
            idle: Duration::minutes(30),
            absolute: Duration::hours(1),
        };
        SessionRecord {
            session: lifetimes.open(
                user,
                SessionKind::Cookie,
                TokenHash::of(&uuid::Uuid::new_v4().to_string()),
                ClientInfo::default(),
                now,
            ),
            email: Email::parse("a@example.test").unwrap(),
            locked: false,
            roles: tessera_core::Roles::default(),
            claims: tessera_core::CustomClaims::default(),
        }
    }

    #[test]
    fn a_read_that_began_before_a_user_eviction_is_not_kept() {
        let cache = LocalSessions::new(Duration::seconds(5), 100);
        let now = OffsetDateTime::now_utc();
        let (alice, bob) = (UserId::random(), UserId::random());
        let before = cache.epoch();
        cache.evict_user(alice);
        let stale = record(alice, now);
        cache.insert_read_at(stale.clone(), now, before);
        assert!(cache.get(&stale.session.secret_hash, now).is_none());
        // Other users' reads, and reads that began after the eviction, are kept.
        let other = record(bob, now);
        cache.insert_read_at(other.clone(), now, before);
        assert!(cache.get(&other.session.secret_hash, now).is_some());
        let fresh = record(alice, now);
        cache.insert_read_at(fresh.clone(), now, cache.epoch());
        assert!(cache.get(&fresh.session.secret_hash, now).is_some());
    }
}
