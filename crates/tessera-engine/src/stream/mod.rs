//! The revocation stream for resource servers (`GET /v1/revocations`).
//!
//! Each instance keeps one [`RevocationHub`]: a bounded broadcast that every stream subscriber
//! of this instance reads. It is fed by what the instance itself learns — its revocation feed
//! (which also carries this instance's own revocations), the periodic resync from the store (for
//! feed messages that never arrived) and key-ring reloads — so a subscriber may connect to any
//! instance and hears revocations made on all of them.
//!
//! The store stays the truth. A subscriber first gets what the store holds, and whenever the hub
//! may have lost events (the instance's feed lagged) it reads the store again; a subscriber too
//! slow to keep up is dropped and resumes by cursor. Resuming re-reads the store from a little
//! before the cursor ([`RESUME_OVERLAP`]): revocation times come from the clocks of several
//! instances and reach the store a moment after they are taken, so a revocation stamped just
//! before a cursor may be committed after it was handed out. Repeats are harmless; a skip is not.

pub mod cursor;
pub mod subscriber;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tessera_core::SessionId;
use time::{Duration, OffsetDateTime};
use tokio::sync::{broadcast, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::Engine;

pub use cursor::Cursor;

/// How far before a cursor a resume reads again. Covers clock skew between instances (which
/// tokens already must keep within `token.leeway`) and the time between taking a revocation's
/// timestamp and its commit.
pub const RESUME_OVERLAP: Duration = Duration::seconds(5);

/// Room for a burst such as a big account's "sign out everywhere" between two reads of a
/// subscriber; a subscriber further behind than this is dropped.
const HUB_CAPACITY: usize = 4096;
/// How many recently announced sessions are remembered to drop duplicates (an instance hears
/// its own revocations twice: directly and back through the transport).
const RECENT_CAPACITY: usize = 1024;

/// What the hub tells its subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    Revoked {
        session: SessionId,
        at: OffsetDateTime,
    },
    /// The published signing keys changed; these are the key ids now.
    Keys(Arc<Vec<String>>),
    /// Events may have been lost on the way here: read the store again.
    Resync,
}

#[derive(Debug)]
pub struct RevocationHub {
    events: broadcast::Sender<HubEvent>,
    subscribers: Arc<Semaphore>,
    recent: Mutex<RecentSessions>,
    kids: Mutex<Vec<String>>,
    closing: CancellationToken,
}

/// A stream subscriber's place: its slot among `revocations.max_subscribers` and its receiver.
#[derive(Debug)]
pub struct Subscription {
    pub events: broadcast::Receiver<HubEvent>,
    pub closing: CancellationToken,
    _slot: OwnedSemaphorePermit,
}

impl RevocationHub {
    /// `kids`: the key ids published at start.
    pub fn new(max_subscribers: usize, kids: Vec<String>) -> Self {
        Self {
            events: broadcast::channel(HUB_CAPACITY).0,
            subscribers: Arc::new(Semaphore::new(max_subscribers)),
            recent: Mutex::new(RecentSessions::default()),
            kids: Mutex::new(kids),
            closing: CancellationToken::new(),
        }
    }

    /// A slot and a receiver, or 503 when every slot is taken (or the server is stopping).
    pub fn subscribe(&self) -> Result<Subscription, EngineError> {
        if self.closing.is_cancelled() {
            return Err(EngineError::Unavailable(None));
        }
        let slot = self.subscribers.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("tessera_revocation_subscribers_refused_total").increment(1);
            EngineError::Unavailable(None)
        })?;
        Ok(Subscription {
            events: self.events.subscribe(),
            closing: self.closing.clone(),
            _slot: slot,
        })
    }

    /// Announces a revocation, once per session however many ways it arrives.
    pub fn revoked(&self, session: SessionId, at: OffsetDateTime) {
        let fresh = self
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session);
        if fresh {
            let _ = self.events.send(HubEvent::Revoked { session, at });
        }
    }

    /// Announces the published key ids when they differ from the last ones announced (or
    /// loaded at start).
    pub fn keys(&self, kids: Vec<String>) {
        let mut known = self.kids.lock().unwrap_or_else(PoisonError::into_inner);
        if *known != kids {
            known.clone_from(&kids);
            let _ = self.events.send(HubEvent::Keys(Arc::new(kids)));
        }
    }

    pub fn resync(&self) {
        let _ = self.events.send(HubEvent::Resync);
    }

    /// Ends every stream (graceful shutdown waits for open responses, and these never end on
    /// their own) and refuses new ones.
    pub fn close(&self) {
        self.closing.cancel();
    }
}

