use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{
    cookie_value, set_cookie, spawn_app, spawn_app_with, Backend, TestApp, PASSWORD,
};
use crate::on_every_backend;

on_every_backend!(
    password_grant_issues_a_verifiable_pair,
    grant_errors_follow_rfc6749,
    refresh_rotates_and_reuse_kills_the_session,
    grace_window_returns_the_same_successor,
    concurrent_refreshes_mint_one_successor,
    concurrent_refreshes_within_grace_share_the_successor,
    logout_and_password_change_kill_access_tokens,
    revocation_endpoint_ends_sessions,
    introspection_needs_a_client_and_reports_state,
    discovery_documents,
    cookie_transport_sets_scoped_cookies_and_needs_csrf,
    key_rotation_keeps_old_tokens_valid,
    expired_and_forged_tokens_are_refused,
);

pub async fn password_grant(app: &TestApp, email: &str) -> Value {
    let r = app
        .client
        .post(app.url("/v1/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn password_grant_issues_a_verifiable_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let r = app
        .client
        .post(app.url("/v1/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("tsr_"));
    let access = body["access_token"].as_str().unwrap();
    let header = jwt_part(access, 0);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let claims = jwt_part(access, 1);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["iss"], "http://localhost:8080");
    assert_eq!(claims["aud"], "tessera");
    assert_eq!(claims["client_id"], "first-party");
    for claim in ["exp", "iat", "nbf", "jti", "sid"] {
        assert!(!claims[claim].is_null(), "{claim}");
    }

    let r = app.get_with_bearer("/v1/check", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-method"], "access_token");
    assert_eq!(
        r.headers()["x-auth-session"],
        claims["sid"].as_str().unwrap()
    );
    let me: Value = app
        .get_with_bearer("/v1/session", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["session"]["kind"], "token");
    assert_eq!(me["user"]["email"], "ada@example.com");

    // JSON bodies work too, and the token session shows in the device list.
    let r = app
        .post_json("/v1/token", &json!({ "grant_type": "password", "username": "ada@example.com", "password": PASSWORD }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = app
        .get_with_bearer("/v1/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
}

async fn grant_errors_follow_rfc6749(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        app.client.post(app.url("/v1/token")).form(&form).send()
    };
    let cases = [
        (
            vec![
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", "wrong wrong"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "nobody@example.com"),
                ("password", "wrong wrong"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "tsr_nope"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    "tsr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
            ],
            "invalid_grant",
        ),
        (
            vec![("grant_type", "client_credentials")],
            "unsupported_grant_type",
        ),
        (vec![("username", "ada@example.com")], "invalid_request"),
        (
            vec![("grant_type", "password"), ("username", "ada@example.com")],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
                ("scope", "admin"),
            ],
            "invalid_scope",
        ),
    ];
    let mut grant_bodies = Vec::new();
    for (form, code) in cases {
        let r = post(form.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{form:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], code, "{form:?}");
        if code == "invalid_grant" {
            grant_bodies.push(body);
        }
    }
    assert!(
        grant_bodies.windows(2).all(|w| w[0] == w[1]),
        "one body for every grant failure"
    );
}

async fn refresh_rotates_and_reuse_kills_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let first = password_grant(&app, "ada@example.com").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let r = refresh(&app, rt1).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second: Value = r.json().await.unwrap();
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    let at2 = second["access_token"].as_str().unwrap();
    assert_eq!(
        jwt_part(at2, 1)["sid"],
        jwt_part(first["access_token"].as_str().unwrap(), 1)["sid"],
        "same session"
    );
    assert_eq!(
        app.get_with_bearer("/v1/check", at2).await.status(),
        StatusCode::OK
    );

    // The thief (or the victim) presents the spent token: the family and session die.
    let r = refresh(&app, rt1).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        refresh(&app, rt2).await.status(),
        StatusCode::BAD_REQUEST,
        "successor revoked with the family"
    );
    let r = app.get_with_bearer("/v1/check", at2).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "access tokens of the session die at once"
    );
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let r = app
        .get_with_bearer("/v1/check", first["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn grace_window_returns_the_same_successor(backend: Backend) {
    let app = spawn_app_with(backend, "[token]\nrefresh_reuse_grace = \"10s\"").await;
    app.create_user("ada@example.com").await;
    let first = password_grant(&app, "ada@example.com").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let a: Value = refresh(&app, rt1).await.json().await.unwrap();
    app.clock.advance(Duration::seconds(5));
    let b: Value = refresh(&app, rt1).await.json().await.unwrap();
    assert_eq!(
        a["refresh_token"], b["refresh_token"],
        "a lost response is retried safely"
    );
    app.clock.advance(Duration::seconds(6));
    assert_eq!(
        refresh(&app, rt1).await.status(),
        StatusCode::BAD_REQUEST,
        "outside the window: theft"
    );
    assert_eq!(
        refresh(&app, a["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

async fn race(app: &TestApp, token: &str, n: usize) -> Vec<(StatusCode, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url("/v1/token");
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn concurrent_refreshes_mint_one_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let grant = password_grant(&app, "ada@example.com").await;
    let original = grant["refresh_token"].as_str().unwrap();
    let results = race(&app, original, 200).await;
    let winners = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    // Without a grace window the losers' replays are theft and revoke the session, so the one
    // winner may itself be refused when it finds its session dead: at most one 200, and
    // exactly one successor ever minted.
    assert!(winners <= 1, "{winners} successors handed out");
    assert!(results
        .iter()
        .all(|(s, b)| *s == StatusCode::OK || b["error"] == "invalid_grant"));
    let secret =
        tessera_core::SecretToken::parse(tessera_core::TokenKind::Refresh, original).unwrap();
    let spent = app
        .state
        .store
        .refresh_by_hash(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert!(
        spent.used_at.is_some() && spent.successor_id.is_some(),
        "spent exactly once"
    );
    let successor = app
        .state
        .store
        .refresh_by_id(spent.successor_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        successor.used_at.is_none(),
        "the one successor was never spent: no second mint"
    );
    assert!(
        successor.revoked_at.is_some(),
        "and it died with the family"
    );
}

async fn concurrent_refreshes_within_grace_share_the_successor(backend: Backend) {
    let app = spawn_app_with(backend, "[token]\nrefresh_reuse_grace = \"30s\"").await;
    app.create_user("ada@example.com").await;
    let grant = password_grant(&app, "ada@example.com").await;
    let results = race(&app, grant["refresh_token"].as_str().unwrap(), 200).await;
    assert!(
        results.iter().all(|(s, _)| *s == StatusCode::OK),
        "all within grace"
    );
    let successor = &results[0].1["refresh_token"];
    assert!(
        results
            .iter()
            .all(|(_, b)| &b["refresh_token"] == successor),
        "one successor, handed to all"
    );
    let r = refresh(&app, successor.as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK, "the shared successor is live");
}

async fn logout_and_password_change_kill_access_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let a = password_grant(&app, "ada@example.com").await;
    let b = password_grant(&app, "ada@example.com").await;
    let at_a = a["access_token"].as_str().unwrap();
    let at_b = b["access_token"].as_str().unwrap();
    let r = app
        .client
        .delete(app.url("/v1/session"))
        .bearer_auth(at_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_with_bearer("/v1/check", at_a).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, a["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get_with_bearer("/v1/check", at_b).await.status(),
        StatusCode::OK
    );

    let (cookie_session, _) = app.login_body("ada@example.com").await;
    let r = app
        .client
        .post(app.url("/v1/password"))
        .bearer_auth(&cookie_session)
        .json(&json!({ "current_password": PASSWORD, "new_password": "another fine secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a header caller gets its successor"
    );
    assert_eq!(
        app.get_with_bearer("/v1/check", at_b).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, b["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

async fn revocation_endpoint_ends_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let revoke = |token: String| {
        app.client
            .post(app.url("/v1/token/revoke"))
            .form(&[("token", token)])
            .send()
    };

    let a = password_grant(&app, "ada@example.com").await;
    let r = revoke(a["refresh_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_with_bearer("/v1/check", a["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let b = password_grant(&app, "ada@example.com").await;
    revoke(b["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(
        refresh(&app, b["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let (tss, _) = app.login_body("ada@example.com").await;
    revoke(tss.clone()).await.unwrap();
    assert_eq!(
        app.get_with_bearer("/v1/session", &tss).await.status(),
        StatusCode::UNAUTHORIZED
    );

    for garbage in ["", "nonsense", "tsr_x", "eyJhbGciOiJub25lIn0.e30."] {
        let r = revoke(garbage.to_owned()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{garbage:?}");
    }
    let r = app
        .client
        .post(app.url("/v1/token/revoke"))
        .form(&[("token_type_hint", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "token is required");
}

async fn introspection_needs_a_client_and_reports_state(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (client, secret) = tessera_engine::clients::create(&app.state, "api", None)
        .await
        .unwrap();
    let introspect = |token: String, id: String, pass: String| {
        app.client
            .post(app.url("/v1/token/introspect"))
            .basic_auth(id, Some(pass))
            .form(&[("token", token)])
            .send()
    };
    let id = client.id.to_string();
    let pass = secret.expose().to_owned();
    let grant = password_grant(&app, "ada@example.com").await;
    let access = grant["access_token"].as_str().unwrap().to_owned();

    let r = introspect(access.clone(), id.clone(), "tsc_wrong".into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = app
        .client
        .post(app.url("/v1/token/introspect"))
        .form(&[("token", access.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let body: Value = introspect(access.clone(), id.clone(), pass.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "access_token");
    for field in ["sub", "sid", "exp", "iat", "iss", "aud", "jti", "client_id"] {
        assert!(!body[field].is_null(), "{field}");
    }
    let rt = grant["refresh_token"].as_str().unwrap().to_owned();
    let body: Value = introspect(rt.clone(), id.clone(), pass.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["active"].clone(), body["token_type"].clone()),
        (json!(true), json!("refresh_token"))
    );
    let (tss, _) = app.login_body("ada@example.com").await;
    let body: Value = introspect(tss, id.clone(), pass.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["active"].clone(), body["token_type"].clone()),
        (json!(true), json!("session_token"))
    );

    app.client
        .post(app.url("/v1/token/revoke"))
        .form(&[("token", rt.clone())])
        .send()
        .await
        .unwrap();
    for token in [access, rt, "garbage".to_owned()] {
        let body: Value = introspect(token, id.clone(), pass.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body, json!({ "active": false }));
    }
}

async fn discovery_documents(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let grant = password_grant(&app, "ada@example.com").await;
    let kid = jwt_part(grant["access_token"].as_str().unwrap(), 0)["kid"].clone();
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "current and pre-published next");
    assert!(keys.iter().any(|k| k["kid"] == kid));
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], "EdDSA");
        assert!(k.get("d").is_none(), "no private parts");
    }
    let meta = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        meta["issuer"],
        jwt_part(grant["access_token"].as_str().unwrap(), 1)["iss"]
    );
    assert_eq!(
        meta["jwks_uri"],
        "http://localhost:8080/.well-known/jwks.json"
    );
    assert_eq!(meta["token_endpoint"], "http://localhost:8080/v1/token");
    assert_eq!(
        meta["grant_types_supported"],
        json!(["password", "refresh_token"])
    );
}

async fn cookie_transport_sets_scoped_cookies_and_needs_csrf(backend: Backend) {
    let app = spawn_app_with(
        backend,
        "[server]\npublic_url = \"https://auth.example.com\"",
    )
    .await;
    app.create_user("ada@example.com").await;
    let r = app
        .client
        .post(app.url("/v1/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("transport", "cookie"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let at_line = set_cookie(r.headers(), "__Host-tessera_at")
        .expect("access cookie")
        .to_owned();
    let rt_line = set_cookie(r.headers(), "__Secure-tessera_rt")
        .expect("refresh cookie")
        .to_owned();
    assert!(
        at_line.contains("; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=300"),
        "{at_line}"
    );
    assert!(
        rt_line.contains("; HttpOnly; Secure; SameSite=Lax; Path=/v1/token; Max-Age="),
        "{rt_line}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let at_cookie = format!("__Host-tessera_at={}", cookie_value(&at_line));
    let rt_cookie = format!("__Secure-tessera_rt={}", cookie_value(&rt_line));

    let r = app.get_with_cookie("/v1/check", &at_cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-method"], "access_token");
    // Unsafe requests with the access-token cookie follow the CSRF rule.
    let r = app
        .client
        .delete(app.url("/v1/sessions?scope=others"))
        .header("cookie", &at_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .delete(app.url("/v1/sessions?scope=others"))
        .header("cookie", &at_cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let cookie_refresh = |token: Option<&str>| {
        let mut rb = app
            .client
            .post(app.url("/v1/token"))
            .header("cookie", &rt_cookie)
            .form(&[("grant_type", "refresh_token"), ("transport", "cookie")]);
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        rb.send()
    };
    assert_eq!(
        cookie_refresh(None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        cookie_refresh(Some("forged")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = cookie_refresh(Some(&csrf)).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the refused attempts did not spend the token"
    );
    assert!(set_cookie(r.headers(), "__Secure-tessera_rt").is_some());
}

async fn key_rotation_keeps_old_tokens_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let old = password_grant(&app, "ada@example.com").await;
    let old_at = old["access_token"].as_str().unwrap();
    let old_kid = jwt_part(old_at, 0)["kid"].clone();
    tessera_engine::keys::rotate(&app.state, true)
        .await
        .unwrap();
    let new = password_grant(&app, "ada@example.com").await;
    let new_kid = jwt_part(new["access_token"].as_str().unwrap(), 0)["kid"].clone();
    assert_ne!(old_kid, new_kid, "the pre-published next key signs now");
    assert_eq!(
        app.get_with_bearer("/v1/check", old_at).await.status(),
        StatusCode::OK,
        "retired key still verifies"
    );
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert!(kids.contains(&&old_kid) && kids.contains(&&new_kid));
    assert_eq!(kids.len(), 3, "retired, current and a new next");
    app.clock.advance(Duration::minutes(6));
    assert_eq!(
        app.get_with_bearer("/v1/check", old_at).await.status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );
}

async fn expired_and_forged_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let grant = password_grant(&app, "ada@example.com").await;
    let at = grant["access_token"].as_str().unwrap();
    let mut parts: Vec<String> = at.split('.').map(str::to_owned).collect();
    let mut claims = jwt_part(at, 1);
    claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        parts[1]
    );
    let oversize = format!("{at}{}", "A".repeat(20_000));
    for token in [
        forged.as_str(),
        none.as_str(),
        "eyJ.garbage.x",
        oversize.as_str(),
    ] {
        let r = app.get_with_bearer("/v1/check", token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    app.clock.advance(Duration::seconds(300 + 31));
    assert_eq!(
        app.get_with_bearer("/v1/check", at).await.status(),
        StatusCode::UNAUTHORIZED,
        "past exp + leeway"
    );
}
