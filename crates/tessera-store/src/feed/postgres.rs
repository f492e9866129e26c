//! LISTEN/NOTIFY: instances that share a Postgres store and no Redis.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tessera_core::{SessionId, StoreError};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::DropGuard;

use super::{emit_payload, encode, error_chain, Backoff, FeedEvent, Hub, RevocationFeed};

/// How long a publish may wait for a connection and for the NOTIFY to go through.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// One connection is held by the listener, one serves publishes.
const MAX_CONNECTIONS: u32 = 2;

/// Publishes with `pg_notify` and listens on a dedicated connection that is re-established
/// (with a [`FeedEvent::Resync`]) whenever it drops.
#[derive(Debug)]
pub struct PostgresFeed {
    hub: Arc<Hub>,
    pool: PgPool,
    _stop: DropGuard,
}

impl PostgresFeed {
    /// The NOTIFY channel. Notifications do not cross databases, so one name serves every
    /// deployment.
    pub const CHANNEL: &'static str = "tessera_revocations";
    /// Set on the feed's connections, so an operator (or a test) can tell them apart.
    pub const APPLICATION_NAME: &'static str = "tessera-revocation-feed";

    /// Starts listening on the database at `postgres://…`. Does not wait for the connection.
    /// Must be called within a Tokio runtime.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::unavailable)?;
        Ok(Self::with_options(options))
    }

    /// As [`connect`](Self::connect), with options already parsed (e.g. those of a store's
    /// pool). The feed opens its own connections.
    pub fn with_options(options: PgConnectOptions) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(PUBLISH_TIMEOUT)
            .connect_lazy_with(options.application_name(Self::APPLICATION_NAME));
        let hub = Hub::new(false);
        tokio::spawn(listen(Arc::clone(&hub), pool.clone()));
        Self {
            _stop: hub.stop.clone().drop_guard(),
            hub,
            pool,
        }
    }
}

async fn listen(hub: Arc<Hub>, pool: PgPool) {
    let mut backoff = Backoff::new();
    let mut outage_reported = false;
    loop {
        let subscribed = tokio::select! {
            () = hub.stop.cancelled() => break,
            subscribed = subscribe(&pool) => subscribed,
        };
        match subscribed {
            Ok(mut listener) => {
                // Listening before announcing: whatever the Resync reload misses arrives here.
                hub.connected();
                backoff.reset();
                outage_reported = false;
                let lost = loop {
                    let next = tokio::select! {
                        () = hub.stop.cancelled() => break None,
                        next = listener.try_recv() => next,
                    };
                    match next {
                        Ok(Some(notification)) => {
                            emit_payload(&hub, "postgres", notification.payload());
                        }
                        Ok(None) => break Some("connection closed".to_owned()),
                        Err(err) => break Some(error_chain(&err)),
                    }
                };
                hub.disconnected();
                match lost {
                    Some(reason) => {
                        tracing::warn!(%reason, "revocation feed lost Postgres; reconnecting");
                    }
                    None => break,
                }
            }
            Err(err) => {
                // Said once per outage, not once per attempt.
                if !outage_reported {
                    let error = error_chain(&err);
                    tracing::warn!(%error, "revocation feed cannot listen on Postgres; retrying");
                }
                outage_reported = true;
            }
        }
        if !backoff.wait(&hub.stop).await {
            break;
        }
    }
    pool.close().await;
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // The pool is ours; nothing else closes it while the listener waits.
    listener.ignore_pool_close_event(true);
    // Reconnecting is this module's job, so that every reconnect is seen and announced.
    listener.eager_reconnect(false);
    listener.listen(PostgresFeed::CHANNEL).await?;
    Ok(listener)
}

#[async_trait]
impl RevocationFeed for PostgresFeed {
    async fn publish(&self, session: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.hub.revoked(session, at);
        let notify = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(Self::CHANNEL)
            .bind(encode(session, at))
            .execute(&self.pool);
        match tokio::time::timeout(PUBLISH_TIMEOUT, notify).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Err(elapsed) => Err(StoreError::unavailable(elapsed)),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.hub.events.subscribe()
    }

    fn is_connected(&self) -> bool {
        self.hub.is_connected()
    }

    fn transport(&self) -> &'static str {
        "postgres"
    }
}
