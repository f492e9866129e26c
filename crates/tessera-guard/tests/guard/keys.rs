//! Key rotation: the guard verifies tokens of keys it had never seen, without a restart.

use std::time::Duration;

use tessera_core::TestClock;
use tessera_guard::{CutoffPolicy, Guard};

use crate::support::{eventually, guard_config, spawn_instance, start_guard, PATIENCE};

async fn rotate_twice(instance: &crate::support::Instance) {
    // Twice: the first promotes the key already published as next (the guard holds it); the
    // second promotes one created by the first rotation, after the guard fetched its keys.
    tessera_engine::keys::rotate(&instance.state, true)
        .await
        .unwrap();
    tessera_engine::keys::rotate(&instance.state, true)
        .await
        .unwrap();
    // What the maintenance loop runs every 30 s: it announces `event: keys` on the stream.
    tessera_engine::keys::maintain(&instance.state).await;
}

#[tokio::test]
async fn keys_event_brings_the_new_keys() {
    let app = spawn_instance("memory://", TestClock::starting_now()).await;
    let client = app.client().await;
    let guard = start_guard(guard_config(&[&app], &client)).await;
    let email = app.create_user().await;
    let old = app.access_token(&email).await;
    assert!(guard.verify_token(&old).await.is_ok());

    rotate_twice(&app).await;
    let new = app.access_token(&email).await;
    let took = eventually("the guard verifies a new-key token", PATIENCE, || async {
        guard.verify_token(&new).await.is_ok()
    })
    .await;
    println!("new key usable after {took:?}");
    assert!(
        guard.verify_token(&old).await.is_ok(),
        "retired keys still verify"
    );
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_interval() {
    let app = spawn_instance("memory://", TestClock::starting_now()).await;
    let email = app.create_user().await;
    // No client credentials: no stream, so no `event: keys`; only the unknown kid can bring
    // the new key. Accepting while "cut off" keeps /v1/check out of it.
    let mut cfg = guard_config(&[&app], &(String::new(), String::new()))
        .cutoff(CutoffPolicy::AcceptWithWarning, None);
    cfg.client_id = None;
    cfg.client_secret = None;
    cfg.unknown_kid_refetch_interval = Duration::from_secs(3_001);
    let guard = Guard::start(cfg.clone()).await.unwrap();
    rotate_twice(&app).await;
    let new = app.access_token(&email).await;
    assert!(
        guard.verify_token(&new).await.is_err(),
        "the JWKS was fetched at start, less than an interval ago"
    );

    cfg.unknown_kid_refetch_interval = Duration::ZERO;
    let guard = Guard::start(cfg).await.unwrap();
    rotate_twice(&app).await;
    let new = app.access_token(&email).await;
    assert!(guard.verify_token(&new).await.is_ok());
}
