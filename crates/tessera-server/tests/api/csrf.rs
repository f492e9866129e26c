use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{cookie_value, set_cookie, spawn_app, Backend, PASSWORD};
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
        let mut rb = app
            .client
            .delete(app.url("/v1/sessions?scope=others"))
            .header("cookie", &cookie);
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        rb.send()
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
        let r = del(token, origin).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "forbidden");
    }
    let r = app
        .client
        .delete(app.url("/v1/sessions?scope=others"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "Sec-Fetch-Site: cross-site"
    );
    let r = app
        .client
        .delete(app.url("/v1/sessions?scope=others"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("referer", "https://evil.example/page")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign Referer");

    let r = del(Some(&csrf), Some("http://localhost:8080"))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "right token, same origin"
    );

    // HTML forms send the token as a field.
    let r = app
        .client
        .post(app.url("/v1/password"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={csrf}&current_password={}&new_password=another+good+secret",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The change rotated the session: the browser now holds the successor's cookie.
    let line = set_cookie(r.headers(), "tessera_session").expect("successor cookie");
    let cookie = format!("tessera_session={}", cookie_value(line));

    // Safe methods need no token.
    assert_eq!(
        app.get_with_cookie("/v1/session", &cookie).await.status(),
        StatusCode::OK
    );
}

async fn bearer_requests_need_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let r = app
        .client
        .delete(app.url("/v1/sessions?scope=others"))
        .bearer_auth(&token)
        .header("origin", "https://spa.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn check_honours_forwarded_method(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let check = |method: &str, token: Option<&str>| {
        let mut rb = app
            .client
            .get(app.url("/v1/check"))
            .header("cookie", &cookie)
            .header("x-forwarded-method", method);
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        rb.send()
    };
    assert_eq!(check("GET", None).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        check("POST", None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        check("POST", Some(&csrf)).await.unwrap().status(),
        StatusCode::OK
    );
    let r = app
        .client
        .get(app.url("/v1/check"))
        .header("cookie", &cookie)
        .header("x-original-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn check_treats_conflicting_or_garbage_forwarded_methods_as_unsafe(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    let check = |reports: &[(&'static str, &'static str)], token: Option<&str>| {
        let mut rb = app
            .client
            .get(app.url("/v1/check"))
            .header("cookie", &cookie);
        for (name, value) in reports {
            rb = rb.header(*name, *value);
        }
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        rb.send()
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
        let r = check(reports, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{reports:?}");
        let r = check(reports, Some(&csrf)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{reports:?} with the token");
    }
    for reports in [
        &[("x-forwarded-method", "GET"), ("x-original-method", "GET")][..],
        &[("x-original-method", "HEAD")][..],
    ] {
        let r = check(reports, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{reports:?}");
    }
}

async fn cross_origin_cookie_login_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let r = app
        .client
        .post(app.url("/v1/session"))
        .header("origin", "https://evil.example")
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "login CSRF");
}
