//! Redis pub/sub: the fastest transport, for deployments that set a cache URL.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::Client;
use tessera_core::{SessionId, StoreError, UserId};
use time::OffsetDateTime;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::DropGuard;

use super::{
    emit_payload, encode, encode_user_changed, error_chain, Backoff, FeedEvent, Hub, RevocationFeed,
};
use crate::redis_link::{RedisLink, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// A subscriber connection only ever reads, so a silently dead one (a partition, not a closed
/// socket) would look idle forever; a periodic PING finds it.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Publishes with `PUBLISH` and listens on a dedicated subscriber connection that is
/// re-established (with a [`FeedEvent::Resync`]) whenever it drops.
///
/// A publish that cannot reach Redis (down, hung, or the link still waiting to reconnect) is an
/// error for the caller to log, and is kept: up to [`MAX_QUEUED`](Self::MAX_QUEUED) of them
/// wait in a queue that a background task sends as soon as the link is up again. That matters
/// for the instances whose own subscription never broke (only this instance lost Redis, or
/// Redis stalled for a moment): they would otherwise only learn it at their next periodic
/// resync. Past the bound the oldest are dropped (and counted in
/// [`dropped`](Self::dropped)); the store still has them for every resync.
#[derive(Debug)]
pub struct RedisFeed {
    hub: Arc<Hub>,
    link: RedisLink,
    channel: String,
    outbox: Arc<Outbox>,
    _stop: DropGuard,
}

impl RedisFeed {
    pub const DEFAULT_CHANNEL: &'static str = "tessera:revocations";
    /// How many unpublished revocations are kept for when Redis answers again.
    pub const MAX_QUEUED: usize = 10_000;

    /// Starts listening on [`DEFAULT_CHANNEL`](Self::DEFAULT_CHANNEL) at `redis://…`. Does not
    /// wait for Redis: it may be down now and come up later. Must be called within a Tokio
    /// runtime.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_channel(url, Self::DEFAULT_CHANNEL)
    }

    /// As [`connect`](Self::connect) on another channel, e.g. to keep two deployments (or two
    /// tests) that share a Redis apart.
    pub fn connect_channel(url: &str, channel: &str) -> Result<Self, StoreError> {
        let link = RedisLink::new(url)?;
        let hub = Hub::new(false);
        let outbox = Arc::new(Outbox::new(Self::MAX_QUEUED));
        tokio::spawn(listen(
            Arc::clone(&hub),
            link.client().clone(),
            channel.to_owned(),
        ));
        tokio::spawn(flush(
            Arc::clone(&hub),
            link.clone(),
            Arc::clone(&outbox),
            channel.to_owned(),
        ));
        Ok(Self {
            _stop: hub.stop.clone().drop_guard(),
            hub,
            link,
            channel: channel.to_owned(),
            outbox,
        })
    }

    /// Revocations waiting to be published.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// Revocations dropped unpublished because the queue was full, since the feed started.
    pub fn dropped(&self) -> u64 {
        self.outbox.dropped.load(Ordering::Relaxed)
    }
}

async fn listen(hub: Arc<Hub>, client: Client, channel: String) {
    let mut backoff = Backoff::new();
    let mut outage_reported = false;
    loop {
        let subscribed = tokio::select! {
            () = hub.stop.cancelled() => return,
            subscribed = subscribe(&client, &channel) => subscribed,
        };
        match subscribed {
            Ok((mut sink, mut stream)) => {
                // Subscribed before announcing: whatever the Resync reload misses arrives here.
                hub.connected();
                backoff.reset();
                outage_reported = false;
                let lost = receive(&hub, &mut sink, &mut stream).await;
                hub.disconnected();
                match lost {
                    Some(reason) => {
                        tracing::warn!(%reason, "revocation feed lost Redis; reconnecting");
                    }
                    None => return,
                }
            }
            Err(reason) => {
                // Said once per outage, not once per attempt.
                if !outage_reported {
                    tracing::warn!(%reason, "revocation feed cannot subscribe on Redis; retrying");
                }
                outage_reported = true;
            }
        }
        if !backoff.wait(&hub.stop).await {
            return;
        }
    }
}

async fn subscribe(client: &Client, channel: &str) -> Result<(PubSubSink, PubSubStream), String> {
    let attempt = async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok::<_, redis::RedisError>((sink, stream))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, attempt).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(err)) => Err(error_chain(&err)),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// Relays messages until the connection is lost (`Some(reason)`) or the feed stops (`None`).
async fn receive(hub: &Hub, sink: &mut PubSubSink, stream: &mut PubSubStream) -> Option<String> {
    let start = tokio::time::Instant::now() + PING_EVERY;
    let mut ping = tokio::time::interval_at(start, PING_EVERY);
    loop {
        tokio::select! {
            () = hub.stop.cancelled() => return None,
            message = stream.next() => {
                let Some(message) = message else {
                    return Some("connection closed".to_owned());
                };
                // Bytes that are not UTF-8 cannot decode either; the decoder reports them.
                let payload = std::str::from_utf8(message.get_payload_bytes()).unwrap_or("");
                emit_payload(hub, "redis", payload);
            }
            _ = ping.tick() => {
                match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return Some(error_chain(&err)),
                    Err(_) => return Some("ping timed out".to_owned()),
                }
            }
        }
    }
}

#[async_trait]
impl RevocationFeed for RedisFeed {
    /// Local subscribers hear it at once; on `Err`, the revocation is queued for Redis.
    async fn publish(&self, session: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.hub.revoked(session, at);
        let published = self
            .link
            .cmd::<i64>(
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(encode(session, at)),
            )
            .await;
        match published {
            Ok(_) => Ok(()),
            Err(err) => {
                self.outbox.push((session, at));
                Err(StoreError::unavailable(Queued(err)))
            }
        }
    }

