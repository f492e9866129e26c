use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Backend};
use crate::on_every_backend;

on_every_backend!(health_ready_and_metrics);

async fn health_ready_and_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.healthz().await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app.readyz().await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["store"]["ok"], true);

    app.create_user("metrics@example.com").await;
    let r = app.metrics().await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("tessera_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/users\""));
    assert!(text.contains("tessera_http_request_duration_seconds_bucket"));
    assert!(
        !text.contains("metrics@example.com"),
        "no personal data in metrics"
    );
}

/// Any token is a valid HTTP method; each distinct label value would be a series kept forever.
#[tokio::test]
async fn random_methods_do_not_grow_the_metrics() {
    let app = spawn_app(Backend::Memory).await;
    let methods: Vec<String> = (0..40)
        .map(|_| format!("M{}", uuid::Uuid::new_v4().simple()).to_uppercase())
        .collect();
    for (i, method) in methods.iter().enumerate() {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let path = if i % 2 == 0 {
            "/v1/session"
        } else {
            "/nowhere"
        };
        app.raw(method, path).await;
    }
    let text = app.metrics().text().await;
    for method in &methods {
        assert!(!text.contains(method.as_str()), "{method} became a label");
    }
    assert!(text.contains("method=\"other\""), "{text}");
}

/// HSTS only where the public origin is https: over plain http browsers ignore it, and a
/// development server must not pin `localhost`.
#[tokio::test]
async fn hsts_only_for_an_https_public_url() {
    let app = spawn_app_with(
        Backend::Memory,
        "[server]\npublic_url = \"https://auth.example.com\"",
    )
    .await;
    for (path, call) in [
        ("/healthz", app.healthz()),
        ("/nowhere", app.raw(Method::GET, "/nowhere")),
    ] {
        let r = call.await;
        assert_eq!(
            r.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }

    let app = spawn_app(Backend::Memory).await;
    let r = app.healthz().await;
    assert!(r.headers().get("strict-transport-security").is_none());
}
