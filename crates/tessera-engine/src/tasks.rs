//! The engine's background tasks, owned in one place and joined on shutdown.
//!
//! Every task is spawned on one [`TaskTracker`] and watches one [`CancellationToken`]: stopping
//! cancels the token and waits for all of them, so nothing the engine started outlives it.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use tessera_store::FeedEvent;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{keys, mail, revocation, Engine};

/// How often the signing ring is rebuilt from the store (to pick up rotations made by another
/// instance or the CLI), the revoked set pruned, and revocations resynced from the store.
const MAINTENANCE_EVERY: StdDuration = StdDuration::from_secs(30);

#[derive(Debug)]
pub struct Background {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Background {
    /// Starts the sweeper, the maintenance loop, the revocation-feed follower and the mail
    /// sender. `events` is
    /// the subscription [`Engine::start`] took before it loaded the revoked set.
    pub fn start(engine: &Arc<Engine>, events: broadcast::Receiver<FeedEvent>) -> Self {
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        tasks.spawn(sweep_loop(engine.clone(), stop.clone()));
        tasks.spawn(maintenance_loop(engine.clone(), stop.clone()));
        tasks.spawn(revocation::follow_feed(
            engine.clone(),
            events,
            stop.clone(),
        ));
        tasks.spawn(mail::sender::run(engine.clone(), stop.clone()));
        tasks.close();
        Self { tasks, stop }
    }

    /// Tells every task to stop and waits until they have.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

/// Sleeps `every`; false when told to stop first.
async fn tick(every: StdDuration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(every) => true,
        () = stop.cancelled() => false,
    }
}

/// Deletes expired sessions, and revoked ones once no access token can still name them. The
/// delete is idempotent, so several instances sweeping the same store is harmless.
async fn sweep_loop(engine: Arc<Engine>, stop: CancellationToken) {
    let every =
        StdDuration::from_secs(engine.settings.sweep_interval.whole_seconds().max(1) as u64);
    while tick(every, &stop).await {
        let now = engine.clock.now();
        let keep_revoked = engine.tokens.cfg.access_ttl + engine.tokens.cfg.leeway;
        match engine.store.sweep_sessions(now, now - keep_revoked).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "swept expired sessions"),
            Err(err) => tracing::warn!(error = %err, "session sweep failed"),
        }
        if let Err(err) = engine.store.sweep_email_tokens(now).await {
            tracing::warn!(error = %err, "email-link sweep failed");
        }
        if let Err(err) = engine.store.sweep_mfa_challenges(now).await {
            tracing::warn!(error = %err, "pending second-step sweep failed");
        }
        if let Err(err) = engine.store.sweep_ceremonies(now).await {
            tracing::warn!(error = %err, "WebAuthn ceremony sweep failed");
        }
    }
}

async fn maintenance_loop(engine: Arc<Engine>, stop: CancellationToken) {
    while tick(MAINTENANCE_EVERY, &stop).await {
        keys::maintain(&engine).await;
        // Belt and braces under the feed: Redis pub/sub is at-most-once.
        revocation::resync(&engine).await;
    }
}
