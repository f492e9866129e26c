//! The server-rendered browser pages: sign-in, account, sign-out, sign-up.

use reqwest::header::{HeaderMap, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode};
use time::Duration;

use crate::helpers::{
    cookie_pair, cookie_value, input_value, set_cookie, spawn_app, spawn_app_with, Auth, Backend,
    Call, TestApp, PASSWORD,
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
    // Scripts from this server only (/passkeys.js): no inline script, nothing from elsewhere.
    let script = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"));
    assert_eq!(script, Some("script-src 'self'"), "{csp}");
}

/// A served sign-in (or sign-up) form: the pre-session cookie and the form's token.
struct FormVisit {
    cookie: String,
    token: String,
    html: String,
}

impl FormVisit {
    fn auth(&self) -> Auth<'_> {
        Auth::Cookie(&self.cookie)
    }

    /// The form's token, then `fields`.
    fn form<'a>(&'a self, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut form = vec![("csrf_token", self.token.as_str())];
        form.extend_from_slice(fields);
        form
    }
}

/// Loads a form page (`app.login_page(…)`, `app.signup_page(…)`) as a browser without cookies.
async fn visit(page: Call) -> FormVisit {
    let r = page.await;
    assert_eq!(r.status(), StatusCode::OK);
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

/// `POST /login` as the browser would send the form served by `visit`.
fn login_form(app: &TestApp, visit: &FormVisit, fields: &[(&str, &str)]) -> Call {
    app.submit_login(visit.auth(), &visit.form(fields))
}

/// `POST /signup` as the browser would send the form served by `visit`.
fn signup_form(app: &TestApp, visit: &FormVisit, fields: &[(&str, &str)]) -> Call {
    app.submit_signup(visit.auth(), &visit.form(fields))
}

async fn form_login(app: &TestApp, email: &str, return_to: Option<&str>) -> Response {
    let v = visit(app.login_page(Auth::None)).await;
    let mut fields = vec![("email", email), ("password", PASSWORD)];
    if let Some(r) = return_to {
        fields.push(("return_to", r));
    }
    login_form(app, &v, &fields).await
}

/// The `tessera_session=…` cookie pair set by a sign-in response.
fn session_cookie(r: &Response) -> String {
    cookie_pair(r.headers(), "tessera_session").expect("session cookie set")
}

/// Signs in through the form; returns the session cookie pair.
async fn browser_session(app: &TestApp, user_agent: &str) -> String {
    let v = visit(app.login_page(Auth::None)).await;
    let r = login_form(app, &v, &[("email", EMAIL), ("password", PASSWORD)])
        .header("user-agent", user_agent)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    session_cookie(&r)
}

/// The account page's HTML and its session-bound CSRF token.
async fn account(app: &TestApp, cookie: &str) -> (String, String) {
    let r = app.account_page(Auth::Cookie(cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(r.headers());
    let html = r.text().await.unwrap();
    let token = input_value(&html, "csrf_token").expect("account forms carry a token");
    (html, token)
}

async fn session_alive(app: &TestApp, cookie: &str) -> bool {
    app.get_session(Auth::Cookie(cookie)).status().await == StatusCode::OK
}

async fn login_form_signs_in_and_account_lists_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let (_other, _) = app.login_body(EMAIL).await;

    let v = visit(app.login_page(Auth::None)).await;
    assert!(v.html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(v.html.contains("name=\"email\"") && v.html.contains("name=\"password\""));
    assert!(v
        .html
        .contains("<meta name=\"referrer\" content=\"same-origin\">"));
    // The only script is the passkey one, by URL; the form works without it.
    assert!(!v.html.contains("<script>"), "no inline script");
    assert!(v
        .html
        .contains("<script src=\"/passkeys.js\" defer></script>"));
    assert!(v.html.contains("id=\"passkey-login\" hidden"));

    let r = login_form(&app, &v, &[("email", EMAIL), ("password", PASSWORD)])
        .header("user-agent", "<script>alert(1)</script>")
        .origin("http://localhost:8080")
        .await;
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
    let sessions = app.list_sessions(Auth::Cookie(&cookie)).json().await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    for s in sessions["sessions"].as_array().unwrap() {
        if s["current"] == false {
            let id = s["id"].as_str().unwrap();
            assert!(html.contains(&format!("action=\"/account/sessions/{id}/revoke\"")));
        }
    }
    let session = app.get_session(Auth::Cookie(&cookie)).json().await;
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
        let v = visit(app.login_page(Auth::None)).await;
        let r = login_form(&app, &v, &[("email", email), ("password", password)]).await;
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
        let v = visit(app.login_page(Auth::None)).await;
        login_form(&app, &v, &[("email", EMAIL), ("password", "nope nope")]).await;
    }
    let v = visit(app.login_page(Auth::None)).await;
    let r = login_form(&app, &v, &[("email", EMAIL), ("password", PASSWORD)]).await;
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
            .login_page(Auth::None)
            .query(&[("return_to", evil)])
            .await;
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
        .login_page(Auth::None)
        .query(&[("return_to", "/account?a=\"><script>")])
        .await;
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
    let r = app.login_page(Auth::None).await;
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
    let v = visit(app.login_page(Auth::None)).await;
    let other = visit(app.login_page(Auth::None)).await;
    let fields = [("email", EMAIL), ("password", PASSWORD)];
    let forbidden = |r: &Response, why: &str| {
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        assert!(
            set_cookie(r.headers(), "tessera_session").is_none(),
            "{why}"
        );
        assert_page_headers(r.headers());
    };

    let r = app.submit_login(v.auth(), &fields).await;
    forbidden(&r, "no token");
    let r = app
        .submit_login(
            Auth::None,
            &[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", v.token.as_str()),
            ],
        )
        .await;
    forbidden(&r, "no cookie");
    let forged = FormVisit {
        cookie: v.cookie.clone(),
        token: "A".repeat(43),
        html: String::new(),
    };
    let r = login_form(&app, &forged, &fields).await;
    forbidden(&r, "forged token");
    let mixed = FormVisit {
        cookie: v.cookie.clone(),
        token: other.token.clone(),
        html: String::new(),
    };
    let r = login_form(&app, &mixed, &fields).await;
    forbidden(&r, "token of another cookie");
    let planted = FormVisit {
        cookie: format!("{LOGIN_CSRF}=attacker.1"),
        token: v.token.clone(),
        html: String::new(),
    };
    let r = login_form(&app, &planted, &fields).await;
    forbidden(&r, "planted cookie");
    let html = r.text().await.unwrap();
    assert!(html.contains("could not be verified"), "{html}");

    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("referer", "https://evil.example/login"),
    ] {
        let r = login_form(&app, &v, &fields).header(name, value).await;
        forbidden(&r, &format!("{name}: {value}"));
    }

    // The pair still works from the same origin...
    let r = login_form(&app, &v, &fields)
        .origin("http://localhost:8080")
        .header("sec-fetch-site", "same-origin")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // ...but not after an hour.
    app.clock.advance(Duration::minutes(61));
    let r = login_form(&app, &other, &fields).await;
    forbidden(&r, "expired pre-session cookie");

    // A fresh cookie is reused by the next form (two tabs keep working), a stale one replaced.
    let fresh = visit(app.login_page(Auth::None)).await;
    let r = app.login_page(fresh.auth()).await;
    assert!(set_cookie(r.headers(), LOGIN_CSRF).is_none());
    let html = r.text().await.unwrap();
    assert_eq!(input_value(&html, "csrf_token").unwrap(), fresh.token);
    app.clock.advance(Duration::minutes(31));
    let r = app.login_page(fresh.auth()).await;
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
    let browser = Auth::Cookie(&cookie);
    let revoke = |fields: &[(&str, &str)]| app.submit_session_revoke(browser, &victim_id, fields);
    let revoke_others = |fields: &[(&str, &str)]| app.submit_revoke_others(browser, fields);
    let with_token = [("csrf_token", token.as_str())];

    // Without the token, with another session's token, or from another origin: 403, no effect.
    let (_, other_token, _) = app.login_cookie(EMAIL).await;
    for fields in [
        vec![],
        vec![("csrf_token", other_token.as_str())],
        vec![("csrf_token", "x")],
    ] {
        for (form, call) in [
            ("revoke", revoke(&fields)),
            ("revoke-others", revoke_others(&fields)),
        ] {
            let r = call.await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form} {fields:?}");
            assert_page_headers(r.headers());
        }
    }
    let r = revoke(&with_token).origin("https://evil.example").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign origin");
    assert_eq!(
        app.get_session(Auth::Bearer(&victim_token)).status().await,
        StatusCode::OK,
        "nothing was revoked"
    );

    // With the token: 303 back to the account page, and the session is gone.
    let r = revoke(&with_token).origin("http://localhost:8080").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=revoked");
    assert_eq!(
        app.get_session(Auth::Bearer(&victim_token)).status().await,
        StatusCode::UNAUTHORIZED
    );
    let html = app
        .account_page(browser)
        .query(&[("done", "revoked")])
        .text()
        .await;
    assert!(html.contains("That session was signed out."));
    // Again (or someone else's id): nothing to do.
    let r = revoke(&with_token).await;
    assert_eq!(location(&r), "/account?done=gone");
    let r = app
        .submit_session_revoke(browser, "not-an-id", &with_token)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Sign out every other session.
    assert!(session_alive(&app, &other_cookie).await);
    let r = revoke_others(&with_token).await;
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
    let html = app
        .account_page(browser)
        .query(&[("done", "<script>")])
        .text()
        .await;
    assert!(!html.contains("<script>"));
}

