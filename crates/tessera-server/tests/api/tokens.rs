use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::Duration;

use crate::helpers::{
    cookie_value, set_cookie, spawn_app, spawn_app_with, Auth, Backend, TestApp, PASSWORD,
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

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn password_grant_issues_a_verifiable_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let r = app.grant_password("ada@example.com", PASSWORD).await;
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

    let r = app.check(Auth::Bearer(access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-method"], "access_token");
    assert_eq!(
        r.headers()["x-auth-session"],
        claims["sid"].as_str().unwrap()
    );
    let me: Value = app
        .get_session(Auth::Bearer(access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["session"]["kind"], "token");
    assert_eq!(me["user"]["email"], "ada@example.com");

    // JSON bodies work too, and the token session shows in the device list.
    let r = app
        .token_json(&json!({ "grant_type": "password", "username": "ada@example.com", "password": PASSWORD }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = app
        .list_sessions(Auth::Bearer(access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
}

async fn grant_errors_follow_rfc6749(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let post = |form: Vec<(&'static str, &'static str)>| app.token(&form);
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
        let r = post(form.clone()).await;
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
    let first = app.token_pair("ada@example.com").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let r = app.grant_refresh(rt1).await;
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
    assert_eq!(app.check(Auth::Bearer(at2)).await.status(), StatusCode::OK);

    // The thief (or the victim) presents the spent token: the family and session die.
    let r = app.grant_refresh(rt1).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        app.grant_refresh(rt2).await.status(),
        StatusCode::BAD_REQUEST,
        "successor revoked with the family"
    );
    let r = app.check(Auth::Bearer(at2)).await;
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
        .check(Auth::Bearer(first["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn grace_window_returns_the_same_successor(backend: Backend) {
    let app = spawn_app_with(backend, "[token]\nrefresh_reuse_grace = \"10s\"").await;
    app.create_user("ada@example.com").await;
    let first = app.token_pair("ada@example.com").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let a: Value = app.grant_refresh(rt1).await.json().await.unwrap();
    app.clock.advance(Duration::seconds(5));
    let b: Value = app.grant_refresh(rt1).await.json().await.unwrap();
    assert_eq!(
        a["refresh_token"], b["refresh_token"],
        "a lost response is retried safely"
    );
    app.clock.advance(Duration::seconds(6));
    assert_eq!(
        app.grant_refresh(rt1).await.status(),
        StatusCode::BAD_REQUEST,
        "outside the window: theft"
    );
    assert_eq!(
        app.grant_refresh(a["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

async fn race(app: &TestApp, token: &str, n: usize) -> Vec<(StatusCode, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let refresh = app.grant_refresh(token);
        tasks.push(tokio::spawn(async move {
            let r = refresh.await;
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
    let grant = app.token_pair("ada@example.com").await;
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
    assert_eq!(
        minted_successors(&app, &spent).await,
        1,
        "200 racers, one successor in the store"
    );
}

/// How many successors the store holds in the family of `original` (every token but it).
async fn minted_successors(app: &TestApp, original: &tessera_core::RefreshToken) -> usize {
    let family = app
        .state
        .store
        .refresh_family(original.family_id)
        .await
        .unwrap();
    assert!(family.iter().any(|t| t.id == original.id));
    family.len() - 1
}

async fn concurrent_refreshes_within_grace_share_the_successor(backend: Backend) {
    let app = spawn_app_with(backend, "[token]\nrefresh_reuse_grace = \"30s\"").await;
    app.create_user("ada@example.com").await;
    let grant = app.token_pair("ada@example.com").await;
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
    let secret = tessera_core::SecretToken::parse(
        tessera_core::TokenKind::Refresh,
        grant["refresh_token"].as_str().unwrap(),
    )
    .unwrap();
    let original = app
        .state
        .store
        .refresh_by_hash(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        minted_successors(&app, &original).await,
        1,
        "200 racers within grace, one successor in the store"
    );
    let r = app.grant_refresh(successor.as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK, "the shared successor is live");
}

async fn logout_and_password_change_kill_access_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let a = app.token_pair("ada@example.com").await;
    let b = app.token_pair("ada@example.com").await;
    let at_a = a["access_token"].as_str().unwrap();
    let at_b = b["access_token"].as_str().unwrap();
    let r = app.logout(Auth::Bearer(at_a)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.check(Auth::Bearer(at_a)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.grant_refresh(a["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.check(Auth::Bearer(at_b)).await.status(), StatusCode::OK);

    let (cookie_session, _) = app.login_body("ada@example.com").await;
    let r = app
        .change_password(
            Auth::Bearer(&cookie_session),
            PASSWORD,
            "another fine secret",
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a header caller gets its successor"
    );
    assert_eq!(
        app.check(Auth::Bearer(at_b)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.grant_refresh(b["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

async fn revocation_endpoint_ends_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;

    let a = app.token_pair("ada@example.com").await;
    let r = app.revoke_token(a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.check(Auth::Bearer(a["access_token"].as_str().unwrap()))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let b = app.token_pair("ada@example.com").await;
    app.revoke_token(b["access_token"].as_str().unwrap()).await;
    assert_eq!(
        app.grant_refresh(b["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let (tss, _) = app.login_body("ada@example.com").await;
    app.revoke_token(&tss).await;
    assert_eq!(
        app.get_session(Auth::Bearer(&tss)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    for garbage in ["", "nonsense", "tsr_x", "eyJhbGciOiJub25lIn0.e30."] {
        let r = app.revoke_token(garbage).await;
        assert_eq!(r.status(), StatusCode::OK, "{garbage:?}");
    }
    let r = app
        .raw(Method::POST, "/v1/token/revoke")
        .form(&[("token_type_hint", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "token is required");
}

async fn introspection_needs_a_client_and_reports_state(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (client, secret) = tessera_engine::clients::create(&app.state, "api", None)
        .await
        .unwrap();
    let id = client.id.to_string();
    let resource_server = Auth::Basic(&id, secret.expose());
    let grant = app.token_pair("ada@example.com").await;
    let access = grant["access_token"].as_str().unwrap().to_owned();

    let r = app.introspect(Auth::Basic(&id, "tsc_wrong"), &access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = app.introspect(Auth::None, &access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let body = app.introspect(resource_server, &access).json().await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "access_token");
    for field in ["sub", "sid", "exp", "iat", "iss", "aud", "jti", "client_id"] {
        assert!(!body[field].is_null(), "{field}");
    }
    let rt = grant["refresh_token"].as_str().unwrap().to_owned();
    let body = app.introspect(resource_server, &rt).json().await;
    assert_eq!(
        (body["active"].clone(), body["token_type"].clone()),
        (json!(true), json!("refresh_token"))
    );
    let (tss, _) = app.login_body("ada@example.com").await;
    let body = app.introspect(resource_server, &tss).json().await;
    assert_eq!(
        (body["active"].clone(), body["token_type"].clone()),
        (json!(true), json!("session_token"))
    );

    app.revoke_token(&rt).await;
    for token in [access.as_str(), rt.as_str(), "garbage"] {
        let body = app.introspect(resource_server, token).json().await;
        assert_eq!(body, json!({ "active": false }));
    }
}

async fn discovery_documents(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let grant = app.token_pair("ada@example.com").await;
    let kid = jwt_part(grant["access_token"].as_str().unwrap(), 0)["kid"].clone();
    let r = app.jwks().await;
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
    let meta = app.oauth_metadata().json().await;
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
        json!([
            "password",
            "refresh_token",
            "urn:tessera:params:oauth:grant-type:mfa-otp"
        ])
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
        .grant_password_with("ada@example.com", PASSWORD, &[("transport", "cookie")])
        .await;
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

    let r = app.check(Auth::Cookie(&at_cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-method"], "access_token");
    // Unsafe requests with the access-token cookie follow the CSRF rule.
    let r = app.revoke_other_sessions(Auth::Cookie(&at_cookie)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .revoke_other_sessions(Auth::Cookie(&at_cookie))
        .csrf(&csrf)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let cookie_refresh = || app.grant_refresh_by_cookie(&rt_cookie, Some("cookie"));
    assert_eq!(cookie_refresh().status().await, StatusCode::FORBIDDEN);
    assert_eq!(
        cookie_refresh().csrf("forged").status().await,
        StatusCode::FORBIDDEN
    );
    let r = cookie_refresh().csrf(&csrf).await;
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
    let old = app.token_pair("ada@example.com").await;
    let old_at = old["access_token"].as_str().unwrap();
    let old_kid = jwt_part(old_at, 0)["kid"].clone();
    tessera_engine::keys::rotate(&app.state, true)
        .await
        .unwrap();
    let new = app.token_pair("ada@example.com").await;
    let new_kid = jwt_part(new["access_token"].as_str().unwrap(), 0)["kid"].clone();
    assert_ne!(old_kid, new_kid, "the pre-published next key signs now");
    assert_eq!(
        app.check(Auth::Bearer(old_at)).await.status(),
        StatusCode::OK,
        "retired key still verifies"
    );
    let kids = app.jwks_kids().await;
    assert!(kids.iter().any(|k| *k == old_kid) && kids.iter().any(|k| *k == new_kid));
    assert_eq!(kids.len(), 3, "retired, current and a new next");
    app.clock.advance(Duration::minutes(6));
    assert_eq!(
        app.check(Auth::Bearer(old_at)).await.status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );
}

async fn expired_and_forged_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let grant = app.token_pair("ada@example.com").await;
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
        let r = app.check(Auth::Bearer(token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    app.clock.advance(Duration::seconds(300 + 31));
    assert_eq!(
        app.check(Auth::Bearer(at)).await.status(),
        StatusCode::UNAUTHORIZED,
        "past exp + leeway"
    );
}
