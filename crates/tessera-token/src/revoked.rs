//! The revoked-session set: how a stateless token gets revoked.
//!
//! An access token carries its session id in `sid`. When a session ends, its id goes in here,
//! and every check refuses tokens that name it. An entry is only needed while a token issued
//! before the revocation could still be accepted, i.e. for `access_ttl + leeway`; after that
//! every such token has expired on its own, so the set stays as small as the number of sessions
//! revoked in the last few minutes.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use tessera_core::SessionId;
use time::{Duration, OffsetDateTime};

/// Safe to share across threads. Reads take a shared lock and one hash lookup; writes (a
/// revocation, a prune) are rare, so a plain `RwLock<HashMap>` beats anything cleverer here.
#[derive(Debug)]
pub struct RevokedSessions {
    entries: RwLock<HashMap<SessionId, OffsetDateTime>>,
    retention: Duration,
}

impl RevokedSessions {
    /// `retention` is how long an entry must be kept: `TokenConfig::token_horizon()`.
    pub fn new(retention: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            retention,
        }
    }

    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Records that `sid` was revoked at `at`. Returns true if it was not known before. A later
    /// time for a known id extends the entry; an earlier one never shortens it.
    pub fn insert(&self, sid: SessionId, at: OffsetDateTime) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = entries.get_mut(&sid) {
            *known = (*known).max(at);
            false
        } else {
            entries.insert(sid, at);
            true
        }
    }

    /// Records a revocation known by when its last token expires (`until`), as the revocation
    /// stream announces it to resource servers: the entry is dropped by [`Self::prune`] at
    /// `until`, whatever this set's retention. Returns true if `sid` was not known before.
    pub fn insert_until(&self, sid: SessionId, until: OffsetDateTime) -> bool {
        self.insert(sid, until - self.retention)
    }

    /// Adds many at once, e.g. the store's `revoked_since` at start or after losing the
    /// revocation feed.
    pub fn extend(&self, revoked: impl IntoIterator<Item = (SessionId, OffsetDateTime)>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for (sid, at) in revoked {
            entries
                .entry(sid)
                .and_modify(|known| *known = (*known).max(at))
                .or_insert(at);
        }
    }

    /// The read on every access-token check.
    pub fn contains(&self, sid: &SessionId) -> bool {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(sid)
    }

    /// Drops entries whose tokens have all expired (`revoked_at + retention <= now`). Returns how
    /// many went.
    pub fn prune(&self, now: OffsetDateTime) -> usize {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let before = entries.len();
        entries.retain(|_, at| *at + self.retention > now);
        before - entries.len()
    }

    /// The oldest revocation time still needed at `now`: what to pass to the store's
    /// `revoked_since` when rebuilding the set.
    pub fn reload_since(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.retention
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    #[test]
    fn entries_live_exactly_for_the_retention() {
        let set = RevokedSessions::new(Duration::seconds(330));
        let (a, b) = (SessionId::random(), SessionId::random());
        assert!(set.insert(a, t0()));
        assert!(
            !set.insert(a, t0() - Duration::minutes(1)),
            "earlier time never shortens"
        );
        set.extend([(b, t0() + Duration::seconds(10))]);
        assert!(set.contains(&a) && set.contains(&b));
        assert!(!set.contains(&SessionId::random()));

        assert_eq!(set.prune(t0() + Duration::seconds(329)), 0);
        assert!(set.contains(&a));
        assert_eq!(set.prune(t0() + Duration::seconds(330)), 1);
        assert!(!set.contains(&a) && set.contains(&b));
        assert_eq!(set.prune(t0() + Duration::seconds(340)), 1);
        assert!(set.is_empty());
        assert_eq!(set.reload_since(t0()), t0() - Duration::seconds(330));
    }

    #[test]
    fn an_entry_known_by_its_until_goes_at_until() {
        let set = RevokedSessions::new(Duration::seconds(330));
        let sid = SessionId::random();
        assert!(set.insert_until(sid, t0() + Duration::seconds(60)));
        assert_eq!(set.prune(t0() + Duration::seconds(59)), 0);
        assert!(set.contains(&sid));
        assert_eq!(set.prune(t0() + Duration::seconds(60)), 1);
        assert!(!set.contains(&sid));
    }

    #[test]
    fn shared_across_threads() {
        let set = std::sync::Arc::new(RevokedSessions::new(Duration::minutes(5)));
        let sids: Vec<_> = (0..64).map(|_| SessionId::random()).collect();
        std::thread::scope(|scope| {
            for chunk in sids.chunks(16) {
                let set = &set;
                scope.spawn(move || {
                    for sid in chunk {
                        set.insert(*sid, t0());
                        assert!(set.contains(sid));
                    }
                });
            }
        });
        assert_eq!(set.len(), 64);
    }
}
