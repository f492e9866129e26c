//! The HTTP surface: routes by area, and the layers every request passes through.

pub mod admin;
pub mod admin_authz;
pub mod check;
pub mod email;
pub mod factors;
pub mod ops;
pub mod pages;
pub mod passkeys;
mod qr;
pub mod revocations;
pub mod session;
pub mod token;
pub mod users;
pub mod views;
pub mod wellknown;

use std::any::Any;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::openapi;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    // Every API route is declared with `routes!` from its handler's `#[utoipa::path]`, so the
    // OpenAPI document (`GET /openapi.json`) lists exactly what is routed.
    let v1 = OpenApiRouter::new()
        .routes(routes!(users::create))
        .routes(routes!(session::login, session::current, session::logout))
        .routes(routes!(session::list, session::revoke_others))
        .routes(routes!(session::revoke_one))
        .routes(routes!(session::change_password))
        .routes(routes!(email::request_reset))
        .routes(routes!(email::confirm_reset))
        .routes(routes!(email::request_change))
        .routes(routes!(email::confirm))
        .routes(routes!(email::resend))
        .routes(routes!(token::token))
        .routes(routes!(token::revoke))
        .routes(routes!(token::introspect))
        .routes(routes!(revocations::revocations))
        .routes(routes!(admin::find_users))
        .routes(routes!(admin::get_user, admin::patch_user))
        .routes(routes!(admin::user_sessions, admin::revoke_user_sessions))
        .routes(routes!(
            admin_authz::get_roles,
            admin_authz::set_roles,
            admin_authz::add_roles
        ))
        .routes(routes!(admin_authz::remove_role))
        .routes(routes!(admin_authz::get_claims, admin_authz::set_claims))
        .merge(factors::router())
        .merge(passkeys::router())
        .routes(routes!(admin::events))
        .routes(routes!(admin::create_client, admin::list_clients))
        .routes(routes!(admin::delete_client))
        // Any method: described by hand in `openapi` (its GET), the one route added this way.
        .merge(OpenApiRouter::from(
            Router::new()
                .route("/v1/check", any(check::check))
                .route("/v1/check/{*rest}", any(check::check)),
        ))
        // Layers run outside-in in reverse order of these calls: credentials are resolved
        // first, then the CSRF rule is applied to what was resolved.
        .layer(from_fn_with_state(state.clone(), crate::csrf::enforce))
        .layer(from_fn_with_state(
            state.clone(),
            crate::auth::resolve_credentials,
        ));

    let (router, doc) = OpenApiRouter::with_openapi(openapi::frame(&state.web.cookies))
        .merge(v1)
        .merge(OpenApiRouter::from(pages::router(&state)))
        .routes(routes!(wellknown::jwks))
        .routes(routes!(wellknown::metadata))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    let document = openapi::Document::new(&doc);
    let router = router
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { document.response() }
            }),
        )
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn(crate::telemetry::record))
        .layer(map_response(default_headers));
    let router = if state.web.config.public_origin().starts_with("https://") {
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        router
    };
    router
        .layer(DefaultBodyLimit::max(state.web.config.server.body_limit))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                // The path only: query strings and headers may carry secrets.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            HeaderName::from_static("x-csrf-token"),
        ]))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// Browsers that once reached the public https origin refuse plain http to it for a year, so
/// an active attacker cannot strip TLS from a later visit. No `includeSubDomains`: sibling hosts
/// of the auth server are not ours to pin to https.
const HSTS: &str = "max-age=31536000";

/// `no-store` on everything that did not choose its own caching (JWKS does), plus the security
/// headers that cost nothing on JSON responses and matter on pages.
async fn default_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages choose `same-origin`: under `no-referrer` browsers send `Origin: null` with form
    // POSTs, which the CSRF origin check refuses.
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    response
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    // The panic payload may contain request data; it is not echoed.
    tracing::error!("handler panicked");
    ApiError::Internal("handler panicked".into()).into_response()
}
