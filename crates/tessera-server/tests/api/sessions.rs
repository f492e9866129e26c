use reqwest::{Method, StatusCode};
use serde_json::Value;
use time::Duration;

use crate::helpers::{
    cookie_value, set_cookie, spawn_app, spawn_app_with, Auth, Backend, PASSWORD,
};
use crate::on_every_backend;

on_every_backend!(
    cookie_login_sets_a_hardened_cookie,
    secure_cookie_uses_host_prefix,
    body_login_returns_a_session_token,
    login_never_adopts_a_presented_session,
    logout_kills_the_cookie_for_good,
    sessions_list_and_revoke,
    another_users_session_is_not_found,
    idle_timeout_slides_and_expires,
    absolute_timeout_is_hard,
    password_change_revokes_other_sessions,
    wrong_email_and_wrong_password_look_the_same,
    failed_logins_are_throttled,
    locked_account_cannot_log_in,
    check_reports_every_session_credential,
    form_encoded_login_works,
    login_upgrades_an_outdated_password_hash,
);

async fn cookie_login_sets_a_hardened_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let r = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let line = set_cookie(r.headers(), "tessera_session")
        .unwrap()
        .to_owned();
    assert!(line.contains("; HttpOnly"), "{line}");
    assert!(line.contains("; SameSite=Lax"), "{line}");
    assert!(line.contains("; Path=/;"), "{line}");
    assert!(
        line.contains(&format!("; Max-Age={}", 12 * 3600)),
        "absolute lifetime left: {line}"
    );
    assert!(
        !line.contains("Secure"),
        "plain-http development config: {line}"
    );
    let token = cookie_value(&line);
    assert!(token.starts_with("tss_") && token.len() == 47);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["session"]["kind"], "cookie");
    assert_eq!(body["session"]["current"], true);
    assert!(
        body.get("session_token").is_none(),
        "cookie transport never puts the secret in the body"
    );
    assert_ne!(
        body["session"]["id"].as_str().unwrap(),
        token,
        "the public id is not the secret"
    );
    assert!(body["csrf_token"].as_str().unwrap().len() >= 32);
}

async fn secure_cookie_uses_host_prefix(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[server]\npublic_url = \"https://auth.example.com\"",
    )
    .await;
    app.create_user("ada@example.com").await;
    let r = app.login("ada@example.com", PASSWORD).await;
    let line = set_cookie(r.headers(), "__Host-tessera_session").expect("__Host- cookie");
    assert!(
        line.contains("; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age="),
        "{line}"
    );
    assert!(!line.contains("Domain"), "__Host- cookies carry no Domain");
}

async fn body_login_returns_a_session_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let r = app.login_via("body", "ada@example.com", PASSWORD).await;
    assert!(set_cookie(r.headers(), "tessera_session").is_none());
    let body: Value = r.json().await.unwrap();
    let token = body["session_token"].as_str().unwrap();
    assert_eq!(body["session"]["kind"], "header");
    let r = app.get_session(Auth::Bearer(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["session"]["id"], body["session"]["id"]);
    // The header secret is not a cookie credential and vice versa.
    let r = app
        .get_session(Auth::Cookie(&format!("tessera_session={token}")))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn login_never_adopts_a_presented_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (first_cookie, _, first) = app.login_cookie("ada@example.com").await;
    let r = app
        .login("ada@example.com", PASSWORD)
        .auth(Auth::Cookie(&first_cookie))
        .await;
    let line = set_cookie(r.headers(), "tessera_session")
        .unwrap()
        .to_owned();
    let second: Value = r.json().await.unwrap();
    assert_ne!(first["session"]["id"], second["session"]["id"]);
    assert_ne!(
        first_cookie,
        format!("tessera_session={}", cookie_value(&line))
    );
    // An attacker-chosen, well-formed but unknown cookie is not adopted either.
    let planted = format!("tessera_session=tss_{}", "A".repeat(43));
    let r = app
        .login("ada@example.com", PASSWORD)
        .auth(Auth::Cookie(&planted))
        .await;
    let line = set_cookie(r.headers(), "tessera_session").unwrap();
    assert_ne!(cookie_value(line), format!("tss_{}", "A".repeat(43)));
}

