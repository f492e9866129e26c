//! Helpers shared by the feed and throttle tests.

#![allow(dead_code)] // Each test binary uses its own subset.

pub mod proxy;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::store::Store;
use tessera_core::SessionId;
use tessera_store::conformance::fixtures;
use tessera_store::conformance::support::{session, user};
use tessera_store::{FeedEvent, PostgresStore};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

/// How long to wait for something that should take milliseconds. Generous: a loaded machine
/// must not fail a test, only a broken feed.
pub const PATIENCE: Duration = Duration::from_secs(5);
/// For waits that include a reconnect after the backoff has grown to its 5 s cap.
pub const RECONNECT_PATIENCE: Duration = Duration::from_secs(15);

pub async fn next_event(rx: &mut Receiver<FeedEvent>, within: Duration) -> FeedEvent {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(RecvError::Lagged(n))) => panic!("subscriber lagged by {n} events"),
        Ok(Err(RecvError::Closed)) => panic!("feed closed"),
        Err(elapsed) => panic!("no feed event within {within:?} ({elapsed})"),
    }
}

pub async fn wait_resync(rx: &mut Receiver<FeedEvent>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if next_event(rx, left).await == FeedEvent::Resync {
            return;
        }
    }
}

/// Waits for the revocation of `session`, skipping anything else; returns its timestamp.
pub async fn wait_revoked(rx: &mut Receiver<FeedEvent>, wanted: SessionId) -> OffsetDateTime {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let FeedEvent::Revoked { session, at } = next_event(rx, left).await {
            if session == wanted {
                return at;
            }
        }
    }
}

/// Nothing is waiting in `rx` (after giving the feed `settle` to deliver anything pending).
pub async fn assert_quiet(rx: &mut Receiver<FeedEvent>, settle: Duration) {
    tokio::time::sleep(settle).await;
    if let Ok(event) = rx.try_recv() {
        panic!("unexpected feed event {event:?}");
    }
}

pub async fn wait_until(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A stored, live session (and its user) to revoke.
pub async fn live_session(store: &Arc<dyn Store>) -> SessionId {
    let owner = user();
    store.create_user(&owner).await.expect("create user");
    let session = session(&owner, OffsetDateTime::now_utc());
    store
        .create_session(&session)
        .await
        .expect("create session");
    session.id
}

/// A timestamp as the stores keep it (whole milliseconds), so round trips compare equal.
pub fn now_millis() -> OffsetDateTime {
    tessera_core::clock::truncate_to_millis(OffsetDateTime::now_utc())
}

/// Runs `case` against a fresh Postgres database, dropped afterwards even if the case panics.
/// Returns without running it when Postgres is absent and CI is not set.
pub async fn with_postgres<F, Fut>(case: F)
where
    F: FnOnce(Arc<PostgresStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(fixture) = fixtures::postgres().await else {
        return;
    };
    let outcome = tokio::spawn(case(Arc::clone(&fixture.store))).await;
    fixture.teardown().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Whether something answers PING at `url`. When nothing does, the test is skipped with a
/// message, unless CI is set: CI must never pass by skipping.
pub async fn redis_available(url: &str) -> bool {
    let ping = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    let reason = match tokio::time::timeout(Duration::from_secs(3), ping).await {
        Ok(Ok(_)) => return true,
        Ok(Err(err)) => err.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "Redis at {url} is unreachable ({reason}) and CI is set"
    );
    eprintln!("skipping: Redis at {url} is unreachable ({reason})");
    false
}

/// Latencies in milliseconds, summarised for the test output.
pub fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |percent: usize| samples[(samples.len() - 1) * percent / 100];
    format!(
        "n={} min={:.2}ms p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        samples.len(),
        ms(samples[0]),
        ms(at(50)),
        ms(at(90)),
        ms(at(99)),
        ms(samples[samples.len() - 1]),
    )
}
