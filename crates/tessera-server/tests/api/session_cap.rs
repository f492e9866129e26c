//! `session.max_per_user`: a login beyond the cap ends the user's oldest sessions.

use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{spawn_app_with, Auth, Backend, TestApp};
use crate::on_every_backend;

on_every_backend!(
    a_login_over_the_cap_ends_the_oldest_session,
    no_cap_when_zero
);

const EMAIL: &str = "ada@example.com";

async fn listed(app: &TestApp, token: &str) -> usize {
    let r = app.list_sessions(Auth::Bearer(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["sessions"].as_array().unwrap().len()
}

async fn a_login_over_the_cap_ends_the_oldest_session(backend: Backend) {
    let app = spawn_app_with(backend, "[session]\nmax_per_user = 3").await;
    app.create_user(EMAIL).await;
    app.create_user("bob@example.com").await;
    let (bob, _) = app.login_body("bob@example.com").await;
    // "Oldest" is by login time, so the logins happen a second apart.
    let tick = || app.clock.advance(Duration::seconds(1));
    let first = app.token_pair(EMAIL).await;
    tick();
    let (second, _, _) = app.login_cookie(EMAIL).await;
    tick();
    let (third, _) = app.login_body(EMAIL).await;
    assert_eq!(listed(&app, &third).await, 3, "at the cap nothing ends");
    tick();

    let (fourth, _) = app.login_body(EMAIL).await;
    let first_access = first["access_token"].as_str().unwrap();
    assert_eq!(
        app.check(Auth::Bearer(first_access)).status().await,
        StatusCode::UNAUTHORIZED,
        "the oldest session ended, and its access token with it"
    );
    let r = app
        .grant_refresh(first["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "and its refresh family"
    );
    assert_eq!(
        app.get_session(Auth::Cookie(&second)).status().await,
        StatusCode::OK
    );
    assert_eq!(
        app.get_session(Auth::Bearer(&third)).status().await,
        StatusCode::OK
    );
    assert_eq!(listed(&app, &fourth).await, 3);

    // The next login ends the next oldest.
    tick();
    let (fifth, _) = app.login_body(EMAIL).await;
    assert_eq!(
        app.get_session(Auth::Cookie(&second)).status().await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(listed(&app, &fifth).await, 3);
    // Another user's sessions do not count.
    assert_eq!(
        app.get_session(Auth::Bearer(&bob)).status().await,
        StatusCode::OK
    );
}

async fn no_cap_when_zero(backend: Backend) {
    let app = spawn_app_with(backend, "[session]\nmax_per_user = 0").await;
    app.create_user(EMAIL).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(app.login_body(EMAIL).await.0);
    }
    for token in &tokens {
        assert_eq!(
            app.get_session(Auth::Bearer(token)).status().await,
            StatusCode::OK
        );
    }
    assert_eq!(listed(&app, &tokens[0]).await, 5);
}
