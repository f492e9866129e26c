use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, TestApp, PASSWORD};
use crate::on_every_backend;

const KEY: &str = "tsa_test-admin-key-0123456789abcdefghijklmnop";

on_every_backend!(
    admin_auth_is_key_only,
    admin_lock_ends_everything,
    admin_events_and_clients
);

async fn admin_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &format!("[admin]\napi_key = \"{KEY}\"")).await
}

async fn admin_get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

async fn admin_auth_is_key_only(backend: Backend) {
    let app = admin_app(backend).await;
    app.create_user("ada@example.com").await;
    let (token, _) = app.login_body("ada@example.com").await;
    let (cookie, _, _) = app.login_cookie("ada@example.com").await;
    let path = "/v1/admin/users?email=ada@example.com";
    assert_eq!(
        app.client.get(app.url(path)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = app
        .client
        .get(app.url(path))
        .bearer_auth(format!("{KEY}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_with_bearer(path, &token).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_with_cookie(path, &cookie).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = admin_get(&app, path).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["users"][0]["email"], "ada@example.com");
    assert_eq!(body["users"][0]["locked"], false);
    assert!(body["users"][0].get("password_hash").is_none());
    let r = admin_get(&app, "/v1/admin/users?email=nobody@example.com").await;
    assert_eq!(r.json::<Value>().await.unwrap()["users"], json!([]));
    assert_eq!(
        admin_get(&app, "/v1/admin/users/not-an-id").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = admin_get(&app, &format!("/v1/admin/users/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn admin_lock_ends_everything(backend: Backend) {
    let app = admin_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    let (token, _) = app.login_body("ada@example.com").await;
    let (cookie, _, _) = app.login_cookie("ada@example.com").await;
    let r = admin_get(&app, &format!("/v1/admin/users/{id}/sessions")).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = app
        .client
        .patch(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(KEY)
        .json(&json!({ "locked": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["locked"], true);
    assert_eq!(
        app.get_with_bearer("/v1/session", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_with_cookie("/v1/session", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let locked = app
        .post_json(
            "/v1/session",
            &json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    let wrong = app
        .post_json(
            "/v1/session",
            &json!({ "email": "ada@example.com", "password": "nope nope" }),
        )
        .await;
    assert_eq!(locked.status(), wrong.status());
    assert_eq!(locked.text().await.unwrap(), wrong.text().await.unwrap());

    let r = app
        .client
        .patch(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(KEY)
        .json(&json!({ "locked": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (token, _) = app.login_body("ada@example.com").await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/admin/users/{id}/sessions")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_with_bearer("/v1/session", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let r = app
        .client
        .patch(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(KEY)
        .json(&json!({ "locked": "yes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn admin_events_and_clients(backend: Backend) {
    let app = admin_app(backend).await;
    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.login_body("ada@example.com").await;
    app.post_json(
        "/v1/session",
        &json!({ "email": "ada@example.com", "password": "nope nope" }),
    )
    .await;

    let r = admin_get(&app, &format!("/v1/admin/events?user_id={id}")).await;
    let body: Value = r.json().await.unwrap();
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

    let r = admin_get(
        &app,
        &format!("/v1/admin/events?user_id={id}&type=login_succeeded"),
    )
    .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let page1: Value = admin_get(&app, &format!("/v1/admin/events?user_id={id}&limit=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"]
        .as_i64()
        .expect("a full page has a cursor");
    let page2: Value = admin_get(
        &app,
        &format!("/v1/admin/events?user_id={id}&limit=2&cursor={cursor}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page2["events"][0]["type"], "user_created");
    assert_eq!(
        admin_get(&app, "/v1/admin/events?limit=0").await.status(),
        StatusCode::BAD_REQUEST
    );

    let r = app
        .client
        .post(app.url("/v1/admin/clients"))
        .bearer_auth(KEY)
        .json(&json!({ "name": "billing-api" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let client: Value = r.json().await.unwrap();
    assert!(client["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("tsc_"));
    let client_id = client["client_id"].as_str().unwrap();
    let list: Value = admin_get(&app, "/v1/admin/clients")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["clients"][0]["client_id"], client_id);
    assert!(
        list["clients"][0].get("client_secret").is_none(),
        "the secret is shown once"
    );
    let r = app
        .client
        .delete(app.url(&format!("/v1/admin/clients/{client_id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .client
        .delete(app.url(&format!("/v1/admin/clients/{client_id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .post(app.url("/v1/admin/clients"))
        .bearer_auth(KEY)
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
