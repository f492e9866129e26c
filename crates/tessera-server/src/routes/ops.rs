//! Operations endpoints: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::openapi::schemas;
use crate::state::AppState;

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "Up", body = schemas::Health)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers. Reports each dependency so an operator sees which one failed.
/// A disconnected revocation feed (Redis or Postgres LISTEN down) leaves the instance ready but
/// `degraded`: it keeps serving from the store and catches up on revocations when the feed
/// reconnects.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready (or `degraded`: the revocation feed is down)", body = schemas::Readiness),
        (status = 503, description = "The store is unreachable", body = schemas::Unready),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let health = state.health().await;
    let (store_ok, feed_ok) = (health.store_ok, health.feed_ok);
    let up = |ok: bool| if ok { 1.0 } else { 0.0 };
    metrics::gauge!("tessera_dependency_up", "dependency" => "store").set(up(store_ok));
    metrics::gauge!("tessera_dependency_up", "dependency" => "feed").set(up(feed_ok));
    let checks = json!({
        "store": { "backend": health.store_backend, "ok": store_ok },
        "feed": { "transport": health.feed_transport, "ok": feed_ok },
    });
    if store_ok {
        let status = if feed_ok { "ready" } else { "degraded" };
        (
            StatusCode::OK,
            Json(json!({ "status": status, "checks": checks })),
        )
            .into_response()
    } else {
        let body = json!({
            "error": "unavailable",
            "error_description": "a dependency is unreachable",
            "checks": checks,
        });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// Prometheus metrics (text format); never exposes secrets.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")))]
pub async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::prometheus().render(),
    )
        .into_response()
}
