use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    admin_toml, spawn_app_with, Auth, Backend, TestApp, ADMIN, ADMIN_KEY, PASSWORD,
};
use crate::on_every_backend;

on_every_backend!(
    admin_auth_is_key_only,
    admin_lock_ends_everything,
    admin_lock_ends_access_and_refresh_tokens,
    admin_events_and_clients
);

async fn admin_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &admin_toml()).await
}

async fn admin_auth_is_key_only(backend: Backend) {
    let app = admin_app(backend).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let (cookie, _, _) = app.login_cookie("ada@example.com").await;
    let email = "ada@example.com";
    assert_eq!(
        app.admin_find_users(Auth::None, email).status().await,
        StatusCode::UNAUTHORIZED
    );
    let wrong_key = format!("{ADMIN_KEY}x");
    let wrong = app.admin_find_users(Auth::Bearer(&wrong_key), email).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.admin_find_users(Auth::Bearer(&token), email)
            .status()
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.admin_find_users(Auth::Cookie(&cookie), email)
            .status()
            .await,
        StatusCode::FORBIDDEN
    );
    let r = app.admin_find_users(ADMIN, email).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["users"][0]["email"], "ada@example.com");
    assert_eq!(body["users"][0]["locked"], false);
    assert!(body["users"][0].get("password_hash").is_none());
    let body = app
        .admin_find_users(ADMIN, "nobody@example.com")
        .json()
        .await;
    assert_eq!(body["users"], json!([]));
    assert_eq!(
        app.admin_user(ADMIN, "not-an-id").status().await,
        StatusCode::NOT_FOUND
    );
    let r = app
        .admin_user(ADMIN, &uuid::Uuid::new_v4().to_string())
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The token half of a lock: the access token dies at once (no wait for its expiry) and the
/// refresh token cannot mint a new one, also after an unlock.
async fn admin_lock_ends_access_and_refresh_tokens(backend: Backend) {
    let app = admin_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    let grant = app.token_pair("ada@example.com").await;
    let access = grant["access_token"].as_str().unwrap();
    let refresh = grant["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.check(Auth::Bearer(access)).await.status(),
        StatusCode::OK
    );

    let r = app.admin_set_locked(ADMIN, id, true).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.check(Auth::Bearer(access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.grant_refresh(refresh).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let r = app.admin_set_locked(ADMIN, id, false).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.grant_refresh(refresh).await.status(),
        StatusCode::BAD_REQUEST,
        "an unlock does not revive the ended family"
    );
}

async fn admin_lock_ends_everything(backend: Backend) {
    let app = admin_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    let (token, _) = app.login_body("ada@example.com").await;
    let (cookie, _, _) = app.login_cookie("ada@example.com").await;
    let body = app.admin_user_sessions(ADMIN, id).json().await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 2);

    let r = app.admin_set_locked(ADMIN, id, true).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["locked"], true);
    assert_eq!(
        app.get_session(Auth::Bearer(&token)).status().await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_session(Auth::Cookie(&cookie)).status().await,
        StatusCode::UNAUTHORIZED
    );
    let locked = app.login("ada@example.com", PASSWORD).await;
    let wrong = app.login("ada@example.com", "nope nope").await;
    assert_eq!(locked.status(), wrong.status());
    assert_eq!(locked.text().await.unwrap(), wrong.text().await.unwrap());

    let r = app.admin_set_locked(ADMIN, id, false).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (token, _) = app.login_body("ada@example.com").await;
    let r = app.admin_revoke_user_sessions(ADMIN, id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_session(Auth::Bearer(&token)).status().await,
        StatusCode::UNAUTHORIZED
    );

    let r = app
        .admin_update_user(ADMIN, id, &json!({ "locked": "yes" }))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn admin_events_and_clients(backend: Backend) {
    let app = admin_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.login_body("ada@example.com").await;
    app.login("ada@example.com", "nope nope").await;

    let body = app.admin_events(ADMIN, &[("user_id", id)]).json().await;
    let types: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["login_failed", "login_succeeded", "user_created"],
        "newest first"
    );
    let first = &body["events"][0];
    assert_eq!(first["ip"], "127.0.0.1");
    assert_eq!(first["user_id"], id);
    assert!(
        !first.to_string().contains("nope nope"),
        "no secrets in the audit log"
    );

    let body = app
        .admin_events(ADMIN, &[("user_id", id), ("type", "login_succeeded")])
        .json()
        .await;
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    let page1 = app
        .admin_events(ADMIN, &[("user_id", id), ("limit", "2")])
        .json()
        .await;
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"]
        .as_i64()
        .expect("a full page has a cursor")
        .to_string();
    let page2 = app
        .admin_events(
            ADMIN,
            &[("user_id", id), ("limit", "2"), ("cursor", &cursor)],
        )
        .json()
        .await;
    assert_eq!(page2["events"][0]["type"], "user_created");
    assert_eq!(
        app.admin_events(ADMIN, &[("limit", "0")]).status().await,
        StatusCode::BAD_REQUEST
    );

    let r = app.admin_create_client(ADMIN, "billing-api").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let client: Value = r.json().await.unwrap();
    assert!(client["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("tsc_"));
    let client_id = client["client_id"].as_str().unwrap();
    let list = app.admin_clients(ADMIN).json().await;
    assert_eq!(list["clients"][0]["client_id"], client_id);
    assert!(
        list["clients"][0].get("client_secret").is_none(),
        "the secret is shown once"
    );
    let r = app.admin_delete_client(ADMIN, client_id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.admin_delete_client(ADMIN, client_id).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.admin_create_client(ADMIN, "").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
