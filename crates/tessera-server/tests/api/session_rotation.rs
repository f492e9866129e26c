//! Session renewal (ASVS 7.2.4): a cookie login ends the session whose cookie the browser sent,
//! and a password change rotates the caller's own session.

use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::{
    cookie_pair, input_value, set_cookie, spawn_app, Auth, Backend, Call, TestApp, PASSWORD,
};
use crate::on_every_backend;

on_every_backend!(
    cookie_login_ends_the_session_of_the_cookie_it_replaces,
    form_login_ends_the_session_of_the_cookie_it_replaces,
    password_change_rotates_a_cookie_session,
    password_change_rotates_a_header_session,
    password_change_rotates_a_token_session,
    password_change_rotates_a_cookie_token_session,
    password_change_on_the_account_page_rotates_the_session,
);

const EMAIL: &str = "ada@example.com";
const NEW_PASSWORD: &str = "a brand new secret";

fn session_cookie(r: &Response) -> String {
    cookie_pair(r.headers(), "tessera_session").expect("session cookie set")
}

async fn status_with_cookie(app: &TestApp, cookie: &str) -> StatusCode {
    app.get_session(Auth::Cookie(cookie)).await.status()
}

async fn session_id_of(app: &TestApp, cookie: &str) -> String {
    let r = app.get_session(Auth::Cookie(cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["session"]["id"].as_str().unwrap().to_owned()
}

/// `POST /v1/session` with `cookie` attached.
async fn login_with_cookie(app: &TestApp, email: &str, transport: &str, cookie: &str) -> Response {
    app.login_via(transport, email, PASSWORD)
        .auth(Auth::Cookie(cookie))
        .await
}

async fn cookie_login_ends_the_session_of_the_cookie_it_replaces(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    app.create_user("bob@example.com").await;
    let (first, _, _) = app.login_cookie(EMAIL).await;

    // A body-transport login leaves the browser's cookie in place, so its session stays.
    let r = login_with_cookie(&app, EMAIL, "body", &first).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status_with_cookie(&app, &first).await, StatusCode::OK);

    let r = login_with_cookie(&app, EMAIL, "cookie", &first).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = session_cookie(&r);
    assert_eq!(
        status_with_cookie(&app, &first).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with_cookie(&app, &second).await, StatusCode::OK);

    // Signing in as someone else in the same browser ends the previous user's session too.
    let r = login_with_cookie(&app, "bob@example.com", "cookie", &second).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        status_with_cookie(&app, &second).await,
        StatusCode::UNAUTHORIZED
    );

    // A dead or made-up cookie is no obstacle.
    let r = login_with_cookie(&app, EMAIL, "cookie", &first).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = login_with_cookie(&app, EMAIL, "cookie", "tessera_session=tss_forged").await;
    assert_eq!(r.status(), StatusCode::OK);

    // A failed login ends nothing.
    let (live, _, _) = app.login_cookie(EMAIL).await;
    let r = app
        .login(EMAIL, "not the password")
        .auth(Auth::Cookie(&live))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(status_with_cookie(&app, &live).await, StatusCode::OK);
}

