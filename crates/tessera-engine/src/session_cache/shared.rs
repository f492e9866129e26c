//! The session cache shared by every instance through Redis when `cache.url` is set: the second
//! level of the session check, between the in-process cache and the store.
//!
//! Redis is only ever a shortcut to what the store says, so every failure is a miss:
//! - a Redis error sends the check to the store; the first error of a burst is logged, every
//!   one is counted in `tessera_degraded_total{dependency="cache"}`. A Redis that is down or
//!   hung costs the hot path nothing beyond the requests already waiting on it: the link
//!   (`tessera_store::redis_link`) then fails every call at once and reconnects in the
//!   background;
//! - a record that does not decode, or is of another format version, is a miss;
//! - a record the check would refuse is deleted and the store asked, since it may only be
//!   stale (another instance moved the idle expiry on).
//!
//! Records live at most [`SHARED_TTL`], never longer than the revoked-session set remembers a
//! revocation, and never past the session's own expiry. Every revoke path goes through
//! [`SharedSessions::revoke`] (from `revocation::publish`), which deletes the record and
//! keeps in-flight fills from writing it back; a revocation whose delete fails is retried when
//! Redis answers again. A record that still slipped through is refused by the revoked-set check
//! every session check makes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use tessera_core::{SessionId, StoreError, TokenHash};
use tessera_store::shared_sessions::REVOKED_MARK_TTL;
use tessera_store::{RedisSessionCache, SessionRecord};
use time::{Duration, OffsetDateTime};

use crate::outage::Outage;

/// How long a record is trusted at most.
pub const SHARED_TTL: Duration = Duration::seconds(60);
/// Revocations waiting for Redis beyond this many are only covered by the revoked-set check.
const MAX_PENDING: usize = 10_000;

#[derive(Debug)]
pub struct SharedSessions {
    redis: RedisSessionCache,
    ttl: Duration,
    /// A burst of failures is logged once, and its end retries the waiting revocations.
    outage: Outage,
    /// Revocations whose delete failed, with when retrying stops mattering: by then no record
    /// written before the revocation can be left.
    pending: Mutex<HashMap<SessionId, Instant>>,
    retrying: AtomicBool,
    counts: Counts,
}

#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    fills: AtomicU64,
    errors: AtomicU64,
}

/// This instance's use of the shared cache since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedStats {
    /// Lookups that found a usable record.
    pub hits: u64,
    /// Lookups that found nothing usable (absent, corrupt, another version, refused).
    pub misses: u64,
    /// Records written after a store read or an activity write.
    pub fills: u64,
    /// Redis failures.
    pub errors: u64,
}

impl SharedSessions {
    /// The cache at `url`, with records trusted for [`SHARED_TTL`] or `horizon` (how long the
    /// revoked-session set remembers a revocation), whichever is shorter. Does not connect yet.
    /// Records are authenticated under `mac_key`, a server secret kept in the store.
    pub fn new(url: &str, horizon: Duration, mac_key: [u8; 32]) -> Result<Self, StoreError> {
        Ok(Self {
            redis: RedisSessionCache::new(url, mac_key)?,
            ttl: SHARED_TTL.min(horizon),
            outage: Outage::default(),
            pending: Mutex::new(HashMap::new()),
            retrying: AtomicBool::new(false),
            counts: Counts::default(),
        })
    }

    pub fn stats(&self) -> SharedStats {
        SharedStats {
            hits: self.counts.hits.load(Ordering::Relaxed),
            misses: self.counts.misses.load(Ordering::Relaxed),
            fills: self.counts.fills.load(Ordering::Relaxed),
            errors: self.counts.errors.load(Ordering::Relaxed),
        }
    }

    /// The record for `hash`, if Redis has one that decodes and passes `usable` (the check's
    /// own rules). One that fails them is deleted, so that the next check refills it from the
    /// store, which decides.
    pub async fn lookup(
        self: &Arc<Self>,
        hash: &TokenHash,
        usable: impl FnOnce(&SessionRecord) -> bool,
    ) -> Option<SessionRecord> {
        let found = match self.redis.get(hash).await {
            Ok(found) => {
                self.answered();
                found
            }
            Err(StoreError::Corrupt(what)) => {
                self.answered();
                tracing::debug!(%what, "unusable shared session record; asking the store");
                None
            }
            Err(err) => {
                self.failed(&err);
                return None;
            }
        };
        match found {
            Some(entry) if usable(&entry) => {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry)
            }
            Some(_) => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                self.forget(hash).await;
                None
            }
            None => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores what a check just accepted, after a store read or an activity write. Refused by
    /// Redis itself if the session was revoked meanwhile.
    pub async fn fill(self: &Arc<Self>, record: &SessionRecord, now: OffsetDateTime) {
        match self.redis.put(record, now, self.ttl).await {
            Ok(stored) => {
                self.answered();
                if stored {
                    self.counts.fills.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(err) => self.failed(&err),
        }
    }

    /// Drops the record for `hash`, one a check refused. A failure is only counted: such a
    /// record is refused by every check anyway, and expires with the session.
    pub async fn forget(self: &Arc<Self>, hash: &TokenHash) {
        match self.redis.delete(hash).await {
            Ok(()) => self.answered(),
            Err(err) => self.failed(&err),
        }
    }

    /// Drops session `id` from the shared cache for good. On failure it is kept and retried once
    /// Redis answers again (and at every resync).
    pub async fn revoke(self: &Arc<Self>, id: SessionId) {
        match self.redis.revoke(id).await {
            Ok(()) => self.answered(),
            Err(err) => {
                self.failed(&err);
                let give_up_at = Instant::now() + to_std(self.ttl + REVOKED_MARK_TTL);
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                if pending.len() < MAX_PENDING {
                    pending.insert(id, give_up_at);
                } else {
                    tracing::warn!(
                        session = %id,
                        "too many revocations waiting for the shared session cache; this one \
                         relies on the revoked-session set"
                    );
                }
            }
        }
    }

    /// Retries the revocations that could not reach Redis; stops at the first failure.
    pub async fn retry_pending(&self) {
        let now = Instant::now();
        let due: Vec<SessionId> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.retain(|_, give_up_at| *give_up_at > now);
            pending.keys().copied().collect()
        };
        for id in due {
            if let Err(err) = self.redis.revoke(id).await {
                self.failed(&err);
                return;
            }
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }

    /// Redis answered: ends a failure burst, and retries waiting revocations in the background.
    fn answered(self: &Arc<Self>) {
        if !self
            .outage
            .answered("shared session cache is reachable again")
        {
            return;
        }
        if !self.retrying.swap(true, Ordering::AcqRel) {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                this.retry_pending().await;
                this.retrying.store(false, Ordering::Release);
            });
        }
    }

    fn failed(&self, err: &StoreError) {
        self.counts.errors.fetch_add(1, Ordering::Relaxed);
        self.outage.failed(
            "cache",
            err,
            "shared session cache unavailable; checking sessions against the store",
        );
    }
}

fn to_std(d: Duration) -> StdDuration {
    StdDuration::try_from(d).unwrap_or(StdDuration::ZERO)
}
