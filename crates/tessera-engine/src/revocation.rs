//! Spreading revocations to every instance.
//!
//! Every revoke path records the revocation in the store first (durable), then applies it
//! locally (revoked set + cache eviction), then drops it from the shared session cache (when
//! there is one) and publishes it on the feed. Each instance applies what the feed delivers.
//! Whenever the feed (re)connects — or a subscriber falls behind — the instance reloads recent
//! revocations from the store, and the maintenance loop does the same every 30 s: a lost
//! message can delay a revocation on another instance, never cancel it.

use std::sync::Arc;

use tessera_core::SessionId;
use tessera_store::FeedEvent;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{tokens, Engine};

/// Applies a revocation made (or learned) by this instance.
pub fn apply_locally(engine: &Engine, session: SessionId, at: OffsetDateTime) {
    tokens::mark_revoked(engine, session, at);
    engine.sessions.evict_local(session);
}

/// Tells the other instances: drops the session from the shared session cache, where any of
/// them could find it, then publishes the revocation on the feed. A failure is logged, not
/// returned: the revocation is already in the store, and the others pick it up at their next
/// resync (the shared cache's delete is retried when Redis answers again, and the Redis feed
/// keeps the publication and sends it then).
pub async fn publish(engine: &Engine, session: SessionId, at: OffsetDateTime) {
    engine.sessions.revoke_shared(session).await;
    if let Err(err) = engine.feed.publish(session, at).await {
        tracing::warn!(error = %crate::error::chain(&err), transport = engine.feed.transport(), "could not publish a revocation");
        metrics::counter!("tessera_degraded_total", "dependency" => "feed").increment(1);
    }
}

/// Reloads every revocation recent enough to matter and drops the session cache, after which
/// this instance knows at least what the store knows. Also retries the shared-cache deletes of
/// revocations made while Redis was unreachable: a resync follows its return.
pub async fn resync(engine: &Engine) {
    engine.sessions.retry_pending().await;
    let now = engine.clock.now();
    let since = now - engine.tokens.cfg.token_horizon();
    match engine.store.revoked_since(since).await {
        Ok(revoked) => {
            // What the feed never delivered (Redis pub/sub is at-most-once) reaches the
            // revocation stream from here. Revocations this instance made or heard are in the
            // set already and went to the stream when they happened.
            let revoked_set = engine.tokens.verifier.revoked();
            for &(session, at) in &revoked {
                if !revoked_set.contains(&session) {
                    engine.revocation_stream.revoked(session, at);
                }
            }
            revoked_set.extend(revoked);
            engine.sessions.clear_local();
            metrics::counter!("tessera_revocation_resyncs_total").increment(1);
        }
        Err(err) => {
            tracing::warn!(error = %crate::error::chain(&err), "could not reload revocations");
        }
    }
}

/// Applies feed events until told to stop.
pub async fn follow_feed(
    engine: Arc<Engine>,
    mut events: broadcast::Receiver<FeedEvent>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = stop.cancelled() => return,
        };
        match event {
            Ok(FeedEvent::Revoked { session, at }) => {
                apply_locally(&engine, session, at);
                engine.revocation_stream.revoked(session, at);
                metrics::counter!("tessera_revocations_received_total").increment(1);
            }
            Ok(FeedEvent::UserChanged { user }) => engine.sessions.evict_user_local(user),
            Ok(FeedEvent::Resync) => resync(&engine).await,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                resync(&engine).await;
                // Lost events may include this instance's own revocations, which the resync
                // finds already applied: the stream's subscribers must read the store.
                engine.revocation_stream.resync();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
