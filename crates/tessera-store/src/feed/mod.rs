//! The revocation feed: how every instance learns, within a fraction of a second, that a session
//! was revoked somewhere, so it can add the id to its revoked-session set and drop the session
//! from its cache.
//!
//! The feed is a fast path only. The store is the truth: a revocation is durable before it is
//! published, and a subscriber that sees [`FeedEvent::Resync`] reloads
//! [`SessionStore::revoked_since`](tessera_core::store::SessionStore::revoked_since). So a lost
//! message never keeps a revoked session alive past the next reconnect.
//!
//! Transports, picked by [`open_feed`]: [`RedisFeed`] (pub/sub, when a cache URL is set),
//! [`PostgresFeed`] (LISTEN/NOTIFY), [`PollingFeed`] (SQLite shared by several processes) and
//! [`LocalFeed`] (one process).

mod local;
mod polling;
mod postgres;
mod redis;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::clock::{from_unix_millis, to_unix_millis};
use tessera_core::store::Store;
use tessera_core::{SessionId, StoreError, UserId};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use local::LocalFeed;
pub use polling::PollingFeed;
pub use postgres::PostgresFeed;
pub use redis::RedisFeed;

use crate::backoff::Backoff;
use crate::Backend;

/// What a subscriber is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    Revoked {
        session: SessionId,
        at: OffsetDateTime,
    },
    /// The user's roles or custom claims changed: drop the user's cached sessions, which
    /// carry the old ones. Nothing is revoked.
    UserChanged { user: UserId },
    /// (Re)connected: messages may have been missed; reload from the store.
    Resync,
}

