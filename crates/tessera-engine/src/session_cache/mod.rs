//! The session cache: one component that owns the three tiers of a session lookup and their
//! invariants, with one record type ([`SessionRecord`]) in all of them.
//!
//! 1. [`LocalSessions`], in this process: a hit costs no I/O. Short-lived, evicted by id on
//!    every revocation this instance makes or hears of.
//! 2. [`SharedSessions`], in Redis when `cache.url` is set: a miss on one instance is often a
//!    hit on another. Records are authenticated, and a record the caller's checks refuse is
//!    deleted rather than trusted, since it may only be stale.
//! 3. The store, which is the truth: what it answers is written back to both caches.
//!
//! Whatever tier answers, the caller applies the same liveness verdict
//! ([`SessionRecord::verdict`]); no tier can make a revoked session usable.

mod local;
mod shared;

use std::sync::Arc;

use tessera_core::session::SessionRecord;
use tessera_core::store::Store;
use tessera_core::{Session, SessionId, StoreError, TokenHash, UserId};
use time::{Duration, OffsetDateTime};

pub use local::{CachedSession, LocalSessions};
pub use shared::{SharedSessions, SharedStats, SHARED_TTL};

/// How long a cached session is trusted before the store is asked again. Revocations made by
/// this instance evict immediately; this bounds how long a change made elsewhere can go unseen
/// when no revocation feed is configured.
const LOCAL_TTL: Duration = Duration::seconds(5);
const LOCAL_CAPACITY: usize = 100_000;

/// Which tier answered a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Local,
    Shared,
    Store,
}

#[derive(Debug)]
pub struct SessionCache {
    local: LocalSessions,
    shared: Option<Arc<SharedSessions>>,
}

impl SessionCache {
    /// The local tier, and the shared one when `cache_url` names a Redis. `horizon` is how long
    /// the revoked-session set remembers a revocation: no shared record may outlive it. Records
    /// in Redis are authenticated under `mac_key`.
    pub fn new(
        cache_url: Option<&str>,
        horizon: Duration,
        mac_key: [u8; 32],
    ) -> Result<Self, StoreError> {
        let shared = cache_url
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| SharedSessions::new(url, horizon, mac_key).map(Arc::new))
            .transpose()?;
        Ok(Self {
            local: LocalSessions::new(LOCAL_TTL, LOCAL_CAPACITY),
            shared,
        })
    }

    /// The shared tier, when there is one (its counters are what tests and benchmarks read).
    pub fn shared(&self) -> Option<&Arc<SharedSessions>> {
        self.shared.as_ref()
    }

    /// Finds the record for `hash`, tier by tier. A shared record is taken only if `usable`
    /// accepts it; the store's answer is cached locally (and the caller writes it back to the
    /// shared tier once it has applied its checks, see [`Self::fill_shared`]).
    pub async fn lookup(
        &self,
        store: &dyn Store,
        hash: &TokenHash,
        now: OffsetDateTime,
        usable: impl FnOnce(&SessionRecord) -> bool,
    ) -> Result<Option<(Arc<CachedSession>, Tier)>, StoreError> {
        if let Some(hit) = self.local.get(hash, now) {
            metrics::counter!("tessera_session_cache_total", "result" => "hit").increment(1);
            return Ok(Some((hit, Tier::Local)));
        }
        // Taken before the reads: if the user's roles or claims change while they run, the
        // record read may predate the change, and is then answered but not kept.
        let epoch = self.local.epoch();
        if let Some(shared) = &self.shared {
            if let Some(found) = shared.lookup(hash, usable).await {
                metrics::counter!("tessera_session_cache_total", "result" => "shared_hit")
                    .increment(1);
                let kept = self.local.insert_read_at(found, now, epoch);
                return Ok(Some((kept, Tier::Shared)));
            }
        }
        metrics::counter!("tessera_session_cache_total", "result" => "miss").increment(1);
        let Some(session) = store.session_by_secret_hash(hash).await? else {
            return Ok(None);
        };
        let Some(user) = store.user_by_id(session.user_id).await? else {
            return Ok(None);
        };
        let record = SessionRecord {
            session,
            email: user.email,
            locked: user.locked,
            roles: user.roles,
            claims: user.claims,
        };
        Ok(Some((
            self.local.insert_read_at(record, now, epoch),
            Tier::Store,
        )))
    }

    /// Keeps the local copy in step after an activity write.
    pub fn update(&self, session: &Session) {
        self.local.update(session);
    }

    /// Writes what a check accepted to the shared tier, so other instances find it.
    pub async fn fill_shared(&self, record: &SessionRecord, now: OffsetDateTime) {
        if let Some(shared) = &self.shared {
            shared.fill(record, now).await;
        }
    }

    /// Drops a session the caller's checks refused (or whose activity write found it gone).
    pub async fn forget(&self, id: SessionId, hash: &TokenHash) {
        self.local.evict(id);
        if let Some(shared) = &self.shared {
            shared.forget(hash).await;
        }
    }

    /// Drops a session from this instance's tier only.
    pub fn evict_local(&self, id: SessionId) {
        self.local.evict(id);
    }

    /// Drops every cached session of a user from this instance's tier (lock, unlock, a change
    /// of roles or claims), and keeps records read from the store before now out of it.
    pub fn evict_user_local(&self, user: UserId) {
        self.local.evict_user(user);
    }

    /// Forgets this instance's tier, after the instance may have missed revocations.
    pub fn clear_local(&self) {
        self.local.clear();
    }

    /// Drops a revoked session from the shared tier for good (retried if Redis is down).
    pub async fn revoke_shared(&self, id: SessionId) {
        if let Some(shared) = &self.shared {
            shared.revoke(id).await;
        }
    }

    /// Drops session `id` from the shared tier because what its record says about the user
    /// changed: the same delete and mark as a revocation, so that a fill that read the store
    /// before the change cannot write the old record back. The session stays valid; it is
    /// read from the store until the mark expires.
    pub async fn invalidate_shared(&self, id: SessionId) {
        self.revoke_shared(id).await;
    }

    /// Retries the shared-tier deletes that failed while Redis was unreachable.
    pub async fn retry_pending(&self) {
        if let Some(shared) = &self.shared {
            shared.retry_pending().await;
        }
    }
}