/// The last [`RECENT_CAPACITY`] sessions announced, oldest forgotten first.
#[derive(Debug, Default)]
struct RecentSessions {
    order: VecDeque<SessionId>,
    members: HashSet<SessionId>,
}

impl RecentSessions {
    fn insert(&mut self, session: SessionId) -> bool {
        if !self.members.insert(session) {
            return false;
        }
        self.order.push_back(session);
        if self.order.len() > RECENT_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
        true
    }
}

/// A revocation as the stream and the poll show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub session: SessionId,
    pub at: OffsetDateTime,
}

impl Revocation {
    pub fn cursor(&self) -> Cursor {
        Cursor::of_revocation(self.session, self.at)
    }

    /// `{"sid", "revoked_at", "until"}`; `until` is when every token of the session has
    /// expired.
    pub fn to_json(&self, engine: &Engine) -> serde_json::Value {
        let until = self.at + engine.tokens.cfg.token_horizon();
        serde_json::json!({
            "sid": self.session.to_string(),
            "revoked_at": rfc3339(self.at),
            "until": rfc3339(until),
        })
    }
}

/// RFC 3339 in UTC with milliseconds, as every timestamp of the API.
fn rfc3339(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// Revocations whose tokens may still be alive at `now`, from `after` (less the overlap) on, as
/// the store holds them: the truth every instance shares.
pub async fn read_store(
    engine: &Engine,
    after: Option<Cursor>,
    now: OffsetDateTime,
) -> Result<Vec<Revocation>, EngineError> {
    let horizon_start = now - engine.tokens.cfg.token_horizon();
    let since = after.map_or(horizon_start, |c| {
        (c.at() - RESUME_OVERLAP).max(horizon_start)
    });
    Ok(engine
        .store
        .revoked_since(since)
        .await?
        .into_iter()
        .map(|(session, at)| Revocation { session, at })
        .collect())
}

/// The published key ids of `ring`, in JWKS order.
pub fn published_kids(ring: &tessera_token::KeyRing) -> Vec<String> {
    ring.jwks()["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_announced_once() {
        let hub = RevocationHub::new(2, Vec::new());
        let mut sub = hub.subscribe().unwrap();
        let (a, b) = (SessionId::random(), SessionId::random());
        let at = OffsetDateTime::UNIX_EPOCH;
        hub.revoked(a, at);
        hub.revoked(a, at);
        hub.revoked(b, at);
        assert_eq!(
            sub.events.try_recv().unwrap(),
            HubEvent::Revoked { session: a, at }
        );
        assert_eq!(
            sub.events.try_recv().unwrap(),
            HubEvent::Revoked { session: b, at }
        );
        assert!(sub.events.try_recv().is_err());
    }

    #[test]
    fn keys_are_announced_when_they_change() {
        let hub = RevocationHub::new(1, vec!["a".into()]);
        let mut sub = hub.subscribe().unwrap();
        hub.keys(vec!["a".into()]);
        hub.keys(vec!["a".into(), "b".into()]);
        hub.keys(vec!["a".into(), "b".into()]);
        assert_eq!(
            sub.events.try_recv().unwrap(),
            HubEvent::Keys(Arc::new(vec!["a".into(), "b".into()]))
        );
        assert!(sub.events.try_recv().is_err());
    }

    #[test]
    fn the_recent_set_is_bounded() {
        let mut recent = RecentSessions::default();
        let first = SessionId::random();
        assert!(recent.insert(first));
        for _ in 0..RECENT_CAPACITY {
            assert!(recent.insert(SessionId::random()));
        }
        assert_eq!(recent.order.len(), RECENT_CAPACITY);
        assert_eq!(recent.members.len(), RECENT_CAPACITY);
        assert!(recent.insert(first), "the oldest was forgotten");
    }

    #[test]
    fn subscribers_are_capped_and_slots_come_back() {
        let hub = RevocationHub::new(2, Vec::new());
        let one = hub.subscribe().unwrap();
        let _two = hub.subscribe().unwrap();
        assert!(matches!(hub.subscribe(), Err(EngineError::Unavailable(_))));
        drop(one);
        let _three = hub.subscribe().unwrap();
        hub.close();
        assert!(matches!(hub.subscribe(), Err(EngineError::Unavailable(_))));
    }
}
