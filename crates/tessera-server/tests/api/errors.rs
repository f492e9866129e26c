//! Every malformed request gets a 4xx JSON error: never a panic, a 5xx or plain text.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};
use crate::on_every_backend;

on_every_backend!(error_paths_are_json_4xx);

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
    let c = &app.client;

    let r = c.get(app.url("/no/such/route")).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;

    let r = c.put(app.url("/v1/users")).send().await.unwrap();
    expect_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    let r = c
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = c
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body("{\"email\": 5, \"password\": []}")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = c
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b.c\"}")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = c
        .post(app.url("/v1/users"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let r = c
        .post(app.url("/v1/users"))
        .body("{}")
        .send()
        .await
        .unwrap();
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
    let r = c
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let r = c
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    let r = c.get(app.url("/v1/session")).send().await.unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = c
        .get(app.url("/v1/session"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = c
        .get(app.url("/v1/session"))
        .header("cookie", "tessera_session=garbage")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = c
        .delete(app.url("/v1/sessions?scope=everything"))
        .bearer_auth("tss_x")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
