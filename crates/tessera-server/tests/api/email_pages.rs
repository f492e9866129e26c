//! The e-mail pages: `/forgot`, `/reset`, `/verify` and the address part of `/account`, driven
//! like a browser (pre-session CSRF cookie and token, session CSRF token on the account page)
//! against a real SMTP server.

use reqwest::StatusCode;

use crate::helpers::{
    cookie_pair, input_value, spawn_app_with, Auth, Backend, Call, SmtpSink, PASSWORD,
};
use crate::on_every_backend;

const LOGIN_CSRF: &str = "tessera_login_csrf";

/// A served public form: its pre-session cookie and token.
struct Visit {
    cookie: String,
    token: String,
    html: String,
}

async fn visit(page: Call) -> Visit {
    let r = page.await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    let cookie = cookie_pair(r.headers(), LOGIN_CSRF).expect("pre-session cookie");
    let html = r.text().await.unwrap();
    Visit {
        cookie,
        token: input_value(&html, "csrf_token").expect("form token"),
        html,
    }
}

on_every_backend!(
    forgot_and_reset_pages_work_like_a_browser,
    verify_page_acts_only_on_post_and_account_changes_the_address,
);

async fn forgot_and_reset_pages_work_like_a_browser(backend: Backend) {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let extra = format!("{}verification = \"off\"\n", sink.toml());
    let app = spawn_app_with(backend, &extra).await;
    let email = "pages@example.com";
    app.create_user(email).await;

    let v = visit(app.forgot_page(Auth::None)).await;
    let fields = [("csrf_token", v.token.as_str()), ("email", email)];
    let r = app
        .submit_forgot(Auth::Cookie(&v.cookie), &fields)
        .origin("https://evil.example")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-origin form");
    let r = app.submit_forgot(Auth::None, &fields).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no pre-session cookie");
    let r = app.submit_forgot(Auth::Cookie(&v.cookie), &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    let known = r.text().await.unwrap();
    assert!(known.contains("If an account uses that address"), "{known}");
    let unknown_fields = [
        ("csrf_token", v.token.as_str()),
        ("email", "ghost@example.com"),
    ];
    let r = app
        .submit_forgot(Auth::Cookie(&v.cookie), &unknown_fields)
        .await;
    assert_eq!(
        r.text().await.unwrap(),
        known,
        "the same page for an unknown address"
    );

    let link = sink.latest(email, 1).await.token();
    let v = visit(app.reset_page(Auth::None, &link)).await;
    assert_eq!(
        input_value(&v.html, "token").as_deref(),
        Some(link.as_str())
    );
    let weak = [
        ("csrf_token", v.token.as_str()),
        ("token", link.as_str()),
        ("new_password", "short"),
    ];
    let r = app.submit_reset(Auth::Cookie(&v.cookie), &weak).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let good = [
        ("csrf_token", v.token.as_str()),
        ("token", link.as_str()),
        ("new_password", "a new page password"),
    ];
    let r = app.submit_reset(Auth::Cookie(&v.cookie), &good).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your password was changed"));
    let r = app.submit_reset(Auth::Cookie(&v.cookie), &good).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the link works once");
    assert_eq!(
        app.login(email, "a new page password").await.status(),
        StatusCode::OK
    );
}

async fn verify_page_acts_only_on_post_and_account_changes_the_address(backend: Backend) {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_app_with(backend, &sink.toml()).await;
    let email = "browser@example.com";
    app.create_user(email).await;
    let link = sink.latest(email, 1).await.token();

    // Scanners fetch links: GET shows a button and changes nothing.
    let _ = visit(app.verify_page(Auth::None, &link)).await;
    let v = visit(app.verify_page(Auth::None, &link)).await;
    let (cookie, csrf, _) = app.login_cookie(email).await;
    let account = app
        .account_page(Auth::Cookie(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(account.contains("not confirmed yet"), "{account}");

    let fields = [("csrf_token", v.token.as_str()), ("token", link.as_str())];
    let r = app.submit_verify(Auth::Cookie(&v.cookie), &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("is confirmed"));
    let account = app
        .account_page(Auth::Cookie(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(account.contains(">confirmed<"), "{account}");

    // The account page's change form: session CSRF token, current password.
    let new = "browser-new@example.com";
    let wrong = [
        ("csrf_token", csrf.as_str()),
        ("new_email", new),
        ("current_password", "not it at all"),
    ];
    let r = app.submit_email_change(Auth::Cookie(&cookie), &wrong).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let no_csrf = [("new_email", new), ("current_password", PASSWORD)];
    let r = app
        .submit_email_change(Auth::Cookie(&cookie), &no_csrf)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let right = [
        ("csrf_token", csrf.as_str()),
        ("new_email", new),
        ("current_password", PASSWORD),
    ];
    let r = app.submit_email_change(Auth::Cookie(&cookie), &right).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let change = sink.latest(new, 1).await.token();
    let v = visit(app.verify_page(Auth::None, &change)).await;
    let fields = [("csrf_token", v.token.as_str()), ("token", change.as_str())];
    let r = app.submit_verify(Auth::Cookie(&v.cookie), &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains(new));
    assert_eq!(app.login(new, PASSWORD).await.status(), StatusCode::OK);
}
