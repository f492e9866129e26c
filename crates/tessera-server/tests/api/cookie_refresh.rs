//! A refresh token presented as the refresh cookie always gets its successor as cookies.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{cookie_pair, set_cookie, spawn_app_with, Backend, TestApp, PASSWORD};
use crate::on_every_backend;

on_every_backend!(cookie_refresh_answers_with_cookies_whatever_transport_says);

const ACCESS: &str = "__Host-tessera_at";
const REFRESH: &str = "__Secure-tessera_rt";

/// A cookie-transport password grant: (refresh cookie header, CSRF token).
async fn cookie_grant(app: &TestApp) -> (String, String) {
    let r = app
        .grant_password_with("ada@example.com", PASSWORD, &[("transport", "cookie")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rt = cookie_pair(r.headers(), REFRESH).expect("refresh cookie");
    let body: Value = r.json().await.unwrap();
    (rt, body["csrf_token"].as_str().unwrap().to_owned())
}

/// Refreshes with only the cookie; `transport` is sent when given. Returns the new refresh
/// cookie header.
async fn refresh_by_cookie(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    transport: Option<&str>,
) -> String {
    let r = app
        .grant_refresh_by_cookie(cookie, transport)
        .csrf(csrf)
        .await;
    assert_eq!(r.status(), StatusCode::OK, "transport {transport:?}");
    let access = set_cookie(r.headers(), ACCESS).map(ToOwned::to_owned);
    let refresh = cookie_pair(r.headers(), REFRESH);
    let body: Value = r.json().await.unwrap();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "transport {transport:?}: tokens in the body: {body}"
    );
    assert!(
        access.is_some(),
        "transport {transport:?}: no access cookie"
    );
    refresh.expect("refresh cookie")
}

async fn cookie_refresh_answers_with_cookies_whatever_transport_says(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[server]\npublic_url = \"https://auth.example.com\"",
    )
    .await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf) = cookie_grant(&app).await;
    // The CSRF token belongs to the session, which every rotation keeps.
    let cookie = refresh_by_cookie(&app, &cookie, &csrf, None).await;
    let cookie = refresh_by_cookie(&app, &cookie, &csrf, Some("body")).await;
    // The browser now holds the latest successor: using it is no reuse.
    refresh_by_cookie(&app, &cookie, &csrf, Some("cookie")).await;
}
