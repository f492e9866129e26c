//! The background tasks over time.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use tessera_core::store::Store;
use tessera_core::Clock as _;
use tessera_core::{Email, SessionKind, User, UserId};
use tessera_engine::sessions;
use tessera_engine::tasks::Background;
use tessera_engine::Caller;
use time::Duration;

use crate::on_every_backend;
use crate::support::{clock, engine, settings};

on_every_backend!(the_sweep_loop_deletes_expired_sessions_and_stops_on_shutdown);

async fn the_sweep_loop_deletes_expired_sessions_and_stops_on_shutdown(store: Arc<dyn Store>) {
    let clock = clock();
    let engine = engine(store.clone(), &clock, settings("memory://")).await;
    let now = clock.now();
    let user = User {
        id: UserId::random(),
        email: Email::parse("sweep@example.com").unwrap(),
        password_hash: "unused".into(),
        locked: false,
        email_verified_at: None,
        roles: tessera_core::Roles::default(),
        claims: tessera_core::CustomClaims::default(),
        created_at: now,
        updated_at: now,
    };
    store.create_user(&user).await.unwrap();
    let caller = Caller::local();
    let (expiring, _) =
        sessions::open_session(&engine, user.id, SessionKind::Header, None, &caller)
            .await
            .unwrap();
    clock.advance(Duration::minutes(31)); // past the 30-minute idle timeout
    let (fresh, _) = sessions::open_session(&engine, user.id, SessionKind::Header, None, &caller)
        .await
        .unwrap();

    let (_tx, events) = tokio::sync::broadcast::channel(1);
    let background = Background::start(&engine, events);
    // The sweep runs every second (`sweep_interval`); wait for it to have run, on real time.
    let mut swept = false;
    for _ in 0..50 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        if store.session_by_id(expiring.id).await.unwrap().is_none() {
            swept = true;
            break;
        }
    }
    assert!(swept, "the expired session was deleted by the sweep loop");
    assert!(
        store.session_by_id(fresh.id).await.unwrap().is_some(),
        "a live session is kept"
    );
    // Shutdown cancels and joins every task; it must not hang on a sleeping loop.
    tokio::time::timeout(StdDuration::from_secs(5), background.shutdown())
        .await
        .expect("the background tasks stop when told");
}