    async fn publish_user_changed(&self, user: UserId) -> Result<(), StoreError> {
        self.hub.emit(FeedEvent::UserChanged { user });
        self.link
            .cmd::<i64>(
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(encode_user_changed(user)),
            )
            .await
            .map(drop)
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.hub.events.subscribe()
    }

    fn is_connected(&self) -> bool {
        self.hub.is_connected()
    }

    fn transport(&self) -> &'static str {
        "redis"
    }
}

/// How many queued revocations go to Redis in one round trip.
const FLUSH_BATCH: usize = 100;

/// Sends queued revocations whenever there are some and the link is up, until the feed stops.
async fn flush(hub: Arc<Hub>, link: RedisLink, outbox: Arc<Outbox>, channel: String) {
    let mut up = link.watch_up();
    // Only for error replies from a Redis that is up: a down link is waited for instead.
    let mut backoff = Backoff::new();
    let mut sent = 0;
    loop {
        if outbox.len() == 0 {
            if sent > 0 {
                tracing::info!(
                    sent,
                    "published the revocations queued while Redis was unavailable"
                );
                sent = 0;
            }
            outbox.overflowing.store(false, Ordering::Relaxed);
            tokio::select! {
                () = hub.stop.cancelled() => return,
                () = outbox.queued.notified() => {}
            }
            continue;
        }
        if !*up.borrow_and_update() {
            tokio::select! {
                () = hub.stop.cancelled() => return,
                changed = up.changed() => if changed.is_err() { return },
            }
            continue;
        }
        let batch = outbox.take(FLUSH_BATCH);
        let mut pipe = redis::pipe();
        for (session, at) in &batch {
            pipe.cmd("PUBLISH")
                .arg(&channel)
                .arg(encode(*session, *at))
                .ignore();
        }
        let result = tokio::select! {
            () = hub.stop.cancelled() => return,
            result = link.pipe::<()>(&pipe) => result,
        };
        match result {
            Ok(()) => {
                sent += batch.len();
                backoff.reset();
            }
            Err(err) => {
                outbox.put_back(batch);
                if link.is_up() {
                    // Redis is up and refused: retry later rather than at once.
                    let error = error_chain(&err);
                    tracing::warn!(%error, "could not publish queued revocations; retrying");
                    if !backoff.wait(&hub.stop).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Revocations that could not be published yet, oldest first.
#[derive(Debug)]
struct Outbox {
    queue: Mutex<VecDeque<(SessionId, OffsetDateTime)>>,
    capacity: usize,
    /// Signalled on every push; remembers a signal that nobody waited for.
    queued: Notify,
    dropped: AtomicU64,
    /// Set from the first drop until the queue is empty again, so an overflow is logged once.
    overflowing: AtomicBool,
}

impl Outbox {
    fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            queued: Notify::new(),
            dropped: AtomicU64::new(0),
            overflowing: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(SessionId, OffsetDateTime)>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn push(&self, item: (SessionId, OffsetDateTime)) {
        {
            let mut queue = self.lock();
            queue.push_back(item);
            self.trim(&mut queue);
        }
        self.queued.notify_one();
    }

    /// Up to `max` of the oldest, removed from the queue.
    fn take(&self, max: usize) -> Vec<(SessionId, OffsetDateTime)> {
        let mut queue = self.lock();
        let n = max.min(queue.len());
        queue.drain(..n).collect()
    }

    /// Returns what [`take`](Self::take) took and could not send, ahead of anything newer.
    fn put_back(&self, batch: Vec<(SessionId, OffsetDateTime)>) {
        let mut queue = self.lock();
        for item in batch.into_iter().rev() {
            queue.push_front(item);
        }
        self.trim(&mut queue);
    }

    fn trim(&self, queue: &mut VecDeque<(SessionId, OffsetDateTime)>) {
        let excess = queue.len().saturating_sub(self.capacity);
        if excess == 0 {
            return;
        }
        queue.drain(..excess);
        self.dropped.fetch_add(excess as u64, Ordering::Relaxed);
        if !self.overflowing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                capacity = self.capacity,
                "too many revocations waiting for Redis; dropping the oldest (other instances \
                 still load them from the store at their next resync)"
            );
        }
    }
}

/// A publication that did not reach Redis and waits in the queue.
#[derive(Debug)]
struct Queued(StoreError);

impl fmt::Display for Queued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not published now; queued until Redis answers again")
    }
}

impl std::error::Error for Queued {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: i64) -> (SessionId, OffsetDateTime) {
        (
            SessionId::random(),
            tessera_core::clock::from_unix_millis(1_772_366_400_000 + n),
        )
    }

    #[test]
    fn the_outbox_keeps_the_newest_and_counts_what_it_drops() {
        let outbox = Outbox::new(3);
        let items: Vec<_> = (0..5).map(item).collect();
        for it in &items {
            outbox.push(*it);
        }
        assert_eq!(outbox.len(), 3);
        assert_eq!(outbox.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(outbox.take(2), items[2..4]);

        // What could not be sent goes back ahead of anything newer.
        outbox.put_back(vec![items[2], items[3]]);
        assert_eq!(outbox.take(10), items[2..5]);
        // And is the first to go when that overflows.
        let newer: Vec<_> = (5..7).map(item).collect();
        outbox.push(items[4]);
        outbox.push(newer[0]);
        outbox.push(newer[1]);
        outbox.put_back(vec![items[2], items[3]]);
        assert_eq!(outbox.dropped.load(Ordering::Relaxed), 4);
        assert_eq!(outbox.take(10), [items[4], newer[0], newer[1]]);
        assert_eq!(outbox.len(), 0);
        assert!(outbox.take(10).is_empty());
    }
}
