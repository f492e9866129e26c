use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{cookie_pair, spawn_app, Auth, Backend, PASSWORD};
use crate::on_every_backend;

on_every_backend!(
    cookie_requests_need_the_token_and_same_origin,
    bearer_requests_need_no_token,
    check_honours_forwarded_method,
    check_treats_conflicting_or_garbage_forwarded_methods_as_unsafe,
    cross_origin_cookie_login_is_refused
);

async fn cookie_requests_need_the_token_and_same_origin(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let (_, other_csrf, _) = app.login_cookie("ada@example.com").await;

    let del = |token: Option<&str>, origin: Option<&str>| {
        let mut call = app.revoke_other_sessions(Auth::Cookie(&cookie));
        if let Some(t) = token {
            call = call.csrf(t);
        }
        if let Some(o) = origin {
            call = call.origin(o);
        }
        call
    };
    for (token, origin, why) in [
        (None, None, "missing token"),
        (Some("wrong"), None, "wrong token"),
        (Some(other_csrf.as_str()), None, "another session's token"),
        (
            Some(csrf.as_str()),
            Some("https://evil.example"),
            "foreign origin",
        ),
        (Some(csrf.as_str()), Some("null"), "opaque origin"),
    ] {
        let r = del(token, origin).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "forbidden");
    }
    let r = app
        .revoke_other_sessions(Auth::Cookie(&cookie))
        .csrf(&csrf)
        .header("sec-fetch-site", "cross-site")
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "Sec-Fetch-Site: cross-site"
    );
    let r = app
        .revoke_other_sessions(Auth::Cookie(&cookie))
        .csrf(&csrf)
        .header("referer", "https://evil.example/page")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign Referer");

    let r = del(Some(&csrf), Some("http://localhost:8080")).await;
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "right token, same origin"
    );

    // HTML forms send the token as a field.
    let r = app
        .raw(Method::POST, "/v1/password")
        .auth(Auth::Cookie(&cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={csrf}&current_password={}&new_password=another+good+secret",
            PASSWORD.replace(' ', "+")
        ))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The change rotated the session: the browser now holds the successor's cookie.
    let cookie = cookie_pair(r.headers(), "tessera_session").expect("successor cookie");

    // Safe methods need no token.
    assert_eq!(
        app.get_session(Auth::Cookie(&cookie)).status().await,
        StatusCode::OK
    );
}

async fn bearer_requests_need_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let r = app
        .revoke_other_sessions(Auth::Bearer(&token))
        .origin("https://spa.example")
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn check_honours_forwarded_method(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let check = |method: &str, token: Option<&str>| {
        let call = app
            .check(Auth::Cookie(&cookie))
            .header("x-forwarded-method", method);
        match token {
            Some(t) => call.csrf(t),
            None => call,
        }
    };
    assert_eq!(check("GET", None).status().await, StatusCode::OK);
    assert_eq!(check("POST", None).status().await, StatusCode::FORBIDDEN);
    assert_eq!(check("POST", Some(&csrf)).status().await, StatusCode::OK);
    let r = app
        .check(Auth::Cookie(&cookie))
        .header("x-original-method", "DELETE")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn check_treats_conflicting_or_garbage_forwarded_methods_as_unsafe(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let check = |reports: &[(&'static str, &'static str)], token: Option<&str>| {
        let mut call = app.check(Auth::Cookie(&cookie));
        for (name, value) in reports {
            call = call.header(name, value);
        }
        if let Some(t) = token {
            call = call.csrf(t);
        }
        call
    };
    let unsafe_reports: &[&[(&str, &str)]] = &[
        // Conflicting reports, in both orders and both assignments.
        &[("x-forwarded-method", "GET"), ("x-original-method", "POST")],
        &[("x-original-method", "POST"), ("x-forwarded-method", "GET")],
        &[("x-forwarded-method", "POST"), ("x-original-method", "GET")],
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-method", "DELETE"),
        ],
        // Unparsable reports: the request's own GET must not stand in for them.
        &[("x-forwarded-method", "G E T")],
        &[("x-original-method", "GET, POST")],
        &[("x-forwarded-method", "")],
        &[
            ("x-forwarded-method", "GET"),
            ("x-original-method", "(none)"),
        ],
    ];
    for reports in unsafe_reports {
        let r = check(reports, None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{reports:?}");
        let r = check(reports, Some(&csrf)).await;
        assert_eq!(r.status(), StatusCode::OK, "{reports:?} with the token");
    }
    for reports in [
        &[("x-forwarded-method", "GET"), ("x-original-method", "GET")][..],
        &[("x-original-method", "HEAD")][..],
    ] {
        let r = check(reports, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{reports:?}");
    }
}

async fn cross_origin_cookie_login_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let r = app
        .login("ada@example.com", PASSWORD)
        .origin("https://evil.example")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "login CSRF");
}