/// Signs in through `GET /login` + `POST /login` with the browser's `cookie` attached.
async fn form_login_with_cookie(app: &TestApp, cookie: &str) -> Response {
    let r = app.login_page(Auth::Cookie(cookie)).await;
    let pre_session = cookie_pair(r.headers(), "tessera_login_csrf").expect("pre-session cookie");
    let token = input_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    app.submit_login(
        Auth::Cookie(&format!("{pre_session}; {cookie}")),
        &[
            ("csrf_token", token.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ],
    )
    .await
}

async fn form_login_ends_the_session_of_the_cookie_it_replaces(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (first, _, _) = app.login_cookie(EMAIL).await;
    let r = form_login_with_cookie(&app, &first).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let second = session_cookie(&r);
    assert_eq!(
        status_with_cookie(&app, &first).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with_cookie(&app, &second).await, StatusCode::OK);
}

fn change_password(app: &TestApp, auth: Auth<'_>) -> Call {
    app.change_password(auth, PASSWORD, NEW_PASSWORD)
}

async fn password_change_rotates_a_cookie_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (old, csrf, _) = app.login_cookie(EMAIL).await;
    let old_id = session_id_of(&app, &old).await;
    let r = change_password(&app, Auth::Cookie(&old)).csrf(&csrf).await;
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "the contract's 204 stays"
    );
    let new = session_cookie(&r);
    assert_eq!(
        status_with_cookie(&app, &old).await,
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(session_id_of(&app, &new).await, old_id, "a new session id");
    // The new session's CSRF token comes from GET /v1/session; the old one no longer works.
    let r = app
        .revoke_other_sessions(Auth::Cookie(&new))
        .csrf(&csrf)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn password_change_rotates_a_header_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (old, body) = app.login_body(EMAIL).await;
    let r = change_password(&app, Auth::Bearer(&old)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie(r.headers(), "tessera_session").is_none());
    let successor: Value = r.json().await.unwrap();
    let new = successor["session_token"].as_str().expect("session_token");
    assert!(new.starts_with("tss_"));
    assert_ne!(successor["session"]["id"], body["session"]["id"]);
    assert_eq!(
        app.get_session(Auth::Bearer(&old)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.get_session(Auth::Bearer(new)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let current: Value = r.json().await.unwrap();
    assert_eq!(current["session"]["id"], successor["session"]["id"]);
    assert_eq!(current["session"]["kind"], "header");
}

async fn password_change_rotates_a_token_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let r = app
        .grant_password_with(EMAIL, PASSWORD, &[("client_id", "mobile-app")])
        .await;
    let old: Value = r.json().await.unwrap();
    let old_access = old["access_token"].as_str().unwrap();
    let r = change_password(&app, Auth::Bearer(old_access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let new: Value = r.json().await.unwrap();
    let new_access = new["access_token"].as_str().expect("access_token");
    assert!(new["refresh_token"].as_str().unwrap().starts_with("tsr_"));
    assert_eq!(
        app.check(Auth::Bearer(old_access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.check(Auth::Bearer(new_access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let check: Value = r.json().await.unwrap();
    let r = app
        .grant_refresh(old["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the old family is dead"
    );
    let r = app
        .grant_refresh(new["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the new family lives");
    // The new tokens belong to a new token session and keep the client's id.
    let r = app.get_session(Auth::Bearer(new_access)).await;
    let current: Value = r.json().await.unwrap();
    assert_eq!(current["session"]["kind"], "token");
    assert_eq!(current["session"]["id"], check["session_id"]);
    let claims = jwt_claims(new_access);
    assert_eq!(claims["client_id"], "mobile-app");
    assert_ne!(claims["sid"], jwt_claims(old_access)["sid"]);
}

async fn password_change_rotates_a_cookie_token_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let r = app
        .grant_password_with(EMAIL, PASSWORD, &[("transport", "cookie")])
        .await;
    let old = cookie_pair(r.headers(), "tessera_at").unwrap();
    let body: Value = r.json().await.unwrap();
    let r = change_password(&app, Auth::Cookie(&old))
        .csrf(body["csrf_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        set_cookie(r.headers(), "tessera_rt").is_some(),
        "a new refresh cookie"
    );
    let new = cookie_pair(r.headers(), "tessera_at").expect("a new access cookie");
    assert_eq!(
        app.check(Auth::Cookie(&old)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.check(Auth::Cookie(&new)).await.status(), StatusCode::OK);
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn password_change_on_the_account_page_rotates_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let r = form_login_with_cookie(&app, "").await;
    let old = session_cookie(&r);
    let old_id = session_id_of(&app, &old).await;
    let html = app.account_page(Auth::Cookie(&old)).text().await;
    let token = input_value(&html, "csrf_token").unwrap();
    let r = app
        .submit_password_change(
            Auth::Cookie(&old),
            &[
                ("csrf_token", token.as_str()),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new = session_cookie(&r);
    assert_eq!(
        status_with_cookie(&app, &old).await,
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(session_id_of(&app, &new).await, old_id);
    let r = app
        .account_page(Auth::Cookie(&new))
        .query(&[("done", "password")])
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the account page follows");
}