async fn password_change_from_the_account_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let cookie = browser_session(&app, "Browser A").await;
    let (other_token, _) = app.login_body(EMAIL).await;
    let (_, token) = account(&app, &cookie).await;
    let change =
        |fields: &[(&str, &str)]| app.submit_password_change(Auth::Cookie(&cookie), fields);
    let new_password = "a whole new passphrase";

    let r = change(&[
        ("current_password", PASSWORD),
        ("new_password", new_password),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");

    let r = change(&[
        ("csrf_token", token.as_str()),
        ("current_password", "not my password"),
        ("new_password", new_password),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("The current password is incorrect."),
        "{html}"
    );
    assert!(html.contains(EMAIL), "the account page is shown again");

    let r = change(&[
        ("csrf_token", token.as_str()),
        ("current_password", PASSWORD),
        ("new_password", "<short>"),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"error\""), "{html}");
    assert!(!html.contains("<short>"));

    let r = change(&[
        ("csrf_token", token.as_str()),
        ("current_password", PASSWORD),
        ("new_password", new_password),
    ])
    .await;
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
        app.get_session(Auth::Bearer(&other_token)).status().await,
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    let r = app.login(EMAIL, new_password).await;
    assert_eq!(r.status(), StatusCode::OK, "the new password works");
    let r = app.login(EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old one does not");
}

async fn logout_ends_the_session_and_get_does_not(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL).await;
    let cookie = browser_session(&app, "Browser A").await;
    let (_, token) = account(&app, &cookie).await;
    let browser = Auth::Cookie(&cookie);

    let r = app.logout_page(browser).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(r.headers());
    assert!(set_cookie(r.headers(), "tessera_session").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("<form method=\"post\" action=\"/logout\">"));
    assert!(
        session_alive(&app, &cookie).await,
        "GET /logout does not log out"
    );

    let r = app.submit_logout(browser, &[("x", "y")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert!(session_alive(&app, &cookie).await);

    let r = app
        .submit_logout(browser, &[("csrf_token", token.as_str())])
        .origin("http://localhost:8080")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let cleared = set_cookie(r.headers(), "tessera_session").expect("cookie cleared");
    assert!(
        cleared.starts_with("tessera_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(!session_alive(&app, &cookie).await);

    let r = app.account_page(browser).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?return_to=/account");
}

async fn signed_out_visitors_go_to_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.account_page(Auth::None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?return_to=/account");
    // Follows the redirect as a browser would.
    let html = app.raw(Method::GET, location(&r)).text().await;
    assert_eq!(input_value(&html, "return_to").as_deref(), Some("/account"));
    let fields = [("a", "b")];
    for (path, call) in [
        (
            "/account/sessions/revoke-others",
            app.submit_revoke_others(Auth::None, &fields),
        ),
        (
            "/account/password",
            app.submit_password_change(Auth::None, &fields),
        ),
        ("/logout", app.submit_logout(Auth::None, &fields)),
    ] {
        let r = call.await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
    let r = app.logout_page(Auth::None).await;
    assert_eq!(location(&r), "/login");
    for path in ["/login", "/account", "/logout", "/signup"] {
        let r = app.raw(Method::PUT, path).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    let r = app
        .account_page(Auth::Cookie(
            "tessera_session=tss_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a dead cookie is signed out"
    );
}

async fn signup_is_404_when_disabled(backend: Backend) {
    let app = spawn_app_with(backend, "[signup]\nenabled = false").await;
    let r = app.signup_page(Auth::None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_page_headers(r.headers());
    let r = app
        .submit_signup(Auth::None, &[("email", EMAIL), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v = visit(app.login_page(Auth::None)).await;
    assert!(
        !v.html.contains("/signup"),
        "no link to a page that is not there"
    );
}

async fn signup_signs_in_and_escapes_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let v = visit(app.signup_page(Auth::None)).await;
    assert!(v.html.contains("action=\"/signup\""));

    let r = app
        .submit_signup(v.auth(), &[("email", EMAIL), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no pre-session token");
    let r = signup_form(&app, &v, &[("email", EMAIL), ("password", PASSWORD)])
        .origin("https://evil.example")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign origin");

    let evil = "<script>alert(1)</script>@example.com";
    let r = signup_form(&app, &v, &[("email", evil), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_page_headers(r.headers());
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"error\""), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");

    let r = signup_form(&app, &v, &[("email", EMAIL), ("password", "short")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("password"),
        "the policy message is shown: {html}"
    );

    let r = signup_form(
        &app,
        &v,
        &[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("return_to", "//evil.com"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");
    let cookie = session_cookie(&r);
    let (html, _) = account(&app, &cookie).await;
    assert!(html.contains(EMAIL));

    let r = signup_form(&app, &v, &[("email", EMAIL), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("already exists"));
}
