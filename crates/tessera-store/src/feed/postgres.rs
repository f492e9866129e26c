//! LISTEN/NOTIFY: instances that share a Postgres store and no Redis.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPool, PgPoolOptions};
use sqlx::{Acquire, Connection};
use tessera_core::{SessionId, StoreError, UserId};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::DropGuard;

use super::{
    emit_payload, encode, encode_user_changed, error_chain, Backoff, FeedEvent, Hub, RevocationFeed,
};

/// How long a publish may wait for a connection and for the NOTIFY to go through.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// For publishes. The listener has a connection of its own.
const MAX_CONNECTIONS: u32 = 2;
/// The listener's connection only ever reads, so one that died silently (a partition, a host
/// that vanished: no FIN, no RST) would look idle forever. This often the feed sends a ping
/// (a protocol-level `Sync`, no query) on that very connection, and gives up on it if the
/// answer takes longer than [`PING_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes with `pg_notify` and listens on a dedicated connection that is re-established
/// (with a [`FeedEvent::Resync`]) whenever it drops, or fails to answer the ping the feed sends
/// on it every 5 s within 5 s (so a half-open connection is noticed within about 10 s).
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
        let options = options.application_name(Self::APPLICATION_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(PUBLISH_TIMEOUT)
            .connect_lazy_with(options.clone());
        let hub = Hub::new(false);
        tokio::spawn(listen(Arc::clone(&hub), pool.clone(), options));
        Self {
            _stop: hub.stop.clone().drop_guard(),
            hub,
            pool,
        }
    }
}

async fn listen(hub: Arc<Hub>, pool: PgPool, options: PgConnectOptions) {
    let mut backoff = Backoff::new();
    let mut outage_reported = false;
    loop {
        let subscribed = tokio::select! {
            () = hub.stop.cancelled() => break,
            subscribed = subscribe(&options) => subscribed,
        };
        match subscribed {
            Ok(mut listener) => {
                // Listening before announcing: whatever the Resync reload misses arrives here.
                hub.connected();
                backoff.reset();
                outage_reported = false;
                let lost = receive(&hub, &mut listener).await;
                hub.disconnected();
                match lost {
                    Some(reason) => {
                        tracing::warn!(%reason, "revocation feed lost Postgres; reconnecting");
                    }
                    None => break,
                }
            }
            Err(reason) => {
                // Said once per outage, not once per attempt.
                if !outage_reported {
                    tracing::warn!(%reason, "revocation feed cannot listen on Postgres; retrying");
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

/// Relays notifications until the connection is lost (`Some(reason)`) or the feed stops
/// (`None`).
async fn receive(hub: &Hub, listener: &mut PgListener) -> Option<String> {
    enum Next {
        Stop,
        Ping,
        Received(Result<Option<PgNotification>, sqlx::Error>),
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        // `try_recv` is cancel-safe: a notification half read when a tick wins stays buffered.
        let next = tokio::select! {
            () = hub.stop.cancelled() => Next::Stop,
            _ = ping.tick() => Next::Ping,
            received = listener.try_recv() => Next::Received(received),
        };
        match next {
            Next::Stop => return None,
            // Notifications that arrive meanwhile are buffered for the next `try_recv`.
            Next::Ping => {
                let answered = tokio::select! {
                    () = hub.stop.cancelled() => return None,
                    answered = tokio::time::timeout(PING_TIMEOUT, ping_on(listener)) => answered,
                };
                match answered {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => return Some(error_chain(&err)),
                    Err(_) => return Some(format!("no answer to a ping within {PING_TIMEOUT:?}")),
                }
            }
            Next::Received(Ok(Some(notification))) => {
                emit_payload(hub, "postgres", notification.payload());
            }
            Next::Received(Ok(None)) => return Some("connection closed".to_owned()),
            Next::Received(Err(err)) => return Some(error_chain(&err)),
        }
    }
}

/// One round trip on the listener's own connection.
async fn ping_on(listener: &mut PgListener) -> Result<(), sqlx::Error> {
    listener.acquire().await?.ping().await
}

/// A listener on a connection of its own, from a pool of its own: dropping a listener whose
/// connection hangs leaves a task waiting on that connection (sqlx unlistens, then pings it
/// before reuse) until the kernel gives up on it, and that must not hold a connection the
/// publishes or the next listener need.
async fn subscribe(options: &PgConnectOptions) -> Result<PgListener, String> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(PUBLISH_TIMEOUT)
        .connect_lazy_with(options.clone());
    let attempt = async {
        let mut listener = PgListener::connect_with(&pool).await?;
        // Reconnecting is this module's job, so that every reconnect is seen and announced.
        listener.eager_reconnect(false);
        listener.listen(PostgresFeed::CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    // The pool bounds the connect; this bounds the LISTEN too, on a server that hangs.
    match tokio::time::timeout(PUBLISH_TIMEOUT * 2, attempt).await {
        Ok(Ok(listener)) => Ok(listener),
        Ok(Err(err)) => Err(error_chain(&err)),
        Err(_) => Err("timed out".to_owned()),
    }
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

    async fn publish_user_changed(&self, user: UserId) -> Result<(), StoreError> {
        self.hub.emit(FeedEvent::UserChanged { user });
        let notify = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(Self::CHANNEL)
            .bind(encode_user_changed(user))
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
