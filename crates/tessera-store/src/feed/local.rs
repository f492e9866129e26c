//! One process, no transport: the memory store, or an instance that is alone on its store.

use async_trait::async_trait;
use tessera_core::{SessionId, StoreError, UserId};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::{FeedEvent, Hub, RevocationFeed};

/// In-process fan-out only. Always connected: there is nothing to lose.
#[derive(Debug)]
pub struct LocalFeed {
    hub: std::sync::Arc<Hub>,
}

impl LocalFeed {
    pub fn new() -> Self {
        Self {
            hub: Hub::new(true),
        }
    }
}

impl Default for LocalFeed {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl RevocationFeed for LocalFeed {
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
        true
    }

    fn transport(&self) -> &'static str {
        "local"
    }
}
