//! Discovery documents: the JWKS (RFC 7517) and authorization-server metadata (RFC 8414).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::openapi::schemas;
use crate::state::AppState;
use tessera_engine::grants::GrantType;
use tessera_engine::keys::{self, JWKS_MAX_AGE_SECS};

/// The public signing keys (RFC 7517), cacheable for 5 minutes.
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "jwks", tag = "operations",
    responses((status = 200, description = "The key set", body = schemas::Jwks,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")))))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let ring = keys::jwks(&state);
    let mut response = Json(ring.jwks().clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECS}")).expect("ASCII"),
    );
    response
}

/// Authorization-server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", operation_id = "metadata", tag = "operations",
    responses((status = 200, description = "The metadata", body = schemas::Metadata,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")))))]
pub async fn metadata(State(state): State<AppState>) -> Response {
    let base = state.web.config.server.public_url.trim_end_matches('/');
    let ring = keys::jwks(&state);
    let algs: Vec<&str> = ring
        .signing_algorithm()
        .map(tessera_token::Alg::as_str)
        .into_iter()
        .collect();
    let body = json!({
        "issuer": state.tokens.cfg.issuer,
        "token_endpoint": format!("{base}/v1/token"),
        "revocation_endpoint": format!("{base}/v1/token/revoke"),
        "introspection_endpoint": format!("{base}/v1/token/introspect"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "access_token_signing_alg_values_supported": algs,
        "scopes_supported": [],
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECS}")).expect("ASCII"),
    );
    response
}