async fn logout_kills_the_cookie_for_good(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (cookie, csrf, _) = app.login_cookie("ada@example.com").await;
    assert_eq!(
        app.get_session(Auth::Cookie(&cookie)).await.status(),
        StatusCode::OK
    );
    let r = app.logout(Auth::Cookie(&cookie)).csrf(&csrf).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(r.headers(), "tessera_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let r = app.get_session(Auth::Cookie(&cookie)).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "replayed cookie after logout"
    );
    let r = app.check(Auth::Cookie(&cookie)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn sessions_list_and_revoke(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (laptop, _) = app.login_body("ada@example.com").await;
    let (phone, phone_body) = app.login_body("ada@example.com").await;
    let (tablet, _) = app.login_body("ada@example.com").await;

    let r = app.list_sessions(Auth::Bearer(&laptop)).await;
    let list: Value = r.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for s in sessions {
        assert_eq!(s["ip"], "127.0.0.1");
        for field in [
            "created_at",
            "last_seen_at",
            "idle_expires_at",
            "expires_at",
        ] {
            assert!(s[field].is_string(), "{field}");
        }
    }

    let phone_id = phone_body["session"]["id"].as_str().unwrap();
    let r = app.revoke_session(Auth::Bearer(&laptop), phone_id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_session(Auth::Bearer(&phone)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.revoke_session(Auth::Bearer(&laptop), phone_id).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "already revoked");

    let r = app.revoke_other_sessions(Auth::Bearer(&laptop)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_session(Auth::Bearer(&tablet)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_session(Auth::Bearer(&laptop)).await.status(),
        StatusCode::OK
    );
    let list: Value = app
        .list_sessions(Auth::Bearer(&laptop))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);

    let r = app.revoke_sessions(Auth::Bearer(&laptop), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "scope is required");
}

async fn another_users_session_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    app.create_user("eve@example.com").await;
    let (ada, ada_body) = app.login_body("ada@example.com").await;
    let (eve, _) = app.login_body("eve@example.com").await;
    let ada_id = ada_body["session"]["id"].as_str().unwrap();
    let r = app.revoke_session(Auth::Bearer(&eve), ada_id).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.revoke_session(Auth::Bearer(&eve), "not-a-uuid").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_session(Auth::Bearer(&ada)).await.status(),
        StatusCode::OK
    );
}

async fn idle_timeout_slides_and_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    app.clock.advance(Duration::minutes(20));
    assert_eq!(
        app.get_session(Auth::Bearer(&token)).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::minutes(25));
    let r = app.get_session(Auth::Bearer(&token)).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "activity at 20 min slid the idle timeout to 50 min"
    );
    app.clock.advance(Duration::minutes(31));
    let r = app.get_session(Auth::Bearer(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "31 idle minutes");
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}

