//! Several processes on one SQLite file (a server and the CLI revoking next to it): no channel
//! between them but the file, so the feed polls it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tessera_core::store::Store;
use tessera_core::{SessionId, StoreError, UserId};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::DropGuard;

use super::{FeedEvent, Hub, RevocationFeed};

/// Each poll looks this far behind the previous one, because a revocation's timestamp is taken
/// before its row commits: a row stamped just before a poll may only become visible after it.
const OVERLAP: time::Duration = time::Duration::seconds(10);

/// Polls `revoked_since` and announces what it has not announced yet.
///
/// Publishing only tells this process: the caller has already written the row, and the other
/// processes find it at their next poll. "Connected" means the last poll succeeded.
#[derive(Debug)]
pub struct PollingFeed {
    hub: Arc<Hub>,
    _stop: DropGuard,
}

impl PollingFeed {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

    /// Starts polling `store` every `interval`. Must be called within a Tokio runtime.
    pub fn new(store: Arc<dyn Store>, interval: Duration) -> Self {
        let hub = Hub::new(false);
        tokio::spawn(poll(Arc::clone(&hub), store, interval));
        Self {
            _stop: hub.stop.clone().drop_guard(),
            hub,
        }
    }
}

async fn poll(hub: Arc<Hub>, store: Arc<dyn Store>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Only a successful poll moves this on, so an outage of any length loses nothing.
    let mut covered_until = OffsetDateTime::now_utc();
    let mut announced: HashMap<SessionId, OffsetDateTime> = HashMap::new();
    loop {
        tokio::select! {
            () = hub.stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let started = OffsetDateTime::now_utc();
        let since = covered_until - OVERLAP;
        let found = tokio::select! {
            () = hub.stop.cancelled() => return,
            found = store.revoked_since(since) => found,
        };
        match found {
            Ok(rows) => {
                if !hub.is_connected() {
                    hub.connected();
                }
                for (session, at) in rows {
                    if announced.insert(session, at).is_none() {
                        hub.revoked(session, at);
                    }
                }
                // Anything older than the next window can no longer come back from the store.
                covered_until = started;
                let horizon = covered_until - OVERLAP;
                announced.retain(|_, at| *at >= horizon);
            }
            Err(err) => {
                if hub.is_connected() {
                    let error = super::error_chain(&err);
                    tracing::warn!(%error, "revocation poll failed; retrying");
                    hub.disconnected();
                }
            }
        }
    }
}

#[async_trait]
impl RevocationFeed for PollingFeed {
    async fn publish(&self, session: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.hub.revoked(session, at);
        Ok(())
    }

    async fn publish_user_changed(&self, user: UserId) -> Result<(), StoreError> {
        self.hub.emit(FeedEvent::UserChanged { user });
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.hub.events.subscribe()
    }

    fn is_connected(&self) -> bool {
        self.hub.is_connected()
    }

    fn transport(&self) -> &'static str {
        "poll"
    }
}
