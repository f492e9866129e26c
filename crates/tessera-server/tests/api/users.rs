use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Auth, Backend, PASSWORD};
use crate::on_every_backend;

on_every_backend!(
    sign_up_returns_the_account,
    duplicate_email_is_a_conflict_whatever_the_case,
    weak_passwords_are_refused,
    common_repeated_and_own_email_passwords_are_refused,
    a_new_password_may_not_be_the_email,
    bad_emails_are_refused,
    invisible_characters_in_emails_are_refused,
    sign_up_can_be_disabled,
);

async fn sign_up_returns_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.sign_up("  Ada@Example.com ", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.com");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());
}

async fn duplicate_email_is_a_conflict_whatever_the_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let r = app.sign_up("ADA@example.COM", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "conflict");
}

async fn weak_passwords_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for password in [
        "short",
        "1234567",
        "qwerty123",
        "Trustno1",
        &"x".repeat(129),
    ] {
        let r = app.sign_up("ada@example.com", password).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{password:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap()
                .contains(password),
            "never echo the password"
        );
    }
    // Eight characters counted as Unicode scalar values, not bytes: 8 emoji pass.
    let r = app.sign_up("emoji@example.com", "🔑🗝🔒🔓🛡🧩🎲🎯").await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn common_repeated_and_own_email_passwords_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for (password, reason) in [
        ("Password1!", "too common"),
        ("qwerty12", "too common"),
        ("sweetpea", "too common"),
        ("aaaaaaaa", "one character repeated"),
        ("ADA.LOVELACE@example.com", "email"),
        ("ada.lovelace", "email"),
    ] {
        let r = app.sign_up("ada.lovelace@example.com", password).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{password:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(reason), "{password:?}: {description}");
    }
}

async fn a_new_password_may_not_be_the_email(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    for new_password in ["ada@example.com", "Password1!"] {
        let r = app
            .change_password(Auth::Bearer(&token), PASSWORD, new_password)
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{new_password:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}

async fn bad_emails_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let long = format!("a@{}.com", "d".repeat(260));
    for email in ["", "no-at-sign", "a@", "@b.c", "a b@c.d", long.as_str()] {
        let r = app.sign_up(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{email:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    let r = app.sign_up("jörg@bücher.de", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "internationalised addresses are accepted"
    );
}

async fn invisible_characters_in_emails_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    // Each renders like an existing address but would be a second account.
    for email in [
        "ada\u{200B}@example.com",
        "ada@example.com\u{FEFF}",
        "\u{202E}ada@example.com",
        "ada@exam\u{2066}ple.com",
    ] {
        let r = app.sign_up(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{email:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("invisible"));
    }
}

async fn sign_up_can_be_disabled(backend: Backend) {
    let app = spawn_app_with(backend, "[signup]\nenabled = false").await;
    let r = app.sign_up("ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
}