async fn absolute_timeout_is_hard(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[session]\nabsolute_timeout = \"1h\"\nidle_timeout = \"30m\"",
    )
    .await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    for _ in 0..3 {
        app.clock.advance(Duration::minutes(19));
        assert_eq!(
            app.get_session(Auth::Bearer(&token)).await.status(),
            StatusCode::OK
        );
    }
    app.clock.advance(Duration::minutes(4));
    assert_eq!(
        app.get_session(Auth::Bearer(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn password_change_revokes_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (current, _) = app.login_body("ada@example.com").await;
    let (other, _) = app.login_body("ada@example.com").await;
    let (cookie, _, _) = app.login_cookie("ada@example.com").await;

    let r = app
        .change_password(
            Auth::Bearer(&current),
            "wrong password!",
            "a brand new secret",
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get_session(Auth::Bearer(&other)).await.status(),
        StatusCode::OK
    );

    let r = app
        .change_password(Auth::Bearer(&current), PASSWORD, "short")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = app
        .change_password(Auth::Bearer(&current), PASSWORD, "a brand new secret")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let successor: Value = r.json().await.unwrap();
    // The caller's own session was rotated: its successor lives, it does not.
    assert_eq!(
        app.get_session(Auth::Bearer(successor["session_token"].as_str().unwrap()))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_session(Auth::Bearer(&current)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_session(Auth::Bearer(&other)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_session(Auth::Cookie(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let old = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app.login("ada@example.com", "a brand new secret").await;
    assert_eq!(new.status(), StatusCode::OK);
}

async fn wrong_email_and_wrong_password_look_the_same(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let wrong_password = app.login("ada@example.com", "not the password").await;
    let unknown_email = app.login("nobody@example.com", "not the password").await;
    let malformed_email = app.login("nobody", "not the password").await;
    let statuses = [
        wrong_password.status(),
        unknown_email.status(),
        malformed_email.status(),
    ];
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED; 3]);
    let a = wrong_password.text().await.unwrap();
    let b = unknown_email.text().await.unwrap();
    let c = malformed_email.text().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    let body: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

async fn failed_logins_are_throttled(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[limits]\nlogin_per_account = \"3/min\"\nlogin_per_ip = \"5/min\"",
    )
    .await;
    app.create_user("ada@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("ada@example.com", "not the password")
                .status()
                .await,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits out the window"
    );
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    // Per IP: other accounts from the same address hit the IP limit.
    for i in 0..2 {
        let other = format!("x{i}@example.com");
        assert_eq!(
            app.login(&other, "not the password").status().await,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("y@example.com", "nope nope").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    app.clock.advance(Duration::seconds(61));
    let r = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "the window has passed");
}

async fn locked_account_cannot_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let id = user["id"].as_str().unwrap().parse().unwrap();
    tessera_engine::accounts::set_locked(&app.state, id, true, None)
        .await
        .unwrap();
    assert_eq!(
        app.get_session(Auth::Bearer(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let locked = app.login("ada@example.com", PASSWORD).await;
    let wrong = app.login("ada@example.com", "not the password").await;
    assert_eq!(locked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        locked.text().await.unwrap(),
        wrong.text().await.unwrap(),
        "a lock looks like a wrong password"
    );
}

async fn check_reports_every_session_credential(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let (cookie, _, cookie_body) = app.login_cookie("ada@example.com").await;
    let (token, token_body) = app.login_body("ada@example.com").await;

    let r = app.check(Auth::Cookie(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-user"], user["id"].as_str().unwrap());
    assert_eq!(
        r.headers()["x-auth-session"],
        cookie_body["session"]["id"].as_str().unwrap()
    );
    assert_eq!(r.headers()["x-auth-method"], "cookie");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"], "cookie");
    assert!(body["expires_at"].is_string());

    let r = app.check(Auth::Bearer(&token)).await;
    assert_eq!(r.headers()["x-auth-method"], "session_token");
    assert_eq!(
        r.headers()["x-auth-session"],
        token_body["session"]["id"].as_str().unwrap()
    );

    let r = app.check(Auth::Bearer("tss_garbage")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(
        app.check(Auth::None).status().await,
        StatusCode::UNAUTHORIZED
    );
}

async fn form_encoded_login_works(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    // Hand-written bodies: the encoding itself is under test.
    let form_login = |body: String| {
        app.raw(Method::POST, "/v1/session")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let r = form_login(format!(
        "email=ada%40example.com&password={}&transport=body",
        PASSWORD.replace(' ', "+")
    ))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["session_token"].as_str().unwrap().starts_with("tss_"));
    let r = form_login("email=ada%40example.com&password=x&transport=carrier-pigeon".into()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn login_upgrades_an_outdated_password_hash(backend: Backend) {
    use tessera_core::password::PasswordHasher;
    use tessera_core::types::{Password, PasswordPolicy};

    let app = spawn_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let id: tessera_core::UserId = user["id"].as_str().unwrap().parse().unwrap();
    // Pretend the account was created under weaker parameters than the server now uses.
    let weaker = PasswordHasher::with_params(argon2::Params::new(512, 1, 1, None).unwrap());
    let owner = tessera_core::Email::parse("ada@example.com").unwrap();
    let old_hash =
        weaker.hash(&Password::new(PASSWORD, &PasswordPolicy::default(), &owner).unwrap());
    let now = time::OffsetDateTime::now_utc();
    app.state
        .store
        .set_password_hash(id, &old_hash, now)
        .await
        .unwrap();

    app.login_body("ada@example.com").await;
    let stored = app
        .state
        .store
        .user_by_id(id)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_ne!(stored, old_hash, "rehashed on login");
    assert!(
        stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{stored}"
    );
    app.login_body("ada@example.com").await;
}
