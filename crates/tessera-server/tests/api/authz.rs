//! Roles, custom claims and scopes (issue 18): the admin API that sets them, every credential
//! that carries them, `/v1/check` that can require them, and how a change reaches each.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{admin_toml, spawn_app_with, Auth, Backend, TestApp, ADMIN, PASSWORD};
use crate::on_every_backend;

on_every_backend!(
    roles_are_set_added_removed_and_listed,
    claims_that_shadow_or_are_too_big_are_refused,
    check_requires_roles_and_scopes,
    a_role_change_reaches_cookie_and_session_token_checks_at_once,
    scopes_are_granted_within_what_the_client_may_ask,
    a_refresh_narrows_scope_and_never_widens_it,
    an_access_token_sees_a_role_change_at_its_next_refresh,
    removing_a_role_can_end_the_sessions,
);

/// Scopes `read`, `write` and `admin`; `read` and `write` allowed to the default client, `read`
/// to `cli`.
pub(crate) const SCOPES: &str = "[scopes]\nknown = [\"read\", \"write\", \"admin\"]\n\
     clients = [\"first-party=read write\", \"cli=read\"]\n";

pub(crate) async fn app_with(backend: Backend, extra: &str) -> TestApp {
    spawn_app_with(backend, &format!("{}{SCOPES}{extra}", admin_toml())).await
}

pub(crate) async fn user_id(app: &TestApp, email: &str) -> String {
    app.create_user(email).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn roles_of(body: &Value) -> Vec<String> {
    serde_json::from_value(body["roles"].clone()).unwrap()
}

async fn roles_are_set_added_removed_and_listed(backend: Backend) {
    let app = app_with(backend, "").await;
    let id = user_id(&app, "r@example.com").await;
    assert_eq!(
        roles_of(&app.admin_roles(ADMIN, &id).json().await),
        Vec::<String>::new()
    );

    let r = app
        .admin_set_roles(ADMIN, &id, &["editor", "admin", "editor"])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(roles_of(&r.json().await.unwrap()), ["admin", "editor"]);
    let r = app.admin_add_roles(ADMIN, &id, &["ops"]).json().await;
    assert_eq!(roles_of(&r), ["admin", "editor", "ops"]);
    let r = app.admin_remove_role(ADMIN, &id, "editor").json().await;
    assert_eq!(roles_of(&r), ["admin", "ops"]);
    let user = app.admin_user(ADMIN, &id).json().await;
    assert_eq!(user["roles"], json!(["admin", "ops"]));
    assert_eq!(user["claims"], json!({}));

    // Names are validated, the count bounded; a refused change changes nothing.
    for bad in [&["has space"][..], &["é"], &[""]] {
        let status = app.admin_set_roles(ADMIN, &id, bad).status().await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let many: Vec<String> = (0..33).map(|i| format!("r{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = app.admin_set_roles(ADMIN, &id, &many).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    assert_eq!(
        roles_of(&app.admin_roles(ADMIN, &id).json().await),
        ["admin", "ops"]
    );

    // Unknown users, and callers that are not the admin.
    let nobody = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        app.admin_set_roles(ADMIN, &nobody, &["a"]).status().await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin_roles(Auth::None, &id).status().await,
        StatusCode::UNAUTHORIZED
    );
    let (token, _) = app.login_body("r@example.com").await;
    let status = app
        .admin_add_roles(Auth::Bearer(&token), &id, &["root"])
        .status()
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every change is audited with what it added and removed.
    let events = app
        .admin_events(ADMIN, &[("user_id", &id), ("type", "roles_changed")])
        .json()
        .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "set, add, remove: {events:?}");
    assert_eq!(
        events[0]["detail"],
        json!({"added": [], "removed": ["editor"]})
    );
}

async fn claims_that_shadow_or_are_too_big_are_refused(backend: Backend) {
    let app = app_with(backend, "").await;
    let id = user_id(&app, "c@example.com").await;
    let good = json!({"tenant": "acme", "permissions": ["invoices:read"], "email": "c@x"});
    let r = app.admin_set_claims(ADMIN, &id, &good).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["claims"], good);

    for shadowing in [
        "exp",
        "sub",
        "iss",
        "roles",
        "scope",
        "sid",
        "client_id",
        "active",
        "jti",
    ] {
        let r = app
            .admin_set_claims(ADMIN, &id, &json!({ shadowing: 1 }))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{shadowing}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("shadows"));
    }
    let oversize = json!({ "blob": "x".repeat(2000) });
    let r = app.admin_set_claims(ADMIN, &id, &oversize).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        !r.text().await.unwrap().contains("xxxx"),
        "the value is never echoed"
    );
    for not_an_object in [json!([1]), json!("s"), json!(null)] {
        let status = app
            .admin_set_claims(ADMIN, &id, &not_an_object)
            .status()
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{not_an_object}");
    }
    // Nothing refused was stored; the audit event names the claims, never their values.
    assert_eq!(app.admin_claims(ADMIN, &id).json().await["claims"], good);
    let events = app
        .admin_events(ADMIN, &[("user_id", &id), ("type", "claims_changed")])
        .json()
        .await;
    assert_eq!(
        events["events"][0]["detail"],
        json!({"names": ["email", "permissions", "tenant"]})
    );
    assert!(!events.to_string().contains("acme"));
}

