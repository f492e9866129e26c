//! The server-rendered browser pages: sign-in, account, sign-out, sign-up.

use reqwest::header::{HeaderMap, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::json;
use time::Duration;

use crate::helpers::{
    cookie_value, set_cookie, spawn_app, spawn_app_with, Backend, TestApp, PASSWORD,
};
use crate::on_every_backend;

on_every_backend!(
    login_form_signs_in_and_account_lists_sessions,
    failed_login_rerenders_the_form_with_one_message,
    open_redirects_go_to_the_account_page,
    allowed_return_origin_is_followed,
    login_csrf_is_required,
    account_forms_need_the_csrf_token_and_act,
    password_change_from_the_account_page,
    logout_ends_the_session_and_get_does_not,
    signed_out_visitors_go_to_sign_in,
    signup_is_404_when_disabled,
    signup_signs_in_and_escapes_errors,
);

const EMAIL: &str = "ada@example.com";
const LOGIN_CSRF: &str = "tessera_login_csrf";

/// The value of the first `name="…" value="…"` input in `html`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

fn location(r: &Response) -> &str {
    r.headers().get(LOCATION).unwrap().to_str().unwrap()
}

fn assert_page_headers(headers: &HeaderMap) {
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("script-src"), "{csp}");
}

/// A served sign-in (or sign-up) form: the pre-session cookie and the form's token.
struct FormVisit {
    cookie: String,
    token: String,
    html: String,
}

async fn visit(app: &TestApp, path: &str) -> FormVisit {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert_page_headers(r.headers());
    let line = set_cookie(r.headers(), LOGIN_CSRF)
        .expect("pre-session cookie set")
        .to_owned();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax") && line.contains("Path=/"),
        "{line}"
    );
    let html = r.text().await.unwrap();
    FormVisit {
        cookie: format!("{LOGIN_CSRF}={}", cookie_value(&line)),
        token: input_value(&html, "csrf_token").expect("form token"),
        html,
    }
}

/// `POST path` as the browser would send the form served by `visit`.
fn post_form(
    app: &TestApp,
    path: &str,
    visit: &FormVisit,
    fields: &[(&str, &str)],
) -> RequestBuilder {
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", visit.token.as_str())];
    form.extend_from_slice(fields);
    app.client
        .post(app.url(path))
        .header("cookie", &visit.cookie)
        .form(&form)
}

async fn form_login(app: &TestApp, email: &str, return_to: Option<&str>) -> Response {
    let v = visit(app, "/login").await;
    let mut fields = vec![("email", email), ("password", PASSWORD)];
    if let Some(r) = return_to {
        fields.push(("return_to", r));
    }
    post_form(app, "/login", &v, &fields).send().await.unwrap()
}

/// The `tessera_session=…` cookie pair set by a sign-in response.
fn session_cookie(r: &Response) -> String {
    let line = set_cookie(r.headers(), "tessera_session").expect("session cookie set");
    format!("tessera_session={}", cookie_value(line))
}

/// Signs in through the form; returns the session cookie pair.
async fn browser_session(app: &TestApp, user_agent: &str) -> String {
    let v = visit(app, "/login").await;
    let r = post_form(
        app,
        "/login",
        &v,
        &[("email", EMAIL), ("password", PASSWORD)],
    )
    .header("user-agent", user_agent)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    session_cookie(&r)
}

