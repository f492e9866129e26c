//! Every malformed request gets a 4xx JSON error: never a panic, a 5xx or plain text.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{admin_toml, spawn_app, spawn_app_with, Auth, Backend, ADMIN};
use crate::on_every_backend;

on_every_backend!(
    error_paths_are_json_4xx,
    malformed_query_parameters_are_json_400
);

async fn expect_error(r: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
}

async fn error_paths_are_json_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    let users = || app.raw(Method::POST, "/v1/users");

    let r = app.raw(Method::GET, "/no/such/route").await;
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;

    let r = app.raw(Method::PUT, "/v1/users").await;
    expect_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    let r = users()
        .header("content-type", "application/json")
        .body("{\"email\":")
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = users()
        .header("content-type", "application/json")
        .body("{\"email\": 5, \"password\": []}")
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = users()
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b.c\"}")
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = users()
        .header("content-type", "text/plain")
        .body("hello")
        .await;
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let r = users().body("{}").await;
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let huge = format!(
        "{{\"email\":\"a@b.c\",\"password\":\"{}\"}}",
        "x".repeat(200_000)
    );
    let r = users()
        .header("content-type", "application/json")
        .body(huge)
        .await;
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let r = users()
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x00])
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = app.get_session(Auth::None).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = app.get_session(Auth::Basic("foo", "bar")).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = app
        .get_session(Auth::Cookie("tessera_session=garbage"))
        .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = app
        .revoke_sessions(Auth::Bearer("tss_x"), Some("everything"))
        .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Found by schemathesis: a query parameter of the wrong type got axum's plain-text rejection.
async fn malformed_query_parameters_are_json_400(backend: Backend) {
    let app = spawn_app_with(backend, &admin_toml()).await;
    for query in [[("limit", "abc")], [("cursor", "1.5")], [("limit", "-1")]] {
        let r = app.admin_events(ADMIN, &query).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let r = app.admin_events(ADMIN, &[("limit", "10")]).await;
    assert_eq!(r.status(), StatusCode::OK);
}
