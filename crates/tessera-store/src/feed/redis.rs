//! Redis pub/sub: the fastest transport, for deployments that set a cache URL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::Client;
use tessera_core::{SessionId, StoreError};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::DropGuard;

use super::{emit_payload, encode, error_chain, Backoff, FeedEvent, Hub, RevocationFeed};
use crate::redis_link::{RedisLink, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// A subscriber connection only ever reads, so a silently dead one (a partition, not a closed
/// socket) would look idle forever; a periodic PING finds it.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Publishes with `PUBLISH` and listens on a dedicated subscriber connection that is
/// re-established (with a [`FeedEvent::Resync`]) whenever it drops.
///
/// A failed publish is an error for the caller to log: the revocation is already in the store,
/// and the other instances reload it when their subscriber reconnects.
#[derive(Debug)]
pub struct RedisFeed {
    hub: Arc<Hub>,
    link: RedisLink,
    channel: String,
    _stop: DropGuard,
}

impl RedisFeed {
    pub const DEFAULT_CHANNEL: &'static str = "tessera:revocations";

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
        tokio::spawn(listen(
            Arc::clone(&hub),
            link.client().clone(),
            channel.to_owned(),
        ));
        Ok(Self {
            _stop: hub.stop.clone().drop_guard(),
            hub,
            link,
            channel: channel.to_owned(),
        })
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
    async fn publish(&self, session: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.hub.revoked(session, at);
        self.link
            .cmd::<i64>(
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(encode(session, at)),
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