/// The account page's HTML and its session-bound CSRF token.
async fn account(app: &TestApp, cookie: &str) -> (String, String) {
    let r = app.get_with_cookie("/account", cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(r.headers());
    let html = r.text().await.unwrap();
    let token = input_value(&html, "csrf_token").expect("account forms carry a token");
    (html, token)
}

async fn session_alive(app: &TestApp, cookie: &str) -> bool {
    app.get_with_cookie("/v1/session", cookie).await.status() == StatusCode::OK
}

async fn login_form_signs_in_and_account_lists_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (_other, _) = app.login_body(EMAIL).await;

    let v = visit(&app, "/login").await;
    assert!(v.html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(v.html.contains("name=\"email\"") && v.html.contains("name=\"password\""));
    assert!(v
        .html
        .contains("<meta name=\"referrer\" content=\"same-origin\">"));
    assert!(!v.html.contains("<script"), "no JavaScript");

    let r = post_form(
        &app,
        "/login",
        &v,
        &[("email", EMAIL), ("password", PASSWORD)],
    )
    .header("user-agent", "<script>alert(1)</script>")
    .header("origin", "http://localhost:8080")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");
    let line = set_cookie(r.headers(), "tessera_session").unwrap();
    assert!(line.starts_with("tessera_session=tss_"), "{line}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(line.contains(attr), "{line}");
    }
    let cleared = set_cookie(r.headers(), LOGIN_CSRF).expect("pre-session cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let cookie = session_cookie(&r);

    // The same cookie as the JSON API's cookie transport.
    assert!(session_alive(&app, &cookie).await);

    let (html, token) = account(&app, &cookie).await;
    assert!(html.contains(EMAIL), "the email is shown");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "the user agent is escaped");
    assert!(html.contains("this device"));
    assert!(html.contains("127.0.0.1"), "IP shown");
    assert!(html.contains(" UTC"), "last seen shown");
    assert_eq!(
        html.matches("action=\"/account/sessions/").count() - 1,
        1,
        "one revoke form per other session, plus revoke-others"
    );
    assert!(html.contains("action=\"/account/sessions/revoke-others\""));
    assert!(html.contains("action=\"/account/password\""));
    assert!(html.contains("name=\"current_password\"") && html.contains("name=\"new_password\""));
    let sessions: serde_json::Value = app
        .get_with_cookie("/v1/sessions", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    for s in sessions["sessions"].as_array().unwrap() {
        if s["current"] == false {
            let id = s["id"].as_str().unwrap();
            assert!(html.contains(&format!("action=\"/account/sessions/{id}/revoke\"")));
        }
    }
    let session: serde_json::Value = app
        .get_with_cookie("/v1/session", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        session["csrf_token"],
        token.as_str(),
        "the session's CSRF token"
    );
}

async fn failed_login_rerenders_the_form_with_one_message(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let mut messages = Vec::new();
    for (email, password) in [
        (EMAIL, "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("<b>x</b>@example.com", PASSWORD),
    ] {
        let v = visit(&app, "/login").await;
        let r = post_form(
            &app,
            "/login",
            &v,
            &[("email", email), ("password", password)],
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_page_headers(r.headers());
        assert!(set_cookie(r.headers(), "tessera_session").is_none());
        let html = r.text().await.unwrap();
        assert!(!html.contains("<b>x"), "the email is escaped");
        let error = html
            .split("class=\"error\"")
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap()
            .to_owned();
        messages.push(error);
        assert!(
            input_value(&html, "csrf_token").is_some(),
            "the form is served again"
        );
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");

    // The per-account throttle: 5 failures a minute, then 429 with Retry-After.
    for _ in 0..6 {
        let v = visit(&app, "/login").await;
        post_form(
            &app,
            "/login",
            &v,
            &[("email", EMAIL), ("password", "nope nope")],
        )
        .send()
        .await
        .unwrap();
    }
    let v = visit(&app, "/login").await;
    let r = post_form(
        &app,
        "/login",
        &v,
        &[("email", EMAIL), ("password", PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_page_headers(r.headers());
}

async fn open_redirects_go_to_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    for evil in [
        "//evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https://evil.com",
        "https://evil.com/account",
        "http://localhost:8080@evil.com/",
        "https:/evil.com",
        "javascript:alert(document.cookie)",
        "%2F%2Fevil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        " //evil.com",
        "",
    ] {
        let r = form_login(&app, EMAIL, Some(evil)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{evil:?}");
        assert_eq!(location(&r), "/account", "{evil:?}");

        // Not carried into the form either.
        let r = app
            .client
            .get(app.url("/login"))
            .query(&[("return_to", evil)])
            .send()
            .await
            .unwrap();
        let html = r.text().await.unwrap();
        assert!(input_value(&html, "return_to").is_none(), "{evil:?}");
    }
    let r = form_login(&app, EMAIL, Some("/account?tab=sessions#x")).await;
    assert_eq!(
        location(&r),
        "/account?tab=sessions#x",
        "same-origin path kept"
    );
    let r = form_login(&app, EMAIL, Some("http://localhost:8080/v1/session")).await;
    assert_eq!(
        location(&r),
        "http://localhost:8080/v1/session",
        "own origin kept"
    );

    let r = app
        .client
        .get(app.url("/login?return_to=/account%3Fa%3D%22%3E%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert_eq!(
        input_value(&html, "return_to").as_deref(),
        Some("/account?a=&quot;&gt;&lt;script&gt;"),
        "kept and escaped"
    );
}

async fn allowed_return_origin_is_followed(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[server]\nallowed_return_origins = [\"https://app.example.com\"]",
    )
    .await;
    app.create_user(EMAIL).await;
    let r = app.client.get(app.url("/login")).send().await.unwrap();
    let csp = r.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://app.example.com;"),
        "the redirect after the form is allowed: {csp}"
    );
    let r = form_login(&app, EMAIL, Some("https://app.example.com/after?x=1")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "https://app.example.com/after?x=1");
    for evil in [
        "https://app.example.com.evil.com/",
        "http://app.example.com/",
        "https://app.example.com:8443/",
        "https://evil.com?@app.example.com",
    ] {
        let r = form_login(&app, EMAIL, Some(evil)).await;
        assert_eq!(location(&r), "/account", "{evil}");
    }
}

async fn login_csrf_is_required(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let v = visit(&app, "/login").await;
    let other = visit(&app, "/login").await;
    let fields = [("email", EMAIL), ("password", PASSWORD)];
    let forbidden = |r: &Response, why: &str| {
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        assert!(
            set_cookie(r.headers(), "tessera_session").is_none(),
            "{why}"
        );
        assert_page_headers(r.headers());
    };

    let r = app
        .client
        .post(app.url("/login"))
        .header("cookie", &v.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    forbidden(&r, "no token");
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", v.token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    forbidden(&r, "no cookie");
    let forged = FormVisit {
        cookie: v.cookie.clone(),
        token: "A".repeat(43),
        html: String::new(),
    };
    let r = post_form(&app, "/login", &forged, &fields)
        .send()
        .await
        .unwrap();
    forbidden(&r, "forged token");
    let mixed = FormVisit {
        cookie: v.cookie.clone(),
        token: other.token.clone(),
        html: String::new(),
    };
    let r = post_form(&app, "/login", &mixed, &fields)
        .send()
        .await
        .unwrap();
    forbidden(&r, "token of another cookie");
    let planted = FormVisit {
        cookie: format!("{LOGIN_CSRF}=attacker.1"),
        token: v.token.clone(),
        html: String::new(),
    };
    let r = post_form(&app, "/login", &planted, &fields)
        .send()
        .await
        .unwrap();
    forbidden(&r, "planted cookie");
    let html = r.text().await.unwrap();
    assert!(html.contains("could not be verified"), "{html}");

    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("referer", "https://evil.example/login"),
    ] {
        let r = post_form(&app, "/login", &v, &fields)
            .header(name, value)
            .send()
            .await
            .unwrap();
        forbidden(&r, &format!("{name}: {value}"));
    }

    // The pair still works from the same origin...
    let r = post_form(&app, "/login", &v, &fields)
        .header("origin", "http://localhost:8080")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // ...but not after an hour.
    app.clock.advance(Duration::minutes(61));
    let r = post_form(&app, "/login", &other, &fields)
        .send()
        .await
        .unwrap();
    forbidden(&r, "expired pre-session cookie");

    // A fresh cookie is reused by the next form (two tabs keep working), a stale one replaced.
    let fresh = visit(&app, "/login").await;
    let r = app
        .client
        .get(app.url("/login"))
        .header("cookie", &fresh.cookie)
        .send()
        .await
        .unwrap();
    assert!(set_cookie(r.headers(), LOGIN_CSRF).is_none());
    let html = r.text().await.unwrap();
    assert_eq!(input_value(&html, "csrf_token").unwrap(), fresh.token);
    app.clock.advance(Duration::minutes(31));
    let r = app
        .client
        .get(app.url("/login"))
        .header("cookie", &fresh.cookie)
        .send()
        .await
        .unwrap();
    assert!(set_cookie(r.headers(), LOGIN_CSRF).is_some());
}

async fn account_forms_need_the_csrf_token_and_act(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let cookie = browser_session(&app, "Browser A").await;
    let (victim_token, victim_body) = app.login_body(EMAIL).await;
    let (other_cookie, _, _) = app.login_cookie(EMAIL).await;
    let (_, token) = account(&app, &cookie).await;
    let victim_id = victim_body["session"]["id"].as_str().unwrap().to_owned();
    let revoke_path = format!("/account/sessions/{victim_id}/revoke");

    let post = |path: &str, fields: Vec<(&'static str, String)>| {
        app.client
            .post(app.url(path))
            .header("cookie", &cookie)
            .form(&fields)
    };

    // Without the token, with another session's token, or from another origin: 403, no effect.
    let (_, other_token, _) = app.login_cookie(EMAIL).await;
    for fields in [
        vec![],
        vec![("csrf_token", other_token.clone())],
        vec![("csrf_token", "x".into())],
    ] {
        for path in [revoke_path.as_str(), "/account/sessions/revoke-others"] {
            let r = post(path, fields.clone()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {fields:?}");
            assert_page_headers(r.headers());
        }
    }
    let r = post(&revoke_path, vec![("csrf_token", token.clone())])
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign origin");
    assert_eq!(
        app.get_with_bearer("/v1/session", &victim_token)
            .await
            .status(),
        StatusCode::OK,
        "nothing was revoked"
    );

    // With the token: 303 back to the account page, and the session is gone.
    let r = post(&revoke_path, vec![("csrf_token", token.clone())])
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=revoked");
    assert_eq!(
        app.get_with_bearer("/v1/session", &victim_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.get_with_cookie("/account?done=revoked", &cookie).await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("That session was signed out."));
    // Again (or someone else's id): nothing to do.
    let r = post(&revoke_path, vec![("csrf_token", token.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account?done=gone");
    let r = post(
        "/account/sessions/not-an-id/revoke",
        vec![("csrf_token", token.clone())],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Sign out every other session.
    assert!(session_alive(&app, &other_cookie).await);
    let r = post(
        "/account/sessions/revoke-others",
        vec![("csrf_token", token.clone())],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=others");
    assert!(!session_alive(&app, &other_cookie).await);
    assert!(
        session_alive(&app, &cookie).await,
        "the current session stays"
    );
    let (html, _) = account(&app, &cookie).await;
    assert!(html.contains("No other sessions."));

    // The query's flash value is never echoed.
    let r = app
        .get_with_cookie("/account?done=%3Cscript%3E", &cookie)
        .await;
    assert!(!r.text().await.unwrap().contains("<script>"));
}

async fn password_change_from_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let cookie = browser_session(&app, "Browser A").await;
    let (other_token, _) = app.login_body(EMAIL).await;
    let (_, token) = account(&app, &cookie).await;
    let change = |fields: Vec<(&'static str, String)>| {
        app.client
            .post(app.url("/account/password"))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
    };
    let new_password = "a whole new passphrase";

    let r = change(vec![
        ("current_password", PASSWORD.into()),
        ("new_password", new_password.into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");

    let r = change(vec![
        ("csrf_token", token.clone()),
        ("current_password", "not my password".into()),
        ("new_password", new_password.into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("The current password is incorrect."),
        "{html}"
    );
    assert!(html.contains(EMAIL), "the account page is shown again");

    let r = change(vec![
        ("csrf_token", token.clone()),
        ("current_password", PASSWORD.into()),
        ("new_password", "<short>".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"error\""), "{html}");
    assert!(!html.contains("<short>"));

    let r = change(vec![
        ("csrf_token", token.clone()),
        ("current_password", PASSWORD.into()),
        ("new_password", new_password.into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=password");
    assert!(
        !session_alive(&app, &cookie).await,
        "this session was rotated"
    );
    assert!(
        session_alive(&app, &session_cookie(&r)).await,
        "the browser holds its successor"
    );
    assert_eq!(
        app.get_with_bearer("/v1/session", &other_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    let r = app
        .post_json(
            "/v1/session",
            &json!({"email": EMAIL, "password": new_password}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the new password works");
    let r = app
        .post_json(
            "/v1/session",
            &json!({"email": EMAIL, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old one does not");
}

async fn logout_ends_the_session_and_get_does_not(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let cookie = browser_session(&app, "Browser A").await;
    let (_, token) = account(&app, &cookie).await;

    let r = app.get_with_cookie("/logout", &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(r.headers());
    assert!(set_cookie(r.headers(), "tessera_session").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("<form method=\"post\" action=\"/logout\">"));
    assert!(
        session_alive(&app, &cookie).await,
        "GET /logout does not log out"
    );

    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert!(session_alive(&app, &cookie).await);

    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", "http://localhost:8080")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let cleared = set_cookie(r.headers(), "tessera_session").expect("cookie cleared");
    assert!(
        cleared.starts_with("tessera_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(!session_alive(&app, &cookie).await);

    let r = app.get_with_cookie("/account", &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?return_to=/account");
}

async fn signed_out_visitors_go_to_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?return_to=/account");
    let html = app
        .client
        .get(app.url(location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(input_value(&html, "return_to").as_deref(), Some("/account"));
    for path in [
        "/account/sessions/revoke-others",
        "/account/password",
        "/logout",
    ] {
        let r = app
            .client
            .post(app.url(path))
            .form(&[("a", "b")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
    let r = app.client.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
    for path in ["/login", "/account", "/logout", "/signup"] {
        let r = app.client.put(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    let r = app
        .get_with_cookie(
            "/account",
            "tessera_session=tss_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a dead cookie is signed out"
    );
}

async fn signup_is_404_when_disabled(backend: Backend) {
    let app = spawn_app_with(backend, "[signup]\nenabled = false").await;
    let r = app.client.get(app.url("/signup")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_page_headers(r.headers());
    let r = app
        .client
        .post(app.url("/signup"))
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v = visit(&app, "/login").await;
    assert!(
        !v.html.contains("/signup"),
        "no link to a page that is not there"
    );
}

async fn signup_signs_in_and_escapes_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let v = visit(&app, "/signup").await;
    assert!(v.html.contains("action=\"/signup\""));

    let r = app
        .client
        .post(app.url("/signup"))
        .header("cookie", &v.cookie)
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no pre-session token");
    let r = post_form(
        &app,
        "/signup",
        &v,
        &[("email", EMAIL), ("password", PASSWORD)],
    )
    .header("origin", "https://evil.example")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign origin");

    let evil = "<script>alert(1)</script>@example.com";
    let r = post_form(
        &app,
        "/signup",
        &v,
        &[("email", evil), ("password", PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_page_headers(r.headers());
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"error\""), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");

    let r = post_form(
        &app,
        "/signup",
        &v,
        &[("email", EMAIL), ("password", "short")],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("password"),
        "the policy message is shown: {html}"
    );

    let r = post_form(
        &app,
        "/signup",
        &v,
        &[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("return_to", "//evil.com"),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");
    let cookie = session_cookie(&r);
    let (html, _) = account(&app, &cookie).await;
    assert!(html.contains(EMAIL));

    let r = post_form(
        &app,
        "/signup",
        &v,
        &[("email", EMAIL), ("password", PASSWORD)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("already exists"));
}
