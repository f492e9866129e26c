//! What the guard does when it cannot trust its revoked-session set, and opaque credentials.

use reqwest::StatusCode;
use tessera_core::TestClock;
use tessera_guard::{AuthMethod, CutoffPolicy, Guard, GuardError};

use crate::support::{
    call, eventually, guard_config, guarded_service, spawn_instance, start_guard, Instance,
    PATIENCE,
};

/// A guard that never reaches the stream (no client credentials): always cut off.
async fn cut_off_guard(app: &Instance, policy: CutoffPolicy) -> Guard {
    let mut cfg = guard_config(&[app], &(String::new(), String::new())).cutoff(policy, None);
    cfg.client_id = None;
    cfg.client_secret = None;
    Guard::start(cfg).await.unwrap()
}

#[tokio::test]
async fn cut_off_policies() {
    let app = spawn_instance("memory://", TestClock::starting_now()).await;
    let email = app.create_user().await;
    let live = app.access_token(&email).await;
    let revoked = app.access_token(&email).await;
    app.logout(&revoked).await;

    let ask = cut_off_guard(&app, CutoffPolicy::AskServer).await;
    assert!(ask.verify_token(&live).await.is_ok());
    assert!(
        matches!(
            ask.verify_token(&revoked).await,
            Err(GuardError::Invalid(_))
        ),
        "the server knows it is revoked"
    );

    let refuse = cut_off_guard(&app, CutoffPolicy::Refuse).await;
    assert!(matches!(
        refuse.verify_token(&live).await,
        Err(GuardError::Unavailable(_))
    ));
    let service = guarded_service(refuse).await;
    assert_eq!(
        call(&service, &live).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let accept = cut_off_guard(&app, CutoffPolicy::AcceptWithWarning).await;
    assert!(
        accept.verify_token(&revoked).await.is_ok(),
        "accepting blindly is what this policy means"
    );
}

#[tokio::test]
async fn the_default_policy_never_accepts_a_token_revoked_before_the_guard_started() {
    let app = spawn_instance("memory://", TestClock::starting_now()).await;
    let email = app.create_user().await;
    let revoked = app.access_token(&email).await;
    app.logout(&revoked).await;
    let guard = cut_off_guard(&app, CutoffPolicy::default()).await;
    assert!(guard.verify_token(&revoked).await.is_err());
}

#[tokio::test]
async fn opaque_session_tokens_are_checked_by_the_server_and_the_stream_ends_the_cache() {
    let app = spawn_instance("memory://", TestClock::starting_now()).await;
    let client = app.client().await;
    let mut cfg = guard_config(&[&app], &client);
    // Long enough that only the stream can end the cached answer within the test.
    cfg.check_cache_ttl = std::time::Duration::from_secs(3_001);
    let guard = start_guard(cfg).await;
    let service = guarded_service(guard.clone()).await;
    let email = app.create_user().await;
    let token = app.session_token(&email).await;

    let r = reqwest::Client::new()
        .get(format!("{service}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let principal = guard
        .verify_request(&http::Method::GET, &headers)
        .await
        .unwrap();
    assert_eq!(principal.method, AuthMethod::SessionToken);

    let r = app
        .http
        .delete(app.url("/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    eventually("the cached check is refused", PATIENCE, || async {
        call(&service, &token).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;

    let (status, challenge) = call(&service, "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("invalid_token"));
    let r = reqwest::Client::new()
        .get(format!("{service}/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"tessera\"");
}
