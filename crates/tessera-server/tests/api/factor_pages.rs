//! The second step on the sign-in page and two-step verification on `/account`, as a browser
//! without JavaScript drives them.

use reqwest::{Method, Response, StatusCode};
use time::Duration;

use crate::helpers::{
    cookie_pair, cookie_value, input_value, set_cookie, spawn_app, Auth, Backend, TestApp, PASSWORD,
};

const LOGIN_CSRF: &str = "tessera_login_csrf";

/// The pre-session cookie a page set, or the one the browser already had.
fn login_csrf_cookie(r: &Response, had: Option<&str>) -> String {
    match set_cookie(r.headers(), LOGIN_CSRF) {
        Some(line) => format!("{LOGIN_CSRF}={}", cookie_value(line)),
        None => had.expect("a pre-session cookie").to_owned(),
    }
}

fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> crate::helpers::Call {
    app.raw(Method::POST, path)
        .auth(Auth::Cookie(cookie))
        .form(fields)
}

async fn sign_in_page_asks_for_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authenticator, codes, _) = app.user_with_totp("page@example.com").await;
    let r = app.login_page(Auth::None).await;
    let cookie = login_csrf_cookie(&r, None);
    let html = r.text().await.unwrap();
    let token = input_value(&html, "csrf_token").unwrap();
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", "page@example.com"),
        ("password", PASSWORD),
    ];
    let r = post_form(&app, "/login", &cookie, &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        cookie_pair(r.headers(), "tessera_session").is_none(),
        "no session yet"
    );
    let cookie = login_csrf_cookie(&r, Some(&cookie));
    let html = r.text().await.unwrap();
    assert!(html.contains("Two-step verification"), "{html}");
    assert!(html.contains("action=\"/login/mfa\""));
    let mfa_token = input_value(&html, "mfa_token").expect("pending step in the form");
    let token = input_value(&html, "csrf_token").unwrap();

    // A wrong code shows the form again with one message.
    let wrong = [
        ("csrf_token", token.as_str()),
        ("mfa_token", mfa_token.as_str()),
        ("code", "000000"),
    ];
    let r = post_form(&app, "/login/mfa", &cookie, &wrong).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let cookie = login_csrf_cookie(&r, Some(&cookie));
    let html = r.text().await.unwrap();
    assert!(html.contains("That code is not right"));
    let token = input_value(&html, "csrf_token").unwrap();
    // Without the form's CSRF token nothing happens.
    let code = app.totp_code(&authenticator, 0);
    let forged = [("mfa_token", mfa_token.as_str()), ("code", code.as_str())];
    assert_eq!(
        post_form(&app, "/login/mfa", &cookie, &forged)
            .status()
            .await,
        StatusCode::FORBIDDEN
    );
    let right = [
        ("csrf_token", token.as_str()),
        ("mfa_token", mfa_token.as_str()),
        ("code", code.as_str()),
    ];
    let r = post_form(&app, "/login/mfa", &cookie, &right).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let session = cookie_pair(r.headers(), "tessera_session").expect("signed in");
    let me = app.get_session(Auth::Cookie(&session)).json().await;
    assert_eq!(me["session"]["aal"], 2);

    let html = app.account_page(Auth::Cookie(&session)).text().await;
    assert!(html.contains("Two-step verification"));
    assert!(html.contains(&format!(
        "<strong>{}</strong> recovery codes left",
        codes.len()
    )));
}

async fn account_page_sets_up_and_turns_off_totp(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("acct@example.com").await;
    let r = app.login("acct@example.com", PASSWORD).await;
    let session = cookie_pair(r.headers(), "tessera_session").unwrap();
    let html = app.account_page(Auth::Cookie(&session)).text().await;
    assert!(html.contains("Set up an authenticator app"));
    let csrf = input_value(&html, "csrf_token").unwrap();
    let r = post_form(&app, "/account/totp", &session, &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("<svg "), "the QR code is inline");
    let key = html
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the key as text");
    let authenticator = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        totp_rs::Secret::Encoded(key.to_owned()).to_bytes().unwrap(),
        None,
        String::new(),
    );
    let code = app.totp_code(&authenticator, 0);
    let r = post_form(
        &app,
        "/account/totp/confirm",
        &session,
        &[("csrf_token", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10, "{html}");

    // Later, turning it off needs a fresh code first.
    app.clock.advance(Duration::minutes(11));
    let off = [("csrf_token", csrf.as_str())];
    let r = post_form(&app, "/account/totp/remove", &session, &off).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("authenticator app"));
    let code = app.totp_code(&authenticator, 0);
    let r = post_form(
        &app,
        "/account/step-up",
        &session,
        &[("csrf_token", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post_form(&app, "/account/totp/remove", &session, &off).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=totp_removed");
    assert_eq!(
        app.login_via("body", "acct@example.com", PASSWORD)
            .status()
            .await,
        StatusCode::OK
    );
}

crate::on_every_backend!(
    sign_in_page_asks_for_the_code,
    account_page_sets_up_and_turns_off_totp,
);
