//! Two instances on one Postgres: a guard following one of them learns what the other revokes,
//! and loses nothing when the instance it follows goes away.

use reqwest::StatusCode;
use tessera_core::TestClock;

use crate::support::{
    call, eventually, guard_config, guarded_service, spawn_instance, start_guard, PgDatabase,
    PATIENCE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_a_is_refused_by_a_service_guarded_through_b() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let clock = TestClock::starting_now();
    let a = spawn_instance(db.url(), clock.clone()).await;
    let b = spawn_instance(db.url(), clock).await;
    let client = a.client().await;
    let guard = start_guard(guard_config(&[&b], &client)).await;
    let service = guarded_service(guard.clone()).await;

    let email = a.create_user().await;
    let doomed = a.access_token(&email).await;
    let other = a.access_token(&email).await;
    assert_eq!(call(&service, &doomed).await.0, StatusCode::OK);
    assert_eq!(call(&service, &other).await.0, StatusCode::OK);

    a.logout(&doomed).await;
    let took = eventually("the guarded service refuses the JWT", PATIENCE, || async {
        call(&service, &doomed).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    println!("logout on A refused by the service guarded through B after {took:?}");
    let (_, challenge) = call(&service, &doomed).await;
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"tessera\", error=\"invalid_token\"")
    );
    assert_eq!(
        call(&service, &other).await.0,
        StatusCode::OK,
        "another session of the same user is untouched"
    );
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_the_stream_was_cut_is_known_after_reconnecting_elsewhere() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let clock = TestClock::starting_now();
    let a = spawn_instance(db.url(), clock.clone()).await;
    let b = spawn_instance(db.url(), clock).await;
    let client = b.client().await;
    let mut cfg = guard_config(&[&a, &b], &client);
    // Slow to come back, so the revocation below surely happens while it is cut off.
    cfg.reconnect_min = std::time::Duration::from_secs(1);
    cfg.reconnect_max = std::time::Duration::from_secs(1);
    let guard = start_guard(cfg).await;

    let email = b.create_user().await;
    let token = b.access_token(&email).await;
    let survivor = b.access_token(&email).await;
    let claims = guard.verify_token(&token).await.expect("valid before");

    drop(a);
    eventually("the guard notices the stream is gone", PATIENCE, || async {
        !guard.is_in_sync()
    })
    .await;
    b.logout(&token).await;
    assert!(
        !guard.is_revoked(&claims.session),
        "the revocation happened while the guard was cut off"
    );

    let took = eventually("the guard knows the revocation", PATIENCE, || async {
        guard.is_revoked(&claims.session)
    })
    .await;
    println!("revocation made during the cut known after {took:?}");
    assert!(guard.wait_in_sync(PATIENCE).await);
    assert!(guard.verify_token(&token).await.is_err());
    assert!(guard.verify_token(&survivor).await.is_ok());
    drop(db);
}
