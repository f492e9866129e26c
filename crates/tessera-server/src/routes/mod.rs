//! The HTTP surface: routes by area, and the layers every request passes through.

pub mod admin;
pub mod admin_authz;
pub mod check;
pub mod email;
pub mod factors;
pub mod ops;
pub mod pages;
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
use axum::routing::{any, delete, get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/users", post(users::create))
        .route(
            "/v1/session",
            post(session::login)
                .get(session::current)
                .delete(session::logout),
        )
        .route(
            "/v1/sessions",
            get(session::list).delete(session::revoke_others),
        )
        .route("/v1/session/mfa", post(factors::complete_login))
        .route("/v1/session/step-up", post(factors::step_up))
        .route("/v1/factors", get(factors::list))
        .route(
            "/v1/factors/totp",
            post(factors::start_totp).delete(factors::remove_totp),
        )
        .route("/v1/factors/totp/confirm", post(factors::confirm_totp))
        .route(
            "/v1/factors/recovery-codes",
            post(factors::regenerate_recovery_codes),
        )
        .route("/v1/sessions/{id}", delete(session::revoke_one))
        .route("/v1/password", post(session::change_password))
        .route("/v1/password/reset", post(email::request_reset))
        .route("/v1/password/reset/confirm", post(email::confirm_reset))
        .route("/v1/email", post(email::request_change))
        .route("/v1/email/verify", post(email::confirm))
        .route("/v1/email/verify/resend", post(email::resend))
        .route("/v1/check", any(check::check))
        .route("/v1/check/{*rest}", any(check::check))
        .route("/v1/token", post(token::token))
        .route("/v1/token/revoke", post(token::revoke))
        .route("/v1/token/introspect", post(token::introspect))
        .route("/v1/revocations", get(revocations::revocations))
        .route("/v1/admin/users", get(admin::find_users))
        .route(
            "/v1/admin/users/{id}",
            get(admin::get_user).patch(admin::patch_user),
        )
        .route(
            "/v1/admin/users/{id}/sessions",
            get(admin::user_sessions).delete(admin::revoke_user_sessions),
        )
        .route(
            "/v1/admin/users/{id}/roles",
            get(admin_authz::get_roles)
                .put(admin_authz::set_roles)
                .post(admin_authz::add_roles),
        )
        .route(
            "/v1/admin/users/{id}/roles/{role}",
            delete(admin_authz::remove_role),
        )
        .route(
            "/v1/admin/users/{id}/claims",
            get(admin_authz::get_claims).put(admin_authz::set_claims),
        )
        .route("/v1/admin/users/{id}/factors", delete(factors::admin_reset))
        .route("/v1/admin/events", get(admin::events))
        .route(
            "/v1/admin/clients",
            post(admin::create_client).get(admin::list_clients),
        )
        .route("/v1/admin/clients/{id}", delete(admin::delete_client))
        // Layers run outside-in in reverse order of these calls: credentials are resolved
        // first, then the CSRF rule is applied to what was resolved.
        .layer(from_fn_with_state(state.clone(), crate::csrf::enforce))
        .layer(from_fn_with_state(
            state.clone(),
            crate::auth::resolve_credentials,
        ));

    let router = Router::new()
        .merge(v1)
        .merge(pages::router(&state))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(wellknown::metadata),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
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
