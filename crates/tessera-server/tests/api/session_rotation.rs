//! Session renewal (ASVS 7.2.4): a cookie login ends the session whose cookie the browser sent,
//! and a password change rotates the caller's own session.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{cookie_value, set_cookie, spawn_app, Backend, TestApp, PASSWORD};
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
    let line = set_cookie(r.headers(), "tessera_session").expect("session cookie set");
    format!("tessera_session={}", cookie_value(line))
}

async fn status_with_cookie(app: &TestApp, cookie: &str) -> StatusCode {
    app.get_with_cookie("/v1/session", cookie).await.status()
}

async fn session_id_of(app: &TestApp, cookie: &str) -> String {
    let r = app.get_with_cookie("/v1/session", cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["session"]["id"].as_str().unwrap().to_owned()
}

/// `POST /v1/session` with `cookie` attached.
async fn login_with_cookie(app: &TestApp, email: &str, transport: &str, cookie: &str) -> Response {
    app.client
        .post(app.url("/v1/session"))
        .header("cookie", cookie)
        .json(&json!({ "email": email, "password": PASSWORD, "transport": transport }))
        .send()
        .await
        .unwrap()
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
        .client
        .post(app.url("/v1/session"))
        .header("cookie", &live)
        .json(&json!({ "email": EMAIL, "password": "not the password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(status_with_cookie(&app, &live).await, StatusCode::OK);
}

/// The value of the first `name="…" value="…"` input in `html`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

/// Signs in through `GET /login` + `POST /login` with the browser's `cookie` attached.
async fn form_login_with_cookie(app: &TestApp, cookie: &str) -> Response {
    let r = app.get_with_cookie("/login", cookie).await;
    let line = set_cookie(r.headers(), "tessera_login_csrf")
        .expect("pre-session cookie")
        .to_owned();
    let token = input_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    app.client
        .post(app.url("/login"))
        .header(
            "cookie",
            format!("tessera_login_csrf={}; {cookie}", cookie_value(&line)),
        )
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
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

async fn change_password(request: reqwest::RequestBuilder) -> Response {
    request
        .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap()
}

async fn password_change_rotates_a_cookie_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (old, csrf, _) = app.login_cookie(EMAIL).await;
    let old_id = session_id_of(&app, &old).await;
    let request = app
        .client
        .post(app.url("/v1/password"))
        .header("cookie", &old)
        .header("x-csrf-token", &csrf);
    let r = change_password(request).await;
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
        .client
        .delete(app.url("/v1/sessions?scope=others"))
        .header("cookie", &new)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn password_change_rotates_a_header_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (old, body) = app.login_body(EMAIL).await;
    let request = app.client.post(app.url("/v1/password")).bearer_auth(&old);
    let r = change_password(request).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie(r.headers(), "tessera_session").is_none());
    let successor: Value = r.json().await.unwrap();
    let new = successor["session_token"].as_str().expect("session_token");
    assert!(new.starts_with("tss_"));
    assert_ne!(successor["session"]["id"], body["session"]["id"]);
    assert_eq!(
        app.get_with_bearer("/v1/session", &old).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.get_with_bearer("/v1/session", new).await;
    assert_eq!(r.status(), StatusCode::OK);
    let current: Value = r.json().await.unwrap();
    assert_eq!(current["session"]["id"], successor["session"]["id"]);
    assert_eq!(current["session"]["kind"], "header");
}

async fn password_change_rotates_a_token_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let r = app
        .client
        .post(app.url("/v1/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", PASSWORD),
            ("client_id", "mobile-app"),
        ])
        .send()
        .await
        .unwrap();
    let old: Value = r.json().await.unwrap();
    let old_access = old["access_token"].as_str().unwrap();
    let request = app
        .client
        .post(app.url("/v1/password"))
        .bearer_auth(old_access);
    let r = change_password(request).await;
    assert_eq!(r.status(), StatusCode::OK);
    let new: Value = r.json().await.unwrap();
    let new_access = new["access_token"].as_str().expect("access_token");
    assert!(new["refresh_token"].as_str().unwrap().starts_with("tsr_"));
    assert_eq!(
        app.get_with_bearer("/v1/check", old_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.get_with_bearer("/v1/check", new_access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let check: Value = r.json().await.unwrap();
    let refresh = |token: String| {
        app.client
            .post(app.url("/v1/token"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .send()
    };
    let r = refresh(old["refresh_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the old family is dead"
    );
    let r = refresh(new["refresh_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the new family lives");
    // The new tokens belong to a new token session and keep the client's id.
    let r = app.get_with_bearer("/v1/session", new_access).await;
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
        .client
        .post(app.url("/v1/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", PASSWORD),
            ("transport", "cookie"),
        ])
        .send()
        .await
        .unwrap();
    let old = format!(
        "tessera_at={}",
        cookie_value(set_cookie(r.headers(), "tessera_at").unwrap())
    );
    let body: Value = r.json().await.unwrap();
    let request = app
        .client
        .post(app.url("/v1/password"))
        .header("cookie", &old)
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap());
    let r = change_password(request).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        set_cookie(r.headers(), "tessera_rt").is_some(),
        "a new refresh cookie"
    );
    let new = format!(
        "tessera_at={}",
        cookie_value(set_cookie(r.headers(), "tessera_at").expect("a new access cookie"))
    );
    assert_eq!(
        app.get_with_cookie("/v1/check", &old).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_with_cookie("/v1/check", &new).await.status(),
        StatusCode::OK
    );
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
    let html = app
        .get_with_cookie("/account", &old)
        .await
        .text()
        .await
        .unwrap();
    let token = input_value(&html, "csrf_token").unwrap();
    let r = app
        .client
        .post(app.url("/account/password"))
        .header("cookie", &old)
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let new = session_cookie(&r);
    assert_eq!(
        status_with_cookie(&app, &old).await,
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(session_id_of(&app, &new).await, old_id);
    let r = app.get_with_cookie("/account?done=password", &new).await;
    assert_eq!(r.status(), StatusCode::OK, "the account page follows");
}