async fn check_requires_roles_and_scopes(backend: Backend) {
    let app = app_with(backend, "").await;
    let id = user_id(&app, "k@example.com").await;
    app.admin_set_roles(ADMIN, &id, &["admin", "ops"])
        .status()
        .await;
    app.admin_set_claims(ADMIN, &id, &json!({"tenant": "acme"}))
        .status()
        .await;
    let (cookie, _, _) = app.login_cookie("k@example.com").await;
    let auth = Auth::Cookie(&cookie);

    let r = app.check(auth).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-roles"], "admin,ops");
    assert_eq!(r.headers()["x-auth-scope"], "");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["roles"], json!(["admin", "ops"]));
    assert_eq!(body["claims"], json!({"tenant": "acme"}));
    assert_eq!(body["scope"], Value::Null);

    let status = |q: Vec<(&'static str, &'static str)>| {
        let call = app.check_requiring(auth, &q);
        async move { call.status().await }
    };
    assert_eq!(status(vec![("role", "admin")]).await, StatusCode::OK);
    assert_eq!(
        status(vec![("role", "admin"), ("role", "ops")]).await,
        StatusCode::OK
    );
    assert_eq!(status(vec![("role", "root")]).await, StatusCode::FORBIDDEN);
    assert_eq!(
        status(vec![("role", "admin"), ("role", "root")]).await,
        StatusCode::FORBIDDEN
    );
    // A session credential carries no scope.
    assert_eq!(status(vec![("scope", "read")]).await, StatusCode::FORBIDDEN);
    assert_eq!(
        status(vec![("mode", "nginx"), ("role", "admin")]).await,
        StatusCode::OK
    );
    let r = app.check_requiring(auth, &[("role", "root")]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");
    // No credential stays 401 whatever is required.
    let r = app.check_requiring(Auth::None, &[("role", "admin")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // An access token: roles, claims and scope from the token.
    let grant = app
        .grant_password_with("k@example.com", PASSWORD, &[("scope", "read")])
        .json()
        .await;
    let jwt = grant["access_token"].as_str().unwrap();
    let r = app
        .check_requiring(Auth::Bearer(jwt), &[("scope", "read"), ("role", "ops")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-scope"], "read");
    assert_eq!(r.headers()["x-auth-roles"], "admin,ops");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["claims"]["tenant"], "acme");
    let r = app
        .check_requiring(Auth::Bearer(jwt), &[("scope", "write")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn a_role_change_reaches_cookie_and_session_token_checks_at_once(backend: Backend) {
    let app = app_with(backend, "").await;
    let id = user_id(&app, "at-once@example.com").await;
    let (cookie, _, _) = app.login_cookie("at-once@example.com").await;
    let (token, _) = app.login_body("at-once@example.com").await;
    for auth in [Auth::Cookie(&cookie), Auth::Bearer(&token)] {
        // Twice: the second answer comes from the session cache.
        for _ in 0..2 {
            let r = app.check_requiring(auth, &[("role", "admin")]).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
    }
    app.admin_add_roles(ADMIN, &id, &["admin"]).status().await;
    app.admin_set_claims(ADMIN, &id, &json!({"tier": "gold"}))
        .status()
        .await;
    // The clock has not moved: no cache entry has expired; the change evicted them.
    for auth in [Auth::Cookie(&cookie), Auth::Bearer(&token)] {
        let r = app.check_requiring(auth, &[("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["claims"]["tier"], "gold");
    }
    let session = app.get_session(Auth::Bearer(&token)).json().await;
    assert_eq!(session["user"]["roles"], json!(["admin"]));
    assert_eq!(session["user"]["claims"], json!({"tier": "gold"}));
    app.admin_remove_role(ADMIN, &id, "admin").status().await;
    let r = app
        .check_requiring(Auth::Cookie(&cookie), &[("role", "admin")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn scopes_are_granted_within_what_the_client_may_ask(backend: Backend) {
    let app = app_with(backend, "").await;
    app.create_user("s@example.com").await;
    let grant = |extra: Vec<(&'static str, &'static str)>| {
        let call = app.grant_password_with("s@example.com", PASSWORD, &extra);
        async move {
            let r = call.await;
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = grant(vec![("scope", "write read")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "read write");
    let (status, body) = grant(vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("scope").is_none(), "no scope asked, none granted");
    for (what, extra) in [
        ("unknown", vec![("scope", "read delete")]),
        ("known but not for this client", vec![("scope", "admin")]),
        (
            "not for cli",
            vec![("scope", "write"), ("client_id", "cli")],
        ),
        (
            "a client with no scopes",
            vec![("scope", "read"), ("client_id", "other")],
        ),
        ("malformed", vec![("scope", "re\"ad")]),
    ] {
        let (status, body) = grant(extra).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(body["error"], "invalid_scope", "{what}");
    }
    let (status, body) = grant(vec![("scope", "read"), ("client_id", "cli")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "read");
    // The session list shows what each token session was granted.
    let (token, _) = app.login_body("s@example.com").await;
    let sessions = app.list_sessions(Auth::Bearer(&token)).json().await;
    let scopes: Vec<&Value> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["scope"])
        .collect();
    assert!(scopes.contains(&&json!("read write")) && scopes.contains(&&Value::Null));
}

fn scope_claim(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["scope"].as_str().map(str::to_owned)
}

async fn a_refresh_narrows_scope_and_never_widens_it(backend: Backend) {
    let app = app_with(backend, "").await;
    app.create_user("n@example.com").await;
    let grant = app
        .grant_password_with("n@example.com", PASSWORD, &[("scope", "read write")])
        .json()
        .await;
    let refresh = |token: &str, scope: Option<&str>| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let call = app.token(&form);
        async move {
            let r = call.await;
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let rt = grant["refresh_token"].as_str().unwrap().to_owned();
    let (status, narrowed) = refresh(&rt, Some("read")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(narrowed["scope"], "read");
    let at = narrowed["access_token"].as_str().unwrap();
    assert_eq!(scope_claim(at).as_deref(), Some("read"));

    // Widening past the grant is refused before the refresh token is spent…
    let rt = narrowed["refresh_token"].as_str().unwrap().to_owned();
    for wider in ["read write admin", "admin"] {
        let (status, body) = refresh(&rt, Some(wider)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wider}");
        assert_eq!(body["error"], "invalid_scope");
    }
    // …and narrowing held for one token only: with no scope, the original grant is back.
    let (status, back) = refresh(&rt, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refused attempts spent nothing: {back}"
    );
    assert_eq!(back["scope"], "read write");
    let at = back["access_token"].as_str().unwrap();
    assert_eq!(scope_claim(at).as_deref(), Some("read write"));

    // A token session granted no scope can be narrowed to nothing else either.
    let plain = app.token_pair("n@example.com").await;
    let (status, body) = refresh(plain["refresh_token"].as_str().unwrap(), Some("read")).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_scope"))
    );
}

async fn an_access_token_sees_a_role_change_at_its_next_refresh(backend: Backend) {
    let app = app_with(backend, "").await;
    let id = user_id(&app, "j@example.com").await;
    app.admin_set_roles(ADMIN, &id, &["viewer"]).status().await;
    let grant = app.token_pair("j@example.com").await;
    let jwt = grant["access_token"].as_str().unwrap();
    app.admin_set_roles(ADMIN, &id, &["editor"]).status().await;
    // The token says what was true when it was issued…
    let r = app.check(Auth::Bearer(jwt)).await;
    assert_eq!(r.headers()["x-auth-roles"], "viewer");
    // …and its successor says what is true now.
    let next = app
        .grant_refresh(grant["refresh_token"].as_str().unwrap())
        .json()
        .await;
    let r = app
        .check(Auth::Bearer(next["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(r.headers()["x-auth-roles"], "editor");
}

async fn removing_a_role_can_end_the_sessions(backend: Backend) {
    let app = app_with(backend, "[roles]\nend_sessions_on_removal = true\n").await;
    let id = user_id(&app, "e@example.com").await;
    app.admin_set_roles(ADMIN, &id, &["admin", "ops"])
        .status()
        .await;
    let (cookie, _, _) = app.login_cookie("e@example.com").await;
    let grant = app.token_pair("e@example.com").await;
    let jwt = grant["access_token"].as_str().unwrap();
    // Adding ends nothing.
    app.admin_add_roles(ADMIN, &id, &["extra"]).status().await;
    assert_eq!(
        app.check(Auth::Cookie(&cookie)).status().await,
        StatusCode::OK
    );
    // Removing ends every session, and with them the access token that still says "ops".
    app.admin_remove_role(ADMIN, &id, "ops").status().await;
    assert_eq!(
        app.check(Auth::Cookie(&cookie)).status().await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.check(Auth::Bearer(jwt)).status().await,
        StatusCode::UNAUTHORIZED
    );
    let status = app
        .grant_refresh(grant["refresh_token"].as_str().unwrap())
        .status()
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