/// A channel that tells every instance about revocations.
///
/// How a consumer should use it: subscribe first, then load `revoked_since` from the store
/// (what happened before subscribing is never replayed), then apply events as they come.
/// Events may repeat (this instance hears its own publications twice: once directly, once via
/// the transport), so applying one must be idempotent. A receiver that lags behind gets
/// `RecvError::Lagged`: events were lost, so treat that exactly like [`FeedEvent::Resync`].
#[async_trait]
pub trait RevocationFeed: Send + Sync + std::fmt::Debug {
    /// Tell every instance (including this one) that `session` was revoked at `at`.
    ///
    /// This instance's subscribers get the event before this returns, whatever the outcome.
    /// `Err` means the other instances could not be told *now*: callers log it and carry on,
    /// since the revocation is already in the store and every instance reloads recent
    /// revocations whenever its feed reconnects (and the server also does periodically). What
    /// becomes of a publication that failed depends on the transport: [`RedisFeed`] keeps it
    /// in a bounded queue and sends it as soon as Redis answers again (so an instance whose own
    /// subscription never broke still hears it promptly); [`PostgresFeed`] does not retry.
    async fn publish(&self, session: SessionId, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Tell every instance (including this one) that `user`'s roles or claims changed, so that
    /// each drops the user's sessions from its in-process cache.
    ///
    /// Best effort and never queued: an instance that misses it serves the old roles until
    /// its cached copy expires (seconds), and a feed reconnect clears the whole cache anyway.
    /// [`PollingFeed`] tells this process only (other processes on the same SQLite file see the
    /// change when their cached copy expires).
    async fn publish_user_changed(&self, user: UserId) -> Result<(), StoreError>;
    /// A receiver of events. Every subscriber gets every event published after it subscribed,
    /// plus Resync whenever the underlying connection (re)connects (the first connect included,
    /// if it happens after subscribing).
    fn subscribe(&self) -> broadcast::Receiver<FeedEvent>;
    /// Whether the transport is currently connected (for /readyz and metrics).
    fn is_connected(&self) -> bool;
    /// `"local"`, `"postgres"`, `"redis"` or `"poll"`.
    fn transport(&self) -> &'static str;
}

/// Picks the transport for a deployment: Redis when `cache_url` is set, else LISTEN/NOTIFY on a
/// Postgres store, else polling on a SQLite file, else in-process only.
///
/// Never waits for the network, so an unreachable Redis does not stop a start: the feed begins
/// disconnected and keeps retrying. Must be called within a Tokio runtime.
pub async fn open_feed(
    store: Arc<dyn Store>,
    store_url: &str,
    cache_url: Option<&str>,
) -> Result<Arc<dyn RevocationFeed>, StoreError> {
    if let Some(cache_url) = cache_url.map(str::trim).filter(|u| !u.is_empty()) {
        return Ok(Arc::new(RedisFeed::connect(cache_url)?));
    }
    let feed: Arc<dyn RevocationFeed> = match Backend::of_url(store_url)? {
        Backend::Postgres => Arc::new(PostgresFeed::connect(store_url)?),
        Backend::Sqlite if !is_private_sqlite(store_url) => {
            Arc::new(PollingFeed::new(store, PollingFeed::DEFAULT_INTERVAL))
        }
        Backend::Sqlite | Backend::Memory => Arc::new(LocalFeed::new()),
    };
    Ok(feed)
}

/// An in-memory SQLite database belongs to one process: nobody else can write to it.
fn is_private_sqlite(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Enough for a burst of "sign out everywhere" on a big account between two polls of a slow
/// consumer; past it the consumer sees `Lagged` and resyncs.
const CHANNEL_CAPACITY: usize = 4096;

/// The state every transport shares: the fan-out channel, the connection flag, and the token
/// that stops the background task when the feed is dropped.
#[derive(Debug)]
struct Hub {
    events: broadcast::Sender<FeedEvent>,
    connected: AtomicBool,
    stop: CancellationToken,
}

impl Hub {
    fn new(connected: bool) -> Arc<Self> {
        Arc::new(Self {
            events: broadcast::channel(CHANNEL_CAPACITY).0,
            connected: AtomicBool::new(connected),
            stop: CancellationToken::new(),
        })
    }

    fn emit(&self, event: FeedEvent) {
        // No subscriber yet is not an error: whoever subscribes later loads from the store.
        let _ = self.events.send(event);
    }

    fn revoked(&self, session: SessionId, at: OffsetDateTime) {
        self.emit(FeedEvent::Revoked { session, at });
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Marks the transport up and announces a Resync: anything may have been missed while it
    /// was down (or before it first came up).
    fn connected(&self) {
        self.connected.store(true, Ordering::Release);
        self.emit(FeedEvent::Resync);
    }

    fn disconnected(&self) {
        self.connected.store(false, Ordering::Release);
    }
}

/// The wire form of a revocation: `<session uuid>:<unix millis>`.
fn encode(session: SessionId, at: OffsetDateTime) -> String {
    format!("{}:{}", session.0, to_unix_millis(at))
}

/// The wire form of a user change: `user:<user uuid>`. An older instance reads it as a
/// malformed revocation and ignores it.
fn encode_user_changed(user: UserId) -> String {
    format!("{USER_PREFIX}{}", user.0)
}

const USER_PREFIX: &str = "user:";

/// Anything else on the channel (another tool, a newer version, noise) is ignored, not fatal.
fn decode(payload: &str) -> Option<FeedEvent> {
    if let Some(user) = payload.trim().strip_prefix(USER_PREFIX) {
        let user = UserId(Uuid::parse_str(user).ok()?);
        return Some(FeedEvent::UserChanged { user });
    }
    let (id, millis) = payload.trim().split_once(':')?;
    let session = SessionId(Uuid::parse_str(id).ok()?);
    let millis: i64 = millis.parse().ok()?;
    // from_unix_millis clamps to the epoch; a bogus time must not pass for a real one.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?;
    Some(FeedEvent::Revoked {
        session,
        at: from_unix_millis(millis),
    })
}

/// An error with its causes, for logs: the top-level messages alone rarely say what failed.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn emit_payload(hub: &Hub, transport: &str, payload: &str) {
    if let Some(event) = decode(payload) {
        hub.emit(event);
    } else {
        tracing::warn!(
            transport,
            len = payload.len(),
            "ignoring a malformed revocation feed message"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_at_millisecond_precision() {
        let session = SessionId::random();
        let at = from_unix_millis(1_772_366_400_123);
        assert_eq!(
            decode(&encode(session, at)),
            Some(FeedEvent::Revoked { session, at })
        );
    }

    #[test]
    fn user_changes_round_trip() {
        let user = UserId::random();
        assert_eq!(
            decode(&encode_user_changed(user)),
            Some(FeedEvent::UserChanged { user })
        );
        assert_eq!(decode("user:not-a-uuid"), None);
        assert_eq!(decode("user:"), None);
    }

    #[test]
    fn garbage_payloads_are_ignored() {
        let id = Uuid::new_v4();
        for bad in [
            String::new(),
            ":".into(),
            "hello".into(),
            format!("{id}"),
            format!("{id}:"),
            format!("{id}:abc"),
            "not-a-uuid:1".into(),
            format!("{id}:{}", i64::MAX),
            format!("{id}:1:2"),
            "\u{0}\u{fffd}:-".into(),
        ] {
            assert_eq!(decode(&bad), None, "{bad:?}");
        }
    }
}
