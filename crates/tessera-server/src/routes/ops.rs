//! Operations endpoints: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when every store answers. Reports each dependency so an operator sees which one failed.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = match state.store.ping().await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "readiness: store unreachable");
            false
        }
    };
    metrics::gauge!("tessera_dependency_up", "dependency" => "store").set(if store_ok {
        1.0
    } else {
        0.0
    });
    let checks = json!({ "store": { "backend": state.store.backend(), "ok": store_ok } });
    if store_ok {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks })),
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
