//! What must survive a restart on the same database, and what concurrent sign-ups of one
//! address must leave behind.

use std::future::IntoFuture as _;

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use tessera_core::TestClock;

use crate::cluster::support::{check, logout, refresh, str_of, Credential, TempSqlite};
use crate::helpers::{spawn_app, spawn_instance, Auth, Backend, TestApp, PASSWORD};
use crate::on_every_backend;

on_every_backend!(concurrent_sign_ups_of_one_address_create_one_account);

async fn kids(app: &TestApp) -> Vec<String> {
    let mut kids = app.jwks_kids().await;
    kids.sort();
    kids
}

async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let body = app.get_session(Auth::Cookie(cookie)).json().await;
    str_of(&body, "csrf_token").to_owned()
}

/// Stops `app` and waits until its port no longer answers, so the next instance is alone on
/// the database.
async fn stop(app: TestApp) {
    let probe = app.healthz();
    drop(app);
    for _ in 0..200 {
        if probe.try_clone().try_send().await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the first instance never stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_revocations_keys_and_secrets() {
    let db = TempSqlite::new();
    let clock = TestClock::starting_now();
    let before = spawn_instance(&db.url(), "", clock.clone()).await;
    before.create_user("ada@example.com").await;
    let revoked = before.token_pair("ada@example.com").await;
    let kept = before.token_pair("ada@example.com").await;
    let revoked_at = Credential::Bearer(str_of(&revoked, "access_token").to_owned());
    let kept_at = Credential::Bearer(str_of(&kept, "access_token").to_owned());
    logout(&before, &revoked_at, None).await;
    let (cookie, csrf, _) = before.login_cookie("ada@example.com").await;
    let kids_before = kids(&before).await;
    stop(before).await;

    let after = spawn_instance(&db.url(), "", clock).await;
    // Revocations: the revoked set is loaded from the store, so the JWT of the ended session
    // stays refused although its signature and lifetime are fine.
    assert_eq!(check(&after, &revoked_at).await, StatusCode::UNAUTHORIZED);
    // Keys: the same ring, so tokens signed before the restart verify.
    assert_eq!(kids(&after).await, kids_before);
    assert_eq!(check(&after, &kept_at).await, StatusCode::OK);
    // Server secrets: the CSRF key (same token for the same session) and the refresh-successor
    // key (a refresh token from before rotates).
    assert_eq!(csrf_of(&after, &cookie).await, csrf);
    let (status, body) = refresh(&after, str_of(&kept, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = refresh(&after, str_of(&revoked, "refresh_token")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the ended session's family stays dead"
    );
}

async fn concurrent_sign_ups_of_one_address_create_one_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts = (0..20).map(|_| app.sign_up("ada@example.com", PASSWORD).into_future());
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .iter()
        .map(Response::status)
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    let email = tessera_core::Email::parse("ada@example.com").unwrap();
    assert!(app
        .state
        .store
        .user_by_email(&email)
        .await
        .unwrap()
        .is_some());
}
